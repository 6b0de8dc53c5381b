package compute

import (
	"context"
	"encoding/json"

	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// taskUpdatingPassword is the task nova-api sets before set_admin_password.
const taskUpdatingPassword = "updating_password"

// refusal says how one unsupported method fails: with the exception nova's manager raises (or translates to)
// when its driver lacks the feature, behind the same decorators, so the caller sees what it sees from a libvirt
// host without the feature: no stuck task, no ERROR, a fault where nova records one.
type refusal struct {
	args argSpec
	// o are nova's decorators; o.lock is not used (nothing is done that needs the instance's lock).
	o op
	// instance is false for the methods without an instance argument (host actions, shared storage).
	instance bool
	// migration is @errors_out_migration / errors_out_migration_ctxt: the migration argument's status becomes
	// "error".
	migration bool
	// rollback is _error_out_instance_on_exception around a NotImplementedError (or an InstanceFaultRollback):
	// vm_state keeps the value it had and task_state is cleared, before the task revert.
	rollback bool
	// revertAllocation is _revert_allocation: the allocations the migration holds go back to the instance.
	revertAllocation bool
	// shareError: the share_mapping argument's status becomes "error", as allow_share does on failure.
	shareError bool
	// refuse builds the exception; inst is nil for the methods without one, args are the bound arguments.
	refuse func(s *Service, ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, args map[string]json.RawMessage) error
}

// notImplemented is Python's builtins.NotImplementedError, which every ComputeDriver method raises by default.
func notImplemented(msg string) error {
	return &rpc.RemoteError{Module: "builtins", Class: "NotImplementedError", Message: msg, Args: []any{msg},
		Kwargs: map[string]any{}}
}

// unsupported refuses with NotImplementedError naming what this host lacks.
func unsupported(what string) func(*Service, context.Context, *rpc.RequestContext, *vo.Object, map[string]json.RawMessage) error {
	return func(*Service, context.Context, *rpc.RequestContext, *vo.Object, map[string]json.RawMessage) error {
		return notImplemented(what + " is not supported by the novabsd compute driver")
	}
}

// preCheck refuses with MigrationPreCheckError, which the conductor's live-migration and cross-cell tasks take
// as "this host will not do": they try the next candidate, or fail the migration cleanly when the host was forced.
func preCheck(what string) func(*Service, context.Context, *rpc.RequestContext, *vo.Object, map[string]json.RawMessage) error {
	return func(*Service, context.Context, *rpc.RequestContext, *vo.Object, map[string]json.RawMessage) error {
		return novaError("MigrationPreCheckError", 500, "Migration pre-check error: %s is not supported by the "+
			"novabsd compute driver", what)
	}
}

// consoleUnavailable is get_spice_console / get_mks_console with [spice] / [mks] enabled = false, which nova
// checks before the console type: novabsd serves neither protocol.
func consoleUnavailable(_ *Service, _ context.Context, _ *rpc.RequestContext, _ *vo.Object, args map[string]json.RawMessage) error {
	var ct string
	_ = json.Unmarshal(args["console_type"], &ct) // not a string: nova formats whatever it got; so does %v below
	if ct == "" {
		ct = string(args["console_type"])
	}
	return novaError("ConsoleTypeUnavailable", 400, "Unavailable console type %s.", ct)
}

// refusals are the methods of nova's ComputeManager (RPC 6.x) that novabsd does not support, with their Python
// signatures and nova's decorators (nova/compute/manager.py, 2026.1).
var refusals = map[string]refusal{
	// Volumes. nova-api and the conductor call reserve_block_device_name before anything is created in Cinder or
	// the database; refusing it there with InvalidVolume makes the attach a 400 with nothing to clean up and the
	// server untouched (a BDM it would have created is the caller's to destroy, and there is none).
	"reserve_block_device_name": {args: req("instance", "device", "volume_id", "disk_bus", "device_type", "tag",
		"multiattach"), o: op{revertsTask: true, fault: true}, instance: true,
		refuse: func(*Service, context.Context, *rpc.RequestContext, *vo.Object, map[string]json.RawMessage) error {
			return novaError("InvalidVolume", 400,
				"Invalid volume: volume attachment is not supported by the novabsd compute driver")
		}},
	"attach_volume": {args: req("instance", "bdm"), o: op{event: "compute_attach_volume", fault: true},
		instance: true, refuse: refuseAttachVolume},
	"detach_volume": {args: req("volume_id", "instance", "attachment_id"),
		o: op{event: "compute_detach_volume", fault: true}, instance: true, refuse: unsupported("detach_volume")},
	"swap_volume": {args: req("old_volume_id", "new_volume_id", "instance", "new_attachment_id"),
		o: op{event: "compute_swap_volume", fault: true}, instance: true, refuse: unsupported("swap_volume")},
	"volume_snapshot_create": {args: req("instance", "volume_id", "create_info"), instance: true,
		refuse: unsupported("volume_snapshot_create")},
	"volume_snapshot_delete": {args: req("instance", "volume_id", "snapshot_id", "delete_info"), instance: true,
		refuse: unsupported("volume_snapshot_delete")},
	// quiesce: nova-api snapshots a volume-backed server without freezing on InstanceQuiesceNotSupported, as
	// libvirt answers for an image that does not ask for quiescing.
	"quiesce_instance": {args: req("instance"), instance: true, refuse: refuseQuiesce},
	"unquiesce_instance": {args: argSpec{required: []string{"instance"}, optional: map[string]string{"mapping": "null"}},
		instance: true, refuse: refuseQuiesce},

	// Resize and cold migration. prep_resize runs on the destination: the resize fails as nova's does when
	// _prep_resize raises NotImplementedError (vm_state kept, task cleared, migration error, the instance's
	// allocations given back from the migration).
	"prep_resize": {args: req("image", "instance", "flavor", "request_spec", "filter_properties", "node",
		"clean_shutdown", "migration", "host_list"), o: op{event: "compute_prep_resize", revertsTask: true, fault: true},
		instance: true, migration: true, rollback: true, revertAllocation: true, refuse: unsupported("resize")},
	"resize_instance": {args: req("instance", "image", "migration", "flavor", "clean_shutdown", "request_spec"),
		o: op{event: "compute_resize_instance", revertsTask: true, fault: true}, instance: true, migration: true,
		rollback: true, revertAllocation: true, refuse: unsupported("resize")},
	"finish_resize": {args: req("disk_info", "image", "instance", "migration", "request_spec"),
		o: op{event: "compute_finish_resize", revertsTask: true, fault: true}, instance: true, migration: true,
		rollback: true, revertAllocation: true, refuse: unsupported("resize")},
	"confirm_resize": {args: req("instance", "migration"), o: op{event: "compute_confirm_resize", fault: true},
		instance: true, migration: true, refuse: unsupported("resize")},
	"revert_resize": {args: req("instance", "migration", "request_spec"),
		o: op{event: "compute_revert_resize", revertsTask: true, fault: true}, instance: true, migration: true,
		refuse: unsupported("resize")},
	"finish_revert_resize": {args: req("instance", "migration", "request_spec"),
		o: op{event: "compute_finish_revert_resize", revertsTask: true, fault: true}, instance: true,
		migration: true, refuse: unsupported("resize")},
	"check_instance_shared_storage": {args: req("data"), refuse: unsupported("check_instance_shared_storage")},

	// Cross-cell resize: the conductor's tasks roll back on these errors; the destination's pre-check is the
	// one it expects (expected_exceptions(MigrationPreCheckError)).
	"prep_snapshot_based_resize_at_dest": {args: req("instance", "flavor", "nodename", "migration", "limits"),
		o: op{event: "compute_prep_snapshot_based_resize_at_dest", fault: true}, instance: true,
		refuse: preCheck("cross-cell resize")},
	"prep_snapshot_based_resize_at_source": {args: argSpec{required: []string{"instance", "migration"},
		optional: map[string]string{"snapshot_id": "null"}},
		o:        op{event: "compute_prep_snapshot_based_resize_at_source", revertsTask: true, fault: true},
		instance: true, migration: true, rollback: true, refuse: unsupported("cross-cell resize")},
	"finish_snapshot_based_resize_at_dest": {args: req("instance", "migration", "snapshot_id"),
		o:        op{event: "compute_finish_snapshot_based_resize_at_dest", revertsTask: true, fault: true},
		instance: true, migration: true, rollback: true, refuse: unsupported("cross-cell resize")},
	"finish_revert_snapshot_based_resize_at_source": {args: req("instance", "migration"),
		o:        op{event: "compute_finish_revert_snapshot_based_resize_at_source", revertsTask: true, fault: true},
		instance: true, migration: true, rollback: true, refuse: unsupported("cross-cell resize")},
	"confirm_snapshot_based_resize_at_source": {args: req("instance", "migration"),
		o: op{event: "compute_confirm_snapshot_based_resize_at_source", fault: true}, instance: true,
		migration: true, refuse: unsupported("cross-cell resize")},
	"revert_snapshot_based_resize_at_dest": {args: req("instance", "migration"),
		o:        op{event: "compute_revert_snapshot_based_resize_at_dest", revertsTask: true, fault: true},
		instance: true, migration: true, refuse: unsupported("cross-cell resize")},

	// Live migration: both checks answer MigrationPreCheckError, so the conductor's LiveMigrationTask moves on
	// to the next host (or fails a forced one with the migration in error and the task cleared) and never casts
	// live_migration here. The rest refuse with the driver's NotImplementedError; live_migration, which the
	// source runs, rolls back as _rollback_live_migration does (task cleared, allocations back, migration error).
	"check_can_live_migrate_destination": {args: req("instance", "block_migration", "disk_over_commit",
		"migration", "limits"), o: op{event: "compute_check_can_live_migrate_destination", fault: true},
		instance: true, refuse: preCheck("live migration")},
	"check_can_live_migrate_source": {args: req("instance", "dest_check_data"),
		o: op{event: "compute_check_can_live_migrate_source", fault: true}, instance: true,
		refuse: preCheck("live migration")},
	"live_migration": {args: req("dest", "instance", "block_migration", "migration", "migrate_data"),
		o: op{event: "compute_live_migration", fault: true}, instance: true, migration: true, rollback: true,
		revertAllocation: true, refuse: unsupported("live migration")},
	"pre_live_migration": {args: req("instance", "disk", "migrate_data"),
		o: op{event: "compute_pre_live_migration", fault: true}, instance: true, refuse: unsupported("live migration")},
	"post_live_migration_at_destination": {args: req("instance", "block_migration"),
		o: op{event: "compute_post_live_migration_at_destination", fault: true}, instance: true,
		refuse: unsupported("live migration")},
	"rollback_live_migration_at_destination": {args: req("instance", "destroy_disks", "migrate_data"),
		o: op{event: "compute_rollback_live_migration_at_destination", fault: true}, instance: true,
		refuse: unsupported("live migration")},
	"drop_move_claim_at_destination": {args: req("instance"), o: op{fault: true}, instance: true,
		refuse: unsupported("live migration")},
	"live_migration_abort": {args: req("instance", "migration_id"),
		o: op{event: "compute_live_migration_abort", fault: true}, instance: true, refuse: unsupported("live migration")},
	"live_migration_force_complete": {args: req("instance"),
		o: op{event: "compute_live_migration_force_complete", fault: true}, instance: true,
		refuse: unsupported("live migration")},

	// Manila shares: only sent to a host whose provider has COMPUTE_STORAGE_VIRTIO_FS, which novabsd never
	// reports; should one come, the mapping goes to error (as allow_share leaves it on failure) for the user to
	// detach.
	"allow_share": {args: req("instance", "share_mapping"), o: op{event: "compute_allow_share", fault: true},
		instance: true, shareError: true, refuse: unsupported("allow_share")},
	"deny_share": {args: req("instance", "share_mapping"), o: op{event: "compute_deny_share", fault: true},
		instance: true, shareError: true, refuse: unsupported("deny_share")},

	// Consoles other than VNC and serial.
	"get_spice_console": {args: req("console_type", "instance"), o: op{fault: true}, instance: true,
		refuse: consoleUnavailable},
	"get_mks_console": {args: req("console_type", "instance"), o: op{fault: true}, instance: true,
		refuse: consoleUnavailable},
	"get_rdp_console": {args: req("console_type", "instance"), o: op{fault: true}, instance: true,
		refuse: func(*Service, context.Context, *rpc.RequestContext, *vo.Object, map[string]json.RawMessage) error {
			return notImplemented("RDP console is applicable for HyperV virt driver only which has been removed " +
				"in Nova 29.0.0")
		}},

	"set_admin_password": {args: req("instance", "new_pass"),
		o: op{event: "compute_set_admin_password", revertsTask: true, fault: true}, instance: true,
		refuse: refuseSetAdminPassword},

	// The os-hosts actions: the base ComputeDriver raises NotImplementedError, nova-api answers 501.
	"host_power_action":     {args: req("action"), refuse: unsupported("host_power_action")},
	"host_maintenance_mode": {args: req("host", "mode"), refuse: unsupported("host_maintenance_mode")},

	// Legacy networking: os-multinic is gone from the API, but the RPC methods remain; novabsd changes no
	// fixed IPs behind Neutron's back.
	"add_fixed_ip_to_instance": {args: req("network_id", "instance"), o: op{fault: true}, instance: true,
		refuse: unsupported("add_fixed_ip_to_instance")},
	"remove_fixed_ip_from_instance": {args: req("address", "instance"), o: op{fault: true}, instance: true,
		refuse: unsupported("remove_fixed_ip_from_instance")},
}

// refusedMethods: every method this node does not support, refused as nova's drivers refuse them.
func (s *Service) refusedMethods() map[string]method {
	out := make(map[string]method, len(refusals)+1)
	for name, r := range refusals {
		out[name] = method{r.args, s.refusedHandler(r)}
	}
	// inject_network_info is the one nova's base driver answers by doing nothing (ComputeDriver.inject_network_info
	// is a no-op, libvirt does not override it): the call succeeds on any nova host, so here too.
	out["inject_network_info"] = method{req("instance"), checkInstanceOnly}
	// remove_volume_connection: nova looks the volume's BDM up and, finding none (NotFound), does nothing and
	// answers None; no volume is ever connected on this host, so there is never one to disconnect.
	out["remove_volume_connection"] = method{argSpec{required: []string{"volume_id", "instance"},
		optional: map[string]string{"delete_attachment": "false"}}, checkInstanceOnly}
	return out
}

// checkInstanceOnly answers None once the instance argument is a valid instance; the other arguments are not
// read.
func checkInstanceOnly(_ context.Context, raw json.RawMessage) (any, error) {
	var args map[string]json.RawMessage
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, &rpc.ArgsError{Err: err}
	}
	only, err := json.Marshal(map[string]json.RawMessage{"instance": args["instance"]})
	if err != nil {
		return nil, &rpc.ArgsError{Err: err}
	}
	var a instanceArgs
	return nil, decodeInstance(only, &a, func() *vo.Object { return a.Instance })
}

// refusedHandler runs r as nova's decorators would run the method's failure.
func (s *Service) refusedHandler(r refusal) rpc.Handler {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var args map[string]json.RawMessage
		if err := json.Unmarshal(raw, &args); err != nil {
			return nil, &rpc.ArgsError{Err: err}
		}
		rc := requestContext(ctx)
		if !r.instance {
			return nil, r.refuse(s, ctx, rc, nil, args)
		}
		// Only the instance is read (and checked as every handler checks it); the other arguments are nova's
		// to send and this refusal's to ignore.
		only, err := json.Marshal(map[string]json.RawMessage{"instance": args["instance"]})
		if err != nil {
			return nil, &rpc.ArgsError{Err: err}
		}
		var a instanceArgs
		if err := decodeInstance(only, &a, func() *vo.Object { return a.Instance }); err != nil {
			return nil, err
		}
		inst := a.Instance
		var mig *vo.Object
		if r.migration || r.revertAllocation {
			mig = optionalObject(args["migration"])
		}
		return nil, s.run(ctx, rc, inst, r.o, func() error {
			err := r.refuse(s, ctx, rc, inst, args)
			if err == nil {
				return nil
			}
			if r.rollback {
				s.rollbackVMState(ctx, rc, inst)
			}
			if r.revertAllocation && mig != nil {
				s.revertAllocation(ctx, inst, mig)
			}
			if r.migration && mig != nil {
				s.errorOutMigration(ctx, rc, mig)
			}
			if r.shareError {
				if sm := optionalObject(args["share_mapping"]); sm != nil {
					sm.SetString("status", "error")
					if _, serr := s.cond.objectAction(ctx, rc, sm, "save", nil, nil); serr != nil {
						s.log.Warn("Cannot set share mapping to error", "instance", instanceUUID(inst), "error", serr)
					}
				}
			}
			return err
		})
	}
}

// optionalObject decodes an object argument; nil when null, absent or not an object (the refusal goes ahead
// without the migration or mapping it would have updated, as nova's errors_out_migration does without one).
func optionalObject(raw json.RawMessage) *vo.Object {
	if len(raw) == 0 || string(raw) == "null" || !vo.IsObject(raw) {
		return nil
	}
	var o vo.Object
	if json.Unmarshal(raw, &o) != nil {
		return nil
	}
	return &o
}

// rollbackVMState is _error_out_instance_on_exception for NotImplementedError: the vm_state the operation
// started with is kept (a stopped server stays stopped) and the task is cleared, saved without a check.
func (s *Service) rollbackVMState(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) {
	vm, _ := asInstance(inst).VMState()
	if vm != "" {
		asInstance(inst).SetVMState(vm)
	}
	asInstance(inst).ClearTaskState()
	if err := s.saveInstance(ctx, rc, inst); err != nil {
		s.log.Warn("Failed to roll back instance state", "instance", instanceUUID(inst), "error", err)
	}
}

// errorOutMigration is errors_out_migration_ctxt: the migration's status becomes "error".
func (s *Service) errorOutMigration(ctx context.Context, rc *rpc.RequestContext, mig *vo.Object) {
	mig.SetString("status", "error")
	if _, err := s.cond.objectAction(ctx, rc, mig, "save", nil, nil); err != nil {
		s.log.Warn("Cannot set migration to error", "migration", fieldOrEmpty(mig, "uuid"), "error", err)
	}
}

// revertAllocation is _revert_allocation: the allocations the migration consumer holds (the source node's)
// replace the instance's (the destination's claim); nothing to move is logged as nova does.
func (s *Service) revertAllocation(ctx context.Context, inst *vo.Object, mig *vo.Object) {
	mu := fieldOrEmpty(mig, "uuid")
	if mu == "" {
		return
	}
	moved, err := s.moveAllocations(ctx, mu, instanceUUID(inst))
	switch {
	case err != nil:
		s.log.Error("Unable to revert allocations from the migration to the instance", "instance",
			instanceUUID(inst), "migration", mu, "error", err)
	case !moved:
		s.log.Error("Did not find resource allocations for migration; unable to revert them to the instance",
			"instance", instanceUUID(inst), "migration", mu)
	}
}

// moveAllocations is the Placement move, through the lifecycle's hook when set.
func (s *Service) moveAllocations(ctx context.Context, source, target string) (bool, error) {
	if f := s.lc.moveAllocations; f != nil {
		return f(ctx, source, target)
	}
	pc, err := s.placementClient(ctx, s.cfg.Load())
	if err != nil {
		return false, err
	}
	return pc.MoveAllocations(ctx, source, target)
}

func fieldOrEmpty(o *vo.Object, field string) string {
	v, _ := optString(o, field)
	return v
}

// refuseAttachVolume is attach_volume with a driver whose attach raises NotImplementedError: the BDM the
// caller created is destroyed (do_attach_volume's cleanup), so the volume does not show as attached.
func refuseAttachVolume(s *Service, ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, args map[string]json.RawMessage) error {
	if bdm := optionalObject(args["bdm"]); bdm != nil {
		if _, err := s.cond.objectAction(ctx, rc, bdm, "destroy", nil, nil); err != nil {
			s.log.Warn("Cannot destroy the block device mapping of a refused attach", "instance",
				instanceUUID(inst), "error", err)
		}
	}
	return notImplemented("attach_volume is not supported by the novabsd compute driver")
}

func refuseQuiesce(_ *Service, _ context.Context, _ *rpc.RequestContext, inst *vo.Object, _ map[string]json.RawMessage) error {
	return novaError("InstanceQuiesceNotSupported", 400, "Quiescing is not supported in instance %s",
		instanceUUID(inst))
}

// refuseSetAdminPassword is set_admin_password: a guest that is not running fails InstancePasswordSetFailed,
// a running one NotImplementedError (nova's own message); both clear the task first, checked against
// updating_password so a delete that raced in wins.
func refuseSetAdminPassword(s *Service, ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, _ map[string]json.RawMessage) error {
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	running := s.powerState(ctx, g) == powerRunning
	asInstance(inst).ClearTaskState()
	if err := s.saveInstance(ctx, rc, inst, taskUpdatingPassword); err != nil {
		return err
	}
	if !running {
		return novaError("InstancePasswordSetFailed", 500,
			"Failed to set admin password on %s because instance %s is not running", instanceUUID(inst),
			instanceUUID(inst))
	}
	return notImplemented("set_admin_password is not implemented by this driver or guest instance.")
}
