//go:build freebsd

package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dmesgBootPath holds the kernel messages of the current boot, including
// the CPU feature lines.
const dmesgBootPath = "/var/run/dmesg.boot"

// oidKind says how to read an OID with sysctl(3).
type oidKind int

const (
	oidString oidKind = iota
	oidInt32          // int and u_int
	oidUint64         // u_long
	oidTimeval
)

var freebsdOIDKinds = map[string]oidKind{
	"kern.hostname": oidString, "kern.osrelease": oidString, "hw.model": oidString,
	"hw.machine_arch": oidString, "kern.boottime": oidTimeval, "hw.physmem": oidUint64,
}

// deviceTools are the base-system commands whose output lists the host's
// devices, by absolute path so that no $PATH entry can stand in for them.
// Each is optional: a jail has no /dev/pci, a host may have no USB or ZFS.
var deviceTools = []struct {
	path string
	args []string
	dst  func(*FreeBSDOutputs) *string
}{
	{"/usr/sbin/pciconf", []string{"-lv"}, func(o *FreeBSDOutputs) *string { return &o.Pciconf }},
	// dump_device_desc prints each device's list line followed by its
	// descriptor, which carries the vendor and product ids.
	{"/usr/sbin/usbconfig", []string{"dump_device_desc"}, func(o *FreeBSDOutputs) *string { return &o.Usbconfig }},
	{"/sbin/ifconfig", []string{"-a"}, func(o *FreeBSDOutputs) *string { return &o.Ifconfig }},
	{"/sbin/zpool", []string{"list", "-Hp"}, func(o *FreeBSDOutputs) *string { return &o.ZpoolList }},
}

// deviceToolTimeout bounds each device listing; usbconfig reads every
// device's descriptors and a wedged device can stall it.
const deviceToolTimeout = 30 * time.Second

// Discover reads this FreeBSD host through sysctl(3),
// /var/run/dmesg.boot and the device listings of deviceTools. Features
// fall back to CPUID/ID registers when the boot messages are gone.
func Discover() (*Host, error) {
	s, err := readFreeBSDSysctls()
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	dmesg, _ := os.ReadFile(dmesgBootPath) // absent in jails; features fall back below
	o := FreeBSDOutputs{Sysctl: s, DmesgBoot: string(dmesg)}
	for _, t := range deviceTools {
		out, err := runDeviceTool(t.path, t.args...)
		if err != nil {
			o.Problems = append(o.Problems, err.Error())
			continue
		}
		*t.dst(&o) = out
	}
	h, err := ParseFreeBSDOutputs(o, time.Now())
	if err != nil {
		return nil, fmt.Errorf("host discovery: %w", err)
	}
	if len(h.CPU.Features) == 0 {
		h.CPU.Features = cpuidFeatures()
	}
	return h, nil
}

func readFreeBSDSysctls() (FreeBSDSysctls, error) {
	s := FreeBSDSysctls{}
	for _, oid := range FreeBSDOIDs {
		var v string
		var err error
		switch freebsdOIDKinds[oid] {
		case oidString:
			v, err = unix.Sysctl(oid)
		case oidUint64:
			var n uint64
			n, err = unix.SysctlUint64(oid)
			v = strconv.FormatUint(n, 10)
		case oidTimeval:
			var tv *unix.Timeval
			tv, err = unix.SysctlTimeval(oid)
			if err == nil {
				v = strconv.FormatInt(int64(tv.Sec), 10)
			}
		default:
			var n uint32
			n, err = unix.SysctlUint32(oid)
			v = strconv.FormatInt(int64(int32(n)), 10)
			if oid == "hw.vmm.svm.features" || oid == "hw.vmm.maxcpu" ||
				oid == "vm.stats.vm.v_free_count" || oid == "vm.stats.vm.v_inactive_count" {
				v = strconv.FormatUint(uint64(n), 10) // u_int
			}
		}
		if errors.Is(err, unix.ENOENT) {
			continue // hw.vmm.* before vmm.ko loads
		}
		if err != nil {
			return nil, fmt.Errorf("sysctl %s: %w", oid, err)
		}
		s[oid] = v
	}
	return s, nil
}

// runDeviceTool runs one listing command with a fixed argument list and a
// minimal environment, returning its standard output.
func runDeviceTool(path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deviceToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/sbin:/bin:/usr/sbin:/usr/bin", "LC_ALL=C"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return "", fmt.Errorf("%s %s: %w (%s)", path, strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

// DiscoverUSB lists the host's USB devices from `usbconfig
// dump_device_desc` (the list lines and the descriptors that carry the
// vendor and product ids), root hubs left out. sysfsRoot is Linux's and
// is not used here. usbconfig gives no port paths, so Port is "".
func DiscoverUSB(sysfsRoot string) ([]USBDevice, error) {
	out, err := runDeviceTool("/usr/sbin/usbconfig", "dump_device_desc")
	if err != nil {
		return nil, fmt.Errorf("usb discovery: %w", err)
	}
	return usbconfigDevices(out)
}

// DiscoverPCI lists the host's PCI devices from `pciconf -lv`, ordered by
// address; a device reserved for guests has Driver "ppt". sysfsRoot is
// Linux's and is not used here. pciconf tells neither NUMA nodes nor
// SR-IOV roles: NUMANode is -1, PhysFn "" and TotalVFs 0.
func DiscoverPCI(sysfsRoot string) ([]PCIDevice, error) {
	out, err := runDeviceTool("/usr/sbin/pciconf", "-lv")
	if err != nil {
		return nil, fmt.Errorf("pci discovery: %w", err)
	}
	return pciconfDevices(out)
}
