package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"libvirt.org/go/libvirtxml"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/network/plug"
)

// guestInterfaces are the MACs of the interfaces in the guest's domain file.
func (h *harness) guestInterfaces(t *testing.T, uuid string) []string {
	t.Helper()
	g, err := h.s.guestOf(h.cond.object(uuid))
	if err != nil {
		t.Fatal(err)
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var macs []string
	for _, i := range dom.Devices.Interfaces {
		macs = append(macs, i.MAC.Address)
	}
	return macs
}

// TestVIFDeletedKeepsStateConsistent: when Neutron deletes a port, the info cache drops it in every case; an
// engine with NIC hot-plug detaches the NIC and unplugs its tap (libvirt's behaviour); an engine without it (bhyve)
// drops the NIC from a stopped guest's domain and unplugs the tap, while a running guest keeps both, and the tap
// goes when the server is deleted. The server never leaves ACTIVE and gets no fault.
func TestVIFDeletedKeepsStateConsistent(t *testing.T) {
	for i, tt := range []struct {
		name      string
		hot       bool
		stopped   bool
		wantNICs  int // interfaces left in the domain file
		wantTaps  int // taps left plugged
		wantHotNC int // NICs left in the hot-plug engine's guest
		// thenRestart stops the guest and starts it again after the event: it starts with the cache's NICs.
		thenRestart bool
		ports       int // the server's ports (1 when 0); the first is deleted
	}{
		{name: "no hot-plug, running, then stopped and started: the NIC goes at the start", thenRestart: true,
			ports: 2, wantNICs: 1, wantTaps: 1},
		{name: "no hot-plug, last port: an empty cache drops nothing at the start", thenRestart: true,
			wantNICs: 1, wantTaps: 1},
		{name: "hot-plug engine, running", hot: true, wantNICs: 1, wantTaps: 0, wantHotNC: 0},
		{name: "no hot-plug, running: guest keeps the NIC", wantNICs: 1, wantTaps: 1},
		{name: "no hot-plug, stopped: NIC leaves the domain", stopped: true, wantNICs: 0, wantTaps: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var hot *fakeHotDriver
			if tt.hot {
				hot = &fakeHotDriver{fakeDriver: h.drv, nics: map[string]hypervisor.NIC{}}
				h.s.lc.eng.driver = hot
			}
			uuid := "66666666-0000-4000-8000-00000000000" + string(rune('0'+i))
			h.neutron.active = true
			h.buildWithPorts(t, uuid, false, max(1, tt.ports))
			vif := h.cachedInfo(t, uuid)[0]
			if hot != nil {
				hot.nics[vif.Address] = hypervisor.NIC{MAC: vif.Address, Tap: network.TapName(vif.ID)}
			}
			g, _ := h.s.guestOf(h.cond.object(uuid))
			if tt.stopped {
				h.drv.set(g.Name, hypervisor.Shutdown)
			}
			h.sendEvent(t, uuid, "network-vif-deleted", vif.ID, "completed")
			if tt.thenRestart {
				h.drv.set(g.Name, hypervisor.Shutdown)
				inst := h.cond.object(uuid)
				_ = inst.Set("task_state", taskPoweringOn)
				_ = inst.Set("vm_state", vmStopped)
				inst.ResetChanges()
				h.cond.put(inst)
				args, _ := json.Marshal(map[string]any{"instance": inst})
				if _, err := h.s.startInstance(context.Background(), args); err != nil {
					t.Fatal(err)
				}
			}

			if info := h.cachedInfo(t, uuid); len(info) != max(1, tt.ports)-1 || slices.ContainsFunc(info,
				func(v network.VIF) bool { return v.ID == vif.ID }) {
				t.Errorf("info cache = %+v, want it without %s", info, vif.ID)
			}
			if tt.ports > 1 && slices.Contains(h.plugger.taps(), network.TapName(vif.ID)) {
				t.Errorf("the deleted port's tap %s is still plugged", network.TapName(vif.ID))
			}
			// The fake hot-plug engine leaves the domain file to the test: only its NIC list tells.
			if n := len(h.guestInterfaces(t, uuid)); n != tt.wantNICs {
				t.Errorf("domain interfaces = %d, want %d", n, tt.wantNICs)
			}
			if taps := h.plugger.taps(); len(taps) != tt.wantTaps {
				t.Errorf("taps = %v, want %d", taps, tt.wantTaps)
			}
			if hot != nil && len(hot.nics) != tt.wantHotNC {
				t.Errorf("guest NICs = %v, want %d", hot.nics, tt.wantHotNC)
			}
			if vm := fieldString(h.cond.object(uuid), "vm_state"); vm != vmActive || len(h.cond.faults[uuid]) != 0 {
				t.Errorf("vm_state %s, faults %q: want active and none", vm, h.cond.faults[uuid])
			}
			// Deleting the server leaves no tap, the kept one included.
			if err := h.deleteServer(uuid); err != nil {
				t.Fatal(err)
			}
			if taps := h.plugger.taps(); len(taps) != 0 {
				t.Errorf("taps after delete = %v", taps)
			}
		})
	}
}

// TestOrphanTapsUnplugged: at start, the guest of an instance deleted while the service was down is destroyed and
// the taps its domain file lists are unplugged, each as what it was attached to; an interface that is not one of
// this service's taps is left alone.
func TestOrphanTapsUnplugged(t *testing.T) {
	h := newHarness(t)
	gone := "77777777-0000-4000-8000-0000000000a1"
	inst := instanceFromWire(t, gone)
	h.cond.put(inst)
	h.cond.deleted[gone] = true
	dir := filepath.Join(h.dir, gone)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ovsTap, brTap := network.TapName("aaaaaaaa-1111"), network.TapName("bbbbbbbb-2222")
	dom := &libvirtxml.Domain{Type: "kvm", Name: "instance-000000a1", Devices: &libvirtxml.DomainDeviceList{
		Interfaces: []libvirtxml.DomainInterface{
			{Target: &libvirtxml.DomainInterfaceTarget{Dev: ovsTap},
				Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}}},
			{Target: &libvirtxml.DomainInterfaceTarget{Dev: brTap},
				Source: &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: "brq1234"}}},
			{Target: &libvirtxml.DomainInterfaceTarget{Dev: "eth0"},
				Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}}},
		}}}
	if err := hypervisor.SaveDomain(dir, dom); err != nil {
		t.Fatal(err)
	}
	if _, err := hypervisor.LoadDomain(dir); err != nil {
		t.Fatal(err)
	}
	h.plugger.plugged[ovsTap] = plug.Port{Tap: ovsTap, Kind: plug.KindOVS}
	h.plugger.plugged[brTap] = plug.Port{Tap: brTap, Kind: plug.KindBridge}
	if err := h.s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []plug.Port{{Kind: plug.KindOVS, Tap: ovsTap}, {Kind: plug.KindBridge, Tap: brTap, Bridge: "brq1234"}}
	if !slices.Equal(h.plugger.unplugged, want) {
		t.Errorf("unplugged %+v, want %+v", h.plugger.unplugged, want)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan directory left: %v", err)
	}
}

// TestDetachInterfaceWithoutHotplug: an engine without NIC hot-plug detaches a port from a stopped guest (its
// domain loses the NIC, the tap is unplugged, the port released, the cache saved without it) and refuses it for a
// running guest with NotImplementedError, changing nothing.
func TestDetachInterfaceWithoutHotplug(t *testing.T) {
	for i, tt := range []struct {
		name      string
		stopped   bool
		wantClass string // "" for success
	}{
		{name: "stopped", stopped: true},
		{name: "running", wantClass: "NotImplementedError"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			uuid := "66666666-0000-4000-8000-0000000001" + string(rune('0'+i/10)) + string(rune('0'+i%10))
			h.neutron.active = true
			h.buildWithNetwork(t, uuid, false)
			vif := h.cachedInfo(t, uuid)[0]
			if tt.stopped {
				g, _ := h.s.guestOf(h.cond.object(uuid))
				h.drv.set(g.Name, hypervisor.Shutdown)
			}
			args, _ := json.Marshal(map[string]any{"instance": h.cond.object(uuid), "port_id": vif.ID})
			_, err := h.s.detachInterface(context.Background(), args)
			if tt.wantClass == "" && err != nil || tt.wantClass != "" && !isRemote(err, tt.wantClass) {
				t.Fatalf("detach = %v, want %q", err, tt.wantClass)
			}
			want := 1 // NICs, taps, bound ports and cached VIFs left
			if tt.wantClass == "" {
				want = 0
			}
			if n := len(h.guestInterfaces(t, uuid)); n != want {
				t.Errorf("domain interfaces = %d, want %d", n, want)
			}
			if taps := h.plugger.taps(); len(taps) != want {
				t.Errorf("taps = %v, want %d", taps, want)
			}
			if n := h.neutron.boundPorts(); n != want {
				t.Errorf("%d ports bound, want %d", n, want)
			}
			if info := h.cachedInfo(t, uuid); len(info) != want {
				t.Errorf("info cache = %+v, want %d", info, want)
			}
		})
	}
}
