//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	tinyimage "github.com/novabsd/novabsd/devstack/image"
)

// Issue 14's buses, on the shared host (QEMU): what the node tells Placement it can do, the devices a guest gets
// when its image asks for a disk bus or NIC model (as the guest itself lists them), and the build refused, naming
// the property, when the image asks for what the engine cannot do.

// deviceImage uploads the tiny disk as a new image with the given properties; it is deleted at the end.
func deviceImage(t *testing.T, name string, props ...string) string {
	t.Helper()
	args := []string{"image", "create", "--disk-format", "raw", "--container-format", "bare",
		"--file", rigInfo["IMAGES_IN_ROOT"] + "/" + tinyimage.RawName}
	for _, p := range props {
		args = append(args, "--property", p)
	}
	id := field(openstackJSON1(t, append(args, name)...), "id")
	if id == "" {
		t.Fatalf("image create %s: no id", name)
	}
	t.Cleanup(func() { openstack(t, "image", "delete", id) })
	return id
}

// PCI classes (base class, subclass, programming interface) the guest lists.
const (
	classNVMe     = 0x010802
	classAHCI     = 0x010601
	classEthernet = 0x020000
	vendorVirtio  = 0x1af4
)

// TestDeviceBuses: the node's traits say which buses and models the QEMU engine has; a server from an image with
// hw_disk_bus=virtio, hw_disk_bus=sata or novabsd_disk_bus=nvme (Nova's hw_disk_bus has no nvme) has its root disk
// on a PCI function of that kind, and one with hw_vif_model=e1000 has an Intel e1000 NIC that got its port's
// address; an image asking for a video model or a watchdog the engine lacks ends in ERROR with a fault naming the
// property, one asking for a TPM is never scheduled here, and neither leaves an instance directory, port or
// allocation.
func TestDeviceBuses(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	stamp := time.Now().Unix()

	t.Run("traits say what the engine has", func(t *testing.T) {
		traits := providerTraits(t, providerUUID(t, host))
		for _, want := range []string{"COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SATA",
			"COMPUTE_STORAGE_BUS_SCSI", "COMPUTE_STORAGE_BUS_IDE", "COMPUTE_NET_VIF_MODEL_VIRTIO",
			"COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_GRAPHICS_MODEL_VGA", "CUSTOM_NOVABSD_STORAGE_BUS_NVME"} {
			if !slices.Contains(traits, want) {
				t.Errorf("trait %s missing from the host's provider: %v", want, traits)
			}
		}
		for _, not := range []string{"COMPUTE_STORAGE_BUS_FDC", "COMPUTE_STORAGE_BUS_USB", "COMPUTE_GRAPHICS_MODEL_QXL",
			"COMPUTE_NET_VIF_MODEL_VMXNET3", "COMPUTE_SOUND_MODEL_ICH9", "COMPUTE_SECURITY_TPM_2_0",
			"COMPUTE_SECURITY_UEFI_SECURE_BOOT"} {
			if slices.Contains(traits, not) {
				t.Errorf("the host's provider has %s, which the QEMU engine does not give", not)
			}
		}
	})

	type busCase struct {
		name    string
		props   []string
		disk    string                             // the root disk's name in the guest
		fn      func(f tinyimage.PCIFunction) bool // the PCI function it must hang from
		fnWhat  string
		servers string
	}
	cases := []busCase{
		{name: "virtio", props: []string{"hw_disk_bus=virtio"}, disk: "vda", fnWhat: "a virtio block device",
			fn: func(f tinyimage.PCIFunction) bool { return f.Vendor == vendorVirtio && f.Class>>8 == 0x0100 }},
		{name: "sata", props: []string{"hw_disk_bus=sata"}, disk: "sda", fnWhat: "an AHCI controller",
			fn: func(f tinyimage.PCIFunction) bool { return f.Class == classAHCI }},
		{name: "nvme", props: []string{"novabsd_disk_bus=nvme", "trait:CUSTOM_NOVABSD_STORAGE_BUS_NVME=required"},
			disk: "nvme0n1", fnWhat: "an NVMe controller",
			fn: func(f tinyimage.PCIFunction) bool { return f.Class == classNVMe }},
	}
	// Every server of the test is asked for first, so they are built side by side; each is checked after.
	for i := range cases {
		c := &cases[i]
		img := deviceImage(t, fmt.Sprintf("e2e-bus-%s-%d", c.name, stamp), c.props...)
		args := []string{"server", "create", "--flavor", "tiny", "--image", img, "--availability-zone",
			"nova:" + host, "--nic", "none"}
		id := field(openstackJSON1(t, append(args, fmt.Sprintf("e2e-bus-%s-%d", c.name, stamp))...), "id")
		t.Cleanup(func() { deleteServer(t, id) })
		c.servers = id
	}
	var e1000 string
	if hasNetworks() {
		img := deviceImage(t, fmt.Sprintf("e2e-vif-e1000-%d", stamp), "hw_vif_model=e1000")
		e1000 = field(openstackJSON1(t, "server", "create", "--flavor", "tiny", "--image", img, "--availability-zone",
			"nova:"+host, "--network", privateNet, fmt.Sprintf("e2e-vif-e1000-%d", stamp)), "id")
		t.Cleanup(func() { deleteServer(t, e1000) })
	}
	// hw_video_model and hw_watchdog_action become no trait the scheduler asks for: the build reaches this host,
	// which refuses it naming the property. A TPM does become one (COMPUTE_SECURITY_TPM_2_0), which this host
	// reports false, so the scheduler never sends the build here at all.
	refusals := []struct {
		prop, value string
		fault       string // what the fault must say
		id          string
	}{
		{prop: "hw_video_model", value: "qxl", fault: "hw_video_model"},
		{prop: "hw_watchdog_action", value: "reset", fault: "hw_watchdog_action"},
		{prop: "hw_tpm_version", value: "2.0", fault: "No valid host was found"},
	}
	for i := range refusals {
		c := &refusals[i]
		name := fmt.Sprintf("e2e-refused-%s-%d", strings.ReplaceAll(c.prop, "_", "-"), stamp)
		img := deviceImage(t, name, c.prop+"="+c.value)
		args := append([]string{"server", "create", "--flavor", "tiny", "--image", img, "--availability-zone",
			"nova:" + host}, netArgs()...)
		c.id = field(openstackJSON1(t, append(args, name)...), "id")
		t.Cleanup(func() { deleteServer(t, c.id) })
	}
	for _, c := range cases {
		t.Run("root disk on "+c.name, func(t *testing.T) {
			waitServer(t, c.servers, "ACTIVE", 4*time.Minute)
			console := waitConsole(t, c.servers, "its disks", 3*time.Minute, func(con string) bool {
				return len(tinyimage.Disks([]byte(con))) > 0
			})
			disks := tinyimage.Disks([]byte(console))
			if len(disks) != 1 || disks[0].Name != c.disk {
				t.Fatalf("the guest lists disks %+v, want only its root disk %s", disks, c.disk)
			}
			var fn *tinyimage.PCIFunction
			for _, f := range tinyimage.PCIFunctions([]byte(console)) {
				if f.Address == disks[0].PCI {
					fn = &f
				}
			}
			if fn == nil || !c.fn(*fn) {
				t.Errorf("root disk %s hangs from PCI function %q (%+v), want %s; the guest's functions: %+v",
					c.disk, disks[0].PCI, fn, c.fnWhat, tinyimage.PCIFunctions([]byte(console)))
			}
		})
	}

	t.Run("e1000 NIC", func(t *testing.T) {
		requireNetworks(t)
		id := e1000
		waitServer(t, id, "ACTIVE", 4*time.Minute)
		p := waitServerPort(t, id, time.Minute)
		addr := oneIPv4(t, p)
		waitGuestAddr(t, id, p.MAC, addr, 3*time.Minute)
		var eth []tinyimage.PCIFunction
		for _, f := range tinyimage.PCIFunctions([]byte(consoleLog(t, id))) {
			if f.Class == classEthernet {
				eth = append(eth, f)
			}
		}
		if len(eth) != 1 || eth[0].Vendor != 0x8086 || eth[0].Device != 0x100e {
			t.Errorf("the guest's Ethernet functions %+v, want one Intel 82540EM (e1000, 8086:100e)", eth)
		}
	})

	t.Run("what the engine cannot do is refused", func(t *testing.T) {
		for _, c := range refusals {
			s := waitServer(t, c.id, "ERROR", 3*time.Minute)
			if fault, _ := s["fault"].(map[string]any); fault == nil || !strings.Contains(fmt.Sprint(fault["message"]), c.fault) {
				t.Errorf("%s=%s: fault message %q, want one saying %q", c.prop, c.value, fault["message"], c.fault)
			}
			if _, err := os.Stat(instanceDir(host, c.id)); !os.IsNotExist(err) {
				t.Errorf("%s=%s: the refused build left its instance directory (%v)", c.prop, c.value, err)
			}
			if hasNetworks() {
				if left := openstackJSON(t, "port", "list", "--device-id", c.id); len(left) != 0 {
					t.Errorf("%s=%s: ports left for the refused server: %v", c.prop, c.value, left)
				}
			}
			if rps := allocationProviders(t, c.id); len(rps) != 0 {
				t.Errorf("%s=%s: allocations left for the refused server on %v", c.prop, c.value, rps)
			}
		}
	})
}
