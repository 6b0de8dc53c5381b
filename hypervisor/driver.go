// Package hypervisor defines the engine that runs guests: one small Driver
// interface implemented by hypervisor/bhyve and hypervisor/qemu, the neutral
// guest Spec, typed errors, and a registry of command-line builders.
//
// The libvirt domain (libvirt.org/go/libvirtxml) built by hypervisor/domain
// is the one description every driver reads; Spawn writes it to the instance
// directory as DomainFile so PowerOn and Resume can rebuild the guest after a
// service restart. This package knows nothing of Nova or AMQP.
package hypervisor

import (
	"context"
	"io"
	"time"

	"libvirt.org/go/libvirtxml"
)

// Guest identifies a guest for every operation. compute/ derives all three
// fields from the instance, so drivers keep no registry of their own that
// could drift from it.
type Guest struct {
	UUID string // instance uuid
	Name string // domain and hypervisor VM name
	Dir  string // instance directory, holding DomainFile, ConsoleLogFile, state
}

// Driver is what compute/ needs from a hypervisor. Every method is safe for
// concurrent use on different guests; callers serialise operations on one
// guest (Nova's per-instance lock).
//
// Methods return errors wrapping ErrNotFound when the hypervisor does not
// know the guest, ErrInvalidState (usually a *StateError) when the power
// state forbids the operation, and ErrUnsupported (usually an
// *UnsupportedError) when the driver or host cannot do it.
type Driver interface {
	// Name is the driver's name, "bhyve" or "qemu".
	Name() string
	// Capabilities says which optional operations and which domain values
	// this driver supports on this host.
	Capabilities() Capabilities

	// Spawn writes dom to g.Dir/DomainFile and starts the guest. Disks
	// named in dom must exist. On error nothing the call created remains
	// (process, VM, tap attachment), except the instance files.
	Spawn(ctx context.Context, g Guest, dom *libvirtxml.Domain) error
	// Destroy stops the guest at once if running and frees every
	// hypervisor resource it holds. Instance files and disks are the
	// caller's. Destroying an unknown guest is not an error.
	Destroy(ctx context.Context, g Guest) error

	// PowerOff asks the guest to shut down (ACPI), waits up to graceful for
	// it, then stops it by force. graceful 0 forces at once.
	PowerOff(ctx context.Context, g Guest, graceful time.Duration) error
	// PowerOn starts a shut-down guest again from g.Dir/DomainFile.
	PowerOn(ctx context.Context, g Guest) error
	// Reboot restarts the guest; a soft reboot not done within graceful
	// becomes a hard one.
	Reboot(ctx context.Context, g Guest, how RebootType, graceful time.Duration) error
	// Pause stops the vCPUs, keeping the guest in memory.
	Pause(ctx context.Context, g Guest) error
	// Unpause resumes a paused guest.
	Unpause(ctx context.Context, g Guest) error
	// Suspend saves the running state to files beneath g.Dir (StateFile)
	// and stops the guest process; State then reports Suspended.
	Suspend(ctx context.Context, g Guest) error
	// Resume restores a suspended guest from its saved state.
	Resume(ctx context.Context, g Guest) error

	// Info returns the guest's power state and resource use. A guest whose
	// process vanished is reported Shutdown (or Crashed), never Running.
	Info(ctx context.Context, g Guest) (Info, error)
	// List returns the names of the guests this driver is running or holds
	// suspended state for.
	List(ctx context.Context) ([]string, error)
	// ConsoleOutput returns at most max bytes from the end of the guest's
	// console log (max <= 0: the whole log).
	ConsoleOutput(ctx context.Context, g Guest, max int) ([]byte, error)
	// HostResources reports the host's capacity as this driver sees it.
	HostResources(ctx context.Context) (HostResources, error)
}

// DomainChecker is implemented by drivers that can tell, without touching
// the host, whether they would run a domain: every value that would reach
// the engine's command line is checked against what this host's engine
// offers. A refusal is a *PropertyError (the domain asks for something the
// engine does not have), *UnsupportedError or *MissingError (the host
// lacks something). Callers check before they make disks or other state.
type DomainChecker interface {
	CheckDomain(ctx context.Context, dom *libvirtxml.Domain) error
}

// Capabilities lists what a driver can do on this host.
type Capabilities struct {
	// HypervisorType names the hypervisor as libvirt does and Nova reports
	// it (ComputeNode hypervisor_type): "bhyve", "QEMU".
	HypervisorType string
	Pause          bool // Pause/Unpause work
	Suspend        bool // Suspend/Resume work (bhyve: needs BHYVE_SNAPSHOT)
	SoftReboot     bool // Reboot(RebootSoft) reaches the guest OS
	Checkpoints    bool // the driver implements Checkpointer
	Migration      bool // the driver implements Migrator
	PCIPassthru    bool // host PCI devices can be given to guests
	USBPassthru    bool // host USB devices can be given to guests
	NICHotplug     bool // the driver implements NICHotplugger (NICs added to and removed from a running guest)
	NMI            bool // the driver implements NMIInjector (crash dumps)
	Diagnostics    bool // the driver implements Diagnoser (CPU, memory, disk and NIC counters)
	SerialTCP      bool // a domain's serial console of type "tcp" (listen) is served on that address
	StartPaused    bool // the driver implements PausedSpawner (a guest started with its vCPUs stopped)
	// Values lists the domain property values the driver accepts;
	// hypervisor/domain rejects others with a *PropertyError.
	Values Supported
}

// Supported lists, per image property, the values a driver accepts. The
// lists use Nova's spellings ("virtio", "sata", "usbtablet").
type Supported struct {
	Arch         []string // libvirt arch names
	DiskBus      []string // hw_disk_bus
	CDROMBus     []string // hw_cdrom_bus
	VIFModel     []string // hw_vif_model
	Firmware     []string // hw_firmware_type: "bios", "uefi"
	MachineType  []string // hw_machine_type; empty list: any value passes through
	RNGModel     []string // hw_rng_model
	PointerModel []string // hw_pointer_model
	VideoModel   []string // hw_video_model
	DiskFormat   []string // disk image formats the driver opens: "raw", "qcow2"
	MaxVCPUs     int      // 0: no driver limit
}

// Checkpoint describes one saved point of a guest (memory and disks).
type Checkpoint struct {
	Name    string
	Created time.Time
	Parent  string // checkpoint this one follows; "" for the first
	Running bool   // memory state was saved, so restore resumes execution
}

// Checkpointer is implemented by drivers that can save and restore guest
// checkpoints. Use AsCheckpointer rather than a type assertion so absent
// support is an *UnsupportedError.
type Checkpointer interface {
	CreateCheckpoint(ctx context.Context, g Guest, name string) (Checkpoint, error)
	ListCheckpoints(ctx context.Context, g Guest) ([]Checkpoint, error)
	RestoreCheckpoint(ctx context.Context, g Guest, name string) error
	DeleteCheckpoint(ctx context.Context, g Guest, name string) error
}

// MigrationOptions tunes a migration.
type MigrationOptions struct {
	Live      bool          // keep the guest running while memory is copied
	MaxDown   time.Duration // acceptable pause at switch-over for live migration; 0: driver default
	Bandwidth int64         // bytes per second; 0: unlimited
}

// Migrator is implemented by drivers that can move a guest's running state
// to another host over a stream the caller connects (compute/ arranges the
// transport and the disks).
type Migrator interface {
	// MigrateSend streams g's state to w and leaves g stopped on success;
	// on failure g keeps running here.
	MigrateSend(ctx context.Context, g Guest, w io.Writer, opts MigrationOptions) error
	// MigrateReceive starts g from dom with state read from r.
	MigrateReceive(ctx context.Context, g Guest, dom *libvirtxml.Domain, r io.Reader, opts MigrationOptions) error
}

// NICHotplugger is implemented by drivers that can add a network interface
// to a running guest and remove one from it. Use AsNICHotplugger so absent
// support is an *UnsupportedError.
type NICHotplugger interface {
	// AttachNIC adds nic (its tap already exists and is plugged) to the
	// running guest g and records it in g.Dir/DomainFile so later starts
	// keep it. Attaching a NIC whose MAC the guest already has is an error.
	AttachNIC(ctx context.Context, g Guest, nic NIC) error
	// DetachNIC removes the NIC with nic.MAC from g, waits until the guest
	// released it, and drops it from g.Dir/DomainFile. A guest without that
	// NIC is not an error.
	DetachNIC(ctx context.Context, g Guest, nic NIC) error
}

// TapOwner is implemented by drivers whose guests open their taps as a
// user other than the service's (QEMU after -runas): the network layer
// creates taps owned by that uid. A driver without it needs root-owned taps.
type TapOwner interface {
	// TapOwner returns the uid that must own a guest's taps, or -1 when
	// the guest keeps root's rights.
	TapOwner() (int, error)
}

// PausedSpawner is implemented by drivers that can start a guest with its vCPUs stopped, so that the guest's
// process opens its devices (taps, disks) while the caller waits for something else — the libvirt driver's start
// paused while it waits for Neutron's network-vif-plugged — and Unpause then runs it.
type PausedSpawner interface {
	// SpawnPaused is Spawn with the guest's vCPUs stopped. paused is false when the driver started the guest
	// running after all (it must watch the guest run, e.g. QEMU proving that KVM works on this host); Unpause is
	// then not needed.
	SpawnPaused(ctx context.Context, g Guest, dom *libvirtxml.Domain) (paused bool, err error)
}

// AsPausedSpawner returns d's paused start, when it has one.
func AsPausedSpawner(d Driver) (PausedSpawner, bool) {
	p, ok := d.(PausedSpawner)
	return p, ok && d.Capabilities().StartPaused
}

// AsNICHotplugger returns d's NIC hot-plug support or an *UnsupportedError.
func AsNICHotplugger(d Driver) (NICHotplugger, error) {
	if h, ok := d.(NICHotplugger); ok && d.Capabilities().NICHotplug {
		return h, nil
	}
	return nil, &UnsupportedError{Driver: d.Name(), Op: "network interface hot-plug"}
}

// AsCheckpointer returns d's checkpoint support or an *UnsupportedError.
func AsCheckpointer(d Driver) (Checkpointer, error) {
	if c, ok := d.(Checkpointer); ok && d.Capabilities().Checkpoints {
		return c, nil
	}
	return nil, &UnsupportedError{Driver: d.Name(), Op: "checkpoints"}
}

// AsMigrator returns d's migration support or an *UnsupportedError.
func AsMigrator(d Driver) (Migrator, error) {
	if m, ok := d.(Migrator); ok && d.Capabilities().Migration {
		return m, nil
	}
	return nil, &UnsupportedError{Driver: d.Name(), Op: "migration"}
}
