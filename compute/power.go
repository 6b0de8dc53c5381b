package compute

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// waitSoftReboot is libvirt's [libvirt] wait_soft_reboot_seconds: how long a guest may take to honour the
// ACPI request before the reboot becomes hard.
const waitSoftReboot = 120 * time.Second

// instanceArgs are the arguments of the methods that take only the instance.
type instanceArgs struct {
	Instance *vo.Object `json:"instance"`
}

func decodeInstance(args json.RawMessage, dst any, inst func() *vo.Object) error {
	if err := rpc.DecodeArgs(args, dst); err != nil {
		return err
	}
	o := inst()
	if o == nil {
		return &rpc.ArgsError{Err: errors.New("instance is missing")}
	}
	// A malformed instance is refused before anything reads it: nova fails the same message at deserialization.
	if err := asInstance(o).check(); err != nil {
		return &rpc.ArgsError{Err: err}
	}
	if instanceUUID(o) == "" {
		return &rpc.ArgsError{Err: errors.New("instance is missing")}
	}
	return checkInstanceUUID(instanceUUID(o))
}

// guestOf is the instance's guest; the error is an instance uuid no path may be made of.
func (s *Service) guestOf(inst *vo.Object) (hypervisor.Guest, error) {
	return s.lc.eng.guest(instanceUUID(inst), instanceName(inst))
}

// stopInstanceArgs are stop_instance's arguments.
type stopInstanceArgs struct {
	Instance      *vo.Object `json:"instance"`
	CleanShutdown *bool      `json:"clean_shutdown"`
}

func (s *Service) stopInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a stopInstanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	clean := a.CleanShutdown == nil || *a.CleanShutdown
	return nil, s.doStop(ctx, requestContext(ctx), a.Instance, clean)
}

// doStop is stop_instance: power off (cleanly within shutdown_timeout, or at once), then vm STOPPED.
func (s *Service) doStop(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, clean bool) error {
	return s.run(ctx, rc, inst, op{event: "compute_stop_instance", revertsTask: true, fault: true, lock: true}, func() error {
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		expected := []any{taskPoweringOff}
		if s.powerState(ctx, g) == powerShutdown {
			expected = append(expected, nil)
		}
		if err := s.lc.eng.driver.PowerOff(ctx, g, s.shutdownTimeout(inst, clean)); err != nil &&
			!errors.Is(err, hypervisor.ErrInvalidState) {
			return translateEngineError(inst, err)
		}
		asInstance(inst).SetStates(s.powerState(ctx, g), vmStopped)
		return s.saveInstance(ctx, rc, inst, expected...)
	})
}

// shutdownTimeout is _get_power_off_values: the image's os_shutdown_timeout, else shutdown_timeout; 0 when the
// caller asked for an unclean stop.
func (s *Service) shutdownTimeout(inst *vo.Object, clean bool) time.Duration {
	if !clean {
		return 0
	}
	// The instance was checked on receipt, so its system_metadata decodes; a value that is not a count of
	// seconds falls back to shutdown_timeout, so that the stop still goes ahead.
	sm, _ := asInstance(inst).SystemMetadata()
	if v, err := strconv.Atoi(sm["image_os_shutdown_timeout"]); err == nil && v >= 0 {
		return seconds(v)
	}
	return seconds(s.cfg.Load().Default.ShutdownTimeout)
}

func (s *Service) startInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	return nil, s.doStart(ctx, requestContext(ctx), a.Instance)
}

// doStart is start_instance: power on from the saved domain, then vm ACTIVE.
func (s *Service) doStart(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	return s.run(ctx, rc, inst, op{event: "compute_start_instance", revertsTask: true, fault: true, lock: true}, func() error {
		if err := s.powerOnGuest(ctx, rc, inst); err != nil {
			return err
		}
		// An unshelve of an instance not offloaded is a start: its snapshot and shelved_* keys go now.
		if err := s.startShelved(ctx, rc, inst); err != nil {
			return err
		}
		return s.saveInstance(ctx, rc, inst, taskPoweringOn)
	})
}

// powerOnGuest is _power_on: the VIFs plugged again, then the guest powered on from its saved domain (one that
// already runs is not an error); inst gets vm ACTIVE and the guest's power state, for the caller to save.
func (s *Service) powerOnGuest(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	if err := s.replugVIFs(ctx, rc, inst); err != nil {
		return err
	}
	if err := s.lc.eng.driver.PowerOn(ctx, g); err != nil && !(errors.Is(err, hypervisor.ErrInvalidState) &&
		s.powerState(ctx, g) == powerRunning) {
		return translateEngineError(inst, err)
	}
	asInstance(inst).SetStates(s.powerState(ctx, g), vmActive)
	return nil
}

// rebootArgs are reboot_instance's arguments.
type rebootArgs struct {
	Instance        *vo.Object      `json:"instance"`
	BlockDeviceInfo json.RawMessage `json:"block_device_info"`
	RebootType      string          `json:"reboot_type"`
}

func (s *Service) rebootInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a rebootArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	if a.RebootType != "SOFT" && a.RebootType != "HARD" {
		return nil, &rpc.ArgsError{Err: errors.New("reboot_type must be SOFT or HARD, not " + strconv.Quote(a.RebootType))}
	}
	return nil, s.doReboot(ctx, requestContext(ctx), a.Instance, a.RebootType == "HARD")
}

// doReboot is _reboot_instance: pending, started, driver reboot (a soft one the guest cannot take becomes
// hard, as libvirt's), then ACTIVE. A failed reboot leaves a running guest ACTIVE with a fault, else ERROR.
func (s *Service) doReboot(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, hard bool) error {
	return s.run(ctx, rc, inst, op{event: "compute_reboot_instance", revertsTask: true, fault: true, lock: true}, func() error {
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		pending, started, expected := taskRebootPending, taskRebootStarted, softRebootStates
		if hard {
			pending, started, expected = taskRebootPendingHard, taskRebootStartedHard, hardRebootStates
		}
		v := asInstance(inst)
		v.SetPowerState(s.powerState(ctx, g))
		v.SetTaskState(pending)
		if err := s.saveInstance(ctx, rc, inst, expected...); err != nil {
			return err
		}
		v.SetTaskState(started)
		if err := s.saveInstance(ctx, rc, inst, pending); err != nil {
			return err
		}
		how := hypervisor.RebootSoft
		if hard || s.powerState(ctx, g) != powerRunning {
			how = hypervisor.RebootHard
			// _hard_reboot plugs the VIFs again: the taps may be gone (host restart, an unplug by hand).
			if err := s.replugVIFs(ctx, rc, inst); err != nil {
				return err
			}
		}
		err = s.lc.eng.driver.Reboot(ctx, g, how, waitSoftReboot)
		if err != nil && how == hypervisor.RebootSoft && errors.Is(err, hypervisor.ErrInvalidState) {
			err = s.lc.eng.driver.Reboot(ctx, g, hypervisor.RebootHard, 0)
		}
		ps := s.powerState(ctx, g)
		if err != nil {
			err = translateEngineError(inst, err)
			if ps != powerRunning {
				s.setErrorState(ctx, rc, inst, false)
				return err
			}
			s.addFault(ctx, rc, inst, err)
		}
		vm, verr := v.VMState()
		if verr != nil {
			return verr
		}
		if vm != vmRescued {
			vm = vmActive
		}
		v.SetStates(ps, vm)
		if err := s.saveInstance(ctx, rc, inst); err != nil && !isRemote(err, "InstanceNotFound") {
			return err
		}
		return nil
	})
}

// simpleTransition is the shape of pause, unpause: driver call, then the new vm_state saved with the
// expectation of the task state nova-api set.
func (s *Service) simpleTransition(ctx context.Context, args json.RawMessage, event, expect, vm string,
	do func(context.Context, hypervisor.Guest) error) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: event, revertsTask: true, fault: true}, func() error {
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		if err := do(ctx, g); err != nil {
			return translateEngineError(inst, err)
		}
		asInstance(inst).SetStates(s.powerState(ctx, g), vm)
		return s.saveInstance(ctx, rc, inst, expect)
	})
}

func (s *Service) pauseInstance(ctx context.Context, args json.RawMessage) (any, error) {
	return s.simpleTransition(ctx, args, "compute_pause_instance", taskPausing, vmPaused, s.lc.eng.driver.Pause)
}

func (s *Service) unpauseInstance(ctx context.Context, args json.RawMessage) (any, error) {
	return s.simpleTransition(ctx, args, "compute_unpause_instance", taskUnpausing, vmActive, s.lc.eng.driver.Unpause)
}

func (s *Service) suspendInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_suspend_instance", revertsTask: true, fault: true}, func() error {
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		v := asInstance(inst)
		prev, err := v.VMState()
		if err != nil {
			return err
		}
		sm, err := v.SystemMetadata()
		if err != nil {
			return err
		}
		sm["old_vm_state"] = prev
		if err := v.SetSystemMetadata(sm); err != nil {
			return err
		}
		if err := s.lc.eng.driver.Suspend(ctx, g); err != nil {
			return s.errorOutOnException(ctx, rc, inst, prev, translateEngineError(inst, err))
		}
		v.SetStates(s.powerState(ctx, g), vmSuspended)
		return s.saveInstance(ctx, rc, inst, taskSuspending)
	})
}

func (s *Service) resumeInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_resume_instance", revertsTask: true, fault: true}, func() error {
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		v := asInstance(inst)
		prev, err := v.VMState()
		if err != nil {
			return err
		}
		if err := s.replugVIFs(ctx, rc, inst); err != nil {
			return s.errorOutOnException(ctx, rc, inst, prev, err)
		}
		if err := s.lc.eng.driver.Resume(ctx, g); err != nil {
			return s.errorOutOnException(ctx, rc, inst, prev, translateEngineError(inst, err))
		}
		sm, err := v.SystemMetadata()
		if err != nil {
			return err
		}
		vm := sm["old_vm_state"]
		if vm == "" {
			vm = vmActive
		}
		delete(sm, "old_vm_state")
		if err := v.SetSystemMetadata(sm); err != nil {
			return err
		}
		v.SetStates(s.powerState(ctx, g), vm)
		return s.saveInstance(ctx, rc, inst, taskResuming)
	})
}

// errorOutOnException is _error_out_instance_on_exception: an operation the driver does not implement puts the
// instance back in its previous state; any other failure puts it in ERROR. err is returned either way.
func (s *Service) errorOutOnException(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, prev string, err error) error {
	if isRemote(err, "NotImplementedError") || errors.Is(err, hypervisor.ErrUnsupported) {
		asInstance(inst).SetVMState(prev)
		asInstance(inst).ClearTaskState()
		if serr := s.saveInstance(ctx, rc, inst); serr != nil {
			s.log.Warn("Cannot restore instance state", "instance", instanceUUID(inst), "error", serr)
		}
		return err
	}
	s.setErrorState(ctx, rc, inst, false)
	return err
}
