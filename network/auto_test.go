package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// onlyNetworks leaves the fake with the networks given (setting each one's fields), as a project would see them.
func (f *fakeNeutron) onlyNetworks(nets map[string]map[string]any) {
	for id := range f.networks {
		if _, keep := nets[id]; !keep {
			delete(f.networks, id)
		}
	}
	for id, fields := range nets {
		if _, ok := f.networks[id]; !ok {
			sub := "subnet-" + id
			f.addNetwork(id, id, 1442, []string{sub})
			f.subnets[sub] = map[string]any{"id": sub, "network_id": id, "ip_version": 4,
				"cidr": fmt.Sprintf("10.%d.0.0/24", 10+len(f.subnets)), "gateway_ip": nil, "enable_dhcp": true,
				"dns_nameservers": []any{}, "host_routes": []any{}, "ipv6_address_mode": nil}
		}
		for k, v := range fields {
			f.networks[id][k] = v
		}
	}
}

func TestAllocateAuto(t *testing.T) {
	others := map[string]any{"tenant_id": "proj-other", "project_id": "proj-other"}
	tests := []struct {
		name    string
		setup   func(f *fakeNeutron)
		b       func(b *Binding)
		reqs    []Request
		want    error  // nil: success
		naming  string // the error's text has this
		network string // on success, the one port's network
		// calls are the Neutron requests the fake must see, in order; nil: not checked.
		calls []string
	}{
		{
			name:    "one network of the project",
			setup:   func(f *fakeNeutron) { f.onlyNetworks(map[string]map[string]any{fakeNet: nil}) },
			reqs:    []Request{{NetworkID: NetworkAuto, Tag: "eth0"}},
			network: fakeNet,
		},
		{
			name: "one shared network of another project",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(map[string]map[string]any{"net-shared": {"tenant_id": "proj-other",
					"project_id": "proj-other", "shared": true}, "net-theirs": others})
			},
			reqs: []Request{{NetworkID: NetworkAuto}}, network: "net-shared",
		},
		{
			name: "external networks are not chosen, the project's own nor shared ones",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(map[string]map[string]any{fakeNet: nil, "net-public": {"router:external": true},
					"net-ext-shared": {"router:external": true, "shared": true, "tenant_id": "admin"}})
			},
			reqs: []Request{{NetworkID: NetworkAuto}}, network: fakeNet,
		},
		{
			name: "the project's network that is down is not available, a shared one is",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(map[string]map[string]any{fakeNet: {"admin_state_up": false},
					"net-shared": {"shared": true, "tenant_id": "proj-other"}})
			},
			reqs: []Request{{NetworkID: NetworkAuto}}, network: "net-shared",
		},
		{
			name: "own and shared: ambiguous, nothing made",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(map[string]map[string]any{fakeNet: nil, "net-shared": {"shared": true, "tenant_id": "x"}})
			},
			reqs: []Request{{NetworkID: NetworkAuto}}, want: ErrNetworkAmbiguous, naming: "net-private, net-shared",
		},
		{
			name: "the fake's three networks of the project: ambiguous",
			reqs: []Request{{NetworkID: NetworkAuto}}, want: ErrNetworkAmbiguous, naming: fakeProject,
			calls: []string{"GET /networking/v2.0/networks?admin_state_up=true&shared=false&tenant_id=" + fakeProject,
				"GET /networking/v2.0/networks?shared=true"},
		},
		{
			name:  "no network and no auto-allocated-topology extension",
			setup: func(f *fakeNeutron) { f.onlyNetworks(map[string]map[string]any{"net-theirs": others}) },
			reqs:  []Request{{NetworkID: NetworkAuto}}, want: ErrCannotAutoAllocate, naming: "auto-allocated-topology extension",
		},
		{
			name: "no network: Neutron auto-allocates one",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(map[string]map[string]any{"net-theirs": others})
				f.autoTopology = true
			},
			reqs: []Request{{NetworkID: NetworkAuto}}, network: "net-auto-" + fakeProject,
		},
		{
			name: "no network: Neutron cannot auto-allocate",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(nil)
				f.autoTopology, f.autoFailure = true, "No default router:external network"
			},
			reqs: []Request{{NetworkID: NetworkAuto}}, want: ErrCannotAutoAllocate,
			naming: "AutoAllocationFailure: Deployment error: No default router:external network",
		},
		{
			name: "auto-allocation for a project id that cannot go into a path",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(nil)
				f.autoTopology = true
			},
			b:    func(b *Binding) { b.ProjectID = "../ports" },
			reqs: []Request{{NetworkID: NetworkAuto}}, want: ErrInvalidInput, naming: `"../ports"`,
		},
		{
			name:  "listing networks fails",
			setup: func(f *fakeNeutron) { f.fail = failPath("/networks", 503) },
			reqs:  []Request{{NetworkID: NetworkAuto}}, want: ErrUnavailable,
		},
		{
			name: "binding the chosen network's port fails: the port is deleted",
			setup: func(f *fakeNeutron) {
				f.onlyNetworks(map[string]map[string]any{fakeNet: nil})
				f.chassis = map[string]bool{}
			},
			reqs: []Request{{NetworkID: NetworkAuto}}, want: ErrBindingFailed,
		},
		{
			name: "auto with a fixed IP", reqs: []Request{{NetworkID: NetworkAuto, FixedIP: "10.0.0.9"}},
			want: ErrInvalidInput, naming: "fixed IP", calls: []string{},
		},
		{
			name: "auto among other requests", reqs: []Request{{NetworkID: fakeNet}, {NetworkID: NetworkAuto}},
			want: ErrInvalidInput, naming: `request 1: network "auto" must be the only`, calls: []string{},
		},
		{
			name: "none among other requests", reqs: []Request{{NetworkID: NetworkNone}, {NetworkID: fakeNet}},
			want: ErrInvalidInput, naming: `network "none" must be the only`, calls: []string{},
		},
		{name: "none: no port, no call", reqs: []Request{{NetworkID: NetworkNone}}, calls: []string{}},
		{name: "no requests: no port, no call", reqs: nil, calls: []string{}},
		{name: "empty list: no port, no call", reqs: []Request{}, calls: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNeutron(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			b := binding()
			if tc.b != nil {
				tc.b(&b)
			}
			before := len(f.ports)
			info, err := f.client(t, nil).Allocate(context.Background(), b, tc.reqs)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.naming) {
					t.Fatalf("Allocate = %v, want %v naming %q", err, tc.want, tc.naming)
				}
				if info != nil {
					t.Errorf("info %v with an error", info)
				}
				if len(f.ports) != before {
					t.Errorf("%d ports left behind; writes %v", len(f.ports)-before, f.writes())
				}
			} else {
				if err != nil {
					t.Fatalf("Allocate: %v", err)
				}
				switch {
				case tc.network == "" && (info == nil || len(info) != 0):
					t.Errorf("info %v, want empty and not nil", info)
				case tc.network != "" && (len(info) != 1 || info[0].Network.ID != tc.network):
					t.Errorf("info %s, want one port on %s", mustJSON(info), tc.network)
				case tc.network != "":
					p := f.port(info[0].ID)
					if p == nil || p["network_id"] != tc.network || p["binding:host_id"] != fakeHost {
						t.Errorf("Neutron's port %v", p)
					}
					for _, want := range tc.reqs {
						if want.Tag != "" && info[0].Meta["tag"] != want.Tag {
							t.Errorf("tag %v, want %s", info[0].Meta["tag"], want.Tag)
						}
					}
				}
			}
			if tc.calls != nil {
				var got []string
				for _, c := range f.callLog() {
					if !strings.HasPrefix(c.Path, "/identity") {
						s := c.String()
						if c.Query != "" {
							s += "?" + c.Query
						}
						got = append(got, s)
					}
				}
				if !slices.Equal(got, tc.calls) {
					t.Errorf("calls %q, want %q", got, tc.calls)
				}
			}
		})
	}
}

// failPath makes the fake answer status to every request whose path has part.
func failPath(part string, status int) func(c fakeCall) int {
	return func(c fakeCall) int {
		if strings.Contains(c.Path, part) {
			return status
		}
		return 0
	}
}

// TestAutoAllocatedOnce: the network Neutron auto-allocated is the project's: a second instance gets it again
// (now as the project's one network, without asking for the topology), and it outlives a failed allocation.
func TestAutoAllocatedOnce(t *testing.T) {
	f := newFakeNeutron(t)
	f.onlyNetworks(nil)
	f.autoTopology = true
	c := f.client(t, nil)
	ctx := context.Background()
	first, err := c.Allocate(ctx, binding(), []Request{{NetworkID: NetworkAuto}})
	if err != nil {
		t.Fatal(err)
	}
	b := binding()
	b.InstanceUUID = "second-instance"
	second, err := c.Allocate(ctx, b, []Request{{NetworkID: NetworkAuto}})
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Network.ID != second[0].Network.ID || first[0].ID == second[0].ID {
		t.Errorf("first %s, second %s: want two ports on one network", first[0].ID, second[0].ID)
	}
	topo := 0
	for _, call := range f.callLog() {
		if strings.Contains(call.Path, "/auto-allocated-topology/") {
			topo++
			if call.Method != http.MethodGet || !strings.HasSuffix(call.Path, "/auto-allocated-topology/"+fakeProject) {
				t.Errorf("topology request %s", call)
			}
		}
	}
	if topo != 1 {
		t.Errorf("%d topology requests, want 1: the second instance finds the network", topo)
	}

	f.chassis = map[string]bool{}
	b.InstanceUUID = "third-instance"
	if _, err := c.Allocate(ctx, b, []Request{{NetworkID: NetworkAuto}}); !errors.Is(err, ErrBindingFailed) {
		t.Fatalf("Allocate on a host Neutron cannot bind = %v", err)
	}
	if _, ok := f.networks[first[0].Network.ID]; !ok || len(f.ports) != 2 {
		t.Errorf("after the failed allocation: network kept %v, %d ports (want the first two)", ok, len(f.ports))
	}
}

func TestAttachPortNone(t *testing.T) {
	f := newFakeNeutron(t)
	_, err := f.client(t, nil).AttachPort(context.Background(), binding(), Request{NetworkID: NetworkNone})
	if !errors.Is(err, ErrInvalidInput) || len(f.callLog()) != 0 {
		t.Errorf("AttachPort(none) = %v after calls %v, want ErrInvalidInput and no call", err, f.callLog())
	}
}
