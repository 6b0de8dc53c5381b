package qemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

// syncBuffer is a log sink safe for the driver's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeHost is a driver on the fake QEMU (fakeqemu_test.go) behaving as
// mode under KVM, on a host that has a KVM device.
type fakeHost struct {
	d   *Driver
	log *syncBuffer
	inv string // the fake's command-line log
}

func newFakeHost(t *testing.T, accel, mode string) *fakeHost {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A binary path of its own keeps auto's process-wide cache per test.
	bin := filepath.Join(dir, "qemu-system-x86_64")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "kvm")
	os.WriteFile(dev, nil, 0o600)
	old := kvmDevice
	kvmDevice = dev
	t.Cleanup(func() { kvmDevice = old })
	h := &fakeHost{log: &syncBuffer{}, inv: filepath.Join(dir, "invocations")}
	t.Setenv(fakeQEMUEnv, mode)
	t.Setenv(fakeQEMULogEnv, h.inv)
	c := DefaultConfig()
	c.Binary, c.Accel, c.Machine, c.RunDir = bin, accel, fakeMachine, t.TempDir()
	c.User = "root" // the fake never drops root; running as another user is the sandbox tests' concern
	c.Logger = slog.New(slog.NewTextHandler(h.log, nil))
	if h.d, err = New(c); err != nil {
		t.Fatal(err)
	}
	h.d.kvmWatch = time.Second
	return h
}

// runs returns the fake's command lines so far.
func (h *fakeHost) runs(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open(h.inv)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var args []string
		if err := json.Unmarshal(sc.Bytes(), &args); err != nil {
			t.Fatal(err)
		}
		out = append(out, args)
	}
	return out
}

// kind names a command line: "probe" or "guest", and its accelerator.
func kind(args []string) string {
	k := "guest"
	if slices.Contains(args, "isa-debug-exit,iobase=0xf4,iosize=0x04") {
		k = "probe"
	}
	return k + "/" + argAfter(args, "-accel")
}

func kinds(runs [][]string) []string {
	var out []string
	for _, r := range runs {
		out = append(out, kind(r))
	}
	return out
}

// guest builds an instance the way compute does, with the domain options
// of the driver's accelerator at the time.
func (h *fakeHost) guest(t *testing.T, n int) (hypervisor.Guest, *libvirtxml.Domain) {
	t.Helper()
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk")
	os.WriteFile(disk, make([]byte, 1<<20), 0o600)
	g := hypervisor.Guest{UUID: "7d1c6f0e-3b7a-4f55-9c1e-0000000000" + string(rune('0'+n/10)) + string(rune('0'+n%10)),
		Name: "instance-0000002" + string(rune('0'+n)), Dir: dir}
	spec := hypervisor.Spec{UUID: g.UUID, Name: g.Name, Dir: dir, VCPUs: 1, MemoryMB: 64,
		Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: disk, Format: "raw"}}}
	dom, err := domain.Build(spec, domain.Props{}, DomainOptions(h.d.cfg, h.d.Accel(context.Background())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.d.Destroy(context.Background(), g) })
	return g, dom
}

// TestProbeRunsGuestMachineAndCPU: the KVM probe boots on the machine type
// guests get and with their CPU model (-cpu host), not on a simpler
// machine that kvm_pvm hosts pass while their real guests die.
func TestProbeRunsGuestMachineAndCPU(t *testing.T) {
	h := newFakeHost(t, AccelAuto, fakeKVMOK)
	if a := h.d.Accel(context.Background()); a != AccelKVM {
		t.Fatalf("auto resolved to %s with a probe that runs; want kvm", a)
	}
	runs := h.runs(t)
	if len(runs) != 1 || kind(runs[0]) != "probe/kvm" {
		t.Fatalf("command lines %v, want one KVM probe", kinds(runs))
	}
	guest, err := BuildArgv(probeDomain("/x"), h.d.cfg, AccelKVM, Runtime{QMPSocket: "/q"})
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"-machine", "-cpu"} {
		if got, want := argAfter(runs[0], flag), argAfter(guest, flag); got != want || want == "" {
			t.Errorf("probe %s %q, a KVM guest gets %q", flag, got, want)
		}
	}
	if got := argAfter(runs[0], "-machine"); got != fakeMachine {
		t.Errorf("probe machine %q, want the configured %s", got, fakeMachine)
	}
}

// TestKVMDeathFallsBackToTCG: under auto, a guest that KVM kills at start
// (the MSR assertion, before or after QMP is up, or a KVM internal error)
// is started again at once under TCG and runs; KVM is marked unusable with
// an ERROR saying why, and later guests go straight to TCG.
func TestKVMDeathFallsBackToTCG(t *testing.T) {
	for _, tc := range []struct{ mode, why string }{
		{fakeKVMAbort, "failed to set MSR 0x10a"},
		{fakeKVMAbortAfterQMP, "kvm.c:3290: kvm_buf_set_msrs: Assertion"},
		{fakeKVMInternalError, "KVM internal error. Suberror: 1"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			h := newFakeHost(t, AccelAuto, tc.mode)
			ctx := context.Background()
			g1, dom1 := h.guest(t, 1)
			if dom1.Type != "kvm" {
				t.Fatalf("domain type %q before the fallback, want kvm", dom1.Type)
			}
			if err := h.d.Spawn(ctx, g1, dom1); err != nil {
				t.Fatalf("spawn: %v", err)
			}
			wantState(t, h.d, g1, hypervisor.Running)
			if got, want := kinds(h.runs(t)), []string{"probe/kvm", "guest/kvm", "guest/tcg"}; !slices.Equal(got, want) {
				t.Fatalf("command lines %v, want %v", got, want)
			}
			if a := h.d.Accel(ctx); a != AccelTCG {
				t.Fatalf("Accel after the KVM death = %s, want tcg", a)
			}
			log := h.log.String()
			if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "KVM unusable on this host: ") ||
				!strings.Contains(log, tc.why) || !strings.Contains(log, "guests now run under TCG") {
				t.Fatalf("log does not say KVM was given up and why:\n%s", log)
			}
			if saved, err := hypervisor.LoadDomain(g1.Dir); err != nil || saved.Type != "qemu" {
				t.Errorf("saved domain type %q (%v), want qemu", saved.Type, err)
			}

			g2, dom2 := h.guest(t, 2)
			if dom2.Type != "qemu" {
				t.Errorf("second guest's domain type %q, want qemu", dom2.Type)
			}
			if err := h.d.Spawn(ctx, g2, dom2); err != nil {
				t.Fatalf("second spawn: %v", err)
			}
			wantState(t, h.d, g2, hypervisor.Running)
			if got, want := kinds(h.runs(t)), []string{"probe/kvm", "guest/kvm", "guest/tcg", "guest/tcg"}; !slices.Equal(got, want) {
				t.Fatalf("command lines %v, want %v: the second guest must go straight to TCG", got, want)
			}
			if n := strings.Count(h.log.String(), "KVM unusable"); n != 1 {
				t.Errorf("KVM given up %d times in the log, want once", n)
			}
			// A driver made again in this process does not go back to KVM.
			d2, err := New(h.d.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if a := d2.Accel(ctx); a != AccelTCG || len(h.runs(t)) != 4 {
				t.Errorf("new driver: Accel %s after %d runs, want tcg without probing again", a, len(h.runs(t)))
			}
		})
	}
}

// TestKVMKeptWhenNotToBlame: a guest failing for a reason QEMU does not
// blame on KVM (a disk it cannot open, its path saying kvm_) is an error
// as before, with no TCG retry, and KVM stays; a guest that runs under
// KVM proves it, so the next one is not watched.
func TestKVMKeptWhenNotToBlame(t *testing.T) {
	ctx := context.Background()
	t.Run("disk error", func(t *testing.T) {
		h := newFakeHost(t, AccelAuto, fakeKVMOtherError)
		g, dom := h.guest(t, 3)
		err := h.d.Spawn(ctx, g, dom)
		if err == nil || !strings.Contains(err.Error(), "Could not open") || errors.Is(err, ErrAccelUnusable) {
			t.Fatalf("spawn error %v, want QEMU's disk error", err)
		}
		if got, want := kinds(h.runs(t)), []string{"probe/kvm", "guest/kvm"}; !slices.Equal(got, want) {
			t.Fatalf("command lines %v, want %v", got, want)
		}
		if a := h.d.Accel(ctx); a != AccelKVM || strings.Contains(h.log.String(), "KVM unusable") {
			t.Fatalf("Accel %s, log %q: KVM given up for a disk error", a, h.log.String())
		}
	})
	t.Run("healthy KVM", func(t *testing.T) {
		h := newFakeHost(t, AccelAuto, fakeKVMOK)
		h.d.kvmWatch = 300 * time.Millisecond
		g, dom := h.guest(t, 4)
		if err := h.d.Spawn(ctx, g, dom); err != nil {
			t.Fatal(err)
		}
		h.d.kvmWatch = time.Hour // a watched start would now time the test out
		g2, dom2 := h.guest(t, 5)
		if err := h.d.Spawn(ctx, g2, dom2); err != nil {
			t.Fatal(err)
		}
		if got, want := kinds(h.runs(t)), []string{"probe/kvm", "guest/kvm", "guest/kvm"}; !slices.Equal(got, want) {
			t.Fatalf("command lines %v, want %v", got, want)
		}
	})
}

// TestExplicitKVMDeathIsAccelError: an operator who chose kvm gets no
// silent TCG: the guest fails with an *AccelError naming the option, and
// nothing of it runs.
func TestExplicitKVMDeathIsAccelError(t *testing.T) {
	h := newFakeHost(t, AccelKVM, fakeKVMAbortAfterQMP)
	ctx := context.Background()
	g, dom := h.guest(t, 6)
	err := h.d.Spawn(ctx, g, dom)
	var ae *AccelError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAccelUnusable) || !strings.Contains(err.Error(), "[qemu] accel") ||
		!strings.Contains(ae.Reason, "failed to set MSR 0x10a") {
		t.Fatalf("spawn error %v, want an AccelError naming [qemu] accel and the MSR", err)
	}
	if got, want := kinds(h.runs(t)), []string{"guest/kvm"}; !slices.Equal(got, want) {
		t.Fatalf("command lines %v, want %v", got, want)
	}
	if l, _ := h.d.List(ctx); len(l) != 0 {
		t.Errorf("List = %v after the failed spawn", l)
	}
	for _, f := range []string{qmpSocketFile, pidFile} {
		if _, err := os.Stat(filepath.Join(g.Dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", f, err)
		}
	}
}

// TestKVMFailureClassifier: which QEMU stderr lines blame KVM.
func TestKVMFailureClassifier(t *testing.T) {
	for _, tc := range []struct {
		stderr string
		want   bool
	}{
		{msrAssertion, true},
		{"KVM internal error. Suberror: 1\nemulation failure\n", true},
		{"error: kvm run failed Invalid argument\n", true},
		{"KVM: entry failed, hardware error 0x80000021\n", true},
		{"qemu-system-x86_64: kvm_init_vcpu: kvm_arch_init_vcpu failed (-22): Invalid argument\n", true},
		{"qemu-system-x86_64: KVM_SET_CPUID2 failed: Invalid argument\n", true},
		{"qemu-system-x86_64: failed to initialize kvm: Permission denied\n", true},
		{"qemu-system-x86_64: /build/qemu/accel/kvm/kvm-all.c:1876: kvm_irqchip_commit_routes: Assertion `ret == 0' failed.\n", true},
		{"qemu-system-x86_64: -drive file=/srv/kvm_images/d: Could not open '/srv/kvm_images/d': No such file or directory\n", false},
		{"qemu-system-x86_64: -name guest=kvm-test,debug-threads=on: terminating on signal 15\n", false},
		{"qemu-system-x86_64: ../hw/ide/core.c:934: ide_dma_cb: Assertion `prep_size > 0' failed.\n", false},
		{"", false},
	} {
		if _, got := kvmFailure([]byte(tc.stderr)); got != tc.want {
			t.Errorf("kvmFailure(%q) = %v, want %v", tc.stderr, got, tc.want)
		}
	}
}

// fakeMachine is a machine type the tests configure instead of the default, so the probe can be seen to use the
// guests' own; the real QEMU behind the fake's -machine help must list it (Debian bookworm's 7.2 and later do).
const fakeMachine = "pc-q35-7.1"
