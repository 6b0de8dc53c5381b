package compute

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/configdrive"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/bhyve"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
	"libvirt.org/go/libvirtxml"
)

var updateGolden = flag.Bool("update-rescue", false, "rewrite compute/testdata/rescue-*.argv")

const testGuestName = "instance-00000040" // the wire instance's id 64

// withImages makes the harness's Glance answer with props for every image and count the lookups.
func (h *harness) withImages(props map[string]any) {
	h.s.lc.eng.imageInfo = func(_ context.Context, _ *rpc.RequestContext, id string) (imageMeta, error) {
		return imageMeta{ID: id, DiskFormat: "raw", Properties: props}, nil
	}
}

// setTask sets the task state nova-api sets before casting, in the fake database and the returned instance.
func (h *harness) setTask(uuid, task string) *vo.Object {
	inst := h.cond.object(uuid)
	_ = inst.Set("task_state", task)
	h.cond.put(inst)
	inst.ResetChanges()
	return inst
}

func (h *harness) rescue(t *testing.T, uuid, image string) error {
	t.Helper()
	inst := h.setTask(uuid, taskRescuing)
	raw, _ := json.Marshal(map[string]any{"instance": inst, "rescue_password": "s3cret-pass",
		"rescue_image_ref": image, "clean_shutdown": true})
	_, err := checked("rescue_instance", h.s.rescueMethods()["rescue_instance"].args, h.s.rescueInstance)(context.Background(), raw)
	return err
}

func (h *harness) unrescue(t *testing.T, uuid string) error {
	t.Helper()
	inst := h.setTask(uuid, taskUnrescuing)
	raw, _ := json.Marshal(map[string]any{"instance": inst})
	_, err := h.s.unrescueInstance(context.Background(), raw)
	return err
}

func (h *harness) domainOf(t *testing.T, uuid string) *libvirtxml.Domain {
	t.Helper()
	dom, err := hypervisor.LoadDomain(filepath.Join(h.dir, uuid))
	if err != nil {
		t.Fatal(err)
	}
	return dom
}

func diskSources(dom *libvirtxml.Domain) []string {
	var out []string
	for _, d := range dom.Devices.Disks {
		src := ""
		if d.Source != nil && d.Source.File != nil {
			src = d.Source.File.File
		}
		boot := ""
		if d.Boot != nil {
			boot = " boot"
		}
		out = append(out, d.Device+" "+d.Target.Bus+" "+d.Target.Dev+" "+filepath.Base(filepath.Dir(src))+"/"+filepath.Base(src)+boot)
	}
	return out
}

func lastSave(t *testing.T, h *harness, uuid string) saveRec {
	t.Helper()
	s := h.cond.savesOf(uuid)
	if len(s) == 0 {
		t.Fatal("no saves")
	}
	return s[len(s)-1]
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestRescueAndUnrescue(t *testing.T) {
	h := newHarness(t)
	uuid := "12121212-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	h.withImages(map[string]any{"hw_disk_bus": "virtio"})
	dir := filepath.Join(h.dir, uuid)
	own, _ := os.ReadFile(filepath.Join(dir, hypervisor.DomainFile))
	if err := h.rescue(t, uuid, "rescue-image"); err != nil {
		t.Fatal(err)
	}
	got := h.cond.object(uuid)
	if s := lastSave(t, h, uuid); s.VM != vmRescued || s.Task != "" || s.Expected != `["rescuing"]` || s.Power != powerRunning {
		t.Errorf("last save = %+v", s)
	}
	if fieldString(got, "launched_at") == "" {
		t.Error("launched_at not set")
	}
	want := []string{"disk virtio vda " + uuid + ".rescue/disk boot", "disk virtio vdb " + uuid + "/disk"}
	if d := diskSources(h.domainOf(t, uuid)); strings.Join(d, "|") != strings.Join(want, "|") {
		t.Errorf("rescue disks = %q, want %q", d, want)
	}
	if !exists(filepath.Join(dir, unrescueFile)) || !exists(filepath.Join(h.dir, uuid+".rescue", "disk")) {
		t.Error("unrescue.xml or the rescue disk missing while rescued")
	}
	if ev := h.eventsContaining("compute_rescue_instance"); len(ev) != 2 || !strings.HasSuffix(ev[1], "Success") {
		t.Errorf("events = %v", ev)
	}
	if st, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: testGuestName}); st.State != hypervisor.Running {
		t.Errorf("guest state = %v", st.State)
	}

	if err := h.unrescue(t, uuid); err != nil {
		t.Fatal(err)
	}
	if s := lastSave(t, h, uuid); s.VM != vmActive || s.Task != "" || s.Expected != `["unrescuing"]` {
		t.Errorf("last save = %+v", s)
	}
	back, _ := os.ReadFile(filepath.Join(dir, hypervisor.DomainFile))
	if string(back) != string(own) {
		t.Errorf("domain after unrescue differs from the guest's own:\n%s\nwant\n%s", back, own)
	}
	if exists(filepath.Join(dir, unrescueFile)) || exists(filepath.Join(h.dir, uuid+".rescue")) {
		t.Error("rescue files left after unrescue")
	}
	if ev := h.eventsContaining("compute_unrescue_instance"); len(ev) != 2 || !strings.HasSuffix(ev[1], "Success") {
		t.Errorf("events = %v", ev)
	}
}

func TestStableDeviceRescue(t *testing.T) {
	h := newHarness(t)
	uuid := "12121212-0000-4000-8000-000000000002"
	h.build(t, uuid, false)
	before := diskSources(h.domainOf(t, uuid))
	h.withImages(map[string]any{"hw_rescue_device": "cdrom", "hw_rescue_bus": "sata"})
	if err := h.rescue(t, uuid, ""); err != nil {
		t.Fatal(err)
	}
	got := diskSources(h.domainOf(t, uuid))
	if len(got) != len(before)+1 {
		t.Fatalf("disks = %q, want the %d original ones and the rescue cdrom", got, len(before))
	}
	for i, b := range before {
		if strings.TrimSuffix(got[i], " boot") != strings.TrimSuffix(b, " boot") {
			t.Errorf("disk %d = %q, want %q kept", i, got[i], b)
		}
	}
	if last := got[len(got)-1]; last != "cdrom sata sda "+uuid+".rescue/disk boot" {
		t.Errorf("rescue device = %q", last)
	}
}

// TestRescueRefusals: what can be refused is refused before the guest is touched; a failed rescue domain puts
// the guest's own back and ends in ERROR, as nova.
func TestRescueRefusals(t *testing.T) {
	cases := []struct {
		name    string
		props   map[string]any
		setup   func(h *harness)
		wantVM  string
		wantErr string
	}{
		{"rescue bus the engine lacks", map[string]any{"hw_rescue_bus": "xen"}, nil, vmActive, "hw_rescue_bus"},
		{"rescue device floppy", map[string]any{"hw_rescue_device": "floppy"}, nil, vmActive, "hw_rescue_device"},
		{"rescue image's novabsd_disk_bus the engine lacks", map[string]any{"novabsd_disk_bus": "xen"}, nil, vmActive,
			`invalid value "xen" for novabsd_disk_bus`},
		{"image download fails", nil, func(h *harness) { h.fetchErr = images.ErrNotFound }, vmActive, "could not be found"},
		{"engine refuses", nil, func(h *harness) { h.drv.checkErr = &hypervisor.UnsupportedError{Driver: "fake", Op: "x"} }, vmActive, "cannot be rescued"},
		{"rescue domain fails to start", nil, func(h *harness) {
			calls := 0
			h.drv.spawnErr = errors.New("no such firmware")
			h.drv.onSpawn = func(hypervisor.Guest) {
				calls++
				if calls == 2 { // the restore of the guest's own domain works
					h.drv.mu.Lock()
					h.drv.spawnErr = nil
					h.drv.mu.Unlock()
				}
			}
		}, vmError, "Driver Error"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			uuid := "12121212-0000-4000-8000-00000000010" + string(rune('0'+i))
			h.build(t, uuid, false)
			dir := filepath.Join(h.dir, uuid)
			own, _ := os.ReadFile(filepath.Join(dir, hypervisor.DomainFile))
			h.withImages(c.props)
			if c.setup != nil {
				c.setup(h)
			}
			err := h.rescue(t, uuid, "")
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("rescue error = %v, want one with %q", err, c.wantErr)
			}
			got := h.cond.object(uuid)
			if vm, task := fieldString(got, "vm_state"), fieldString(got, "task_state"); vm != c.wantVM || task != "" {
				t.Errorf("after refusal: vm %q task %q, want %q and none", vm, task, c.wantVM)
			}
			if len(h.cond.faults[uuid]) == 0 {
				t.Error("no fault recorded")
			}
			now, _ := os.ReadFile(filepath.Join(dir, hypervisor.DomainFile))
			if string(now) != string(own) {
				t.Error("the guest's domain was not left (or put back) as it was")
			}
			if st, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: testGuestName}); st.State != hypervisor.Running {
				t.Errorf("guest state = %v, want running", st.State)
			}
			if exists(filepath.Join(dir, unrescueFile)) || exists(filepath.Join(h.dir, uuid+".rescue")) {
				t.Error("rescue files left")
			}
		})
	}
}

func TestDeleteRescuedRemovesRescueFiles(t *testing.T) {
	h := newHarness(t)
	uuid := "12121212-0000-4000-8000-000000000003"
	h.build(t, uuid, false)
	h.withImages(nil)
	if err := h.rescue(t, uuid, ""); err != nil {
		t.Fatal(err)
	}
	inst := h.setTask(uuid, taskDeleting)
	raw, _ := json.Marshal(map[string]any{"instance": inst, "bdms": json.RawMessage(`{"nova_object.name": "BlockDeviceMappingList", "nova_object.namespace": "nova", "nova_object.version": "1.18", "nova_object.data": {"objects": []}}`)})
	if _, err := h.s.terminateInstance(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{uuid, uuid + ".rescue"} {
		if exists(filepath.Join(h.dir, p)) {
			t.Errorf("%s left after delete", p)
		}
	}
}

// TestRescuedSurvivesRestart: start-up reconciliation leaves a rescued instance rescued, on its rescue domain.
func TestRescuedSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	uuid := "12121212-0000-4000-8000-000000000004"
	h.build(t, uuid, false)
	h.withImages(nil)
	if err := h.rescue(t, uuid, ""); err != nil {
		t.Fatal(err)
	}
	rescueDom, _ := os.ReadFile(filepath.Join(h.dir, uuid, hypervisor.DomainFile))
	h.drv.set(testGuestName, hypervisor.Shutdown) // the host rebooted
	if err := h.s.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := h.cond.object(uuid)
	if vm := fieldString(got, "vm_state"); vm != vmRescued {
		t.Errorf("vm_state after restart = %q, want rescued", vm)
	}
	now, _ := os.ReadFile(filepath.Join(h.dir, uuid, hypervisor.DomainFile))
	if string(now) != string(rescueDom) || !exists(filepath.Join(h.dir, uuid, unrescueFile)) ||
		!exists(filepath.Join(h.dir, uuid+".rescue", "disk")) {
		t.Error("the rescue domain, its disk or unrescue.xml did not survive the restart")
	}
}

// TestRescueDomainBhyveGolden: the rescue domains of a bhyve guest, as bhyve's command line.
func TestRescueDomainBhyveGolden(t *testing.T) {
	cfg := bhyve.DefaultConfig()
	opts := bhyve.DomainOptions(cfg)
	dir := "/var/lib/nova/instances/12121212-0000-4000-8000-000000000005"
	spec := hypervisor.Spec{UUID: "12121212-0000-4000-8000-000000000005", Name: "instance-00000005", Dir: dir,
		VCPUs: 2, MemoryMB: 512, Disks: []hypervisor.Disk{
			{Role: hypervisor.RoleRoot, Path: dir + "/disk", Format: "raw"},
			{Role: hypervisor.RoleEphemeral, Path: dir + "/disk.eph0", Format: "raw"},
			{Role: hypervisor.RoleConfigDrive, Path: dir + "/disk.config", Format: "raw", CDROM: true, ReadOnly: true}},
		NICs: []hypervisor.NIC{{MAC: "fa:16:3e:00:00:01", Tap: "tap0123456789a"}}}
	orig, err := domain.Build(spec, domain.Props{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		props map[string]any
	}{
		{"legacy", nil},
		{"stable-cdrom-sata", map[string]any{"hw_rescue_device": "cdrom", "hw_rescue_bus": "sata"}},
		{"stable-disk-nvme", map[string]any{"hw_rescue_bus": "nvme"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dom, err := rescueDomain(orig, dir, dir+".rescue/disk", dir+"/"+rescueConfigDriveFile, imageMeta{Properties: c.props}, opts)
			if err != nil {
				t.Fatal(err)
			}
			x, _ := dom.Marshal()
			lines, err := hypervisor.ArgvForXML("bhyve", []byte(x))
			if err != nil {
				t.Fatal(err)
			}
			got := hypervisor.FormatArgv(lines)
			path := filepath.Join("testdata", "rescue-bhyve-"+c.name+".argv")
			// The same domain is an input of the bhyve driver's own golden tests (TestGoldenLibvirtXML).
			xmlPath := filepath.Join("..", "hypervisor", "bhyve", "testdata", "xml", "rescue-"+c.name+".xml")
			if *updateGolden {
				_ = os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(xmlPath, []byte(x+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if b, err := os.ReadFile(xmlPath); err != nil || string(b) != x+"\n" {
				t.Errorf("%s is not this rescue domain (%v): -update-rescue rewrites it", xmlPath, err)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestRescueDomainBhyveGolden -update-rescue writes it)", err)
			}
			if got != string(want) {
				t.Errorf("argv differs from %s:\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
	// Legacy rescue: the rescue image's novabsd_disk_bus puts the rescue disk on its bus over hw_disk_bus.
	dom, err := rescueDomain(orig, dir, dir+".rescue/disk", "", imageMeta{Properties: map[string]any{
		"novabsd_disk_bus": "nvme", "hw_disk_bus": "sata"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := dom.Devices.Disks[0]; d.Target.Bus != "nvme" || d.Boot == nil {
		t.Errorf("rescue disk on %s (boot %v), want nvme, booted", d.Target.Bus, d.Boot)
	}
	// bhyve has no scsi: a rescue bus it lacks is refused by name.
	if _, err := rescueDomain(orig, dir, dir+".rescue/disk", "", imageMeta{Properties: map[string]any{"hw_rescue_bus": "scsi"}}, opts); !errors.Is(err, hypervisor.ErrInvalidProperty) || !strings.Contains(err.Error(), "hw_rescue_bus") {
		t.Errorf("scsi rescue bus on bhyve: %v", err)
	}
}

// TestRescueRegeneratesConfigDrive: a guest with a config drive is rescued with a new one carrying the rescue
// password (admin_pass), in place of its own, which stays untouched; unrescue removes the rescue drive.
func TestRescueRegeneratesConfigDrive(t *testing.T) {
	h := newHarness(t)
	cfg := *h.s.cfg.Load()
	cfg.Default.ForceConfigDrive = true
	h.s.cfg.Store(&cfg)
	var written []configdrive.Content
	h.s.lc.eng.writeConfigDrive = func(path string, c configdrive.Content) error {
		written = append(written, c)
		return os.WriteFile(path, []byte("CD001 "+filepath.Base(path)), 0o600)
	}
	uuid := "12121212-0000-4000-8000-000000000006"
	h.build(t, uuid, false)
	h.withImages(nil)
	dir := filepath.Join(h.dir, uuid)
	if err := h.rescue(t, uuid, ""); err != nil {
		t.Fatal(err)
	}
	if len(written) != 2 || written[1].AdminPass != "s3cret-pass" || written[1].UUID != uuid {
		t.Fatalf("config drives written: %d, rescue one %+v", len(written), written[len(written)-1])
	}
	got := diskSources(h.domainOf(t, uuid))
	if len(got) != 3 || got[2] != "cdrom sata sda "+uuid+"/"+rescueConfigDriveFile {
		t.Errorf("rescue disks = %q, want the rescue disk, the root disk and the rescue config drive", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, configDriveFile)); string(b) != "CD001 "+configDriveFile {
		t.Errorf("the guest's own config drive changed: %q", b)
	}
	if err := h.unrescue(t, uuid); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(dir, rescueConfigDriveFile)) || !exists(filepath.Join(dir, configDriveFile)) {
		t.Error("after unrescue the rescue config drive is left or the guest's own is gone")
	}
}

// TestRescueAfterUnfinishedRescue: a rescue interrupted before its final save (the service restarted) left the
// rescue domain and unrescue.xml behind with the instance still ACTIVE; the next rescue starts from the guest's
// own domain, and unrescue then gives that back.
func TestRescueAfterUnfinishedRescue(t *testing.T) {
	h := newHarness(t)
	uuid := "12121212-0000-4000-8000-000000000007"
	h.build(t, uuid, false)
	h.withImages(nil)
	dir := filepath.Join(h.dir, uuid)
	own, _ := os.ReadFile(filepath.Join(dir, hypervisor.DomainFile))
	if err := h.rescue(t, uuid, ""); err != nil {
		t.Fatal(err)
	}
	// The database never heard of it.
	inst := h.cond.object(uuid)
	_ = inst.Set("vm_state", vmActive)
	h.cond.put(inst)
	if err := h.rescue(t, uuid, ""); err != nil {
		t.Fatalf("rescue after an unfinished one: %v", err)
	}
	if saved, _ := os.ReadFile(filepath.Join(dir, unrescueFile)); string(saved) != string(own) {
		t.Error("unrescue.xml is not the guest's own domain")
	}
	if err := h.unrescue(t, uuid); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, hypervisor.DomainFile)); string(now) != string(own) {
		t.Error("unrescue did not give the guest's own domain back")
	}
}

// TestPollRescuedInstances: with rescue_timeout set, the periodic task unrescues the instances rescued (launched)
// longer ago than that, through the unrescue itself (task state unrescuing, then ACTIVE on the guest's own
// domain), and leaves the recent rescue alone; with 0 it does nothing.
func TestPollRescuedInstances(t *testing.T) {
	h := newHarness(t)
	old, recent := "12121212-0000-4000-8000-0000000000a1", "12121212-0000-4000-8000-0000000000a2"
	h.withImages(map[string]any{})
	for i, uuid := range []string{old, recent} {
		h.buildSmall(t, uuid, 300+i, 0)
		if err := h.rescue(t, uuid, ""); err != nil {
			t.Fatal(err)
		}
	}
	h.apiSets(old, map[string]any{"launched_at": time.Now().UTC().Add(-2 * time.Hour).Format(vo.DateTimeFormat)})
	if err := h.s.pollRescuedInstances(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vm := fieldString(h.cond.object(old), "vm_state"); vm != vmRescued {
		t.Fatalf("rescue_timeout 0 unrescued an instance (vm %q)", vm)
	}
	cfg := *h.s.cfg.Load()
	cfg.Default.RescueTimeout = 3600
	h.s.cfg.Store(&cfg)
	if err := h.s.pollRescuedInstances(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := lastSave(t, h, old); s.VM != vmActive || s.Task != "" || s.Expected != `["unrescuing"]` {
		t.Errorf("the old rescue's last save = %+v, want ACTIVE after unrescuing", s)
	}
	if exists(filepath.Join(h.dir, old, unrescueFile)) || exists(filepath.Join(h.dir, old+".rescue")) {
		t.Error("rescue files left after the periodic unrescue")
	}
	if vm := fieldString(h.cond.object(recent), "vm_state"); vm != vmRescued {
		t.Errorf("the recent rescue was unrescued too (vm %q)", vm)
	}
	if !exists(filepath.Join(h.dir, recent, unrescueFile)) {
		t.Error("the recent rescue's unrescue file is gone")
	}
}
