//go:build linux

package host

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReadLoad agrees with /proc/uptime and /proc/loadavg, which procps' uptime prints.
func TestReadLoadMatchesProc(t *testing.T) {
	for try := 0; ; try++ {
		l, err := ReadLoad()
		if err != nil {
			t.Fatal(err)
		}
		up, err := os.ReadFile("/proc/uptime")
		if err != nil {
			t.Fatal(err)
		}
		avg, err := os.ReadFile("/proc/loadavg")
		if err != nil {
			t.Fatal(err)
		}
		secs, err := ParseUptime(string(up))
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Duration(secs*float64(time.Second)) - l.Uptime; d < -10*time.Millisecond || d > time.Second { // /proc/uptime is in hundredths
			t.Errorf("uptime %v, /proc/uptime %q", l.Uptime, up)
		}
		f := strings.Fields(string(avg))
		same := true
		for i := range 3 {
			v, _ := strconv.ParseFloat(f[i], 64)
			same = same && v == l.Averages[i]
		}
		if same {
			break
		}
		if try == 3 { // the kernel updates the averages every 5 s; a retry sees both sides agree
			t.Fatalf("averages %v, /proc/loadavg %q", l.Averages, avg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Refresh re-reads memory and uptime and keeps the rest.
func TestRefreshKeepsDiscoveredFacts(t *testing.T) {
	h := &Host{CPU: CPU{Model: "kept"}, HypervisorVersion: 42, MemoryMB: 1}
	if err := Refresh(h); err != nil {
		t.Fatal(err)
	}
	if h.CPU.Model != "kept" || h.HypervisorVersion != 42 {
		t.Errorf("Refresh changed discovered facts: %+v", h)
	}
	if h.MemoryMB <= 1 || h.MemoryFreeMB <= 0 || h.Uptime <= 0 {
		t.Errorf("Refresh did not read memory and uptime: %+v", h)
	}
}
