package hypervisor

import "time"

// PowerState is a guest's power state as the hypervisor sees it. compute/
// maps it to Nova's power_state values.
type PowerState int

// Power states. NoState is the zero value: the hypervisor knows nothing
// certain about the guest.
const (
	NoState   PowerState = iota // unknown or being built
	Running                     // vCPUs may run
	Paused                      // vCPUs stopped, memory kept in the process
	Shutdown                    // no process; may be powered on again
	Crashed                     // process ended on a guest fault (triple fault, emulation error)
	Suspended                   // no process; running state saved to a file in the instance dir
)

var powerStateNames = [...]string{
	NoState:   "nostate",
	Running:   "running",
	Paused:    "paused",
	Shutdown:  "shutdown",
	Crashed:   "crashed",
	Suspended: "suspended",
}

// String returns the lower-case name used in logs and errors.
func (s PowerState) String() string {
	if s >= 0 && int(s) < len(powerStateNames) {
		return powerStateNames[s]
	}
	return "invalid"
}

// Info is a guest's state and resource use.
type Info struct {
	State    PowerState
	VCPUs    int           // vCPUs configured
	MemoryKB uint64        // memory configured
	CPUTime  time.Duration // CPU time consumed by the guest process; 0 when unknown
}

// RebootType selects how Reboot restarts a guest.
type RebootType int

// Reboot types.
const (
	// RebootSoft asks the guest OS to restart (ACPI); the driver falls back
	// to hard when the guest ignores it for the timeout given to Reboot.
	RebootSoft RebootType = iota
	// RebootHard restarts the guest process as after power off and on.
	RebootHard
)

// String returns "soft" or "hard".
func (r RebootType) String() string {
	if r == RebootHard {
		return "hard"
	}
	return "soft"
}
