package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// fakeGlance is Glance's v2 image API for the calls a snapshot and an unshelve make: GET, PATCH, PUT of the
// file and DELETE of an image, each recorded.
type fakeGlance struct {
	mu       sync.Mutex
	images   map[string]map[string]any
	uploaded map[string]int64 // bytes received per image
	deleted  []string
	calls    []string
	// failUpload, when set, makes every upload of image data answer HTTP 500.
	failUpload bool
}

func newFakeGlance(t *testing.T, h *harness, ids ...string) *fakeGlance {
	t.Helper()
	f := &fakeGlance{images: map[string]map[string]any{}, uploaded: map[string]int64{}}
	for _, id := range ids {
		f.images[id] = map[string]any{"id": id, "name": "shelved-" + id, "status": "queued",
			"container_format": "bare", "disk_format": "raw", "visibility": "private", "protected": false}
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	g, err := images.NewGlance(images.GlanceOptions{APIServers: []string{srv.URL}, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.s.lc.eng.glance = func(*rpc.RequestContext) (*images.Client, error) { return g.Client(images.Auth{Token: "tok"}) }
	return f
}

func (f *fakeGlance) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/images/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	id, file := strings.CutSuffix(rest, "/file")
	f.calls = append(f.calls, r.Method+" "+id)
	img, exists := f.images[id]
	if !exists {
		http.Error(w, "no image", http.StatusNotFound)
		return
	}
	switch {
	case r.Method == http.MethodGet && !file:
	case r.Method == http.MethodPatch && !file:
		var ops []struct {
			Op, Path string
			Value    any
		}
		if err := json.NewDecoder(r.Body).Decode(&ops); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, op := range ops {
			img[strings.TrimPrefix(op.Path, "/")] = op.Value
		}
	case r.Method == http.MethodPut && file && f.failUpload:
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "store full", http.StatusInternalServerError)
		return
	case r.Method == http.MethodPut && file:
		n, _ := io.Copy(io.Discard, r.Body)
		f.uploaded[id] = n
		img["status"] = "active"
		w.WriteHeader(http.StatusNoContent)
		return
	case r.Method == http.MethodDelete && !file:
		delete(f.images, id)
		f.deleted = append(f.deleted, id)
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		http.Error(w, "unexpected", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(img)
}

func (f *fakeGlance) deletedIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deleted)
}

func (f *fakeGlance) uploadedBytes(id string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploaded[id]
}

const shelveImage = "5e1f0000-0000-4000-8000-00000000a001"

// apiSets saves what nova-api saves before its cast (the task and any other field), then returns the
// instance as the cast carries it.
func (h *harness) apiSets(uuid string, fields map[string]any) *vo.Object {
	inst := h.cond.object(uuid)
	for k, v := range fields {
		_ = inst.Set(k, v)
	}
	h.cond.put(inst)
	inst.ResetChanges()
	return inst
}

// buildSmall builds an instance with database id id and ports ports whose flavor asks for no root disk size (the
// disk is the 1 MiB test image), so its snapshots copy a megabyte, not the flavor's gigabyte.
func (h *harness) buildSmall(t *testing.T, uuid string, id, ports int) *vo.Object {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	_ = inst.Set("id", id)
	f, err := inst.Object("flavor")
	if err != nil {
		t.Fatal(err)
	}
	f.SetInt("root_gb", 0)
	if err := inst.Set("flavor", f); err != nil {
		t.Fatal(err)
	}
	inst.ResetChanges()
	h.cond.put(inst)
	msg := buildMessage(t, inst, false)
	if ports > 0 {
		msg = netBuildMessageN(t, inst, false, ports)
	}
	if _, err := h.s.buildAndRunInstance(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	h.s.lc.work.Wait()
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmActive {
		t.Fatalf("build of %s: vm %q, faults %v", uuid, fieldString(got, "vm_state"), h.cond.faults[uuid])
	}
	return got
}

func (h *harness) shelve(t *testing.T, uuid string, imageID any) error {
	t.Helper()
	inst := h.apiSets(uuid, map[string]any{"task_state": taskShelving})
	args, _ := json.Marshal(map[string]any{"instance": inst, "image_id": imageID, "clean_shutdown": true,
		"accel_uuids": []string{}})
	_, err := h.s.shelveInstance(context.Background(), args)
	return err
}

func (h *harness) unshelve(t *testing.T, uuid, imageID string) error {
	t.Helper()
	inst := h.apiSets(uuid, map[string]any{"task_state": taskUnshelving})
	img := map[string]any{"id": imageID, "disk_format": "raw", "container_format": "bare", "properties": map[string]any{},
		"virtual_size": nil}
	args, _ := json.Marshal(map[string]any{"instance": inst, "image": img, "filter_properties": map[string]any{},
		"node": "node-a", "request_spec": nil, "accel_uuids": []string{}})
	_, err := h.s.unshelveInstance(context.Background(), args)
	return err
}

func checkSaves(t *testing.T, got []saveRec, want []saveRec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("saves = %+v, want %d of them", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.VM != w.VM || g.Task != w.Task || g.Expected != w.Expected {
			t.Errorf("save %d = vm %q task %q expected %s, want vm %q task %q expected %s", i, g.VM, g.Task,
				g.Expected, w.VM, w.Task, w.Expected)
		}
	}
}

func lastEvent(h *harness, event string) string {
	ev := h.eventsContaining(event)
	if len(ev) == 0 {
		return ""
	}
	return ev[len(ev)-1]
}

// TestShelveOffloadsAtOnce: with shelved_offload_time 0 the shelve powers off, snapshots through the shelving
// task states, then offloads in the same call: no guest, disk, tap or allocation left, the ports unbound from the
// host but still the instance's, and the record without host.
func TestShelveOffloadsAtOnce(t *testing.T) {
	h := newHarness(t)
	uuid := "5e100000-0000-4000-8000-000000000001"
	h.buildSmall(t, uuid, 64, 1)
	glance := newFakeGlance(t, h, shelveImage)
	if len(h.plugger.taps()) != 1 {
		t.Fatalf("taps after build: %v", h.plugger.taps())
	}
	before := len(h.cond.savesOf(uuid))
	if err := h.shelve(t, uuid, shelveImage); err != nil {
		t.Fatal(err)
	}
	checkSaves(t, h.cond.savesOf(uuid)[before:], []saveRec{
		{VM: vmActive, Task: taskShelving},
		{VM: vmActive, Task: taskShelvingPendingUpload, Expected: `["shelving"]`},
		{VM: vmActive, Task: taskShelvingUploading, Expected: `["shelving_image_pending_upload"]`},
		{VM: vmShelved, Task: taskShelvingOffloading, Expected: `["shelving","shelving_image_uploading"]`},
		{VM: vmShelvedOffloaded, Task: "", Expected: `["shelving","shelving_offloading"]`},
		{VM: vmShelvedOffloaded, Task: ""}, // host and node nulled, no expectation
	})
	got := h.cond.object(uuid)
	for _, f := range []string{"host", "node", "compute_id", "launched_on", "availability_zone", "task_state"} {
		if v := fieldString(got, f); v != "" {
			t.Errorf("%s = %q after offload, want null", f, v)
		}
	}
	if fieldString(got, "power_state") != "4" {
		t.Errorf("power_state = %s, want 4 (shutdown, as measured before the destroy)", fieldString(got, "power_state"))
	}
	sm := systemMetadata(got)
	if sm["shelved_image_id"] != shelveImage || sm["shelved_host"] != testHost {
		t.Errorf("system_metadata = %v", sm)
	}
	if _, err := time.Parse(shelvedAtFormat, sm["shelved_at"]); err != nil {
		t.Errorf("shelved_at %q: %v", sm["shelved_at"], err)
	}
	if glance.uploadedBytes(shelveImage) == 0 {
		t.Error("no snapshot uploaded to Glance")
	}
	if h.allocDel.Load() != 1 {
		t.Errorf("allocation deletes = %d, want 1", h.allocDel.Load())
	}
	if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory left on the host: %v", err)
	}
	if _, err := h.drv.Info(context.Background(), hypervisor.Guest{Name: "instance-00000040"}); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("guest left: %v", err)
	}
	if taps := h.plugger.taps(); len(taps) != 0 {
		t.Errorf("taps left plugged: %v", taps)
	}
	h.neutron.mu.Lock()
	for id, owner := range h.neutron.bound {
		if owner == uuid && h.neutron.hosts[id] != "" {
			t.Errorf("port %s still bound to %s", id, h.neutron.hosts[id])
		}
	}
	ports := len(h.neutron.bound)
	h.neutron.mu.Unlock()
	if ports != 1 {
		t.Errorf("the instance's port was released (%d left): an offload keeps it", ports)
	}
	if u := h.s.usage(); u.stats["num_instances"] != "0" || u.memoryMB != 0 {
		t.Errorf("usage after offload = %+v", u)
	}
	if ev := lastEvent(h, "compute_shelve_instance"); !strings.HasSuffix(ev, "Success") {
		t.Errorf("shelve event = %q", ev)
	}
}

// TestUnshelveSpawnsFromSnapshot: the unshelve claims, binds the ports here again, spawns from the snapshot,
// deletes it, and leaves the instance ACTIVE with its own image_ref and no shelved_* keys.
func TestUnshelveSpawnsFromSnapshot(t *testing.T) {
	h := newHarness(t)
	uuid := "5e100000-0000-4000-8000-000000000002"
	built := h.buildSmall(t, uuid, 64, 1)
	imageRef := fieldString(built, "image_ref")
	glance := newFakeGlance(t, h, shelveImage)
	if err := h.shelve(t, uuid, shelveImage); err != nil {
		t.Fatal(err)
	}
	fetches := h.fetches.Load()
	before := len(h.cond.savesOf(uuid))
	if err := h.unshelve(t, uuid, shelveImage); err != nil {
		t.Fatal(err)
	}
	checkSaves(t, h.cond.savesOf(uuid)[before:], []saveRec{
		{VM: vmShelvedOffloaded, Task: taskSpawning},
		{VM: vmShelvedOffloaded, Task: taskSpawning}, // claim: host and node
		{VM: vmActive, Task: "", Expected: `["spawning"]`},
	})
	got := h.cond.object(uuid)
	for field, want := range map[string]string{"host": testHost, "node": "node-a", "compute_id": "7",
		"vm_state": vmActive, "power_state": "1", "image_ref": imageRef} {
		if v := fieldString(got, field); v != want {
			t.Errorf("%s = %q, want %q", field, v, want)
		}
	}
	for _, k := range shelvedKeys {
		if v, ok := systemMetadata(got)[k]; ok {
			t.Errorf("system_metadata %s = %q left after unshelve", k, v)
		}
	}
	if h.fetches.Load() != fetches+1 {
		t.Errorf("image fetches = %d, want one more than %d", h.fetches.Load(), fetches)
	}
	if d := glance.deletedIDs(); !slices.Equal(d, []string{shelveImage}) {
		t.Errorf("Glance deletes = %v, want the snapshot", d)
	}
	if info, err := h.drv.Info(context.Background(), hypervisor.Guest{Name: "instance-00000040"}); err != nil ||
		info.State != hypervisor.Running {
		t.Errorf("guest after unshelve: %+v %v", info, err)
	}
	h.neutron.mu.Lock()
	for id, owner := range h.neutron.bound {
		if owner == uuid && h.neutron.hosts[id] != testHost {
			t.Errorf("port %s bound to %q, want this host", id, h.neutron.hosts[id])
		}
	}
	h.neutron.mu.Unlock()
	if len(h.plugger.taps()) != 1 {
		t.Errorf("taps after unshelve: %v", h.plugger.taps())
	}
	if u := h.s.usage(); u.stats["num_instances"] != "1" || u.memoryMB != 128 {
		t.Errorf("usage after unshelve = %+v", u)
	}
	if ev := lastEvent(h, "compute_unshelve_instance"); !strings.HasSuffix(ev, "Success") {
		t.Errorf("unshelve event = %q", ev)
	}
}

// TestUnshelveFailureIsRecoverable: a spawn failure gives back the allocation, leaves no guest and no host, the
// instance SHELVED_OFFLOADED with a fault and the snapshot kept; the next unshelve succeeds.
func TestUnshelveFailureIsRecoverable(t *testing.T) {
	h := newHarness(t)
	uuid := "5e100000-0000-4000-8000-000000000003"
	h.buildSmall(t, uuid, 64, 1)
	glance := newFakeGlance(t, h, shelveImage)
	if err := h.shelve(t, uuid, shelveImage); err != nil {
		t.Fatal(err)
	}
	allocs := h.allocDel.Load()
	h.drv.mu.Lock()
	h.drv.spawnErr = errors.New("qemu died")
	h.drv.mu.Unlock()
	if err := h.unshelve(t, uuid, shelveImage); err == nil {
		t.Fatal("unshelve with a failing spawn succeeded")
	}
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmShelvedOffloaded || fieldString(got, "task_state") != "" ||
		fieldString(got, "host") != "" || fieldString(got, "node") != "" {
		t.Errorf("after failed unshelve: vm %q task %q host %q node %q", fieldString(got, "vm_state"),
			fieldString(got, "task_state"), fieldString(got, "host"), fieldString(got, "node"))
	}
	if fieldString(got, "image_ref") == shelveImage {
		t.Error("image_ref left on the snapshot")
	}
	if systemMetadata(got)["shelved_image_id"] != shelveImage {
		t.Error("shelved_image_id lost: the next unshelve could not find the snapshot")
	}
	if h.allocDel.Load() != allocs+1 {
		t.Errorf("allocation deletes = %d, want %d", h.allocDel.Load(), allocs+1)
	}
	if len(h.cond.faults[uuid]) == 0 {
		t.Error("no fault recorded")
	}
	if len(glance.deletedIDs()) != 0 {
		t.Error("snapshot deleted by a failed unshelve")
	}
	if _, err := os.Stat(filepath.Join(h.dir, uuid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory left by the failed spawn: %v", err)
	}
	if taps := h.plugger.taps(); len(taps) != 0 {
		t.Errorf("taps left by the failed spawn: %v", taps)
	}
	if u := h.s.usage(); u.stats["num_instances"] != "0" {
		t.Errorf("usage after failed unshelve = %+v", u)
	}
	h.drv.mu.Lock()
	h.drv.spawnErr = nil
	h.drv.mu.Unlock()
	if err := h.unshelve(t, uuid, shelveImage); err != nil {
		t.Fatal(err)
	}
	if vm := fieldString(h.cond.object(uuid), "vm_state"); vm != vmActive {
		t.Errorf("second unshelve: vm %q", vm)
	}
}

// TestShelveRefusals: what cannot be done is refused without changing the server: a volume-backed shelve (no
// image id), an unshelve without an image, and a snapshot Glance does not have.
func TestShelveRefusals(t *testing.T) {
	h := newHarness(t)
	uuid := "5e100000-0000-4000-8000-000000000004"
	h.buildSmall(t, uuid, 64, 0)
	newFakeGlance(t, h) // holds no image
	if err := h.shelve(t, uuid, nil); !isRemote(err, "NotImplementedError") {
		t.Fatalf("shelve without image: %v, want NotImplementedError", err)
	}
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmActive || fieldString(got, "task_state") != "" {
		t.Errorf("after refused shelve: vm %q task %q", fieldString(got, "vm_state"), fieldString(got, "task_state"))
	}
	if info, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: "instance-00000040"}); info.State != hypervisor.Running {
		t.Errorf("guest is %s after a refused shelve", info.State)
	}
	if err := h.shelve(t, uuid, shelveImage); err == nil {
		t.Fatal("shelve to an image Glance does not have succeeded")
	}
	got = h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmActive || fieldString(got, "task_state") != "" || fieldString(got, "host") != testHost {
		t.Errorf("after failed snapshot: vm %q task %q host %q", fieldString(got, "vm_state"),
			fieldString(got, "task_state"), fieldString(got, "host"))
	}
	if len(h.cond.faults[uuid]) != 2 || h.allocDel.Load() != 0 {
		t.Errorf("faults %v, allocation deletes %d", h.cond.faults[uuid], h.allocDel.Load())
	}
	// A stop still works: the server is usable.
	inst := h.apiSets(uuid, map[string]any{"task_state": taskPoweringOff})
	args, _ := json.Marshal(map[string]any{"instance": inst, "clean_shutdown": false})
	if _, err := h.s.stopInstance(context.Background(), args); err != nil {
		t.Fatalf("stop after refusals: %v", err)
	}
	// unshelve_instance without an image (volume-backed) is refused the same way.
	inst = h.apiSets(uuid, map[string]any{"task_state": taskUnshelving, "vm_state": vmShelvedOffloaded})
	args, _ = json.Marshal(map[string]any{"instance": inst, "image": nil, "filter_properties": nil, "node": nil,
		"request_spec": nil, "accel_uuids": nil})
	if _, err := h.s.unshelveInstance(context.Background(), args); !isRemote(err, "NotImplementedError") {
		t.Fatalf("unshelve without image: %v", err)
	}
	if got := h.cond.object(uuid); fieldString(got, "task_state") != "" || fieldString(got, "vm_state") != vmShelvedOffloaded {
		t.Errorf("after refused unshelve: vm %q task %q", fieldString(got, "vm_state"), fieldString(got, "task_state"))
	}
}

// TestShelveDelayedOffload: with shelved_offload_time > 0 the shelved guest stays (stopped, allocations kept)
// until the periodic task finds it older than that; start_instance (how nova-api unshelves it meanwhile) deletes
// the snapshot and the shelved_* keys.
func TestShelveDelayedOffload(t *testing.T) {
	h := newHarness(t)
	cfg := *h.s.cfg.Load()
	cfg.Default.ShelvedOffloadTime = 3600
	h.s.cfg.Store(&cfg)
	old, fresh, started := "5e100000-0000-4000-8000-000000000005", "5e100000-0000-4000-8000-000000000006",
		"5e100000-0000-4000-8000-000000000007"
	glance := newFakeGlance(t, h, shelveImage, "5e1f0000-0000-4000-8000-00000000a002", "5e1f0000-0000-4000-8000-00000000a003")
	for i, uuid := range []string{old, fresh, started} {
		h.buildSmall(t, uuid, 100+i, 0)
		if err := h.shelve(t, uuid, fmt.Sprintf("5e1f0000-0000-4000-8000-00000000a%03d", i+1)); err != nil {
			t.Fatal(err)
		}
		got := h.cond.object(uuid)
		if fieldString(got, "vm_state") != vmShelved || fieldString(got, "task_state") != "" || fieldString(got, "host") != testHost {
			t.Fatalf("after shelve: vm %q task %q host %q", fieldString(got, "vm_state"),
				fieldString(got, "task_state"), fieldString(got, "host"))
		}
	}
	if h.allocDel.Load() != 0 {
		t.Fatalf("allocation deletes = %d before any offload", h.allocDel.Load())
	}
	if _, err := os.Stat(filepath.Join(h.dir, old, "disk")); err != nil {
		t.Fatalf("shelved guest's disk: %v", err)
	}
	// start_instance unshelves a SHELVED instance.
	inst := h.apiSets(started, map[string]any{"task_state": taskPoweringOn})
	args, _ := json.Marshal(map[string]any{"instance": inst})
	if _, err := h.s.startInstance(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	got := h.cond.object(started)
	if fieldString(got, "vm_state") != vmActive || len(systemMetadata(got)["shelved_image_id"]) != 0 {
		t.Errorf("after start: vm %q sysmeta %v", fieldString(got, "vm_state"), systemMetadata(got))
	}
	if d := glance.deletedIDs(); !slices.Equal(d, []string{"5e1f0000-0000-4000-8000-00000000a003"}) {
		t.Errorf("Glance deletes after start = %v", d)
	}
	// The periodic task: only the instance shelved more than shelved_offload_time ago goes.
	inst = h.cond.object(old)
	sm := systemMetadata(inst)
	sm["shelved_at"] = time.Now().UTC().Add(-2 * time.Hour).Format(shelvedAtFormat)
	_ = asInstance(inst).SetSystemMetadata(sm)
	h.cond.put(inst)
	if err := h.s.pollShelvedInstances(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vm := fieldString(h.cond.object(old), "vm_state"); vm != vmShelvedOffloaded {
		t.Errorf("old shelved instance: vm %q, want offloaded", vm)
	}
	if got := h.cond.savesOf(old); got[len(got)-3].Task != taskShelvingOffloading || got[len(got)-3].Expected != `[null]` {
		t.Errorf("periodic offload's first save = %+v", got[len(got)-3])
	}
	if fieldString(h.cond.object(old), "host") != "" || h.allocDel.Load() != 1 {
		t.Errorf("old: host %q, allocation deletes %d", fieldString(h.cond.object(old), "host"), h.allocDel.Load())
	}
	if _, err := os.Stat(filepath.Join(h.dir, old)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("offloaded instance's directory: %v", err)
	}
	if vm := fieldString(h.cond.object(fresh), "vm_state"); vm != vmShelved {
		t.Errorf("recently shelved instance: vm %q, want still shelved", vm)
	}
	if ev := lastEvent(h, "compute_shelve_offload_instance"); !strings.HasSuffix(ev, "Success") {
		t.Errorf("offload event = %q", ev)
	}
	// shelved_offload_time < 0: never offloaded.
	cfg.Default.ShelvedOffloadTime = -1
	h.s.cfg.Store(&cfg)
	inst = h.cond.object(fresh)
	sm = systemMetadata(inst)
	sm["shelved_at"] = time.Now().UTC().Add(-48 * time.Hour).Format(shelvedAtFormat)
	_ = asInstance(inst).SetSystemMetadata(sm)
	h.cond.put(inst)
	if err := h.s.pollShelvedInstances(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vm := fieldString(h.cond.object(fresh), "vm_state"); vm != vmShelved {
		t.Errorf("with shelved_offload_time -1: vm %q, want still shelved", vm)
	}
}

// TestShelveOffloadOfShelved: shelve_offload_instance cast by nova-api for a SHELVED instance offloads it.
func TestShelveOffloadOfShelved(t *testing.T) {
	h := newHarness(t)
	cfg := *h.s.cfg.Load()
	cfg.Default.ShelvedOffloadTime = -1
	h.s.cfg.Store(&cfg)
	uuid := "5e100000-0000-4000-8000-000000000008"
	h.buildSmall(t, uuid, 64, 0)
	newFakeGlance(t, h, shelveImage)
	if err := h.shelve(t, uuid, shelveImage); err != nil {
		t.Fatal(err)
	}
	inst := h.apiSets(uuid, map[string]any{"task_state": taskShelvingOffloading})
	args, _ := json.Marshal(map[string]any{"instance": inst, "clean_shutdown": true, "accel_uuids": []string{}})
	if _, err := h.s.shelveOffloadInstance(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmShelvedOffloaded || fieldString(got, "host") != "" || h.allocDel.Load() != 1 {
		t.Errorf("after offload: vm %q host %q allocation deletes %d", fieldString(got, "vm_state"),
			fieldString(got, "host"), h.allocDel.Load())
	}
}

// TestOffloadRetriedAfterFailure: an offload whose allocation delete fails leaves the server SHELVED with no
// task (its guest already destroyed); the offload asked again finishes it.
func TestOffloadRetriedAfterFailure(t *testing.T) {
	h := newHarness(t)
	uuid := "5e100000-0000-4000-8000-000000000009"
	h.buildSmall(t, uuid, 64, 1)
	newFakeGlance(t, h, shelveImage)
	placementDown := errors.New("placement: HTTP 503")
	h.s.lc.deleteAllocations = func(context.Context, string) error { return placementDown }
	if err := h.shelve(t, uuid, shelveImage); !errors.Is(err, placementDown) {
		t.Fatalf("shelve with Placement down: %v", err)
	}
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmShelved || fieldString(got, "task_state") != "" || len(h.cond.faults[uuid]) != 1 {
		t.Fatalf("after failed offload: vm %q task %q faults %v", fieldString(got, "vm_state"),
			fieldString(got, "task_state"), h.cond.faults[uuid])
	}
	h.s.lc.deleteAllocations = func(context.Context, string) error { h.allocDel.Add(1); return nil }
	inst := h.apiSets(uuid, map[string]any{"task_state": taskShelvingOffloading})
	args, _ := json.Marshal(map[string]any{"instance": inst, "clean_shutdown": true, "accel_uuids": nil})
	if _, err := h.s.shelveOffloadInstance(context.Background(), args); err != nil {
		t.Fatalf("offload again: %v", err)
	}
	got = h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmShelvedOffloaded || fieldString(got, "host") != "" || h.allocDel.Load() != 1 {
		t.Errorf("after the retried offload: vm %q host %q allocation deletes %d", fieldString(got, "vm_state"),
			fieldString(got, "host"), h.allocDel.Load())
	}
	if taps := h.plugger.taps(); len(taps) != 0 {
		t.Errorf("taps left: %v", taps)
	}
}

// TestSoftDeleteAndRestore: soft delete powers the guest off and keeps it; restore powers it on.
func TestSoftDeleteAndRestore(t *testing.T) {
	h := newHarness(t)
	uuid := "5d000000-0000-4000-8000-000000000001"
	h.build(t, uuid, false)
	name := hypervisor.Guest{Name: "instance-00000040"}
	steps := []struct {
		method, task   string
		handler        func(context.Context, json.RawMessage) (any, error)
		wantVM, expect string
		wantGuest      hypervisor.PowerState
	}{
		{"soft_delete_instance", taskSoftDeleting, h.s.softDeleteInstance, vmSoftDeleted, `["soft-deleting"]`, hypervisor.Shutdown},
		{"restore_instance", taskRestoring, h.s.restoreInstance, vmActive, `["restoring"]`, hypervisor.Running},
	}
	for _, st := range steps {
		inst := h.apiSets(uuid, map[string]any{"task_state": st.task})
		args, _ := json.Marshal(map[string]any{"instance": inst})
		if _, err := st.handler(context.Background(), args); err != nil {
			t.Fatalf("%s: %v", st.method, err)
		}
		got := h.cond.object(uuid)
		saves := h.cond.savesOf(uuid)
		if fieldString(got, "vm_state") != st.wantVM || fieldString(got, "task_state") != "" ||
			saves[len(saves)-1].Expected != st.expect {
			t.Errorf("%s: vm %q task %q expected %s", st.method, fieldString(got, "vm_state"),
				fieldString(got, "task_state"), saves[len(saves)-1].Expected)
		}
		if info, _ := h.drv.Info(context.Background(), name); info.State != st.wantGuest {
			t.Errorf("%s: guest %s, want %s", st.method, info.State, st.wantGuest)
		}
		if ev := lastEvent(h, "compute_"+st.method); !strings.HasSuffix(ev, "Success") {
			t.Errorf("%s event = %q", st.method, ev)
		}
	}
	if h.allocDel.Load() != 0 {
		t.Error("soft delete or restore deleted allocations")
	}
}

// TestReclaimQueuedDeletes: the periodic reclaim deletes for good only the soft-deleted instances whose
// deleted_at is older than reclaim_instance_interval, and nothing when the interval is 0.
func TestReclaimQueuedDeletes(t *testing.T) {
	h := newHarness(t)
	old, fresh := "5d000000-0000-4000-8000-000000000002", "5d000000-0000-4000-8000-000000000003"
	for i, uuid := range []string{old, fresh} {
		h.buildSmall(t, uuid, 200+i, 0)
		deletedAt := time.Now().UTC().Add(-time.Minute)
		if uuid == old {
			deletedAt = time.Now().UTC().Add(-2 * time.Hour)
		}
		inst := h.apiSets(uuid, map[string]any{"task_state": taskSoftDeleting, "deleted_at": deletedAt.Format(vo.DateTimeFormat)})
		args, _ := json.Marshal(map[string]any{"instance": inst})
		if _, err := h.s.softDeleteInstance(context.Background(), args); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.s.reclaimQueuedDeletes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.cond.deleted[old] || h.cond.deleted[fresh] {
		t.Fatal("reclaim ran with reclaim_instance_interval 0")
	}
	cfg := *h.s.cfg.Load()
	cfg.Default.ReclaimInstanceInterval = 3600
	h.s.cfg.Store(&cfg)
	if err := h.s.reclaimQueuedDeletes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !h.cond.deleted[old] || fieldString(h.cond.object(old), "vm_state") != vmDeleted {
		t.Errorf("old soft-deleted instance not reclaimed: vm %q", fieldString(h.cond.object(old), "vm_state"))
	}
	if h.cond.deleted[fresh] || fieldString(h.cond.object(fresh), "vm_state") != vmSoftDeleted {
		t.Errorf("fresh soft-deleted instance reclaimed")
	}
	if h.allocDel.Load() != 1 {
		t.Errorf("allocation deletes = %d, want 1", h.allocDel.Load())
	}
	if _, err := os.Stat(filepath.Join(h.dir, old)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reclaimed instance's directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, fresh, "disk")); err != nil {
		t.Errorf("restorable instance's disk: %v", err)
	}
}

func TestDeletedOldEnough(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, deletedAt string
		want            bool
	}{
		{"no deleted_at", "", true},
		{"older", "2026-12-07T10:59:59Z", true},
		{"newer", "2026-12-07T11:30:00Z", false},
		{"with microseconds and offset", "2026-12-07T10:00:00.123456+00:00", true},
		{"unreadable is kept", "yesterday", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := vo.New("Instance", "2.8")
			if tc.deletedAt != "" {
				inst.SetString("deleted_at", tc.deletedAt)
			}
			if got := deletedOldEnough(inst, now, time.Hour); got != tc.want {
				t.Errorf("deletedOldEnough(%q) = %v, want %v", tc.deletedAt, got, tc.want)
			}
		})
	}
}

// TestSnapshotTaskStates: snapshot_instance, which shares the snapshot steps with the shelve, moves through
// nova's image task states and uploads the root disk.
func TestSnapshotTaskStates(t *testing.T) {
	h := newHarness(t)
	uuid := "5e100000-0000-4000-8000-00000000000a"
	h.buildSmall(t, uuid, 64, 0)
	glance := newFakeGlance(t, h, shelveImage)
	inst := h.apiSets(uuid, map[string]any{"task_state": taskImageSnapshotPending})
	before := len(h.cond.savesOf(uuid))
	args, _ := json.Marshal(map[string]any{"instance": inst, "image_id": shelveImage})
	if _, err := h.s.snapshotInstance(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	h.s.lc.work.Wait()
	checkSaves(t, h.cond.savesOf(uuid)[before:], []saveRec{
		{VM: vmActive, Task: taskImageSnapshot, Expected: `["image_snapshot_pending"]`},
		{VM: vmActive, Task: taskImageSnapshot},
		{VM: vmActive, Task: taskImagePendingUpload, Expected: `["image_snapshot"]`},
		{VM: vmActive, Task: taskImageUploading, Expected: `["image_pending_upload"]`},
		{VM: vmActive, Task: "", Expected: `["image_uploading"]`},
	})
	if glance.uploadedBytes(shelveImage) == 0 || len(glance.deletedIDs()) != 0 {
		t.Errorf("uploaded %d bytes, deleted %v", glance.uploadedBytes(shelveImage), glance.deletedIDs())
	}
	if info, _ := h.drv.Info(context.Background(), hypervisor.Guest{Name: "instance-00000040"}); info.State != hypervisor.Running {
		t.Errorf("guest %s after snapshot, want running again", info.State)
	}
}

// TestSnapshotUploadFailure: a snapshot whose upload fails deletes its half image (delete_image_on_error) and
// leaves the server ACTIVE; a shelve whose upload fails leaves the image to nova-api's record, as nova's does,
// and the server ACTIVE with its guest, allocations and host.
func TestSnapshotUploadFailure(t *testing.T) {
	h := newHarness(t)
	uuid := "5e100000-0000-4000-8000-00000000000b"
	h.buildSmall(t, uuid, 64, 0)
	glance := newFakeGlance(t, h, shelveImage, "5e1f0000-0000-4000-8000-00000000a002")
	glance.mu.Lock()
	glance.failUpload = true
	glance.mu.Unlock()
	inst := h.apiSets(uuid, map[string]any{"task_state": taskImageSnapshotPending})
	args, _ := json.Marshal(map[string]any{"instance": inst, "image_id": shelveImage})
	if _, err := h.s.snapshotInstance(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	h.s.lc.work.Wait()
	if d := glance.deletedIDs(); !slices.Equal(d, []string{shelveImage}) {
		t.Errorf("Glance deletes after a failed snapshot = %v, want the half image", d)
	}
	if err := h.shelve(t, uuid, "5e1f0000-0000-4000-8000-00000000a002"); err == nil {
		t.Fatal("shelve with a failing upload succeeded")
	}
	got := h.cond.object(uuid)
	if fieldString(got, "vm_state") != vmActive || fieldString(got, "task_state") != "" ||
		fieldString(got, "host") != testHost || h.allocDel.Load() != 0 {
		t.Errorf("after failed shelve: vm %q task %q host %q allocation deletes %d", fieldString(got, "vm_state"),
			fieldString(got, "task_state"), fieldString(got, "host"), h.allocDel.Load())
	}
	if _, ok := systemMetadata(got)["shelved_image_id"]; ok {
		t.Error("shelved_image_id set by a failed shelve")
	}
	if _, err := os.Stat(filepath.Join(h.dir, uuid, "disk")); err != nil {
		t.Errorf("the failed shelve's guest disk: %v", err)
	}
	if d := glance.deletedIDs(); len(d) != 1 {
		t.Errorf("Glance deletes = %v: a failed shelve leaves its image (nova-api's)", d)
	}
}
