package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/internal/freeport"
)

func loadSerialConf(t *testing.T, body string) *conf.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nova.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(conf.Sources{ConfigFiles: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestSerialConsoleConf(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		min, max int
		wantErr  string // "" for none
	}{
		{name: "nova's defaults", body: "", min: 10000, max: 19999},
		{name: "defaults enabled", body: "[serial_console]\nenabled = true\n", min: 10000, max: 19999},
		{name: "a range", body: "[serial_console]\nenabled = true\nport_range = 11000:11010\n", min: 11000, max: 11009},
		{name: "up to the last port", body: "[serial_console]\nenabled = true\nport_range = 65000:65536\n", min: 65000, max: 65535},
		{name: "not START:STOP", body: "[serial_console]\nenabled = true\nport_range = 10000-20000\n",
			wantErr: `nova.conf:3: [serial_console] port_range: "10000-20000" is not START:STOP`},
		{name: "spaces", body: "[serial_console]\nenabled = true\nport_range = 10000 : 20000\n", wantErr: "is not START:STOP"},
		{name: "start not below stop", body: "[serial_console]\nenabled = true\nport_range = 20000:20000\n",
			wantErr: `"20000:20000" must have 1 <= START < STOP <= 65536`},
		{name: "reversed", body: "[serial_console]\nenabled = true\nport_range = 20000:10000\n", wantErr: "START < STOP"},
		{name: "port zero", body: "[serial_console]\nenabled = true\nport_range = 0:100\n", wantErr: "1 <= START"},
		{name: "past 65536", body: "[serial_console]\nenabled = true\nport_range = 65000:70000\n", wantErr: "STOP <= 65536"},
		{name: "huge", body: "[serial_console]\nenabled = true\nport_range = 1:99999999999999999999999\n", wantErr: "port_range"},
		{name: "host name as proxyclient_address",
			body:    "[serial_console]\nenabled = true\nproxyclient_address = compute-1.example.org\n",
			wantErr: `nova.conf:3: [serial_console] proxyclient_address: "compute-1.example.org" is not an IP address`},
		{name: "option smuggled into proxyclient_address",
			body:    "[serial_console]\nenabled = true\nproxyclient_address = 127.0.0.1,server=off\n",
			wantErr: "proxyclient_address"},
		{name: "a bad range is not read while disabled", body: "[serial_console]\nport_range = 20000:10000\n"},
		{name: "a host name is fine while disabled",
			body: "[serial_console]\nproxyclient_address = compute-1.example.org\n", min: 10000, max: 19999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadSerialConf(t, tt.body)
			err := checkSerialConsole(cfg)
			if tt.wantErr != "" {
				var ce *conf.Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a *conf.Error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.max == 0 {
				return // not read
			}
			min, max, err := serialPortRange(cfg)
			if err != nil || min != tt.min || max != tt.max {
				t.Errorf("range = %d-%d (%v), want %d-%d", min, max, err, tt.min, tt.max)
			}
		})
	}
}

// TestNewRefusesBadSerialPortRange: the service does not start with a port_range it cannot use.
func TestNewRefusesBadSerialPortRange(t *testing.T) {
	cfg := loadSerialConf(t, "[DEFAULT]\nhost = c1\ntransport_url = rabbit://u:p@127.0.0.1:5672/\n"+
		"[serial_console]\nenabled = true\nport_range = 20000:10000\n")
	_, err := New(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "[serial_console] port_range") {
		t.Fatalf("New = %v, want the port_range refused", err)
	}
}

func TestSerialConsole(t *testing.T) {
	h := newHarness(t)
	h.drv.serialTCP = true
	base := freeport.Range(t, 43000, 2)
	cfg := *h.s.cfg.Load()
	cfg.SerialConsole = conf.SerialConsoleGroup{Enabled: true, PortRange: itoa(base) + ":" + itoa(base+2),
		ProxyclientAddress: "127.0.0.1", BaseURL: "ws://ctl:6083/"}
	h.s.cfg.Store(&cfg)
	call := func(m func(context.Context, json.RawMessage) (any, error), args map[string]any) (any, error) {
		raw, _ := json.Marshal(args)
		return m(context.Background(), raw)
	}

	a, b := "99999999-0000-4000-8000-00000000000a", "99999999-0000-4000-8000-00000000000b"
	inst := h.build(t, a, false)
	dom := h.drv.lastSpawn
	l, ok, err := hypervisor.SerialListen(dom)
	if err != nil || !ok || l != (hypervisor.SerialTCP{Listen: "127.0.0.1", Port: base}) {
		t.Fatalf("guest's serial console = %+v %v %v, want 127.0.0.1:%d", l, ok, err, base)
	}
	if s := dom.Devices.Serials[0]; s.Log == nil || s.Log.File != filepath.Join(h.dir, a, hypervisor.ConsoleLogFile) {
		t.Errorf("the TCP serial lost its console log: %+v", s.Log)
	}

	res, err := call(h.s.getSerialConsole, map[string]any{"instance": inst, "console_type": "serial"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"host": "127.0.0.1", "port": base, "internal_access_path": nil, "token": "tok-1",
		"access_url": "ws://ctl:6083/?token=tok-1"}
	if got := res.(map[string]any); len(got) != len(want) {
		t.Errorf("get_serial_console = %v, want %v", got, want)
	} else {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("get_serial_console[%s] = %v, want %v", k, got[k], v)
			}
		}
	}
	if n := len(h.cond.tokens); n != 1 {
		t.Fatalf("%d tokens authorized, want 1", n)
	}
	tok := h.cond.tokens[0]
	for k, v := range map[string]string{"console_type": "serial", "host": "127.0.0.1", "instance_uuid": a,
		"access_url_base": "ws://ctl:6083/"} {
		if got := fieldString(tok, k); got != v {
			t.Errorf("token %s = %q, want %q", k, got, v)
		}
	}
	for _, tt := range []struct {
		port, ctype string
		want        bool
	}{{itoa(base), "serial", true}, {itoa(base + 1), "serial", false}, {"", "serial", false}} {
		got, err := call(h.s.validateConsolePort, map[string]any{"instance": inst, "port": tt.port,
			"console_type": tt.ctype})
		if err != nil || got != tt.want {
			t.Errorf("validate_console_port(%q, %s) = %v, %v; want %v", tt.port, tt.ctype, got, err, tt.want)
		}
	}

	// A second guest gets the next port.
	h.build(t, b, false)
	if l, _, _ := hypervisor.SerialListen(h.drv.lastSpawn); l.Port != base+1 {
		t.Errorf("second guest's port = %d, want %d", l.Port, base+1)
	}
	// Deleting the first frees its port for the next guest.
	if err := h.deleteServer(a); err != nil {
		t.Fatal(err)
	}
	c := "99999999-0000-4000-8000-00000000000c"
	h.build(t, c, false)
	if l, _, _ := hypervisor.SerialListen(h.drv.lastSpawn); l.Port != base {
		t.Errorf("after the delete the next guest's port = %d, want the freed %d", l.Port, base)
	}

	// Disabled: ConsoleTypeUnavailable, as nova's manager answers before asking the driver.
	off := cfg
	off.SerialConsole.Enabled = false
	h.s.cfg.Store(&off)
	if _, err := call(h.s.getSerialConsole, map[string]any{"instance": h.cond.object(b),
		"console_type": "serial"}); !isRemote(err, "ConsoleTypeUnavailable") {
		t.Errorf("disabled: %v, want ConsoleTypeUnavailable", err)
	}
	// A guest built without a TCP console (serial disabled then, or an engine without them): unavailable too.
	d := "99999999-0000-4000-8000-00000000000d"
	dInst := h.build(t, d, false)
	h.s.cfg.Store(&cfg)
	if _, err := call(h.s.getSerialConsole, map[string]any{"instance": dInst,
		"console_type": "serial"}); !isRemote(err, "ConsoleTypeUnavailable") {
		t.Errorf("guest without a TCP console: %v, want ConsoleTypeUnavailable", err)
	}
}

// TestSerialConsoleNotReady: an instance still building (no domain yet) is InstanceNotReady, one that is not
// building and has no guest here InstanceNotFound, as nova's manager turns the driver's InstanceNotFound.
func TestSerialConsoleNotReady(t *testing.T) {
	h := newHarness(t)
	cfg := *h.s.cfg.Load()
	cfg.SerialConsole = conf.SerialConsoleGroup{Enabled: true, PortRange: "10000:20000",
		ProxyclientAddress: "127.0.0.1", BaseURL: "ws://ctl:6083/"}
	h.s.cfg.Store(&cfg)
	for _, tt := range []struct{ vm, want string }{{vmBuilding, "InstanceNotReady"}, {vmActive, "InstanceNotFound"}} {
		inst := instanceFromWire(t, "99999999-0000-4000-8000-0000000000e1")
		_ = inst.Set("vm_state", tt.vm)
		h.cond.put(inst)
		raw, _ := json.Marshal(map[string]any{"instance": inst, "console_type": "serial"})
		if _, err := h.s.getSerialConsole(context.Background(), raw); !isRemote(err, tt.want) {
			t.Errorf("vm_state %s: %v, want %s", tt.vm, err, tt.want)
		}
		raw, _ = json.Marshal(map[string]any{"instance": inst, "port": "10000", "console_type": "serial"})
		if _, err := h.s.validateConsolePort(context.Background(), raw); !isRemote(err, tt.want) {
			t.Errorf("validate_console_port, vm_state %s: %v, want %s", tt.vm, err, tt.want)
		}
	}
}

// FuzzSerialPortRange: any port_range is either refused with a *conf.Error or read as a range Ports.Pick takes.
func FuzzSerialPortRange(f *testing.F) {
	for _, s := range []string{"10000:20000", "1:2", "65535:65536", "0:1", "20000:10000", "1:99999999999999999999",
		"-1:5", "10000 : 20000", "", ":", "1:2:3", "０:１"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg := &conf.Config{}
		cfg.SerialConsole.PortRange = s
		min, max, err := serialPortRange(cfg)
		if err != nil {
			var ce *conf.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%q: %T %v, want a *conf.Error", s, err, err)
			}
			return
		}
		if min < 1 || max > 65535 || min > max {
			t.Fatalf("%q read as %d-%d", s, min, max)
		}
	})
}
