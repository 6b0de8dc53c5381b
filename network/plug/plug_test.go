package plug

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden argv files under testdata/golden")

func TestMain(m *testing.M) {
	// On Linux as root the tests run in network and mount namespaces of their own (see ns_linux_test.go).
	if code, done := isolate(); done {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

const (
	testPortID   = "3f2a9c1e-8b7d-4e60-9a15-0c4d2b6e7f81"
	testInstance = "9d0c6b2a-1e3f-4a5b-8c7d-6e5f4a3b2c1d"
)

func testPort(kind Kind, bridge string) Port {
	return Port{Kind: kind, PortID: testPortID, MAC: "fa:16:3e:5d:7a:01", InstanceUUID: testInstance,
		Tap: "tap3f2a9c1e-8b", Bridge: bridge, MTU: 1442, Owner: -1}
}

// recorder is a device and a runFunc that only record what reaches them.
type recorder struct {
	calls []string
	fail  string // a run whose argv contains this fails
}

func (r *recorder) run(_ context.Context, argv []string) ([]byte, error) {
	line := strings.Join(argv, " ")
	r.calls = append(r.calls, line)
	if r.fail != "" && strings.Contains(line, r.fail) {
		return nil, &cmdError{Prog: filepath.Base(argv[0]), Stderr: "ovs-vsctl: no bridge named br-int", Err: errors.New("exit status 1")}
	}
	return nil, nil
}

func (r *recorder) ensureTap(_ context.Context, p Port) (bool, error) {
	r.calls = append(r.calls, "ensureTap "+p.Tap)
	return true, nil
}

func (r *recorder) deleteTap(_ context.Context, name string) error {
	r.calls = append(r.calls, "deleteTap "+name)
	return nil
}

func (r *recorder) joinBridge(_ context.Context, tap, bridge string) error {
	r.calls = append(r.calls, "joinBridge "+tap+" "+bridge)
	return nil
}

func recorded(cfg Config) (*Plugger, *recorder) {
	rec := &recorder{}
	return &Plugger{cfg: cfg, run: rec.run, dev: rec}, rec
}

func TestPlugRefusesBadInput(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Port)
		field string // "" for the vif type
	}{
		{"vif type", func(p *Port) { p.Kind = "vhostuser" }, ""},
		{"no vif type", func(p *Port) { p.Kind = "" }, ""},
		{"port id not a uuid", func(p *Port) { p.PortID = "port-1" }, "PortID"},
		{"port id upper case", func(p *Port) { p.PortID = strings.ToUpper(testPortID) }, "PortID"},
		{"port id carrying a column", func(p *Port) { p.PortID = testPortID + " type=internal" }, "PortID"},
		{"mac short", func(p *Port) { p.MAC = "fa:16:3e:5d:7a" }, "MAC"},
		{"mac carrying a column", func(p *Port) { p.MAC = "fa:16:3e:5d:7a:01 external_ids:x=y" }, "MAC"},
		{"instance uuid empty", func(p *Port) { p.InstanceUUID = "" }, "InstanceUUID"},
		{"instance uuid braces", func(p *Port) { p.InstanceUUID = "{" + testInstance + "}" }, "InstanceUUID"},
		{"tap too long", func(p *Port) { p.Tap = "tap3f2a9c1e-8b7d" }, "Tap"},
		{"tap an option", func(p *Port) { p.Tap = "--db=tcp:1:2" }, "Tap"},
		{"tap a path", func(p *Port) { p.Tap = "../tap0" }, "Tap"},
		{"tap with space", func(p *Port) { p.Tap = "tap 0" }, "Tap"},
		{"tap alias", func(p *Port) { p.Tap = "tap0:1" }, "Tap"},
		{"tap empty", func(p *Port) { p.Tap = "" }, "Tap"},
		{"bridge empty", func(p *Port) { p.Bridge = "" }, "Bridge"},
		{"bridge an assignment", func(p *Port) { p.Bridge = "br=int" }, "Bridge"},
		{"bridge is the tap", func(p *Port) { p.Bridge = p.Tap }, "Bridge"},
		{"mtu too small", func(p *Port) { p.MTU = 67 }, "MTU"},
		{"mtu too large", func(p *Port) { p.MTU = 65536 }, "MTU"},
		{"mtu negative", func(p *Port) { p.MTU = -1 }, "MTU"},
		{"datapath type", func(p *Port) { p.DatapathType = "dpdk" }, "DatapathType"},
		{"owner", func(p *Port) { p.Owner = -2 }, "Owner"},
	}
	for _, kind := range []Kind{KindOVS, KindBridge} {
		for _, tc := range tests {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				p := testPort(kind, "br-int")
				tc.edit(&p)
				pl, rec := recorded(Config{OVSDB: "unix:/run/openvswitch/db.sock"})
				err := pl.Plug(context.Background(), p)
				var pe *Error
				if !errors.As(err, &pe) || pe.Op != "plug" {
					t.Fatalf("Plug = %v, want a *Error for op plug", err)
				}
				if tc.field == "" {
					if !errors.Is(err, ErrUnsupportedKind) || !strings.Contains(err.Error(), string(p.Kind)+`"`) {
						t.Errorf("Plug = %v, want ErrUnsupportedKind naming %q", err, p.Kind)
					}
				} else {
					var fe *FieldError
					if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) ||
						!strings.Contains(err.Error(), tc.field) {
						t.Errorf("Plug = %v, want a FieldError naming %s", err, tc.field)
					}
				}
				if len(rec.calls) != 0 {
					t.Errorf("commands ran for a refused port: %q", rec.calls)
				}
			})
		}
	}
}

func TestUnplugRefusesBadInput(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Port)
		field string
	}{
		{"vif type", func(p *Port) { p.Kind = "macvtap" }, ""},
		{"tap an option", func(p *Port) { p.Tap = "-x" }, "Tap"},
		{"tap empty", func(p *Port) { p.Tap = "" }, "Tap"},
		{"bridge bad", func(p *Port) { p.Bridge = "br int" }, "Bridge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPort(KindOVS, "br-int")
			tc.edit(&p)
			pl, rec := recorded(Config{})
			err := pl.Unplug(context.Background(), p)
			var pe *Error
			if !errors.As(err, &pe) || pe.Op != "unplug" {
				t.Fatalf("Unplug = %v, want a *Error for op unplug", err)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Unplug = %v, does not name %s", err, tc.field)
			}
			if len(rec.calls) != 0 {
				t.Errorf("commands ran for a refused port: %q", rec.calls)
			}
		})
	}
	// Unplug needs no MAC, ids or bridge: what a half-recorded instance has is enough.
	pl, rec := recorded(Config{})
	if err := pl.Unplug(context.Background(), Port{Kind: KindOVS, Tap: "tap3f2a9c1e-8b"}); err != nil {
		t.Errorf("Unplug with only kind and tap = %v", err)
	}
	if len(rec.calls) != 2 {
		t.Errorf("Unplug ran %q, want del-port and deleteTap", rec.calls)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{OVSDB: "/run/openvswitch/db.sock"}, "OVSDB"},
		{Config{OVSDB: "unix:"}, "OVSDB"},
		{Config{OVSDB: "tcp:127.0.0.1:6640 --oneline"}, "OVSDB"},
		{Config{OVSDB: "unix:/x", Timeout: -time.Second}, "Timeout"},
	} {
		pl, rec := recorded(tc.cfg)
		for op, err := range map[string]error{
			"plug":   pl.Plug(context.Background(), testPort(KindOVS, "br-int")),
			"unplug": pl.Unplug(context.Background(), testPort(KindOVS, "br-int")),
			"check":  pl.Check(context.Background()),
		} {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("%s with %+v = %v, want a FieldError naming %s", op, tc.cfg, err, tc.field)
			}
		}
		if len(rec.calls) != 0 {
			t.Errorf("commands ran with a bad config: %q", rec.calls)
		}
	}
	// A bridge port needs no switch: a bad OVSDB does not stop it.
	pl, _ := recorded(Config{OVSDB: "bad"})
	if err := pl.Plug(context.Background(), testPort(KindBridge, "br0")); err != nil {
		t.Errorf("bridge Plug with an unused bad OVSDB = %v", err)
	}
}

// TestVsctlArgv pins the ovs-vsctl command lines (golden file): one transaction per plug, as os-vif writes it.
func TestVsctlArgv(t *testing.T) {
	cfg := Config{OVSDB: "unix:/run/openvswitch/db.sock", Vsctl: "ovs-vsctl", Timeout: 90 * time.Second}
	pl, rec := recorded(cfg)
	ctx := context.Background()
	p := testPort(KindOVS, "br-int")
	p.DatapathType = "netdev"
	must(t, pl.Plug(ctx, p))
	p.DatapathType, p.MTU = "", 0
	must(t, pl.Plug(ctx, p))
	must(t, pl.Unplug(ctx, p))
	must(t, pl.Check(ctx))
	// A failed transaction undoes the tap and the row it may have committed, without waiting on the switch.
	rec.fail = "add-port"
	if err := pl.Plug(ctx, p); err == nil || !strings.Contains(err.Error(), "no bridge named br-int") {
		t.Errorf("Plug with failing ovs-vsctl = %v, want its stderr", err)
	}
	// Timeout 0 is os-vif's 120 s, and Check never waits more than 5 s.
	pl.cfg = Config{}
	rec.fail = ""
	must(t, pl.Unplug(ctx, p))
	must(t, pl.Check(ctx))
	golden(t, "vsctl.argv", rec.calls)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func golden(t *testing.T, name string, lines []string) {
	t.Helper()
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("commands differ from %s:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}
