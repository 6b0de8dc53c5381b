package compute

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/network/plug"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// initHost is the instance part of nova's init_host: build the engine, then bring every instance of this host
// in line with its guest before the RPC servers take new work.
func (s *Service) initHost(ctx context.Context, cfg *conf.Config) error {
	started := time.Now() // nothing of this process is in the image cache yet
	eng, err := newEngine(cfg, s.log)
	if err != nil {
		return &StartupError{"compute driver " + engineName(cfg) + ": " + err.Error()}
	}
	s.lc = newLifecycle(eng, cfg.Default.MaxConcurrentBuilds)
	s.lc.tracker.host = cfg.Default.Host
	if cfg.Neutron.AuthURL == "" && cfg.Neutron.EndpointOverride == "" {
		// Without credentials no port can be made: builds asking for a network reschedule, --nic none works.
		s.log.Warn("[neutron] auth_url is not set: this host builds only servers without networks (--nic none)")
	} else if s.lc.net, err = newNetworking(cfg, eng.driver); err != nil {
		return &StartupError{"networking: " + err.Error()}
	}
	s.sweepImageCache(started)
	return s.reconcile(ctx)
}

// reconcile applies nova's _init_instance rules (section 3.4) to each instance of the host, removes the guests
// of instances deleted while this service was down, and tells the schedulers what the host has. Like nova, a host
// without instances sends nothing: it may not be mapped to a cell yet, and the periodic sync covers it.
func (s *Service) reconcile(ctx context.Context) error {
	rc := rpc.AdminContext()
	host := s.cfg.Load().Default.Host
	insts, err := s.instancesOnHost(ctx, &rc, host,
		[]string{"info_cache", "metadata", "numa_topology", "flavor", "system_metadata"})
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, inst := range insts {
		known[instanceUUID(inst)] = true
		s.initInstance(ctx, &rc, inst)
	}
	s.cleanupOrphans(ctx, &rc, known)
	if len(insts) > 0 {
		s.updateSchedulerInstanceInfo(&rc, insts, false)
	}
	return nil
}

// initInstance is _init_instance for one instance.
func (s *Service) initInstance(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) {
	uuid, v := instanceUUID(inst), asInstance(inst)
	// A record from the conductor that does not decode is left as it is: acting on a guessed state could
	// delete or reboot a guest.
	if err := v.check(); err != nil {
		logInstance(s.log, inst).Error("Skipping a malformed instance at start-up", "error", err)
		return
	}
	vm, task := checkedRead(v.VMState()), checkedRead(v.TaskState())
	g, err := s.guestOf(inst)
	if err != nil {
		// A record no guest can be named after: nothing of it is on this host to reconcile.
		logInstance(s.log, inst).Error("Skipping instance at start-up", "error", err)
		return
	}
	if port, _, err := guestVNCPort(g); err == nil && port > 0 {
		s.lc.eng.vnc.Reserve(uuid, port)
	}
	if l, ok, err := guestSerialListen(g); err == nil && ok {
		s.lc.eng.serial.Reserve(uuid, l.Port)
	}
	log := logInstance(s.log, inst).With("vm_state", vm, "task_state", task)
	// set applies the view's setters in change, then saves.
	set := func(change func()) {
		change()
		if err := s.saveInstance(ctx, rc, inst); err != nil {
			log.Error("Cannot save instance at start-up", "error", err)
		}
	}
	s.lc.tracker.update(inst)
	switch {
	case vm == vmSoftDeleted || (vm == vmError && task != taskResizeMigrating && task != taskDeleting):
		return
	case vm == vmDeleted:
		log.Info("Completing the deletion of an instance deleted before the service stopped")
		if err := s.deleteInstance(ctx, rc, inst); err != nil && !isRemote(err, "InstanceNotFound") {
			log.Error("Cannot complete deletion", "error", err)
		}
		return
	case vm == vmBuilding || buildTaskStates[task]:
		log.Warn("Instance build was interrupted by a service restart; setting it to ERROR")
		s.addFault(ctx, rc, inst, novaError("BuildAbortException", 500,
			"Build of instance %s aborted: the compute service restarted during the build", uuid))
		set(func() { v.SetVMState(vmError); v.ClearTaskState() })
		return
	case (vm == vmActive || vm == vmStopped) && rebuildTaskStates[task]:
		set(func() { v.SetVMState(vmError) })
		return
	case snapshotTaskStates[task], task == taskResizePrep:
		set(v.ClearTaskState)
		return
	case task == taskDeleting:
		log.Info("Finishing the deletion interrupted by the restart")
		if err := s.doTerminate(ctx, rc, inst); err != nil {
			log.Error("Cannot finish deletion", "error", err)
		}
		return
	}
	ps := s.powerState(ctx, g)
	switch task {
	case taskRebootPending, taskRebootPendingHard, taskRebooting, taskRebootingHard, taskRebootStarted, taskRebootStartedHard:
		if ps == powerRunning && task != taskRebootPending && task != taskRebootPendingHard {
			set(func() { v.SetStates(ps, vmActive) })
			return
		}
		hard := task == taskRebootPendingHard || task == taskRebootingHard || task == taskRebootStartedHard ||
			ps != powerRunning
		v.SetTaskState(map[bool]string{true: taskRebootingHard, false: taskRebooting}[hard])
		if s.saveInstance(ctx, rc, inst) == nil {
			_ = s.doReboot(ctx, rc, inst, hard)
		}
		return
	case taskPausing, taskUnpausing:
		if ps == powerRunning {
			set(func() { v.SetStates(ps, vmActive) })
			return
		}
		if task == taskUnpausing && ps == powerPaused {
			if err := s.lc.eng.driver.Unpause(ctx, g); err != nil {
				log.Error("Cannot unpause at start-up", "error", err)
			}
			set(func() { v.SetStates(s.powerState(ctx, g), vmActive) })
		}
		return
	case taskPoweringOff:
		_ = s.doStop(ctx, rc, inst, true)
		return
	case taskPoweringOn:
		_ = s.doStart(ctx, rc, inst)
		return
	}
	if ps == powerRunning {
		// init_host plugs the VIFs of running guests: a restarted switch may have lost their ports.
		if err := s.replugVIFs(ctx, rc, inst); err != nil {
			log.Error("Cannot plug the VIFs of a running instance", "error", err)
		}
	}
	if dbPower, _, _ := v.PowerState(); dbPower == powerRunning && ps != powerRunning &&
		s.cfg.Load().Default.ResumeGuestsStateOnHostBoot {
		log.Info("Rebooting instance after host boot")
		if err := s.replugVIFs(ctx, rc, inst); err != nil {
			log.Error("Cannot plug the instance's VIFs before resuming it", "error", err)
		}
		if err := s.lc.eng.driver.PowerOn(ctx, g); err != nil {
			log.Error("Cannot resume guest state", "error", err)
		}
	}
}

// cleanupOrphans removes guests and disks on this host whose instance the cloud deleted meanwhile (nova-api
// deletes locally, allocations included, when the compute service is down). Guests of instances that exist
// elsewhere or are unknown for another reason are left alone.
func (s *Service) cleanupOrphans(ctx context.Context, rc *rpc.RequestContext, known map[string]bool) {
	eng := s.lc.eng
	candidates := map[string]bool{}
	if ents, err := os.ReadDir(eng.instancesPath); err == nil {
		for _, e := range ents {
			if e.IsDir() && checkInstanceUUID(e.Name()) == nil {
				candidates[e.Name()] = true
			}
		}
	}
	if ids, err := eng.storage.Instances(ctx); err == nil {
		for _, id := range ids {
			if checkInstanceUUID(id) == nil {
				candidates[id] = true
			}
		}
	}
	deleted := *rc
	deleted.ReadDeleted = "yes"
	for uuid := range candidates {
		if known[uuid] {
			continue
		}
		inst, err := s.getInstance(ctx, &deleted, uuid, nil)
		gone := isRemote(err, "InstanceNotFound")
		if err != nil && !gone {
			s.log.Warn("Cannot tell whether a local guest's instance still exists; leaving it", "instance", uuid, "error", err)
			continue
		}
		if !gone {
			// An undecodable deleted or vm_state is not "deleted": the guest stays, as with any doubt here.
			v := asInstance(inst)
			del, derr := v.Deleted()
			if vm, verr := v.VMState(); derr != nil || verr != nil || (!del && vm != vmDeleted) {
				continue
			}
		}
		g, err := eng.guest(uuid, "")
		if err != nil {
			continue // not a candidate: only canonical uuids are
		}
		var taps []plug.Port
		if dom, err := hypervisor.LoadDomain(g.Dir); err == nil {
			g.Name = dom.Name
			taps = domainPorts(dom)
		}
		name := g.Name
		stub := vo.New("Instance", s.release.ObjectVersion("Instance"))
		stub.SetString("uuid", uuid)
		if name != "" && inst != nil {
			stub = inst
		}
		s.log.Info("Removing the guest of an instance deleted while the service was down", "instance", uuid, "name", name)
		if err := eng.driver.Destroy(ctx, g); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			s.log.Error("Cannot destroy orphan guest", "instance", uuid, "error", err)
			continue
		}
		// The guest is gone, so its taps are free: nothing else would unplug them, as the ports were released
		// by nova-api's local delete.
		s.unplugPorts(ctx, uuid, taps, nil)
		if err := s.destroyGuest(ctx, stub); err != nil {
			s.log.Error("Cannot remove orphan guest files", "instance", uuid, "error", err)
		}
	}
}
