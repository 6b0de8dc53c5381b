package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
)

// TestGuestTools boots the tiny guest under TCG: an NMI reaches it without error, its diagnostics show the
// vCPU's CPU time, the root disk's reads and the memory it was given; once stopped, both refuse as
// ErrInvalidState.
func TestGuestTools(t *testing.T) {
	needQEMU(t)
	ctx := context.Background()
	d := tcgDriver(t)
	g, _ := bootTiny(t, d)
	if !d.Capabilities().NMI || !d.Capabilities().Diagnostics {
		t.Fatalf("capabilities %+v: NMI and Diagnostics expected", d.Capabilities())
	}
	if _, err := hypervisor.AsNMIInjector(d); err != nil {
		t.Fatal(err)
	}
	if err := d.InjectNMI(ctx, g); err != nil {
		t.Fatalf("inject NMI: %v", err)
	}
	diag, err := d.Diagnostics(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if len(diag.CPUs) != 1 || !diag.CPUs[0].HasTime || diag.CPUs[0].Time <= 0 {
		t.Errorf("CPUs %+v: one vCPU with CPU time expected", diag.CPUs)
	}
	if diag.MemoryKB != 256*1024 || !diag.HasUptime || diag.Uptime <= 0 {
		t.Errorf("memory %d KiB, uptime %v (%v)", diag.MemoryKB, diag.Uptime, diag.HasUptime)
	}
	var root *hypervisor.DiskStats
	for i := range diag.Disks {
		if diag.Disks[i].Target == "vda" {
			root = &diag.Disks[i]
		}
	}
	if root == nil || root.ReadBytes <= 0 || root.ReadRequests <= 0 || !root.HasErrors || root.Errors != 0 {
		t.Errorf("disks %+v: vda with reads and no errors expected", diag.Disks)
	}

	if err := d.PowerOff(ctx, g, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.InjectNMI(ctx, g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("NMI to a stopped guest: %v, want ErrInvalidState", err)
	}
	if _, err := d.Diagnostics(ctx, g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("diagnostics of a stopped guest: %v, want ErrInvalidState", err)
	}
}

// TestTapStats: the tap's transmit is the guest's receive; a tap without every counter is left out.
func TestTapStats(t *testing.T) {
	dir := t.TempDir()
	vals := map[string]int64{"rx_bytes": 1, "rx_packets": 2, "rx_errors": 3, "rx_dropped": 4,
		"tx_bytes": 5, "tx_packets": 6, "tx_errors": 7, "tx_dropped": 8}
	for name, v := range vals {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strconv.FormatInt(v, 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, ok := tapStats(dir, "fa:16:3e:00:00:01")
	want := hypervisor.NICStats{MAC: "fa:16:3e:00:00:01", RxBytes: 5, RxPackets: 6, RxErrors: 7, RxDrops: 8,
		TxBytes: 1, TxPackets: 2, TxErrors: 3, TxDrops: 4}
	if !ok || st != want {
		t.Errorf("tapStats %+v, %v; want %+v", st, ok, want)
	}
	if err := os.Remove(filepath.Join(dir, "tx_dropped")); err != nil {
		t.Fatal(err)
	}
	if _, ok := tapStats(dir, "fa:16:3e:00:00:01"); ok {
		t.Error("a tap missing a counter is reported")
	}
	for _, bad := range []string{"../etc", "", "tap/x", "a-very-long-tap-name"} {
		if tapNameRe.MatchString(bad) {
			t.Errorf("tap name %q accepted", bad)
		}
	}
}
