//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tinyimage "github.com/novabsd/novabsd/devstack/image"
	"github.com/novabsd/novabsd/network"
)

// Helpers for the networking cases of issue 11: the rig's Neutron/OVN, its one OVN chassis, Open vSwitch on the
// host, and what the tiny guest prints about its NICs.

// The rig's networks (rig.sh start makes them): a geneve tenant network with OVN DHCP, and a flat provider
// network the host reaches through br-ex.
const (
	privateNet = "private"
	publicNet  = "public"
)

// The rig's services stopped by the fault cases (names of their pid files under $STATE/pid).
var (
	neutronService = "neutron-api"
	ovsServices    = []string{"ovs-vswitchd", "ovsdb-server"}
)

// hasNetworks says whether the suite's rig runs Neutron/OVN; on a rig without them servers are made with
// --nic none, as before issue 11.
func hasNetworks() bool { return rigReleases[rigRelease].neutron }

// netArgs are the `server create` arguments that give a server a network where the test is not about it.
func netArgs() []string {
	if hasNetworks() {
		return []string{"--network", privateNet}
	}
	return []string{"--nic", "none"}
}

// hasNICArg reports whether args already say which network a server gets.
func hasNICArg(args []string) bool {
	for _, a := range args {
		if a == "--nic" || a == "--network" || a == "--port" || strings.HasPrefix(a, "--nic=") ||
			strings.HasPrefix(a, "--network=") || strings.HasPrefix(a, "--port=") {
			return true
		}
	}
	return false
}

// setChassis makes the rig's one OVN chassis be compute host host (ovn-controller's system-id and hostname), as
// on a real node: a port can only be bound, and its guest's NIC only come up, on the chassis host.
func setChassis(t *testing.T, host string) {
	t.Helper()
	if !hasNetworks() {
		return
	}
	rig(t, "chassis", host)
}

// requireNetworks fails (CI=true) or skips a test that needs Neutron/OVN on a rig without them.
func requireNetworks(t *testing.T) {
	t.Helper()
	requireRig(t)
	if hasNetworks() {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the %s rig has no Neutron/OVN", rigRelease)
	}
	t.Skipf("the %s rig has no Neutron/OVN (CI=true makes this fatal)", rigRelease)
}

// netHost starts a novabsd compute host for networked servers, maps it into the cell and makes it the chassis.
func netHost(t *testing.T, prefix, extra string) (*novabsd, string) {
	t.Helper()
	host := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%100000)
	n := startNovabsdConf(t, host, lifecycleExtra+extra)
	n.waitLog(t, "Compute service started", 90*time.Second)
	t.Cleanup(func() { deleteHost(t, host) })
	rig(t, "discover")
	setChassis(t, host)
	return n, host
}

// bootServer asks for a server on host without waiting; it is deleted at the end of the test.
func bootServer(t *testing.T, host, name string, args ...string) string {
	t.Helper()
	all := append([]string{"server", "create", "--flavor", "tiny", "--image", "tiny", "--availability-zone",
		"nova:" + host}, args...)
	srv := openstackJSON1(t, append(all, name)...)
	id := field(srv, "id")
	if id == "" {
		t.Fatalf("server create %s: no id in %v", name, srv)
	}
	t.Cleanup(func() { deleteServer(t, id) })
	return id
}

// serverAddrs returns the addresses `server show` lists for network net. The CLI prints addresses either as an
// object {"net": ["a", ...]} or, in older releases, as the string "net=a, b; net2=c".
func serverAddrs(s map[string]any, net string) []string {
	switch a := s["addresses"].(type) {
	case map[string]any:
		var out []string
		if l, ok := a[net].([]any); ok {
			for _, v := range l {
				if str, ok := v.(string); ok {
					out = append(out, str)
				}
			}
		}
		return out
	case string:
		for _, part := range strings.Split(a, ";") {
			name, addrs, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != net {
				continue
			}
			var out []string
			for _, v := range strings.Split(addrs, ",") {
				out = append(out, strings.TrimSpace(v))
			}
			return out
		}
	}
	return nil
}

// ipv4 keeps the IPv4 addresses of addrs.
func ipv4(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			out = append(out, a)
		}
	}
	return out
}

// port is what the tests read of a Neutron port (`openstack port show -f json`).
type port struct {
	ID, MAC, Status, DeviceID, DeviceOwner, HostID, VIFType string
	IPs                                                     []string
}

func portShow(t *testing.T, id string) port {
	t.Helper()
	return toPort(openstackJSON1(t, "port", "show", id))
}

func toPort(m map[string]any) port {
	p := port{ID: field(m, "id"), MAC: field(m, "mac_address"), Status: field(m, "status"),
		DeviceID: field(m, "device_id"), DeviceOwner: field(m, "device_owner"), HostID: field(m, "binding_host_id"),
		VIFType: field(m, "binding_vif_type")}
	if ips, ok := m["fixed_ips"].([]any); ok {
		for _, ip := range ips {
			if o, ok := ip.(map[string]any); ok {
				p.IPs = append(p.IPs, field(o, "ip_address"))
			}
		}
	}
	return p
}

// serverPorts lists the ports whose device_id is the server.
func serverPorts(t *testing.T, id string) []port {
	t.Helper()
	var out []port
	for _, r := range openstackJSON(t, "port", "list", "--device-id", id) {
		out = append(out, portShow(t, field(r, "ID")))
	}
	return out
}

// portExists says whether Neutron still knows the port.
func portExists(t *testing.T, id string) bool {
	t.Helper()
	for _, r := range openstackJSON(t, "port", "list") {
		if field(r, "ID") == id {
			return true
		}
	}
	return false
}

// createPort makes a port on network net (extra: more `port create` options); it is deleted at the end.
func createPort(t *testing.T, net, name string, extra ...string) port {
	t.Helper()
	args := append([]string{"port", "create", "--network", net}, extra...)
	p := toPort(openstackJSON1(t, append(args, name)...))
	if p.ID == "" {
		t.Fatalf("port create %s: no id", name)
	}
	t.Cleanup(func() { _ = rigCommand(context.Background(), "exec", "openstack", "port", "delete", p.ID).Run() })
	return p
}

// waitPort polls the port until ok accepts it.
func waitPort(t *testing.T, id, what string, timeout time.Duration, ok func(port) bool) port {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var p port
	for {
		p = portShow(t, id)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s not %s within %v: %+v", id, what, timeout, p)
		}
		time.Sleep(2 * time.Second)
	}
}

// tapExists says whether the host has the network device name.
func tapExists(name string) bool {
	return exec.Command("ip", "link", "show", "dev", name).Run() == nil
}

// ovsdb returns the ovsdb-server connection novabsd is told to use ([os_vif_ovs] ovsdb_connection of
// `rig.sh compute-conf`), else the rig's OVSDB from `rig.sh info`.
func ovsdb(t *testing.T) string {
	t.Helper()
	out, err := rigCommand(context.Background(), "compute-conf", "e2e-probe").Output()
	if err != nil {
		t.Fatalf("rig.sh compute-conf: %v", err)
	}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "os_vif_ovs" && strings.TrimSpace(k) == "ovsdb_connection" {
			return strings.TrimSpace(v)
		}
	}
	if sock := rigInfo["OVS_DB_SOCK_HOST"]; sock != "" {
		return "unix:" + sock
	}
	t.Fatalf("neither rig.sh compute-conf ([os_vif_ovs] ovsdb_connection) nor rig.sh info (OVS_DB_SOCK_HOST) names the ovsdb")
	return ""
}

// vsctl runs ovs-vsctl against the rig's switch and returns its output.
func vsctl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"ovs-vsctl", "--db=" + ovsdb(t), "--timeout=20"}, args...)
	if _, err := exec.LookPath("ovs-vsctl"); err != nil {
		// The host has no Open vSwitch tools: the root's, on the same database (its socket inside the root).
		argv = append([]string{"chroot", rigInfo["ROOT"], "ovs-vsctl", "--db=unix:/run/openvswitch/db.sock",
			"--timeout=20"}, args...)
	}
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-vsctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// brIntPorts lists the ports of the integration bridge.
func brIntPorts(t *testing.T) []string {
	t.Helper()
	return strings.Fields(vsctl(t, "list-ports", "br-int"))
}

// checkNoTrace checks that nothing of the server's ports stays on the host: no tap, no br-int port, no port
// novabsd created (created: their ids), and the ports the user made (kept) released but not deleted.
func checkNoTrace(t *testing.T, host, server string, created, kept []string) {
	t.Helper()
	ovsPorts := brIntPorts(t)
	for _, id := range append(slices.Clone(created), kept...) {
		tap := network.TapName(id)
		if tapExists(tap) {
			t.Errorf("tap %s of port %s still on the host", tap, id)
		}
		if slices.Contains(ovsPorts, tap) {
			t.Errorf("br-int still has port %s (Neutron port %s)", tap, id)
		}
	}
	for _, id := range created {
		if portExists(t, id) {
			t.Errorf("port %s that novabsd created for %s still exists", id, server)
		}
	}
	for _, id := range kept {
		p := portShow(t, id)
		if p.DeviceID != "" || p.HostID != "" {
			t.Errorf("user's port %s not released: device_id %q, binding host %q", id, p.DeviceID, p.HostID)
		}
	}
	if left := openstackJSON(t, "port", "list", "--device-id", server); len(left) != 0 {
		t.Errorf("ports still owned by deleted server %s: %v", server, left)
	}
	if _, err := os.Stat(instanceDir(host, server)); !os.IsNotExist(err) {
		t.Errorf("instance directory (with its config drive) still there: %v", err)
	}
	if drives, _ := filepath.Glob(filepath.Join(rigPath("compute", host, "instances"), "*", "*"+server+"*config*")); len(drives) > 0 {
		t.Errorf("config drive files left: %v", drives)
	}
}

// guestNIC is one address line of the tiny guest's console (tinyimage.Addresses: its init prints one per address
// a NIC got by DHCP).
type guestNIC struct{ Dev, MAC, Addr string }

func guestNICs(console string) []guestNIC {
	var out []guestNIC
	for _, a := range tinyimage.Addresses([]byte(console)) {
		out = append(out, guestNIC{Dev: a.NIC, MAC: a.MAC.String(), Addr: a.Prefix.Addr().String()})
	}
	return out
}

// waitConsole waits until the server's console satisfies ok, failing with its tail after timeout.
func waitConsole(t *testing.T, id, what string, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var c string
	for {
		c = consoleLog(t, id)
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			// The guest's own lines go on the first line of the message, which is what a CI summary keeps.
			t.Fatalf("server %s: console does not show %s within %v; the guest said %q\n%s", id, what, timeout,
				guestSaid(c), tail(c, 30))
		}
		time.Sleep(2 * time.Second)
	}
}

// guestSaid is what the tiny guest printed of its own on console c, its heartbeat left out.
func guestSaid(c string) []string {
	var said []string
	for _, l := range tinyimage.Lines([]byte(c), tinyimage.LinePrefix) {
		if !strings.HasPrefix(l, "alive, ") {
			said = append(said, l)
		}
	}
	return said
}

// waitGuestAddr waits until the guest prints addr on a NIC with mac.
func waitGuestAddr(t *testing.T, id, mac, addr string, timeout time.Duration) {
	t.Helper()
	waitConsole(t, id, fmt.Sprintf("address %s on the NIC %s", addr, mac), timeout, func(c string) bool {
		return slices.Contains(guestNICs(c), guestNIC{Dev: nicDev(c, mac), MAC: strings.ToLower(mac), Addr: addr})
	})
}

// nicDev is the guest's device name for mac in the console ("" if not seen).
func nicDev(console, mac string) string {
	for _, n := range guestNICs(console) {
		if n.MAC == strings.ToLower(mac) {
			return n.Dev
		}
	}
	return ""
}

// pingArgv is a command line that pings addr three times: ping(8) where the host has it, else busybox's (the
// host has busybox-static for the tiny image).
func pingArgv(addr string) []string {
	if _, err := exec.LookPath("ping"); err == nil {
		return []string{"ping", "-c", "3", "-W", "2", addr}
	}
	return []string{"busybox", "ping", "-c", "3", "-W", "2", addr}
}

// hostPing pings addr from the host's namespace (the rig's), where br-ex reaches the provider network.
func hostPing(addr string) ([]byte, error) {
	argv := pingArgv(addr)
	return exec.Command(argv[0], argv[1:]...).CombinedOutput()
}

// metadataNetnsPid finds a process running in the OVN metadata namespace of network netID (the haproxy the
// metadata agent starts in ovnmeta-<netID>), so that the test can enter that namespace: it sits on the network
// as an OVN port, behind geneve and OVN's logical switch like any guest.
func metadataNetnsPid(netID string) int {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscan(d.Name(), &pid); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmd, []byte("haproxy")) || !bytes.Contains(cmd, []byte(netID)) {
			continue
		}
		return pid
	}
	return 0
}
