//go:build linux

package plug

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testBridge is the test switch's integration bridge, on OVS's userspace datapath (no kernel module here).
const testBridge = "br-nbt"

// ovsRig is a private Open vSwitch: ovsdb-server on a unix socket in a temporary directory, with a database
// made by ovsdb-tool, and ovs-vswitchd with the userspace datapath. The Debian service is never used.
type ovsRig struct {
	t     *testing.T
	dir   string
	sock  string
	bin   map[string]string
	procs map[string]*exec.Cmd
	done  map[string]chan struct{}
}

// ovsPackage is the Debian package the test needs (devstack/install-deps.sh must install it).
const ovsPackage = "openvswitch-switch"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("plugging real taps needs root")
		}
		t.Skip("plugging real taps needs root")
	}
	if !inNamespaces {
		if os.Getenv("CI") == "true" {
			t.Fatal("real taps are plugged only in the test's own network namespace (not under go test -fuzz)")
		}
		t.Skip("real taps are plugged only in the test's own network namespace (not under go test -fuzz)")
	}
}

func findOVS(t *testing.T) map[string]string {
	t.Helper()
	bins := map[string]string{}
	for _, n := range []string{"ovs-vsctl", "ovs-appctl", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd"} {
		p, err := exec.LookPath(n)
		if err != nil {
			for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"} {
				if _, serr := os.Stat(filepath.Join(d, n)); serr == nil {
					p, err = filepath.Join(d, n), nil
					break
				}
			}
		}
		if err != nil {
			t.Fatalf("%s not found: install the Debian package %s (apt-get install %s; devstack/install-deps.sh must list it)", n, ovsPackage, ovsPackage)
		}
		bins[n] = p
	}
	return bins
}

func startOVS(t *testing.T) *ovsRig {
	t.Helper()
	needRoot(t)
	bins := findOVS(t)
	schema := "/usr/share/openvswitch/vswitch.ovsschema"
	if _, err := os.Stat(schema); err != nil {
		t.Fatalf("%s missing: install the Debian package %s", schema, ovsPackage)
	}
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "nbovs")
	if err != nil {
		t.Fatal(err)
	}
	r := &ovsRig{t: t, dir: dir, sock: filepath.Join(dir, "db.sock"), bin: bins,
		procs: map[string]*exec.Cmd{}, done: map[string]chan struct{}{}}
	t.Cleanup(func() {
		r.stopAll()
		os.RemoveAll(dir)
	})
	if out, err := r.cmd(bins["ovsdb-tool"], "create", filepath.Join(dir, "conf.db"), schema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	r.start("ovsdb-server", filepath.Join(dir, "conf.db"), "--remote=punix:"+r.sock,
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"), "--log-file="+filepath.Join(dir, "ovsdb-server.log"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := r.vsctl("--no-wait", "init"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("ovsdb-server did not answer on %s: %v (log %s)", r.sock, err, r.log("ovsdb-server"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.start("ovs-vswitchd", "unix:"+r.sock, "--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"),
		"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"))
	// Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied the change: the switch runs.
	if out, err := r.vsctl("--", "add-br", testBridge, "--", "set", "Bridge", testBridge, "datapath_type=netdev"); err != nil {
		t.Fatalf("ovs-vswitchd did not make %s: %v: %s (log %s)", testBridge, err, out, r.log("ovs-vswitchd"))
	}
	return r
}

func (r *ovsRig) cmd(prog string, args ...string) *exec.Cmd {
	c := exec.Command(prog, args...)
	// Everything the daemons write (pid files, control sockets, bridges' management sockets) stays here.
	c.Env = append(os.Environ(), "OVS_RUNDIR="+r.dir, "OVS_LOGDIR="+r.dir, "OVS_DBDIR="+r.dir, "OVS_SYSCONFDIR="+r.dir)
	return c
}

func (r *ovsRig) start(name string, args ...string) {
	r.t.Helper()
	c := r.cmd(r.bin[name], args...)
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		r.t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }() // waited for by stop
	r.procs[name], r.done[name] = c, done
}

func (r *ovsRig) log(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, name+".log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop ends one daemon: ovs-vswitchd is asked to exit removing its datapath's devices, then each gets SIGTERM
// and, 5 s later, SIGKILL. A daemon that outlives that fails the test loudly.
func (r *ovsRig) stop(name string) {
	c, ok := r.procs[name]
	if !ok {
		return
	}
	delete(r.procs, name)
	done := r.done[name]
	if name == "ovs-vswitchd" {
		ctl := filepath.Join(r.dir, "ovs-vswitchd.ctl")
		r.cmd(r.bin["ovs-appctl"], "-t", ctl, "--timeout=5", "exit", "--cleanup").Run()
	}
	c.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(5 * time.Second):
	}
	c.Process.Kill()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		r.t.Errorf("%s (pid %d) could not be killed", name, c.Process.Pid)
	}
}

func (r *ovsRig) stopAll() {
	r.stop("ovs-vswitchd")
	r.stop("ovsdb-server")
}

func (r *ovsRig) vsctl(args ...string) (string, error) {
	c := r.cmd(r.bin["ovs-vsctl"], append([]string{"--db=unix:" + r.sock, "--timeout=20"}, args...)...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func (r *ovsRig) plugger() *Plugger {
	return New(Config{OVSDB: "unix:" + r.sock, Vsctl: r.bin["ovs-vsctl"], Timeout: 20 * time.Second})
}

// iface reads an OVS interface's external_ids and mtu_request; ok is false when there is no such interface.
func (r *ovsRig) iface(name string) (ids map[string]string, mtuRequest int, ok bool) {
	r.t.Helper()
	out, err := r.vsctl("--format=json", "--columns=external_ids,mtu_request", "--", "--if-exists", "list", "Interface", name)
	if err != nil {
		r.t.Fatal(err)
	}
	var tbl struct {
		Data [][]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &tbl); err != nil {
		r.t.Fatalf("ovs-vsctl list: %v: %s", err, out)
	}
	if len(tbl.Data) == 0 {
		return nil, 0, false
	}
	// external_ids: ["map", [[k, v], ...]]; mtu_request: a number or ["set", []].
	var m []json.RawMessage
	var pairs [][2]string
	if err := json.Unmarshal(tbl.Data[0][0], &m); err != nil || len(m) != 2 || json.Unmarshal(m[1], &pairs) != nil {
		r.t.Fatalf("external_ids %s", tbl.Data[0][0])
	}
	ids = map[string]string{}
	for _, p := range pairs {
		ids[p[0]] = p[1]
	}
	json.Unmarshal(tbl.Data[0][1], &mtuRequest)
	return ids, mtuRequest, true
}

// portBridge is the bridge holding port name, "" for none.
func (r *ovsRig) portBridge(name string) string {
	out, err := r.vsctl("port-to-br", name)
	if err != nil {
		return ""
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
