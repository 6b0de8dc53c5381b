package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/hypervisor/qemu"
	"github.com/novabsd/novabsd/rpc"
)

// TestQEMURescueUnrescueRebuild boots the real tiny image under QEMU/TCG, rescues it (the console shows the
// rescue image booted from vda, the size of the image, with the original root disk, the flavor's size, as vdb),
// unrescues it (the original disk boots again, alone), rebuilds it (a fresh root disk boots) and deletes it
// leaving nothing behind, the rescue disk included.
func TestQEMURescueUnrescueRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a real guest under TCG")
	}
	needTinyQEMU(t)
	h := newHarness(t)
	qc := qemu.DefaultConfig()
	qc.Accel = qemu.AccelTCG
	qc.RunDir = t.TempDir()
	qc.User = "nobody"
	for _, p := range []string{h.dir, filepath.Dir(h.dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	drv, err := qemu.New(qc)
	if err != nil {
		t.Fatal(err)
	}
	eng := h.s.lc.eng
	eng.driver = drv
	eng.domainOptions = func(context.Context) domain.Options { return qemu.DomainOptions(qc, qemu.AccelTCG) }
	eng.fetch = func(context.Context, *rpc.RequestContext, string) (string, error) { return tinyRaw, nil }
	h.withImages(nil)
	uuid := "99999999-0000-4000-8000-000000000012"
	inst := instanceFromWire(t, uuid)
	fl, _ := inst.Object("flavor")
	_ = fl.Set("memory_mb", 256)
	_ = inst.Set("flavor", fl)
	inst.ResetChanges()
	h.cond.put(inst)
	f, err := asInstance(inst).Flavor()
	if err != nil {
		t.Fatal(err)
	}
	g := hypervisor.Guest{UUID: uuid, Name: testGuestName, Dir: filepath.Join(h.dir, uuid)}
	t.Cleanup(func() { drv.Destroy(context.Background(), g) })

	if _, err := h.s.buildAndRunInstance(context.Background(), buildMessage(t, inst, false)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "build", func() bool { return len(h.eventsContaining("finish compute__do_build_and_run_instance")) > 0 })
	h.s.lc.work.Wait()
	if got := h.cond.object(uuid); fieldString(got, "vm_state") != vmActive {
		t.Fatalf("vm_state %s, faults %v", fieldString(got, "vm_state"), h.cond.faults[uuid])
	}
	console := func() string {
		raw, _ := json.Marshal(map[string]any{"instance": h.cond.object(uuid), "tail_length": nil})
		out, err := h.s.getConsoleOutput(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		return out.(string)
	}
	waitMarker := func(what string) string {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			c := console()
			if strings.Contains(c, "NOVABSD-TINY-GUEST-READY") {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: marker not seen; console:\n%s", what, c)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	waitMarker("build")
	img, err := os.Stat(tinyRaw)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel's virtio_blk lines: "[vda] 65536 512-byte logical blocks".
	blocks := func(c, dev string) string {
		m := regexp.MustCompile(`\[` + dev + `\] (\d+) 512-byte`).FindStringSubmatch(c)
		if m == nil {
			return ""
		}
		return m[1]
	}
	imageBlocks, rootBlocks := fmt.Sprint(img.Size()/512), fmt.Sprint(int64(f.RootGB)*gib/512)

	if err := h.rescue(t, uuid, "rescue-image"); err != nil {
		t.Fatalf("rescue: %v (faults %v)", err, h.cond.faults[uuid])
	}
	if vm := fieldString(h.cond.object(uuid), "vm_state"); vm != vmRescued {
		t.Fatalf("vm_state after rescue = %s", vm)
	}
	c := waitMarker("rescue")
	if blocks(c, "vda") != imageBlocks || blocks(c, "vdb") != rootBlocks {
		t.Errorf("rescue boot: vda %q blocks (want the rescue image's %s), vdb %q (want the root disk's %s); console:\n%s",
			blocks(c, "vda"), imageBlocks, blocks(c, "vdb"), rootBlocks, c)
	}

	if err := h.unrescue(t, uuid); err != nil {
		t.Fatalf("unrescue: %v", err)
	}
	c = waitMarker("unrescue")
	if blocks(c, "vda") != rootBlocks || blocks(c, "vdb") != "" {
		t.Errorf("after unrescue: vda %q (want %s), vdb %q (want none); console:\n%s", blocks(c, "vda"), rootBlocks, blocks(c, "vdb"), c)
	}
	if _, err := os.Stat(filepath.Join(h.dir, uuid+".rescue")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rescue disk left after unrescue: %v", err)
	}

	if err := h.rebuildWith(t, uuid, "tiny-again", nil); err != nil {
		t.Fatalf("rebuild: %v (faults %v)", err, h.cond.faults[uuid])
	}
	if got := h.cond.object(uuid); fieldString(got, "vm_state") != vmActive || fieldString(got, "image_ref") != "tiny-again" {
		t.Errorf("after rebuild: %s image %s", fieldString(got, "vm_state"), fieldString(got, "image_ref"))
	}
	c = waitMarker("rebuild")
	if blocks(c, "vda") != rootBlocks {
		t.Errorf("after rebuild: vda %q, want %s", blocks(c, "vda"), rootBlocks)
	}

	// Rescued again, then deleted: nothing of the rescue stays.
	if err := h.rescue(t, uuid, ""); err != nil {
		t.Fatalf("second rescue: %v", err)
	}
	o := h.setTask(uuid, taskDeleting)
	raw, _ := json.Marshal(map[string]any{"instance": o, "bdms": nil})
	if _, err := h.s.terminateInstance(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{g.Dir, filepath.Join(h.dir, uuid+".rescue")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after delete: %v", p, err)
		}
	}
	if _, err := drv.Info(context.Background(), g); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("guest still known after delete: %v", err)
	}
}
