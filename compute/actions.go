package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// novaError builds the remote exception a Nova caller expects (module nova.exception, kwargs with the HTTP code).
func novaError(class string, code int, format string, a ...any) *rpc.RemoteError {
	return rpc.NewRemoteError("nova.exception", class, fmt.Sprintf(format, a...), map[string]any{"code": code})
}

// translateEngineError turns an engine error into the Nova exception the API maps to an HTTP answer.
func translateEngineError(inst *vo.Object, err error) error {
	var re *rpc.RemoteError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return err
	case errors.Is(err, hypervisor.ErrNotFound):
		return fmt.Errorf("%w (%v)", novaError("InstanceNotFound", 404, "Instance %s could not be found.",
			instanceUUID(inst)), err)
	case errors.Is(err, hypervisor.ErrInvalidState):
		return fmt.Errorf("%w (%v)", novaError("InstanceInvalidState", 409, "Instance %s in power state %s: %v",
			instanceUUID(inst), asInstance(inst).powerStateText(), err), err)
	case errors.Is(err, hypervisor.ErrUnsupported):
		return &rpc.RemoteError{Module: "builtins", Class: "NotImplementedError", Message: err.Error(),
			Args: []any{err.Error()}, Kwargs: map[string]any{}}
	}
	return err
}

// faultCode is the code an InstanceFault records: the Nova exception's, else 500.
func faultCode(err error) int {
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		switch c := re.Kwargs["code"].(type) {
		case int:
			return c
		case float64:
			return int(c)
		}
		if re.Class == "InstanceInvalidState" || re.Class == "UnexpectedTaskStateError" {
			return 409
		}
	}
	return 500
}

// faultMessage is what `server show` displays: nova keeps at most 255 characters.
func faultMessage(err error) string {
	msg := err.Error()
	var re *rpc.RemoteError
	if errors.As(err, &re) && re.Message != "" {
		msg = re.Message
	}
	var be *buildError
	if errors.As(err, &be) {
		msg = be.Reason
	}
	if r := []rune(msg); len(r) > 255 {
		msg = string(r[:255])
	}
	return msg
}

// addFault is compute_utils.add_instance_fault_from_exc: an InstanceFault row, details only for code 500 (as
// nova shows tracebacks only for unexpected errors).
func (s *Service) addFault(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, err error) {
	code := faultCode(err)
	details := ""
	if code == 500 {
		details = err.Error()
	}
	f := vo.New("InstanceFault", s.release.ObjectVersion("InstanceFault"))
	if serr := setAll(f, map[string]any{"instance_uuid": instanceUUID(inst), "code": code,
		"message": faultMessage(err), "details": details, "host": s.cfg.Load().Default.Host}); serr != nil {
		s.log.Error("Cannot build instance fault", "instance", instanceUUID(inst), "error", serr)
		return
	}
	if _, ferr := s.cond.objectAction(ctx, rc, f, "create", nil, nil); ferr != nil {
		s.log.Warn("Cannot record instance fault", "instance", instanceUUID(inst), "fault", faultMessage(err),
			"error", ferr)
	}
}

// eventStart and eventFinish are InstanceActionEvent.event_start / event_finish_with_failure; the action they
// belong to is the one nova-api or the conductor created for the same request id.
func (s *Service) eventStart(ctx context.Context, rc *rpc.RequestContext, uuid, event string) {
	_, err := s.cond.classAction(ctx, rc, "InstanceActionEvent", "event_start", []string{"InstanceActionEvent"},
		[]any{uuid, event}, map[string]any{"want_result": false, "host": s.cfg.Load().Default.Host})
	if err != nil {
		// Nova does not fail the operation when the action is missing (e.g. a reschedule's new request id).
		s.log.Warn("Cannot record instance action event start", "instance", uuid, "event", event, "error", err)
	}
}

func (s *Service) eventFinish(ctx context.Context, rc *rpc.RequestContext, uuid, event string, opErr error) {
	var excVal, excTB any
	if opErr != nil {
		excVal, excTB = faultMessage(opErr), "Traceback (most recent call last):\n  novabsd compute\n"+opErr.Error()
	}
	_, err := s.cond.classAction(ctx, rc, "InstanceActionEvent", "event_finish_with_failure",
		[]string{"InstanceActionEvent"}, []any{uuid, event},
		map[string]any{"exc_val": excVal, "exc_tb": excTB, "want_result": false})
	if err != nil {
		s.log.Warn("Cannot record instance action event finish", "instance", uuid, "event", event, "error", err)
	}
}

// actionStart is InstanceAction.action_start, for operations this service starts itself (the power-state sync
// stopping a guest that shut down), as nova-api records one before casting.
func (s *Service) actionStart(ctx context.Context, rc *rpc.RequestContext, uuid, action string) {
	_, err := s.cond.classAction(ctx, rc, "InstanceAction", "action_start", []string{"InstanceAction"},
		[]any{uuid, action}, map[string]any{"want_result": false})
	if err != nil {
		s.log.Warn("Cannot record instance action", "instance", uuid, "action", action, "error", err)
	}
}

// op says which of nova's decorators wrap a manager method.
type op struct {
	event       string // @wrap_instance_event(prefix='compute'): "compute_<method>"; "" for none
	revertsTask bool   // @reverts_task_state
	fault       bool   // @wrap_instance_fault
	lock        bool   // @utils.synchronized(instance.uuid)
}

// run executes fn with the behaviour of nova's decorators, in their order: wrap_exception(reverts_task_state(
// wrap_instance_event(wrap_instance_fault(fn)))), inside the per-instance lock when asked.
func (s *Service) run(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, o op, fn func() error) error {
	uuid := instanceUUID(inst)
	if o.lock {
		unlock := s.lc.locks.lock(uuid)
		defer unlock()
	}
	if o.event != "" {
		s.eventStart(ctx, rc, uuid, o.event)
	}
	err := fn()
	if err != nil && o.fault && !isRemote(err, "InstanceNotFound") {
		s.addFault(ctx, rc, inst, err)
	}
	if o.event != "" {
		s.eventFinish(ctx, rc, uuid, o.event, err)
	}
	if err != nil && o.revertsTask && !isRemote(err, "UnexpectedTaskStateError", "UnexpectedDeletingTaskStateError") {
		asInstance(inst).ClearTaskState()
		if serr := s.saveInstance(ctx, rc, inst); serr != nil {
			s.log.Warn("Failed to revert task state", "instance", uuid, "error", serr)
		}
	}
	if err != nil {
		s.log.Error("Instance operation failed", "instance", uuid, "operation", o.event, "error", err)
	}
	return err
}

// setErrorState is nova's _set_instance_obj_error_state: vm ERROR (task cleared when asked), saved unchecked.
func (s *Service) setErrorState(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, clearTask bool) {
	v := asInstance(inst)
	v.SetVMState(vmError)
	if clearTask {
		v.ClearTaskState()
	}
	if err := s.saveInstance(ctx, rc, inst); err != nil && !instanceGone(err) {
		s.log.Error("Failed to set instance to ERROR", "instance", instanceUUID(inst), "error", err)
	}
}

// requestContext is the caller's context; handlers without one (tests) get an admin context.
func requestContext(ctx context.Context) *rpc.RequestContext {
	if rc, ok := rpc.RequestContextFrom(ctx); ok && rc != nil {
		return rc
	}
	rc := rpc.AdminContext()
	return &rc
}

func logInstance(log *slog.Logger, inst *vo.Object) *slog.Logger {
	return log.With("instance", instanceUUID(inst))
}
