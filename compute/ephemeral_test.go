package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/storage"
	"github.com/novabsd/novabsd/rpc/vo"
)

func bdm(fields map[string]any) *vo.Object {
	o := vo.New("BlockDeviceMapping", "1.21")
	for k, v := range fields {
		_ = o.Set(k, v)
	}
	return o
}

func bdmList(t *testing.T, objs ...*vo.Object) *vo.Object {
	t.Helper()
	l, err := vo.NewList("BlockDeviceMappingList", "1.18", objs)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var rootBDM = map[string]any{"source_type": "image", "destination_type": "local", "boot_index": 0, "device_type": "disk",
	"image_id": "7526aae6-0c22-472b-b75c-af6e385fe849", "volume_size": nil, "guest_format": nil}

func blank(size any, format any, extra ...any) *vo.Object {
	m := map[string]any{"source_type": "blank", "destination_type": "local", "volume_size": size, "guest_format": format,
		"boot_index": -1, "device_name": nil, "disk_bus": nil, "encrypted": false}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return bdm(m)
}

// TestLocalDisks follows get_block_device_info and _create_image: mappings first, the flavor when none.
func TestLocalDisks(t *testing.T) {
	mkfs, err := storage.NewMkfs("linux", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		role     hypervisor.DiskRole
		index    int
		size     int64
		fmt, bus string
	}
	eph := func(i int, gib int64, f, bus string) want {
		return want{hypervisor.RoleEphemeral, i, gib << 30, f, bus}
	}
	swap := func(mib int64, bus string) want { return want{hypervisor.RoleSwap, 0, mib << 20, "", bus} }
	tests := []struct {
		name    string
		bdms    []*vo.Object
		flavor  flavor
		want    []want
		wantErr string
	}{
		{name: "no mapping, no flavor disks", flavor: flavor{RootGB: 1}},
		{name: "flavor only", flavor: flavor{EphemeralGB: 2, SwapMB: 64}, want: []want{eph(0, 2, "", ""), swap(64, "")}},
		{name: "only the root mapping: flavor", bdms: []*vo.Object{bdm(rootBDM)}, flavor: flavor{EphemeralGB: 1},
			want: []want{eph(0, 1, "", "")}},
		{name: "mappings win over the flavor",
			bdms: []*vo.Object{bdm(rootBDM), blank(1, "ext3"), blank(2, nil, "disk_bus", "sata", "device_name", "/dev/sdb"),
				blank(128, "swap", "device_name", "/dev/vdd")},
			flavor: flavor{EphemeralGB: 3, SwapMB: 64},
			want:   []want{eph(0, 1, "ext3", ""), eph(1, 2, "", "sata"), swap(128, "")}},
		{name: "last sized swap mapping wins", bdms: []*vo.Object{blank(32, "swap"), blank(16, "swap", "disk_bus", "scsi")},
			want: []want{swap(16, "scsi")}},
		{name: "swap mapping without size: flavor swap", bdms: []*vo.Object{blank(nil, "swap")}, flavor: flavor{SwapMB: 64},
			want: []want{swap(64, "")}},
		{name: "volumes and images are not local blanks",
			bdms:   []*vo.Object{bdm(map[string]any{"source_type": "volume", "destination_type": "volume", "volume_size": 5})},
			flavor: flavor{EphemeralGB: 1}, want: []want{eph(0, 1, "", "")}},
		{name: "guest format nova refuses", bdms: []*vo.Object{blank(1, "vfat")}, wantErr: "vfat format is not supported"},
		{name: "unknown guest format", bdms: []*vo.Object{blank(1, "ext4 -O ^has_journal")}, wantErr: "format is not supported"},
		{name: "ephemeral without size", bdms: []*vo.Object{blank(nil, "ext4", "device_name", "/dev/vdb")}, wantErr: "/dev/vdb has no size"},
		{name: "encrypted", bdms: []*vo.Object{blank(1, nil, "encrypted", true)}, wantErr: "encrypted local disk"},
		{name: "cdrom blank", bdms: []*vo.Object{blank(1, nil, "device_type", "cdrom")}, wantErr: "of type cdrom"},
		{name: "size of the wrong type", bdms: []*vo.Object{blank("1", nil)}, wantErr: "block_device_mapping unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var list *vo.Object
			if tt.bdms != nil {
				list = bdmList(t, tt.bdms...)
			}
			got, err := localDisks(list, tt.flavor, mkfs)
			if tt.wantErr != "" {
				var be *buildError
				if !errors.As(err, &be) || be.Reschedule || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an abort containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("disks = %+v, want %+v", got, tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.role != w.role || g.index != w.index || g.size != w.size || g.guestFormat != w.fmt || g.bus != w.bus {
					t.Errorf("disk %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestMakeLocalDisks makes and formats the disks with the real tools, and a failing mkfs leaves the error typed.
func TestMakeLocalDisks(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "mkswap", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	st, err := storage.NewFile(filepath.Join(dir, "_images"), dir, storage.CopySparse)
	if err != nil {
		t.Fatal(err)
	}
	eng := &engine{storage: st}
	uuid := "44444444-0000-4000-8000-000000000001"
	local := []localDisk{{role: hypervisor.RoleEphemeral, size: 64 << 20, bus: "sata"},
		{role: hypervisor.RoleEphemeral, index: 1, size: 32 << 20, guestFormat: "ext2"},
		{role: hypervisor.RoleSwap, size: 16 << 20}}
	disks, err := eng.makeLocalDisks(context.Background(), uuid, "linux", local)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, typ, bus string }{{"disk.eph0", "ext4", "sata"}, {"disk.eph1", "ext2", ""}, {"disk.swap", "swap", ""}}
	for i, w := range want {
		d := disks[i]
		if d.Path != filepath.Join(dir, uuid, w.name) || d.Bus != w.bus || d.Format != "raw" {
			t.Errorf("disk %d = %+v", i, d)
		}
		out, err := exec.Command("blkid", "-p", "-o", "value", "-s", "TYPE", d.Path).Output()
		if err != nil || strings.TrimSpace(string(out)) != w.typ {
			t.Errorf("%s: type %q (%v), want %s", w.name, out, err, w.typ)
		}
	}
	// The operator's command fails: a reschedulable error naming the disk and the command.
	eng2 := &engine{storage: st, mkfs: &storage.Mkfs{GOOS: runtime.GOOS, Commands: map[string]storage.MkfsCommand{}}}
	eng2.mkfs.Commands["default"], _ = storage.ParseMkfsCommand("false %(target)s")
	_, err = eng2.makeLocalDisks(context.Background(), "44444444-0000-4000-8000-000000000002", "", local[:1])
	var be *buildError
	if !errors.As(err, &be) || !be.Reschedule || !strings.Contains(err.Error(), "disk.eph0") || !strings.Contains(err.Error(), "false") {
		t.Errorf("failing mkfs: %v", err)
	}
	// ntfs (the windows default) on a FreeBSD host: an abort, no retry helps.
	eng3 := &engine{storage: st, mkfs: &storage.Mkfs{GOOS: "freebsd"}}
	_, err = eng3.makeLocalDisks(context.Background(), "44444444-0000-4000-8000-000000000003", "windows", local[:1])
	if !errors.As(err, &be) || be.Reschedule || !errors.Is(err, storage.ErrUnsupportedFormat) {
		t.Errorf("ntfs on freebsd: %v", err)
	}
}

func TestNewMkfsOptionErrors(t *testing.T) {
	tests := []struct {
		name, def string
		virt      []string
		want      string
	}{
		{"bad template", "", []string{"linux=mkfs.ext4 /dev/sdb"}, "virt_mkfs"},
		{"no os_type", "", []string{"mkfs.ext4 %(target)s"}, "virt_mkfs"},
		{"format the host cannot make", map[string]string{"linux": "ufs", "freebsd": "xfs"}[runtime.GOOS], nil, "default_ephemeral_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &conf.Config{}
			cfg.Default.DefaultEphemeralFormat, cfg.Default.VirtMkfs = tt.def, tt.virt
			err := checkStartupMkfs(cfg)
			var ce *conf.Error
			if !errors.As(err, &ce) || ce.Option != tt.want {
				t.Fatalf("err = %v, want a conf.Error on %s", err, tt.want)
			}
		})
	}
	cfg := &conf.Config{}
	cfg.Default.DefaultEphemeralFormat, cfg.Default.VirtMkfs = "ext4", []string{"default=mkfs.ext4 -L %(fs_label)s %(target)s"}
	if err := checkStartupMkfs(cfg); err != nil {
		t.Errorf("good options refused: %v", err)
	}
}

// TestBuildWithEphemeralAndSwap builds through the RPC path with a flavor of 1 GiB ephemeral and 64 MiB swap and a
// mapping that puts the ephemeral on SATA as ext3: the disks exist formatted, the domain has them, the tracker counts
// them; a build whose formatting fails leaves nothing.
func TestBuildWithEphemeralAndSwap(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "mkswap", "blkid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	defaultBDMs := func(t *testing.T) *vo.Object {
		return bdmList(t, bdm(rootBDM), blank(1, "ext3", "disk_bus", "sata"), blank(64, "swap"))
	}
	run := func(t *testing.T, h *harness, uuid string, bdms *vo.Object) *vo.Object {
		t.Helper()
		inst := instanceFromWire(t, uuid)
		fo, _, err := vo.Get[*vo.Object](inst, "flavor")
		if err != nil || fo == nil {
			t.Fatalf("flavor: %v", err)
		}
		_ = fo.Set("ephemeral_gb", 1)
		_ = fo.Set("swap", 64)
		_ = inst.Set("flavor", fo)
		_ = inst.Set("os_type", "linux")
		inst.ResetChanges()
		h.cond.put(inst)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(buildMessage(t, inst, false), &m); err != nil {
			t.Fatal(err)
		}
		m["block_device_mapping"], _ = json.Marshal(bdms)
		msg, _ := json.Marshal(m)
		h.runBuild(t, context.Background(), msg)
		return h.cond.object(uuid)
	}
	t.Run("success", func(t *testing.T) {
		h := newHarness(t)
		uuid := "44444444-0000-4000-8000-000000000011"
		got := run(t, h, uuid, defaultBDMs(t))
		if v := fieldString(got, "vm_state"); v != vmActive {
			t.Fatalf("vm_state = %q, faults %q", v, h.cond.faults[uuid])
		}
		for name, typ := range map[string]string{"disk.eph0": "ext3", "disk.swap": "swap"} {
			p := filepath.Join(h.dir, uuid, name)
			out, err := exec.Command("blkid", "-p", "-o", "value", "-s", "TYPE", p).Output()
			if err != nil || strings.TrimSpace(string(out)) != typ {
				t.Errorf("%s: type %q (%v), want %s", name, out, err, typ)
			}
		}
		dom := h.drv.lastSpawn
		var targets []string
		for _, d := range dom.Devices.Disks {
			if d.Device == "disk" && d.Target != nil {
				targets = append(targets, d.Target.Dev+"/"+d.Target.Bus)
			}
		}
		if strings.Join(targets, " ") != "vda/virtio sda/sata vdb/virtio" {
			t.Errorf("domain disks = %v, want root virtio, ephemeral sata, swap virtio", targets)
		}
		// 1 GiB root of the wire flavor? The tracker counts root + 1 GiB ephemeral + 64 MiB swap.
		f, _ := asInstance(got).Flavor()
		if u := h.s.usage(); u.diskMB != int64(f.RootGB)*1024+1024+64 {
			t.Errorf("usage disk = %d MiB, want root %d GiB + 1 GiB + 64 MiB", u.diskMB, f.RootGB)
		}
		if err := h.s.destroyGuest(context.Background(), got); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("instance directory left after delete: %v", err)
		}
	})
	t.Run("bus the engine lacks", func(t *testing.T) {
		h := newHarness(t)
		uuid := "44444444-0000-4000-8000-000000000013"
		got := run(t, h, uuid, bdmList(t, bdm(rootBDM), blank(64, "swap", "disk_bus", "floppy")))
		if v := fieldString(got, "vm_state"); v != vmError {
			t.Errorf("vm_state = %q", v)
		}
		if f := h.cond.faults[uuid]; len(f) != 1 || !strings.Contains(f[0], "aborted") || !strings.Contains(f[0], "floppy") {
			t.Errorf("faults = %q", f)
		}
		if n := h.fetches.Load(); n != 0 {
			t.Errorf("image fetched %d times before the refusal", n)
		}
		if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("instance directory made for a refused build: %v", err)
		}
	})
	t.Run("formatting fails", func(t *testing.T) {
		h := newHarness(t)
		m, _ := storage.NewMkfs(runtime.GOOS, "", nil)
		m.Run = func(_ context.Context, argv []string) error {
			if argv[0] == "mkswap" {
				return errors.New("mkswap: no space left")
			}
			return exec.Command(argv[0], argv[1:]...).Run()
		}
		h.s.lc.eng.mkfs = m
		uuid := "44444444-0000-4000-8000-000000000012"
		got := run(t, h, uuid, defaultBDMs(t))
		if v := fieldString(got, "vm_state"); v != vmError {
			t.Errorf("vm_state = %q", v)
		}
		if f := h.cond.faults[uuid]; len(f) != 1 || !strings.Contains(f[0], "cannot format swap disk disk.swap") {
			t.Errorf("faults = %q", f)
		}
		if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("instance directory left after a failed build: %v", err)
		}
	})
}
