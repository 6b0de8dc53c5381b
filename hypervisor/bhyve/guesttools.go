package bhyve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
)

// InjectNMI runs bhyvectl --inject-nmi, which raises an NMI on vCPU 0 (the
// one a guest's NMI handler, and so its crash dump, runs on).
func (d *Driver) InjectNMI(ctx context.Context, g hypervisor.Guest) error {
	if err := d.runningGuest(g, "inject NMI"); err != nil {
		return err
	}
	return d.ctl(ctx, g.Name, "--inject-nmi")
}

// runningGuest is nil when g's bhyve runs and is not paused; a *StateError
// otherwise.
func (d *Driver) runningGuest(g hypervisor.Guest, op string) error {
	if err := g.Check(); err != nil {
		return err
	}
	v := d.live(g)
	if v == nil {
		return d.notRunning(g, op)
	}
	v.mu.Lock()
	st := v.state
	v.mu.Unlock()
	if st != hypervisor.Running {
		return &hypervisor.StateError{Guest: g.Name, Op: op, State: st}
	}
	return nil
}

// statTotalRuntime is the VMM statistic of a vCPU's time in the guest, in
// TSC ticks on amd64 (vmm.c adds rdtsc() deltas around each VM entry).
const statTotalRuntime = "vcpu total runtime"

// Diagnostics reads each vCPU's VMM statistics (bhyvectl --get-stats) for
// its time in the guest, converted from TSC ticks where the TSC frequency
// is known. bhyve keeps no disk or NIC counters of its own; they are left
// out.
func (d *Driver) Diagnostics(ctx context.Context, g hypervisor.Guest) (hypervisor.Diagnostics, error) {
	if err := d.runningGuest(g, "diagnostics"); err != nil {
		return hypervisor.Diagnostics{}, err
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return hypervisor.Diagnostics{}, err
	}
	out := hypervisor.Diagnostics{State: hypervisor.Running}
	if mib, err := memoryMiB(dom); err == nil {
		out.MemoryKB = int64(mib) * 1024
	}
	ncpu := 1
	if dom.VCPU != nil && dom.VCPU.Value > 0 {
		ncpu = int(dom.VCPU.Value)
	}
	freq, haveFreq := tscFrequency()
	for i := 0; i < ncpu; i++ {
		raw, err := d.ctlOutput(ctx, g.Name, "--cpu="+strconv.Itoa(i), "--get-stats")
		if err != nil {
			return out, err
		}
		stats, err := ParseVMMStats(raw)
		if err != nil {
			return out, fmt.Errorf("bhyvectl --get-stats --vm=%s --cpu=%d: %w", g.Name, i, err)
		}
		c := hypervisor.CPUStats{ID: i}
		if ticks, ok := stats[statTotalRuntime]; ok && haveFreq && ticks >= 0 {
			c.Time, c.HasTime = ticksToDuration(uint64(ticks), freq), true
		}
		out.CPUs = append(out.CPUs, c)
	}
	return out, nil
}

// ticksToDuration converts TSC ticks at freq Hz without overflowing for any
// runtime a host reaches.
func ticksToDuration(ticks, freq uint64) time.Duration {
	sec := ticks / freq
	rem := ticks % freq
	return time.Duration(sec)*time.Second + time.Duration(rem*uint64(time.Second)/freq)
}

// ctlOutput runs bhyvectl --vm=name args and returns its standard output.
func (d *Driver) ctlOutput(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.cfg.Bhyvectl, append([]string{"--vm=" + name}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bhyvectl %s --vm=%s: %w: %s", strings.Join(args, " "), name, err, tail(stderr.String(), 256))
	}
	return out, nil
}

// ErrBadStats is wrapped by ParseVMMStats's errors.
var ErrBadStats = errors.New("bhyve: malformed VMM statistics")

// ParseVMMStats reads bhyvectl --get-stats output: a "vcpuN stats:" header,
// then one "description<TAB>value" line per statistic (printf "%-40s\t%ld";
// descriptions contain spaces). Values are signed as printed. A line that is
// neither is an error wrapping ErrBadStats.
func ParseVMMStats(out []byte) (map[string]int64, error) {
	stats := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \r")
		if strings.TrimSpace(line) == "" || (strings.HasPrefix(line, "vcpu") && strings.HasSuffix(line, " stats:")) {
			continue
		}
		i := strings.LastIndexByte(line, '\t')
		if i < 0 {
			return nil, fmt.Errorf("%w: line %d has no tab: %.60q", ErrBadStats, n, line)
		}
		desc := strings.TrimSpace(line[:i])
		v, err := strconv.ParseInt(strings.TrimSpace(line[i+1:]), 10, 64)
		if desc == "" || err != nil {
			return nil, fmt.Errorf("%w: line %d: %.60q", ErrBadStats, n, line)
		}
		stats[desc] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadStats, err)
	}
	return stats, nil
}
