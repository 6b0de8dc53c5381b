package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustMkfs(t *testing.T, goos, def string, virt ...string) *Mkfs {
	t.Helper()
	m, err := NewMkfs(goos, def, virt)
	if err != nil {
		t.Fatal(err)
	}
	m.Mkswap = "mkswap"
	return m
}

// TestEphemeralArgv follows nova.privsep.fs configurable_mkfs through the os_type, guest_format,
// default_ephemeral_format and virt_mkfs combinations, on both hosts.
func TestEphemeralArgv(t *testing.T) {
	const tgt = "/inst/u/disk.eph0"
	tests := []struct {
		name, goos, def  string
		virt             []string
		osType, guestFmt string
		want             string
		wantErr          error
	}{
		{name: "linux os_type: ext4", goos: "linux", osType: "linux", want: "mkfs -t ext4 -F -L ephemeral0 " + tgt},
		{name: "windows os_type: ntfs", goos: "linux", osType: "windows", want: "mkfs -t ntfs -F -L ephemeral0 " + tgt},
		{name: "no os_type: vfat", goos: "linux", want: "mkfs -t vfat -n ephemeral0 " + tgt},
		{name: "default format wins over os_type", goos: "linux", def: "ext3", osType: "linux", want: "mkfs -t ext3 -F -L ephemeral0 " + tgt},
		{name: "bdm format wins over default", goos: "linux", def: "ext3", guestFmt: "xfs", want: "mkfs -t xfs -L ephemeral0 " + tgt},
		{name: "ext2 has no -F", goos: "linux", guestFmt: "ext2", want: "mkfs -t ext2 -L ephemeral0 " + tgt},
		{name: "virt_mkfs for the os_type", goos: "linux", osType: "linux",
			virt: []string{"linux=mkfs.ext4 -q -L %(fs_label)s -E lazy_itable_init=1 %(target)s"},
			want: "mkfs.ext4 -q -L ephemeral0 -E lazy_itable_init=1 " + tgt},
		{name: "virt_mkfs default for other os_types", goos: "linux", osType: "windows",
			virt: []string{"linux=mkfs.ext4 %(target)s", "default=/sbin/mkfs.xfs -L%(fs_label)s %(target)s"},
			want: "/sbin/mkfs.xfs -Lephemeral0 " + tgt},
		{name: "virt_mkfs wins over bdm format", goos: "linux", guestFmt: "ext2",
			virt: []string{"default=mkfs.ext4 %(target)s"}, want: "mkfs.ext4 " + tgt},
		{name: "empty virt_mkfs command: built-in", goos: "linux", osType: "linux",
			virt: []string{"default=mkfs.xfs %(target)s", "linux="}, want: "mkfs -t ext4 -F -L ephemeral0 " + tgt},
		{name: "bdm format nova refuses", goos: "linux", guestFmt: "vfat", wantErr: ErrUnsupportedFormat},
		{name: "bdm format unknown", goos: "linux", guestFmt: "btrfs;rm", wantErr: ErrUnsupportedFormat},
		{name: "freebsd ext4 by mke2fs", goos: "freebsd", osType: "linux", want: "mke2fs -t ext4 -F -L ephemeral0 " + tgt},
		{name: "freebsd ext2", goos: "freebsd", guestFmt: "ext2", want: "mke2fs -t ext2 -L ephemeral0 " + tgt},
		{name: "freebsd vfat by newfs_msdos", goos: "freebsd", want: "newfs_msdos -L ephemeral0 " + tgt},
		{name: "freebsd ufs by newfs", goos: "freebsd", guestFmt: "ufs", want: "newfs -L ephemeral0 " + tgt},
		{name: "freebsd default ufs", goos: "freebsd", def: "ufs", osType: "linux", want: "newfs -L ephemeral0 " + tgt},
		{name: "freebsd cannot make ntfs", goos: "freebsd", osType: "windows", wantErr: ErrUnsupportedFormat},
		{name: "freebsd refuses xfs bdm", goos: "freebsd", guestFmt: "xfs", wantErr: ErrUnsupportedFormat},
		{name: "linux refuses ufs bdm", goos: "linux", guestFmt: "ufs", wantErr: ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustMkfs(t, tt.goos, tt.def, tt.virt...)
			argv, err := m.EphemeralArgv(tt.osType, tt.guestFmt, "ephemeral0", tgt)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v (argv %q)", err, tt.wantErr, argv)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(argv, " "); got != tt.want {
				t.Errorf("argv = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEphemeralArgvRefusesRelativeTarget(t *testing.T) {
	m := mustMkfs(t, "linux", "")
	for _, tgt := range []string{"disk.eph0", "-F", ""} {
		if _, err := m.EphemeralArgv("linux", "", "ephemeral0", tgt); err == nil {
			t.Errorf("target %q accepted", tgt)
		}
		if _, err := m.SwapArgv(tgt); err == nil {
			t.Errorf("swap target %q accepted", tgt)
		}
	}
}

// TestMkfsArgsStayWords: a label or target with spaces or shell syntax stays one argument.
func TestMkfsArgsStayWords(t *testing.T) {
	c, err := ParseMkfsCommand("mkfs.ext4 -L %(fs_label)s %(target)s")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Argv("a b;$(x)", "/d/x y")
	want := []string{"mkfs.ext4", "-L", "a b;$(x)", "/d/x y"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("argv = %q, want %q", got, want)
	}
}

func TestNewMkfsRefuses(t *testing.T) {
	tests := []struct {
		name, goos, def string
		virt            []string
		wantErr         error
	}{
		{"unknown default format", "linux", "btrfs", nil, ErrUnsupportedFormat},
		{"ufs on linux", "linux", "ufs", nil, ErrUnsupportedFormat},
		{"xfs on freebsd", "freebsd", "xfs", nil, ErrUnsupportedFormat},
		{"no equals sign", "linux", "", []string{"mkfs.ext4 %(target)s"}, ErrBadMkfsCommand},
		{"no os_type", "linux", "", []string{"=mkfs.ext4 %(target)s"}, ErrBadMkfsCommand},
		{"no target", "linux", "", []string{"linux=mkfs.ext4 /dev/sda"}, ErrBadMkfsCommand},
		{"unknown key", "linux", "", []string{"linux=mkfs.ext4 %(path)s"}, ErrBadMkfsCommand},
		{"positional conversion", "linux", "", []string{"linux=mkfs.ext4 %s %(target)s"}, ErrBadMkfsCommand},
		{"repr conversion", "linux", "", []string{"linux=mkfs.ext4 %(target)r"}, ErrBadMkfsCommand},
		{"unterminated", "linux", "", []string{"linux=mkfs.ext4 %(target"}, ErrBadMkfsCommand},
		{"placeholder program", "linux", "", []string{"linux=%(target)s"}, ErrBadMkfsCommand},
		{"relative program path", "linux", "", []string{"linux=bin/mkfs %(target)s"}, ErrBadMkfsCommand},
		{"escaped target only", "linux", "", []string{"linux=mkfs %%(target)s"}, ErrBadMkfsCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewMkfs(tt.goos, tt.def, tt.virt); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestMkfsPercentEscape(t *testing.T) {
	c, err := ParseMkfsCommand("mkfs.ext4 -E root_owner=0:0,note=100%% %(target)s")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Argv("l", "/t"), " "); got != "mkfs.ext4 -E root_owner=0:0,note=100% /t" {
		t.Errorf("argv = %q", got)
	}
}

func TestSwapArgv(t *testing.T) {
	m := mustMkfs(t, "linux", "")
	if argv, err := m.SwapArgv("/i/disk.swap"); err != nil || strings.Join(argv, " ") != "mkswap /i/disk.swap" {
		t.Errorf("argv = %q, %v", argv, err)
	}
	m.Mkswap = "" // a FreeBSD host without the port
	ran := false
	m.Run = func(context.Context, []string) error { ran = true; return nil }
	if err := m.FormatSwap(context.Background(), "/i/disk.swap"); err != nil || ran {
		t.Errorf("FormatSwap without mkswap: err %v, ran %v", err, ran)
	}
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// blkid reports the filesystem type and label the guest will see.
func blkid(t *testing.T, path, tag string) string {
	t.Helper()
	out, err := exec.Command("blkid", "-p", "-o", "value", "-s", tag, path).Output()
	if err != nil {
		t.Fatalf("blkid %s %s: %v", tag, path, err)
	}
	return strings.TrimSpace(string(out))
}

// TestFormatRealFiles runs mkfs.ext4, mkfs.vfat and mkswap on blank disks the File backend made.
func TestFormatRealFiles(t *testing.T) {
	need(t, "mkfs", "mkfs.ext4", "mkfs.vfat", "mkswap", "blkid")
	dir := t.TempDir()
	b, err := NewFile(filepath.Join(dir, "img"), filepath.Join(dir, "inst"), CopySparse)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := NewMkfs("linux", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ osType, want, label string }{{"linux", "ext4", "ephemeral0"}, {"", "vfat", "ephemeral1"}} {
		d, err := b.CreateEphemeral(ctx, "inst1", i, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.FormatEphemeral(ctx, c.osType, "", i, d.Path); err != nil {
			t.Fatal(err)
		}
		if got := blkid(t, d.Path, "TYPE"); got != c.want {
			t.Errorf("%s: type %q, want %q", d.Name, got, c.want)
		}
		if got := blkid(t, d.Path, "LABEL"); got != c.label {
			t.Errorf("%s: label %q, want %q", d.Name, got, c.label)
		}
		if fi, _ := os.Stat(d.Path); fi.Size() != 64<<20 {
			t.Errorf("%s: size %d changed by mkfs", d.Name, fi.Size())
		}
	}
	s, err := b.CreateSwap(ctx, "inst1", 32<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.FormatSwap(ctx, s.Path); err != nil {
		t.Fatal(err)
	}
	if got := blkid(t, s.Path, "TYPE"); got != "swap" {
		t.Errorf("swap type %q", got)
	}
	// A failing mkfs names the command and says why.
	err = m.FormatEphemeral(ctx, "linux", "", 0, filepath.Join(dir, "missing", "disk.eph9"))
	if err == nil || !strings.Contains(err.Error(), "mkfs -t ext4") {
		t.Errorf("failing mkfs: %v", err)
	}
}

// TestFormatZvolDevice formats through the stand-in zvol device, as a FreeBSD or Linux ZFS host formats its zvols.
func TestFormatZvolDevice(t *testing.T) {
	need(t, "mkfs.ext4", "mkswap", "blkid")
	b, _, state := newZFS(t)
	ctx := context.Background()
	m, err := NewMkfs("linux", "ext4", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.CreateEphemeral(ctx, "inst1", 0, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.FormatEphemeral(ctx, "", "", 0, d.Path); err != nil {
		t.Fatal(err)
	}
	if got := blkid(t, d.Path, "TYPE"); got != "ext4" {
		t.Errorf("zvol type %q", got)
	}
	s, err := b.CreateSwap(ctx, "inst1", 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.FormatSwap(ctx, s.Path); err != nil {
		t.Fatal(err)
	}
	if got := blkid(t, s.Path, "TYPE"); got != "swap" {
		t.Errorf("zvol swap type %q", got)
	}
	// Deleting the instance destroys both zvols with their dataset.
	if err := b.DeleteInstance(ctx, "inst1"); err != nil {
		t.Fatal(err)
	}
	for name := range datasets(t, state) {
		if strings.Contains(name, "inst1") {
			t.Errorf("dataset %s left after DeleteInstance", name)
		}
	}
}

// TestZFSBlankWaitsForDevice: a blank zvol whose device node never appears is an error that leaves no dataset,
// rather than a disk mkfs would fail on.
func TestZFSBlankWaitsForDevice(t *testing.T) {
	b, _, state := newZFS(t)
	ctx := context.Background()
	before := names(datasets(t, state))
	b.DevDir, b.DeviceWait = t.TempDir(), 100*time.Millisecond
	if _, err := b.CreateSwap(ctx, "inst1", 1<<20); err == nil || !strings.Contains(err.Error(), "did not appear") {
		t.Fatalf("err = %v", err)
	}
	if after := names(datasets(t, state)); !reflect.DeepEqual(after, before) {
		t.Errorf("datasets %v after the failure, before %v", after, before)
	}
}

// FuzzParseVirtMkfs: whatever an operator writes, parsing never panics, an accepted command starts with its fixed
// program, substitutes only into whole words and names the target.
func FuzzParseVirtMkfs(f *testing.F) {
	for _, s := range []string{"linux=mkfs.ext4 -L %(fs_label)s %(target)s", "default=", "=x", "a=%(target)s",
		"windows=mkfs.ntfs -Q %%(target)s %(target)s", "x=/sbin/mkfs %(fs_label)", "x=m %(target)s%(fs_label)s%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		cmds, err := ParseVirtMkfs([]string{entry})
		if err != nil {
			if !errors.Is(err, ErrBadMkfsCommand) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for osType, c := range cmds {
			if osType == "" {
				t.Fatal("empty os_type accepted")
			}
			if c.IsZero() {
				continue
			}
			const label, target = "L\x01", "/T\x02"
			argv := c.Argv(label, target)
			if len(argv) == 0 || strings.ContainsAny(argv[0], "\x01\x02") {
				t.Fatalf("program %q from %q", argv, entry)
			}
			joined := strings.Join(argv, "\x00")
			if !bytes.Contains([]byte(joined), []byte(target)) {
				t.Fatalf("target missing from %q (entry %q)", argv, entry)
			}
		}
	})
}
