package compute

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/rpc/vo"
)

// putHealInstance stores an instance with the given host, states and cached network_info in the fake database.
func (h *harness) putHealInstance(t *testing.T, uuid, host, vm, task string, info network.Info) {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	for k, v := range map[string]any{"host": host, "vm_state": vm, "task_state": nil} {
		if err := inst.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if task != "" {
		_ = inst.Set("task_state", task)
	}
	text, _ := json.Marshal(orEmpty(info))
	ic := vo.New("InstanceInfoCache", "1.5")
	ic.SetString("instance_uuid", uuid)
	ic.SetString("network_info", string(text))
	inst.Data["info_cache"], _ = json.Marshal(ic)
	inst.ResetChanges()
	h.cond.put(inst)
}

// notRefreshed runs change, under the fake database's lock, on the record of each instance Refresh was not asked
// about yet.
func (h *harness) notRefreshed(change func(uuid string, rec map[string]json.RawMessage)) {
	h.cond.mu.Lock()
	defer h.cond.mu.Unlock()
	for u, rec := range h.cond.db {
		if !slices.Contains(h.neutron.refreshed, u) {
			change(u, rec)
		}
	}
}

// healVIF is a port as a cache would hold it, with one fixed address.
func healVIF(id, addr string) network.VIF {
	return network.VIF{ID: id, Address: "fa:16:3e:00:00:01", Type: "ovs", Active: true,
		Network: &network.Network{ID: "net-1", Bridge: "br-int", Subnets: []network.Subnet{{CIDR: "10.0.0.0/24",
			Version: 4, IPs: []network.FixedIP{{IP: network.IP{Address: addr, Type: "fixed", Version: 4}}}}}}}
}

// TestHealInfoCache drives _heal_instance_info_cache turn by turn: one instance per turn, round-robin over the
// host's instances that are neither building nor being deleted; instances gone or moved since the list was made
// are skipped; the cache is saved only when Neutron's answer differs; a Neutron failure is an error for the
// periodic helper to log, with nothing saved.
func TestHealInfoCache(t *testing.T) {
	const (
		a = "55555555-0000-4000-8000-00000000000a"
		b = "55555555-0000-4000-8000-00000000000b"
		c = "55555555-0000-4000-8000-00000000000c"
		d = "55555555-0000-4000-8000-00000000000d" // building
		e = "55555555-0000-4000-8000-00000000000e" // deleting
		f = "55555555-0000-4000-8000-00000000000f" // another host
	)
	old, fresh := healVIF("port-a", "10.0.0.5"), healVIF("port-a", "10.0.0.99")
	tests := []struct {
		name  string
		setup func(h *harness)
		// between runs after the first turn (the list is made then).
		between    func(h *harness)
		turns      int
		wantErr    bool // on the last turn
		wantHealed []string
		wantSaves  map[string]int // InstanceInfoCache.save per instance
		wantCache  map[string]string
	}{
		{name: "round robin over healable instances", turns: 4,
			setup: func(h *harness) {
				for _, u := range []string{a, b, c} {
					h.putHealInstance(t, u, testHost, vmActive, "", network.Info{old})
				}
				h.putHealInstance(t, d, testHost, vmBuilding, "", nil)
				h.putHealInstance(t, e, testHost, vmActive, taskDeleting, nil)
				h.putHealInstance(t, f, "other-host", vmActive, "", nil)
			},
			wantHealed: []string{a, b, c}, // each once in the first three turns, then the list starts again
			wantSaves:  map[string]int{a: 0, b: 0, c: 0, d: 0, e: 0, f: 0}},
		{name: "saved only when changed", turns: 2,
			setup: func(h *harness) {
				h.putHealInstance(t, a, testHost, vmActive, "", network.Info{old})
				h.putHealInstance(t, b, testHost, vmStopped, "", network.Info{old})
				h.neutron.refreshBy = map[string]network.Info{a: {fresh}}
			},
			wantHealed: []string{a, b}, wantSaves: map[string]int{a: 1, b: 0},
			wantCache: map[string]string{a: "10.0.0.99", b: "10.0.0.5"}},
		{name: "instance deleted after the list was made is skipped", turns: 2,
			setup: func(h *harness) {
				h.putHealInstance(t, a, testHost, vmActive, "", network.Info{old})
				h.putHealInstance(t, b, testHost, vmActive, "", network.Info{old})
			},
			between: func(h *harness) {
				h.notRefreshed(func(u string, _ map[string]json.RawMessage) { h.cond.deleted[u] = true })
			},
			wantHealed: []string{"first"}},
		{name: "instance moved after the list was made is skipped", turns: 2,
			setup: func(h *harness) {
				h.putHealInstance(t, a, testHost, vmActive, "", network.Info{old})
				h.putHealInstance(t, b, testHost, vmActive, "", network.Info{old})
			},
			between: func(h *harness) {
				h.notRefreshed(func(_ string, rec map[string]json.RawMessage) {
					rec["host"] = json.RawMessage(`"other-host"`)
				})
			},
			wantHealed: []string{"first"}},
		{name: "neutron failure is an error, nothing saved", turns: 1, wantErr: true,
			setup: func(h *harness) {
				h.putHealInstance(t, a, testHost, vmActive, "", network.Info{old})
				h.neutron.refreshErr = errors.Join(network.ErrUnavailable, errors.New("connection refused"))
			},
			wantHealed: []string{a}, wantSaves: map[string]int{a: 0}, wantCache: map[string]string{a: "10.0.0.5"}},
		{name: "port gone in neutron is not an error", turns: 1,
			setup: func(h *harness) {
				h.putHealInstance(t, a, testHost, vmActive, "", network.Info{old})
				h.neutron.refreshErr = network.ErrNotFound
			},
			wantHealed: []string{a}, wantSaves: map[string]int{a: 0}},
		{name: "no instance", turns: 2, setup: func(*harness) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.setup(h)
			var err error
			for turn := range tt.turns {
				if turn == 1 && tt.between != nil {
					tt.between(h)
				}
				err = h.s.healInfoCache(context.Background())
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("last turn: %v, want error %v", err, tt.wantErr)
			}
			got := slices.Clone(h.neutron.refreshed)
			switch {
			case len(tt.wantHealed) == 1 && tt.wantHealed[0] == "first":
				if len(got) != 1 {
					t.Errorf("refreshed %v, want only the first turn's instance", got)
				}
			case tt.turns > len(tt.wantHealed) && len(tt.wantHealed) > 0:
				// The list is made again after it ran out: the extra turn refreshes one of them again.
				first := slices.Clone(got[:len(tt.wantHealed)])
				slices.Sort(first)
				if !slices.Equal(first, tt.wantHealed) || len(got) != tt.turns || !slices.Contains(tt.wantHealed, got[len(got)-1]) {
					t.Errorf("refreshed %v, want each of %v once, then one of them", got, tt.wantHealed)
				}
			default:
				slices.Sort(got)
				if !slices.Equal(got, tt.wantHealed) {
					t.Errorf("refreshed %v, want %v", got, tt.wantHealed)
				}
			}
			for u, n := range tt.wantSaves {
				if saves := h.cond.cacheSaves[u]; len(saves) != n {
					t.Errorf("%s: %d info cache saves, want %d", u, len(saves), n)
				}
			}
			for u, addr := range tt.wantCache {
				info := h.cachedInfo(t, u)
				if len(info) != 1 || info[0].Network.Subnets[0].IPs[0].Address != addr {
					t.Errorf("%s: cache %+v, want %s", u, info, addr)
				}
			}
		})
	}
}

// TestHealInfoCacheInterval: the periodic task runs every heal_instance_info_cache_interval seconds, and not at
// all when it is 0 or negative.
func TestHealInfoCacheInterval(t *testing.T) {
	for _, tt := range []struct {
		interval int
		want     bool
	}{{1, true}, {0, false}, {-1, false}} {
		h := newHarness(t)
		cfg := *h.s.cfg.Load()
		cfg.Default.HealInstanceInfoCacheInterval = tt.interval
		h.s.cfg.Store(&cfg)
		h.putHealInstance(t, "55555555-0000-4000-8000-000000000001", testHost, vmActive, "", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		done := make(chan struct{})
		go func() { defer close(done); h.s.healInfoCacheLoop(ctx) }()
		<-done
		cancel()
		if ran := len(h.neutron.callList()) > 0; ran != tt.want {
			t.Errorf("interval %d: ran = %v, want %v", tt.interval, ran, tt.want)
		}
	}
}
