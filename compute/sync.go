package compute

import (
	"context"
	"sync"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// syncPoolSize is sync_power_state_pool_size's 2026.1 default.
const syncPoolSize = 5

// powerSyncLoop is the _sync_power_states periodic task: at once, then every sync_power_state_interval.
func (s *Service) powerSyncLoop(ctx context.Context) {
	s.periodic(ctx, periodicTask{
		interval: func(c *conf.Config) int { return c.Default.SyncPowerStateInterval },
		atStart:  true,
		run:      s.syncPowerStates,
		failed: func(err error) {
			s.log.Warn("Power state sync failed; retrying next period", "error", err)
		},
	})
}

// syncPowerStates compares every instance of this host with its guest.
func (s *Service) syncPowerStates(ctx context.Context) error {
	rc := rpc.AdminContext()
	insts, err := s.instancesOnHost(ctx, &rc, s.cfg.Load().Default.Host, []string{})
	if err != nil {
		return err
	}
	sem := make(chan struct{}, syncPoolSize)
	var wg sync.WaitGroup
	for _, inst := range insts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.syncInstancePowerState(ctx, &rc, inst)
		}()
	}
	wg.Wait()
	return nil
}

// Actions the sync takes on a guest whose state contradicts its record.
const (
	syncNothing   = ""
	syncStop      = "stop"       // compute_api.stop: a clean stop
	syncForceStop = "force_stop" // compute_api.force_stop
)

// syncInstancePowerState is _sync_instance_power_state: under the instance's lock, record the guest's power
// state, then decide whether the instance must be stopped; the stop runs after the lock is released, as a stop
// cast from nova-api would.
func (s *Service) syncInstancePowerState(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) {
	uuid, v := instanceUUID(inst), asInstance(inst)
	unlock := s.lc.locks.lock(uuid)
	action := func() string {
		defer unlock()
		g, err := s.guestOf(inst)
		if err != nil {
			s.log.Error("Not syncing the power state of this instance", "instance", uuid, "error", err)
			return syncNothing
		}
		vmPower := s.powerState(ctx, g)
		if _, err := s.cond.objectAction(ctx, rc, inst, "refresh", nil, nil); err != nil {
			s.log.Debug("Cannot refresh instance for power sync", "instance", uuid, "error", err)
			return syncNothing
		}
		// The refreshed record is the conductor's; one it cannot make sense of is left alone, not acted on.
		if err := v.check(); err != nil {
			s.log.Error("Not syncing the power state of a malformed instance", "instance", uuid, "error", err)
			return syncNothing
		}
		host, _ := v.Host()
		task, _ := v.TaskState()
		if host != s.cfg.Load().Default.Host || task != "" {
			return syncNothing
		}
		// An unknown (absent or None) DB power state counts as NOSTATE, as nova compares it.
		if dbPower, _, _ := v.PowerState(); int(dbPower) != vmPower {
			s.log.Info("Updating power_state in the DB to match the hypervisor", "instance", uuid,
				"db_power_state", dbPower, "vm_power_state", vmPower)
			v.SetPowerState(vmPower)
			if err := s.saveInstance(ctx, rc, inst); err != nil {
				s.log.Warn("Cannot save power state", "instance", uuid, "error", err)
				return syncNothing
			}
		}
		vm, _ := v.VMState()
		return syncDecision(vm, vmPower)
	}()
	if action == syncNothing {
		return
	}
	s.log.Warn("Instance's power state contradicts its vm_state; calling the stop API", "instance", uuid,
		"vm_state", checkedRead(v.VMState()), "action", action)
	if err := s.apiStop(ctx, rc, inst, action == syncStop); err != nil {
		s.log.Error("Error during power-state sync stop", "instance", uuid, "error", err)
	}
}

// syncDecision is the table of _sync_instance_power_state.
func syncDecision(vmState string, vmPower int) string {
	switch vmState {
	case vmActive:
		switch vmPower {
		case powerShutdown, powerCrashed, powerSuspended:
			return syncStop
		}
	case vmStopped:
		switch vmPower {
		case powerNoState, powerShutdown, powerCrashed:
		default:
			return syncForceStop
		}
	case vmPaused:
		if vmPower == powerShutdown || vmPower == powerCrashed {
			return syncForceStop
		}
	}
	return syncNothing
}

// apiStop does what compute_api.stop / force_stop and the stop_instance cast they send would: task
// powering-off (only if no other task started meanwhile), an instance action "stop", then stop_instance.
func (s *Service) apiStop(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, clean bool) error {
	asInstance(inst).SetTaskState(taskPoweringOff)
	asInstance(inst).SetProgress(0)
	if err := s.saveInstance(ctx, rc, inst, nil); err != nil {
		return err
	}
	s.actionStart(ctx, rc, instanceUUID(inst), "stop")
	return s.doStop(ctx, rc, inst, clean)
}
