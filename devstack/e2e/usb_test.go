//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeUSBDevice puts one USB device into a fixture sysfs tree at root, as Linux shows it under bus/usb/devices.
func writeUSBDevice(t *testing.T, root string, bus int, port, vendor, product string) string {
	t.Helper()
	dir := filepath.Join(root, "bus", "usb", "devices", fmt.Sprintf("%d-%s", bus, port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"busnum": fmt.Sprint(bus), "devnum": "5", "devpath": port,
		"idVendor": vendor, "idProduct": product, "manufacturer": "e2e fixture", "product": "flash drive"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// childProvider is the host's child provider named NAME in Placement, or nil.
func childProvider(t *testing.T, root, name string) map[string]any {
	t.Helper()
	for _, rp := range openstackJSON(t, "resource", "provider", "list", "--in-tree", root) {
		if field(rp, "name") == name {
			return rp
		}
	}
	return nil
}

// TestUSBPassthrough (issue 14): a host whose [novabsd] usb_device_spec names a USB device it has (a fixture sysfs
// tree, [novabsd] sysfs_root) reports it to Placement as a child provider with one CUSTOM_USB_<VID>_<PID>; a flavor
// asking for that class lands there and QEMU is given the device (usb-host by vendor, product, bus and port); the
// one device is not given twice, a device the host does not offer is never scheduled there, delete gives the
// allocation back, and a device unplugged from the host loses its provider at the next audit.
func TestUSBPassthrough(t *testing.T) {
	requireRig(t)
	// Its own host (no network: it is not the OVN chassis), so it runs beside the shared host's tests.
	t.Parallel()
	sysfs := t.TempDir()
	drive := writeUSBDevice(t, sysfs, 1, "1.2", "0781", "5581")
	writeUSBDevice(t, sysfs, 1, "3", "046d", "c31c") // present, but no spec names it
	host := fmt.Sprintf("e2e-usb-%d", time.Now().UnixNano()%100000)
	n := startNovabsdConf(t, host, lifecycleExtra+"update_resources_interval = 10\n[novabsd]\n"+
		"usb_device_spec = 0781:5581@1-1.2\nsysfs_root = "+sysfs+"\n")
	n.waitLog(t, "Compute service started", 90*time.Second)
	t.Cleanup(func() { deleteHost(t, host) })
	rig(t, "discover")
	root := providerUUID(t, host)
	childName := host + "_usb-1-1.2"
	const rc = "CUSTOM_USB_0781_5581"

	var child map[string]any
	deadline := time.Now().Add(time.Minute)
	for child = childProvider(t, root, childName); child == nil; child = childProvider(t, root, childName) {
		if time.Now().After(deadline) {
			t.Fatalf("no child provider %s in %s's tree within a minute", childName, host)
		}
		time.Sleep(3 * time.Second)
	}
	childUUID := field(child, "uuid")
	if p := field(child, "parent_provider_uuid"); p != root {
		t.Errorf("child provider's parent %q, want the node %s", p, root)
	}
	inv := openstackJSON(t, "resource", "provider", "inventory", "list", childUUID)
	if len(inv) != 1 || field(inv[0], "resource_class") != rc || inv[0]["total"] != float64(1) {
		t.Fatalf("child provider inventory %v, want one %s", inv, rc)
	}
	if got := len(openstackJSON(t, "resource", "provider", "list", "--in-tree", root)); got != 2 {
		t.Errorf("%d providers in %s's tree, want the node and the one device its spec names", got, host)
	}

	stamp := time.Now().Unix()
	flavor := func(name, class string) string {
		f := fmt.Sprintf("e2e-%s-%d", name, stamp)
		openstack(t, "flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "--property",
			"resources:"+class+"=1", f)
		t.Cleanup(func() { openstack(t, "flavor", "delete", f) })
		return f
	}
	usbFlavor := flavor("usb", rc)
	create := func(name, fl string) string {
		id := field(openstackJSON1(t, "server", "create", "--flavor", fl, "--image", "tiny", "--nic", "none",
			"--availability-zone", "nova:"+host, fmt.Sprintf("e2e-%s-%d", name, stamp)), "id")
		t.Cleanup(func() { deleteServer(t, id) })
		return id
	}

	id := create("usb", usbFlavor)
	waitServer(t, id, "ACTIVE", 4*time.Minute)
	waitMarker(t, id, 1, 3*time.Minute)
	t.Run("QEMU is given the device", func(t *testing.T) {
		pid := qemuPid(id)
		if pid == 0 {
			t.Fatalf("no QEMU for %s", id)
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		argv := strings.Split(string(cmdline), "\x00")
		i := slices.IndexFunc(argv, func(a string) bool { return strings.HasPrefix(a, "usb-host,") })
		if i < 0 {
			t.Fatalf("QEMU's argv has no usb-host device: %q", argv)
		}
		for _, want := range []string{"vendorid=0x0781", "productid=0x5581", "hostbus=1", "hostport=1.2"} {
			if !slices.Contains(strings.Split(argv[i], ","), want) {
				t.Errorf("usb-host device %q lacks %s", argv[i], want)
			}
		}
	})
	t.Run("the allocation holds the device", func(t *testing.T) {
		if rps := allocationProviders(t, id); !slices.Contains(rps, childUUID) || !slices.Contains(rps, root) {
			t.Errorf("server %s allocations on %v, want the node %s and the device %s", id, rps, root, childUUID)
		}
	})
	t.Run("the device is not given twice", func(t *testing.T) {
		second := create("usb-second", usbFlavor)
		s := waitServer(t, second, "ERROR", 3*time.Minute)
		if f, _ := s["fault"].(map[string]any); f == nil || !strings.Contains(fmt.Sprint(f["message"]), "No valid host") {
			t.Errorf("second server's fault %v, want No valid host", s["fault"])
		}
	})
	t.Run("a device the host does not offer is not scheduled here", func(t *testing.T) {
		other := create("usb-keyboard", flavor("usb-keyboard", "CUSTOM_USB_046D_C31C"))
		s := waitServer(t, other, "ERROR", 3*time.Minute)
		if f, _ := s["fault"].(map[string]any); f == nil || !strings.Contains(fmt.Sprint(f["message"]), "No valid host") {
			t.Errorf("fault %v, want No valid host", s["fault"])
		}
	})
	t.Run("delete gives the device back", func(t *testing.T) {
		openstack(t, "server", "delete", "--wait", id)
		for _, u := range openstackJSON(t, "resource", "provider", "usage", "show", childUUID) {
			if field(u, "resource_class") == rc && u["usage"] != float64(0) {
				t.Errorf("device provider usage %v after the delete, want 0", u["usage"])
			}
		}
	})
	t.Run("an unplugged device loses its provider", func(t *testing.T) {
		if err := os.RemoveAll(drive); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for childProvider(t, root, childName) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("child provider %s still there 90 s after its device went", childName)
			}
			time.Sleep(5 * time.Second)
		}
	})
}
