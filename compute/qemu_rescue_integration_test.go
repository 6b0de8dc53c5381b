package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
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
	drv := useTinyQEMU(t, h)
	h.withImages(nil)
	uuid := "99999999-0000-4000-8000-000000000012"
	inst, g := bootTinyQEMU(t, h, drv, uuid)
	f, err := asInstance(inst).Flavor()
	if err != nil {
		t.Fatal(err)
	}
	waitMarker := func(what string) string {
		t.Helper()
		return waitTinyMarker(t, h, uuid, what)
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
