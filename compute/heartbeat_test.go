package compute

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/novabsd/novabsd/rpc/vo"
)

// TestHeartbeatHoldsNoLockAcrossTheSave blocks the heartbeat's Service.save in the conductor: a capacity check
// and set_host_enabled still finish promptly, and when the save completes the record has both the new
// report_count and set_host_enabled's disabled.
func TestHeartbeatHoldsNoLockAcrossTheSave(t *testing.T) {
	h := newHarness(t)
	cfg := *h.s.cfg.Load()
	cfg.Default.RPCResponseTimeout = 60
	h.s.cfg.Store(&cfg)
	h.s.serviceRef = vo.New("Service", "1.22")
	_ = setAll(h.s.serviceRef, map[string]any{"id": 1, "report_count": 41, "disabled": false})
	h.s.serviceRef.ResetChanges()
	entered, release := make(chan struct{}), make(chan struct{})
	h.cond.mu.Lock()
	h.cond.onObjectAction = func(what string) {
		if what == "Service.save" {
			close(entered)
			<-release
		}
	}
	h.cond.mu.Unlock()
	released := false
	unblock := func() {
		if !released {
			released = true
			close(release)
		}
	}
	var hbErr error
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); hbErr = h.s.reportState(context.Background()) }()
	defer func() { unblock(); <-hbDone }()
	select {
	case <-entered:
	case <-hbDone:
		t.Fatalf("the heartbeat's save never reached the conductor: %v", hbErr)
	}

	done := make(chan error, 1)
	go func() {
		if err := h.s.checkCapacity("11111111-0000-4000-8000-0000000000aa", flavor{VCPUs: 1, MemoryMB: 64}); err != nil {
			done <- err
			return
		}
		_, err := h.s.setHostEnabled(context.Background(), json.RawMessage(`{"enabled": false}`))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		unblock()
		<-done
		t.Fatal("capacity check and set_host_enabled waited for the heartbeat's conductor call")
	}

	unblock()
	if <-hbDone; hbErr != nil {
		t.Fatal(hbErr)
	}
	var count int
	_, _ = h.s.serviceRef.Get("report_count", &count)
	if count != 42 || !h.s.serviceDisabled() {
		t.Errorf("after the heartbeat: report_count %d (want 42), disabled %v (want true)", count, h.s.serviceDisabled())
	}
}
