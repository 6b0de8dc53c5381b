package hypervisor

import (
	"context"
	"time"
)

// Diagnoser is implemented by drivers that can report a running guest's
// counters. Use AsDiagnoser so absent support is an *UnsupportedError.
type Diagnoser interface {
	// Diagnostics reads g's counters now. A guest that is not running is a
	// *StateError (ErrInvalidState). A counter the engine cannot give is
	// left out (its Has flag false, or the device absent), never reported
	// as zero.
	Diagnostics(ctx context.Context, g Guest) (Diagnostics, error)
}

// AsDiagnoser returns d's diagnostics support or an *UnsupportedError.
func AsDiagnoser(d Driver) (Diagnoser, error) {
	if x, ok := d.(Diagnoser); ok && d.Capabilities().Diagnostics {
		return x, nil
	}
	return nil, &UnsupportedError{Driver: d.Name(), Op: "diagnostics"}
}

// Diagnostics are a guest's counters at one moment.
type Diagnostics struct {
	State PowerState
	// Uptime is how long the guest's engine process has run; HasUptime
	// false when unknown.
	Uptime    time.Duration
	HasUptime bool
	// MemoryKB is the memory the guest was given; 0 when unknown.
	MemoryKB int64
	// CPUs are the virtual CPUs in order.
	CPUs  []CPUStats
	Disks []DiskStats
	NICs  []NICStats
}

// CPUStats are one vCPU's counters.
type CPUStats struct {
	ID int
	// Time is the host CPU time the vCPU used; HasTime false when unknown.
	Time    time.Duration
	HasTime bool
}

// DiskStats are one disk's I/O counters, as the guest issued them.
type DiskStats struct {
	// Target is the disk's target device name in the domain ("vda").
	Target        string
	ReadBytes     int64
	ReadRequests  int64
	WriteBytes    int64
	WriteRequests int64
	// Errors counts failed requests; HasErrors false when the engine does
	// not count them.
	Errors    int64
	HasErrors bool
}

// NICStats are one network interface's counters from the guest's point of
// view: Rx is what the guest received (the host side's transmit).
type NICStats struct {
	MAC string
	// Device is the host side's interface (the tap).
	Device    string
	RxBytes   int64
	RxPackets int64
	RxErrors  int64
	RxDrops   int64
	TxBytes   int64
	TxPackets int64
	TxErrors  int64
	TxDrops   int64
}
