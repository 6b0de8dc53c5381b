//go:build linux

package plug

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// nsEnv marks the test process re-executed inside its own namespaces.
	nsEnv = "NOVABSD_PLUG_TEST_NETNS"
	// openHelperEnv makes the test binary, run as another uid, only try to open a tap (see openTapAs).
	openHelperEnv = "NOVABSD_PLUG_OPEN_TAP"
)

// inNamespaces is true in the re-executed test process, the only one that plugs real taps.
var inNamespaces bool

// isolate runs the tests, when root, in a network namespace and a mount namespace of their own: the taps,
// bridges and the test's ovs-vswitchd (whose userspace datapath makes fixed-name devices such as ovs-netdev)
// then never meet the host's, nor another user's OVS on this machine, and vanish with the process whatever
// happens. sysfs is mounted afresh inside, since /sys/class/net shows the namespace of whoever mounted it.
func isolate() (int, bool) {
	if name := os.Getenv(openHelperEnv); name != "" {
		return openTapHelper(name), true
	}
	if os.Geteuid() != 0 {
		return 0, false
	}
	// go test -fuzz talks to its workers over inherited descriptors a re-executed binary would not have; fuzz
	// targets need no namespaces, and the tests that do refuse to run outside them (needRoot).
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz") {
			return 0, false
		}
	}
	if os.Getenv(nsEnv) == "1" {
		inNamespaces = true
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			fmt.Fprintln(os.Stderr, "making mounts private:", err)
			return 1, true
		}
		if err := unix.Mount("sysfs", "/sys", "sysfs", 0, ""); err != nil {
			fmt.Fprintln(os.Stderr, "mounting sysfs:", err)
			return 1, true
		}
		return 0, false
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot run the tests in namespaces of their own:", err)
		return 1, true
	}
	return 0, true
}

// openTapHelper attaches to tap name through the clone device at $NOVABSD_PLUG_TUN, as an engine's process
// would, and exits 0 if the kernel let it, 3 if it refused (EPERM), 4 otherwise.
func openTapHelper(name string) int {
	fd, err := unix.Open(os.Getenv("NOVABSD_PLUG_TUN"), unix.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 4
	}
	ifr.SetUint16(tapFlags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		fmt.Fprintln(os.Stderr, "TUNSETIFF:", err)
		if errors.Is(err, unix.EPERM) {
			return 3
		}
		return 4
	}
	return 0
}
