package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
)

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestSpawnFaultsLeaveNothing: a missing binary or firmware is a typed
// error and the instance directory holds only what it held before.
func TestSpawnFaultsLeaveNothing(t *testing.T) {
	cases := []struct {
		name   string
		cfg    func(*Config)
		image  map[string]string
		want   error
		detail string
	}{
		{"missing binary", func(c *Config) { c.Binary = "/nonexistent/qemu-system-x86_64" }, nil, hypervisor.ErrMissingComponent, "qemu binary"},
		{"missing firmware", func(c *Config) { c.OVMFCode = "/nonexistent/OVMF_CODE.fd" }, map[string]string{"hw_firmware_type": "uefi"}, hypervisor.ErrMissingComponent, "UEFI firmware"},
		{"missing vars template", func(c *Config) { c.OVMFVars = "/nonexistent/OVMF_VARS.fd" }, map[string]string{"hw_firmware_type": "uefi"}, hypervisor.ErrMissingComponent, "UEFI variables template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Accel, c.RunDir = AccelTCG, t.TempDir()
			tc.cfg(&c)
			d, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			dir := guestDir(t)
			os.WriteFile(filepath.Join(dir, "disk"), make([]byte, 1<<20), 0o600)
			g := hypervisor.Guest{UUID: "0e5d3c0e-8f0e-4a55-a1a4-5e0f4b0c0d01", Name: "instance-0000000f", Dir: dir}
			spec := hypervisor.Spec{UUID: g.UUID, Name: g.Name, Dir: dir, VCPUs: 1, MemoryMB: 64,
				Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: filepath.Join(dir, "disk"), Format: "raw"}}}
			dom, err := domain.Build(spec, domain.Props{Image: tc.image}, DomainOptions(c, AccelTCG))
			if err != nil {
				t.Fatal(err)
			}
			before := dirEntries(t, dir)
			err = d.Spawn(context.Background(), g, dom)
			var me *hypervisor.MissingError
			if !errors.Is(err, tc.want) || !errors.As(err, &me) || me.What != tc.detail {
				t.Fatalf("err = %v, want a MissingError for %s", err, tc.detail)
			}
			if after := dirEntries(t, dir); len(after) != len(before) {
				t.Fatalf("instance dir %v after the failed spawn, %v before", after, before)
			}
			if l, _ := d.List(context.Background()); len(l) != 0 {
				t.Fatalf("List = %v after the failed spawn", l)
			}
		})
	}
}

// TestQEMUStartFailureCleansUp: QEMU itself refusing the command line (here
// a disk that does not exist) kills nothing else and leaves no socket,
// pid file or NVRAM copy; the error carries QEMU's message.
func TestQEMUStartFailureCleansUp(t *testing.T) {
	needQEMU(t)
	d := tcgDriver(t)
	dir := guestDir(t)
	g := hypervisor.Guest{UUID: "1e5d3c0e-8f0e-4a55-a1a4-5e0f4b0c0d02", Name: "instance-00000010", Dir: dir}
	spec := hypervisor.Spec{UUID: g.UUID, Name: g.Name, Dir: dir, VCPUs: 1, MemoryMB: 64,
		Disks: []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: filepath.Join(dir, "missing-disk"), Format: "raw"}}}
	dom, err := domain.Build(spec, domain.Props{Image: map[string]string{"hw_firmware_type": "uefi"}}, DomainOptions(d.cfg, AccelTCG))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = d.Spawn(ctx, g, dom)
	if err == nil {
		d.Destroy(ctx, g)
		t.Fatal("spawn with a missing disk succeeded")
	}
	t.Logf("error: %v", err)
	for _, f := range []string{qmpSocketFile, pidFile, hypervisor.NVRAMFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", f, err)
		}
	}
	if info, err := d.Info(ctx, g); err != nil || info.State == hypervisor.Running {
		t.Fatalf("Info after failed spawn = %+v, %v", info, err)
	}
}
