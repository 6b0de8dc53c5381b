//go:build linux

package plug

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests in this file plug real taps (as root, in the namespaces TestMain made) into a real Open vSwitch
// and real Linux bridges.

const (
	guestUID = 4242 // the engine's guest user: owns the tap
	otherUID = 4343 // anyone else
)

// sys reads one attribute of an interface from sysfs; "" when absent.
func sys(name, attr string) string {
	b, err := os.ReadFile(filepath.Join("/sys/class/net", name, attr))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func exists(name string) bool {
	_, err := os.Lstat(filepath.Join("/sys/class/net", name))
	return err == nil
}

func master(name string) string {
	l, err := os.Readlink(filepath.Join("/sys/class/net", name, "master"))
	if err != nil {
		return ""
	}
	return filepath.Base(l)
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// openTapAs runs this test binary as uid to attach to tap through a clone device node of its own (this host's
// /dev/net/tun is root's only; the kernel's check is the tap's owner, not the node's mode) and returns the
// helper's exit code: 0 opened, 3 refused by the kernel.
func openTapAs(t *testing.T, tap string, uid int) int {
	t.Helper()
	dir, err := os.MkdirTemp("", "nbtun")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	node := filepath.Join(dir, "tun")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))); err != nil {
		t.Fatalf("mknod: %v", err)
	}
	os.Chmod(node, 0o666)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "plug.test")
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(dst, src)
	src.Close()
	if cerr := dst.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	c := exec.Command(bin)
	c.Env = []string{openHelperEnv + "=" + tap, "NOVABSD_PLUG_TUN=" + node}
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Logf("uid %d opening %s: exit %d: %s", uid, tap, ee.ExitCode(), out)
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("running the open helper as uid %d: %v", uid, err)
	}
	return 0
}

func TestLinuxPlugOVS(t *testing.T) {
	o := startOVS(t)
	pl := o.plugger()
	ctx := ctxT(t)
	p := testPort(KindOVS, testBridge)
	p.DatapathType, p.Owner = "netdev", guestUID
	if err := pl.Check(ctx); err != nil {
		t.Fatalf("Check on a running switch = %v", err)
	}
	if err := pl.Plug(ctx, p); err != nil {
		t.Fatal(err)
	}

	// The device: a persistent tap with libvirt's flags, owned by the guest user, MTU set, up.
	flags, err := strconv.ParseUint(sys(p.Tap, "tun_flags"), 0, 32)
	if err != nil || flags&tapFlags != tapFlags {
		t.Errorf("tun_flags %q, want IFF_TAP|IFF_NO_PI|IFF_VNET_HDR", sys(p.Tap, "tun_flags"))
	}
	if got := sys(p.Tap, "owner"); got != strconv.Itoa(guestUID) {
		t.Errorf("tap owner %q, want %d", got, guestUID)
	}
	if got := sys(p.Tap, "mtu"); got != "1442" {
		t.Errorf("tap mtu %q, want 1442", got)
	}
	if got := sys(p.Tap, "address"); got != "fe:16:3e:5d:7a:01" {
		t.Errorf("tap address %q, want the port's MAC with 0xfe first (fe:16:3e:5d:7a:01)", got)
	}
	if f, _ := strconv.ParseUint(sys(p.Tap, "flags"), 0, 32); f&unix.IFF_UP == 0 {
		t.Errorf("tap flags %q: not up", sys(p.Tap, "flags"))
	}
	// The owner can open it, nobody else can.
	if code := openTapAs(t, p.Tap, guestUID); code != 0 {
		t.Errorf("uid %d (the owner) could not open the tap: exit %d", guestUID, code)
	}
	if code := openTapAs(t, p.Tap, otherUID); code != 3 {
		t.Errorf("uid %d opening the tap: exit %d, want 3 (EPERM)", otherUID, code)
	}

	// The switch: the port on the bridge with exactly os-vif's external_ids, and the MTU asked of it.
	want := map[string]string{"iface-id": p.PortID, "iface-status": "active", "attached-mac": p.MAC, "vm-uuid": p.InstanceUUID}
	ids, mtu, ok := o.iface(p.Tap)
	if !ok || !mapsEqual(ids, want) || mtu != 1442 {
		t.Errorf("OVS interface: ok=%v external_ids=%v mtu_request=%d, want %v and 1442", ok, ids, mtu, want)
	}
	if br := o.portBridge(p.Tap); br != testBridge {
		t.Errorf("port on bridge %q, want %s", br, testBridge)
	}
	if dt, _ := o.vsctl("get", "Bridge", testBridge, "datapath_type"); dt != "netdev" {
		t.Errorf("datapath_type %q", dt)
	}

	// Idempotent: the same tap (same ifindex) and the same row.
	index := sys(p.Tap, "ifindex")
	if err := pl.Plug(ctx, p); err != nil {
		t.Fatalf("re-plug: %v", err)
	}
	if got := sys(p.Tap, "ifindex"); got != index {
		t.Errorf("re-plug made a new tap (ifindex %s, was %s)", got, index)
	}
	if ids, _, _ := o.iface(p.Tap); !mapsEqual(ids, want) {
		t.Errorf("after re-plug external_ids %v", ids)
	}
	if out, _ := o.vsctl("list-ports", testBridge); out != p.Tap {
		t.Errorf("ports after re-plug: %q", out)
	}

	if err := pl.Unplug(ctx, p); err != nil {
		t.Fatal(err)
	}
	if exists(p.Tap) {
		t.Error("tap left after unplug")
	}
	if _, _, ok := o.iface(p.Tap); ok {
		t.Error("OVS interface left after unplug")
	}
	if err := pl.Unplug(ctx, p); err != nil {
		t.Errorf("second unplug = %v, want nil", err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestLinuxPlugOVSFailureLeavesNothing: when the switch refuses the port, the tap made for it goes.
func TestLinuxPlugOVSFailureLeavesNothing(t *testing.T) {
	o := startOVS(t)
	pl := o.plugger()
	ctx := ctxT(t)
	for _, dt := range []string{"", "netdev"} {
		p := testPort(KindOVS, "br-gone")
		p.DatapathType = dt
		err := pl.Plug(ctx, p)
		t.Logf("datapath %q: %v", dt, err)
		var pe *Error
		if !errors.As(err, &pe) || pe.Op != "plug" || pe.Tap != p.Tap || !strings.Contains(err.Error(), "br-gone") {
			t.Errorf("Plug onto a missing bridge (datapath %q) = %v, want a plug *Error with ovs-vsctl's message naming br-gone", dt, err)
		}
		if exists(p.Tap) {
			t.Errorf("tap left after a failed plug (datapath %q)", dt)
		}
		if _, _, ok := o.iface(p.Tap); ok {
			t.Errorf("OVS interface left after a failed plug")
		}
	}
	if out, _ := o.vsctl("list-br"); out != testBridge {
		t.Errorf("bridges %q: the plug made one", out)
	}
}

// TestLinuxSwitchStopped: Check tells a stopped switch quickly; a plug fails and leaves no tap; an unplug still
// deletes the tap and reports the switch.
func TestLinuxSwitchStopped(t *testing.T) {
	o := startOVS(t)
	pl := o.plugger()
	ctx := ctxT(t)
	plugged := testPort(KindOVS, testBridge)
	if err := pl.Plug(ctx, plugged); err != nil {
		t.Fatal(err)
	}
	o.stopAll()

	err := pl.Check(ctx)
	t.Logf("Check: %v", err)
	var pe *Error
	if !errors.Is(err, ErrSwitchUnreachable) || !errors.As(err, &pe) || pe.Op != "check" || !strings.Contains(err.Error(), o.sock) {
		t.Errorf("Check with ovsdb-server stopped = %v, want ErrSwitchUnreachable naming the socket", err)
	}

	p := testPort(KindOVS, testBridge)
	p.PortID, p.Tap = "5b1d0e6f-2a3c-4d5e-8f90-1a2b3c4d5e6f", "tap5b1d0e6f-2a"
	err = pl.Plug(ctx, p)
	t.Logf("Plug: %v", err)
	if err == nil || !strings.Contains(err.Error(), "ovs-vsctl") {
		t.Errorf("Plug with the switch stopped = %v, want ovs-vsctl's error", err)
	}
	if exists(p.Tap) {
		t.Error("tap left after a plug with the switch stopped")
	}

	err = pl.Unplug(ctx, plugged)
	if err == nil || !strings.Contains(err.Error(), "ovs-vsctl") {
		t.Errorf("Unplug with the switch stopped = %v, want ovs-vsctl's error", err)
	}
	if exists(plugged.Tap) {
		t.Error("Unplug with the switch stopped left the tap")
	}
}

// TestLinuxUnplugPartial: a tap without its port, and a port without its tap, both unplug cleanly.
func TestLinuxUnplugPartial(t *testing.T) {
	o := startOVS(t)
	pl := o.plugger()
	ctx := ctxT(t)
	p := testPort(KindOVS, testBridge)

	ip(t, "tuntap", "add", "dev", p.Tap, "mode", "tap")
	if err := pl.Unplug(ctx, p); err != nil || exists(p.Tap) {
		t.Errorf("Unplug of a tap without a port = %v, tap left %v", err, exists(p.Tap))
	}

	if out, err := o.vsctl("--", "add-port", testBridge, p.Tap); err != nil {
		t.Fatal(out, err)
	}
	if err := pl.Unplug(ctx, p); err != nil || o.portBridge(p.Tap) != "" {
		t.Errorf("Unplug of a port without a tap = %v, port on %q", err, o.portBridge(p.Tap))
	}
}

func TestLinuxPlugBridge(t *testing.T) {
	needRoot(t)
	pl := New(Config{})
	ctx := ctxT(t)
	ip(t, "link", "add", "nbtbr0", "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "nbtbr0").Run() })

	p := testPort(KindBridge, "nbtbr0")
	p.MTU = 1400
	if err := pl.Plug(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := master(p.Tap); got != "nbtbr0" {
		t.Errorf("tap's master %q, want nbtbr0", got)
	}
	if got := sys(p.Tap, "mtu"); got != "1400" {
		t.Errorf("tap mtu %q", got)
	}
	if got := sys(p.Tap, "owner"); got != "-1" {
		t.Errorf("tap owner %q, want -1 (Owner -1)", got)
	}
	index := sys(p.Tap, "ifindex")
	if err := pl.Plug(ctx, p); err != nil {
		t.Fatalf("re-plug: %v", err)
	}
	if sys(p.Tap, "ifindex") != index || master(p.Tap) != "nbtbr0" {
		t.Error("re-plug changed the tap")
	}
	if err := pl.Unplug(ctx, p); err != nil {
		t.Fatal(err)
	}
	if exists(p.Tap) || !exists("nbtbr0") {
		t.Errorf("after unplug: tap there %v, bridge there %v; want the tap gone, the bridge kept", exists(p.Tap), exists("nbtbr0"))
	}
	if err := pl.Unplug(ctx, p); err != nil {
		t.Errorf("second unplug = %v", err)
	}
}

// TestLinuxPlugBridgeRefused: a missing bridge is an error naming it and is never made; a device that is not a
// bridge is refused; a name held by something other than a tap is left alone.
func TestLinuxPlugBridgeRefused(t *testing.T) {
	needRoot(t)
	pl := New(Config{})
	ctx := ctxT(t)
	ip(t, "tuntap", "add", "dev", "nbtnotbr", "mode", "tap")
	ip(t, "link", "add", "nbtbr1", "type", "bridge")
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", "nbtnotbr").Run()
		exec.Command("ip", "link", "del", "nbtbr1").Run()
	})

	p := testPort(KindBridge, "nbtmissing")
	err := pl.Plug(ctx, p)
	t.Logf("missing bridge: %v", err)
	if !errors.Is(err, ErrNoBridge) || !strings.Contains(err.Error(), "nbtmissing") {
		t.Errorf("Plug onto a missing bridge = %v, want ErrNoBridge naming nbtmissing", err)
	}
	if exists(p.Tap) || exists("nbtmissing") {
		t.Errorf("after refusal: tap there %v, bridge made %v", exists(p.Tap), exists("nbtmissing"))
	}

	p.Bridge = "nbtnotbr"
	if err := pl.Plug(ctx, p); err == nil || !strings.Contains(err.Error(), "nbtnotbr is not a bridge") {
		t.Errorf("Plug onto a tap as bridge = %v", err)
	}
	if exists(p.Tap) {
		t.Error("tap left after refusal")
	}

	// The tap's name taken by a bridge: refused, and neither plug nor unplug deletes it.
	p.Bridge, p.Tap = "nbtmissing", "nbtbr1"
	if err := pl.Plug(ctx, p); err == nil || !strings.Contains(err.Error(), "not a tap") {
		t.Errorf("Plug over a bridge's name = %v", err)
	}
	if err := pl.Unplug(ctx, p); err == nil || !exists("nbtbr1") {
		t.Errorf("Unplug of a non-tap = %v, still there %v; want refused and kept", err, exists("nbtbr1"))
	}
}

// TestLinuxVswitchdStopped: with the database up but ovs-vswitchd stopped, ovs-vsctl commits the port and then
// waits for a switch that never applies it; the plug fails at its timeout and removes both the tap and the row.
func TestLinuxVswitchdStopped(t *testing.T) {
	o := startOVS(t)
	o.stop("ovs-vswitchd")
	pl := New(Config{OVSDB: "unix:" + o.sock, Vsctl: o.bin["ovs-vsctl"], Timeout: 2 * time.Second})
	ctx := ctxT(t)
	if err := pl.Check(ctx); err != nil {
		t.Errorf("Check with the database up = %v (Check asks the database only)", err)
	}
	p := testPort(KindOVS, testBridge)
	start := time.Now()
	err := pl.Plug(ctx, p)
	t.Logf("Plug after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, ErrSwitchTimeout) || !strings.Contains(err.Error(), "ovs-vswitchd") {
		t.Errorf("Plug with ovs-vswitchd stopped = %v, want ErrSwitchTimeout", err)
	}
	if exists(p.Tap) {
		t.Error("tap left")
	}
	if _, _, ok := o.iface(p.Tap); ok {
		t.Error("OVS row left")
	}
}

// TestLinuxPlugConcurrentAndOwner: ports plugged at once each get their tap and row; a re-plug for a new guest
// user hands the existing tap over.
func TestLinuxPlugConcurrentAndOwner(t *testing.T) {
	o := startOVS(t)
	pl := o.plugger()
	ctx := ctxT(t)
	ids := []string{
		"0a1b2c3d-0000-4000-8000-000000000001", "1a1b2c3d-0000-4000-8000-000000000002",
		"2a1b2c3d-0000-4000-8000-000000000003", "3a1b2c3d-0000-4000-8000-000000000004",
	}
	ports := make([]Port, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		p := testPort(KindOVS, testBridge)
		p.PortID, p.Tap, p.Owner = id, "tap"+id[:11], guestUID
		ports[i] = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pl.Plug(ctx, p)
		}()
	}
	wg.Wait()
	for i, p := range ports {
		if errs[i] != nil {
			t.Errorf("concurrent Plug %s: %v", p.Tap, errs[i])
			continue
		}
		if got, _, ok := o.iface(p.Tap); !ok || got["iface-id"] != p.PortID || !exists(p.Tap) {
			t.Errorf("%s: row %v (ok %v), tap there %v", p.Tap, got, ok, exists(p.Tap))
		}
	}

	p := ports[0]
	p.Owner = otherUID
	index := sys(p.Tap, "ifindex")
	if err := pl.Plug(ctx, p); err != nil {
		t.Fatal(err)
	}
	if sys(p.Tap, "owner") != strconv.Itoa(otherUID) || sys(p.Tap, "ifindex") != index {
		t.Errorf("re-plug for uid %d: owner %s, ifindex %s (was %s); want the same tap handed over",
			otherUID, sys(p.Tap, "owner"), sys(p.Tap, "ifindex"), index)
	}
	for _, p := range ports {
		if err := pl.Unplug(ctx, p); err != nil {
			t.Error(err)
		}
	}
	if out, _ := o.vsctl("list-ports", testBridge); out != "" {
		t.Errorf("ports left: %q", out)
	}
}

// TestLinuxUnplugVswitchdStopped: with only the database up, an unplug removes the row and the tap at once.
func TestLinuxUnplugVswitchdStopped(t *testing.T) {
	o := startOVS(t)
	pl := New(Config{OVSDB: "unix:" + o.sock, Vsctl: o.bin["ovs-vsctl"], Timeout: 20 * time.Second})
	ctx := ctxT(t)
	p := testPort(KindOVS, testBridge)
	if err := pl.Plug(ctx, p); err != nil {
		t.Fatal(err)
	}
	o.stop("ovs-vswitchd")
	start := time.Now()
	if err := pl.Unplug(ctx, p); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Unplug took %v: it waited for the stopped ovs-vswitchd", d)
	}
	if _, _, ok := o.iface(p.Tap); ok || exists(p.Tap) {
		t.Errorf("after unplug: row there %v, tap there %v", ok, exists(p.Tap))
	}
}
