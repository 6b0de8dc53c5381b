package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/hypervisor/qemu"
	"github.com/novabsd/novabsd/hypervisor/storage"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
	"libvirt.org/go/libvirtxml"
)

// needBroker fails under CI=true and skips otherwise when RabbitMQ is not reachable.
func needBroker(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5672", 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ not reachable on 127.0.0.1:5672 (rabbitmq-server -detached starts it): %v", err)
		}
		t.Skipf("RabbitMQ not reachable on 127.0.0.1:5672: %v", err)
	}
	c.Close()
}

// wireArgs returns the args of a captured message in the reference wire directory.
func wireArgs(t testing.TB, name string) json.RawMessage {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "reference", "wire", "libvirt") // shared/ beside the checkout
	if _, err := os.Stat(dir); err != nil {
		dir = "/work/shared/reference/wire/libvirt"
	}
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatalf("wire sample %s: %v", name, err)
	}
	var m struct {
		Message struct {
			Args json.RawMessage `json:"args"`
		} `json:"message"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Message.Args
}

// saveRec is one Instance.save the fake conductor received.
type saveRec struct {
	VM, Task string
	Power    int64
	Expected string // the expected_task_state kwarg as JSON; "" when absent
	Changes  []string
}

// fakeConductor answers the conductor calls a compute makes, over the real broker, with Nova's Instance.save
// rules: expected_task_state checked against the stored task_state, node changed without compute_id refused.
type fakeConductor struct {
	mu        sync.Mutex
	db        map[string]map[string]json.RawMessage
	deleted   map[string]bool
	saves     map[string][]saveRec
	events    []string
	faults    map[string][]string
	actions   []string
	reschedul []json.RawMessage
	calls     int      // every object_action and object_class_action_versions received
	cleaned   []string // instance uuids of ConsoleAuthToken.clean_console_auths_for_instance
	// cacheSaves are the network_info texts of each InstanceInfoCache.save, by instance uuid.
	cacheSaves map[string][]string
	// objectSaves are the Migration.save, ShareMapping.save and BlockDeviceMapping.destroy calls received, as
	// "<Object>.<method> <status>".
	objectSaves []string
	// onObjectAction, when set, runs (without f.mu) before each object_action, with "<Object>.<method>".
	onObjectAction func(what string)
	// tokens are the ConsoleAuthTokens authorized, in order.
	tokens []*vo.Object
}

func newFakeConductor() *fakeConductor {
	return &fakeConductor{db: map[string]map[string]json.RawMessage{}, deleted: map[string]bool{},
		saves: map[string][]saveRec{}, faults: map[string][]string{}, cacheSaves: map[string][]string{}}
}

func (f *fakeConductor) put(inst *vo.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := map[string]json.RawMessage{}
	for k, v := range inst.Data {
		d[k] = v
	}
	f.db[instanceUUID(inst)] = d
}

func (f *fakeConductor) field(uuid, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := &vo.Object{Data: f.db[uuid]}
	return fieldString(o, name)
}

func (f *fakeConductor) object(uuid string) *vo.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := vo.New("Instance", "2.8")
	for k, v := range f.db[uuid] {
		o.Data[k] = v
	}
	return o
}

// listed is every instance an InstanceList query can return (not deleted), as copies; the caller holds f.mu.
func (f *fakeConductor) listed() []*vo.Object {
	var objs []*vo.Object
	for uuid, d := range f.db {
		if f.deleted[uuid] {
			continue
		}
		o := vo.New("Instance", "2.8")
		for k, v := range d {
			o.Data[k] = v
		}
		objs = append(objs, o)
	}
	return objs
}

func (f *fakeConductor) savesOf(uuid string) []saveRec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.saves[uuid])
}

func (f *fakeConductor) register(srv *rpc.Server) error {
	if err := srv.Register("", "3.0", map[string]rpc.Handler{
		"object_action":                f.objectAction,
		"object_class_action_versions": f.classAction,
	}); err != nil {
		return err
	}
	return srv.Register("compute_task", "1.26", map[string]rpc.Handler{
		"build_instances": func(_ context.Context, args json.RawMessage) (any, error) {
			f.mu.Lock()
			f.reschedul = append(f.reschedul, args)
			f.mu.Unlock()
			return nil, nil
		},
	})
}

func remote(class, msg string) *rpc.RemoteError {
	return rpc.NewRemoteError("nova.exception", class, msg, nil)
}

func (f *fakeConductor) objectAction(_ context.Context, args json.RawMessage) (any, error) {
	var a struct {
		Objinst   *vo.Object                 `json:"objinst"`
		Objmethod string                     `json:"objmethod"`
		Args      []json.RawMessage          `json:"args"`
		Kwargs    map[string]json.RawMessage `json:"kwargs"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, err
	}
	o := a.Objinst
	f.mu.Lock()
	hook := f.onObjectAction
	f.mu.Unlock()
	if hook != nil {
		hook(o.Name + "." + a.Objmethod)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	noUpdates := []any{map[string]any{"obj_what_changed": []string{}}, nil}
	switch o.Name + "." + a.Objmethod {
	case "Instance.save":
		uuid := instanceUUID(o)
		stored, ok := f.db[uuid]
		if !ok || f.deleted[uuid] {
			return nil, remote("InstanceNotFound", "Instance "+uuid+" could not be found.")
		}
		cur := fieldString(&vo.Object{Data: stored}, "task_state")
		exp, has := a.Kwargs["expected_task_state"]
		if has && string(exp) != "null" {
			var list []*string
			if err := json.Unmarshal(exp, &list); err != nil {
				var one string
				if err := json.Unmarshal(exp, &one); err != nil {
					return nil, err
				}
				list = []*string{&one}
			}
			match := false
			for _, e := range list {
				if (e == nil && cur == "") || (e != nil && *e == cur) {
					match = true
				}
			}
			if !match {
				if cur == taskDeleting {
					return nil, remote("UnexpectedDeletingTaskStateError", "deleting")
				}
				return nil, remote("UnexpectedTaskStateError", fmt.Sprintf("expected %s, actual %q", exp, cur))
			}
		}
		if slices.Contains(o.Changes, "node") && !slices.Contains(o.Changes, "compute_id") {
			return nil, remote("ObjectActionError", "Instance.node is being updated but compute_id is not")
		}
		for _, c := range o.Changes {
			stored[c] = o.Data[c]
		}
		rec := saveRec{VM: fieldString(o, "vm_state"), Task: fieldString(o, "task_state"),
			Power: intField(o, "power_state"), Changes: slices.Clone(o.Changes)}
		if has {
			rec.Expected = string(exp)
		}
		f.saves[uuid] = append(f.saves[uuid], rec)
		return noUpdates, nil
	case "Service.save":
		return noUpdates, nil
	case "InstanceInfoCache.save":
		uuid := fieldString(o, "instance_uuid")
		stored, ok := f.db[uuid]
		if !ok || f.deleted[uuid] {
			return nil, remote("InstanceNotFound", "Instance "+uuid+" could not be found.")
		}
		ic := vo.New("InstanceInfoCache", "1.5")
		ic.Data["instance_uuid"], ic.Data["network_info"] = o.Data["instance_uuid"], o.Data["network_info"]
		stored["info_cache"], _ = json.Marshal(ic)
		f.cacheSaves[uuid] = append(f.cacheSaves[uuid], fieldString(o, "network_info"))
		return noUpdates, nil
	case "Instance.refresh":
		upd := map[string]any{"obj_what_changed": []string{}}
		for k, v := range f.db[instanceUUID(o)] {
			upd[k] = v
		}
		return []any{upd, nil}, nil
	case "Instance.destroy":
		f.deleted[instanceUUID(o)] = true
		return []any{map[string]any{"deleted": true, "obj_what_changed": []string{}}, nil}, nil
	case "InstanceFault.create":
		uuid := fieldString(o, "instance_uuid")
		f.faults[uuid] = append(f.faults[uuid], fieldString(o, "code")+" "+fieldString(o, "message"))
		return []any{map[string]any{"id": 1, "obj_what_changed": []string{}}, nil}, nil
	case "Migration.save", "ShareMapping.save", "BlockDeviceMapping.destroy":
		f.objectSaves = append(f.objectSaves, o.Name+"."+a.Objmethod+" "+fieldString(o, "status"))
		return noUpdates, nil
	case "ConsoleAuthToken.authorize":
		f.tokens = append(f.tokens, o)
		return []any{map[string]any{"token": "tok-1", "obj_what_changed": []string{}}, "tok-1"}, nil
	}
	return nil, remote("NotImplemented", o.Name+"."+a.Objmethod)
}

func (f *fakeConductor) classAction(_ context.Context, args json.RawMessage) (any, error) {
	var a struct {
		Objname   string            `json:"objname"`
		Objmethod string            `json:"objmethod"`
		Versions  map[string]string `json:"object_versions"`
		Args      []json.RawMessage `json:"args"`
		Kwargs    map[string]any    `json:"kwargs"`
	}
	if err := json.Unmarshal(args, &a); err != nil {
		return nil, err
	}
	if _, ok := a.Versions[a.Objname]; !ok {
		// nova's conductor: obj_class_from_name(objname, object_versions[objname])
		return nil, rpc.NewRemoteError("builtins", "KeyError", "'"+a.Objname+"'", nil)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	arg := func(i int) string {
		var s string
		if i < len(a.Args) {
			_ = json.Unmarshal(a.Args[i], &s)
		}
		return s
	}
	switch a.Objname + "." + a.Objmethod {
	case "InstanceActionEvent.event_start":
		f.events = append(f.events, "start "+arg(1))
		return nil, nil
	case "InstanceActionEvent.event_finish_with_failure":
		res := "Success"
		if tb, _ := a.Kwargs["exc_tb"].(string); tb != "" {
			res = "Error"
		}
		f.events = append(f.events, "finish "+arg(1)+" "+res)
		return nil, nil
	case "InstanceAction.action_start":
		f.actions = append(f.actions, arg(0)+" "+arg(1))
		return nil, nil
	case "ConsoleAuthToken.clean_console_auths_for_instance":
		f.cleaned = append(f.cleaned, arg(0))
		return nil, nil
	case "InstanceList.get_by_host":
		var objs []*vo.Object
		for _, o := range f.listed() {
			if fieldString(o, "host") == arg(0) {
				objs = append(objs, o)
			}
		}
		return vo.NewList("InstanceList", "2.6", objs)
	case "InstanceList.get_by_filters":
		// The filters nova's periodic tasks use: each key a field that must equal the value (null matches an
		// unset or null field); deleted records are never listed (read_deleted "no").
		var filters map[string]*string
		if len(a.Args) > 0 {
			if err := json.Unmarshal(a.Args[0], &filters); err != nil {
				return nil, err
			}
		}
		var objs []*vo.Object
		for _, o := range f.listed() {
			match := true
			for k, want := range filters {
				got := fieldString(o, k)
				if (want == nil && got != "") || (want != nil && *want != got) {
					match = false
				}
			}
			if match {
				objs = append(objs, o)
			}
		}
		return vo.NewList("InstanceList", "2.6", objs)
	case "InstanceInfoCache.get_by_instance_uuid":
		d, ok := f.db[arg(0)]
		if !ok || d["info_cache"] == nil {
			return nil, remote("InstanceInfoCacheNotFound", "Info cache for instance "+arg(0)+" could not be found.")
		}
		var ic vo.Object
		if err := json.Unmarshal(d["info_cache"], &ic); err != nil {
			return nil, err
		}
		return &ic, nil
	case "Instance.get_by_uuid":
		d, ok := f.db[arg(0)]
		if !ok {
			return nil, remote("InstanceNotFound", "Instance "+arg(0)+" could not be found.")
		}
		o := vo.New("Instance", "2.8")
		for k, v := range d {
			o.Data[k] = v
		}
		if f.deleted[arg(0)] {
			o.Data["deleted"] = json.RawMessage("true")
		}
		return o, nil
	}
	return nil, remote("NotImplemented", a.Objname+"."+a.Objmethod)
}

// fakeDriver is an engine that keeps guest states in memory and writes the domain file as drivers do.
type fakeDriver struct {
	mu        sync.Mutex
	state     map[string]hypervisor.PowerState
	spawnErr  error
	checkErr  error // CheckDomain's answer
	console   []byte
	serialTCP bool // Capabilities().SerialTCP
	// startPaused is Capabilities().StartPaused: SpawnPaused leaves the guest Paused.
	startPaused bool
	lastSpawn   *libvirtxml.Domain
	// spawnGate, when set, holds every Spawn until it is closed or the spawn's context ends.
	spawnGate chan struct{}
	// onSpawn, when set, runs (without d.mu) at the start of each Spawn.
	onSpawn func(g hypervisor.Guest)
}

func newFakeDriver() *fakeDriver { return &fakeDriver{state: map[string]hypervisor.PowerState{}} }

func (d *fakeDriver) Name() string { return "fake" }
func (d *fakeDriver) Capabilities() hypervisor.Capabilities {
	return hypervisor.Capabilities{Pause: true, Suspend: true, SoftReboot: true, SerialTCP: d.serialTCP,
		StartPaused: d.startPaused, Values: qemu.Supported()}
}

// SpawnPaused is hypervisor.PausedSpawner: Spawn, then the guest Paused.
func (d *fakeDriver) SpawnPaused(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain) (bool, error) {
	if err := d.Spawn(ctx, g, dom); err != nil {
		return false, err
	}
	d.set(g.Name, hypervisor.Paused)
	return true, nil
}

func (d *fakeDriver) Spawn(ctx context.Context, g hypervisor.Guest, dom *libvirtxml.Domain) error {
	d.mu.Lock()
	gate, hook := d.spawnGate, d.onSpawn
	d.mu.Unlock()
	if hook != nil {
		hook(g)
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.spawnErr != nil {
		return d.spawnErr
	}
	if err := hypervisor.SaveDomain(g.Dir, dom); err != nil {
		return err
	}
	d.state[g.Name] = hypervisor.Running
	d.lastSpawn = dom
	return nil
}

// CheckDomain is hypervisor.DomainChecker: checkErr, set by the test.
func (d *fakeDriver) CheckDomain(context.Context, *libvirtxml.Domain) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checkErr
}

func (d *fakeDriver) Destroy(_ context.Context, g hypervisor.Guest) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.state, g.Name)
	return nil
}

func (d *fakeDriver) move(g hypervisor.Guest, op string, from []hypervisor.PowerState, to hypervisor.PowerState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.state[g.Name]
	if !ok {
		return hypervisor.NotFound("fake", g.Name)
	}
	if !slices.Contains(from, st) {
		return &hypervisor.StateError{Guest: g.Name, Op: op, State: st}
	}
	d.state[g.Name] = to
	return nil
}

func (d *fakeDriver) set(name string, st hypervisor.PowerState) {
	d.mu.Lock()
	d.state[name] = st
	d.mu.Unlock()
}

func (d *fakeDriver) PowerOff(_ context.Context, g hypervisor.Guest, _ time.Duration) error {
	return d.move(g, "power off", []hypervisor.PowerState{hypervisor.Running, hypervisor.Paused}, hypervisor.Shutdown)
}
func (d *fakeDriver) PowerOn(_ context.Context, g hypervisor.Guest) error {
	return d.move(g, "power on", []hypervisor.PowerState{hypervisor.Shutdown, hypervisor.Crashed}, hypervisor.Running)
}
func (d *fakeDriver) Reboot(_ context.Context, g hypervisor.Guest, how hypervisor.RebootType, _ time.Duration) error {
	from := []hypervisor.PowerState{hypervisor.Running}
	if how == hypervisor.RebootHard {
		from = append(from, hypervisor.Shutdown, hypervisor.Paused, hypervisor.Crashed)
	}
	return d.move(g, how.String()+" reboot", from, hypervisor.Running)
}
func (d *fakeDriver) Pause(_ context.Context, g hypervisor.Guest) error {
	return d.move(g, "pause", []hypervisor.PowerState{hypervisor.Running}, hypervisor.Paused)
}
func (d *fakeDriver) Unpause(_ context.Context, g hypervisor.Guest) error {
	return d.move(g, "unpause", []hypervisor.PowerState{hypervisor.Paused}, hypervisor.Running)
}
func (d *fakeDriver) Suspend(_ context.Context, g hypervisor.Guest) error {
	return d.move(g, "suspend", []hypervisor.PowerState{hypervisor.Running, hypervisor.Paused}, hypervisor.Suspended)
}
func (d *fakeDriver) Resume(_ context.Context, g hypervisor.Guest) error {
	return d.move(g, "resume", []hypervisor.PowerState{hypervisor.Suspended}, hypervisor.Running)
}
func (d *fakeDriver) Info(_ context.Context, g hypervisor.Guest) (hypervisor.Info, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.state[g.Name]
	if !ok {
		return hypervisor.Info{}, hypervisor.NotFound("fake", g.Name)
	}
	return hypervisor.Info{State: st}, nil
}
func (d *fakeDriver) List(context.Context) ([]string, error) { return nil, nil }
func (d *fakeDriver) ConsoleOutput(_ context.Context, g hypervisor.Guest, max int) ([]byte, error) {
	if _, err := d.Info(context.Background(), g); err != nil {
		return nil, err
	}
	return d.console, nil
}
func (d *fakeDriver) HostResources(context.Context) (hypervisor.HostResources, error) {
	return hypervisor.HostResources{}, nil
}

// harness is a Service whose conductor is fakeConductor on the real broker and whose engine is fakeDriver
// with the real file disk store in a temporary directory.
type harness struct {
	s        *Service
	cond     *fakeConductor
	drv      *fakeDriver
	dir      string
	allocDel atomic.Int64
	fetchErr error
	fetches  atomic.Int64 // image fetches asked of the cache
	neutron  *fakeNeutron
	plugger  *fakePlugger
}

// testHost and testConductorTopic are this process's: RabbitMQ names queues by topic (and server) alone,
// whatever the exchange, so test processes sharing the broker (other checkouts' runs) would consume each other's
// messages under fixed names.
var (
	testHost           = fmt.Sprintf("novabsd-test-host-%d", os.Getpid())
	testConductorTopic = fmt.Sprintf("conductor-test-%d", os.Getpid())
)

var exchangeSeq atomic.Int64

func newHarness(t *testing.T) *harness {
	t.Helper()
	needBroker(t)
	h := &harness{cond: newFakeConductor(), drv: newFakeDriver(), dir: t.TempDir()}
	opts := rpc.DefaultOptions()
	opts.TransportURL = "rabbit://guest:guest@127.0.0.1:5672/"
	opts.ControlExchange = fmt.Sprintf("novabsd-compute-test-%d-%d", os.Getpid(), exchangeSeq.Add(1))
	opts.RPCResponseTimeout = 10 * time.Second
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	tr, err := rpc.NewTransport(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	srv, err := tr.NewServer(rpc.Target{Topic: testConductorTopic, Server: "fake-conductor"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cond.register(srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })

	cfg := &conf.Config{}
	cfg.Default.Host = testHost
	cfg.Default.InstancesPath = h.dir
	cfg.Default.SyncPowerStateInterval = -1
	cfg.VNC.Enabled = true
	cfg.VNC.ServerListen = "127.0.0.1"
	cfg.VNC.ServerProxyclientAddress = "127.0.0.1"
	cfg.VNC.NoVNCProxyBaseURL = "http://ctl:6080/vnc_auto.html"
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil)), transport: tr}
	if testing.Verbose() {
		s.log = slog.Default()
	}
	s.cfg.Store(cfg)
	s.release, _ = ReleaseByName("2026.1")
	s.cond = newConductorOn(tr, s.release, testConductorTopic)
	s.node = vo.New("ComputeNode", "1.19")
	_ = setAll(s.node, map[string]any{"id": 7, "hypervisor_hostname": "node-a", "vcpus": 8, "memory_mb": 8192,
		"local_gb": 100, "cpu_allocation_ratio": 4.0, "ram_allocation_ratio": 1.0, "disk_allocation_ratio": 1.0})
	st, err := storage.NewFile(filepath.Join(h.dir, "_images"), h.dir, storage.CopySparse)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "image.raw")
	if err := os.WriteFile(img, append([]byte("TINY"), make([]byte, 1<<20)...), 0o644); err != nil {
		t.Fatal(err)
	}
	eng := &engine{driver: h.drv, storage: st, instancesPath: h.dir,
		domainOptions: func(context.Context) domain.Options { return qemu.DomainOptions(qemu.DefaultConfig(), "tcg") },
		fetch: func(context.Context, *rpc.RequestContext, string) (string, error) {
			h.fetches.Add(1)
			if h.fetchErr != nil {
				return "", h.fetchErr
			}
			return img, nil
		}}
	s.lc = newLifecycle(eng, 2)
	s.lc.tracker.host = testHost
	s.lc.deleteAllocations = func(context.Context, string) error { h.allocDel.Add(1); return nil }
	h.neutron, h.plugger = newFakeNeutron(), newFakePlugger()
	s.lc.net = &networking{api: h.neutron, plugger: h.plugger}
	h.s = s
	return h
}

// instanceFromWire is the instance of the captured build_and_run_instance, with a fresh uuid.
func instanceFromWire(t *testing.T, uuid string) *vo.Object {
	t.Helper()
	var a buildArgs
	if err := rpc.DecodeArgs(wireArgs(t, "build_and_run_instance"), &a); err != nil {
		t.Fatal(err)
	}
	_ = a.Instance.Set("uuid", uuid)
	a.Instance.ResetChanges()
	return a.Instance
}

// waitFor polls cond until true or fails after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) eventsContaining(s string) []string {
	h.cond.mu.Lock()
	defer h.cond.mu.Unlock()
	var out []string
	for _, e := range h.cond.events {
		if strings.Contains(e, s) {
			out = append(out, e)
		}
	}
	return out
}

// intField reads an integer field for assertions, 0 when absent, None or not an integer.
func intField(o *vo.Object, field string) int64 {
	n, _, _ := vo.Get[int64](o, field)
	return n
}

// fieldString renders a scalar field as a string for assertions ("" when unset or null). Service code reads
// fields through the typed views of views.go, which tell absent from null from undecodable.
func fieldString(o *vo.Object, field string) string {
	if o == nil {
		return ""
	}
	raw, ok := o.Data[field]
	if !ok || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// systemMetadata reads system_metadata for assertions (empty when it does not decode).
func systemMetadata(inst *vo.Object) map[string]string {
	sm, _ := asInstance(inst).SystemMetadata()
	return sm
}
