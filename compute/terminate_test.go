package compute

import (
	"slices"
	"testing"
)

// TestTerminateCleansConsoleTokens deletes an instance and checks the conductor accepted
// ConsoleAuthToken.clean_console_auths_for_instance for it (the fake conductor, like nova's, answers KeyError
// when object_versions lacks the class), and that nothing is sent when no console is enabled, as nova's
// _clean_instance_console_tokens does.
func TestTerminateCleansConsoleTokens(t *testing.T) {
	for _, tt := range []struct {
		name string
		vnc  bool
	}{{"vnc enabled", true}, {"no console", false}} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := *h.s.cfg.Load()
			cfg.VNC.Enabled = tt.vnc
			h.s.cfg.Store(&cfg)
			uuid := "66666666-0000-4000-8000-000000000001"
			h.build(t, uuid, false)
			if err := h.deleteServer(uuid); err != nil {
				t.Fatal(err)
			}
			h.cond.mu.Lock()
			cleaned := slices.Clone(h.cond.cleaned)
			h.cond.mu.Unlock()
			want := []string{uuid}
			if !tt.vnc {
				want = nil
			}
			if !slices.Equal(cleaned, want) {
				t.Errorf("console tokens cleaned for %v, want %v", cleaned, want)
			}
		})
	}
}
