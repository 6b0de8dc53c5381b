package compute

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/configdrive"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/network/plug"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// netBuildMessage is buildMessage with requested_networks asking for one port on network "net-1".
func netBuildMessage(t *testing.T, inst *vo.Object, retry bool) json.RawMessage {
	return netBuildMessageN(t, inst, retry, 1)
}

// netBuildMessageN is buildMessage with requested_networks asking for n ports on network "net-1".
func netBuildMessageN(t *testing.T, inst *vo.Object, retry bool, n int) json.RawMessage {
	t.Helper()
	var reqs []*vo.Object
	for range n {
		req := vo.New("NetworkRequest", "1.3")
		req.SetString("network_id", "net-1")
		req.SetNull("port_id")
		reqs = append(reqs, req)
	}
	return buildMessageWithRequests(t, inst, retry, reqs)
}

// buildMessageWithRequests is buildMessage with requested_networks made of reqs (NetworkRequest objects).
func buildMessageWithRequests(t *testing.T, inst *vo.Object, retry bool, reqs []*vo.Object) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(buildMessage(t, inst, retry), &m); err != nil {
		t.Fatal(err)
	}
	list, err := vo.NewList("NetworkRequestList", "1.1", reqs)
	if err != nil {
		t.Fatal(err)
	}
	m["requested_networks"], _ = json.Marshal(list)
	b, _ := json.Marshal(m)
	return b
}

// buildWithNetwork runs a build asking for one network to its end and returns the instance as the database holds it.
func (h *harness) buildWithNetwork(t *testing.T, uuid string, retry bool) *vo.Object {
	t.Helper()
	return h.buildWithPorts(t, uuid, retry, 1)
}

// buildWithPorts is buildWithNetwork asking for n ports.
func (h *harness) buildWithPorts(t *testing.T, uuid string, retry bool, n int) *vo.Object {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	h.cond.put(inst)
	h.runBuild(t, context.Background(), netBuildMessageN(t, inst, retry, n))
	return h.cond.object(uuid)
}

// sendEvent delivers an external instance event as nova-api would, with the instance as the database holds it.
func (h *harness) sendEvent(t *testing.T, uuid, name, tag, status string) {
	t.Helper()
	h.sendEventWith(t, h.cond.object(uuid), name, tag, status)
}

// sendEventWith delivers an external instance event for inst as given (nova-api's copy of it).
func (h *harness) sendEventWith(t *testing.T, inst *vo.Object, name, tag, status string) {
	t.Helper()
	uuid := instanceUUID(inst)
	ev := vo.New("InstanceExternalEvent", "1.5")
	for k, v := range map[string]string{"instance_uuid": uuid, "name": name, "tag": tag, "status": status} {
		ev.SetString(k, v)
	}
	args, _ := json.Marshal(map[string]any{"instances": []*vo.Object{inst}, "events": []*vo.Object{ev}})
	if _, err := h.s.externalInstanceEvent(context.Background(), args); err != nil {
		t.Errorf("external_instance_event %s: %v", name, err)
	}
}

// deleteServer deletes the instance as nova-api does: task_state deleting in the database, then
// terminate_instance with it.
func (h *harness) deleteServer(uuid string) error {
	inst := h.cond.object(uuid)
	_ = inst.Set("task_state", taskDeleting)
	inst.ResetChanges()
	h.cond.put(inst)
	args, _ := json.Marshal(map[string]any{"instance": inst, "bdms": nil})
	_, err := h.s.terminateInstance(context.Background(), args)
	return err
}

// cachedInfo is the network_info the fake database holds for uuid.
func (h *harness) cachedInfo(t *testing.T, uuid string) network.Info {
	t.Helper()
	info, _, err := cachedNetworkInfo(h.cond.object(uuid))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestBuildWithNetwork drives builds that ask for a Neutron network through the cases of nova's build: the port is
// allocated, cached and plugged before the guest starts; network-vif-plugged is waited for unless the port is
// already active; a timeout or a failed event is fatal or not as vif_plugging_is_fatal says; a vif type this host
// cannot plug, Neutron unreachable and the switch down each fail the build with nothing left on the host or in
// Neutron.
func TestBuildWithNetwork(t *testing.T) {
	unreachable := errors.New("dial tcp 10.0.0.2:9696: connection refused")
	tests := []struct {
		name       string
		active     bool   // ports ACTIVE when bound: no event to wait for
		send       string // status of the network-vif-plugged event sent when the tap is plugged; "" sends none
		timeout    int
		fatal      bool
		vifType    string
		allocErr   error
		checkErr   error
		retry      bool
		wantVM     string
		wantFault  string // "" for none
		wantResch  int
		wantBound  int // ports still bound at the end
		wantTaps   int
		wantAlloc  bool // Allocate called
		wantSpawn  bool
		wantDealoc bool
	}{
		{name: "event arrives", send: "completed", timeout: 10, fatal: true, wantVM: vmActive, wantBound: 1,
			wantTaps: 1, wantAlloc: true, wantSpawn: true},
		{name: "active port is not waited for", active: true, timeout: 10, fatal: true, wantVM: vmActive,
			wantBound: 1, wantTaps: 1, wantAlloc: true, wantSpawn: true},
		{name: "timeout not waited with vif_plugging_timeout 0", timeout: 0, fatal: true, wantVM: vmActive,
			wantBound: 1, wantTaps: 1, wantAlloc: true, wantSpawn: true},
		{name: "timeout fatal", timeout: 1, fatal: true, wantVM: vmError,
			wantFault: "Virtual Interface creation failed", wantAlloc: true, wantDealoc: true},
		{name: "timeout not fatal", timeout: 1, fatal: false, wantVM: vmActive, wantBound: 1, wantTaps: 1,
			wantAlloc: true, wantSpawn: true},
		{name: "failed event fatal", send: "failed", timeout: 10, fatal: true, wantVM: vmError,
			wantFault: "Virtual Interface creation failed", wantAlloc: true, wantDealoc: true},
		{name: "unknown vif type", vifType: "vhostuser", active: true, timeout: 10, fatal: true, wantVM: vmError,
			wantFault: "Unsupported VIF type vhostuser", wantAlloc: true, wantDealoc: true},
		{name: "neutron unreachable reschedules", allocErr: errors.Join(network.ErrUnavailable, unreachable),
			retry: true, timeout: 10, fatal: true, wantVM: vmBuilding, wantResch: 1, wantAlloc: true, wantDealoc: true},
		{name: "neutron unreachable without retry", allocErr: errors.Join(network.ErrUnavailable, unreachable),
			timeout: 10, fatal: true, wantVM: vmError, wantFault: "Neutron is unreachable", wantAlloc: true,
			wantDealoc: true},
		{name: "port bound elsewhere aborts", allocErr: network.ErrPortBoundElsewhere, retry: true, timeout: 10,
			fatal: true, wantVM: vmError, wantFault: "Failed to allocate the network(s), not rescheduling",
			wantAlloc: true, wantDealoc: true},
		{name: "port in use is worded as nova's PortInUse", allocErr: &network.Error{Op: "bind",
			Port: "cccccccc-0000-4000-8000-000000000001", Kind: network.ErrPortInUse}, retry: true, timeout: 10,
			fatal: true, wantVM: vmError, wantFault: "Port cccccccc-0000-4000-8000-000000000001 is still in use.",
			wantAlloc: true, wantDealoc: true},
		{name: "network not found is worded as nova's NetworkNotFound", allocErr: &network.Error{Op: "show network",
			Network: "net-1", Kind: network.ErrNotFound}, retry: true, timeout: 10, fatal: true, wantVM: vmError,
			wantFault: "Network net-1 could not be found.", wantAlloc: true, wantDealoc: true},
		{name: "binding failed reschedules as nova's PortBindingFailed", allocErr: &network.Error{Op: "bind",
			Port: "cccccccc-0000-4000-8000-000000000002", Kind: network.ErrBindingFailed}, timeout: 10, fatal: true,
			wantVM: vmError, wantFault: "Binding failed for port cccccccc-0000-4000-8000-000000000002, please check " +
				"neutron logs for more information.", wantAlloc: true, wantDealoc: true},
		{name: "switch down reschedules before any port", checkErr: errors.New("ovsdb-server not reachable"),
			retry: true, timeout: 10, fatal: true, wantVM: vmBuilding, wantResch: 1, wantDealoc: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := *h.s.cfg.Load()
			cfg.Default.VIFPluggingTimeout, cfg.Default.VIFPluggingIsFatal = tt.timeout, tt.fatal
			h.s.cfg.Store(&cfg)
			h.neutron.active, h.neutron.vifType, h.neutron.allocErr = tt.active, tt.vifType, tt.allocErr
			h.plugger.checkErr = tt.checkErr
			uuid := "44444444-0000-4000-8000-0000000000" + string(rune('a'+i/10)) + string(rune('0'+i%10))
			if tt.send != "" {
				h.plugger.onPlug = func(p plug.Port) {
					// Neutron answers the tap appearing on br-int; it may arrive before the build waits.
					go h.sendEvent(t, uuid, "network-vif-plugged", p.PortID, tt.send)
				}
			}
			var tapsAtSpawn []string
			h.drv.onSpawn = func(hypervisor.Guest) { tapsAtSpawn = h.plugger.taps() }
			got := h.buildWithNetwork(t, uuid, tt.retry)

			if v := fieldString(got, "vm_state"); v != tt.wantVM {
				t.Errorf("vm_state = %q, want %q", v, tt.wantVM)
			}
			faults := h.cond.faults[uuid]
			if tt.wantFault == "" && len(faults) != 0 {
				t.Errorf("unexpected faults %q", faults)
			}
			if tt.wantFault != "" && (len(faults) != 1 || !strings.Contains(faults[0], tt.wantFault)) {
				t.Errorf("faults = %q, want one containing %q", faults, tt.wantFault)
			}
			if len(h.cond.reschedul) != tt.wantResch {
				t.Errorf("build_instances casts = %d, want %d", len(h.cond.reschedul), tt.wantResch)
			}
			if n := h.neutron.boundPorts(); n != tt.wantBound {
				t.Errorf("%d ports bound at the end, want %d", n, tt.wantBound)
			}
			if taps := h.plugger.taps(); len(taps) != tt.wantTaps {
				t.Errorf("taps left plugged = %v, want %d", taps, tt.wantTaps)
			}
			calls := h.neutron.callList()
			if slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "allocate") }) != tt.wantAlloc {
				t.Errorf("neutron calls %v: allocate wanted %v", calls, tt.wantAlloc)
			}
			if tt.wantAlloc && calls[0] != "allocate "+testHost+" compute:nova" {
				t.Errorf("allocate bound to %q, want this host and compute:nova", calls[0])
			}
			if slices.Contains(calls, "deallocate") != tt.wantDealoc {
				t.Errorf("neutron calls %v: deallocate wanted %v", calls, tt.wantDealoc)
			}
			if spawned := h.drv.lastSpawn != nil; spawned != tt.wantSpawn {
				t.Errorf("spawned = %v, want %v", spawned, tt.wantSpawn)
			}
			if tt.wantSpawn {
				// The tap was there when the guest started, and the guest is on it.
				tap := network.TapName(h.cachedInfo(t, uuid)[0].ID)
				if !slices.Contains(tapsAtSpawn, tap) {
					t.Errorf("taps at spawn = %v, want %s plugged before the guest started", tapsAtSpawn, tap)
				}
				ifs := h.drv.lastSpawn.Devices.Interfaces
				if len(ifs) != 1 || ifs[0].Target == nil || ifs[0].Target.Dev != tap || ifs[0].MAC == nil ||
					ifs[0].MAC.Address != "fa:16:3e:00:00:01" {
					b, _ := json.Marshal(ifs)
					t.Errorf("guest interfaces = %s, want one on %s", b, tap)
				}
				info := h.cachedInfo(t, uuid)
				if len(info) != 1 || info[0].Network.Subnets[0].IPs[0].Address != "10.0.0.11" {
					t.Errorf("info cache = %+v, want the allocated port with 10.0.0.11", info)
				}
				if p := h.plugger.plugged[tap]; p.Kind != plug.KindOVS || p.Bridge != "br-int" || p.MTU != 1442 ||
					p.InstanceUUID != uuid || p.DatapathType != "netdev" || p.MAC != "fa:16:3e:00:00:01" {
					t.Errorf("plugged %+v", p)
				}
			}
			if tt.wantVM != vmActive {
				if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("instance directory left after a failed build: %v", err)
				}
				if tt.wantAlloc && tt.allocErr == nil {
					if info := h.cachedInfo(t, uuid); len(info) != 0 {
						t.Errorf("info cache after clean-up = %+v, want empty", info)
					}
				}
			}
			h.s.lc.net.events.mu.Lock()
			if n := len(h.s.lc.net.events.waiters); n != 0 {
				t.Errorf("%d instances still have event waiters", n)
			}
			h.s.lc.net.events.mu.Unlock()
		})
	}
}

// TestUnexpectedVIFPluggedIsHarmless: Neutron sends network-vif-plugged twice per port; the second, with nobody
// waiting, changes nothing.
func TestUnexpectedVIFPluggedIsHarmless(t *testing.T) {
	h := newHarness(t)
	uuid := "44444444-0000-4000-8000-000000000100"
	h.neutron.active = true
	got := h.buildWithNetwork(t, uuid, false)
	if v := fieldString(got, "vm_state"); v != vmActive {
		t.Fatalf("vm_state = %q", v)
	}
	before := h.cond.calls
	h.sendEvent(t, uuid, "network-vif-plugged", h.cachedInfo(t, uuid)[0].ID, "completed")
	h.sendEvent(t, uuid, "network-vif-unplugged", h.cachedInfo(t, uuid)[0].ID, "completed")
	if h.cond.calls != before || fieldString(h.cond.object(uuid), "vm_state") != vmActive {
		t.Errorf("an unexpected event changed something: %d conductor calls", h.cond.calls-before)
	}
}

// TestDeleteUnplugsAndDeallocates: terminate leaves no tap, no bound port, no instance directory.
func TestDeleteUnplugsAndDeallocates(t *testing.T) {
	for _, tt := range []struct {
		name        string
		deallocErrs []error
		wantVM      string
	}{
		{name: "neutron answers", wantVM: vmDeleted},
		{name: "neutron unreachable once", deallocErrs: []error{network.ErrUnavailable}, wantVM: vmDeleted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			uuid := "44444444-0000-4000-8000-000000000200"
			h.neutron.active = true
			if v := fieldString(h.buildWithNetwork(t, uuid, false), "vm_state"); v != vmActive {
				t.Fatalf("vm_state = %q", v)
			}
			if len(h.plugger.taps()) != 1 || h.neutron.boundPorts() != 1 {
				t.Fatalf("after build: taps %v, %d ports", h.plugger.taps(), h.neutron.boundPorts())
			}
			h.neutron.deallocErrs = tt.deallocErrs
			if err := h.deleteServer(uuid); err != nil {
				t.Fatal(err)
			}
			if taps := h.plugger.taps(); len(taps) != 0 {
				t.Errorf("taps left: %v", taps)
			}
			if n := h.neutron.boundPorts(); n != 0 {
				t.Errorf("%d ports still bound", n)
			}
			if v := fieldString(h.cond.object(uuid), "vm_state"); v != tt.wantVM {
				t.Errorf("vm_state = %q, want %q", v, tt.wantVM)
			}
			if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("instance directory left: %v", err)
			}
		})
	}
}

// TestNetworkChangedRefreshesInfoCache: network-changed reads the ports again and saves the cache;
// network-vif-deleted drops the port from it.
func TestNetworkChangedRefreshesInfoCache(t *testing.T) {
	h := newHarness(t)
	uuid := "44444444-0000-4000-8000-000000000300"
	h.neutron.active = true
	h.buildWithNetwork(t, uuid, false)
	info := h.cachedInfo(t, uuid)
	if len(info) != 1 {
		t.Fatalf("info cache after build = %+v", info)
	}
	changed := slices.Clone(info)
	vif := changed[0]
	netw := *vif.Network
	netw.Subnets = []network.Subnet{{CIDR: "10.0.0.0/24", Version: 4,
		IPs: []network.FixedIP{{IP: network.IP{Address: "10.0.0.99", Type: "fixed", Version: 4},
			FloatingIPs: []network.IP{{Address: "172.24.4.7", Type: "floating", Version: 4}}}}}}
	vif.Network = &netw
	changed[0] = vif
	h.neutron.refresh = changed
	h.sendEvent(t, uuid, "network-changed", vif.ID, "completed")
	got := h.cachedInfo(t, uuid)
	if len(got) != 1 || got[0].Network.Subnets[0].IPs[0].Address != "10.0.0.99" ||
		got[0].Network.Subnets[0].IPs[0].FloatingIPs[0].Address != "172.24.4.7" {
		t.Errorf("info cache after network-changed = %+v", got)
	}
	h.sendEvent(t, uuid, "network-vif-deleted", vif.ID, "completed")
	if got := h.cachedInfo(t, uuid); len(got) != 0 {
		t.Errorf("info cache after network-vif-deleted = %+v, want empty", got)
	}
}

// TestNetworkChangedReadsTheSavedCache: an event's instance is nova-api's copy, read before the build saved the
// cache. The refresh works from the cache the conductor holds, so what the build recorded there (a user's port
// preserved on delete) is not lost: from the copy's empty list the user's port was deleted with the server.
func TestNetworkChangedReadsTheSavedCache(t *testing.T) {
	h := newHarness(t)
	uuid := "44444444-0000-4000-8000-000000000301"
	h.neutron.active = true
	stale := instanceFromWire(t, uuid)
	ic := vo.New("InstanceInfoCache", "1.5")
	ic.SetString("instance_uuid", uuid)
	ic.SetString("network_info", "[]")
	raw, err := json.Marshal(ic)
	if err != nil {
		t.Fatal(err)
	}
	stale.Data["info_cache"] = raw
	h.buildWithNetwork(t, uuid, false)
	saved := h.cachedInfo(t, uuid)
	if len(saved) != 1 {
		t.Fatalf("info cache after build = %+v", saved)
	}
	h.sendEventWith(t, stale, "network-changed", saved[0].ID, "completed")
	if len(h.neutron.prevs) == 0 {
		t.Fatal("network-changed did not refresh")
	}
	if prev := h.neutron.prevs[len(h.neutron.prevs)-1]; !sameInfo(prev, saved) {
		t.Errorf("refresh worked from %+v, want the saved cache %+v", prev, saved)
	}
	if got := h.cachedInfo(t, uuid); !sameInfo(got, saved) {
		t.Errorf("info cache after network-changed = %+v, want %+v", got, saved)
	}
}

// attachArgs is attach_interface's message for port or network.
func attachArgs(inst *vo.Object, networkID, portID any) map[string]any {
	return map[string]any{"instance": inst, "network_id": networkID, "port_id": portID, "requested_ip": nil,
		"tag": nil}
}

// TestAttachInterfaceRefusedWithoutHotplug: an engine without NIC hot-plug (bhyve) answers attach_interface with
// nova's AttachInterfaceNotSupported (the API's 400), before Neutron is asked anything: no port is bound, the
// server is unchanged, and the action's event records the failure.
func TestAttachInterfaceRefusedWithoutHotplug(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	uuid := "44444444-0000-4000-8000-000000000400"
	inst := h.build(t, uuid, false)
	savesBefore := len(h.cond.savesOf(uuid))
	rc := rpc.AdminContext()
	_, err := client.Call(context.Background(), &rc, "attach_interface", attachArgs(inst, nil, "bbbbbbbb-0000-4000-8000-000000000001"))
	var re *rpc.RemoteError
	if !errors.As(err, &re) || re.Class != "AttachInterfaceNotSupported" ||
		!strings.Contains(re.Message, "Attaching interfaces is not supported for instance "+uuid) {
		t.Fatalf("attach_interface = %v, want AttachInterfaceNotSupported", err)
	}
	if calls := h.neutron.callList(); slices.Contains(calls, "attach-port") {
		t.Errorf("neutron was asked %v", calls)
	}
	if h.neutron.boundPorts() != 0 || len(h.plugger.taps()) != 0 {
		t.Errorf("left %d ports bound, taps %v", h.neutron.boundPorts(), h.plugger.taps())
	}
	if n := len(h.cond.savesOf(uuid)); n != savesBefore || fieldString(h.cond.object(uuid), "vm_state") != vmActive {
		t.Errorf("instance changed: %d saves after the refusal", n-savesBefore)
	}
	if ev := h.eventsContaining("compute_attach_interface"); len(ev) != 2 || !strings.HasSuffix(ev[1], "Error") {
		t.Errorf("events = %v", ev)
	}
}

// TestAttachDetachInterface drives attach and detach on an engine with NIC hot-plug: the port is bound, its tap
// plugged and the NIC in the guest, the info cache lists it; a failed attach leaves nothing; detach removes it all.
func TestAttachDetachInterface(t *testing.T) {
	h := newHarness(t)
	hot := &fakeHotDriver{fakeDriver: h.drv, nics: map[string]hypervisor.NIC{}}
	h.s.lc.eng.driver = hot
	uuid := "44444444-0000-4000-8000-000000000500"
	inst := h.build(t, uuid, false)
	h.plugger.onPlug = func(p plug.Port) { go h.sendEvent(t, uuid, "network-vif-plugged", p.PortID, "completed") }
	cfg := *h.s.cfg.Load()
	cfg.Default.VIFPluggingTimeout, cfg.Default.VIFPluggingIsFatal = 10, true
	h.s.cfg.Store(&cfg)

	// A guest that refuses the NIC: the port is released and the tap unplugged again.
	hot.attachErr = errors.New("QMP device_add: Duplicate ID")
	args, _ := json.Marshal(attachArgs(inst, "net-1", nil))
	if _, err := h.s.attachInterface(context.Background(), args); err == nil || !isRemote(err, "InterfaceAttachFailed") {
		t.Fatalf("attach with a refusing guest = %v, want InterfaceAttachFailed", err)
	}
	if h.neutron.boundPorts() != 0 || len(h.plugger.taps()) != 0 || len(hot.nics) != 0 {
		t.Fatalf("failed attach left %d ports, taps %v, nics %v", h.neutron.boundPorts(), h.plugger.taps(), hot.nics)
	}

	hot.attachErr = nil
	inst = h.cond.object(uuid)
	args, _ = json.Marshal(attachArgs(inst, "net-1", nil))
	res, err := h.s.attachInterface(context.Background(), args)
	if err != nil {
		t.Fatal(err)
	}
	vif, ok := res.(network.VIF)
	if !ok || vif.ID == "" || h.neutron.boundPorts() != 1 {
		t.Fatalf("attach answered %#v with %d ports bound", res, h.neutron.boundPorts())
	}
	if taps := h.plugger.taps(); len(taps) != 1 || taps[0] != network.TapName(vif.ID) {
		t.Errorf("taps = %v", taps)
	}
	if nic, ok := hot.nics[vif.Address]; !ok || nic.Tap != network.TapName(vif.ID) || nic.MTU != 1442 {
		t.Errorf("guest NICs = %+v", hot.nics)
	}
	if info := h.cachedInfo(t, uuid); len(info) != 1 || info[0].ID != vif.ID {
		t.Errorf("info cache = %+v", info)
	}
	// An attach whose port a network-changed already put in the cache lists it once.
	again, _ := json.Marshal(attachArgs(h.cond.object(uuid), nil, vif.ID))
	if _, err := h.s.attachInterface(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	if info := h.cachedInfo(t, uuid); len(info) != 1 || info[0].ID != vif.ID {
		t.Errorf("info cache after attaching a cached port = %+v, want it once", info)
	}
	delete(hot.nics, vif.Address)

	dargs, _ := json.Marshal(map[string]any{"instance": h.cond.object(uuid), "port_id": vif.ID})
	if _, err := h.s.detachInterface(context.Background(), dargs); err != nil {
		t.Fatal(err)
	}
	if h.neutron.boundPorts() != 0 || len(h.plugger.taps()) != 0 || len(hot.nics) != 0 {
		t.Errorf("detach left %d ports, taps %v, nics %v", h.neutron.boundPorts(), h.plugger.taps(), hot.nics)
	}
	if info := h.cachedInfo(t, uuid); len(info) != 0 {
		t.Errorf("info cache after detach = %+v", info)
	}
	dargs, _ = json.Marshal(map[string]any{"instance": h.cond.object(uuid), "port_id": vif.ID})
	if _, err := h.s.detachInterface(context.Background(), dargs); !isRemote(err, "PortNotFound") {
		t.Errorf("second detach = %v, want PortNotFound", err)
	}
}

// TestStartReplugsTaps: a stopped guest whose taps are gone (host restart) gets them back before it starts.
func TestStartReplugsTaps(t *testing.T) {
	h := newHarness(t)
	uuid := "44444444-0000-4000-8000-000000000600"
	h.neutron.active = true
	h.buildWithNetwork(t, uuid, false)
	inst := h.cond.object(uuid)
	g, err := h.s.guestOf(inst)
	if err != nil {
		t.Fatal(err)
	}
	h.drv.set(g.Name, hypervisor.Shutdown)
	h.plugger.mu.Lock()
	clear(h.plugger.plugged)
	h.plugger.mu.Unlock()
	_ = inst.Set("task_state", taskPoweringOn)
	_ = inst.Set("vm_state", vmStopped)
	inst.ResetChanges()
	h.cond.put(inst)
	// nova-api's start_instance carries no info_cache: the manager loads it from the conductor.
	delete(inst.Data, "info_cache")
	args, _ := json.Marshal(map[string]any{"instance": inst})
	if _, err := h.s.startInstance(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	if taps := h.plugger.taps(); len(taps) != 1 {
		t.Errorf("taps after start = %v, want the instance's one", taps)
	}
}

// TestNetworkRequests reads requested_networks as build_and_run_instance carries them.
func TestNetworkRequests(t *testing.T) {
	mk := func(fields ...map[string]any) *vo.Object {
		var objs []*vo.Object
		for _, f := range fields {
			o := vo.New("NetworkRequest", "1.3")
			for k, v := range f {
				_ = o.Set(k, v)
			}
			objs = append(objs, o)
		}
		l, _ := vo.NewList("NetworkRequestList", "1.1", objs)
		return l
	}
	for _, tt := range []struct {
		name    string
		list    *vo.Object
		want    []network.Request
		wantErr string
	}{
		{name: "absent"},
		{name: "none", list: mk(map[string]any{"network_id": "none"})},
		{name: "auto is kept for the network API", list: mk(map[string]any{"network_id": "auto"}),
			want: []network.Request{{NetworkID: "auto"}}},
		{name: "network with address and tag", list: mk(map[string]any{"network_id": "n1", "address": "10.0.0.5", "tag": "eth1"}),
			want: []network.Request{{NetworkID: "n1", FixedIP: "10.0.0.5", Tag: "eth1"}}},
		{name: "port names its network", list: mk(map[string]any{"network_id": "n1", "port_id": "p1"}),
			want: []network.Request{{PortID: "p1"}}},
		{name: "two in order", list: mk(map[string]any{"network_id": "n1"}, map[string]any{"port_id": "p2"}),
			want: []network.Request{{NetworkID: "n1"}, {PortID: "p2"}}},
		{name: "none with another", list: mk(map[string]any{"network_id": "none"}, map[string]any{"network_id": "n1"}),
			wantErr: "cannot be combined"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := networkRequests(tt.list)
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("requests = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestConfigDriveFor checks when an instance gets a config drive and what it holds.
func TestConfigDriveFor(t *testing.T) {
	h := newHarness(t)
	base := func() *vo.Object {
		inst := instanceFromWire(t, "44444444-0000-4000-8000-000000000700")
		inst.SetString("user_data", base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n")))
		inst.SetString("key_name", "mykey")
		inst.SetString("key_data", "ssh-ed25519 AAAA me")
		_ = inst.Set("metadata", map[string]string{"role": "web"})
		return inst
	}
	pass := "s3cret"
	for _, tt := range []struct {
		name    string
		set     func(inst *vo.Object, img *imageMeta, force *bool)
		want    bool
		wantErr string
	}{
		{name: "not asked", set: func(*vo.Object, *imageMeta, *bool) {}},
		{name: "user asked", set: func(i *vo.Object, _ *imageMeta, _ *bool) { i.SetString("config_drive", "True") }, want: true},
		{name: "image demands", set: func(_ *vo.Object, m *imageMeta, _ *bool) {
			m.Properties = map[string]any{"img_config_drive": "mandatory"}
		}, want: true},
		{name: "operator forces", set: func(_ *vo.Object, _ *imageMeta, f *bool) { *f = true }, want: true},
		{name: "user data not base64", set: func(i *vo.Object, _ *imageMeta, _ *bool) {
			i.SetString("config_drive", "True")
			i.SetString("user_data", "not base64!")
		}, wantErr: "not base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inst, img, force := base(), imageMeta{}, false
			tt.set(inst, &img, &force)
			cfg := *h.s.cfg.Load()
			cfg.Default.ForceConfigDrive = force
			h.s.cfg.Store(&cfg)
			info := network.Info{{ID: "p1"}}
			c, err := h.s.configDriveFor(inst, img, &pass, info)
			if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if (c != nil) != tt.want {
				t.Fatalf("config drive = %v, want %v", c != nil, tt.want)
			}
			if c == nil {
				return
			}
			if string(c.UserData) != "#!/bin/sh\necho hi\n" || c.PublicKeys["mykey"] != "ssh-ed25519 AAAA me" ||
				c.Meta["role"] != "web" || c.AdminPass != pass || c.UUID != "44444444-0000-4000-8000-000000000700" ||
				len(c.Network) != 1 || c.AvailabilityZone != "nova" || c.Hostname != "bl-1" {
				t.Errorf("content = %+v", c)
			}
		})
	}
}

// TestEventWaitOrder checks the waiter registry on its own: an event that arrives before the wait starts is kept,
// the deadline ends the wait, and nothing stays registered.
func TestEventWaitOrder(t *testing.T) {
	var e instanceEvents
	w := e.prepare("u", []string{"network-vif-plugged-a", "network-vif-plugged-b"})
	if !e.pop("u", "network-vif-plugged-a", "completed") {
		t.Fatal("registered event not delivered")
	}
	if e.pop("u", "network-vif-plugged-a", "completed") {
		t.Error("an event was delivered twice")
	}
	if e.pop("v", "network-vif-plugged-b", "completed") {
		t.Error("an event was delivered to the wrong instance")
	}
	_, err := w.wait(context.Background(), 50*time.Millisecond)
	if !errors.Is(err, errEventTimeout) || !strings.Contains(err.Error(), "network-vif-plugged-b") {
		t.Errorf("wait = %v, want a timeout naming b", err)
	}
	if len(e.waiters) != 0 {
		t.Errorf("waiters left: %v", e.waiters)
	}
}

// TestNewRefusesVFATConfigDrive: this service writes ISO 9660 drives only, so config_drive_format = vfat stops the
// start with an error naming the file, the line and the option.
func TestNewRefusesVFATConfigDrive(t *testing.T) {
	for _, tt := range []struct{ value, wantErr string }{
		{"iso9660", ""},
		{"vfat", `nova.conf:3: [DEFAULT] config_drive_format: "vfat" is not supported`},
	} {
		p := filepath.Join(t.TempDir(), "nova.conf")
		body := "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/\nconfig_drive_format = " + tt.value + "\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := conf.Load(conf.Sources{ConfigFiles: []string{p}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Compute.ProviderConfigLocation = ""
		_, err = New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("config_drive_format = %s: New error %v, want %q", tt.value, err, tt.wantErr)
		}
	}
}

// TestTapOwner: the taps belong to the uid the engine says its guests open them as (hypervisor.TapOwner); an
// engine without it gets root's taps, and an engine that cannot tell fails the plug naming why.
func TestTapOwner(t *testing.T) {
	for _, tt := range []struct {
		name    string
		owner   hypervisor.TapOwner
		want    int
		wantErr string
	}{
		{"root engine", nil, -1, ""},
		{"qemu user", fakeTapOwner{uid: 1234}, 1234, ""},
		{"unknown user", fakeTapOwner{err: errors.New("[qemu] user novabsd-no-such-user: unknown user")}, 0,
			"owner of the taps: [qemu] user novabsd-no-such-user"},
	} {
		got, err := (&networking{owner: tt.owner}).tapOwner()
		if (err != nil) != (tt.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) || got != tt.want {
			t.Errorf("%s: tapOwner() = %d, %v; want %d, %q", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

type fakeTapOwner struct {
	uid int
	err error
}

func (f fakeTapOwner) TapOwner() (int, error) { return f.uid, f.err }

// TestBuildWithoutNeutronConfigured: a host whose nova.conf has no [neutron] credentials refuses a build asking for
// a network with a fault saying so, before claiming anything, and still deletes servers without asking Neutron.
func TestBuildWithoutNeutronConfigured(t *testing.T) {
	h := newHarness(t)
	h.s.lc.net = nil
	uuid := "44444444-0000-4000-8000-000000000800"
	got := h.buildWithNetwork(t, uuid, false)
	if v := fieldString(got, "vm_state"); v != vmError {
		t.Errorf("vm_state = %q, want error", v)
	}
	if f := h.cond.faults[uuid]; len(f) != 1 || !strings.Contains(f[0], "[neutron] auth_url is not set") {
		t.Errorf("faults = %q", f)
	}
	if h.drv.lastSpawn != nil || h.fetches.Load() != 0 {
		t.Error("the build went on without Neutron")
	}
	uuid2 := "44444444-0000-4000-8000-000000000801"
	inst := h.build(t, uuid2, false)
	args, _ := json.Marshal(map[string]any{"instance": inst, "bdms": nil})
	if _, err := h.s.terminateInstance(context.Background(), args); err != nil {
		t.Errorf("delete of a --nic none server without Neutron: %v", err)
	}
}

// TestBuildWithConfigDrive: a forced config drive is written into the instance directory with the instance's
// data and network_info, attached as a CD-ROM, recorded on the instance, and gone with the instance; a drive that
// cannot be written fails the build with nothing left.
func TestBuildWithConfigDrive(t *testing.T) {
	for _, tt := range []struct {
		name     string
		writeErr error
		wantVM   string
	}{
		{name: "written", wantVM: vmActive},
		{name: "write fails", writeErr: errors.New("no space left on device"), wantVM: vmError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := *h.s.cfg.Load()
			cfg.Default.ForceConfigDrive = true
			h.s.cfg.Store(&cfg)
			h.neutron.active = true
			var written configdrive.Content
			h.s.lc.eng.writeConfigDrive = func(path string, c configdrive.Content) error {
				if tt.writeErr != nil {
					return tt.writeErr
				}
				written = c
				return os.WriteFile(path, []byte("CD001"), 0o600)
			}
			uuid := "44444444-0000-4000-8000-00000000090" + string(rune('0'+len(tt.name)%10))
			got := h.buildWithNetwork(t, uuid, false)
			if v := fieldString(got, "vm_state"); v != tt.wantVM {
				t.Fatalf("vm_state = %q, want %q (faults %q)", v, tt.wantVM, h.cond.faults[uuid])
			}
			path := filepath.Join(h.dir, uuid, configDriveFile)
			if tt.wantVM != vmActive {
				if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("instance directory left: %v", err)
				}
				if h.neutron.boundPorts() != 0 || len(h.plugger.taps()) != 0 {
					t.Errorf("left %d ports, taps %v", h.neutron.boundPorts(), h.plugger.taps())
				}
				return
			}
			if written.UUID != uuid || len(written.Network) != 1 || written.Network[0].ID != h.cachedInfo(t, uuid)[0].ID {
				t.Errorf("drive content = %+v", written)
			}
			if fieldString(got, "config_drive") != "True" {
				t.Errorf("config_drive = %q", fieldString(got, "config_drive"))
			}
			found := false
			for _, d := range h.drv.lastSpawn.Devices.Disks {
				if d.Source != nil && d.Source.File != nil && d.Source.File.File == path && d.Device == "cdrom" {
					found = true
				}
			}
			if !found {
				t.Errorf("the guest has no CD-ROM on %s", path)
			}
			args, _ := json.Marshal(map[string]any{"instance": h.cond.object(uuid), "bdms": nil})
			if _, err := h.s.terminateInstance(context.Background(), args); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("config drive left after delete: %v", err)
			}
		})
	}
}

// TestInitHostReplugsRunningGuests: at start, the taps of running guests are plugged again (a restarted switch
// may have lost their ports), as init_host's plug_vifs.
func TestInitHostReplugsRunningGuests(t *testing.T) {
	h := newHarness(t)
	uuid := "44444444-0000-4000-8000-000000000a00"
	h.neutron.active = true
	h.buildWithNetwork(t, uuid, false)
	h.plugger.mu.Lock()
	clear(h.plugger.plugged)
	h.plugger.mu.Unlock()
	rc := rpc.AdminContext()
	h.s.initInstance(context.Background(), &rc, h.cond.object(uuid))
	if taps := h.plugger.taps(); len(taps) != 1 || taps[0] != network.TapName(h.cachedInfo(t, uuid)[0].ID) {
		t.Errorf("taps after init_host = %v", taps)
	}
}

// TestAttachInterfaceNeutronFaults: Neutron's refusals of attach_interface reach the API as nova's exceptions,
// worded as nova's, with nothing left bound or plugged.
func TestAttachInterfaceNeutronFaults(t *testing.T) {
	const port = "dddddddd-0000-4000-8000-000000000001"
	for i, tt := range []struct {
		name      string
		netID     any
		portID    any
		err       error
		wantClass string
		wantMsg   string
	}{
		{"port in use", nil, port, &network.Error{Op: "bind", Port: port, Kind: network.ErrPortInUse}, "PortInUse",
			"Port " + port + " is still in use."},
		{"port not found", nil, port, &network.Error{Op: "show port", Port: port, Kind: network.ErrNotFound},
			"PortNotFound", "Port id " + port + " could not be found."},
		{"network not found", "net-9", nil, &network.Error{Op: "show network", Network: "net-9",
			Kind: network.ErrNotFound}, "NetworkNotFound", "Network net-9 could not be found."},
		{"binding failed", "net-1", nil, &network.Error{Op: "bind", Port: port, Kind: network.ErrBindingFailed},
			"PortBindingFailed", "Binding failed for port " + port + ", please check neutron logs for more information."},
		{"other failure", "net-1", nil, errors.New("boom"), "InterfaceAttachFailed", "Failed to attach network adapter"},
		{"bound as binding_failed", "net-1", nil, nil, "PortBindingFailed", "Binding failed for port "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.s.lc.eng.driver = &fakeHotDriver{fakeDriver: h.drv, nics: map[string]hypervisor.NIC{}}
			uuid := "44444444-0000-4000-8000-0000000007" + string(rune('0'+i/10)) + string(rune('0'+i%10))
			inst := h.build(t, uuid, false)
			h.neutron.allocErr = tt.err
			if tt.err == nil {
				h.neutron.vifType = "binding_failed"
			}
			args, _ := json.Marshal(attachArgs(inst, tt.netID, tt.portID))
			_, err := h.s.attachInterface(context.Background(), args)
			var re *rpc.RemoteError
			if !errors.As(err, &re) || re.Class != tt.wantClass || !strings.Contains(re.Message, tt.wantMsg) {
				t.Errorf("attach = %v, want %s %q", err, tt.wantClass, tt.wantMsg)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("attach error %v does not wrap Neutron's", err)
			}
			if h.neutron.boundPorts() != 0 || len(h.plugger.taps()) != 0 {
				t.Errorf("left %d ports bound, taps %v", h.neutron.boundPorts(), h.plugger.taps())
			}
		})
	}
}

// TestAllocateError: what Neutron answers decides between a reschedule (another host may bind the port or reach
// Neutron) and an abort (every host would get the same answer), as nova's build does.
func TestAllocateError(t *testing.T) {
	for _, tt := range []struct {
		err        error
		reschedule bool
	}{
		{network.ErrUnavailable, true},
		{network.ErrBindingFailed, true},
		{errors.New("something else"), true},
		{network.ErrPortInUse, false},
		{network.ErrPortBoundElsewhere, false},
		{network.ErrNotFound, false},
		{network.ErrNetworkAmbiguous, false},
		{network.ErrCannotAutoAllocate, false},
		{network.ErrInvalidInput, false},
	} {
		var be *buildError
		if !errors.As(allocateError(errors.Join(errors.New("port p"), tt.err), nil), &be) {
			t.Fatalf("allocateError(%v) is not a build error", tt.err)
		}
		if be.Reschedule != tt.reschedule || !errors.Is(be, tt.err) {
			t.Errorf("allocateError(%v): reschedule %v (wraps: %v), want %v", tt.err, be.Reschedule, errors.Is(be, tt.err), tt.reschedule)
		}
	}
}

// TestBuildAllocatesWhileTheDisksAreMade: as nova's _allocate_network_async, the ports are allocated while the
// image is fetched and the disks made — Neutron here answers only once the image has been asked for, which a build
// allocating first would never reach — and a build that fails before it used its ports still releases them as the
// cache says: the user's --port unbound (preserve_on_delete), never deleted.
func TestBuildAllocatesWhileTheDisksAreMade(t *testing.T) {
	const userPort = "cccccccc-1111-4000-8000-000000000001"
	for i, tt := range []struct {
		name     string
		fetchErr error
		wantVM   string
	}{
		{name: "image fetched during the allocation", wantVM: vmActive},
		{name: "image failing after the allocation", fetchErr: images.ErrNotFound, wantVM: vmError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := *h.s.cfg.Load()
			cfg.Default.VIFPluggingTimeout = 0
			h.s.cfg.Store(&cfg)
			h.fetchErr = tt.fetchErr
			gate := make(chan struct{})
			h.neutron.allocGate = gate
			var once sync.Once
			var timedOut atomic.Bool
			release := time.AfterFunc(20*time.Second, func() { timedOut.Store(true); once.Do(func() { close(gate) }) })
			defer release.Stop()
			fetch := h.s.lc.eng.fetch
			h.s.lc.eng.fetch = func(ctx context.Context, rc *rpc.RequestContext, id string) (string, error) {
				once.Do(func() { close(gate) })
				return fetch(ctx, rc, id)
			}
			uuid := fmt.Sprintf("45454545-0000-4000-8000-%012d", i)
			inst := instanceFromWire(t, uuid)
			h.cond.put(inst)
			req := vo.New("NetworkRequest", "1.3")
			req.SetNull("network_id")
			req.SetString("port_id", userPort)
			h.runBuild(t, context.Background(), buildMessageWithRequests(t, inst, false, []*vo.Object{req}))

			if timedOut.Load() {
				t.Fatal("the image was not fetched while the ports were being allocated")
			}
			got := h.cond.object(uuid)
			if v := fieldString(got, "vm_state"); v != tt.wantVM {
				t.Fatalf("vm_state = %q, want %q (faults %q)", v, tt.wantVM, h.cond.faults[uuid])
			}
			if tt.wantVM == vmActive {
				if info := h.cachedInfo(t, uuid); len(info) != 1 || info[0].ID != userPort {
					t.Errorf("info cache %+v, want the user's port", info)
				}
				if ifs := h.drv.lastSpawn.Devices.Interfaces; len(ifs) != 1 || ifs[0].Target.Dev != network.TapName(userPort) {
					t.Errorf("guest interfaces %+v, want one on the user's port's tap", ifs)
				}
				return
			}
			h.neutron.mu.Lock()
			deallocated := h.neutron.deallocated
			h.neutron.mu.Unlock()
			if len(deallocated) != 1 || len(deallocated[0]) != 1 || !deallocated[0][0].PreserveOnDelete {
				t.Errorf("Deallocate given %+v, want the user's port marked preserve_on_delete", deallocated)
			}
			if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("instance directory left after a failed build: %v", err)
			}
		})
	}
}

// TestBuildStartsTheGuestPausedWhileWaiting: with an engine that can start a guest paused, the guest's process is
// started (paused) before Neutron's network-vif-plugged arrives — Neutron here only answers once it has been — and
// runs once the event is in; a failed event leaves neither guest nor tap.
func TestBuildStartsTheGuestPausedWhileWaiting(t *testing.T) {
	for i, tt := range []struct {
		send      string
		wantVM    string
		wantState hypervisor.PowerState
		wantTaps  int
	}{
		{send: "completed", wantVM: vmActive, wantState: hypervisor.Running, wantTaps: 1},
		{send: "failed", wantVM: vmError, wantTaps: 0},
	} {
		t.Run(tt.send, func(t *testing.T) {
			h := newHarness(t)
			cfg := *h.s.cfg.Load()
			cfg.Default.VIFPluggingTimeout, cfg.Default.VIFPluggingIsFatal = 5, true
			h.s.cfg.Store(&cfg)
			h.drv.startPaused = true
			uuid := fmt.Sprintf("46464646-0000-4000-8000-%012d", i)
			var waitingAtSpawn atomic.Bool
			h.drv.onSpawn = func(hypervisor.Guest) {
				h.s.lc.net.events.mu.Lock()
				waitingAtSpawn.Store(len(h.s.lc.net.events.waiters[uuid]) == 1)
				h.s.lc.net.events.mu.Unlock()
				info := h.cachedInfo(t, uuid)
				go h.sendEvent(t, uuid, "network-vif-plugged", info[0].ID, tt.send)
			}
			got := h.buildWithNetwork(t, uuid, false)
			if v := fieldString(got, "vm_state"); v != tt.wantVM {
				t.Fatalf("vm_state = %q, want %q (faults %q)", v, tt.wantVM, h.cond.faults[uuid])
			}
			if !waitingAtSpawn.Load() {
				t.Error("the guest was started after the wait for network-vif-plugged, not during it")
			}
			h.drv.mu.Lock()
			st, exists := h.drv.state[instanceName(got)]
			h.drv.mu.Unlock()
			if tt.wantVM == vmActive && (!exists || st != tt.wantState) {
				t.Errorf("guest state %v (exists %v), want %v", st, exists, tt.wantState)
			}
			if tt.wantVM != vmActive && exists {
				t.Errorf("guest of the failed build still exists (%v)", st)
			}
			if taps := h.plugger.taps(); len(taps) != tt.wantTaps {
				t.Errorf("taps %v, want %d", taps, tt.wantTaps)
			}
		})
	}
}
