package image

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novabsd/novabsd/configdrive"
)

// needOrSkip fails under CI and skips otherwise when a host component is missing.
func needOrSkip(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s unavailable (set CI=true to make this fatal): %v", what, err)
}

func ensureNow(t *testing.T) Paths {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := Ensure(ctx, Dir())
	needOrSkip(t, "building the tiny image", err)
	return p
}

var (
	ensureOnce  sync.Once
	ensuredPath Paths
	ensureErr   error
)

// ensure builds (or checks) the image once per test binary.
func ensure(t *testing.T) Paths {
	t.Helper()
	ensureOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		ensuredPath, ensureErr = Ensure(ctx, Dir())
	})
	needOrSkip(t, "building the tiny image", ensureErr)
	return ensuredPath
}

func TestEnsureIsCached(t *testing.T) {
	p := ensureNow(t)
	before, err := os.Stat(p.Raw)
	if err != nil {
		t.Fatal(err)
	}
	p2 := ensureNow(t)
	after, err := os.Stat(p2.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second Ensure rewrote %s (mtime %v -> %v)", p.Raw, before.ModTime(), after.ModTime())
	}
}

func TestImageFormats(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-img")
	needOrSkip(t, "qemu-img", err)
	for _, tc := range []struct {
		path, format string
	}{{p.Raw, "raw"}, {p.QCOW2, "qcow2"}} {
		out, err := exec.Command("qemu-img", "info", "--output=json", tc.path).Output()
		if err != nil {
			t.Fatalf("qemu-img info %s: %v", tc.path, err)
		}
		var info struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
		}
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("qemu-img info %s: %v", tc.path, err)
		}
		if info.Format != tc.format {
			t.Errorf("%s: format %q, want %q", tc.path, info.Format, tc.format)
		}
		// "Tens of MB at most": the guest must stay cheap to copy and convert.
		if info.VirtualSize <= 0 || info.VirtualSize > 64<<20 {
			t.Errorf("%s: virtual size %d, want 0 < size <= 64 MiB", tc.path, info.VirtualSize)
		}
	}
}

// TestBootMarkerAndPowerdown boots each format under TCG, waits for Marker on the serial
// console, then presses the ACPI power button over QMP and expects QEMU to exit by itself.
func TestBootMarkerAndPowerdown(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-system-x86_64")
	needOrSkip(t, "qemu-system-x86_64", err)
	for _, tc := range []struct{ path, format string }{{p.Raw, "raw"}, {p.QCOW2, "qcow2"}} {
		t.Run(tc.format, func(t *testing.T) {
			dir := t.TempDir()
			serial := filepath.Join(dir, "serial.log")
			qmp := filepath.Join(dir, "qmp.sock")
			// -snapshot: the shared image is never written.
			cmd := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-m", "128", "-nodefaults",
				"-display", "none", "-snapshot", "-no-reboot",
				"-drive", "file="+tc.path+",format="+tc.format+",if=virtio",
				"-serial", "file:"+serial, "-qmp", "unix:"+qmp+",server=on,wait=off")
			out, exited := startQEMU(t, cmd)

			start := time.Now()
			if err := waitForLine(serial, Marker, 90*time.Second, exited); err != nil {
				log, _ := os.ReadFile(serial)
				t.Fatalf("%v\nqemu: %s\nserial:\n%s", err, out, log)
			}
			t.Logf("%s: marker after %v", tc.format, time.Since(start).Round(100*time.Millisecond))

			if err := qmpCommand(qmp, "system_powerdown"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("qemu exited with %v after powerdown: %s", err, out)
				}
			case <-time.After(60 * time.Second):
				log, _ := os.ReadFile(serial)
				t.Fatalf("guest ignored the ACPI power button for 60s; serial:\n%s", log)
			}
			log, _ := os.ReadFile(serial)
			if !strings.Contains(string(log), "reboot: Power down") {
				t.Errorf("no clean kernel power-down on the console:\n%s", log)
			}
		})
	}
}

func waitForLine(path, line string, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for sc.Scan() {
				if strings.TrimSpace(sc.Text()) == line {
					return nil
				}
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("qemu exited (%v) before %q", err, line)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no %q on the console within %v", line, timeout)
}

// qmpCommand connects to a QMP socket, negotiates capabilities and runs one command.
func qmpCommand(sock, command string) error {
	var conn net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("connecting to QMP %s: %w", sock, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	dec := json.NewDecoder(conn)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("QMP greeting: %w", err)
	}
	for _, c := range []string{"qmp_capabilities", command} {
		if _, err := fmt.Fprintf(conn, "{\"execute\":%q}\n", c); err != nil {
			return fmt.Errorf("QMP %s: %w", c, err)
		}
		for {
			var msg map[string]any
			if err := dec.Decode(&msg); err != nil {
				return fmt.Errorf("QMP %s reply: %w", c, err)
			}
			if e, ok := msg["error"]; ok {
				return fmt.Errorf("QMP %s: %v", c, e)
			}
			if _, ok := msg["return"]; ok {
				break
			}
		}
	}
	return nil
}

// waitFor polls the serial log until ok accepts it.
func waitFor(path string, what string, ok func(log []byte) bool, timeout time.Duration, exited <-chan error) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && ok(b) {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("qemu exited (%v) before %s", err, what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("no %s on the console within %v", what, timeout)
}

// TestBootNetworkAndConfigDrive boots the kernel and initramfs under TCG the way the QEMU engine builds a guest
// (q35; the config drive a read-only CD-ROM on the AHCI controller, the engine's default hw_cdrom_bus sata) with
// a QEMU user-mode NIC, and checks the guest's DHCP address line, the config drive's uuid and user data (written
// by the configdrive package, read by the guest's kernel), then an e1000 NIC hot-plugged on a PCIe root port and
// unplugged again, and finally the ACPI power off.
func TestBootNetworkAndConfigDrive(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-system-x86_64")
	needOrSkip(t, "qemu-system-x86_64", err)
	dir := t.TempDir()
	iso := filepath.Join(dir, "disk.config")
	const uuid = "5c0ffee0-1234-4abc-8def-0123456789ab"
	err = configdrive.Write(iso, configdrive.Content{
		UUID: uuid, Name: "tiny", Hostname: "tiny", UserData: []byte("hello from the config drive\nsecond line\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(dir, "serial.log")
	qmp := filepath.Join(dir, "qmp.sock")
	cmd := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-machine", "q35", "-nodefaults",
		"-display", "none", "-no-reboot",
		"-kernel", p.Kernel, "-initrd", p.Initrd, "-append", KernelCmdline,
		"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,mac=fa:16:3e:00:00:01",
		"-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1",
		// As hypervisor/qemu/argv.go attaches a config drive on sata.
		"-drive", "if=none,id=drive-sda,format=raw,file="+iso+",readonly=on",
		"-device", "ich9-ahci,id=sata0", "-device", "ide-cd,bus=sata0.0,drive=drive-sda,id=sda",
		"-serial", "file:"+serial, "-qmp", "unix:"+qmp+",server=on,wait=off")
	out, exited := startQEMU(t, cmd)
	fail := func(err error) {
		t.Helper()
		log, _ := os.ReadFile(serial)
		t.Fatalf("%v\nqemu: %s\nserial:\n%s", err, out, log)
	}
	hasAddress := func(nic, mac, addr string) func([]byte) bool {
		return func(log []byte) bool {
			for _, a := range Addresses(log) {
				if a.NIC == nic && a.MAC.String() == mac && a.Prefix.String() == addr {
					return true
				}
			}
			return false
		}
	}

	start := time.Now()
	if err := waitFor(serial, "DHCP address of eth0", hasAddress("eth0", "fa:16:3e:00:00:01", "10.0.2.15/24"), 150*time.Second, exited); err != nil {
		fail(err)
	}
	t.Logf("eth0's address after %v", time.Since(start).Round(100*time.Millisecond))
	if err := waitFor(serial, "config drive lines", func(log []byte) bool {
		return len(Lines(log, UserDataPrefix)) > 0
	}, 60*time.Second, exited); err != nil {
		fail(err)
	}
	log, _ := os.ReadFile(serial)
	if got := Lines(log, ConfigDriveUUIDPrefix); len(got) != 1 || got[0] != uuid {
		t.Errorf("config drive uuid lines %q, want [%q]", got, uuid)
	}
	if got := Lines(log, UserDataPrefix); len(got) != 1 || got[0] != "hello from the config drive" {
		t.Errorf("user-data lines %q, want [%q]", got, "hello from the config drive")
	}
	if got := Lines(log, MetadataUUIDPrefix); len(got) != 0 {
		t.Errorf("the guest asked the metadata service although it has a config drive: %q", got)
	}

	// Hot plug: the new NIC (an e1000, hw_vif_model's other common model) gets its address; hot unplug: the guest
	// says it is gone.
	if err := qmpRun(qmp, `{"execute":"netdev_add","arguments":{"type":"user","id":"n1"}}`,
		`{"execute":"device_add","arguments":{"driver":"e1000","netdev":"n1","id":"nic1","bus":"rp1","mac":"fa:16:3e:00:00:02"}}`); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(serial, "DHCP address of the hot-plugged eth1", hasAddress("eth1", "fa:16:3e:00:00:02", "10.0.2.15/24"), 90*time.Second, exited); err != nil {
		fail(err)
	}
	if err := qmpRun(qmp, `{"execute":"device_del","arguments":{"id":"nic1"}}`); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(serial, `"eth1 gone"`, func(log []byte) bool { return slices.Contains(Gone(log), "eth1") }, 90*time.Second, exited); err != nil {
		fail(err)
	}
	if got := Gone(log); len(got) != 0 {
		t.Errorf("NICs gone before the unplug: %q", got)
	}

	if err := qmpCommand(qmp, "system_powerdown"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("qemu exited with %v after powerdown: %s", err, out)
		}
	case <-time.After(60 * time.Second):
		fail(fmt.Errorf("guest ignored the ACPI power button for 60s"))
	}
}

// qmpRun connects to a QMP socket, negotiates capabilities and runs each command (raw JSON), failing on an error.
func qmpRun(sock string, commands ...string) error {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return fmt.Errorf("connecting to QMP %s: %w", sock, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	dec := json.NewDecoder(conn)
	var greeting map[string]any
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("QMP greeting: %w", err)
	}
	for _, c := range append([]string{`{"execute":"qmp_capabilities"}`}, commands...) {
		if _, err := fmt.Fprintln(conn, c); err != nil {
			return fmt.Errorf("QMP %s: %w", c, err)
		}
		for {
			var msg map[string]any
			if err := dec.Decode(&msg); err != nil {
				return fmt.Errorf("QMP %s reply: %w", c, err)
			}
			if e, ok := msg["error"]; ok {
				return fmt.Errorf("QMP %s: %v", c, e)
			}
			if _, ok := msg["return"]; ok {
				break
			}
		}
	}
	return nil
}

// TestBootMetadataService boots with no config drive on a user-mode network moved to 169.254.0.0/16, whose
// guestfwd answers 169.254.169.254:80 as the metadata service: a canned meta_data.json, and user_data that fails
// once (503, as a loaded service can) before it is served. The guest asks for meta_data.json, prints the uuid it
// got, asks again for the user data after the failure and prints its first line.
func TestBootMetadataService(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-system-x86_64")
	needOrSkip(t, "qemu-system-x86_64", err)
	dir := t.TempDir()
	const uuid = "abcdef01-2345-4678-9abc-def012345678"
	const userData = "hello from the metadata service"
	requests := filepath.Join(dir, "requests")
	failed := filepath.Join(dir, "failed-once")
	responder := filepath.Join(dir, "metadata.sh")
	// QEMU runs the command for each connection, the connection on its stdin and stdout.
	script := "#!/bin/sh\nread -r request\necho \"$request\" >>" + requests + "\n" +
		"reply() { printf 'HTTP/1.0 %s\\r\\nContent-Type: %s\\r\\nContent-Length: %d\\r\\n\\r\\n%s' \"$1\" \"$2\" \"${#3}\" \"$3\"; }\n" +
		"case \"$request\" in\n" +
		"*/user_data*)\n" +
		"\tif [ ! -e " + failed + " ]; then : >" + failed + "; reply '503 Service Unavailable' text/plain busy; exit 0; fi\n" +
		"\treply '200 OK' text/plain '" + userData + "\n'\n\t;;\n" +
		"*) reply '200 OK' application/json '{\"uuid\": \"" + uuid + "\", \"name\": \"tiny\"}' ;;\n" +
		"esac\n"
	if err := os.WriteFile(responder, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	serial := filepath.Join(dir, "serial.log")
	cmd := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-machine", "q35", "-nodefaults",
		"-display", "none", "-no-reboot",
		"-kernel", p.Kernel, "-initrd", p.Initrd, "-append", KernelCmdline,
		"-netdev", "user,id=n0,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-cmd:"+responder,
		"-device", "virtio-net-pci,netdev=n0",
		"-serial", "file:"+serial)
	out, exited := startQEMU(t, cmd)
	// The guest looks for a config drive for 15 s first, and waits 5 s after the failed user_data.
	err = waitFor(serial, "metadata uuid and user-data lines", func(log []byte) bool {
		return len(Lines(log, MetadataUUIDPrefix)) > 0 && len(Lines(log, UserDataPrefix)) > 0
	}, 180*time.Second, exited)
	log, _ := os.ReadFile(serial)
	if err != nil {
		t.Fatalf("%v\nqemu: %s\nserial:\n%s", err, out, log)
	}
	if got := Lines(log, MetadataUUIDPrefix); len(got) != 1 || got[0] != uuid {
		t.Errorf("metadata uuid lines %q, want [%q]", got, uuid)
	}
	if got := Lines(log, ConfigDriveUUIDPrefix); len(got) != 0 {
		t.Errorf("config drive lines without a config drive: %q", got)
	}
	if a := Addresses(log); len(a) != 1 || a[0].NIC != "eth0" || a[0].Prefix.String() != "169.254.2.15/16" {
		t.Errorf("address lines %+v, want eth0 169.254.2.15/16", a)
	}
	if got := Lines(log, UserDataPrefix); len(got) != 1 || got[0] != userData {
		t.Errorf("user-data lines %q, want [%q]", got, userData)
	}
	req, err := os.ReadFile(requests)
	var paths []string
	for _, l := range strings.Split(strings.TrimSpace(string(req)), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "GET" {
			paths = append(paths, f[1])
		}
	}
	want := []string{"/openstack/latest/meta_data.json", "/openstack/latest/user_data", "/openstack/latest/user_data"}
	if err != nil || !slices.Equal(paths, want) {
		t.Errorf("requests to the metadata service: %q (%v), want GETs of %q", req, err, want)
	}
}

// TestConfigDriveOtherBuses reads the config drive on the other CD-ROM buses the QEMU engine offers
// (hw_cdrom_bus scsi on q35, ide on pc), attached as hypervisor/qemu/argv.go attaches them.
func TestConfigDriveOtherBuses(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-system-x86_64")
	needOrSkip(t, "qemu-system-x86_64", err)
	for _, tc := range []struct {
		bus     string
		devices []string
	}{
		{"scsi", []string{"-machine", "q35", "-device", "virtio-scsi-pci,id=scsi0",
			"-device", "scsi-cd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda"}},
		{"ide", []string{"-machine", "pc", "-device", "ide-cd,bus=ide.0,drive=drive-hda,id=hda"}},
	} {
		t.Run(tc.bus, func(t *testing.T) {
			dir := t.TempDir()
			iso := filepath.Join(dir, "disk.config")
			uuid := "0d15ea5e-0000-4000-8000-00000000000" + map[string]string{"scsi": "1", "ide": "2"}[tc.bus]
			if err := configdrive.Write(iso, configdrive.Content{UUID: uuid}); err != nil {
				t.Fatal(err)
			}
			serial := filepath.Join(dir, "serial.log")
			id := "drive-sda"
			if tc.bus == "ide" {
				id = "drive-hda"
			}
			args := append([]string{"-accel", "tcg", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot",
				"-kernel", p.Kernel, "-initrd", p.Initrd, "-append", KernelCmdline,
				"-drive", "if=none,id=" + id + ",format=raw,file=" + iso + ",readonly=on",
				"-serial", "file:" + serial}, tc.devices...)
			cmd := exec.Command("qemu-system-x86_64", args...)
			out, exited := startQEMU(t, cmd)
			err := waitFor(serial, "config drive lines", func(log []byte) bool { return len(Lines(log, UserDataPrefix)) > 0 }, 120*time.Second, exited)
			log, _ := os.ReadFile(serial)
			if err != nil {
				t.Fatalf("%v\nqemu: %s\nserial:\n%s", err, out, log)
			}
			if got := Lines(log, ConfigDriveUUIDPrefix); len(got) != 1 || got[0] != uuid {
				t.Errorf("config drive uuid lines %q, want [%q]", got, uuid)
			}
			if got := Lines(log, UserDataPrefix); len(got) != 1 || got[0] != NoUserData {
				t.Errorf("user-data lines %q, want [%q]", got, NoUserData)
			}
		})
	}
}

// TestDevicesListed boots with a disk on each of the buses the engines offer (NVMe, q35's AHCI for sata,
// virtio-blk) and an e1000 NIC, and checks the guest lists each PCI function with its vendor, device and class,
// and each disk with the function it hangs from: what the e2e suite checks a server's devices against.
func TestDevicesListed(t *testing.T) {
	p := ensure(t)
	_, err := exec.LookPath("qemu-system-x86_64")
	needOrSkip(t, "qemu-system-x86_64", err)
	dir := t.TempDir()
	serial := filepath.Join(dir, "serial.log")
	var drives []string
	for _, n := range []string{"d0", "d1", "d2"} {
		f := filepath.Join(dir, n+".raw")
		if err := os.WriteFile(f, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		drives = append(drives, "-drive", "if=none,id="+n+",format=raw,file="+f)
	}
	args := append([]string{"-accel", "tcg", "-m", "256", "-machine", "q35", "-nodefaults", "-display", "none",
		"-no-reboot", "-kernel", p.Kernel, "-initrd", p.Initrd, "-append", KernelCmdline,
		"-device", "nvme,drive=d0,serial=novabsd0,addr=0x4",
		"-device", "ide-hd,drive=d1,bus=ide.0",
		"-device", "virtio-blk-pci,drive=d2,addr=0x5",
		"-netdev", "user,id=n0", "-device", "e1000,netdev=n0,addr=0x6",
		"-serial", "file:" + serial}, drives...)
	cmd := exec.Command("qemu-system-x86_64", args...)
	out, exited := startQEMU(t, cmd)
	err = waitFor(serial, "three disk lines", func(log []byte) bool { return len(Disks(log)) >= 3 }, 120*time.Second, exited)
	log, _ := os.ReadFile(serial)
	if err != nil {
		t.Fatalf("%v\nqemu: %s\nserial:\n%s", err, out, log)
	}
	fns := map[string]PCIFunction{}
	for _, f := range PCIFunctions(log) {
		fns[f.Address] = f
	}
	for _, want := range []struct {
		addr, what     string
		vendor, device uint16
		class          uint32
	}{
		{"0000:00:04.0", "NVMe controller", 0x1b36, 0x0010, 0x010802},
		{"0000:00:1f.2", "ICH9 AHCI controller", 0x8086, 0x2922, 0x010601},
		{"0000:00:06.0", "e1000 NIC", 0x8086, 0x100e, 0x020000},
	} {
		if got, ok := fns[want.addr]; !ok || got.Vendor != want.vendor || got.Device != want.device || got.Class != want.class {
			t.Errorf("%s at %s: got %+v, want vendor %#04x device %#04x class %#06x", want.what, want.addr, got,
				want.vendor, want.device, want.class)
		}
	}
	// virtio-blk is transitional (0x1001) on q35's root bus, modern (0x1042) behind a PCIe port.
	if v := fns["0000:00:05.0"]; v.Vendor != 0x1af4 || (v.Device != 0x1001 && v.Device != 0x1042) || v.Class>>8 != 0x0100 {
		t.Errorf("virtio-blk at 0000:00:05.0: got %+v, want vendor 0x1af4, device 0x1001 or 0x1042, class 0x0100xx", v)
	}
	disks := map[string]string{}
	for _, d := range Disks(log) {
		disks[d.Name] = d.PCI
	}
	for name, pci := range map[string]string{"nvme0n1": "0000:00:04.0", "sda": "0000:00:1f.2", "vda": "0000:00:05.0"} {
		if got, ok := disks[name]; !ok || got != pci {
			t.Errorf("disk %s on %q (listed: %v), want on %s", name, got, disks, pci)
		}
	}
}

func TestParseDeviceLines(t *testing.T) {
	console := []byte("Please press Enter to activate this console. novabsd-tiny: pci 0000:00:04.0 0x1b36 0x0010 0x010802\r\n" +
		"novabsd-tiny: pci 0000:00:05.0 0x1af4 nonsense 0x010000\n" +
		"novabsd-tiny: disk nvme0n1 0000:00:04.0\n" +
		"novabsd-tiny: disk vdb -\n" +
		"novabsd-tiny: disk too many fields\n" +
		"novabsd-tiny: eth0 52:54:00:12:34:56 10.0.2.15/24\n")
	if got, want := PCIFunctions(console), []PCIFunction{{"0000:00:04.0", 0x1b36, 0x0010, 0x010802}}; !slices.Equal(got, want) {
		t.Errorf("PCIFunctions = %+v, want %+v", got, want)
	}
	if got, want := Disks(console), []Disk{{"nvme0n1", "0000:00:04.0"}, {"vdb", ""}}; !slices.Equal(got, want) {
		t.Errorf("Disks = %+v, want %+v", got, want)
	}
	if got := Addresses(console); len(got) != 1 || got[0].NIC != "eth0" {
		t.Errorf("Addresses = %+v, want only eth0's (device lines are not addresses)", got)
	}
}

// startQEMU starts cmd (a QEMU), its output collected in out; exited receives how it ended. The test's cleanup
// kills it and waits for it, so no QEMU or waiting goroutine outlives the test.
func startQEMU(t *testing.T, cmd *exec.Cmd) (out *strings.Builder, exited <-chan error) {
	t.Helper()
	out = &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ch <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return out, ch
}
