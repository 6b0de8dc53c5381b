package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/host"
)

// Binary is what the driver needs to know about one QEMU executable: its
// version, the machine types it offers and whether it can sandbox itself.
// Values that reach -machine are checked against Machines, so an image
// property can only ever name a machine this binary really has.
type Binary struct {
	Path    string
	Version int // host.EncodeVersion(major, minor, micro)
	// Machines lists every name -machine accepts, aliases included ("pc",
	// "q35" as well as "pc-q35-7.2"), sorted.
	Machines []string
	// Sandbox reports that the binary was built with seccomp and accepts
	// the -sandbox options the driver passes.
	Sandbox bool
	// USBHost and VFIO report that the binary has the usb-host device
	// (host USB passthrough, built with libusb) and the vfio-pci device
	// (host PCI passthrough), as -device help lists them.
	USBHost, VFIO bool
}

// RunWith reports whether the binary has -run-with user= (QEMU 9.1+, where
// -runas is deprecated) rather than -runas.
func (b *Binary) RunWith() bool { return b.Version >= host.EncodeVersion(9, 1, 0) }

// HasMachine reports whether name is one of the binary's machine types.
func (b *Binary) HasMachine(name string) bool {
	_, ok := slices.BinarySearch(b.Machines, name)
	return ok
}

type binaryKey struct {
	path  string
	size  int64
	mtime time.Time
}

var binaries struct {
	sync.Mutex
	m map[binaryKey]*Binary
}

// ProbeBinary runs path with -version, -machine help and a -sandbox parse
// check, once per binary: the result is cached by path, size and mtime, so
// an upgraded QEMU is probed again.
func ProbeBinary(ctx context.Context, path string) (*Binary, error) {
	bin, err := exec.LookPath(path)
	if err != nil {
		return nil, &hypervisor.MissingError{What: "qemu binary", Path: path, Err: err}
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return nil, &hypervisor.MissingError{What: "qemu binary", Path: bin, Err: err}
	}
	key := binaryKey{bin, fi.Size(), fi.ModTime()}
	binaries.Lock()
	defer binaries.Unlock()
	if b, ok := binaries.m[key]; ok {
		return b, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-version").Output()
	if err != nil {
		return nil, fmt.Errorf("qemu: %s -version: %w", bin, err)
	}
	v, err := host.ParseQEMUVersion(string(out))
	if err != nil {
		return nil, fmt.Errorf("qemu: %s: %w", bin, err)
	}
	out, err = exec.CommandContext(ctx, bin, "-machine", "help").Output()
	if err != nil {
		return nil, fmt.Errorf("qemu: %s -machine help: %w", bin, err)
	}
	machines, err := ParseMachineHelp(string(out))
	if err != nil {
		return nil, fmt.Errorf("qemu: %s: %w", bin, err)
	}
	// A QEMU without seccomp fails on -sandbox ("not enabled in this QEMU
	// binary"); one that is too old for a key fails on the key. -version
	// exits after the options are parsed, before anything is applied.
	sandbox := exec.CommandContext(ctx, bin, "-sandbox", sandboxOpts, "-version").Run() == nil
	b := &Binary{Path: bin, Version: v, Machines: machines, Sandbox: sandbox}
	// -device help lists each device as `name "usb-host", bus usb-bus`; a binary that cannot answer passes
	// nothing through.
	if out, err := exec.CommandContext(ctx, bin, "-device", "help").Output(); err == nil {
		b.USBHost = strings.Contains(string(out), `name "usb-host"`)
		b.VFIO = strings.Contains(string(out), `name "vfio-pci"`)
	}
	if binaries.m == nil {
		binaries.m = map[binaryKey]*Binary{}
	}
	for k := range binaries.m {
		if k.path == bin {
			delete(binaries.m, k) // the old binary's entry
		}
	}
	binaries.m[key] = b
	return b, nil
}

// sandboxOpts is QEMU's seccomp filter with every optional deny on: no
// obsolete syscalls, no setuid/setgid once running, no fork/exec, no
// scheduler or affinity changes. The probe checks a binary accepts it.
const sandboxOpts = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

// sandboxArg is the -sandbox value for a guest. QEMU installs the filter
// before it drops to -runas/-run-with's user, so with elevateprivileges=deny
// its own setgid/setuid would kill it (SIGSYS): a QEMU that changes user
// must be allowed those calls. Once it has changed every uid away from
// root the kernel has cleared its capabilities, and spawn=deny forbids
// executing a set-uid program, so the calls cannot raise its privileges.
func sandboxArg(dropsUser bool) string {
	if dropsUser {
		return "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny"
	}
	return sandboxOpts
}

// machineName is the shape of a QEMU machine type name. Anything else
// (commas, '=', spaces) would be read as further -machine options.
var machineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ParseMachineHelp parses `qemu-system-* -machine help`: a header line,
// then one machine per line, name first ("pc  Standard PC ... (alias of
// pc-i440fx-7.2)"); aliases have their own lines. It returns the names,
// sorted and unique.
func ParseMachineHelp(out string) ([]string, error) {
	lines := strings.Split(out, "\n")
	var names []string
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 || (i == 0 && strings.HasPrefix(line, "Supported machines")) {
			continue
		}
		if !machineName.MatchString(f[0]) {
			return nil, fmt.Errorf("-machine help line %d: %q is not a machine name", i+1, f[0])
		}
		names = append(names, f[0])
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("-machine help lists no machines")
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
