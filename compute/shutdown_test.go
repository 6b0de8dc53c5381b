package compute

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/novabsd/novabsd/rpc"
)

// TestShutdownFinishesWorkInProgress casts builds whose spawn blocks, then stops the service the way Run does
// once its context ends. With time enough, the stop waits for the build and the instance is ACTIVE; past
// manager_shutdown_timeout the builds (also one still waiting for a build slot) are cancelled, the stop
// returns, and the instances are left BUILDING in a build task state for the next start's initHost.
func TestShutdownFinishesWorkInProgress(t *testing.T) {
	tests := []struct {
		name              string
		builds            int
		graceful, manager int
		release           bool // the spawns finish while the stop waits
		wantVM, wantTask  string
		minWait, maxWait  time.Duration
	}{
		{"build finishes", 1, 30, 20, true, vmActive, "", 300 * time.Millisecond, 10 * time.Second},
		{"deadline cancels", 3, 5, 1, false, vmBuilding, taskSpawning, time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := *h.s.cfg.Load()
			cfg.Default.GracefulShutdownTimeout, cfg.Default.ManagerShutdownTimeout = tt.graceful, tt.manager
			cfg.Default.RPCResponseTimeout = 10
			h.s.cfg.Store(&cfg)
			servers, err := h.s.startServers(context.Background(), &cfg)
			if err != nil {
				t.Fatal(err)
			}
			gate := make(chan struct{})
			var once sync.Once
			release := func() { once.Do(func() { close(gate) }) }
			t.Cleanup(func() { release(); h.s.lc.work.Wait() })
			h.drv.spawnGate = gate
			client := h.s.transport.NewClient(rpc.Target{Topic: Topic, Server: testHost}).WithVersion(h.s.release.RPCVersion)
			rc := rpc.AdminContext()
			var uuids []string
			for i := range tt.builds {
				uuid := fmt.Sprintf("77777777-0000-4000-8000-%012d", i+1)
				uuids = append(uuids, uuid)
				inst := instanceFromWire(t, uuid)
				h.cond.put(inst)
				if err := client.Cast(context.Background(), &rc, "build_and_run_instance", buildMessage(t, inst, false)); err != nil {
					t.Fatal(err)
				}
			}
			// max_concurrent_builds is 2 in the harness: a third build waits for a slot.
			// Which builds get the slots is the broker's and the scheduler's order, not the cast order: remember
			// the ones that did.
			spawning := min(tt.builds, 2)
			gotSlot := map[string]bool{}
			waitFor(t, "spawns to start", func() bool {
				clear(gotSlot)
				for _, u := range uuids {
					if h.cond.field(u, "task_state") == taskSpawning {
						gotSlot[u] = true
					}
				}
				return len(gotSlot) == spawning
			})

			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- h.s.shutdown(servers, &cfg) }()
			if tt.release {
				select {
				case err := <-done:
					t.Fatalf("the stop returned while a build was spawning: %v", err)
				case <-time.After(tt.minWait):
				}
				release()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("shutdown: %v", err)
				}
			case <-time.After(tt.maxWait):
				t.Fatalf("the stop did not return within %v", tt.maxWait)
			}
			if took := time.Since(start); took < tt.minWait {
				t.Errorf("the stop returned after %v, before the work could finish (%v)", took, tt.minWait)
			}
			wctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if !h.s.lc.waitWork(wctx) {
				t.Fatal("builds still running after the stop returned")
			}
			for i, u := range uuids {
				vm, task := h.cond.field(u, "vm_state"), h.cond.field(u, "task_state")
				wantTask := tt.wantTask
				if !gotSlot[u] {
					wantTask = taskScheduling // never got a build slot
				}
				if vm != tt.wantVM || task != wantTask {
					t.Errorf("instance %d: %s/%q, want %s/%q", i, vm, task, tt.wantVM, wantTask)
				}
				if gotSlot[u] && !tt.release {
					// The next start's initHost resolves an interrupted build to ERROR, as nova's does.
					h.s.initInstance(context.Background(), &rc, h.cond.object(u))
					if vm, task := h.cond.field(u, "vm_state"), h.cond.field(u, "task_state"); vm != vmError || task != "" {
						t.Errorf("instance %d after initHost: %s/%q, want error/\"\"", i, vm, task)
					}
				}
			}
		})
	}
}

// TestWaitWorkWithNothingRunning: with manager_shutdown_timeout 0 the wait's context has ended before it starts;
// with no work in flight the stop must still see that all work finished (it warned that work was cancelled).
func TestWaitWorkWithNothingRunning(t *testing.T) {
	l := newLifecycle(nil, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 100 {
		if !l.waitWork(ctx) {
			t.Fatalf("run %d: an ended context with nothing running reported unfinished work", i)
		}
	}
	gate := make(chan struct{})
	l.startWork(context.Background(), l.builds, func(context.Context) { <-gate })
	if l.waitWork(ctx) {
		t.Error("a running work was reported finished")
	}
	close(gate)
	if !l.waitWork(context.Background()) {
		t.Error("the work did not finish")
	}
}
