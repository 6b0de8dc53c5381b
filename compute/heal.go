package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// healQueue is the round-robin list of _heal_instance_info_cache: the uuids of this host's instances still to
// refresh, rebuilt from the conductor when it runs out. Only the periodic task uses it; the mutex makes a test
// calling healInfoCache directly safe beside a running loop.
type healQueue struct {
	mu    sync.Mutex
	uuids []string
}

// healInfoCacheLoop runs _heal_instance_info_cache every heal_instance_info_cache_interval seconds; 0 or a
// negative value disables it, as nova's task returns at once for them.
func (s *Service) healInfoCacheLoop(ctx context.Context) {
	s.periodic(ctx, periodicTask{
		interval: func(c *conf.Config) int {
			if c.Default.HealInstanceInfoCacheInterval <= 0 {
				return -1
			}
			return c.Default.HealInstanceInfoCacheInterval
		},
		run: s.healInfoCache,
		failed: func(err error) {
			s.log.Error("An error occurred while refreshing the network cache", "error", err)
		},
	})
}

// healInfoCache is one turn of _heal_instance_info_cache: one instance of this host, the next on the list (the
// first of a rebuilt list at once), has its info cache refreshed from Neutron. Instances building or being
// deleted are skipped, as are those gone or moved to another host since the list was made. The cache is saved
// only when Neutron's answer differs from it.
func (s *Service) healInfoCache(ctx context.Context) error {
	if s.lc == nil || s.lc.net == nil {
		return nil // nothing to refresh from
	}
	rc := rpc.AdminContext()
	host := s.cfg.Load().Default.Host
	inst, err := s.nextToHeal(ctx, &rc, host)
	if err != nil || inst == nil {
		if err == nil {
			s.log.Debug("Didn't find any instances for network info cache update")
		}
		return err
	}
	log := logInstance(s.log, inst)
	changed, err := s.refreshNetworkInfo(ctx, &rc, inst, log)
	switch {
	case instanceGone(err), isRemote(err, "InstanceInfoCacheNotFound"), errors.Is(err, network.ErrNotFound):
		log.Debug("Instance or its info cache no longer exists; unable to refresh", "error", err)
		return nil
	case err != nil:
		return fmt.Errorf("instance %s: %w", instanceUUID(inst), err)
	case changed:
		log.Info("Updated the network info_cache for instance")
	default:
		log.Debug("The network info_cache for instance is current")
	}
	return nil
}

// healable tells whether inst's cache may be refreshed now: not building (a build saves it itself), not being
// deleted, still on this host.
func healable(inst *vo.Object, host string) bool {
	v := asInstance(inst)
	vm, _ := v.VMState()
	task, _ := v.TaskState()
	h, _ := optString(inst, "host")
	return vm != vmBuilding && task != taskDeleting && h == host
}

// nextToHeal pops the next instance to refresh, rebuilding the list from InstanceList.get_by_host when it is
// empty; nil when there is none.
func (s *Service) nextToHeal(ctx context.Context, rc *rpc.RequestContext, host string) (*vo.Object, error) {
	q := &s.lc.heal
	q.mu.Lock()
	pending := len(q.uuids) > 0
	q.mu.Unlock()
	if !pending {
		insts, err := s.instancesOnHost(ctx, rc, host, []string{"info_cache"})
		if err != nil {
			return nil, fmt.Errorf("listing the instances of %s: %w", host, err)
		}
		var first *vo.Object
		var rest []string
		for _, inst := range insts {
			if !healable(inst, host) {
				continue
			}
			if first == nil {
				first = inst
			} else {
				rest = append(rest, instanceUUID(inst))
			}
		}
		q.mu.Lock()
		q.uuids = rest
		q.mu.Unlock()
		return first, nil
	}
	for {
		q.mu.Lock()
		if len(q.uuids) == 0 {
			q.mu.Unlock()
			return nil, nil
		}
		uuid := q.uuids[0]
		q.uuids = q.uuids[1:]
		q.mu.Unlock()
		inst, err := s.getInstance(ctx, rc, uuid, []string{"info_cache", "system_metadata", "flavor"})
		if instanceGone(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading instance %s: %w", uuid, err)
		}
		if del, _ := asInstance(inst).Deleted(); del || !healable(inst, host) {
			continue
		}
		return inst, nil
	}
}

// refreshNetworkInfo reads the instance's ports again from Neutron (get_instance_nw_info with force_refresh)
// under the instance's cache lock and saves the cache when the answer differs from it; changed says whether it
// was saved.
func (s *Service) refreshNetworkInfo(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, log *slog.Logger) (changed bool, err error) {
	uuid := instanceUUID(inst)
	unlock := s.lc.net.cacheLocks.lock(uuid)
	defer unlock()
	cur, err := s.reloadNetworkInfo(ctx, rc, inst)
	if err != nil {
		log.Warn("Cannot read the network info cache; rebuilding it from Neutron", "error", err)
		cur = nil
	}
	info, err := s.lc.net.api.Refresh(ctx, uuid, orEmpty(cur))
	if err != nil {
		return false, fmt.Errorf("refreshing the network info of instance %s: %w", uuid, err)
	}
	if cur != nil && sameInfo(cur, info) {
		return false, nil
	}
	if err := s.saveInfoCache(ctx, rc, inst, info); err != nil {
		return false, err
	}
	return true, nil
}

// orEmpty is info, or an empty list for nil.
func orEmpty(info network.Info) network.Info {
	if info == nil {
		return network.Info{}
	}
	return info
}

// sameInfo tells whether two network_info lists would be saved as the same text.
func sameInfo(a, b network.Info) bool {
	ja, erra := json.Marshal(orEmpty(a))
	jb, errb := json.Marshal(orEmpty(b))
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}
