package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// shelveMethods: shelve_instance, shelve_offload_instance and unshelve_instance.
func (s *Service) shelveMethods() map[string]method {
	return map[string]method{
		"shelve_instance":         {req("instance", "image_id", "clean_shutdown", "accel_uuids"), s.shelveInstance},
		"shelve_offload_instance": {req("instance", "clean_shutdown", "accel_uuids"), s.shelveOffloadInstance},
		"unshelve_instance": {req("instance", "image", "filter_properties", "node", "request_spec", "accel_uuids"),
			s.unshelveInstance},
	}
}

// The system_metadata keys a shelve leaves for the unshelve and the offload periodic task
// (compute_utils.remove_shelved_keys_from_system_metadata removes them).
var shelvedKeys = []string{"shelved_at", "shelved_image_id", "shelved_host"}

// shelvedAtFormat is Python's datetime.isoformat() of timeutils.utcnow(), which nova writes as shelved_at and
// parses back with parse_strtime's "%Y-%m-%dT%H:%M:%S.%f": the microseconds are always written, since Python
// would refuse the record without them.
const shelvedAtFormat = "2006-01-02T15:04:05.000000"

// The shelve methods' arguments. accel_uuids (Cyborg accelerators) are read and ignored: this compute node
// reports no accelerator resources, so the scheduler never gives it an instance with some.
type shelveArgs struct {
	Instance      *vo.Object      `json:"instance"`
	ImageID       *string         `json:"image_id"`
	CleanShutdown *bool           `json:"clean_shutdown"`
	AccelUUIDs    json.RawMessage `json:"accel_uuids"`
}

type shelveOffloadArgs struct {
	Instance      *vo.Object      `json:"instance"`
	CleanShutdown *bool           `json:"clean_shutdown"`
	AccelUUIDs    json.RawMessage `json:"accel_uuids"`
}

// unshelveArgs: filter_properties (limits, retry) and request_spec (provider mappings for ports with resource
// requests) are not needed by a node that takes the scheduler's word and has no such ports.
type unshelveArgs struct {
	Instance         *vo.Object      `json:"instance"`
	Image            json.RawMessage `json:"image"`
	FilterProperties json.RawMessage `json:"filter_properties"`
	Node             *string         `json:"node"`
	RequestSpec      json.RawMessage `json:"request_spec"`
	AccelUUIDs       json.RawMessage `json:"accel_uuids"`
}

// shelveInstance is shelve_instance: under the instance lock, _shelve_instance. An instance without an image
// to snapshot to (boot from volume, which nova-api shelves with image_id None) cannot be on this host, which
// attaches no volumes: it is refused as the driver's NotImplementedError, the task reverted and the server
// left as it was.
func (s *Service) shelveInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a shelveArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	clean := a.CleanShutdown == nil || *a.CleanShutdown
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_shelve_instance", revertsTask: true, fault: true, lock: true},
		func() error {
			if a.ImageID == nil || *a.ImageID == "" {
				return translateEngineError(inst, fmt.Errorf("%w: shelving a volume-backed instance (no image to "+
					"snapshot to): this compute node attaches no volumes", hypervisor.ErrUnsupported))
			}
			return s.doShelve(ctx, rc, inst, *a.ImageID, clean)
		})
}

// doShelve is _shelve_instance: power off, snapshot with the shelving task states, the shelved_* system
// metadata, vm SHELVED; with shelved_offload_time 0 the offload follows in the same call, as nova's does.
func (s *Service) doShelve(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, imageID string, clean bool) error {
	log := logInstance(s.log, inst)
	log.Info("Shelving", "image", imageID)
	offload := s.cfg.Load().Default.ShelvedOffloadTime == 0
	v := asInstance(inst)
	// A paused guest is not asked to shut down: it cannot answer the ACPI request.
	if ps, ok, _ := v.PowerState(); ok && ps == powerPaused {
		clean = false
	}
	if err := s.powerOffGuest(ctx, inst, clean); err != nil {
		return err
	}
	if _, err := s.snapshotTo(ctx, rc, inst, imageID, snapshotSteps{expect: taskShelving,
		pendingUpload: taskShelvingPendingUpload, uploading: taskShelvingUploading}); err != nil {
		return err
	}
	sm, err := v.SystemMetadata()
	if err != nil {
		return err
	}
	sm["shelved_at"] = time.Now().UTC().Format(shelvedAtFormat)
	sm["shelved_image_id"] = imageID
	sm["shelved_host"] = s.cfg.Load().Default.Host
	if err := v.SetSystemMetadata(sm); err != nil {
		return err
	}
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	v.SetStates(s.powerState(ctx, g), vmShelved)
	if offload {
		v.SetTaskState(taskShelvingOffloading)
	}
	if err := s.saveInstance(ctx, rc, inst, taskShelving, taskShelvingUploading); err != nil {
		return err
	}
	if offload {
		return s.doShelveOffload(ctx, rc, inst, false)
	}
	return nil
}

// powerOffGuest is _power_off_instance: the guest stopped (cleanly within the shutdown timeout when asked); a
// guest already off is not an error.
func (s *Service) powerOffGuest(ctx context.Context, inst *vo.Object, clean bool) error {
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	if err := s.lc.eng.driver.PowerOff(ctx, g, s.shutdownTimeout(inst, clean)); err != nil &&
		!errors.Is(err, hypervisor.ErrInvalidState) {
		return translateEngineError(inst, err)
	}
	return nil
}

func (s *Service) shelveOffloadInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a shelveOffloadArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	clean := a.CleanShutdown == nil || *a.CleanShutdown
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_shelve_offload_instance", revertsTask: true, fault: true,
		lock: true}, func() error { return s.doShelveOffload(ctx, rc, inst, clean) })
}

// doShelveOffload is _shelve_offload_instance: the guest stopped, its ports unbound from this host (they stay
// the instance's: unbind_ports(detach=False)), the guest and every file of it destroyed and its taps unplugged,
// the instance's Placement allocations deleted before vm SHELVED_OFFLOADED is saved (so a client polling for
// that state may schedule into the freed room), then host, node, compute_id, launched_on and availability_zone
// nulled: RPC calls can no longer reach this host for it.
func (s *Service) doShelveOffload(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, clean bool) error {
	uuid := instanceUUID(inst)
	log := logInstance(s.log, inst)
	log.Info("Shelve offloading")
	// A guest already gone (an offload that failed after the destroy, retried) is what the offload wants: the
	// retry goes on to the allocations and the record, so the server is never stuck half offloaded.
	if err := s.powerOffGuest(ctx, inst, clean); err != nil && !isRemote(err, "InstanceNotFound") {
		return err
	}
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	ps := s.powerState(ctx, g)
	var info network.Info
	if s.lc.net != nil {
		if info, err = s.networkInfo(ctx, rc, inst); err != nil {
			return fmt.Errorf("reading network info: %w", err)
		}
		ids := make([]string, 0, len(info))
		for _, vif := range info {
			ids = append(ids, vif.ID)
		}
		if len(ids) > 0 {
			if err := s.lc.net.api.UnbindHost(ctx, uuid, ids); err != nil {
				return fmt.Errorf("unbinding the ports of instance %s from this host: %w", uuid, err)
			}
		}
	}
	// The domain file goes with the guest; the taps it lists are unplugged with the VIFs.
	taps := s.guestPorts(inst)
	if err := s.destroyGuest(ctx, inst); err != nil {
		return translateEngineError(inst, err)
	}
	s.unplugVIFs(ctx, inst, info)
	s.unplugPorts(ctx, uuid, taps, info)
	if err := s.removeAllocations(ctx, uuid); err != nil {
		return fmt.Errorf("deleting the allocations of instance %s: %w", uuid, err)
	}
	v := asInstance(inst)
	v.SetStates(ps, vmShelvedOffloaded)
	if err := s.saveInstance(ctx, rc, inst, taskShelving, taskShelvingOffloading); err != nil {
		return err
	}
	s.lc.tracker.remove(uuid)
	v.ClearHost()
	if err := s.saveInstance(ctx, rc, inst); err != nil {
		return err
	}
	s.deleteSchedulerInstanceInfo(rc, uuid)
	log.Info("Shelve offloaded: guest, disks and allocations removed from this host")
	return nil
}

func (s *Service) unshelveInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a unshelveArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	var img *imageMeta
	if len(a.Image) > 0 && string(a.Image) != "null" {
		img = &imageMeta{}
		if err := json.Unmarshal(a.Image, img); err != nil || img.ID == "" {
			return nil, &rpc.ArgsError{Err: fmt.Errorf("unshelve_instance: image is not an image dict with an id: %s",
				truncate(a.Image, 200))}
		}
	}
	node := ""
	if a.Node != nil {
		node = *a.Node
	}
	rc, inst := requestContext(ctx), a.Instance
	return nil, s.run(ctx, rc, inst, op{event: "compute_unshelve_instance", revertsTask: true, fault: true, lock: true},
		func() error { return s.doUnshelve(ctx, rc, inst, img, node) })
}

// doUnshelve is _unshelve_instance on the host the conductor scheduled to (its scheduler made the allocation):
// task spawning, claim, the ports bound to this host, the guest spawned from the shelved snapshot, then the
// snapshot deleted and vm ACTIVE. Any failure gives back the allocation and leaves no host, so the instance is
// SHELVED_OFFLOADED again (the task reverted) and can be unshelved anew.
func (s *Service) doUnshelve(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, img *imageMeta, node string) error {
	uuid := instanceUUID(inst)
	log := logInstance(s.log, inst)
	log.Info("Unshelving")
	v := asInstance(inst)
	v.SetTaskState(taskSpawning)
	if err := s.saveInstance(ctx, rc, inst); err != nil {
		return err
	}
	shelvedImageRef := checkedRead(v.ImageRef())
	err := s.unshelveSpawn(ctx, rc, inst, img, node)
	if err != nil {
		log.Error("Instance failed to spawn", "error", err)
		cleanup := context.WithoutCancel(ctx)
		inst.SetString("image_ref", shelvedImageRef)
		// What the scheduler claimed here goes back whether the claim or the spawn failed.
		s.deleteAllocations(cleanup, uuid)
		s.unbindFromHost(cleanup, rc, inst)
		s.lc.tracker.remove(uuid)
		v.ClearHost() // saved with the task's revert
		return err
	}
	inst.SetString("image_ref", shelvedImageRef)
	if img != nil {
		s.deleteShelvedSnapshot(ctx, rc, inst, img.ID)
	}
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	v.SetStates(s.powerState(ctx, g), vmActive)
	v.SetLaunchedAt()
	if err := removeShelvedKeys(inst); err != nil {
		return err
	}
	if err := s.saveInstance(ctx, rc, inst, taskSpawning); err != nil {
		// Deleted while spawning: nothing of it may stay on the host.
		s.destroyGuest(context.WithoutCancel(ctx), inst)
		return err
	}
	s.updateSchedulerInstanceInfo(rc, []*vo.Object{inst}, true)
	return nil
}

// unshelveSpawn is the claim and spawn of _unshelve_instance, from the image given (the shelved snapshot).
func (s *Service) unshelveSpawn(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, img *imageMeta, node string) error {
	if img == nil {
		return translateEngineError(inst, fmt.Errorf("%w: unshelving a volume-backed instance: this compute node "+
			"attaches no volumes", hypervisor.ErrUnsupported))
	}
	// spawn builds the root disk from image_ref: the snapshot's id until the unshelve ends.
	inst.SetString("image_ref", img.ID)
	f, err := s.instanceFlavor(ctx, rc, inst)
	if err != nil {
		return err
	}
	if err := s.claim(ctx, rc, inst, node, f); err != nil {
		return err
	}
	var sn spawnNetwork
	if s.lc.net != nil {
		cached, err := s.networkInfo(ctx, rc, inst)
		if err != nil {
			return fmt.Errorf("reading network info: %w", err)
		}
		// setup_instance_network_on_host, then get_instance_nw_info: the bindings are this host's again.
		if err := s.lc.net.api.BindHost(ctx, s.binding(inst, nil)); err != nil {
			return fmt.Errorf("binding the ports of instance %s to this host: %w", instanceUUID(inst), err)
		}
		info, err := s.lc.net.api.Refresh(ctx, instanceUUID(inst), cached)
		if err != nil {
			return fmt.Errorf("reading the ports of instance %s: %w", instanceUUID(inst), err)
		}
		if err := s.saveInfoCache(ctx, rc, inst, info); err != nil {
			return err
		}
		if sn.nics, err = s.guestNICs(inst, info); err != nil {
			return err
		}
		sn.info = info
	} else if cached, _, err := cachedNetworkInfo(inst); err == nil && len(cached) > 0 {
		return fmt.Errorf("instance %s has ports but this compute node has no [neutron] credentials", instanceUUID(inst))
	}
	if sn.configDrive, err = s.configDriveFor(inst, *img, nil, sn.info); err != nil {
		return err
	}
	return s.spawn(ctx, rc, inst, *img, f, sn)
}

// unbindFromHost unbinds the instance's ports from this host after a failed unshelve, so the next unshelve
// (maybe elsewhere) binds them afresh; failures are logged (nova leaves them bound).
func (s *Service) unbindFromHost(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) {
	if s.lc.net == nil {
		return
	}
	info, err := s.networkInfo(ctx, rc, inst)
	if err != nil || len(info) == 0 {
		return
	}
	ids := make([]string, 0, len(info))
	for _, vif := range info {
		ids = append(ids, vif.ID)
	}
	if err := s.lc.net.api.UnbindHost(ctx, instanceUUID(inst), ids); err != nil {
		logInstance(s.log, inst).Warn("Cannot unbind the ports of a failed unshelve", "error", err)
	}
}

// deleteShelvedSnapshot is _delete_snapshot_of_shelved_instance: the snapshot is no longer needed once the guest
// runs from its own disk; a failure is logged, never the operation's.
func (s *Service) deleteShelvedSnapshot(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, imageID string) {
	log := logInstance(s.log, inst)
	if s.lc.eng.glance == nil {
		log.Warn("No Glance client; the snapshot of the shelved instance stays", "image", imageID)
		return
	}
	glance, err := s.lc.eng.glance(rc)
	if err == nil {
		err = glance.Delete(ctx, imageID)
	}
	switch {
	case err == nil:
		log.Info("Deleted the snapshot of the shelved instance", "image", imageID)
	case errors.Is(err, images.ErrNotFound):
		log.Warn("Failed to delete snapshot from shelved instance: already gone", "image", imageID)
	default:
		log.Error("Something wrong happened when trying to delete snapshot from shelved instance", "image", imageID,
			"error", err)
	}
}

// removeShelvedKeys is compute_utils.remove_shelved_keys_from_system_metadata.
func removeShelvedKeys(inst *vo.Object) error {
	v := asInstance(inst)
	sm, err := v.SystemMetadata()
	if err != nil {
		return err
	}
	changed := false
	for _, k := range shelvedKeys {
		if _, ok := sm[k]; ok {
			delete(sm, k)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return v.SetSystemMetadata(sm)
}

// startShelved is what start_instance adds for a SHELVED instance (nova-api unshelves one not offloaded with
// start_instance): the snapshot taken at shelve is deleted and the shelved_* keys removed, before the final save.
func (s *Service) startShelved(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	sm, err := asInstance(inst).SystemMetadata()
	if err != nil {
		return err
	}
	if id := sm["shelved_image_id"]; id != "" {
		s.deleteShelvedSnapshot(ctx, rc, inst, id)
	}
	return removeShelvedKeys(inst)
}

// shelvedPollLoop is the _poll_shelved_instances periodic task, every shelved_poll_interval.
func (s *Service) shelvedPollLoop(ctx context.Context) {
	s.periodic(ctx, periodicTask{
		interval: func(c *conf.Config) int { return c.Default.ShelvedPollInterval },
		run:      s.pollShelvedInstances,
		failed: func(err error) {
			s.log.Warn("Polling shelved instances failed; retrying next period", "error", err)
		},
	})
}

// pollShelvedInstances offloads this host's SHELVED instances (no task) shelved longer than
// shelved_offload_time ago; nothing when it is 0 (offloaded at shelve) or negative (never).
func (s *Service) pollShelvedInstances(ctx context.Context) error {
	cfg := s.cfg.Load()
	wait := cfg.Default.ShelvedOffloadTime
	if wait <= 0 {
		return nil
	}
	rc := rpc.AdminContext()
	insts, err := s.instancesByFilters(ctx, &rc, map[string]any{"vm_state": vmShelved, "task_state": nil,
		"host": cfg.Default.Host}, []string{"system_metadata"})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, inst := range insts {
		v := asInstance(inst)
		if err := v.check(); err != nil {
			logInstance(s.log, inst).Error("Not offloading a malformed instance", "error", err)
			continue
		}
		sm, _ := v.SystemMetadata()
		at, err := time.Parse(shelvedAtFormat, sm["shelved_at"])
		if err != nil {
			// nova's parse_strtime would fail the whole task here; one bad record does not stop the others.
			logInstance(s.log, inst).Warn("Shelved instance has an unreadable shelved_at; not offloading it",
				"shelved_at", sm["shelved_at"])
			continue
		}
		if now.Sub(at) <= seconds(wait) {
			continue
		}
		v.SetTaskState(taskShelvingOffloading)
		if err := s.saveInstance(ctx, &rc, inst, nil); err != nil {
			logInstance(s.log, inst).Warn("Periodic task failed to offload instance", "error", err)
			continue
		}
		err = s.run(ctx, &rc, inst, op{event: "compute_shelve_offload_instance", revertsTask: true, fault: true,
			lock: true}, func() error { return s.doShelveOffload(ctx, &rc, inst, false) })
		if err != nil {
			logInstance(s.log, inst).Warn("Periodic task failed to offload instance", "error", err)
		}
	}
	return nil
}

// instancesByFilters is InstanceList.get_by_filters (the conductor applies the filters; a None value matches
// NULL).
func (s *Service) instancesByFilters(ctx context.Context, rc *rpc.RequestContext, filters map[string]any,
	attrs []string) ([]*vo.Object, error) {
	if attrs == nil {
		attrs = []string{}
	}
	raw, err := s.cond.classAction(ctx, rc, "InstanceList", "get_by_filters", instanceListManifest,
		[]any{filters}, map[string]any{"expected_attrs": attrs})
	if err != nil {
		return nil, err
	}
	return objectList(raw)
}

// instanceFlavor is the instance's flavor, loaded from the conductor when the instance came without one (as
// nova's lazy load of Instance.flavor does).
func (s *Service) instanceFlavor(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) (flavor, error) {
	if !inst.Has("flavor") || string(inst.Data["flavor"]) == "null" {
		full, err := s.getInstance(ctx, rc, instanceUUID(inst), []string{"flavor"})
		if err != nil {
			return flavor{}, fmt.Errorf("loading the flavor of instance %s: %w", instanceUUID(inst), err)
		}
		if raw, ok := full.Data["flavor"]; ok {
			inst.Data["flavor"] = raw // loaded, not changed: save must not write it back
		}
	}
	f, err := asInstance(inst).Flavor()
	if err != nil {
		return flavor{}, abort(err, "instance flavor unreadable")
	}
	return f, nil
}
