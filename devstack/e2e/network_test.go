//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	tinyimage "github.com/novabsd/novabsd/devstack/image"
	"github.com/novabsd/novabsd/network"
)

// The networking cases of issue 11, against the rig's real Neutron with ML2/OVN and novabsd as the compute host
// and OVN chassis: what Nova and Neutron show, what the host has (taps, br-int), and what the guest prints.

// bootNet boots a server on network net on host and waits for ACTIVE; it returns the server and its one port.
func bootNet(t *testing.T, host, name, net string, extra ...string) (string, port) {
	t.Helper()
	id := bootServer(t, host, name, append([]string{"--network", net}, extra...)...)
	waitServer(t, id, "ACTIVE", 4*time.Minute)
	ports := serverPorts(t, id)
	if len(ports) != 1 {
		t.Fatalf("server %s on %s has %d ports, want 1: %+v", id, net, len(ports), ports)
	}
	return id, ports[0]
}

// checkBound checks what Nova shows and Neutron and the host have for a running server's port p.
func checkBound(t *testing.T, host, id, net string, p port) string {
	t.Helper()
	addrs := ipv4(serverAddrs(serverShow(t, id), net))
	if len(addrs) != 1 {
		t.Fatalf("server show lists %v on %s, want one IPv4 address", serverShow(t, id)["addresses"], net)
	}
	addr := addrs[0]
	if !slices.Contains(p.IPs, addr) {
		t.Errorf("server show lists %s, Neutron's port %s has %v", addr, p.ID, p.IPs)
	}
	if p.HostID != host || p.DeviceID != id || !strings.HasPrefix(p.DeviceOwner, "compute:") {
		t.Errorf("port %s: binding host %q device %q owner %q, want %s, %s, compute:<zone>", p.ID, p.HostID,
			p.DeviceID, p.DeviceOwner, host, id)
	}
	if p.VIFType != "ovs" {
		t.Errorf("port %s: vif_type %q, want ovs (OVN)", p.ID, p.VIFType)
	}
	waitPort(t, p.ID, "ACTIVE", time.Minute, func(p port) bool { return p.Status == "ACTIVE" })
	tap := network.TapName(p.ID)
	if !tapExists(tap) {
		t.Errorf("no tap %s on the host for port %s", tap, p.ID)
	}
	if !slices.Contains(brIntPorts(t), tap) {
		t.Errorf("br-int has no port %s", tap)
	}
	for k, want := range map[string]string{"iface-id": p.ID, "attached-mac": p.MAC, "vm-uuid": id, "iface-status": "active"} {
		got := strings.Trim(strings.TrimSpace(vsctl(t, "--if-exists", "get", "Interface", tap, "external_ids:"+k)), `"`)
		if got != want {
			t.Errorf("Interface %s external_ids:%s = %q, want %q", tap, k, got, want)
		}
	}
	return addr
}

// TestNetworkPrivate: two servers on the tenant network get the addresses Neutron allocated, show them, bring
// them up over OVN's DHCP, ping each other from inside (through OVN's logical switch), read their metadata
// through OVN's metadata port, and leave nothing behind when deleted: the port novabsd made is deleted, the port
// the user made is released and kept.
func TestNetworkPrivate(t *testing.T) {
	requireNetworks(t)
	t.Parallel()
	host := sharedHost(t)
	stamp := time.Now().Unix()
	// B's port is made first so that A can be told B's address: each guest pings the other (user data lines
	// "ping ADDR"; A has no config drive, so it reads them from the metadata service).
	pb := createPort(t, privateNet, fmt.Sprintf("e2e-net-pb-%d", stamp))
	addrB := oneIPv4(t, pb)
	a := bootServer(t, host, fmt.Sprintf("e2e-net-a-%d", stamp), "--network", privateNet,
		"--user-data", userDataFile(t, "ping "+addrB+"\n"))
	// The guest pings for about four minutes once it has its address, so B is asked for as soon as A's address
	// is known (novabsd made A's port), not once A is up: the two boot side by side.
	addrA := oneIPv4(t, waitServerPort(t, a, 4*time.Minute))
	b := bootServer(t, host, fmt.Sprintf("e2e-net-b-%d", stamp), "--port", pb.ID,
		"--user-data", userDataFile(t, "ping "+addrA+"\n"))
	waitServer(t, a, "ACTIVE", 4*time.Minute)
	waitServer(t, b, "ACTIVE", 4*time.Minute)
	pa := waitServerPort(t, a, time.Minute)
	if got := checkBound(t, host, a, privateNet, pa); got != addrA {
		t.Errorf("server %s shows %s, its port had %s", a, got, addrA)
	}
	if bound := waitServerPort(t, b, time.Minute); bound.ID != pb.ID {
		t.Fatalf("server %s has port %s, want the user's port %s", b, bound.ID, pb.ID)
	} else if got := checkBound(t, host, b, privateNet, bound); got != addrB {
		t.Errorf("server %s shows %s, the user's port has %s", b, got, addrB)
	}
	waitGuestAddr(t, a, pa.MAC, addrA, 3*time.Minute)
	waitGuestAddr(t, b, pb.MAC, addrB, 3*time.Minute)

	t.Run("two servers on private reach each other", func(t *testing.T) {
		// Each guest pings the other from inside: through its tap, br-int, OVN's pipeline (port security, ACLs,
		// the logical switch) and the other's tap, and the answer back.
		for _, c := range []struct{ id, peer string }{{a, addrB}, {b, addrA}} {
			console := waitConsole(t, c.id, "the result of its ping of "+c.peer, 6*time.Minute, func(con string) bool {
				return pingResult(con, c.peer) != ""
			})
			if r := pingResult(console, c.peer); r != "ok" {
				t.Errorf("server %s pinged %s: %s\n%s", c.id, c.peer, r, tail(console, 30))
			}
		}
		// Each guest reaches another port of the network: OVN's metadata port, through which it reads its
		// meta_data.json (no config drive here).
		for _, id := range []string{a, b} {
			waitConsole(t, id, "its metadata read over "+privateNet, 3*time.Minute, func(c string) bool {
				return strings.Contains(c, tinyimage.MetadataUUIDPrefix+id)
			})
		}
		// And that port's namespace (the metadata agent's ovnmeta-<network>) reaches both guests.
		netID := field(openstackJSON1(t, "network", "show", privateNet), "id")
		pid := metadataNetnsPid(netID)
		if pid == 0 {
			t.Fatalf("no process in the OVN metadata namespace ovnmeta-%s (is the metadata agent running?)", netID)
		}
		for _, addr := range []string{addrA, addrB} {
			argv := append([]string{"-t", fmt.Sprint(pid), "-n"}, pingArgv(addr)...)
			if out, err := exec.Command("nsenter", argv...).CombinedOutput(); err != nil {
				t.Errorf("ping %s from ovnmeta-%s: %v\n%s", addr, netID, err, out)
			}
		}
	})

	t.Run("delete leaves nothing", func(t *testing.T) {
		for _, id := range []string{a, b} {
			openstack(t, "server", "delete", "--wait", id)
			if qemuPid(id) != 0 {
				t.Errorf("QEMU still runs for deleted server %s", id)
			}
		}
		checkNoTrace(t, host, a, []string{pa.ID}, nil)
		// pb is the user's (made before the server, given with --port): novabsd unbinds it, never deletes it.
		if !portExists(t, pb.ID) {
			t.Fatalf("the user's port %s was deleted with server %s", pb.ID, b)
		}
		checkNoTrace(t, host, b, nil, []string{pb.ID})
	})
}

// oneIPv4 returns the port's one IPv4 address.
func oneIPv4(t *testing.T, p port) string {
	t.Helper()
	addrs := ipv4(p.IPs)
	if len(addrs) != 1 {
		t.Fatalf("port %s has %v, want one IPv4 address", p.ID, p.IPs)
	}
	return addrs[0]
}

// waitServerPort waits until the server has one port with an address (novabsd makes it early in the build, before
// the server is ACTIVE) and returns it.
func waitServerPort(t *testing.T, id string, timeout time.Duration) port {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ports := serverPorts(t, id)
		if len(ports) > 1 {
			t.Fatalf("server %s has %d ports, want 1: %+v", id, len(ports), ports)
		}
		if len(ports) == 1 && len(ports[0].IPs) > 0 {
			return ports[0]
		}
		if s := serverShow(t, id); field(s, "status") == "ERROR" {
			t.Fatalf("server %s in ERROR before it had a port: %v", id, s["fault"])
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s has no port with an address within %v: %+v", id, timeout, ports)
		}
		time.Sleep(time.Second)
	}
}

// pingResult is what the guest's console says of its ping of addr ("ok", "failed"), or "" while it says nothing.
func pingResult(console, addr string) string {
	for _, l := range tinyimage.Lines([]byte(console), tinyimage.PingPrefix) {
		if r, ok := strings.CutPrefix(l, addr+" "); ok {
			return strings.TrimSpace(r)
		}
	}
	return ""
}

// TestNetworkPublic: the host (the rig's namespace, through br-ex) reaches a server on the provider network.
func TestNetworkPublic(t *testing.T) {
	requireNetworks(t)
	t.Parallel()
	host := sharedHost(t)
	id, p := bootNet(t, host, fmt.Sprintf("e2e-pub-%d", time.Now().Unix()), publicNet)
	addr := checkBound(t, host, id, publicNet, p)
	waitGuestAddr(t, id, p.MAC, addr, 3*time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := hostPing(addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host does not reach %s on %s: %v\n%s", addr, publicNet, err, out)
		}
		time.Sleep(3 * time.Second)
	}
}

// userDataFile writes text where the openstack CLI (inside the rig's root) reads it and returns that path.
func userDataFile(t *testing.T, text string) string {
	t.Helper()
	inRoot := fmt.Sprintf("/tmp/e2e-user-data-%d", time.Now().UnixNano())
	if err := os.WriteFile(rigPath("root", inRoot), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(rigPath("root", inRoot)) })
	return inRoot
}

// TestNetworkConfigDrive: --config-drive true --user-data F: the guest reads the instance uuid and the user data
// from the drive; deleting the server removes the drive.
func TestNetworkConfigDrive(t *testing.T) {
	requireNetworks(t)
	t.Parallel()
	host := sharedHost(t)
	line := fmt.Sprintf("hello from e2e %d", time.Now().UnixNano())
	ud := userDataFile(t, line+"\n")
	id, p := bootNet(t, host, fmt.Sprintf("e2e-cd-%d", time.Now().Unix()), privateNet, "--config-drive", "true",
		"--user-data", ud)
	if cd := field(serverShow(t, id), "config_drive"); cd != "True" && cd != "true" {
		t.Errorf("server show config_drive = %q, want True", cd)
	}
	// nova's libvirt driver and novabsd keep the drive as disk.config in the instance's directory.
	if _, err := os.Stat(filepath.Join(instanceDir(host, id), "disk.config")); err != nil {
		t.Errorf("no config drive file: %v", err)
	}
	waitConsole(t, id, "the uuid and user data from the config drive", 3*time.Minute, func(c string) bool {
		return strings.Contains(c, tinyimage.ConfigDriveUUIDPrefix+id) && strings.Contains(c, tinyimage.UserDataPrefix+line)
	})
	openstack(t, "server", "delete", "--wait", id)
	checkNoTrace(t, host, id, []string{p.ID}, nil)
}

// TestNetworkHotplug: `server add port` then `server remove port` on a running server: the port is bound to the
// host and the server, the guest sees the NIC come with the port's address; then the port is released (not
// deleted: the user made it), the guest sees the NIC go, and the host's tap goes with it.
func TestNetworkHotplug(t *testing.T) {
	requireNetworks(t)
	t.Parallel()
	host := sharedHost(t)
	stamp := time.Now().Unix()
	id, p0 := bootNet(t, host, fmt.Sprintf("e2e-hp-%d", stamp), privateNet)
	addr0 := checkBound(t, host, id, privateNet, p0)
	waitGuestAddr(t, id, p0.MAC, addr0, 3*time.Minute)

	extra := createPort(t, privateNet, fmt.Sprintf("e2e-hp-port-%d", stamp))
	openstack(t, "server", "add", "port", id, extra.ID)
	bound := waitPort(t, extra.ID, "bound to the server", 2*time.Minute, func(p port) bool {
		return p.HostID == host && p.DeviceID == id
	})
	if len(bound.IPs) == 0 {
		t.Fatalf("attached port %s has no fixed IP", extra.ID)
	}
	waitGuestAddr(t, id, extra.MAC, bound.IPs[0], 2*time.Minute)
	tap := network.TapName(extra.ID)
	if !tapExists(tap) || !slices.Contains(brIntPorts(t), tap) {
		t.Errorf("attached port %s: tap %s on host %v, in br-int %v", extra.ID, tap, tapExists(tap),
			slices.Contains(brIntPorts(t), tap))
	}
	if got := ipv4(serverAddrs(serverShow(t, id), privateNet)); !slices.Contains(got, bound.IPs[0]) {
		t.Errorf("server show lists %v on %s after the attach, want %s among them", got, privateNet, bound.IPs[0])
	}

	dev := nicDev(consoleLog(t, id), extra.MAC)
	openstack(t, "server", "remove", "port", id, extra.ID)
	waitPort(t, extra.ID, "released", 2*time.Minute, func(p port) bool { return p.HostID == "" && p.DeviceID == "" })
	waitConsole(t, id, "the NIC "+dev+" ("+extra.MAC+") gone", 2*time.Minute, func(c string) bool {
		return slices.Contains(tinyimage.Gone([]byte(c)), dev)
	})
	if tapExists(tap) || slices.Contains(brIntPorts(t), tap) {
		t.Errorf("detached port %s: tap %s still on the host or in br-int", extra.ID, tap)
	}
	if !portExists(t, extra.ID) {
		t.Errorf("the user's port %s was deleted by the detach", extra.ID)
	}
	if s := waitServer(t, id, "ACTIVE", time.Minute); slices.Contains(ipv4(serverAddrs(s, privateNet)), bound.IPs[0]) {
		t.Errorf("server show still lists the detached address %s", bound.IPs[0])
	}
}

// hostNet is a snapshot of the host's taps and br-int ports, to tell what a failed build left.
type hostNet struct{ taps, ovs []string }

func snapHostNet(t *testing.T, withOVS bool) hostNet {
	t.Helper()
	var h hostNet
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], "tap") {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			h.taps = append(h.taps, name)
		}
	}
	if withOVS {
		h.ovs = brIntPorts(t)
	}
	return h
}

// newSince lists what now has that before had not.
func newSince(before, now []string) []string {
	var out []string
	for _, n := range now {
		if !slices.Contains(before, n) {
			out = append(out, n)
		}
	}
	return out
}

// checkFault waits for the server's ERROR and checks its fault names the cause (one of words, any case).
func checkFault(t *testing.T, id string, timeout time.Duration, words ...string) string {
	t.Helper()
	s := waitServer(t, id, "ERROR", timeout)
	fault := fmt.Sprint(s["fault"])
	if s["fault"] == nil {
		t.Fatalf("server %s in ERROR without a fault", id)
	}
	for _, w := range words {
		if strings.Contains(strings.ToLower(fault), strings.ToLower(w)) {
			return fault
		}
	}
	t.Errorf("fault %q names none of %q", fault, words)
	return fault
}

// waitNoPorts waits until no port has the server as its device (a failed build's ports are released or
// deleted as the build is cleaned up).
func waitNoPorts(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := openstackJSON(t, "port", "list", "--device-id", id)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ports still owned by failed server %s after %v: %v", id, timeout, left)
		}
		time.Sleep(2 * time.Second)
	}
}

// TestNetworkFaultNeutronDown: Neutron stops while a build waits for its compute host; the build ends in ERROR
// with a fault naming the network, and once Neutron is back and the server deleted nothing of it remains.
func TestNetworkFaultNeutronDown(t *testing.T) {
	requireNetworks(t)
	n, host := netHost(t, "e2e-nd", "")
	before := snapHostNet(t, true)
	// The host is frozen so that the build message waits in its queue while Neutron goes away: nova-api needs
	// Neutron to accept the request, the compute host's build must meet it stopped.
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cont := func() { _ = n.cmd.Process.Signal(syscall.SIGCONT) }
	t.Cleanup(cont)
	id := bootServer(t, host, fmt.Sprintf("e2e-nd-%d", time.Now().Unix()), "--network", privateNet)
	// The build request is in the host's queue once the conductor has cast it (the instance's host is only set
	// by the compute host's claim, so the server itself cannot tell).
	deadline := time.Now().Add(time.Minute)
	for queuedFor(t, host) == 0 {
		if time.Now().After(deadline) {
			cont()
			t.Fatalf("no build request for server %s queued for %s within a minute", id, host)
		}
		time.Sleep(500 * time.Millisecond)
	}
	stopService(t, neutronService)
	cont()
	// nova-api itself needs Neutron to show a server without network info: the host's log says when the build
	// gave up, and Neutron is back before the server is looked at.
	n.waitLog(t, "Build of instance aborted", 6*time.Minute)
	if left := newSince(before.taps, snapHostNet(t, false).taps); len(left) > 0 {
		t.Errorf("taps left by the failed build: %v", left)
	}
	rig(t, "start")
	checkFault(t, id, 2*time.Minute, "neutron", "network", "port")
	if left := newSince(before.ovs, brIntPorts(t)); len(left) > 0 {
		t.Errorf("br-int ports left by the failed build: %v", left)
	}
	openstack(t, "server", "delete", "--wait", id)
	waitNoPorts(t, id, time.Minute)
}

// queuedFor counts the messages (ready or delivered, not acknowledged) in host's compute queues.
func queuedFor(t *testing.T, host string) int {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "-q", "list_queues", "-p", rigInfo["RABBIT_VHOST"], "name", "messages").Output()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == "compute."+host || f[0] == "compute-alt."+host) {
			var m int
			fmt.Sscan(f[1], &m)
			n += m
		}
	}
	return n
}

// ovnBridgeAway points ovn-controller at another integration bridge for the test: it stays up and its chassis
// alive (Neutron binds ports to the host), but it never claims the taps on br-int, so OVN never sets the ports
// up and Neutron never sends network-vif-plugged.
func ovnBridgeAway(t *testing.T) {
	t.Helper()
	old := strings.Trim(strings.TrimSpace(vsctl(t, "--if-exists", "get", "Open_vSwitch", ".", "external_ids:ovn-bridge")), `"`)
	t.Cleanup(func() {
		if old == "" {
			vsctl(t, "remove", "Open_vSwitch", ".", "external_ids", "ovn-bridge")
		} else {
			vsctl(t, "set", "Open_vSwitch", ".", "external_ids:ovn-bridge="+old)
		}
		vsctl(t, "--if-exists", "del-br", "br-e2e-void")
	})
	vsctl(t, "set", "Open_vSwitch", ".", "external_ids:ovn-bridge=br-e2e-void")
}

// TestNetworkFaultVIFPluggedNeverArrives: with vif_plugging_is_fatal the build fails after vif_plugging_timeout
// with a fault and leaves nothing; without it the server goes ACTIVE anyway, as nova's libvirt driver does.
func TestNetworkFaultVIFPluggedNeverArrives(t *testing.T) {
	requireNetworks(t)
	for _, fatal := range []bool{true, false} {
		t.Run(fmt.Sprintf("fatal=%v", fatal), func(t *testing.T) {
			_, host := netHost(t, "e2e-vif", fmt.Sprintf("vif_plugging_timeout = 20\nvif_plugging_is_fatal = %v\n", fatal))
			before := snapHostNet(t, true)
			ovnBridgeAway(t)
			id := bootServer(t, host, fmt.Sprintf("e2e-vif-%d", time.Now().Unix()), "--network", privateNet)
			if !fatal {
				waitServer(t, id, "ACTIVE", 4*time.Minute)
				return
			}
			checkFault(t, id, 4*time.Minute, "vif", "virtual interface", "network-vif-plugged")
			waitNoPorts(t, id, time.Minute)
			now := snapHostNet(t, true)
			if left := newSince(before.taps, now.taps); len(left) > 0 {
				t.Errorf("taps left by the failed build: %v", left)
			}
			if left := newSince(before.ovs, now.ovs); len(left) > 0 {
				t.Errorf("br-int ports left by the failed build: %v", left)
			}
		})
	}
}

// TestNetworkFaultPortBoundElsewhere: --port with a port already bound to another host: the build fails with a
// fault naming the port, and the port is left as it was (still bound there, no device, not deleted).
func TestNetworkFaultPortBoundElsewhere(t *testing.T) {
	requireNetworks(t)
	_, host := netHost(t, "e2e-pb", "")
	other := fmt.Sprintf("e2e-elsewhere-%d", time.Now().UnixNano()%100000)
	p := createPort(t, privateNet, fmt.Sprintf("e2e-pb-port-%d", time.Now().Unix()), "--host", other)
	if got := portShow(t, p.ID).HostID; got != other {
		t.Fatalf("port %s bound to %q, want %q", p.ID, got, other)
	}
	before := snapHostNet(t, true)
	id := bootServer(t, host, fmt.Sprintf("e2e-pb-%d", time.Now().Unix()), "--port", p.ID)
	checkFault(t, id, 4*time.Minute, p.ID, "bound", other)
	after := portShow(t, p.ID)
	if after.HostID != other || after.DeviceID != "" {
		t.Errorf("port %s after the failed build: binding host %q device %q, want %q and none", p.ID, after.HostID,
			after.DeviceID, other)
	}
	now := snapHostNet(t, true)
	if left := newSince(before.taps, now.taps); len(left) > 0 {
		t.Errorf("taps left by the failed build: %v", left)
	}
	if left := newSince(before.ovs, now.ovs); len(left) > 0 {
		t.Errorf("br-int ports left by the failed build: %v", left)
	}
}

// TestNetworkFaultOVSDown: with Open vSwitch stopped the tap cannot be plugged: ERROR with a fault naming it, no
// tap left, and the port novabsd created deleted.
func TestNetworkFaultOVSDown(t *testing.T) {
	requireNetworks(t)
	_, host := netHost(t, "e2e-ovs", "")
	before := snapHostNet(t, true)
	for _, svc := range ovsServices {
		stopService(t, svc)
	}
	id := bootServer(t, host, fmt.Sprintf("e2e-ovs-%d", time.Now().Unix()), "--network", privateNet)
	// Cleanups run last first: the switch is back before the server's delete unplugs whatever is left.
	t.Cleanup(func() { _ = rigCommand(context.Background(), "start").Run() })
	checkFault(t, id, 4*time.Minute, "ovs", "open vswitch", "plug", "br-int")
	if left := newSince(before.taps, snapHostNet(t, false).taps); len(left) > 0 {
		t.Errorf("taps left by the failed build: %v", left)
	}
	waitNoPorts(t, id, time.Minute)
	rig(t, "start")
	if left := newSince(before.ovs, brIntPorts(t)); len(left) > 0 {
		t.Errorf("br-int ports left by the failed build: %v", left)
	}
}
