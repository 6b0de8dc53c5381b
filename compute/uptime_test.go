package compute

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor/host"
)

// uptimeRE is procps 4's `uptime` line (4.0.2 says "0 user", 4.0.7 "0 users"), as nova's libvirt driver returns it from get_host_uptime.
var uptimeRE = regexp.MustCompile(`^ (\d{2}):(\d{2}):(\d{2}) up ((?:\d+ days?, )?(?:[ \d]\d:\d{2}|\d+ min)), +(\d+) users?, ` +
	` load average: \d+\.\d{2}, \d+\.\d{2}, \d+\.\d{2}\n$`)

func TestUptimeOutput(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	avg := [3]float64{0, 0.01, 12.345}
	for _, tc := range []struct {
		up    time.Duration
		users int
		want  string
	}{
		{42 * time.Second, 0, " 03:04:05 up 0 min,  0 users,  load average: 0.00, 0.01, 12.35\n"},
		{59*time.Minute + 59*time.Second, 1, " 03:04:05 up 59 min,  1 user,  load average: 0.00, 0.01, 12.35\n"},
		{3*time.Hour + 4*time.Minute, 2, " 03:04:05 up  3:04,  2 users,  load average: 0.00, 0.01, 12.35\n"},
		{24*time.Hour + 5*time.Minute, 12, " 03:04:05 up 1 day, 5 min, 12 users,  load average: 0.00, 0.01, 12.35\n"},
		{50*time.Hour + 7*time.Minute, 1, " 03:04:05 up 2 days,  2:07,  1 user,  load average: 0.00, 0.01, 12.35\n"},
		{400*24*time.Hour + 13*time.Hour, -1, " 03:04:05 up 400 days, 13:00, ? users,  load average: 0.00, 0.01, 12.35\n"},
	} {
		got := uptimeOutput(at, host.Load{Uptime: tc.up, Users: tc.users, Averages: avg})
		if got != tc.want {
			t.Errorf("uptimeOutput(%v, %d users) = %q, want %q", tc.up, tc.users, got, tc.want)
		}
		if tc.users >= 0 && !uptimeRE.MatchString(got) {
			t.Errorf("%q does not look like uptime(1)", got)
		}
	}
}

// countDiscovery replaces host discovery with counting wrappers for the test's duration.
func countDiscovery(t *testing.T, discover func() (*host.Host, error)) (discovered, refreshed *atomic.Int64) {
	discovered, refreshed = new(atomic.Int64), new(atomic.Int64)
	oldD, oldR := discoverHost, refreshHost
	t.Cleanup(func() { discoverHost, refreshHost = oldD, oldR })
	discoverHost = func() (*host.Host, error) { discovered.Add(1); return discover() }
	refreshHost = func(h *host.Host) error { refreshed.Add(1); return oldR(h) }
	return discovered, refreshed
}

func quietService(t *testing.T) *Service {
	cfg := &conf.Config{}
	cfg.Default.Host = testHost
	cfg.Default.InstancesPath = t.TempDir()
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.cfg.Store(cfg)
	return s
}

// get_host_uptime reads uptime's own sources and nothing else: no host discovery, and the same line (but for
// the clock and the load) that `uptime` prints on this machine.
func TestGetHostUptimeDoesNoDiscovery(t *testing.T) {
	discovered, refreshed := countDiscovery(t, host.Discover)
	s := quietService(t)
	var got string
	for range 50 {
		v, err := s.getHostUptime(context.Background(), json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		got = v.(string)
		if !uptimeRE.MatchString(got) {
			t.Fatalf("get_host_uptime = %q, not uptime(1)'s format", got)
		}
	}
	if n, m := discovered.Load(), refreshed.Load(); n != 0 || m != 0 {
		t.Fatalf("get_host_uptime ran %d host discoveries and %d refreshes, want none", n, m)
	}
	if _, err := s.getHostUptime(context.Background(), json.RawMessage(`{"extra": 1}`)); err == nil {
		t.Error("get_host_uptime accepted an unknown argument")
	}

	path, err := exec.LookPath("uptime")
	if err != nil {
		t.Skip("no uptime(1) to compare with")
	}
	// The "up" part and the users must be uptime(1)'s; retry when a minute boundary falls between the two.
	for try := 0; ; try++ {
		out, err := exec.Command("env", "LANG=C", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.getHostUptime(context.Background(), json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		want, ours := uptimeRE.FindStringSubmatch(string(out)), uptimeRE.FindStringSubmatch(v.(string))
		if want == nil {
			t.Fatalf("uptime(1) printed %q, which the format test does not accept", out)
		}
		if want[4] == ours[4] && want[5] == ours[5] {
			return
		}
		if try == 2 {
			t.Fatalf("get_host_uptime = %q, uptime(1) = %q", v, out)
		}
		time.Sleep(time.Second)
	}
}

// The audit discovers the host once; later audits only refresh what changes, and set_host_enabled reuses the
// last audit's view.
func TestAuditDiscoversHostOnce(t *testing.T) {
	fake := &host.Host{Arch: "x86_64", VCPUs: 4, MemoryMB: 1, HypervisorType: "QEMU", HypervisorVersion: 9002000,
		CPU: host.CPU{Vendor: "Intel", Model: "cached-model", Topology: host.Topology{Sockets: 1, Cores: 2, Threads: 2}}}
	discovered, refreshed := countDiscovery(t, func() (*host.Host, error) { c := *fake; return &c, nil })
	s := quietService(t)
	cfg := s.cfg.Load()
	first, err := s.discover(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if first.host.MemoryMB != 1 {
		t.Errorf("first audit memory = %d, want the discovered 1", first.host.MemoryMB)
	}
	for range 3 {
		res, err := s.discover(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.host.CPU.Model != "cached-model" || res.host.HypervisorVersion != 9002000 {
			t.Errorf("later audit lost the discovered facts: %+v", res.host)
		}
		if res.host.MemoryMB <= 1 || res.host.Uptime <= 0 {
			t.Errorf("later audit did not re-read memory and uptime: %d MB, %v", res.host.MemoryMB, res.host.Uptime)
		}
	}
	if n, m := discovered.Load(), refreshed.Load(); n != 1 || m != 3 {
		t.Fatalf("4 audits ran %d discoveries and %d refreshes, want 1 and 3", n, m)
	}
	if s.audit.host.MemoryMB != 1 {
		t.Error("a refresh changed the cached discovery")
	}
	s.audit.last = first
	if res, err := s.auditedResources(cfg); err != nil || res != first {
		t.Errorf("auditedResources = %v, %v; want the last audit's", res, err)
	}
	if n := discovered.Load() + refreshed.Load(); n != 4 {
		t.Errorf("auditedResources read the host again (%d reads)", n-4)
	}
}

// BenchmarkGetHostUptime is the handler alone, as the RPC server calls it (pprof: -cpuprofile).
func BenchmarkGetHostUptime(b *testing.B) {
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	args := json.RawMessage(`{}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.getHostUptime(context.Background(), args); err != nil {
			b.Fatal(err)
		}
	}
}
