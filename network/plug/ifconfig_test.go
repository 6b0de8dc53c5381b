package plug

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// bsdRig runs the FreeBSD code path (ifconfigDevice) against testdata's ifconfig stand-in, with ovs-vsctl's
// stand-in recording the switch's transactions in the same log.
type bsdRig struct {
	t     *testing.T
	state string
	pl    *Plugger
}

func newBSDRig(t *testing.T) *bsdRig {
	t.Helper()
	state := t.TempDir()
	t.Setenv("IFCONFIG_STANDIN_STATE", state)
	abs := func(n string) string {
		p, err := filepath.Abs(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := Config{OVSDB: "unix:/var/run/openvswitch/db.sock", Vsctl: abs("ovs-vsctl-standin"), Timeout: 30 * time.Second}
	return &bsdRig{t: t, state: state, pl: &Plugger{cfg: cfg, run: runCommand,
		dev: &ifconfigDevice{bin: abs("ifconfig-standin"), run: runCommand}}}
}

// ifconfig runs the stand-in directly, for setting a scene; its lines are dropped from the log.
func (r *bsdRig) ifconfig(args ...string) {
	r.t.Helper()
	d := r.pl.dev.(*ifconfigDevice)
	if _, err := d.ifconfig(context.Background(), args...); err != nil {
		r.t.Fatal(err)
	}
	os.Remove(filepath.Join(r.state, "ifconfig.log"))
}

func (r *bsdRig) log() []string {
	b, err := os.ReadFile(filepath.Join(r.state, "ifconfig.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		r.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// ifaces lists the stand-in's interfaces with their settings ("tap3f2a9c1e-8b mtu=1442 up=1").
func (r *bsdRig) ifaces() []string {
	ents, _ := os.ReadDir(filepath.Join(r.state, "if"))
	var out []string
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(r.state, "if", e.Name()))
		f := strings.Fields(string(b))
		out = append(out, e.Name()+" "+strings.Join(f[1:], " "))
	}
	return out
}

func (r *bsdRig) members(bridge string) []string {
	b, _ := os.ReadFile(filepath.Join(r.state, "members", bridge))
	return strings.Fields(string(b))
}

func TestFreeBSDPlugOVS(t *testing.T) {
	r := newBSDRig(t)
	ctx := context.Background()
	p := testPort(KindOVS, "br-int")
	p.DatapathType = "netdev"
	r.ifconfig("tap", "create") // tap0 is taken: the clone is tap1, renamed
	must(t, r.pl.Plug(ctx, p))
	if got, want := r.ifaces(), []string{"tap0 mtu=1500 up=0", "tap3f2a9c1e-8b mtu=1442 up=1"}; !slices.Equal(got, want) {
		t.Errorf("after plug: %q, want %q", got, want)
	}
	must(t, r.pl.Plug(ctx, p)) // idempotent: no new clone
	if got := r.ifaces(); len(got) != 2 {
		t.Errorf("after re-plug: %q", got)
	}
	must(t, r.pl.Unplug(ctx, p))
	must(t, r.pl.Unplug(ctx, p)) // already gone
	if got, want := r.ifaces(), []string{"tap0 mtu=1500 up=0"}; !slices.Equal(got, want) {
		t.Errorf("after unplug: %q, want %q", got, want)
	}
	golden(t, "freebsd-ovs.argv", r.log())
}

func TestFreeBSDPlugBridge(t *testing.T) {
	r := newBSDRig(t)
	ctx := context.Background()
	r.ifconfig("bridge", "create")
	p := testPort(KindBridge, "bridge0")
	p.MTU = 0
	must(t, r.pl.Plug(ctx, p))
	must(t, r.pl.Plug(ctx, p)) // already a member: no second addm
	if got := r.members("bridge0"); !slices.Equal(got, []string{p.Tap}) {
		t.Errorf("bridge0 members %q, want the tap", got)
	}
	must(t, r.pl.Unplug(ctx, p))
	if got := r.members("bridge0"); len(got) != 0 {
		t.Errorf("bridge0 members after unplug %q", got)
	}
	if got, want := r.ifaces(), []string{"bridge0 mtu=1500 up=0"}; !slices.Equal(got, want) {
		t.Errorf("after unplug: %q, want the bridge alone", got)
	}
	golden(t, "freebsd-bridge.argv", r.log())
}

// TestFreeBSDPlugFailures: every failure names its cause and leaves no tap (golden logs show the undo).
func TestFreeBSDPlugFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(r *bsdRig)
		port   func() Port
		env    map[string]string
		want   string
		is     error
		ifaces []string
	}{
		{name: "bridge missing", port: func() Port { return testPort(KindBridge, "bridge7") },
			want: "no such bridge: bridge7", is: ErrNoBridge},
		{name: "bridge not a bridge", setup: func(r *bsdRig) { r.ifconfig("tap", "create") },
			port: func() Port { return testPort(KindBridge, "tap0") }, want: "tap0 is not a bridge",
			ifaces: []string{"tap0 mtu=1500 up=0"}},
		{name: "rename fails", port: func() Port { return testPort(KindOVS, "br-int") },
			env: map[string]string{"IFCONFIG_STANDIN_FAIL": "name"}, want: "SIOCSIFNAME"},
		{name: "mtu fails", port: func() Port { return testPort(KindOVS, "br-int") },
			env: map[string]string{"IFCONFIG_STANDIN_FAIL": "mtu"}, want: "SIOCSIFMTU"},
		{name: "switch fails", port: func() Port { return testPort(KindOVS, "br-int") },
			env: map[string]string{"VSCTL_STANDIN_FAIL": "1"}, want: "ovs-vsctl: no bridge named br-int"},
		{name: "name taken by a bridge", setup: func(r *bsdRig) {
			r.ifconfig("bridge", "create")
			r.ifconfig("bridge0", "name", "tap3f2a9c1e-8b")
		}, port: func() Port { return testPort(KindOVS, "br-int") }, want: "exists and is not a tap",
			ifaces: []string{"tap3f2a9c1e-8b mtu=1500 up=0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newBSDRig(t)
			if tc.setup != nil {
				tc.setup(r)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := r.pl.Plug(context.Background(), tc.port())
			var pe *Error
			if !errors.As(err, &pe) || pe.Op != "plug" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Plug = %v, want a plug *Error saying %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Plug = %v, does not wrap %v", err, tc.is)
			}
			if got := r.ifaces(); !slices.Equal(got, tc.ifaces) {
				t.Errorf("interfaces left: %q, want %q", got, tc.ifaces)
			}
			golden(t, "freebsd-fail-"+strings.ReplaceAll(tc.name, " ", "-")+".argv", r.log())
		})
	}
}

func TestParseIfconfig(t *testing.T) {
	out := "bridge0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n" +
		"\tether 58:9c:fc:10:ff:01\n\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15\n" +
		"\tmember: tap1 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n\t        ifmaxaddr 0 port 6 priority 128 path cost 2000000\n" +
		"\tmember: vtnet0 flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n" +
		"\tgroups: bridge vm-switch\n\tnd6 options=9<PERFORMNUD,IFDISABLED>\n"
	info := parseIfconfig([]byte(out))
	if !slices.Equal(info.groups, []string{"bridge", "vm-switch"}) || !slices.Equal(info.members, []string{"tap1", "vtnet0"}) {
		t.Errorf("parseIfconfig = %+v", info)
	}
	if info := parseIfconfig(nil); info.inGroup("tap") || info.hasMember("") {
		t.Errorf("empty report = %+v", info)
	}
}

func FuzzParseIfconfig(f *testing.F) {
	f.Add([]byte("tap0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n\tgroups: tap\n"))
	f.Add([]byte("\tmember: tap1 flags=143<LEARNING>\n\tmember:\n\tgroups:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info := parseIfconfig(b)
		for _, s := range append(info.groups, info.members...) {
			if s == "" || strings.ContainsAny(s, " \t\n") {
				t.Errorf("parsed %q from %q", s, b)
			}
		}
	})
}
