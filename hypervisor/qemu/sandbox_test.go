package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
)

// procStatus returns the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// TestGuestRunsUnprivilegedAndSandboxed boots the tiny guest as deployed
// and reads the kernel's view of the QEMU process: every uid is the
// configured user's, seccomp is in filter mode, and the console log,
// which holds whatever the guest prints, is 0600.
func TestGuestRunsUnprivilegedAndSandboxed(t *testing.T) {
	needQEMU(t)
	if os.Geteuid() != 0 {
		t.Skip("QEMU changes user only when started as root")
	}
	u, err := user.Lookup(testUser)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := tcgDriver(t)
	g, dom := tinyGuest(t, d, "raw", nil)
	if err := d.Spawn(ctx, g, dom); err != nil {
		t.Fatal(err)
	}
	waitConsole(t, d, g, marker, 1, 3*time.Minute)
	v := d.get(ctx, g)
	if v == nil {
		t.Fatal("no process for the running guest")
	}
	st := procStatus(t, v.pid)
	for _, k := range []string{"Uid", "Gid"} {
		want := u.Uid
		if k == "Gid" {
			want = u.Gid
		}
		for _, id := range strings.Fields(st[k]) {
			if id != want {
				t.Errorf("%s: %q, want every id %s (%s)", k, st[k], want, testUser)
			}
		}
	}
	if st["Seccomp"] != "2" {
		t.Errorf("Seccomp: %q, want 2 (filter)", st["Seccomp"])
	}
	if st["CapEff"] != "0000000000000000" {
		t.Errorf("CapEff: %q, want none", st["CapEff"])
	}
	fi, err := os.Stat(filepath.Join(g.Dir, hypervisor.ConsoleLogFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("console log mode %v, want 0600", fi.Mode().Perm())
	}
	if uid, _, _ := fileOwner(fi); fmt.Sprint(uid) != u.Uid {
		t.Errorf("console log owned by uid %d, want %s (%s)", uid, u.Uid, testUser)
	}
	// Guests keep working under the sandbox: pause and suspend/resume go
	// through QMP and a passed descriptor, nothing QEMU must open itself.
	if err := d.Suspend(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := d.Resume(ctx, g); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, g, hypervisor.Running)
}

// TestPreflightRefusals: a machine type the binary lacks, a missing user
// and an unsandboxable binary are refused before QEMU runs or any file is
// made, with the typed errors compute/ maps to faults.
func TestPreflightRefusals(t *testing.T) {
	needQEMU(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     func(*Config)
		machine string
		want    error
		text    string
	}{
		{"unknown machine", nil, "pc-q35-0.1", hypervisor.ErrInvalidProperty, "hw_machine_type"},
		{"injected machine", nil, "q35,kernel=/vmlinuz", hypervisor.ErrInvalidProperty, "hw_machine_type"},
		{"missing user", func(c *Config) { c.User = "novabsd-no-such-user" }, "", hypervisor.ErrMissingComponent, "[qemu] user"},
		{"alias accepted", nil, "pc", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Accel, c.RunDir, c.User = AccelTCG, t.TempDir(), testUser
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			d, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			dir := guestDir(t)
			g := hypervisor.Guest{UUID: "6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c02", Name: "instance-00000002", Dir: dir}
			dom := buildCase(t, argvCases[0], dir)
			if tt.machine != "" {
				dom.OS.Type.Machine = tt.machine
			}
			err = d.CheckDomain(ctx, dom)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckDomain: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("CheckDomain = %v, want %v naming %s", err, tt.want, tt.text)
			}
			if err := d.Spawn(ctx, g, dom); !errors.Is(err, tt.want) {
				t.Fatalf("Spawn = %v, want %v", err, tt.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("refused spawn left %d files in the instance directory", len(ents))
			}
		})
	}
}

// TestProbeBinary: the real binary's machine list holds the aliases, the
// result is cached, and a changed binary (size or mtime) is probed again.
func TestProbeBinary(t *testing.T) {
	bin := needQEMU(t)
	b, err := ProbeBinary(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"pc", "q35", "none"} {
		if !b.HasMachine(m) {
			t.Errorf("machine %s missing from %v", m, b.Machines)
		}
	}
	if b.HasMachine("q35,kernel=/x") || b.Version == 0 {
		t.Errorf("probe = %+v", b)
	}
	again, _ := ProbeBinary(context.Background(), bin)
	if again != b {
		t.Errorf("second probe not cached")
	}
	// A wrapper script stands in for an upgraded binary at the same path.
	dir := t.TempDir()
	w := filepath.Join(dir, "qemu")
	script := "#!/bin/sh\nexec " + bin + " \"$@\"\n"
	if err := os.WriteFile(w, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	first, err := ProbeBinary(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w, []byte(script+"# upgraded\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	second, err := ProbeBinary(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Errorf("a changed binary was not probed again")
	}
}

// TestUnreachableInstanceDirRefused: an instance directory QEMU's user
// cannot pass through is refused at start with the directory named, not
// left to fail inside a later suspend.
func TestUnreachableInstanceDirRefused(t *testing.T) {
	needQEMU(t)
	if os.Geteuid() != 0 {
		t.Skip("QEMU changes user only when started as root")
	}
	d := tcgDriver(t)
	dir := filepath.Join(t.TempDir(), "instance") // t.TempDir is 0700
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g := hypervisor.Guest{UUID: "6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c03", Name: "instance-00000003", Dir: dir}
	dom := buildCase(t, argvCases[0], dir)
	err := d.Spawn(context.Background(), g, dom)
	if !errors.Is(err, hypervisor.ErrUnsupported) || !strings.Contains(err.Error(), filepath.Dir(dir)) {
		t.Fatalf("Spawn = %v, want ErrUnsupported naming %s", err, filepath.Dir(dir))
	}
	if v := d.get(context.Background(), g); v != nil {
		t.Fatalf("a QEMU process runs for the refused guest")
	}
}
