package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

func TestNICHotplugCapability(t *testing.T) {
	d := tcgDriver(t)
	if !d.Capabilities().NICHotplug {
		t.Fatal("Capabilities().NICHotplug is false")
	}
	if _, err := hypervisor.AsNICHotplugger(d); err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		t.Fatal(err)
	}
	if uid, err := d.TapOwner(); err != nil || fmt.Sprint(uid) != u.Uid {
		t.Fatalf("TapOwner = %d, %v; want %s's uid %s", uid, err, testUser, u.Uid)
	}
}

// ports returns the pcie-root-port indexes of dom and, per interface MAC,
// the bus its address names (-1: no address).
func ports(dom *libvirtxml.Domain) ([]uint, map[string]int) {
	var p []uint
	for _, c := range dom.Devices.Controllers {
		if c.Type == "pci" && c.Model == "pcie-root-port" {
			p = append(p, *c.Index)
		}
	}
	at := map[string]int{}
	for _, n := range dom.Devices.Interfaces {
		at[n.MAC.Address] = -1
		if n.Address != nil && n.Address.PCI != nil {
			at[n.MAC.Address] = int(*n.Address.PCI.Bus)
		}
	}
	return p, at
}

func TestPlaceNICs(t *testing.T) {
	nics := func(n int) []hypervisor.NIC {
		var out []hypervisor.NIC
		for i := range n {
			out = append(out, hypervisor.NIC{MAC: fmt.Sprintf("fa:16:3e:00:00:%02x", i), Tap: fmt.Sprintf("tap%d", i)})
		}
		return out
	}
	tests := []struct {
		name      string
		machine   string
		nics      int
		wantPorts int
	}{
		{"q35 without NICs keeps spare ports", "q35", 0, hotplugPorts},
		{"q35 one port per NIC plus spares", "q35", 3, 3 + hotplugPorts},
		{"versioned q35", "pc-q35-7.2", 1, 1 + hotplugPorts},
		{"i440fx has no root ports", "pc", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec("/i")
			spec.NICs = nics(tt.nics)
			dom, err := domain.Build(spec, domain.Props{Image: map[string]string{"hw_machine_type": tt.machine}}, DomainOptions(DefaultConfig(), AccelTCG))
			if err != nil {
				t.Fatal(err)
			}
			placed := placedCopy(dom, tt.machine)
			if len(dom.Devices.Controllers) != 0 || (tt.nics > 0 && dom.Devices.Interfaces[0].Address != nil) {
				t.Fatal("placedCopy changed the domain it was given")
			}
			p, at := ports(placed)
			if len(p) != tt.wantPorts {
				t.Fatalf("%d root ports, want %d", len(p), tt.wantPorts)
			}
			seen := map[int]bool{}
			for mac, bus := range at {
				if tt.machine == "pc" {
					if bus != -1 {
						t.Errorf("%s placed on bus %d on i440fx", mac, bus)
					}
					continue
				}
				if bus < 1 || seen[bus] {
					t.Errorf("%s on bus %d: want a root port of its own", mac, bus)
				}
				seen[bus] = true
			}
			// Placing again changes nothing: the layout is stable across
			// starts.
			again := placedCopy(placed, tt.machine)
			a, _ := again.Marshal()
			b, _ := placed.Marshal()
			if a != b {
				t.Fatalf("placing a placed domain changed it:\n%s\n%s", b, a)
			}
			if _, err := BuildArgv(placed, DefaultConfig(), AccelTCG, runtimeFor(placed, DefaultConfig())); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestArgvNICRefusals(t *testing.T) {
	idx := func(n uint) *uint { return &n }
	addr := func(bus, slot uint) *libvirtxml.DomainAddress {
		return &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Bus: idx(bus), Slot: idx(slot)}}
	}
	port := libvirtxml.DomainController{Type: "pci", Model: "pcie-root-port", Index: idx(1)}
	tests := []struct {
		name    string
		machine string
		ctrls   []libvirtxml.DomainController
		ifs     []libvirtxml.DomainInterface
		prop    string
	}{
		{"pcnet", "q35", nil, []libvirtxml.DomainInterface{{Model: &libvirtxml.DomainInterfaceModel{Type: "pcnet"}}}, "hw_vif_model"},
		{"tap with slash", "q35", nil, []libvirtxml.DomainInterface{{Target: &libvirtxml.DomainInterfaceTarget{Dev: "tap/../x"}}}, "target/@dev"},
		{"tap too long", "q35", nil, []libvirtxml.DomainInterface{{Target: &libvirtxml.DomainInterfaceTarget{Dev: "tap0123456789abc"}}}, "target/@dev"},
		{"tap with comma", "q35", nil, []libvirtxml.DomainInterface{{Target: &libvirtxml.DomainInterfaceTarget{Dev: "tap0,script=/x"}}}, "target/@dev"},
		{"tap option", "q35", nil, []libvirtxml.DomainInterface{{Target: &libvirtxml.DomainInterfaceTarget{Dev: "-tap0"}}}, "target/@dev"},
		{"mtu too small", "q35", nil, []libvirtxml.DomainInterface{{MTU: &libvirtxml.DomainInterfaceMTU{Size: 10}}}, "mtu"},
		{"unknown port", "q35", nil, []libvirtxml.DomainInterface{{Address: addr(3, 0)}}, "address"},
		{"slot 0 on root bus", "pc", nil, []libvirtxml.DomainInterface{{Address: addr(0, 0)}}, "address"},
		{"two NICs on one port", "q35", []libvirtxml.DomainController{port}, []libvirtxml.DomainInterface{{Address: addr(1, 0)}, {Address: addr(1, 0)}}, "address"},
		{"root port on i440fx", "pc", []libvirtxml.DomainController{port}, nil, "controller"},
		{"port index 0", "q35", []libvirtxml.DomainController{{Type: "pci", Model: "pcie-root-port", Index: idx(0)}}, nil, "@index"},
		{"port index twice", "q35", []libvirtxml.DomainController{port, port}, nil, "@index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dom := &libvirtxml.Domain{Name: "x", Memory: &libvirtxml.DomainMemory{Value: 1024},
				OS:      &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Machine: tt.machine}},
				Devices: &libvirtxml.DomainDeviceList{Controllers: tt.ctrls, Interfaces: tt.ifs}}
			_, err := BuildArgv(dom, DefaultConfig(), AccelTCG, Runtime{QMPSocket: "/i/q", PIDFile: "/i/p"})
			var pe *hypervisor.PropertyError
			if !errors.As(err, &pe) || !strings.Contains(pe.Property, tt.prop) {
				t.Fatalf("err = %v, want a PropertyError naming %s", err, tt.prop)
			}
		})
	}
}

// TestNICHotplugShutdownGuest: a guest that is not running only has its
// domain file changed, as Nova's libvirt driver changes only the
// persistent definition of a stopped instance; bad input changes nothing.
func TestNICHotplugShutdownGuest(t *testing.T) {
	ctx := context.Background()
	d := tcgDriver(t)
	dir := t.TempDir()
	g := hypervisor.Guest{UUID: "6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c02", Name: "instance-00000002", Dir: dir}
	spec := hypervisor.Spec{UUID: g.UUID, Name: g.Name, Dir: dir, VCPUs: 1, MemoryMB: 128,
		NICs: []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "tap0"}}}
	dom, err := domain.Build(spec, domain.Props{}, DomainOptions(d.cfg, AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	if err := hypervisor.SaveDomain(dir, placedCopy(dom, Machine(dom, d.cfg))); err != nil {
		t.Fatal(err)
	}
	load := func() *libvirtxml.Domain {
		t.Helper()
		dom, err := hypervisor.LoadDomain(dir)
		if err != nil {
			t.Fatal(err)
		}
		return dom
	}
	before, _ := load().Marshal()
	for _, tc := range []struct {
		nic  hypervisor.NIC
		want error
	}{
		{hypervisor.NIC{MAC: "fa:16:3e:00:00:01", Tap: "tap9"}, hypervisor.ErrInvalidProperty}, // MAC already there
		{hypervisor.NIC{MAC: "fa:16:3e:00:00:02", Tap: "tap9", Model: "pcnet"}, hypervisor.ErrInvalidProperty},
		{hypervisor.NIC{MAC: "not-a-mac", Tap: "tap9"}, hypervisor.ErrInvalidProperty},
		{hypervisor.NIC{MAC: "fa:16:3e:00:00:02", Tap: "tap,script=/bin/sh"}, hypervisor.ErrInvalidProperty},
	} {
		if err := d.AttachNIC(ctx, g, tc.nic); !errors.Is(err, tc.want) {
			t.Errorf("attach %+v: %v, want %v", tc.nic, err, tc.want)
		}
	}
	if after, _ := load().Marshal(); after != before {
		t.Fatalf("refused attaches changed the domain:\n%s", after)
	}
	if err := d.AttachNIC(ctx, g, hypervisor.NIC{MAC: "FA:16:3E:00:00:02", Tap: "tap1", Model: "e1000"}); err != nil {
		t.Fatal(err)
	}
	p, at := ports(load())
	if len(p) != 1+hotplugPorts || at["fa:16:3e:00:00:02"] < 1 || at["fa:16:3e:00:00:02"] == at["fa:16:3e:00:00:01"] {
		t.Fatalf("after attach: ports %v, interfaces at %v", p, at)
	}
	if err := d.DetachNIC(ctx, g, hypervisor.NIC{MAC: "fa:16:3e:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	if err := d.DetachNIC(ctx, g, hypervisor.NIC{MAC: "fa:16:3e:00:00:01"}); err != nil {
		t.Fatalf("detaching an absent NIC: %v", err)
	}
	if _, at := ports(load()); len(at) != 1 || at["fa:16:3e:00:00:02"] < 1 {
		t.Fatalf("after detach: interfaces at %v", at)
	}
	if err := d.DetachNIC(ctx, g, hypervisor.NIC{MAC: "bogus"}); !errors.Is(err, hypervisor.ErrInvalidProperty) {
		t.Fatalf("detach with a bad MAC: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// makeTap creates a persistent tap owned by QEMU's user, as the network
// layer does, and removes it when the test ends.
func makeTap(t *testing.T, name, owner string) {
	t.Helper()
	exec.Command("ip", "link", "del", name).Run()
	if out, err := exec.Command("ip", "tuntap", "add", "mode", "tap", "user", owner, "name", name).CombinedOutput(); err != nil {
		t.Fatalf("ip tuntap add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
}

// liveNICs returns, from QEMU itself, the ids of the devices with a MAC
// and the text of `info network`.
func liveNICs(t *testing.T, mon *Monitor) (map[string]string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var info string
	if err := mon.Execute(ctx, "human-monitor-command", map[string]string{"command-line": "info network"}, &info); err != nil {
		t.Fatal(err)
	}
	var children []struct{ Name, Type string }
	if err := mon.Execute(ctx, "qom-list", map[string]string{"path": "/machine/peripheral"}, &children); err != nil {
		t.Fatal(err)
	}
	macs := map[string]string{}
	for _, c := range children {
		var m string
		if mon.Execute(ctx, "qom-get", map[string]string{"path": "/machine/peripheral/" + c.Name, "property": "mac"}, &m) == nil {
			macs[m] = c.Name
		}
	}
	return macs, info
}

// pciIDs returns the qdev ids of every device query-pci lists, behind
// bridges too: what the guest enumerated.
func pciIDs(t *testing.T, mon *Monitor) map[string]bool {
	t.Helper()
	var raw json.RawMessage
	if err := mon.Execute(context.Background(), "query-pci", nil, &raw); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if id, ok := x["qdev_id"].(string); ok && id != "" {
				ids[id] = true
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	json.Unmarshal(raw, &v)
	walk(v)
	return ids
}

// TestNICHotplugLive boots the tiny guest with one NIC on a real tap, as
// deployed (unprivileged, sandboxed QEMU), hot-attaches a second NIC on a
// tap QEMU must open after it dropped root, checks QEMU and the domain file
// have it, detaches it (the guest must release it: DEVICE_DELETED) and
// checks it is gone from both, then detaches the NIC the guest booted with.
func TestNICHotplugLive(t *testing.T) {
	// q35 puts each NIC on a PCI Express root port; i440fx on its root bus.
	for i, machine := range []string{"q35", "pc"} {
		t.Run(machine, func(t *testing.T) { testNICHotplugLive(t, machine, i) })
	}
}

func testNICHotplugLive(t *testing.T, machine string, n int) {
	needQEMU(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("creating taps and dropping QEMU to another user need root")
		}
		t.Skip("creating taps and dropping QEMU to another user need root")
	}
	if _, err := user.Lookup(testUser); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := tcgDriver(t)
	suffix := fmt.Sprintf("%05d", os.Getpid()%100000)
	tapA, tapB := fmt.Sprintf("tnb%dA%s", n, suffix), fmt.Sprintf("tnb%dB%s", n, suffix)
	makeTap(t, tapA, testUser)
	makeTap(t, tapB, testUser)

	dir := guestDir(t)
	disk := tinyImage(t, dir, "raw")
	g := hypervisor.Guest{UUID: fmt.Sprintf("6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c1%d", n), Name: fmt.Sprintf("instance-0000001%d", n), Dir: dir}
	macA, macB := "fa:16:3e:4e:00:0a", "fa:16:3e:4e:00:0b"
	spec := hypervisor.Spec{UUID: g.UUID, Name: g.Name, Dir: dir, VCPUs: 1, MemoryMB: 256,
		Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: disk, Format: "raw"}},
		NICs:  []hypervisor.NIC{{MAC: macA, Tap: tapA, MTU: 1442}}}
	dom, err := domain.Build(spec, domain.Props{Image: map[string]string{"hw_machine_type": machine}}, DomainOptions(d.cfg, AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Destroy(context.Background(), g) })
	// On a root port (q35) or a high slot of the root bus (i440fx): the
	// address the domain file records for a NIC.
	placed := func(at map[string]int, mac string) bool {
		if machine == "pc" {
			return at[mac] == -1 || at[mac] == 0
		}
		return at[mac] >= 1
	}
	if err := d.Spawn(ctx, g, dom); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, d, g, marker, 1, 3*time.Minute)
	v := d.get(ctx, g)
	if v == nil {
		t.Fatal("no process for the running guest")
	}
	domFile := func() map[string]int {
		t.Helper()
		dom, err := hypervisor.LoadDomain(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, at := ports(dom)
		return at
	}
	if at := domFile(); len(at) != 1 || !placed(at, macA) {
		t.Fatalf("spawned domain file: interfaces at %v", at)
	}
	// The guest kernel logs each network card it finds on its PCI bus.
	const found = "class 0x020000"

	h, err := hypervisor.AsNICHotplugger(d)
	if err != nil {
		t.Fatal(err)
	}
	// A tap QEMU's user may not open (root's) fails in netdev_add, and
	// nothing is left: no netdev, the domain file as it was.
	tapRoot := fmt.Sprintf("tnb%dR%s", n, suffix)
	makeTap(t, tapRoot, "root")
	before := must(os.ReadFile(dir + "/" + hypervisor.DomainFile))
	if err := h.AttachNIC(ctx, g, hypervisor.NIC{MAC: macB, Tap: tapRoot}); err == nil || !strings.Contains(err.Error(), tapRoot) {
		t.Fatalf("attach on root's tap: %v, want an error naming %s", err, tapRoot)
	}
	if after := must(os.ReadFile(dir + "/" + hypervisor.DomainFile)); string(after) != string(before) {
		t.Fatalf("failed attach changed the domain file:\n%s", after)
	}
	if _, info := liveNICs(t, v.mon); strings.Contains(info, tapRoot) {
		t.Fatalf("failed attach left a netdev:\n%s", info)
	}
	if machine == "q35" {
		// A device_add QEMU refuses (the root port the domain file calls
		// free holds a device put there behind the driver's back) takes
		// the netdev away again and leaves the domain file as it was.
		blocker := "fa:16:3e:ff:ff:fe"
		if err := v.mon.Execute(ctx, "device_add", map[string]any{"driver": "e1000", "id": "blocker", "bus": "pci.2", "addr": "0x0", "mac": blocker}, nil); err != nil {
			t.Fatal(err)
		}
		if err := h.AttachNIC(ctx, g, hypervisor.NIC{MAC: macB, Tap: tapB}); err == nil {
			t.Fatal("attach onto an occupied root port succeeded")
		}
		if after := must(os.ReadFile(dir + "/" + hypervisor.DomainFile)); string(after) != string(before) {
			t.Fatalf("failed device_add changed the domain file:\n%s", after)
		}
		if _, info := liveNICs(t, v.mon); strings.Contains(info, tapB) {
			t.Fatalf("failed device_add left its netdev:\n%s", info)
		}
		if err := unplugNIC(ctx, v.mon, blocker); err != nil {
			t.Fatal(err)
		}
	}
	cards := strings.Count(string(must(d.ConsoleOutput(ctx, g, 0))), found)
	if err := h.AttachNIC(ctx, g, hypervisor.NIC{MAC: macB, Tap: tapB, MTU: 1442}); err != nil {
		t.Fatalf("attach: %v%s", err, stderrTail(dir))
	}
	devB, _ := hotplugIDs(macB)
	macs, info := liveNICs(t, v.mon)
	if macs[macB] != devB || !strings.Contains(info, tapB) {
		t.Fatalf("after attach QEMU has NICs %v and info network:\n%s", macs, info)
	}
	if at := domFile(); len(at) != 2 || !placed(at, macB) || (machine == "q35" && at[macB] == at[macA]) {
		t.Fatalf("after attach the domain file has interfaces at %v", at)
	}
	// The guest finds the new card (ACPI hot-plug) and QEMU lists it.
	waitConsole(t, d, g, found, cards+1, time.Minute)
	if !pciIDs(t, v.mon)[devB] {
		t.Fatalf("query-pci does not list %s", devB)
	}
	if err := h.AttachNIC(ctx, g, hypervisor.NIC{MAC: macB, Tap: tapB}); !errors.Is(err, hypervisor.ErrInvalidProperty) {
		t.Fatalf("second attach of %s: %v, want ErrInvalidProperty", macB, err)
	}
	// A resume starts QEMU again from the domain file with the saved
	// state: the recorded addresses must rebuild the layout the state was
	// saved from, hot-plugged NIC included, or QEMU refuses the state.
	if err := d.Suspend(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := d.Resume(ctx, g); err != nil {
		t.Fatalf("resume with the hot-plugged NIC: %v%s", err, stderrTail(dir))
	}
	wantState(t, d, g, hypervisor.Running)
	if v = d.get(ctx, g); v == nil {
		t.Fatal("no process after resume")
	}
	if macs, info = liveNICs(t, v.mon); macs[macA] == "" || macs[macB] == "" || !strings.Contains(info, tapB) {
		t.Fatalf("after resume QEMU has NICs %v and info network:\n%s", macs, info)
	}

	if err := h.DetachNIC(ctx, g, hypervisor.NIC{MAC: macB}); err != nil {
		t.Fatal(err)
	}
	macs, info = liveNICs(t, v.mon)
	if _, ok := macs[macB]; ok || strings.Contains(info, tapB) || pciIDs(t, v.mon)[devB] {
		t.Fatalf("after detach QEMU still has %s: NICs %v, info network:\n%s", macB, macs, info)
	}
	if at := domFile(); len(at) != 1 || !placed(at, macA) {
		t.Fatalf("after detach the domain file has interfaces at %v", at)
	}
	// The NIC the guest booted with sits on a root port too, so it can go.
	if err := h.DetachNIC(ctx, g, hypervisor.NIC{MAC: macA}); err != nil {
		t.Fatal(err)
	}
	if macs, info = liveNICs(t, v.mon); len(macs) != 0 || strings.Contains(info, tapA) {
		t.Fatalf("after detaching the boot NIC QEMU has NICs %v, info network:\n%s", macs, info)
	}
	if at := domFile(); len(at) != 0 {
		t.Fatalf("domain file keeps interfaces %v", at)
	}
	wantState(t, d, g, hypervisor.Running)
}

// TestPowerOnPlacesLegacyDomain: a domain saved before NICs were placed
// (no root ports) gets them at its next fresh start, and the domain file
// says so, so NICs can then be hot-plugged.
func TestPowerOnPlacesLegacyDomain(t *testing.T) {
	needQEMU(t)
	h := newFakeHost(t, AccelTCG, fakeKVMOK)
	g, dom := h.guest(t, 7)
	dom.Devices.Interfaces = []libvirtxml.DomainInterface{{MAC: &libvirtxml.DomainInterfaceMAC{Address: "fa:16:3e:00:00:07"},
		Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}}}} // no tap: unplugged, as QEMU allows
	if err := hypervisor.SaveDomain(g.Dir, dom); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.d.PowerOn(ctx, g); err != nil {
		t.Fatal(err)
	}
	saved, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		t.Fatal(err)
	}
	p, at := ports(saved)
	if len(p) != 1+hotplugPorts || at["fa:16:3e:00:00:07"] < 1 {
		t.Fatalf("after power on: ports %v, interfaces at %v", p, at)
	}
	runs := h.runs(t)
	if last := strings.Join(runs[len(runs)-1], " "); !strings.Contains(last, "-device pcie-root-port,id=pci.1,bus=pcie.0,chassis=1") ||
		!strings.Contains(last, "bus=pci.1,addr=0x0") {
		t.Fatalf("QEMU ran without the recorded layout: %s", last)
	}
}

// novaVIFModels is every hw_vif_model Nova knows (nova.objects.fields.VIFModel).
var novaVIFModels = []string{"virtio", "ne2k_pci", "pcnet", "rtl8139", "e1000", "e1000e", "netfront", "spapr-vlan",
	"lan9118", "vmxnet", "vmxnet3", "igb"}

// TestVIFModelsAsListed: Capabilities().Values.VIFModel is exactly what the
// driver runs: each listed model reaches the command line as its QEMU
// device, every other one is refused naming hw_vif_model.
func TestVIFModelsAsListed(t *testing.T) {
	listed := tcgDriver(t).Capabilities().Values.VIFModel
	for _, m := range novaVIFModels {
		t.Run(m, func(t *testing.T) {
			spec := baseSpec("/i")
			spec.NICs = []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "tap0"}}
			dom, err := domain.Build(spec, domain.Props{Image: map[string]string{"hw_vif_model": m}}, DomainOptions(DefaultConfig(), AccelTCG))
			if err == nil {
				_, err = BuildArgv(placedCopy(dom, "q35"), DefaultConfig(), AccelTCG, runtimeFor(dom, DefaultConfig()))
			}
			var pe *hypervisor.PropertyError
			switch {
			case slices.Contains(listed, m) && err != nil:
				t.Fatalf("listed model refused: %v", err)
			case !slices.Contains(listed, m) && (!errors.As(err, &pe) || pe.Property != "hw_vif_model"):
				t.Fatalf("unlisted model: %v, want a PropertyError naming hw_vif_model", err)
			}
		})
	}
	for m := range nicDevice {
		if !slices.Contains(listed, m) {
			t.Errorf("QEMU device for %s not listed in VIFModel %v", m, listed)
		}
	}
}
