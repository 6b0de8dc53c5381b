package qemu

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fake QEMU is this test binary run again with fakeQEMUEnv set: a
// stand-in for qemu-system-x86_64 that answers the accelerator probe and
// speaks enough QMP for the driver, and under -accel kvm behaves as
// fakeQEMUEnv says (how kvm_pvm hosts kill guests). It appends each
// command line, as JSON, to the file named by fakeQEMULogEnv.
const (
	fakeQEMUEnv    = "NOVABSD_FAKE_QEMU_KVM"
	fakeQEMULogEnv = "NOVABSD_FAKE_QEMU_LOG"
)

// Fake QEMU behaviours under -accel kvm (under tcg it always runs).
const (
	fakeKVMOK            = "ok"              // runs
	fakeKVMAbort         = "abort"           // MSR assertion before QMP is up
	fakeKVMAbortAfterQMP = "abort-after-qmp" // MSR assertion shortly after QMP is up
	fakeKVMInternalError = "internal-error"  // stays up, paused in internal-error
	fakeKVMOtherError    = "other-error"     // a disk error whose path says kvm_
)

// msrAssertion is what QEMU 10 printed on kvm_pvm hosts for -cpu host.
const msrAssertion = "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x20000000c04\n" +
	"qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3290: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeQEMUEnv); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// introspection reports whether args only ask the binary about itself (-version, -machine help, -device help,
// -sandbox with -version): ProbeBinary's questions, which start no guest.
func introspection(args []string) bool {
	for i, a := range args {
		if a == "-version" || ((a == "-machine" || a == "-device") && i+1 < len(args) && args[i+1] == "help") {
			return true
		}
	}
	return false
}

// argAfter returns the value after the first flag in args ("" if none).
func argAfter(args []string, flag string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}

func fakeQEMU(mode string, args []string) int {
	if introspection(args) {
		// What the driver asks of a binary before it runs guests (version, machine types, seccomp) is answered by
		// the real QEMU, so the fake is probed as the real one would be; these runs are not guests and not logged.
		cmd := exec.Command("qemu-system-x86_64", args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			return 127
		}
		return 0
	}
	if p := os.Getenv(fakeQEMULogEnv); p != "" {
		b, _ := json.Marshal(args)
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			f.Write(append(b, '\n'))
			f.Close()
		}
	}
	for i, a := range args {
		if a == "-device" && i+1 < len(args) && strings.HasPrefix(args[i+1], "isa-debug-exit") {
			return probeExit // the probe's payload ran
		}
	}
	status := "running"
	if argAfter(args, "-accel") == AccelKVM {
		switch mode {
		case fakeKVMAbort:
			os.Stderr.WriteString(msrAssertion)
			return 134
		case fakeKVMOtherError:
			os.Stderr.WriteString("qemu-system-x86_64: -drive if=none,id=drive-vda,format=raw,file=/srv/kvm_images/d: " +
				"Could not open '/srv/kvm_images/d': No such file or directory\n")
			return 1
		case fakeKVMAbortAfterQMP:
			go func() {
				time.Sleep(300 * time.Millisecond)
				os.Stderr.WriteString(msrAssertion)
				os.Exit(134)
			}()
		case fakeKVMInternalError:
			status = "internal-error"
			os.Stderr.WriteString("KVM internal error. Suberror: 1\nextra data[0]: 0x0000000000000000\nemulation failure\n" +
				"EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000663\n")
		}
	}
	var qmp string // the monitor's socket: -chardev socket,id=charmonitor,path=P,... (no commas in the tests' paths)
	for i, a := range args {
		if a == "-chardev" && i+1 < len(args) && strings.HasPrefix(args[i+1], "socket,id=charmonitor,") {
			for _, kv := range strings.Split(args[i+1], ",") {
				if p, ok := strings.CutPrefix(kv, "path="); ok {
					qmp = p
				}
			}
		}
	}
	l, err := net.Listen("unix", qmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake qemu: %v\n", err)
		return 1
	}
	if p := argAfter(args, "-pidfile"); p != "" {
		os.WriteFile(p, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o600)
	}
	if log := serialLog(args); log != "" {
		// The guest prints on its serial port when told (SIGUSR1): QEMU itself writes the console log.
		say := make(chan os.Signal, 1)
		signal.Notify(say, syscall.SIGUSR1)
		go func() {
			for range say {
				if f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
					f.WriteString(fakeConsoleLine + "\n")
					f.Close()
				}
			}
		}()
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		if code, quit := fakeQMPSession(c, status); quit {
			return code
		}
	}
}

// fakeConsoleLine is what the fake guest prints on its serial console on SIGUSR1.
const fakeConsoleLine = "fake qemu guest: console line"

// serialLog returns the log file of the serial console's chardev (-chardev ...,id=charserial0,...,logfile=P,...;
// no commas in the tests' paths), "" without one.
func serialLog(args []string) string {
	for i, a := range args {
		if a == "-chardev" && i+1 < len(args) && strings.Contains(args[i+1], ",id=charserial0,") {
			for _, kv := range strings.Split(args[i+1], ",") {
				if p, ok := strings.CutPrefix(kv, "logfile="); ok {
					return p
				}
			}
		}
	}
	return ""
}

// fakeQMPSession serves one QMP client; it reports an exit code and true
// when the client asked QEMU to end.
func fakeQMPSession(c net.Conn, status string) (int, bool) {
	defer c.Close()
	w := json.NewEncoder(c)
	w.Encode(map[string]any{"QMP": map[string]any{"version": map[string]any{}, "capabilities": []string{}}})
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		var cmd struct {
			Execute string `json:"execute"`
			ID      any    `json:"id"`
		}
		if json.Unmarshal(sc.Bytes(), &cmd) != nil {
			continue
		}
		ret := any(map[string]any{})
		if cmd.Execute == "query-status" {
			ret = map[string]any{"status": status, "running": status == "running"}
		}
		w.Encode(map[string]any{"return": ret, "id": cmd.ID})
		switch cmd.Execute {
		case "quit":
			return 0, true
		case "system_powerdown":
			w.Encode(map[string]any{"event": "SHUTDOWN", "data": map[string]any{"guest": true}})
			return 0, true
		}
	}
	return 0, false
}
