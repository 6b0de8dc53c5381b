package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// toolDriver is fakeDriver with NMIs and diagnostics: the NMIs it received, and fixed counters.
type toolDriver struct {
	*fakeDriver
	nmis atomic.Int64
}

func (d *toolDriver) Capabilities() hypervisor.Capabilities {
	c := d.fakeDriver.Capabilities()
	c.HypervisorType, c.NMI, c.Diagnostics = "QEMU", true, true
	return c
}

func (d *toolDriver) running(g hypervisor.Guest) error {
	info, err := d.Info(context.Background(), g)
	if err != nil {
		return err
	}
	if info.State != hypervisor.Running {
		return &hypervisor.StateError{Guest: g.Name, Op: "test", State: info.State}
	}
	return nil
}

func (d *toolDriver) InjectNMI(_ context.Context, g hypervisor.Guest) error {
	if err := d.running(g); err != nil {
		return err
	}
	d.nmis.Add(1)
	return nil
}

func (d *toolDriver) Diagnostics(_ context.Context, g hypervisor.Guest) (hypervisor.Diagnostics, error) {
	if err := d.running(g); err != nil {
		return hypervisor.Diagnostics{}, err
	}
	return hypervisor.Diagnostics{State: hypervisor.Running, MemoryKB: 512 * 1024,
		CPUs: []hypervisor.CPUStats{{ID: 0, Time: 1500 * time.Millisecond, HasTime: true}, {ID: 1}},
		Disks: []hypervisor.DiskStats{{Target: "vda", ReadBytes: 4096, ReadRequests: 2, WriteBytes: 512,
			WriteRequests: 1, HasErrors: true}, {Target: "vdb", ReadBytes: 1}},
		NICs: []hypervisor.NICStats{{MAC: "FA:16:3E:00:00:01", Device: "tap1", RxBytes: 10, RxPackets: 1,
			TxBytes: 20, TxPackets: 2, TxDrops: 3}}}, nil
}

var toolIDs int

// guestToolInstance stores a running instance for the guest tool tests.
func guestToolInstance(t *testing.T, h *harness, uuid string, st hypervisor.PowerState) *vo.Object {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	// Each its own guest: the wire sample's id would give every instance the same name.
	toolIDs++
	_ = inst.Set("id", 7000+toolIDs)
	asInstance(inst).SetVMState(vmActive)
	asInstance(inst).ClearTaskState()
	asInstance(inst).SetPowerState(novaPowerState(st))
	_ = inst.Set("launched_at", time.Now().Add(-time.Hour).UTC().Format(vo.DateTimeFormat))
	inst.ResetChanges()
	h.cond.put(inst)
	h.drv.set(instanceName(inst), st)
	return inst
}

func callRemote(t *testing.T, client *rpc.Client, method string, args map[string]any) (json.RawMessage, *rpc.RemoteError) {
	t.Helper()
	rc := rpc.AdminContext()
	res, err := client.Call(context.Background(), &rc, method, args)
	if err == nil {
		return res, nil
	}
	var re *rpc.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("%s: %v", method, err)
	}
	return nil, re
}

func TestTriggerCrashDump(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	plain := h.s.lc.eng.driver
	tools := &toolDriver{fakeDriver: h.drv}
	cases := []struct {
		name      string
		driver    hypervisor.Driver
		state     hypervisor.PowerState
		wantClass string
		wantNMIs  int64
	}{
		{"running", tools, hypervisor.Running, "", 1},
		{"stopped", tools, hypervisor.Shutdown, "InstanceNotRunning", 1},
		{"engine without NMI", plain, hypervisor.Running, "TriggerCrashDumpNotSupported", 1},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.s.lc.eng.driver = c.driver
			uuid := "7c0d0000-0000-4000-8000-00000000000" + string(rune('1'+i))
			inst := guestToolInstance(t, h, uuid, c.state)
			_, re := callRemote(t, client, "trigger_crash_dump", map[string]any{"instance": inst})
			switch {
			case c.wantClass == "" && re != nil:
				t.Fatalf("failed %s: %s", re.Class, re.Message)
			case c.wantClass != "" && (re == nil || re.Class != c.wantClass):
				t.Fatalf("answered %v, want %s", re, c.wantClass)
			}
			if n := tools.nmis.Load(); n != c.wantNMIs {
				t.Errorf("%d NMIs delivered, want %d", n, c.wantNMIs)
			}
			h.cond.mu.Lock()
			faults := slices.Clone(h.cond.faults[uuid])
			h.cond.mu.Unlock()
			if (c.wantClass != "") != (len(faults) == 1) {
				t.Errorf("faults %q", faults)
			}
			if got := h.cond.field(uuid, "vm_state"); got != vmActive {
				t.Errorf("vm_state %q", got)
			}
		})
	}
	if ev := h.eventsContaining("finish compute_trigger_crash_dump"); !slices.Equal(ev, []string{
		"finish compute_trigger_crash_dump Success", "finish compute_trigger_crash_dump Error",
		"finish compute_trigger_crash_dump Error"}) {
		t.Errorf("events %q", ev)
	}
}

func TestDiagnostics(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	h.s.lc.eng.driver = &toolDriver{fakeDriver: h.drv}
	inst := guestToolInstance(t, h, "7c0d0000-0000-4000-8000-000000000101", hypervisor.Running)

	res, re := callRemote(t, client, "get_diagnostics", map[string]any{"instance": inst})
	if re != nil {
		t.Fatalf("get_diagnostics: %s %s", re.Class, re.Message)
	}
	var flat map[string]int64
	if err := json.Unmarshal(res, &flat); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"cpu0_time": 1500000000, "vda_read_req": 2, "vda_read": 4096, "vda_write_req": 1,
		"vda_write": 512, "vda_errors": 0, "vdb_read_req": 0, "vdb_read": 1, "vdb_write_req": 0, "vdb_write": 0,
		"tap1_rx": 10, "tap1_rx_packets": 1, "tap1_rx_errors": 0, "tap1_rx_drop": 0, "tap1_tx": 20,
		"tap1_tx_packets": 2, "tap1_tx_errors": 0, "tap1_tx_drop": 3, "memory": 512 * 1024}
	if len(flat) != len(want) {
		t.Errorf("get_diagnostics %v, want %v", flat, want)
	}
	for k, v := range want {
		if got, ok := flat[k]; !ok || got != v {
			t.Errorf("get_diagnostics[%s] = %d (%v), want %d", k, got, ok, v)
		}
	}

	res, re = callRemote(t, client, "get_instance_diagnostics", map[string]any{"instance": inst})
	if re != nil {
		t.Fatalf("get_instance_diagnostics: %s %s", re.Class, re.Message)
	}
	var d vo.Object
	if err := json.Unmarshal(res, &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "Diagnostics" || fieldString(&d, "state") != "running" || fieldString(&d, "driver") != "libvirt" ||
		fieldString(&d, "hypervisor") != "qemu" || intField(&d, "num_cpus") != 2 || intField(&d, "num_disks") != 2 ||
		intField(&d, "num_nics") != 1 || fieldString(&d, "config_drive") != "false" {
		t.Errorf("Diagnostics %s", res)
	}
	if up := intField(&d, "uptime"); up < 3590 || up > 3700 {
		t.Errorf("uptime %d, want about an hour since launched_at", up)
	}
	cpus, err := (&d).Object("memory_details")
	if err != nil || intField(cpus, "maximum") != 512 || intField(cpus, "used") != 512 {
		t.Errorf("memory_details %v, %v", cpus, err)
	}
	var detail struct {
		CPUs []*vo.Object `json:"cpu_details"`
		NICs []*vo.Object `json:"nic_details"`
	}
	raw, _ := json.Marshal(map[string]json.RawMessage{"cpu_details": d.Data["cpu_details"], "nic_details": d.Data["nic_details"]})
	if err := json.Unmarshal(raw, &detail); err != nil || len(detail.CPUs) != 2 || len(detail.NICs) != 1 {
		t.Fatalf("details %s: %v", raw, err)
	}
	if intField(detail.CPUs[0], "time") != 1500000000 || string(detail.CPUs[1].Data["time"]) != "null" {
		t.Errorf("cpu_details %s", d.Data["cpu_details"])
	}
	nic := detail.NICs[0]
	if fieldString(nic, "mac_address") != "fa:16:3e:00:00:01" || intField(nic, "rx_octets") != 10 ||
		intField(nic, "tx_drop") != 3 || string(nic.Data["rx_rate"]) != "null" {
		t.Errorf("nic_details %s", d.Data["nic_details"])
	}

	// Not running: InstanceInvalidState naming the recorded power state, and a fault.
	stopped := guestToolInstance(t, h, "7c0d0000-0000-4000-8000-000000000102", hypervisor.Shutdown)
	for _, m := range []string{"get_diagnostics", "get_instance_diagnostics"} {
		_, re := callRemote(t, client, m, map[string]any{"instance": stopped})
		if re == nil || re.Class != "InstanceInvalidState" ||
			re.Message != "Instance 7c0d0000-0000-4000-8000-000000000102 in power state shutdown. Cannot get_diagnostics while the instance is in this state." {
			t.Errorf("%s of a stopped guest: %v", m, re)
		}
	}
	h.cond.mu.Lock()
	n := len(h.cond.faults["7c0d0000-0000-4000-8000-000000000102"])
	h.cond.mu.Unlock()
	if n != 2 {
		t.Errorf("%d faults, want 2", n)
	}

	// An engine without counters: the base driver's NotImplementedError.
	h.s.lc.eng.driver = h.drv
	if _, re := callRemote(t, client, "get_diagnostics", map[string]any{"instance": inst}); re == nil ||
		re.Class != "NotImplementedError" {
		t.Errorf("engine without diagnostics: %v", re)
	}
}

func TestCacheImages(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	ids := []string{"a1000000-0000-4000-8000-000000000001", "a1000000-0000-4000-8000-000000000002"}
	res, re := callRemote(t, client, "cache_images", map[string]any{"image_ids": ids})
	if re != nil {
		t.Fatal(re)
	}
	var got map[string]string
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[ids[0]] != "cached" || got[ids[1]] != "cached" || h.fetches.Load() != 2 {
		t.Errorf("cache_images %v after %d fetches", got, h.fetches.Load())
	}
	h.fetchErr = errors.New("glance says no")
	res, re = callRemote(t, client, "cache_images", map[string]any{"image_ids": ids[:1]})
	if re != nil {
		t.Fatal(re)
	}
	got = nil
	if err := json.Unmarshal(res, &got); err != nil || len(got) != 1 || got[ids[0]] != "error" {
		t.Errorf("cache_images with Glance failing: %s", res)
	}
}

// TestCacheImagesExisting: with the image cache, an image downloaded now is "cached" and one already there
// "existing" (fetched again only to refresh it, which the cache does without a download).
func TestCacheImagesExisting(t *testing.T) {
	h := newHarness(t)
	client := h.serve(t)
	cache, err := images.NewCache(images.CacheOptions{Dir: filepath.Join(h.dir, "_base")})
	if err != nil {
		t.Fatal(err)
	}
	h.s.lc.eng.cache = cache
	var downloads atomic.Int64
	h.s.lc.eng.fetch = func(_ context.Context, _ *rpc.RequestContext, id string) (string, error) {
		p := cache.Path(id)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		downloads.Add(1)
		return p, os.WriteFile(p, []byte("image"), 0o644)
	}
	id := "a2000000-0000-4000-8000-000000000001"
	for i, want := range []string{"cached", "existing"} {
		res, re := callRemote(t, client, "cache_images", map[string]any{"image_ids": []string{id}})
		if re != nil {
			t.Fatal(re)
		}
		var got map[string]string
		if err := json.Unmarshal(res, &got); err != nil || got[id] != want {
			t.Errorf("call %d: %s, want %s", i, res, want)
		}
	}
	if downloads.Load() != 1 {
		t.Errorf("%d downloads, want 1", downloads.Load())
	}
}
