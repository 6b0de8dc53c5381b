package compute

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestEventCancel: a delete ends the waits of its instance only, with errInstanceDeleting; a stop ends every wait
// with a failed event, and a wait prepared after it fails at once.
func TestEventCancel(t *testing.T) {
	keys := []string{"network-vif-plugged-a", "network-vif-plugged-b"}
	for _, tt := range []struct {
		name       string
		act        func(e *instanceEvents) int
		wantEnded  int
		wantErr    error // of u's wait
		wantFailed []string
		wantOther  bool // v's wait ended too
	}{
		{name: "delete", act: func(e *instanceEvents) int { return e.cancel("u") }, wantEnded: 2,
			wantErr: errInstanceDeleting},
		{name: "stop", act: (*instanceEvents).cancelAll, wantEnded: 3, wantFailed: keys, wantOther: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e instanceEvents
			wu := e.prepare("u", keys)
			wv := e.prepare("v", keys[:1])
			if n := tt.act(&e); n != tt.wantEnded {
				t.Errorf("ended %d waiters, want %d", n, tt.wantEnded)
			}
			failed, err := wu.wait(context.Background(), 5*time.Second)
			slices.Sort(failed)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && !slices.Equal(failed, tt.wantFailed)) {
				t.Errorf("u's wait = %v, %v; want %v, %v", failed, err, tt.wantErr, tt.wantFailed)
			}
			_, err = wv.wait(context.Background(), 100*time.Millisecond)
			if ended := !errors.Is(err, errEventTimeout); ended != tt.wantOther {
				t.Errorf("v's wait = %v: ended %v, want %v", err, ended, tt.wantOther)
			}
			if tt.wantOther {
				failed, err := e.prepare("w", keys[:1]).wait(context.Background(), 5*time.Second)
				if err != nil || len(failed) != 1 {
					t.Errorf("a wait after the stop = %v, %v; want failed at once", failed, err)
				}
			}
			if len(e.waiters) != 0 {
				t.Errorf("waiters left: %v", e.waiters)
			}
			if !tt.wantOther {
				// A wait prepared while the delete runs ends at once; after it, waits are ordinary again.
				if _, err := e.prepare("u", keys[:1]).wait(context.Background(), 5*time.Second); !errors.Is(err, errInstanceDeleting) {
					t.Errorf("a wait during the delete = %v, want errInstanceDeleting", err)
				}
				e.deleted("u")
				if _, err := e.prepare("u", keys[:1]).wait(context.Background(), 50*time.Millisecond); !errors.Is(err, errEventTimeout) {
					t.Errorf("a wait after the delete = %v, want a timeout", err)
				}
			}
		})
	}
}

// TestWaitingBuildEndsPromptly: a build waiting for network-vif-plugged (vif_plugging_timeout 300) ends at once
// when its instance is deleted — the delete then completes, with no fault and nothing left — or when the service
// stops and no event can reach it any more, as a failed event (VirtualInterfaceCreateException) with the tap
// unplugged and the port released.
func TestWaitingBuildEndsPromptly(t *testing.T) {
	for i, tt := range []struct {
		name      string
		early     bool // the delete comes while the build is still allocating, before it waits
		end       func(h *harness, uuid string)
		wantVM    string
		wantFault string
	}{
		{name: "delete before the wait", early: true, wantVM: vmDeleted, end: func(h *harness, uuid string) {
			// The delete waits for the build's lock; the build, let go once the delete has begun, reaches
			// its wait then.
			done := make(chan error, 1)
			go func() { done <- h.deleteServer(uuid) }()
			waitFor(t, "the delete to begin", func() bool {
				h.s.lc.net.events.mu.Lock()
				defer h.s.lc.net.events.mu.Unlock()
				return h.s.lc.net.events.deleting[uuid]
			})
			close(h.neutron.allocGate)
			if err := <-done; err != nil {
				t.Error(err)
			}
		}},
		{name: "delete", wantVM: vmDeleted, end: func(h *harness, uuid string) {
			if err := h.deleteServer(uuid); err != nil {
				t.Error(err)
			}
		}},
		{name: "stop with compute-alt: at manager_shutdown_timeout", end: func(h *harness, _ string) {
			// Events still arrive on compute-alt while the stop waits; at manager_shutdown_timeout (1 s here)
			// the wait ends with the work's cancellation. The state is then the next start's to resolve.
			cfg := *h.s.cfg.Load()
			cfg.Default.ManagerShutdownTimeout = 1
			servers, err := h.s.startServers(context.Background(), &cfg)
			if err != nil || len(servers) != 2 {
				t.Fatalf("servers %d: %v", len(servers), err)
			}
			if err := h.s.shutdown(servers, &cfg); err != nil {
				t.Error(err)
			}
		}},
		{name: "stop without compute-alt", wantVM: vmError,
			wantFault: "Failed to allocate the network(s), not rescheduling", end: func(h *harness, _ string) {
				if err := h.s.shutdown(nil, h.s.cfg.Load()); err != nil {
					t.Error(err)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := *h.s.cfg.Load()
			cfg.Default.VIFPluggingTimeout, cfg.Default.VIFPluggingIsFatal = 300, true
			cfg.Default.ManagerShutdownTimeout, cfg.Default.GracefulShutdownTimeout = 60, 90
			h.s.cfg.Store(&cfg)
			uuid := "88888888-0000-4000-8000-00000000000" + string(rune('0'+i))
			inst := instanceFromWire(t, uuid)
			h.cond.put(inst)
			if tt.early {
				h.neutron.allocGate = make(chan struct{})
			}
			if _, err := h.s.buildAndRunInstance(context.Background(), netBuildMessage(t, inst, false)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the build to allocate or wait for network-vif-plugged", func() bool {
				if tt.early {
					return len(h.neutron.callList()) > 0
				}
				h.s.lc.net.events.mu.Lock()
				defer h.s.lc.net.events.mu.Unlock()
				return len(h.s.lc.net.events.waiters[uuid]) == 1
			})
			start := time.Now()
			tt.end(h, uuid)
			h.s.lc.work.Wait()
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the build ended after %v", d)
			}
			h.cond.mu.Lock()
			deleted := h.cond.deleted[uuid]
			h.cond.mu.Unlock()
			if vm := fieldString(h.cond.object(uuid), "vm_state"); tt.wantVM != "" && (vm != tt.wantVM || deleted != (tt.wantVM == vmDeleted)) {
				t.Errorf("vm_state %s (deleted %v), want %s", vm, deleted, tt.wantVM)
			}
			faults := h.cond.faults[uuid]
			if tt.wantVM != "" && (tt.wantFault == "") != (len(faults) == 0) ||
				(tt.wantFault != "" && !slices.ContainsFunc(faults, func(f string) bool { return strings.Contains(f, tt.wantFault) })) {
				t.Errorf("faults %q, want %q", faults, tt.wantFault)
			}
			if taps := h.plugger.taps(); len(taps) != 0 || h.neutron.boundPorts() != 0 {
				t.Errorf("left taps %v, %d ports bound", taps, h.neutron.boundPorts())
			}
		})
	}
}
