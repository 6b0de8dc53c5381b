package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/novabsd/novabsd/configdrive"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/hypervisor/storage"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/internal/revert"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
	"libvirt.org/go/libvirtxml"
)

// buildArgs are build_and_run_instance's arguments (compute RPC 6.0).
type buildArgs struct {
	Instance           *vo.Object                 `json:"instance"`
	Image              json.RawMessage            `json:"image"`
	RequestSpec        json.RawMessage            `json:"request_spec"`
	FilterProperties   map[string]json.RawMessage `json:"filter_properties"`
	AdminPassword      *string                    `json:"admin_password"`
	InjectedFiles      json.RawMessage            `json:"injected_files"`
	RequestedNetworks  *vo.Object                 `json:"requested_networks"`
	SecurityGroups     json.RawMessage            `json:"security_groups"`
	BlockDeviceMapping *vo.Object                 `json:"block_device_mapping"`
	Node               *string                    `json:"node"`
	Limits             json.RawMessage            `json:"limits"`
	HostList           json.RawMessage            `json:"host_list"`
	AccelUUIDs         json.RawMessage            `json:"accel_uuids"`
}

// imageMeta is the part of the Glance image dict the build reads.
type imageMeta struct {
	ID              string         `json:"id"`
	DiskFormat      string         `json:"disk_format"`
	ContainerFormat string         `json:"container_format"`
	Properties      map[string]any `json:"properties"`
	// VirtualSize is Glance's virtual_size: null until Glance has inspected the data, so it is kept raw and
	// read leniently (virtualSize) rather than failing the whole image dict.
	VirtualSize json.RawMessage `json:"virtual_size"`
}

// virtualSize is Glance's virtual_size in bytes, 0 when Glance has none.
func (m imageMeta) virtualSize() int64 {
	var n json.Number
	if err := json.Unmarshal(m.VirtualSize, &n); err != nil {
		return 0
	}
	v, err := n.Int64()
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// imageProps renders the image's properties as the string map hypervisor/domain reads.
func (m imageMeta) imageProps() map[string]string {
	out := make(map[string]string, len(m.Properties))
	for k, v := range m.Properties {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
		default:
			b, _ := json.Marshal(x)
			out[k] = string(b)
		}
	}
	return out
}

// buildError is why a build failed: Reschedule marks nova's RescheduledException (another host may succeed),
// otherwise it is a BuildAbortException.
type buildError struct {
	Reason     string
	Reschedule bool
	Err        error
}

func (e *buildError) Error() string {
	if e.Err != nil && !strings.Contains(e.Reason, e.Err.Error()) {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *buildError) Unwrap() error { return e.Err }

func reschedule(err error, format string, a ...any) *buildError {
	return &buildError{Reason: fmt.Sprintf(format, a...), Reschedule: true, Err: err}
}

func abort(err error, format string, a ...any) *buildError {
	return &buildError{Reason: fmt.Sprintf(format, a...), Err: err}
}

// Build results, as nova's build_results.
const (
	buildActive      = "active"
	buildFailed      = "failed"
	buildRescheduled = "rescheduled"
)

// buildAndRunInstance is the cast from the conductor: like nova it returns at once and builds in the
// background, at most max_concurrent_builds at a time, under the instance's lock.
func (s *Service) buildAndRunInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a buildArgs
	if err := rpc.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.Instance == nil || instanceUUID(a.Instance) == "" {
		return nil, &rpc.ArgsError{Err: errors.New("build_and_run_instance: instance is missing")}
	}
	if err := asInstance(a.Instance).check(); err != nil {
		return nil, &rpc.ArgsError{Err: fmt.Errorf("build_and_run_instance: %w", err)}
	}
	if err := checkInstanceUUID(instanceUUID(a.Instance)); err != nil {
		return nil, err
	}
	rc := requestContext(ctx)
	s.lc.startWork(ctx, s.lc.builds, func(bctx context.Context) {
		unlock := s.lc.locks.lock(instanceUUID(a.Instance))
		defer unlock()
		result := s.doBuild(bctx, rc, &a)
		if result == buildFailed {
			// A failed build that is not rescheduled gives back what the scheduler claimed.
			s.deleteAllocations(bctx, instanceUUID(a.Instance))
		}
		if result == buildActive {
			s.lc.failedBuilds.Store(0)
		} else {
			s.lc.failedBuilds.Add(1)
		}
	})
	return nil, nil
}

// doBuild is _do_build_and_run_instance with its decorators (event, fault, task-state revert).
func (s *Service) doBuild(ctx context.Context, rc *rpc.RequestContext, a *buildArgs) string {
	inst := a.Instance
	uuid := instanceUUID(inst)
	log := logInstance(s.log, inst)
	result := buildFailed
	_ = s.run(ctx, rc, inst, op{event: "compute__do_build_and_run_instance", revertsTask: true, fault: true}, func() error {
		asInstance(inst).SetVMState(vmBuilding)
		asInstance(inst).ClearTaskState()
		if err := s.saveInstance(ctx, rc, inst, taskScheduling, nil); err != nil {
			log.Info("Instance disappeared or changed before build", "error", err)
			return nil
		}
		start := time.Now()
		log.Info("Building the instance")
		err := s.buildAndRun(ctx, rc, a)
		if err == nil {
			result = buildActive
			log.Info(fmt.Sprintf("Took %.2f seconds to build instance", time.Since(start).Seconds()))
			return nil
		}
		cleanup := context.WithoutCancel(ctx)
		if instanceGone(err) {
			log.Info("Instance disappeared during build", "error", err)
			s.cleanupBuildNetworks(cleanup, rc, a)
			return nil
		}
		var be *buildError
		if errors.As(err, &be) && be.Reschedule && hasRetry(a.FilterProperties) {
			log.Warn("Build failed; rescheduling", "reason", be.Reason)
			s.cleanupBuildNetworks(cleanup, rc, a)
			if rerr := s.rescheduleBuild(ctx, rc, a, be); rerr != nil {
				log.Error("Reschedule failed", "error", rerr)
				s.addFault(ctx, rc, inst, err)
				s.errorOutBuild(ctx, rc, inst)
				return nil
			}
			result = buildRescheduled
			return nil
		}
		log.Error("Build of instance aborted", "error", err)
		s.cleanupBuildNetworks(cleanup, rc, a)
		s.addFault(ctx, rc, inst, buildFault(uuid, err))
		s.errorOutBuild(ctx, rc, inst)
		return nil
	})
	return result
}

// buildFault words the fault as nova does for the two build failures.
func buildFault(uuid string, err error) error {
	var be *buildError
	if errors.As(err, &be) && !be.Reschedule {
		return &buildError{Reason: fmt.Sprintf("Build of instance %s aborted: %s", uuid, be.Error()), Err: be.Err}
	}
	if errors.As(err, &be) {
		return &buildError{Reason: fmt.Sprintf("Build of instance %s was re-scheduled: %s", uuid, be.Error()), Err: be.Err}
	}
	return err
}

func (s *Service) errorOutBuild(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) {
	asInstance(inst).ClearHost()
	s.setErrorState(ctx, rc, inst, true)
	s.lc.tracker.remove(instanceUUID(inst))
}

func hasRetry(fp map[string]json.RawMessage) bool {
	r, ok := fp["retry"]
	return ok && len(r) > 0 && string(r) != "null" && string(r) != "{}"
}

// buildAndRun is _build_and_run_instance: claim, the task-state steps, spawn, and the final save.
func (s *Service) buildAndRun(ctx context.Context, rc *rpc.RequestContext, a *buildArgs) error {
	inst := a.Instance
	var img imageMeta
	if len(a.Image) > 0 && string(a.Image) != "null" {
		if err := json.Unmarshal(a.Image, &img); err != nil {
			return abort(err, "image metadata is not a dict")
		}
	}
	f, err := asInstance(inst).Flavor()
	if err != nil {
		return abort(err, "instance flavor unreadable")
	}
	reqs, err := networkRequests(a.RequestedNetworks)
	if err != nil {
		return err
	}
	if len(reqs) > 0 && s.lc.net == nil {
		return reschedule(nil, "this compute node cannot allocate ports: [neutron] auth_url is not set in its nova.conf")
	}
	if err := checkBDMs(a.BlockDeviceMapping); err != nil {
		return err
	}
	if _, err := localDisks(a.BlockDeviceMapping, f, s.lc.eng.formatter()); err != nil {
		return err
	}
	node := ""
	if a.Node != nil {
		node = *a.Node
	}
	if err := s.claim(ctx, rc, inst, node, f); err != nil {
		return err
	}
	// _build_resources: networks (allocated in the background while the image and disks are made), block
	// devices, then spawning.
	v := asInstance(inst)
	v.SetVMState(vmBuilding)
	v.SetTaskState(taskNetworking)
	if err := s.saveInstance(ctx, rc, inst, nil); err != nil {
		return err
	}
	alloc, err := s.startNetworks(ctx, a, reqs, img)
	if err != nil {
		return err
	}
	defer s.settleNetworks(ctx, rc, inst, alloc)
	sn := spawnNetwork{bdms: a.BlockDeviceMapping, pending: alloc}
	if alloc.configDrive {
		if cd, _ := optString(inst, "config_drive"); cd == "" {
			inst.SetString("config_drive", "True") // configdrive.update_instance: server show tells the truth
		}
	}
	v.SetTaskState(taskBlockDeviceMapping)
	if err := s.saveInstance(ctx, rc, inst); err != nil {
		return err
	}
	v.SetTaskState(taskSpawning)
	root, err := v.RootDeviceName()
	if err != nil {
		return err
	}
	if root == "" {
		v.SetRootDeviceName("/dev/vda")
	}
	if err := s.saveInstance(ctx, rc, inst, taskBlockDeviceMapping); err != nil {
		return err
	}
	if err := s.spawn(ctx, rc, inst, img, f, sn); err != nil {
		return err
	}
	g, err := s.guestOf(inst)
	if err != nil {
		return err
	}
	v.SetStates(s.powerState(ctx, g), vmActive)
	v.SetLaunchedAt()
	if err := s.saveInstance(ctx, rc, inst, taskSpawning); err != nil {
		// Deleted while spawning: nothing of it may stay on the host.
		s.destroyGuest(context.WithoutCancel(ctx), inst)
		return err
	}
	s.updateSchedulerInstanceInfo(rc, []*vo.Object{inst}, true)
	return nil
}

// checkNetworks checks requested_networks before anything is claimed: an unreadable request aborts the build.
func checkNetworks(list *vo.Object) error {
	_, err := networkRequests(list)
	return err
}

// checkBDMs accepts image and blank local disks; volumes need Cinder, which this compute node does not attach.
func checkBDMs(list *vo.Object) error {
	if list == nil {
		return nil
	}
	bdms, err := list.Objects()
	if err != nil {
		return abort(err, "block_device_mapping unreadable")
	}
	for _, b := range bdms {
		v := blockDevice{b}
		dest, err := v.DestinationType()
		if err != nil {
			return abort(err, "block_device_mapping unreadable")
		}
		if dest == "volume" {
			vol, err := v.VolumeID()
			if err != nil {
				return abort(err, "block_device_mapping unreadable")
			}
			return reschedule(nil, "volume %s requested: this compute node cannot attach Cinder volumes", vol)
		}
	}
	return nil
}

// claim is ResourceTracker.instance_claim: the instance must fit what this node has left, then it is put on the
// node (host, node and compute_id together).
func (s *Service) claim(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, node string, f flavor) error {
	id, hvName, ok := s.nodeID()
	if !ok {
		return reschedule(nil, "ComputeResourcesUnavailable: this host's compute node record is not ready")
	}
	if node != "" && node != hvName {
		return reschedule(nil, "ComputeResourcesUnavailable: node %s is not managed by this host (it has %s)", node, hvName)
	}
	if err := s.checkCapacity(instanceUUID(inst), f); err != nil {
		return err
	}
	host := s.cfg.Load().Default.Host
	asInstance(inst).SetHost(host, hvName, id)
	return s.saveInstance(ctx, rc, inst)
}

// checkCapacity compares the tracked usage plus the new flavor with the node's capacity after reserves and
// allocation ratios (Placement claimed already; this catches a node Placement has a stale view of).
func (s *Service) checkCapacity(uuid string, f flavor) error {
	s.mu.Lock()
	node := s.node
	s.mu.Unlock()
	if node == nil {
		return nil
	}
	num := func(field string) float64 {
		var v float64
		_, _ = node.Get(field, &v)
		return v
	}
	d := s.cfg.Load().Default
	s.lc.tracker.remove(uuid) // a retried build must not count twice
	used := s.lc.tracker.totals()
	checks := []struct {
		what       string
		used, want float64
		total      float64
	}{
		{"vcpus", float64(used.vcpus), float64(f.VCPUs), num("vcpus")*num("cpu_allocation_ratio") - float64(d.ReservedHostCPUs)},
		{"memory_mb", float64(used.memoryMB), float64(f.MemoryMB), num("memory_mb")*num("ram_allocation_ratio") - float64(d.ReservedHostMemoryMB)},
		{"disk_gb", float64(used.diskMB) / 1024, float64(f.diskMB()) / 1024, num("local_gb")*num("disk_allocation_ratio") - float64(d.ReservedHostDiskMB)/1024},
	}
	for _, c := range checks {
		if c.total > 0 && c.used+c.want > c.total {
			return reschedule(nil, "ComputeResourcesUnavailable: insufficient %s: %.0f used + %.0f requested > %.0f",
				c.what, c.used, c.want, c.total)
		}
	}
	return nil
}

const gib = int64(1) << 30

// spawn makes the guest: image into the cache and the disk store, disks, domain, process. Every step it
// finished is undone when a later one fails.
func (s *Service) spawn(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, img imageMeta, f flavor,
	sn spawnNetwork) (err error) {
	eng := s.lc.eng
	uuid := instanceUUID(inst)
	g, err := eng.guest(uuid, instanceName(inst))
	if err != nil {
		return abort(err, "instance uuid unusable")
	}
	rv := revert.New()
	defer func() {
		if uerr := rv.Fail(); uerr != nil {
			s.log.Error("Cannot undo all of a failed build", "instance", uuid, "error", uerr)
		}
	}()
	cleanup := context.WithoutCancel(ctx)
	// The USB devices the instance's allocation holds, read once for the check and the guest.
	usb, err := s.usbForInstance(ctx, g.UUID)
	if err != nil {
		return reschedule(err, "Cannot give the instance its USB devices")
	}
	// Whatever the image, flavor or engine would refuse is refused before an image is fetched or a disk made.
	if err := s.checkGuest(ctx, inst, img, f, g, sn, usb); err != nil {
		return err
	}
	imageID, err := asInstance(inst).ImageRef()
	if err != nil {
		return err
	}
	if imageID == "" {
		return abort(nil, "booting from volume is not supported by this compute node")
	}
	rootSize := int64(f.RootGB) * gib
	// The image must fit the flavor's root disk before anything is fetched, converted or allocated for it: by
	// Glance's virtual_size when it has one, then by the fetched file's header.
	if err := images.CheckFits(imageID, rootSize, img.virtualSize()); err != nil {
		return abort(err, "%s", err)
	}
	if _, serr := os.Stat(g.Dir); errors.Is(serr, os.ErrNotExist) {
		if err := os.MkdirAll(g.Dir, 0o755); err != nil {
			return reschedule(err, "cannot create instance directory %s", g.Dir)
		}
		rv.Add(func() error { return os.RemoveAll(g.Dir) })
	}
	if eng.cache != nil {
		// The image cache manager must not remove the cached file between the fetch and the disk being made.
		defer eng.cache.Hold(imageID)()
	}
	path, err := eng.fetch(ctx, rc, imageID)
	if err != nil {
		return imageBuildError(imageID, err)
	}
	virtual, err := images.VirtualSize(path)
	if err != nil {
		return abort(err, "Image %s is unacceptable", imageID)
	}
	if err := images.CheckFits(imageID, rootSize, virtual); err != nil {
		return abort(err, "%s", err)
	}
	unlock := eng.imageLocks.lock(imageID)
	err = eng.storage.ImportImage(ctx, imageID, path)
	unlock()
	if err != nil {
		return abort(err, "Image %s is unacceptable", imageID)
	}
	rv.Add(func() error { return eng.storage.DeleteInstance(cleanup, uuid) })
	root, err := eng.storage.CreateRoot(ctx, uuid, imageID, rootSize)
	if errors.Is(err, storage.ErrDiskTooSmall) {
		// Only when the store's copy is bigger than the header said; the store's error has both sizes.
		return abort(err, "Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is larger", rootSize)
	} else if err != nil {
		return reschedule(err, "cannot create root disk")
	}
	disks := []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: root.Path, Format: root.Format}}
	local, err := localDisks(sn.bdms, f, eng.formatter())
	if err != nil {
		return err
	}
	osType, err := asInstance(inst).OSType()
	if err != nil {
		return err
	}
	made, err := eng.makeLocalDisks(ctx, uuid, osType, local)
	if err != nil {
		return err
	}
	disks = append(disks, made...)
	if sn.pending != nil {
		// The disks are made: now the guest needs its ports.
		if sn, err = s.finishNetworks(ctx, rc, inst, img, sn); err != nil {
			return err
		}
	}
	if sn.configDrive != nil {
		path := filepath.Join(g.Dir, configDriveFile)
		write := eng.writeConfigDrive
		if write == nil {
			write = configdrive.Write
		}
		if err := write(path, *sn.configDrive); err != nil {
			return reschedule(err, "cannot write the config drive")
		}
		rv.Add(func() error { return removeIfExists(path) })
		disks = append(disks, hypervisor.Disk{Role: hypervisor.RoleConfigDrive, Path: path, Format: "raw", CDROM: true,
			ReadOnly: true})
	}
	spec, err := guestSpec(inst, f, g, disks)
	if err != nil {
		return err
	}
	spec.NICs = sn.nics
	spec.USB = usb
	cfg := s.cfg.Load()
	if cfg.VNC.Enabled {
		es := engineConfig(cfg)
		port, err := eng.vnc.Pick(uuid, es.vncListen, es.vncMin, es.vncMax)
		if err != nil {
			return reschedule(err, "no VNC port")
		}
		rv.Add(func() error { eng.vnc.Release(uuid); return nil })
		spec.VNC = &hypervisor.VNC{Listen: es.vncListen, Port: port}
	}
	serial, err := s.serialConsoleFor(cfg, eng, uuid)
	if err != nil {
		return reschedule(err, "no serial console port")
	}
	if serial != nil {
		rv.Add(func() error { eng.serial.Release(uuid); return nil })
		spec.SerialTCP = serial
	}
	dom, err := buildDomain(ctx, eng, spec, img, f)
	if err != nil {
		return err
	}
	if err := s.startGuest(ctx, inst, g, dom, sn.info); err != nil {
		return err
	}
	rv.Success()
	return nil
}

// startGuest is _create_guest_with_network: with ports, the taps exist and Neutron has said so before the guest
// runs. An engine that can start a guest paused starts it while Neutron's network-vif-plugged events travel and
// runs it once they are in, as the libvirt driver does; otherwise the guest starts after the wait. On error
// neither the guest nor its taps remain.
func (s *Service) startGuest(ctx context.Context, inst *vo.Object, g hypervisor.Guest, dom *libvirtxml.Domain,
	info network.Info) error {
	drv := s.lc.eng.driver
	if len(info) == 0 {
		if err := drv.Spawn(ctx, g, dom); err != nil {
			return spawnError(err)
		}
		return nil
	}
	cleanup := context.WithoutCancel(ctx)
	var meanwhile func() error
	started, paused := false, false
	if ps, ok := hypervisor.AsPausedSpawner(drv); ok {
		meanwhile = func() error {
			p, err := ps.SpawnPaused(ctx, g, dom)
			if err != nil {
				return spawnError(err)
			}
			started, paused = true, p
			return nil
		}
	}
	err := s.plugAndWait(ctx, inst, info, meanwhile)
	if err != nil {
		if started {
			if derr := drv.Destroy(cleanup, g); derr != nil {
				s.log.Error("Cannot destroy the paused guest of a failed build", "instance", instanceUUID(inst),
					"error", derr)
			}
		}
		var be *buildError
		switch {
		case errors.As(err, &be):
			return err
		case errors.Is(err, errVIFCreate):
			return abort(err, "Failed to allocate the network(s), not rescheduling.")
		}
		return reschedule(err, "Failed to plug the instance's network interfaces")
	}
	var runErr error
	switch {
	case !started:
		runErr = drv.Spawn(ctx, g, dom)
	case paused:
		if runErr = drv.Unpause(ctx, g); runErr != nil {
			if derr := drv.Destroy(cleanup, g); derr != nil {
				s.log.Error("Cannot destroy a guest that would not run", "instance", instanceUUID(inst), "error", derr)
			}
		}
	}
	if runErr != nil {
		s.unplugVIFs(cleanup, inst, info)
		return spawnError(runErr)
	}
	return nil
}

// guestSpec is the neutral description of the instance's guest with disks.
func guestSpec(inst *vo.Object, f flavor, g hypervisor.Guest, disks []hypervisor.Disk) (hypervisor.Spec, error) {
	v := asInstance(inst)
	var arch, project, user, name string
	for dst, read := range map[*string]func() (string, error){&arch: v.Architecture, &project: v.ProjectID,
		&user: v.UserID, &name: v.DisplayName} {
		var err error
		if *dst, err = read(); err != nil {
			return hypervisor.Spec{}, err
		}
	}
	return hypervisor.Spec{UUID: g.UUID, Name: g.Name, Dir: g.Dir, VCPUs: f.VCPUs, MemoryMB: f.MemoryMB,
		Arch: arch, Disks: disks,
		Metadata: map[string]string{"flavor": f.Name, "project": project, "user": user, "display_name": name}}, nil
}

// buildDomain turns spec plus the image's properties and the flavor's extra specs into the domain; a refused
// property aborts the build (every host of this engine would refuse it).
func buildDomain(ctx context.Context, eng *engine, spec hypervisor.Spec, img imageMeta, f flavor) (*libvirtxml.Domain, error) {
	props := domain.Props{Image: img.imageProps(), Extra: f.ExtraSpecs}
	o := eng.domainOptions(ctx)
	// An iso image is a CD-ROM unless the image asks for a disk bus (hw_disk_bus, or novabsd_disk_bus over it).
	if _, bus, err := domain.DiskBus(props.Image, o); err != nil {
		return nil, abort(err, "Image or flavor property unacceptable")
	} else if bus == "" && img.DiskFormat == "iso" && len(spec.Disks) > 0 {
		spec.Disks[0].Role = hypervisor.RoleCDROM
	}
	dom, err := domain.Build(spec, props, o)
	if err != nil {
		return nil, abort(err, "Image or flavor property unacceptable")
	}
	return dom, nil
}

// spawnError classifies an engine's refusal: a value it does not offer aborts, a host problem reschedules.
func spawnError(err error) error {
	if errors.Is(err, hypervisor.ErrInvalidProperty) {
		return abort(err, "Guest definition refused by the hypervisor")
	}
	return reschedule(err, "Spawn failed")
}

// checkGuest builds the domain the build will make, with the flavor's disks at placeholder paths in the
// instance directory, and lets the engine check it, so a refused image property, flavor extra spec or missing
// engine piece fails the build before anything exists on the host.
func (s *Service) checkGuest(ctx context.Context, inst *vo.Object, img imageMeta, f flavor, g hypervisor.Guest,
	sn spawnNetwork, usb []hypervisor.USBDevice) error {
	eng := s.lc.eng
	disks := []hypervisor.Disk{{Role: hypervisor.RoleRoot, Path: filepath.Join(g.Dir, "disk"), Format: "raw"}}
	local, err := localDisks(sn.bdms, f, eng.formatter())
	if err != nil {
		return err
	}
	for _, d := range local {
		disks = append(disks, d.placeholder(g.Dir))
	}
	if sn.configDrive != nil || (sn.pending != nil && sn.pending.configDrive) {
		disks = append(disks, hypervisor.Disk{Role: hypervisor.RoleConfigDrive, Path: filepath.Join(g.Dir, configDriveFile),
			Format: "raw", CDROM: true, ReadOnly: true})
	}
	spec, err := guestSpec(inst, f, g, disks)
	if err != nil {
		return err
	}
	spec.NICs = sn.nics
	// The devices the allocation holds, so that an engine without USB passthrough refuses here, before anything
	// is made.
	spec.USB = usb
	if sn.pending != nil {
		spec.NICs = sn.pending.placeholderNICs()
	}
	if cfg := s.cfg.Load(); cfg.VNC.Enabled {
		// A placeholder port of the engine's range: the real one is picked when the guest is made.
		es := engineConfig(cfg)
		spec.VNC = &hypervisor.VNC{Listen: es.vncListen, Port: max(es.vncMin, 5900)}
	}
	dom, err := buildDomain(ctx, eng, spec, img, f)
	if err != nil {
		return err
	}
	if c, ok := eng.driver.(hypervisor.DomainChecker); ok {
		if err := c.CheckDomain(ctx, dom); err != nil {
			return spawnError(err)
		}
	}
	return nil
}

// imageBuildError classifies an image failure: a bad or missing image aborts (another host would fail the same
// way); an unreachable Glance reschedules.
func imageBuildError(id string, err error) error {
	switch {
	case errors.Is(err, images.ErrUnavailable), errors.Is(err, images.ErrInsufficientSpace):
		return reschedule(err, "Image %s could not be fetched", id)
	case errors.Is(err, images.ErrChecksumMismatch):
		return abort(err, "Image %s is unacceptable: checksum mismatch", id)
	case errors.Is(err, images.ErrNotFound):
		return abort(err, "Image %s could not be found", id)
	case errors.Is(err, images.ErrNotActive):
		return abort(err, "Image %s is not active", id)
	}
	return abort(err, "Image %s is unacceptable", id)
}

// powerState is nova's _get_power_state: the driver's view, NOSTATE for an unknown guest.
func (s *Service) powerState(ctx context.Context, g hypervisor.Guest) int {
	info, err := s.lc.eng.driver.Info(ctx, g)
	if err != nil {
		return powerNoState
	}
	return novaPowerState(info.State)
}

// rescheduleBuild gives the instance back to the conductor for another host, as nova does when
// filter_properties carries retry information.
func (s *Service) rescheduleBuild(ctx context.Context, rc *rpc.RequestContext, a *buildArgs, be *buildError) error {
	inst := a.Instance
	s.destroyGuest(ctx, inst)
	var retry map[string]json.RawMessage
	if err := json.Unmarshal(a.FilterProperties["retry"], &retry); err != nil {
		return fmt.Errorf("filter_properties.retry: %w", err)
	}
	exc, _ := json.Marshal([]string{"Traceback (most recent call last):\n", be.Error() + "\n"})
	reason, _ := json.Marshal(be.Reason)
	retry["exc"], retry["exc_reason"] = exc, reason
	fp := make(map[string]any, len(a.FilterProperties))
	for k, v := range a.FilterProperties {
		fp[k] = v
	}
	fp["retry"] = retry
	asInstance(inst).ClearHost()
	asInstance(inst).SetTaskState(taskScheduling)
	if err := s.saveInstance(ctx, rc, inst); err != nil {
		return err
	}
	s.lc.tracker.remove(instanceUUID(inst))
	s.deleteAllocations(ctx, instanceUUID(inst))
	hostList := a.HostList
	if len(hostList) == 0 {
		hostList = json.RawMessage("[]")
	}
	return s.cond.tasks.Cast(ctx, rc, "build_instances", map[string]any{
		"instances": []*vo.Object{inst}, "image": rawOr(a.Image, "{}"), "filter_properties": fp,
		"admin_password": a.AdminPassword, "injected_files": rawOr(a.InjectedFiles, "[]"),
		"requested_networks": a.RequestedNetworks, "security_groups": rawOr(a.SecurityGroups, "[]"),
		"request_spec": rawOr(a.RequestSpec, "null"), "host_lists": []json.RawMessage{hostList},
	})
}

func rawOr(r json.RawMessage, def string) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage(def)
	}
	return r
}

// deleteAllocations removes the instance's Placement allocations (force), logging failures as nova does.
func (s *Service) deleteAllocations(ctx context.Context, uuid string) {
	if err := s.removeAllocations(ctx, uuid); err != nil {
		s.log.Error("Failed to delete allocations", "instance", uuid, "error", err)
	}
}

// destroyGuest removes every trace of the guest on this host: process, disks, files (domain, console log,
// NVRAM), VNC and serial console ports. Missing pieces are not errors.
func (s *Service) destroyGuest(ctx context.Context, inst *vo.Object) error {
	eng := s.lc.eng
	uuid := instanceUUID(inst)
	g, err := eng.guest(uuid, instanceName(inst))
	if err != nil {
		return err // nothing of it can be on this host under a name that is not a uuid
	}
	var errs []error
	if err := eng.driver.Destroy(ctx, g); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		errs = append(errs, err)
	}
	if err := eng.storage.DeleteInstance(ctx, uuid); err != nil {
		errs = append(errs, err)
	}
	// A rescued guest's rescue disk goes with it.
	if err := eng.storage.DeleteInstance(ctx, rescueStore(uuid)); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(g.Dir); err != nil {
		errs = append(errs, err)
	}
	eng.vnc.Release(uuid)
	eng.serial.Release(uuid)
	return errors.Join(errs...)
}

// removeAllocations is DELETE /allocations/{consumer} (force), through the lifecycle's hook when set.
func (s *Service) removeAllocations(ctx context.Context, uuid string) error {
	if f := s.lc.deleteAllocations; f != nil {
		return f(ctx, uuid)
	}
	pc, err := s.placementClient(ctx, s.cfg.Load())
	if err != nil {
		return err
	}
	return pc.DeleteConsumerAllocations(ctx, uuid)
}
