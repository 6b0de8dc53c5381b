package network

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const fakeInstance = "1b2c3d4e-0000-4000-8000-0000000000aa"

func binding() Binding {
	return Binding{InstanceUUID: fakeInstance, Host: fakeHost, AvailabilityZone: "nova", ProjectID: fakeProject}
}

// userPort is a port the user created beforehand (`openstack port create --network private`).
func (f *fakeNeutron) userPort(id, ip string) {
	f.addPort(id, fakeNet, ip, nil)
}

func TestAllocate(t *testing.T) {
	bindBody := map[string]any{"device_id": fakeInstance, "device_owner": "compute:nova", "binding:host_id": fakeHost}
	tests := []struct {
		name   string
		setup  func(f *fakeNeutron)
		b      func(b *Binding)
		reqs   []Request
		want   error  // nil: success
		naming string // the error names this port or network
		check  func(t *testing.T, f *fakeNeutron, info Info)
		// writes are the changing calls the fake must see, with ids of created ports written NEW.
		writes []string
	}{
		{
			name: "network request", reqs: []Request{{NetworkID: fakeNet, Tag: "nic0"}},
			writes: []string{"POST /networking/v2.0/ports", "PUT /networking/v2.0/ports/NEW"},
			check: func(t *testing.T, f *fakeNeutron, info Info) {
				post := findCall(t, f, http.MethodPost, "/ports")
				wantPost := map[string]any{"device_id": fakeInstance, "network_id": fakeNet, "admin_state_up": true,
					"tenant_id": fakeProject}
				if !reflect.DeepEqual(post.Body, wantPost) {
					t.Errorf("POST body %v, want %v (no name, no host: nova binds in the update)", post.Body, wantPost)
				}
				put := findCall(t, f, http.MethodPut, "/ports/")
				if !reflect.DeepEqual(put.Body, bindBody) {
					t.Errorf("PUT body %v, want %v", put.Body, bindBody)
				}
				v := info[0]
				if v.PreserveOnDelete || v.Meta["tag"] != "nic0" || v.Type != "ovs" || v.Active {
					t.Errorf("vif %+v: want created port, tag nic0, ovs, not yet active", v)
				}
				p := f.port(v.ID)
				if p == nil || p["name"] != "" || p["device_owner"] != "compute:nova" || p["binding:host_id"] != fakeHost {
					t.Errorf("Neutron's port after allocate: %v", p)
				}
			},
		},
		{
			name: "port request keeps the user's profile",
			setup: func(f *fakeNeutron) {
				f.addPort("port-user", fakeNet, "10.0.0.40", func(p map[string]any) {
					p["binding:profile"] = map[string]any{"trusted": "true"}
				})
			},
			reqs:   []Request{{PortID: "port-user"}},
			writes: []string{"PUT /networking/v2.0/ports/port-user"},
			check: func(t *testing.T, f *fakeNeutron, info Info) {
				put := findCall(t, f, http.MethodPut, "/ports/port-user")
				want := map[string]any{"device_id": fakeInstance, "device_owner": "compute:nova",
					"binding:host_id": fakeHost, "binding:profile": map[string]any{"trusted": "true"}}
				if !reflect.DeepEqual(put.Body, want) {
					t.Errorf("PUT body %v, want %v", put.Body, want)
				}
				if !info[0].PreserveOnDelete || info[0].ID != "port-user" {
					t.Errorf("vif %+v: want the user's port, preserved on delete", info[0])
				}
			},
		},
		{
			name:  "mixed keeps request order, fixed IP and security groups by name and id",
			setup: func(f *fakeNeutron) { f.userPort("port-a", "10.0.0.50") },
			b:     func(b *Binding) { b.SecurityGroups = []string{"web", fakeDefault}; b.AvailabilityZone = "az2" },
			reqs: []Request{{NetworkID: fakeNet, FixedIP: "10.0.0.33"}, {PortID: "port-a"},
				{NetworkID: fakeNetIPv6}},
			writes: []string{"POST /networking/v2.0/ports", "POST /networking/v2.0/ports",
				"PUT /networking/v2.0/ports/NEW", "PUT /networking/v2.0/ports/port-a", "PUT /networking/v2.0/ports/NEW"},
			check: func(t *testing.T, f *fakeNeutron, info Info) {
				if len(info) != 3 || info[1].ID != "port-a" || info[0].Network.ID != fakeNet || info[2].Network.ID != fakeNetIPv6 {
					t.Fatalf("info out of request order: %s", mustJSON(info))
				}
				post := findCall(t, f, http.MethodPost, "/ports")
				if got := post.Body["fixed_ips"]; !reflect.DeepEqual(got, []any{map[string]any{"ip_address": "10.0.0.33"}}) {
					t.Errorf("fixed_ips %v", got)
				}
				if got := post.Body["security_groups"]; !reflect.DeepEqual(got, []any{fakeSG, fakeDefault}) {
					t.Errorf("security_groups %v, want the ids of web and %s", got, fakeDefault)
				}
				if got := info[0].Network.Subnets[0].IPs[0].Address; got != "10.0.0.33" {
					t.Errorf("fixed IP %s, want 10.0.0.33", got)
				}
				if f.port("port-a")["device_owner"] != "compute:az2" {
					t.Errorf("device_owner %v", f.port("port-a")["device_owner"])
				}
			},
		},
		{
			name: "port in use",
			setup: func(f *fakeNeutron) {
				f.addPort("port-busy", fakeNet, "10.0.0.9", func(p map[string]any) { p["device_id"] = "other-vm" })
			},
			reqs: []Request{{NetworkID: fakeNet}, {PortID: "port-busy"}}, want: ErrPortInUse, naming: "port-busy",
		},
		{
			name: "bound elsewhere",
			setup: func(f *fakeNeutron) {
				f.addPort("port-far", fakeNet, "10.0.0.9", func(p map[string]any) { p["binding:host_id"] = "compute-9" })
			},
			reqs: []Request{{PortID: "port-far"}}, want: ErrPortBoundElsewhere, naming: "port-far",
		},
		{
			name: "port of another project",
			setup: func(f *fakeNeutron) {
				f.addPort("port-theirs", fakeNet, "", func(p map[string]any) { p["tenant_id"], p["project_id"] = "x", "x" })
			},
			reqs: []Request{{PortID: "port-theirs"}}, want: ErrPortNotUsable, naming: "port-theirs",
		},
		{
			name: "dns_name other than the hostname",
			setup: func(f *fakeNeutron) {
				f.dns = true
				f.userPort("port-dns", "")
				f.setPort("port-dns", "dns_name", "www")
			},
			b:    func(b *Binding) { b.Hostname = "vm-1" },
			reqs: []Request{{PortID: "port-dns"}}, want: ErrPortNotUsable, naming: "port-dns",
		},
		{name: "missing port", reqs: []Request{{PortID: "port-none"}}, want: ErrNotFound, naming: "port-none"},
		{name: "missing network", reqs: []Request{{NetworkID: fakeNet}, {NetworkID: "net-none"}}, want: ErrNotFound, naming: "net-none"},
		{name: "unknown security group", b: func(b *Binding) { b.SecurityGroups = []string{"nosuch"} },
			reqs: []Request{{NetworkID: fakeNet}}, want: ErrSecurityGroup, naming: "nosuch"},
		{name: "ambiguous security group", b: func(b *Binding) { b.SecurityGroups = []string{"dup"} },
			reqs: []Request{{NetworkID: fakeNet}}, want: ErrSecurityGroup, naming: "dup"},
		{name: "network without subnet cannot take security groups", reqs: []Request{{NetworkID: fakeNoSub}},
			want: ErrSecurityGroup, naming: fakeNoSub},
		{name: "bad fixed IP", reqs: []Request{{NetworkID: fakeNet, FixedIP: "10.0.0.300"}}, want: ErrInvalidInput, naming: "10.0.0.300"},
		{
			name:  "fixed IP in use: the port created before is deleted",
			setup: func(f *fakeNeutron) { f.userPort("port-has-ip", "10.0.0.20") },
			reqs:  []Request{{NetworkID: fakeNet}, {NetworkID: fakeNet, FixedIP: "10.0.0.20"}}, want: ErrFixedIPInUse, naming: fakeNet,
			writes: []string{"POST /networking/v2.0/ports", "POST /networking/v2.0/ports", "DELETE /networking/v2.0/ports/NEW"},
		},
		{
			name: "binding_failed: created port deleted, user port restored",
			setup: func(f *fakeNeutron) {
				delete(f.chassis, fakeHost)
				f.addPort("port-u", fakeNet, "10.0.0.44", func(p map[string]any) { p["device_owner"] = "custom" })
			},
			reqs: []Request{{PortID: "port-u"}, {NetworkID: fakeNet}}, want: ErrBindingFailed, naming: "port-u",
			writes: []string{"POST /networking/v2.0/ports", "PUT /networking/v2.0/ports/port-u",
				"PUT /networking/v2.0/ports/port-u", "DELETE /networking/v2.0/ports/NEW"},
			check: func(t *testing.T, f *fakeNeutron, _ Info) {
				calls := putsTo(f, "port-u")
				want := map[string]any{"device_id": "", "device_owner": "custom", "binding:host_id": nil,
					"binding:profile": map[string]any{}}
				if len(calls) != 2 || !reflect.DeepEqual(calls[1].Body, want) {
					t.Errorf("restore body %v, want %v", calls, want)
				}
			},
		},
		{
			name:  "Neutron 500 mid-way leaves nothing",
			setup: func(f *fakeNeutron) { f.userPort("port-m", "10.0.0.45") },
			reqs:  []Request{{NetworkID: fakeNet}, {PortID: "port-m"}, {NetworkID: fakeNetIPv6}},
			want:  ErrUnavailable, naming: "port",
			writes: []string{"POST /networking/v2.0/ports", "POST /networking/v2.0/ports",
				"PUT /networking/v2.0/ports/NEW", "PUT /networking/v2.0/ports/port-m", "PUT /networking/v2.0/ports/NEW",
				"PUT /networking/v2.0/ports/port-m", "DELETE /networking/v2.0/ports/NEW", "DELETE /networking/v2.0/ports/NEW"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNeutron(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			if tc.name == "Neutron 500 mid-way leaves nothing" {
				puts := 0
				f.fail = func(c fakeCall) int {
					if c.Method == http.MethodPut {
						if puts++; puts == 3 {
							return 500
						}
					}
					return 0
				}
			}
			before := map[string]map[string]any{}
			for id := range f.ports {
				before[id] = f.port(id)
			}
			c := f.client(t, nil)
			b := binding()
			if tc.b != nil {
				tc.b(&b)
			}
			info, err := c.Allocate(context.Background(), b, tc.reqs)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Allocate: %v", err)
				}
				checkInfoAgainstNeutron(t, f, b, info, tc.reqs)
			} else {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Allocate = %v, want %v", err, tc.want)
				}
				if !strings.Contains(err.Error(), tc.naming) {
					t.Errorf("error %q does not name %s", err, tc.naming)
				}
				// Nothing left: the ports are exactly those there were, unchanged but for the revision.
				after := map[string]map[string]any{}
				for id := range f.ports {
					after[id] = f.port(id)
					delete(after[id], "revision_number")
				}
				for id := range before {
					delete(before[id], "revision_number")
				}
				if !reflect.DeepEqual(after, before) {
					t.Errorf("Neutron after the failed allocation:\n%s\nwant as before:\n%s", mustJSON(after), mustJSON(before))
				}
			}
			if tc.writes != nil || tc.want != nil {
				got := f.writes()
				for i, w := range got {
					for _, id := range createdIDs(f) {
						w = strings.ReplaceAll(w, id, "NEW")
					}
					got[i] = w
				}
				if !slices.Equal(got, tc.writes) {
					t.Errorf("writes\n%q\nwant\n%q", got, tc.writes)
				}
			}
			if tc.check != nil {
				tc.check(t, f, info)
			}
		})
	}
}

// checkInfoAgainstNeutron checks network_info as nova builds it from what the fake holds.
func checkInfoAgainstNeutron(t *testing.T, f *fakeNeutron, b Binding, info Info, reqs []Request) {
	t.Helper()
	if len(info) != len(reqs) {
		t.Fatalf("%d VIFs for %d requests", len(info), len(reqs))
	}
	for i, v := range info {
		p := f.port(v.ID)
		if p == nil {
			t.Fatalf("vif %d: port %s not in Neutron", i, v.ID)
		}
		if p["device_id"] != b.InstanceUUID || p["binding:host_id"] != b.Host {
			t.Errorf("port %s not bound: %v", v.ID, p)
		}
		n := f.networks[p["network_id"].(string)]
		wantDetails := map[string]any{"port_filter": true, "connectivity": "l2", "bridge_name": "br-int",
			"datapath_type": "netdev", "bound_drivers": map[string]any{"0": "ovn"}}
		if v.Address != p["mac_address"] || v.Type != "ovs" || !reflect.DeepEqual(v.Details, wantDetails) ||
			v.DevName != TapName(v.ID) || v.OVSInterfaceID != v.ID || v.VNICType != "normal" ||
			v.Profile == nil || !v.DelegateCreate {
			t.Errorf("vif %d: %s", i, mustJSON(v))
		}
		if v.Network.ID != n["id"] || v.Network.Label != n["name"] || v.Network.Bridge != "br-int" ||
			v.MTU() != n["mtu"] || v.Network.Meta["tenant_id"] != fakeProject || v.Network.Meta["tunneled"] != true ||
			v.Network.Meta["physical_network"] != nil {
			t.Errorf("vif %d network: %s", i, mustJSON(v.Network))
		}
		if len(v.Network.Subnets) != len(p["fixed_ips"].([]any)) {
			t.Errorf("vif %d: %d subnets for fixed IPs %v", i, len(v.Network.Subnets), p["fixed_ips"])
		}
		for _, s := range v.Network.Subnets {
			if len(s.IPs) != 1 || s.IPs[0].Type != "fixed" || s.Gateway == nil {
				t.Errorf("vif %d subnet: %s", i, mustJSON(s))
			}
		}
	}
}

func findCall(t *testing.T, f *fakeNeutron, method, pathPart string) fakeCall {
	t.Helper()
	for _, c := range f.callLog() {
		if c.Method == method && strings.Contains(c.Path, pathPart) {
			return c
		}
	}
	t.Fatalf("no %s %s among %v", method, pathPart, f.callLog())
	return fakeCall{}
}

func putsTo(f *fakeNeutron, id string) []fakeCall {
	var out []fakeCall
	for _, c := range f.callLog() {
		if c.Method == http.MethodPut && strings.HasSuffix(c.Path, "/ports/"+id) {
			out = append(out, c)
		}
	}
	return out
}

// createdIDs are the ids the fake gave to ports created by POST.
func createdIDs(f *fakeNeutron) []string {
	var out []string
	for _, c := range f.callLog() {
		if c.Method == http.MethodPut || c.Method == http.MethodDelete {
			id := c.Path[strings.LastIndex(c.Path, "/")+1:]
			if strings.Contains(id, "-aaaa-4bbb-") {
				out = append(out, id)
			}
		}
	}
	return out
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// TestAllocateNetworkInfo pins the network_info JSON nova would store for one port on ML2/OVN.
func TestAllocateNetworkInfo(t *testing.T) {
	f := newFakeNeutron(t)
	f.fips = []map[string]any{}
	c := f.client(t, nil)
	info, err := c.Allocate(context.Background(), binding(), []Request{{NetworkID: fakeNet, FixedIP: "10.0.0.10"}})
	if err != nil {
		t.Fatal(err)
	}
	id := info[0].ID
	f.mu.Lock()
	f.fips = append(f.fips, map[string]any{"id": "fip1", "floating_ip_address": "172.24.4.99",
		"fixed_ip_address": "10.0.0.10", "port_id": id})
	f.mu.Unlock()
	info, err = c.Refresh(context.Background(), fakeInstance, info)
	if err != nil {
		t.Fatal(err)
	}
	got := mustJSON(info)
	p := f.port(id)
	want := mustJSON([]any{map[string]any{
		"id": id, "address": p["mac_address"], "type": "ovs", "devname": TapName(id), "ovs_interfaceid": id,
		"qbh_params": nil, "qbg_params": nil, "active": false, "vnic_type": "normal", "profile": map[string]any{},
		"preserve_on_delete": false, "delegate_create": true, "meta": map[string]any{},
		"details": map[string]any{"port_filter": true, "connectivity": "l2", "bridge_name": "br-int",
			"datapath_type": "netdev", "bound_drivers": map[string]any{"0": "ovn"}},
		"network": map[string]any{
			"id": fakeNet, "bridge": "br-int", "label": "private",
			"meta": map[string]any{"injected": false, "tenant_id": fakeProject, "mtu": 1442,
				"physical_network": nil, "tunneled": true},
			"subnets": []any{map[string]any{
				"cidr": "10.0.0.0/26", "version": 4,
				"gateway": map[string]any{"address": "10.0.0.1", "type": "gateway", "version": 4, "meta": map[string]any{}},
				"dns":     []any{map[string]any{"address": "10.0.0.2", "type": "dns", "version": 4, "meta": map[string]any{}}},
				"routes": []any{map[string]any{"cidr": "192.168.50.0/24", "interface": "", "meta": map[string]any{},
					"gateway": map[string]any{"address": "10.0.0.254", "type": "gateway", "version": 4, "meta": map[string]any{}}}},
				"ips": []any{map[string]any{"address": "10.0.0.10", "type": "fixed", "version": 4, "meta": map[string]any{},
					"floating_ips": []any{map[string]any{"address": "172.24.4.99", "type": "floating", "version": 4,
						"meta": map[string]any{}}}}},
				"meta": map[string]any{"dhcp_server": "10.0.0.1"},
			}},
		},
	}})
	if normJSON(t, got) != normJSON(t, want) {
		t.Errorf("network_info\n%s\nwant\n%s", got, want)
	}
}

func normJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDeallocate(t *testing.T) {
	f := newFakeNeutron(t)
	f.userPort("port-keep", "10.0.0.30")
	f.setPort("port-keep", "binding:profile", map[string]any{"trusted": "true"})
	c := f.client(t, nil)
	info, err := c.Allocate(context.Background(), binding(), []Request{{NetworkID: fakeNet}, {PortID: "port-keep"}})
	if err != nil {
		t.Fatal(err)
	}
	// A port Neutron lists with the instance's device that the cache misses (an attach whose cache update was lost).
	f.addPort("port-stray", fakeNet, "10.0.0.31", func(p map[string]any) { p["device_id"] = fakeInstance })
	// Another instance's port, which must be left alone.
	f.addPort("port-other", fakeNet, "10.0.0.32", func(p map[string]any) { p["device_id"] = "other-vm" })
	f.resetCalls()
	if err := c.Deallocate(context.Background(), fakeInstance, info); err != nil {
		t.Fatalf("Deallocate: %v", err)
	}
	if f.port(info[0].ID) != nil || f.port("port-stray") != nil {
		t.Errorf("created and stray ports still exist")
	}
	if f.port("port-other") == nil {
		t.Errorf("another instance's port was deleted")
	}
	keep := f.port("port-keep")
	if keep == nil || keep["device_id"] != "" || keep["device_owner"] != "" || keep["binding:host_id"] != "" ||
		keep["binding:vif_type"] != "unbound" {
		t.Errorf("user's port not released: %v", keep)
	}
	puts := putsTo(f, "port-keep")
	want := map[string]any{"device_id": "", "device_owner": "", "binding:host_id": nil,
		"binding:profile": map[string]any{"trusted": "true"}}
	if len(puts) != 1 || !reflect.DeepEqual(puts[0].Body, want) {
		t.Errorf("unbind bodies %v, want one %v", puts, want)
	}
	// Again: everything is gone or released already, which is not an error.
	f.resetCalls()
	if err := c.Deallocate(context.Background(), fakeInstance, info); err != nil {
		t.Errorf("second Deallocate: %v", err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("second Deallocate wrote %v", w)
	}
}

func TestDeallocateReportsFailures(t *testing.T) {
	f := newFakeNeutron(t)
	c := f.client(t, nil)
	info, err := c.Allocate(context.Background(), binding(), []Request{{NetworkID: fakeNet}, {NetworkID: fakeNet}})
	if err != nil {
		t.Fatal(err)
	}
	f.fail = func(c fakeCall) int {
		if c.Method == http.MethodDelete && strings.HasSuffix(c.Path, info[0].ID) {
			return 503
		}
		return 0
	}
	err = c.Deallocate(context.Background(), fakeInstance, info)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), info[0].ID) {
		t.Errorf("Deallocate = %v, want ErrUnavailable naming %s", err, info[0].ID)
	}
	if f.port(info[1].ID) != nil {
		t.Errorf("the other port was not deleted after the first failed")
	}
}

func TestRefresh(t *testing.T) {
	f := newFakeNeutron(t)
	f.userPort("port-u", "10.0.0.60")
	c := f.client(t, nil)
	info, err := c.Allocate(context.Background(), binding(),
		[]Request{{PortID: "port-u", Tag: "first"}, {NetworkID: fakeNet}, {NetworkID: fakeNetIPv6}})
	if err != nil {
		t.Fatal(err)
	}
	// OVN marks the port up; one port goes away; one is attached outside this client.
	f.setPort("port-u", "status", "ACTIVE")
	f.mu.Lock()
	delete(f.ports, info[1].ID)
	f.mu.Unlock()
	f.addPort("port-new", fakeNet, "10.0.0.61", func(p map[string]any) { p["device_id"] = fakeInstance })
	got, err := c.Refresh(context.Background(), fakeInstance, info)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range got {
		ids = append(ids, v.ID)
	}
	if want := []string{"port-u", info[2].ID, "port-new"}; !slices.Equal(ids, want) {
		t.Fatalf("refreshed order %v, want %v", ids, want)
	}
	if !got[0].Active || !got[0].PreserveOnDelete || got[0].Meta["tag"] != "first" {
		t.Errorf("refreshed user port %s", mustJSON(got[0]))
	}
	if got[1].Active || got[1].PreserveOnDelete || got[2].PreserveOnDelete || got[2].Type != "unbound" {
		t.Errorf("refreshed ports %s", mustJSON(got[1:]))
	}
	// The dual-stack port: IPv4 subnet without gateway or DHCP, IPv6 SLAAC subnet.
	s := got[1].Network.Subnets
	if len(s) != 1 || s[0].CIDR != "172.24.4.0/24" || s[0].Gateway.Address != "" || s[0].Meta["dhcp_server"] != nil {
		t.Errorf("dual-stack subnets %s", mustJSON(s))
	}
}

func TestAttachDetach(t *testing.T) {
	f := newFakeNeutron(t)
	f.userPort("port-att", "10.0.0.5")
	c := f.client(t, nil)
	v, err := c.AttachPort(context.Background(), binding(), Request{PortID: "port-att"})
	if err != nil || v.ID != "port-att" || !v.PreserveOnDelete {
		t.Fatalf("AttachPort = %+v, %v", v, err)
	}
	if _, err := c.AttachPort(context.Background(), binding(), Request{PortID: "port-att"}); !errors.Is(err, ErrPortInUse) {
		t.Errorf("second attach = %v, want ErrPortInUse", err)
	}
	created, err := c.AttachPort(context.Background(), binding(), Request{NetworkID: fakeNet})
	if err != nil {
		t.Fatal(err)
	}
	shown, err := c.Show(context.Background(), created.ID)
	if err != nil || shown.ID != created.ID || shown.Network.Label != "private" {
		t.Errorf("Show = %+v, %v", shown, err)
	}
	if err := c.DetachPort(context.Background(), fakeInstance, created); err != nil || f.port(created.ID) != nil {
		t.Errorf("DetachPort of a created port = %v; port %v", err, f.port(created.ID))
	}
	if err := c.DetachPort(context.Background(), fakeInstance, v); err != nil || f.port("port-att")["device_id"] != "" {
		t.Errorf("DetachPort of the user's port = %v; port %v", err, f.port("port-att"))
	}
	if err := c.DetachPort(context.Background(), fakeInstance, created); err != nil {
		t.Errorf("DetachPort of a port already gone = %v", err)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name    string
		retries int
		drop    func(c fakeCall) bool // connections dropped without answer
		wantErr error
		calls   map[string]int // method -> requests the fake saw
	}{
		{"GET retried", 2, firstN(2, http.MethodGet), nil, map[string]int{http.MethodGet: 3 + 3}},
		{"GET gives up", 1, firstN(5, http.MethodGet), ErrUnavailable, map[string]int{http.MethodGet: 2}},
		{"PUT retried", 1, firstN(1, http.MethodPut), nil, map[string]int{http.MethodPut: 2}},
		{"POST never repeated", 3, firstN(1, http.MethodPost), ErrUnavailable, map[string]int{http.MethodPost: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNeutron(t)
			f.fail = func(c fakeCall) int {
				if tc.drop(c) {
					return -1
				}
				return 0
			}
			c := f.client(t, func(cfg *Config) { cfg.HTTPRetries = tc.retries })
			// Go's transport repeats an idempotent request once by itself when a reused connection closes;
			// fresh connections make the count of attempts the client's own.
			c.http.Transport.(*http.Transport).DisableKeepAlives = true
			_, err := c.Allocate(context.Background(), binding(), []Request{{NetworkID: fakeNet}})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Allocate = %v, want %v", err, tc.wantErr)
			}
			counts := map[string]int{}
			for _, c := range f.callLog() {
				if !strings.HasPrefix(c.Path, "/identity") {
					counts[c.Method]++
				}
			}
			for m, n := range tc.calls {
				if counts[m] != n {
					t.Errorf("%d %s requests, want %d (all: %v)", counts[m], m, n, f.callLog())
				}
			}
		})
	}
}

// firstN drops the first n requests of a method.
func firstN(n int, method string) func(c fakeCall) bool {
	seen := 0
	return func(c fakeCall) bool {
		if c.Method != method {
			return false
		}
		seen++
		return seen <= n
	}
}

func TestAuthAndEndpoint(t *testing.T) {
	f := newFakeNeutron(t)
	f.userPort("port-x", "10.0.0.7")
	tests := []struct {
		name string
		mod  func(*Config)
		path string // prefix of the Neutron requests
		want error
	}{
		{"internal first by default", nil, "/networking/v2.0/", nil},
		{"valid_interfaces public", func(c *Config) { c.ValidInterfaces = []string{"publicURL", "internal"} }, "/networking-public/v2.0/", nil},
		{"endpoint_override", func(c *Config) { c.EndpointOverride = f.srv.URL + "/networking-public" }, "/networking-public/v2.0/", nil},
		{"no endpoint in region", func(c *Config) { c.RegionName = "RegionTwo" }, "", nil},
		{"wrong password", func(c *Config) { c.Password = "nope" }, "", ErrForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.resetCalls()
			c := f.client(t, tc.mod)
			_, err := c.Show(context.Background(), "port-x")
			switch {
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Errorf("Show = %v, want %v", err, tc.want)
				}
			case tc.path == "":
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Field != "valid_interfaces" {
					t.Errorf("Show = %v, want a valid_interfaces ConfigError", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range f.callLog() {
					if !strings.HasPrefix(c.Path, "/identity") && !strings.HasPrefix(c.Path, tc.path) {
						t.Errorf("request to %s, want under %s", c.Path, tc.path)
					}
				}
			}
		})
	}
	// An expired token is renewed once and the request repeated.
	c := f.client(t, nil)
	if _, err := c.Show(context.Background(), "port-x"); err != nil {
		t.Fatal(err)
	}
	f.expireToken()
	f.mu.Lock()
	before := f.tokens
	f.mu.Unlock()
	if _, err := c.Show(context.Background(), "port-x"); err != nil {
		t.Fatalf("Show after the token expired: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens != before+1 {
		t.Errorf("%d tokens issued after expiry, want 1", f.tokens-before)
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	good := Config{AuthURL: "http://keystone/identity", Username: "nova", Password: "p", ProjectName: "service"}
	tests := []struct {
		field string
		mod   func(*Config)
	}{
		{"auth_url", func(c *Config) { c.AuthURL = "keystone" }},
		{"username", func(c *Config) { c.Username = "" }},
		{"password", func(c *Config) { c.Password = "" }},
		{"project_name", func(c *Config) { c.ProjectName = "" }},
		{"valid_interfaces", func(c *Config) { c.ValidInterfaces = []string{"private"} }},
		{"endpoint_override", func(c *Config) { c.EndpointOverride = "/neutron" }},
		{"http_retries", func(c *Config) { c.HTTPRetries = -1 }},
		{"cafile", func(c *Config) { c.CAFile = "/nonexistent/ca.pem" }},
	}
	for _, tc := range tests {
		cfg := good
		tc.mod(&cfg)
		_, err := NewClient(cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: NewClient = %v, want a ConfigError for %s", tc.field, err, tc.field)
		}
	}
	if _, err := NewClient(good); err != nil {
		t.Errorf("NewClient(good) = %v", err)
	}
}

func TestBadAnswers(t *testing.T) {
	f := newFakeNeutron(t)
	f.userPort("port-b", "10.0.0.8")
	f.fail = func(c fakeCall) int { return -2 }
	c := f.client(t, nil)
	for name, call := range map[string]func() error{
		"show":       func() error { _, err := c.Show(context.Background(), "port-b"); return err },
		"refresh":    func() error { _, err := c.Refresh(context.Background(), fakeInstance, nil); return err },
		"deallocate": func() error { return c.Deallocate(context.Background(), fakeInstance, nil) },
		"allocate": func() error {
			_, err := c.Allocate(context.Background(), binding(), []Request{{NetworkID: fakeNet}})
			return err
		},
	} {
		if err := call(); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s = %v, want ErrBadResponse", name, err)
		}
	}
}

func TestDNSName(t *testing.T) {
	tests := []struct {
		name      string
		dns       bool
		dnsDomain string
		wantBind  any // dns_name in the bind PUT; nil: absent
		wantUnb   any // dns_name in the unbind PUT; nil: absent
	}{
		{"no dns-integration", false, "", nil, nil},
		{"dns-integration", true, "", "vm-1", ""},
		{"network with a dns_domain", true, "example.org.", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNeutron(t)
			f.dns = tc.dns
			if tc.dnsDomain != "" {
				f.networks[fakeNet]["dns_domain"] = tc.dnsDomain
			}
			f.userPort("port-d", "10.0.0.12")
			if tc.dns && tc.dnsDomain != "" {
				f.setPort("port-d", "dns_name", "vm-1")
			}
			c := f.client(t, nil)
			b := binding()
			b.Hostname = "vm-1"
			info, err := c.Allocate(context.Background(), b, []Request{{NetworkID: fakeNet}, {PortID: "port-d"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{info[0].ID, "port-d"} {
				got, ok := putsTo(f, id)[0].Body["dns_name"]
				if (tc.wantBind == nil) == ok || (ok && got != tc.wantBind) {
					t.Errorf("bind of %s: dns_name %v (present %v), want %v", id, got, ok, tc.wantBind)
				}
			}
			if _, err := c.Allocate(context.Background(), b, []Request{{NetworkID: fakeNet}}); err != nil {
				t.Fatal(err)
			}
			exts := 0
			for _, c := range f.callLog() {
				if strings.Contains(c.Path, "/extensions/") {
					exts++
				}
			}
			if exts != 1 {
				t.Errorf("asked for the extension %d times, want once", exts)
			}
			if err := c.Deallocate(context.Background(), fakeInstance, info); err != nil {
				t.Fatal(err)
			}
			puts := putsTo(f, "port-d")
			got, ok := puts[len(puts)-1].Body["dns_name"]
			if (tc.wantUnb == nil) == ok || (ok && got != tc.wantUnb) {
				t.Errorf("unbind: dns_name %v (present %v), want %v", got, ok, tc.wantUnb)
			}
		})
	}
}

func TestBuildNetworkBridges(t *testing.T) {
	long := "br-a-very-long-bridge-name"
	tests := []struct {
		name      string
		vifType   string
		details   map[string]any
		network   neutronNetwork
		bridge    string
		ovsID     bool
		create    bool
		physnet   any
		tunneled  bool
		wantError bool
	}{
		{name: "ovs without bridge_name uses [neutron] ovs_bridge", vifType: "ovs", bridge: "br-cfg", ovsID: true},
		{name: "ovs bridge cut to 14", vifType: "ovs", details: map[string]any{"bridge_name": long}, bridge: long[:14], ovsID: true},
		{name: "linux bridge", vifType: "bridge", bridge: "brqnet-1234567", create: true},
		{name: "dvs keeps the network id", vifType: "dvs", bridge: "net-123456789012345"},
		{name: "vhostuser ovs plug", vifType: "vhostuser", details: map[string]any{"vhostuser_ovs_plug": true}, bridge: "br-cfg", ovsID: true},
		{name: "vhostuser fp plug", vifType: "vhostuser", details: map[string]any{"vhostuser_fp_plug": true}, bridge: "brqnet-1234567"},
		{name: "unbound has no bridge", vifType: "unbound"},
		{name: "vlan provider network", vifType: "ovs", bridge: "br-cfg", ovsID: true, physnet: "physnet1",
			network: neutronNetwork{PhysicalNetwork: new("physnet1"), NetworkType: "vlan"}},
		{name: "segments: first with a physnet", vifType: "ovs", bridge: "br-cfg", ovsID: true, physnet: "physnet2",
			network: neutronNetwork{Segments: []neutronSegment{{NetworkType: "geneve"}, {PhysicalNetwork: new("physnet2")}}}},
		{name: "segments without physnet", vifType: "ovs", wantError: true,
			network: neutronNetwork{Segments: []neutronSegment{{NetworkType: "geneve"}}}},
		{name: "vxlan is tunneled", vifType: "ovs", bridge: "br-cfg", ovsID: true, tunneled: true,
			network: neutronNetwork{NetworkType: "vxlan"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			netID := "net-123456789012345"
			tc.network.ID = netID
			in := portInputs{port: neutronPort{ID: "port-1", NetworkID: netID, VIFType: tc.vifType, VIFDetails: tc.details},
				network: tc.network}
			v, err := buildVIF(in, "br-cfg")
			if tc.wantError {
				if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "port-1") {
					t.Fatalf("buildVIF = %v, want ErrBadResponse naming the port", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := v.Network
			if n.Bridge != tc.bridge || (v.OVSInterfaceID == "port-1") != tc.ovsID ||
				(n.ShouldCreateBridge != nil && *n.ShouldCreateBridge) != tc.create ||
				n.Meta["physical_network"] != tc.physnet || n.Meta["tunneled"] != tc.tunneled {
				t.Errorf("network %s, ovs_interfaceid %q", mustJSON(n), v.OVSInterfaceID)
			}
		})
	}
}

// TestAllocateUndoesAfterCancel: the caller's context ending mid-way is why undo must not use it.
func TestAllocateUndoesAfterCancel(t *testing.T) {
	f := newFakeNeutron(t)
	c := f.client(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.fail = func(c fakeCall) int {
		if c.Method == http.MethodPut {
			cancel()
			return 500
		}
		return 0
	}
	_, err := c.Allocate(ctx, binding(), []Request{{NetworkID: fakeNet}})
	if err == nil {
		t.Fatal("Allocate succeeded")
	}
	if w := f.writes(); !slices.Equal(w[len(w)-1:], []string{"DELETE /networking/v2.0/ports/" + createdIDs(f)[0]}) {
		t.Errorf("the created port was not deleted after a cancelled allocation: %v", w)
	}
}

// TestConcurrentFirstUse: callers racing on a fresh client share one authentication.
func TestConcurrentFirstUse(t *testing.T) {
	f := newFakeNeutron(t)
	f.userPort("port-c", "10.0.0.13")
	c := f.client(t, nil)
	errs := make(chan error, 8)
	for range 8 {
		go func() { _, err := c.Show(context.Background(), "port-c"); errs <- err }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens != 1 {
		t.Errorf("%d tokens issued, want 1", f.tokens)
	}
}

func TestGlobalRequestID(t *testing.T) {
	f := newFakeNeutron(t)
	c := f.client(t, nil)
	ctx := WithGlobalRequestID(context.Background(), "req-8d3b7a52-0000-4000-8000-000000000001")
	if _, err := c.Allocate(ctx, binding(), []Request{{NetworkID: fakeNet}}); err != nil {
		t.Fatal(err)
	}
	for _, call := range f.callLog() {
		if !strings.HasPrefix(call.Path, "/identity") && call.RequestID != "req-8d3b7a52-0000-4000-8000-000000000001" {
			t.Errorf("%s carried request id %q", call, call.RequestID)
		}
	}
}
