package compute

import (
	"context"
	"encoding/json"

	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// terminateArgs are terminate_instance's arguments.
type terminateArgs struct {
	Instance *vo.Object `json:"instance"`
	BDMs     *vo.Object `json:"bdms"`
}

func (s *Service) terminateInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a terminateArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	return nil, s.doTerminate(ctx, requestContext(ctx), a.Instance)
}

// doTerminate is terminate_instance: under the instance lock, _delete_instance; an instance that vanished
// meanwhile is not an error, any other failure leaves it in ERROR.
func (s *Service) doTerminate(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	return s.run(ctx, rc, inst, op{event: "compute_terminate_instance", revertsTask: true, fault: true, lock: true}, func() error {
		err := s.deleteInstance(ctx, rc, inst)
		if isRemote(err, "InstanceNotFound") {
			s.log.Info("Instance disappeared during terminate", "instance", instanceUUID(inst))
			return nil
		}
		if err != nil {
			s.setErrorState(ctx, rc, inst, false)
		}
		return err
	})
}

// deleteInstance is _delete_instance: destroy the guest and every file of it, unplug its taps and release its
// ports (no Cinder volumes to release on this node), vm DELETED, then _complete_deletion (usage, Placement allocations,
// console tokens, the schedulers' delete_instance_info) and the soft delete of the record.
func (s *Service) deleteInstance(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	uuid := instanceUUID(inst)
	if err := s.destroyGuest(ctx, inst); err != nil {
		return err
	}
	if err := s.shutdownNetworks(ctx, rc, inst); err != nil {
		return err
	}
	v := asInstance(inst)
	v.SetStates(powerNoState, vmDeleted)
	v.SetTerminatedAt()
	if err := s.saveInstance(ctx, rc, inst); err != nil {
		return err
	}
	s.lc.tracker.remove(uuid)
	if err := s.removeAllocations(ctx, uuid); err != nil {
		// nova leaves the record undeleted when the allocation cannot be removed, so a retry can finish.
		return err
	}
	s.cleanConsoleTokens(ctx, rc, uuid)
	s.deleteSchedulerInstanceInfo(rc, uuid)
	_, err := s.cond.objectAction(ctx, rc, inst, "destroy", nil, nil)
	return err
}

// cleanConsoleTokens is _clean_instance_console_tokens: when a console is enabled, the remotable classmethod
// ConsoleAuthToken.clean_console_auths_for_instance, which nova-compute sends to the conductor like any other
// (object_class_action_versions, manifest {"ConsoleAuthToken": <version>}). Nova lets a failure here fail the
// delete; this service logs it instead, since the record is already DELETED and tokens expire after
// [consoleauth] token_ttl.
func (s *Service) cleanConsoleTokens(ctx context.Context, rc *rpc.RequestContext, uuid string) {
	if !s.cfg.Load().VNC.Enabled { // the only console this service offers
		return
	}
	if _, err := s.cond.classAction(ctx, rc, "ConsoleAuthToken", "clean_console_auths_for_instance",
		[]string{"ConsoleAuthToken"}, []any{uuid}, nil); err != nil {
		s.log.Warn("Cannot clean console tokens", "instance", uuid, "error", err)
	}
}

// shutdownNetworks is _shutdown_instance's network part: with the guest gone, its taps are unplugged and its
// ports released (_try_deallocate_network: retried while Neutron is unreachable; ports already gone are fine). An
// empty info cache is read again from Neutron first, so no tap is left behind.
func (s *Service) shutdownNetworks(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	if s.lc.net == nil {
		return nil
	}
	uuid := instanceUUID(inst)
	info, err := s.networkInfo(ctx, rc, inst)
	if err != nil {
		s.log.Warn("Cannot read the network info cache", "instance", uuid, "error", err)
	}
	if len(info) == 0 {
		fresh, err := s.lc.net.api.Refresh(ctx, uuid, info)
		if err != nil {
			s.log.Warn("Cannot read the instance's ports from Neutron; releasing them by device", "instance", uuid,
				"error", err)
		} else {
			info = fresh
		}
	}
	s.unplugVIFs(ctx, inst, info)
	return s.deallocate(ctx, rc, inst, info)
}
