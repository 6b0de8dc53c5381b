package compute

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/novabsd/novabsd/rpc/vo"
)

// lifecycle is the instance side of the service: the engine, nova's per-instance locks, the build semaphore,
// and the resource tracker's view of this host's instances.
type lifecycle struct {
	eng       *engine
	locks     keyedLocks // @utils.synchronized(instance.uuid)
	builds    chan struct{}
	snapshots chan struct{}
	tracker   *tracker
	work      sync.WaitGroup // builds and snapshots running in the background
	inflight  atomic.Int64   // how many works are in l.work: a stop with nothing running must not warn
	// workCtx ends when the work in the background must stop: at the shutdown's deadline (cancelWork).
	workCtx      context.Context
	cancelWork   context.CancelFunc
	failedBuilds atomic.Int64
	// net is the Neutron side (network.go); nil on a host built without it, where only --nic none builds.
	net *networking
	// heal is _heal_instance_info_cache's round-robin list (heal.go).
	heal healQueue
	// deleteAllocations removes a consumer's Placement allocations; nil uses the service's Placement client.
	deleteAllocations func(ctx context.Context, consumer string) error
	// moveAllocations hands source's Placement allocations to target; nil uses the service's Placement client.
	moveAllocations func(ctx context.Context, source, target string) (bool, error)
}

func newLifecycle(eng *engine, maxBuilds int) *lifecycle {
	if maxBuilds <= 0 {
		maxBuilds = 1000 // nova: 0 is "unlimited", deprecated in 2026.1 and mapped to 1000
	}
	workCtx, cancelWork := context.WithCancel(context.Background())
	return &lifecycle{eng: eng, builds: make(chan struct{}, maxBuilds), snapshots: make(chan struct{}, 5),
		tracker: newTracker(), workCtx: workCtx, cancelWork: cancelWork}
}

// startWork runs fn in the background as one of the lifecycle's works, after taking a slot of slots. fn's
// context keeps ctx's values (the caller's request) but not its end: the RPC call that started it returns at
// once. It ends instead when the shutdown cancels the work, and then a work still waiting for its slot never
// starts.
func (l *lifecycle) startWork(ctx context.Context, slots chan struct{}, fn func(ctx context.Context)) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(l.workCtx, cancel)
	l.work.Add(1)
	l.inflight.Add(1)
	go func() {
		defer l.work.Done()
		defer l.inflight.Add(-1)
		defer cancel()
		defer stop()
		select {
		case slots <- struct{}{}:
		case <-wctx.Done():
			return
		}
		defer func() { <-slots }()
		fn(wctx)
	}()
}

// waitWork waits for the work in the background until ctx ends; it reports whether all of it finished.
func (l *lifecycle) waitWork(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { l.work.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		// A context that has already ended (manager_shutdown_timeout 0) races the Wait above; nothing in
		// flight means all of it finished.
		return l.inflight.Load() == 0
	}
}

// keyedLocks are mutexes created on demand per key and dropped when unused.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	mu    sync.Mutex
	users int
}

// lock takes the key's lock and returns its release.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// tracked is what the resource tracker keeps per instance.
type tracked struct {
	vcpus, memoryMB    int64
	diskMB             int64 // root, ephemeral and swap
	vmState, taskState string
	osType, projectID  string
}

// tracker holds this host's instances as last saved or listed (ResourceTracker.tracked_instances and Stats).
type tracker struct {
	mu        sync.Mutex
	host      string
	instances map[string]tracked
}

func newTracker() *tracker { return &tracker{instances: map[string]tracked{}} }

// update records inst's state; an instance that left the host or whose resources nova releases is dropped.
func (t *tracker) update(inst *vo.Object) {
	if t == nil {
		return
	}
	// The tracker sees instances after a handler checked them or as the conductor returned them; one whose
	// states do not decode reads them as "" (no state), which keeps it counted rather than silently dropped.
	uuid, v := instanceUUID(inst), asInstance(inst)
	vm, task := checkedRead(v.VMState()), checkedRead(v.TaskState())
	t.mu.Lock()
	defer t.mu.Unlock()
	host := checkedRead(v.Host())
	if (t.host != "" && host != t.host) || vm == vmDeleted || (vm == vmShelvedOffloaded && task != taskSpawning) {
		delete(t.instances, uuid)
		return
	}
	cur := t.instances[uuid]
	if f, err := v.Flavor(); err == nil { // an unreadable flavor leaves the last known size counted
		cur.vcpus, cur.memoryMB = int64(f.VCPUs), int64(f.MemoryMB)
		cur.diskMB = f.diskMB()
	}
	cur.vmState, cur.taskState = vm, task
	cur.osType, cur.projectID = checkedRead(v.OSType()), checkedRead(v.ProjectID())
	t.instances[uuid] = cur
}

func (t *tracker) remove(uuid string) {
	t.mu.Lock()
	delete(t.instances, uuid)
	t.mu.Unlock()
}

func (t *tracker) uuids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.instances))
	for u := range t.instances {
		out = append(out, u)
	}
	return out
}

// totals sums the tracked instances the way nova's resource tracker and compute/stats.py do.
func (t *tracker) totals() usageTotals {
	u := usageTotals{stats: map[string]string{}}
	counts := map[string]int{}
	t.mu.Lock()
	for _, in := range t.instances {
		u.vcpus += in.vcpus
		u.memoryMB += in.memoryMB
		u.diskMB += in.diskMB
		counts["num_instances"]++
		counts["num_vm_"+pyStr(in.vmState)]++
		counts["num_task_"+pyStr(in.taskState)]++
		counts["num_os_type_"+pyStr(in.osType)]++
		counts["num_proj_"+pyStr(in.projectID)]++
	}
	t.mu.Unlock()
	io := counts["num_vm_"+vmBuilding]
	for _, ts := range []string{taskResizeMigrating, taskRebuilding, taskResizePrep, taskImageSnapshot,
		taskImageBackup, "rescuing", "unshelving"} {
		io += counts["num_task_"+ts]
	}
	counts["io_workload"] = io
	for k, v := range counts {
		u.stats[k] = strconv.Itoa(v)
		if len(k) > len("num_task_") && k[:len("num_task_")] == "num_task_" && k != "num_task_None" {
			u.workload += v
		}
	}
	if _, ok := u.stats["num_instances"]; !ok {
		u.stats["num_instances"] = "0"
	}
	u.running = counts["num_instances"]
	return u
}

// pyStr renders a nullable string as Python's "%s" does: None for null.
func pyStr(s string) string {
	if s == "" {
		return "None"
	}
	return s
}
