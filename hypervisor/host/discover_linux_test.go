//go:build linux

package host

import (
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDiscoverLinux checks Discover on this machine against sources it does
// not use: sysinfo(2), sched_getaffinity via runtime, and qemu itself.
func TestDiscoverLinux(t *testing.T) {
	bin := qemuBinary(NovaArch(runtime.GOARCH))
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI: %v", bin, err)
		}
		t.Skipf("%s not installed: Discover needs the QEMU version", bin)
	}
	h, err := Discover()
	if err != nil {
		t.Fatal(err)
	}
	if h.Arch != NovaArch(runtime.GOARCH) || h.HypervisorType != "QEMU" {
		t.Errorf("arch %q type %q", h.Arch, h.HypervisorType)
	}
	if h.VCPUs < runtime.NumCPU() {
		t.Errorf("vcpus %d below the %d CPUs this process may use", h.VCPUs, runtime.NumCPU())
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	totalMB := int64(uint64(si.Totalram) * uint64(si.Unit) / (1 << 20))
	if d := h.MemoryMB - totalMB; d < -1 || d > 1 {
		t.Errorf("memory %d MB, sysinfo says %d MB", h.MemoryMB, totalMB)
	}
	if h.MemoryFreeMB <= 0 || h.MemoryFreeMB > h.MemoryMB {
		t.Errorf("free memory %d MB outside (0, %d]", h.MemoryFreeMB, h.MemoryMB)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "QEMU emulator version 7.2.22 ..." -> 7002022, checked digit by digit.
	ver := strings.Fields(strings.SplitN(string(out), "version ", 2)[1])[0]
	parts := strings.Split(ver, ".")
	if got := h.HypervisorVersion; got/1000000 != atoi(t, parts[0]) || got/1000%1000 != atoi(t, parts[1]) {
		t.Errorf("hypervisor version %d does not encode qemu %s", got, ver)
	}
	topo := h.CPU.Topology
	if topo.Sockets*topo.Cores*topo.Threads != h.VCPUs {
		t.Errorf("topology %+v does not multiply to %d vCPUs", topo, h.VCPUs)
	}
	if len(h.CPU.Features) == 0 || h.CPU.Vendor == "" {
		t.Errorf("cpu %+v lacks vendor or features", h.CPU)
	}
	if host, _ := os.Hostname(); h.Hostname != host {
		t.Errorf("hostname %q, want %q", h.Hostname, host)
	}
	ci, err := CPUInfoJSON(h)
	if err != nil {
		t.Error(err)
	}
	t.Logf("discovered: arch %s vcpus %d memory %d MB (free %d) %s %d kvm-ready %v; cpu_info %s",
		h.Arch, h.VCPUs, h.MemoryMB, h.MemoryFreeMB, h.HypervisorType, h.HypervisorVersion, h.Virt.Ready, ci)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// TestDiscoverUSBLinux: on Linux DiscoverUSB reads the sysfs tree it is
// given.
func TestDiscoverUSBLinux(t *testing.T) {
	got, err := DiscoverUSB(fixtureRoot(t, "debian12"))
	if err != nil || len(got) != len(debian12USB) || got[1].Port != "1.2" {
		t.Errorf("got %+v, %v; want the fixture's %d devices", got, err, len(debian12USB))
	}
}

// TestDiscoverPCILinux: on Linux DiscoverPCI reads the sysfs tree it is
// given.
func TestDiscoverPCILinux(t *testing.T) {
	got, err := DiscoverPCI(pciFixtureRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, debian12PCI) {
		t.Errorf("got %+v", got)
	}
}
