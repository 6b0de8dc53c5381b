package qemu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
)

// InjectNMI sends QMP inject-nmi, which delivers an NMI to every vCPU (x86)
// or raises the machine's NMI line.
func (d *Driver) InjectNMI(ctx context.Context, g hypervisor.Guest) error {
	v, err := d.running(ctx, g, "inject NMI")
	if err != nil {
		return err
	}
	if err := v.mon.Execute(ctx, "inject-nmi", nil, nil); err != nil {
		return fmt.Errorf("qemu: inject-nmi %s: %w", g.Name, err)
	}
	return nil
}

// running is g's process when the guest is running; a *StateError otherwise.
func (d *Driver) running(ctx context.Context, g hypervisor.Guest, op string) (*vm, error) {
	if err := g.Check(); err != nil {
		return nil, err
	}
	st, err := d.state(ctx, g)
	if err != nil {
		return nil, err
	}
	v := d.get(ctx, g)
	if st != hypervisor.Running || v == nil {
		return nil, &hypervisor.StateError{Guest: g.Name, Op: op, State: st}
	}
	return v, nil
}

// cpuInfo is one entry of query-cpus-fast.
type cpuInfo struct {
	CPUIndex int `json:"cpu-index"`
	ThreadID int `json:"thread-id"`
}

// blockStats is one entry of query-blockstats (only the counters read).
type blockStats struct {
	Device string `json:"device"`
	Stats  struct {
		RdBytes      int64 `json:"rd_bytes"`
		WrBytes      int64 `json:"wr_bytes"`
		RdOperations int64 `json:"rd_operations"`
		WrOperations int64 `json:"wr_operations"`
		FailedRd     int64 `json:"failed_rd_operations"`
		FailedWr     int64 `json:"failed_wr_operations"`
		FailedFlush  int64 `json:"failed_flush_operations"`
	} `json:"stats"`
}

// tapNameRe is what a tap's name may be before it becomes a sysfs path.
var tapNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

// Diagnostics reads a running guest's counters: per-vCPU CPU time from the
// vCPU threads (query-cpus-fast names them), disk counters from
// query-blockstats, NIC counters from the host side of each tap.
func (d *Driver) Diagnostics(ctx context.Context, g hypervisor.Guest) (hypervisor.Diagnostics, error) {
	v, err := d.running(ctx, g, "diagnostics")
	if err != nil {
		return hypervisor.Diagnostics{}, err
	}
	out := hypervisor.Diagnostics{State: hypervisor.Running}
	out.Uptime, out.HasUptime = processUptime(v.pid)
	var cpus []cpuInfo
	if err := v.mon.Execute(ctx, "query-cpus-fast", nil, &cpus); err != nil {
		return out, fmt.Errorf("qemu: query-cpus-fast %s: %w", g.Name, err)
	}
	for _, c := range cpus {
		t, ok := threadCPUTime(v.pid, c.ThreadID)
		out.CPUs = append(out.CPUs, hypervisor.CPUStats{ID: c.CPUIndex, Time: t, HasTime: ok})
	}
	var blocks []blockStats
	if err := v.mon.Execute(ctx, "query-blockstats", nil, &blocks); err != nil {
		return out, fmt.Errorf("qemu: query-blockstats %s: %w", g.Name, err)
	}
	for _, b := range blocks {
		target, ok := strings.CutPrefix(b.Device, "drive-")
		if !ok {
			continue // not a disk of the domain (argv names each drive-<target>)
		}
		s := b.Stats
		out.Disks = append(out.Disks, hypervisor.DiskStats{Target: target, ReadBytes: s.RdBytes,
			ReadRequests: s.RdOperations, WriteBytes: s.WrBytes, WriteRequests: s.WrOperations,
			Errors: s.FailedRd + s.FailedWr + s.FailedFlush, HasErrors: true})
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return out, err
	}
	if dom.Memory != nil {
		if mib, err := toMiB(dom.Memory.Value, dom.Memory.Unit); err == nil {
			out.MemoryKB = int64(mib) * 1024
		}
	}
	if dom.Devices != nil {
		for _, nic := range dom.Devices.Interfaces {
			if nic.Target == nil || nic.MAC == nil || !tapNameRe.MatchString(nic.Target.Dev) {
				continue
			}
			if st, ok := tapStats(filepath.Join("/sys/class/net", nic.Target.Dev, "statistics"), nic.MAC.Address); ok {
				st.Device = nic.Target.Dev
				out.NICs = append(out.NICs, st)
			}
		}
	}
	return out, nil
}

// tapStats reads a tap's counters from its sysfs statistics directory and
// turns them to the guest's side: what the tap transmitted the guest
// received. A tap without counters (gone, not Linux) is left out.
func tapStats(dir, mac string) (hypervisor.NICStats, bool) {
	read := func(name string) (int64, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil
	}
	st := hypervisor.NICStats{MAC: mac}
	for _, f := range []struct {
		file string
		dst  *int64
	}{
		{"tx_bytes", &st.RxBytes}, {"tx_packets", &st.RxPackets}, {"tx_errors", &st.RxErrors}, {"tx_dropped", &st.RxDrops},
		{"rx_bytes", &st.TxBytes}, {"rx_packets", &st.TxPackets}, {"rx_errors", &st.TxErrors}, {"rx_dropped", &st.TxDrops},
	} {
		n, ok := read(f.file)
		if !ok {
			return hypervisor.NICStats{}, false
		}
		*f.dst = n
	}
	return st, true
}
