package compute

import (
	"context"
	"encoding/json"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// softDeleteMethods: soft_delete_instance and restore_instance.
func (s *Service) softDeleteMethods() map[string]method {
	return map[string]method{
		"soft_delete_instance": {req("instance"), s.softDeleteInstance},
		"restore_instance":     {req("instance"), s.restoreInstance},
	}
}

// softDeleteInstance is soft_delete_instance: no engine has a soft delete of its own, so, as nova falls back
// to, the guest is powered off at once (no clean shutdown) and kept with its disks until restored or reclaimed.
// Nova's method takes no instance lock.
func (s *Service) softDeleteInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_soft_delete_instance", revertsTask: true, fault: true}, func() error {
		if err := s.powerOffGuest(ctx, inst, false); err != nil {
			return err
		}
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		asInstance(inst).SetStates(s.powerState(ctx, g), vmSoftDeleted)
		return s.saveInstance(ctx, rc, inst, taskSoftDeleting)
	})
}

// restoreInstance is restore_instance: nova's fallback _power_on (the VIFs plugged again first, as power-on
// does), then vm ACTIVE.
func (s *Service) restoreInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_restore_instance", revertsTask: true, fault: true}, func() error {
		if err := s.powerOnGuest(ctx, rc, inst); err != nil {
			return err
		}
		return s.saveInstance(ctx, rc, inst, taskRestoring)
	})
}

// reclaimLoop is the _reclaim_queued_deletes periodic task, at the default periodic interval (60 s) as nova's.
func (s *Service) reclaimLoop(ctx context.Context) {
	s.periodic(ctx, periodicTask{
		interval: func(*conf.Config) int { return 0 },
		run:      s.reclaimQueuedDeletes,
		failed: func(err error) {
			s.log.Warn("Reclaiming soft-deleted instances failed; retrying next period", "error", err)
		},
	})
}

// reclaimDefaultFields is objects.instance.INSTANCE_DEFAULT_FIELDS, what the reclaim lists instances with.
var reclaimDefaultFields = []string{"metadata", "system_metadata", "info_cache", "security_groups"}

// reclaimQueuedDeletes deletes for good this host's SOFT_DELETED instances (no task) whose deleted_at is older
// than reclaim_instance_interval, through the same path as terminate; nothing when the interval is 0 or less.
// One failure does not stop the others.
func (s *Service) reclaimQueuedDeletes(ctx context.Context) error {
	cfg := s.cfg.Load()
	interval := cfg.Default.ReclaimInstanceInterval
	if interval <= 0 {
		return nil
	}
	rc := rpc.AdminContext()
	insts, err := s.instancesByFilters(ctx, &rc, map[string]any{"vm_state": vmSoftDeleted, "task_state": nil,
		"host": cfg.Default.Host}, reclaimDefaultFields)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, inst := range insts {
		log := logInstance(s.log, inst)
		if err := asInstance(inst).check(); err != nil {
			log.Error("Not reclaiming a malformed instance", "error", err)
			continue
		}
		if !deletedOldEnough(inst, now, seconds(interval)) {
			continue
		}
		log.Info("Reclaiming deleted instance")
		func() {
			// Under the instance lock: a restore arriving now waits, then finds the record gone.
			unlock := s.lc.locks.lock(instanceUUID(inst))
			defer unlock()
			if err := s.deleteInstance(ctx, &rc, inst); err != nil {
				log.Warn("Periodic reclaim failed to delete instance", "error", err)
			}
		}()
	}
	return nil
}

// deletedOldEnough is _deleted_old_enough: no deleted_at counts as old enough, as in nova.
func deletedOldEnough(inst *vo.Object, now time.Time, timeout time.Duration) bool {
	at, err := optString(inst, "deleted_at")
	if err != nil || at == "" {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		// An unreadable time is not "old enough": the instance stays restorable rather than being lost.
		return false
	}
	return now.Sub(t) > timeout
}
