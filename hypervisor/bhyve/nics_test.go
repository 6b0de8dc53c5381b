package bhyve

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
)

// TestNoNICHotplug: bhyve cannot add or remove a device of a running guest,
// so the driver says so and AsNICHotplugger answers with the typed error
// compute/ turns into Nova's NotImplementedError fault.
func TestNoNICHotplug(t *testing.T) {
	d := New(amd64Config())
	if d.Capabilities().NICHotplug {
		t.Fatal("Capabilities().NICHotplug is true")
	}
	h, err := hypervisor.AsNICHotplugger(d)
	var ue *hypervisor.UnsupportedError
	if h != nil || !errors.As(err, &ue) || !errors.Is(err, hypervisor.ErrUnsupported) || ue.Driver != "bhyve" {
		t.Fatalf("AsNICHotplugger = %v, %v; want an *UnsupportedError for bhyve", h, err)
	}
	if !strings.Contains(err.Error(), "hot-plug") {
		t.Fatalf("error %q does not say what is unsupported", err)
	}
}

// TestSpawnNovaTaps runs a guest with Nova's tap names on the stand-in:
// bhyve is given each NIC on its tap with the port's MAC, virtio-net with
// the network's MTU, e1000 without (it has no such option).
func TestSpawnNovaTaps(t *testing.T) {
	r := newRig(t, nil)
	s := hypervisor.Spec{UUID: uuid, Name: r.g.Name, Dir: r.g.Dir, VCPUs: 1, MemoryMB: 256,
		Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: r.g.Dir + "/disk", Format: "raw"}},
		NICs: []hypervisor.NIC{
			{MAC: "fa:16:3e:5d:01:0a", Tap: "tap3f2a9c1e-7b4", MTU: 1442},
			{MAC: "fa:16:3e:5d:01:0b", Model: "e1000", Tap: "tap0d9e8f7a-6b5", MTU: 1442},
		}}
	dom, err := domain.Build(s, domain.Props{}, DomainOptions(r.drv.cfg))
	if err != nil {
		t.Fatal(err)
	}
	dom.Devices.Serials, dom.Devices.Consoles = r.dom.Devices.Serials, r.dom.Devices.Consoles // the rig's FIFO console
	r.dom = dom
	r.spawn()
	got := r.lines("argv." + r.g.Name)
	if len(got) != 1 {
		t.Fatalf("bhyve ran %d times: %q", len(got), got)
	}
	for _, want := range []string{",virtio-net,tap3f2a9c1e-7b4,mac=fa:16:3e:5d:01:0a,mtu=1442 ", ",e1000,tap0d9e8f7a-6b5,mac=fa:16:3e:5d:01:0b "} {
		if !strings.Contains(got[0], want) {
			t.Errorf("bhyve argv lacks %q: %s", want, got[0])
		}
	}
	if st := r.state_(); st != hypervisor.Running {
		t.Fatalf("state after spawn = %s", st)
	}
	saved, err := hypervisor.LoadDomain(r.g.Dir)
	if err != nil || len(saved.Devices.Interfaces) != 2 || saved.Devices.Interfaces[1].Target.Dev != "tap0d9e8f7a-6b5" {
		t.Fatalf("saved domain interfaces: %v", err)
	}
	if err := r.drv.Destroy(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
}

// TestVIFModelsAsListed: Capabilities().Values.VIFModel is exactly what
// bhyve runs on each arch; every other model Nova knows is refused naming
// hw_vif_model.
func TestVIFModelsAsListed(t *testing.T) {
	nova := []string{"virtio", "ne2k_pci", "pcnet", "rtl8139", "e1000", "e1000e", "netfront", "spapr-vlan", "lan9118", "vmxnet", "vmxnet3", "igb"}
	for _, cfg := range []Config{amd64Config(), arm64Config()} {
		listed := New(cfg).Capabilities().Values.VIFModel
		for _, m := range nova {
			t.Run(cfg.Arch+"/"+m, func(t *testing.T) {
				s := spec(1, 512)
				s.Disks = disks("", 1)
				s.NICs = []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "tap3f2a9c1e-7b4"}}
				dom, err := domain.Build(s, domain.Props{Image: map[string]string{"hw_vif_model": m}}, DomainOptions(cfg))
				if err == nil {
					_, err = BuildPlan(dom, cfg)
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
	}
}
