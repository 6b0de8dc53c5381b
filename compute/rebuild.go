package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// rebuildMethods: rebuild_instance (same host; evacuation is refused until moves land).
func (s *Service) rebuildMethods() map[string]method {
	none := "null"
	return map[string]method{
		"rebuild_instance": {argSpec{
			required: []string{"instance", "orig_image_ref", "image_ref", "injected_files", "new_pass",
				"orig_sys_metadata", "bdms", "recreate", "on_shared_storage", "preserve_ephemeral", "migration",
				"scheduled_node", "limits", "request_spec", "accel_uuids"},
			optional: map[string]string{"reimage_boot_volume": none, "target_state": none},
		}, s.rebuildInstance},
	}
}

// rebuildArgs are rebuild_instance's arguments (compute RPC 6.2).
type rebuildArgs struct {
	Instance     *vo.Object `json:"instance"`
	OrigImageRef *string    `json:"orig_image_ref"`
	ImageRef     *string    `json:"image_ref"`
	// NewPass is the admin password for the rebuilt guest's config drive; it is never logged.
	NewPass           *string    `json:"new_pass"`
	Recreate          bool       `json:"recreate"`
	PreserveEphemeral bool       `json:"preserve_ephemeral"`
	Migration         *vo.Object `json:"migration"`
	ReimageBootVolume *bool      `json:"reimage_boot_volume"`
	TargetState       *string    `json:"target_state"`
	// Read by nova for evacuations, notifications and volumes, none of which a same-host rebuild here uses.
	InjectedFiles   json.RawMessage `json:"injected_files"`
	OrigSysMetadata json.RawMessage `json:"orig_sys_metadata"`
	BDMs            json.RawMessage `json:"bdms"`
	OnSharedStorage json.RawMessage `json:"on_shared_storage"`
	ScheduledNode   json.RawMessage `json:"scheduled_node"`
	Limits          json.RawMessage `json:"limits"`
	RequestSpec     json.RawMessage `json:"request_spec"`
	AccelUUIDs      json.RawMessage `json:"accel_uuids"`
}

func (s *Service) rebuildInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a rebuildArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	return nil, s.doRebuild(ctx, requestContext(ctx), &a)
}

// rollbackError is nova's InstanceFaultRollback: inside the rebuild's _error_out_instance_on_exception it puts the
// instance back in the vm state it had (task cleared) instead of ERROR, and the inner error is what is reported.
type rollbackError struct{ err error }

func (e *rollbackError) Error() string { return e.err.Error() }
func (e *rollbackError) Unwrap() error { return e.err }

// doRebuild is rebuild_instance → _do_rebuild_instance → _rebuild_default_impl for a same-host rebuild: the guest
// destroyed with its disks, the new image spawned on the same ports with a new config drive, vm ACTIVE (stopped
// again when it was stopped). What this node refuses — evacuation, reimaging a boot volume, preserving an
// ephemeral disk, an image it cannot run or fetch — is refused before the guest is touched, the vm state kept.
// A failure after the guest was destroyed puts the instance in ERROR, as nova's rebuild does.
func (s *Service) doRebuild(ctx context.Context, rc *rpc.RequestContext, a *rebuildArgs) error {
	inst := a.Instance
	v := asInstance(inst)
	log := logInstance(s.log, inst)
	return s.run(ctx, rc, inst, op{event: "compute_rebuild_instance", revertsTask: true, fault: true}, func() error {
		if a.Recreate {
			log.Info("Evacuating instance")
		} else {
			log.Info("Rebuilding instance")
		}
		prev, err := v.VMState()
		if err != nil {
			return err
		}
		imageID := ""
		if a.ImageRef != nil {
			imageID = *a.ImageRef
		}
		if imageID == "" {
			if imageID, err = v.ImageRef(); err != nil {
				return err
			}
		}
		var img imageMeta
		if imageID != "" && !a.Recreate {
			// ImageMeta.from_image_ref: before the error-out context, so an unreadable image only faults.
			if img, err = s.imageMeta(ctx, rc, imageID); err != nil {
				return translateImageError(imageID, err)
			}
		}
		err = s.rebuildGuest(ctx, rc, a, imageID, img)
		var rb *rollbackError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &rb):
			log.Info("Setting instance back to its state after a refused rebuild", "state", prev, "error", rb.err)
			s.setMigrationFailed(ctx, rc, a.Migration)
			v.SetVMState(prev)
			v.ClearTaskState()
			if serr := s.saveInstance(ctx, rc, inst); serr != nil {
				log.Warn("Cannot restore instance state", "error", serr)
			}
			return rb.err
		case instanceGone(err):
			log.Debug("Instance was deleted while rebuilding")
			s.setMigrationFailed(ctx, rc, a.Migration)
			return nil
		}
		s.setMigrationFailed(ctx, rc, a.Migration)
		s.setErrorState(ctx, rc, inst, false)
		return err
	})
}

// rebuildGuest is the part of the rebuild inside _error_out_instance_on_exception: a *rollbackError keeps the vm
// state, any other error ends in ERROR.
func (s *Service) rebuildGuest(ctx context.Context, rc *rpc.RequestContext, a *rebuildArgs, imageID string, img imageMeta) error {
	inst := a.Instance
	uuid := instanceUUID(inst)
	v := asInstance(inst)
	if a.Recreate {
		// The driver has no supports_evacuate: nova raises InstanceEvacuateNotSupported here. Nothing was done
		// on this host, so the instance keeps its state rather than nova's ERROR.
		return &rollbackError{novaError("InstanceEvacuateNotSupported", 400, "Instance evacuate is not supported.")}
	}
	// reimage_boot_volume is true for every rebuild requested at API 2.93 or later; like nova's manager, only a
	// volume-backed instance acts on it, and this node has none (no image_ref).
	if imageID == "" {
		return &rollbackError{novaError("NotImplementedError", 501,
			"Instance %s boots from a volume, which this compute node does not support", uuid)}
	}
	f, err := v.Flavor()
	if err != nil {
		return err
	}
	if a.PreserveEphemeral && f.EphemeralGB > 0 {
		// _rebuild_default_impl's PreserveEphemeralNotSupported, before anything is destroyed. Without an
		// ephemeral disk there is nothing to preserve and the rebuild goes ahead.
		return &rollbackError{novaError("PreserveEphemeralNotSupported", 400,
			"The current driver does not support preserving ephemeral partitions.")}
	}
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	origVM, err := v.VMState()
	if err != nil {
		return err
	}
	v.SetPowerState(s.powerState(ctx, g))
	v.SetTaskState(taskRebuilding)
	if err := s.saveInstance(ctx, rc, inst, taskRebuilding); err != nil {
		return err
	}
	// The ports stay as they are (no re-allocation on a same-host rebuild), read again from Neutron as nova's
	// _do_rebuild_instance does (get_instance_nw_info): the build's cache says the ports were down, and a wait
	// for their network-vif-plugged would never end, Neutron sending none for a port that stays up.
	if s.lc.net != nil {
		if _, err := s.refreshNetworkInfo(ctx, rc, inst, logInstance(s.log, inst)); err != nil {
			return &rollbackError{err}
		}
	}
	info, err := s.networkInfo(ctx, rc, inst)
	if err != nil {
		return fmt.Errorf("reading network info: %w", err)
	}
	sn := spawnNetwork{info: info}
	if len(info) > 0 {
		if sn.nics, err = s.guestNICs(inst, info); err != nil {
			return &rollbackError{err}
		}
	}
	inst.SetString("image_ref", imageID)
	if sn.configDrive, err = s.configDriveFor(inst, img, a.NewPass, info); err != nil {
		return &rollbackError{err}
	}
	// What the new image asks of the engine, and the image itself, are checked and fetched before the guest is
	// destroyed: a refusal leaves the server as it was.
	usb, err := s.usbForInstance(ctx, g.UUID)
	if err != nil {
		return &rollbackError{reschedule(err, "Cannot give the instance its USB devices")}
	}
	if err := s.checkGuest(ctx, inst, img, f, g, sn, usb); err != nil {
		return &rollbackError{err}
	}
	if err := images.CheckFits(imageID, int64(f.RootGB)*gib, img.virtualSize()); err != nil {
		return &rollbackError{abort(err, "%s", err)}
	}
	if _, err := s.lc.eng.fetch(ctx, rc, imageID); err != nil {
		return &rollbackError{imageBuildError(imageID, err)}
	}

	// _rebuild_default_impl: power off cleanly, destroy the guest and its disks, then spawn.
	if err := s.destroyForRebuild(ctx, inst, g); err != nil {
		return err
	}
	v.SetTaskState(taskRebuildBDM)
	if err := s.saveInstance(ctx, rc, inst, taskRebuilding); err != nil {
		return err
	}
	v.SetTaskState(taskRebuildSpawning)
	if err := s.saveInstance(ctx, rc, inst, taskRebuildBDM); err != nil {
		return err
	}
	if err := s.spawn(ctx, rc, inst, img, f, sn); err != nil {
		return err
	}
	// _update_instance_after_spawn
	v.SetStates(s.powerState(ctx, g), vmActive)
	v.SetLaunchedAt()
	if err := s.saveInstance(ctx, rc, inst, taskRebuildSpawning); err != nil {
		return err
	}
	if origVM == vmStopped {
		logInstance(s.log, inst).Info("bringing vm to original state: 'stopped'")
		v.SetVMState(vmActive)
		v.SetTaskState(taskPoweringOff)
		v.SetProgress(0)
		if err := s.saveInstance(ctx, rc, inst); err != nil {
			return err
		}
		if err := s.doStop(ctx, rc, inst, false); err != nil {
			return err
		}
	}
	s.updateSchedulerInstanceInfo(rc, []*vo.Object{inst}, true)
	return nil
}

// destroyForRebuild is the libvirt driver's destroy before a rebuild's spawn: the guest powered off (cleanly),
// freed in the engine, its disks, config drive and domain file removed. The ports stay plugged: the same ports
// come back with the new guest. The console log and the VNC port stay with the instance.
func (s *Service) destroyForRebuild(ctx context.Context, inst *vo.Object, g hypervisor.Guest) error {
	eng := s.lc.eng
	if err := eng.driver.PowerOff(ctx, g, s.shutdownTimeout(inst, true)); err != nil &&
		!errors.Is(err, hypervisor.ErrInvalidState) && !errors.Is(err, hypervisor.ErrNotFound) {
		return translateEngineError(inst, err)
	}
	if err := eng.driver.Destroy(ctx, g); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return translateEngineError(inst, err)
	}
	uuid := instanceUUID(inst)
	return errors.Join(eng.storage.DeleteInstance(ctx, uuid), eng.storage.DeleteInstance(ctx, rescueStore(uuid)),
		removeIfExists(filepath.Join(g.Dir, configDriveFile)), removeIfExists(filepath.Join(g.Dir, hypervisor.DomainFile)),
		removeIfExists(filepath.Join(g.Dir, unrescueFile)))
}

// setMigrationFailed is _set_migration_status(migration, 'failed'): only evacuations carry a migration.
func (s *Service) setMigrationFailed(ctx context.Context, rc *rpc.RequestContext, m *vo.Object) {
	if m == nil {
		return
	}
	m.SetString("status", "failed")
	if _, err := s.cond.objectAction(ctx, rc, m, "save", nil, nil); err != nil {
		s.log.Warn("Cannot set the migration's status to failed", "error", err)
	}
}
