package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/configdrive"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/internal/revert"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
	"libvirt.org/go/libvirtxml"
)

// Task states of rescue and unrescue, as nova-api sets them before casting.
const (
	taskRescuing   = "rescuing"
	taskUnrescuing = "unrescuing"
)

// unrescueFile keeps the guest's own domain while it runs the rescue domain, as the libvirt driver's
// unrescue.xml: its presence means "rescued", and unrescue (or a failed rescue) puts it back.
const unrescueFile = "unrescue.xml"

// rescueConfigDriveFile is the config drive regenerated for a rescue, beside the instance's own.
const rescueConfigDriveFile = configDriveFile + ".rescue"

// rescueStore is the disk store's name for the rescue disk's owner: a second "instance" beside the real one, so
// the store's ordinary root-disk operations (clone of the cached image, removal) make and drop the rescue disk
// without touching the instance's own disks. It is never a canonical uuid, so the orphan sweep never mistakes it
// for an instance; destroyGuest removes it with the instance.
func rescueStore(uuid string) string { return uuid + ".rescue" }

// rescueMethods: rescue_instance and unrescue_instance.
func (s *Service) rescueMethods() map[string]method {
	return map[string]method{
		"rescue_instance":   {req("instance", "rescue_password", "rescue_image_ref", "clean_shutdown"), s.rescueInstance},
		"unrescue_instance": {req("instance"), s.unrescueInstance},
	}
}

// rescueArgs are rescue_instance's arguments (compute RPC 6.0).
type rescueArgs struct {
	Instance *vo.Object `json:"instance"`
	// RescuePassword is the rescue environment's admin password, written (as admin_pass) into the config drive
	// regenerated for the rescue when the instance has one, as the libvirt driver does. It is never logged.
	RescuePassword *string `json:"rescue_password"`
	RescueImageRef *string `json:"rescue_image_ref"`
	CleanShutdown  *bool   `json:"clean_shutdown"`
}

// rescueRefused is nova's InstanceNotRescuable (Invalid, HTTP 400).
func rescueRefused(uuid string, format string, a ...any) *rpc.RemoteError {
	return novaError("InstanceNotRescuable", 400, "Instance %s cannot be rescued: %s", uuid, fmt.Sprintf(format, a...))
}

func (s *Service) rescueInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a rescueArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	clean := a.CleanShutdown == nil || *a.CleanShutdown
	imageRef := ""
	if a.RescueImageRef != nil {
		imageRef = *a.RescueImageRef
	}
	return nil, s.doRescue(ctx, requestContext(ctx), a.Instance, imageRef, a.RescuePassword, clean)
}

// rescueImageID is _get_rescue_image: the image asked for, else the instance's base image
// (system_metadata image_base_image_ref), else its own image_ref.
func rescueImageID(inst *vo.Object, asked string) (string, error) {
	if asked != "" {
		return asked, nil
	}
	sm, err := asInstance(inst).SystemMetadata()
	if err != nil {
		return "", err
	}
	if id := sm["image_base_image_ref"]; id != "" {
		return id, nil
	}
	return asInstance(inst).ImageRef()
}

// doRescue is rescue_instance with the libvirt driver's rescue: the guest's own domain is kept aside
// (unrescue.xml), the guest powered off, and a rescue domain booting a fresh copy of the rescue image, with the
// original root disk attached second, started in its place. What can be refused (no image, a rescue property
// the engine does not offer, an image that cannot be fetched) is refused before the guest is touched: task
// reverted, vm state unchanged. A failure after the power-off puts the guest's own domain back (running again if
// it ran) and the instance in ERROR, as nova's rescue does.
func (s *Service) doRescue(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, askedImage string,
	password *string, clean bool) error {
	return s.run(ctx, rc, inst, op{event: "compute_rescue_instance", revertsTask: true, fault: true, lock: true}, func() error {
		uuid := instanceUUID(inst)
		eng := s.lc.eng
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		log := logInstance(s.log, inst)
		log.Info("Rescuing")
		if _, err := os.Stat(filepath.Join(g.Dir, unrescueFile)); err == nil {
			if vm, _ := asInstance(inst).VMState(); vm == vmRescued {
				return rescueRefused(uuid, "it is already rescued")
			}
			// A rescue the service did not finish (a restart before the final save): unrescue.xml is the guest's
			// own domain, put back before this rescue starts from it.
			if err := s.dropUnfinishedRescue(ctx, inst, g); err != nil {
				return rescueRefused(uuid, "an unfinished earlier rescue cannot be undone: %v", err)
			}
		}
		orig, err := hypervisor.LoadDomain(g.Dir)
		if err != nil {
			return rescueRefused(uuid, "its guest definition cannot be read: %v", err)
		}
		imageID, err := rescueImageID(inst, askedImage)
		if err != nil {
			return err
		}
		if imageID == "" {
			return rescueRefused(uuid, "it has no image to rescue from")
		}
		img, err := s.imageMeta(ctx, rc, imageID)
		if err != nil {
			return translateImageError(imageID, err)
		}
		// The config drive regenerated for the rescue, with the rescue password, when the guest has one.
		cdPath := ""
		var cd *configdrive.Content
		if hasConfigDrive(orig) {
			if cd, err = s.rescueConfigDrive(ctx, rc, inst, img, password); err != nil {
				return err
			}
			if cd != nil {
				cdPath = filepath.Join(g.Dir, rescueConfigDriveFile)
			}
		}
		// The rescue domain with the rescue disk at a placeholder path: what the engine would refuse is refused
		// before a disk is made or the guest stopped.
		if _, err := s.rescueDomainChecked(ctx, g, orig, filepath.Join(g.Dir, "disk.rescue"), cdPath, img); err != nil {
			return rescueRefused(uuid, "%v", err)
		}
		rv := revert.New()
		defer func() {
			if uerr := rv.Fail(); uerr != nil {
				log.Error("Cannot undo all of a failed rescue", "error", uerr)
			}
		}()
		cleanup := context.WithoutCancel(ctx)
		disk, err := s.makeRescueDisk(ctx, rc, uuid, imageID)
		if err != nil {
			return err
		}
		rv.Add(func() error { return eng.storage.DeleteInstance(cleanup, rescueStore(uuid)) })
		if cd != nil {
			write := eng.writeConfigDrive
			if write == nil {
				write = configdrive.Write
			}
			if err := write(cdPath, *cd); err != nil {
				return fmt.Errorf("cannot write the rescue config drive: %w", err)
			}
			rv.Add(func() error { return removeIfExists(cdPath) })
		}
		dom, err := s.rescueDomainChecked(ctx, g, orig, disk.Path, cdPath, img)
		if err != nil {
			return rescueRefused(uuid, "%v", err)
		}
		if err := saveDomainAs(g.Dir, unrescueFile, orig); err != nil {
			return err
		}
		rv.Add(func() error { return removeIfExists(filepath.Join(g.Dir, unrescueFile)) })

		// From here on the guest is changed: a failure restores it and ends in ERROR.
		wasRunning := s.powerState(ctx, g) == powerRunning
		err = s.startRescueDomain(ctx, rc, inst, g, dom, clean)
		if err != nil {
			log.Error("Error trying to rescue instance", "error", err)
			if rerr := s.restoreGuest(cleanup, rc, inst, g, orig, wasRunning); rerr != nil {
				log.Error("Cannot restore the guest after a failed rescue", "error", rerr)
				rv.Success() // the unrescue file and rescue disk are the way back by hand
			}
			s.setErrorState(ctx, rc, inst, false)
			return rescueRefused(uuid, "Driver Error: %v", err)
		}
		rv.Success()
		v := asInstance(inst)
		v.SetStates(s.powerState(ctx, g), vmRescued)
		v.SetLaunchedAt()
		return s.saveInstance(ctx, rc, inst, taskRescuing)
	})
}

// startRescueDomain powers the guest off (honouring clean_shutdown), frees it in the engine and starts dom.
func (s *Service) startRescueDomain(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, g hypervisor.Guest,
	dom *libvirtxml.Domain, clean bool) error {
	drv := s.lc.eng.driver
	if err := drv.PowerOff(ctx, g, s.shutdownTimeout(inst, clean)); err != nil &&
		!errors.Is(err, hypervisor.ErrInvalidState) && !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	if err := drv.Destroy(ctx, g); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	if err := s.replugVIFs(ctx, rc, inst); err != nil {
		return err
	}
	return drv.Spawn(ctx, g, dom)
}

// restoreGuest puts the guest's own domain back after a failed rescue: started again when it was running, else
// only its domain file rewritten. The unrescue file and the rescue disk are removed.
func (s *Service) restoreGuest(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, g hypervisor.Guest,
	orig *libvirtxml.Domain, start bool) error {
	drv := s.lc.eng.driver
	if err := drv.Destroy(ctx, g); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		return err
	}
	if start {
		if err := s.replugVIFs(ctx, rc, inst); err != nil {
			return err
		}
		if err := drv.Spawn(ctx, g, orig); err != nil {
			return err
		}
	} else if err := hypervisor.SaveDomain(g.Dir, orig); err != nil {
		return err
	}
	return errors.Join(removeIfExists(filepath.Join(g.Dir, unrescueFile)),
		removeIfExists(filepath.Join(g.Dir, rescueConfigDriveFile)),
		s.lc.eng.storage.DeleteInstance(ctx, rescueStore(instanceUUID(inst))))
}

// makeRescueDisk is a fresh copy of the rescue image in the disk store, the image's own size (the rescue
// environment needs no more room than its image).
func (s *Service) makeRescueDisk(ctx context.Context, rc *rpc.RequestContext, uuid, imageID string) (diskPath, error) {
	eng := s.lc.eng
	if eng.cache != nil {
		defer eng.cache.Hold(imageID)()
	}
	path, err := eng.fetch(ctx, rc, imageID)
	if err != nil {
		return diskPath{}, translateImageError(imageID, err)
	}
	unlock := eng.imageLocks.lock(imageID)
	err = eng.storage.ImportImage(ctx, imageID, path)
	unlock()
	if err != nil {
		return diskPath{}, novaError("ImageUnacceptable", 400, "Image %s is unacceptable: %v", imageID, err)
	}
	// A rescue disk left by an interrupted rescue would make the copy fail: it is nobody's any more.
	if err := eng.storage.DeleteInstance(ctx, rescueStore(uuid)); err != nil {
		return diskPath{}, err
	}
	d, err := eng.storage.CreateRoot(ctx, rescueStore(uuid), imageID, 0)
	if err != nil {
		return diskPath{}, fmt.Errorf("cannot create the rescue disk: %w", err)
	}
	return diskPath{Path: d.Path, Format: d.Format}, nil
}

// diskPath is a disk the store made, as the domain names it.
type diskPath struct{ Path, Format string }

// rescueDomainChecked is rescueDomain with this engine's options, checked by the engine.
func (s *Service) rescueDomainChecked(ctx context.Context, g hypervisor.Guest, orig *libvirtxml.Domain, rescuePath,
	configDrive string, img imageMeta) (*libvirtxml.Domain, error) {
	eng := s.lc.eng
	dom, err := rescueDomain(orig, g.Dir, rescuePath, configDrive, img, eng.domainOptions(ctx))
	if err != nil {
		return nil, err
	}
	if c, ok := eng.driver.(hypervisor.DomainChecker); ok {
		if err := c.CheckDomain(ctx, dom); err != nil {
			return nil, err
		}
	}
	return dom, nil
}

// rescueDevices are the hw_rescue_device values the engines can present (nova also knows floppy and lun, which
// neither bhyve nor this QEMU driver offers).
var rescueDevices = []string{"disk", "cdrom"}

// rescueDomain is the guest's domain orig booting from the rescue disk at rescuePath, as the libvirt driver's
// rescue lays it out:
//   - legacy rescue (the rescue image sets neither hw_rescue_device nor hw_rescue_bus): the rescue disk first,
//     on the rescue image's disk bus (novabsd_disk_bus, else hw_disk_bus), the original root disk second, and
//     the config drive if the guest has one.
//   - stable device rescue (either property set): every original disk where it was, the rescue device appended
//     as hw_rescue_device (disk or cdrom) on hw_rescue_bus, booted first.
//
// A guest's config drive is replaced by configDrive when that is set (the drive regenerated for the rescue, as
// the libvirt driver's disk.config.rescue). The disks are laid out again by hypervisor/domain, so bus names and device names follow the same rules and
// checks as a build; everything else (NICs, console, VNC, firmware) stays the guest's own.
func rescueDomain(orig *libvirtxml.Domain, dir, rescuePath, configDrive string, img imageMeta, o domain.Options) (*libvirtxml.Domain, error) {
	if orig == nil || orig.Devices == nil {
		return nil, errors.New("the guest's domain has no devices")
	}
	props := img.imageProps()
	device, hasDevice := props["hw_rescue_device"]
	bus, hasBus := props["hw_rescue_bus"]
	stable := hasDevice || hasBus
	if device == "" {
		device = "disk"
	}
	if !slices.Contains(rescueDevices, device) {
		return nil, &hypervisor.PropertyError{Property: "hw_rescue_device", Value: device, Allowed: rescueDevices, Driver: o.Driver}
	}
	cdrom := device == "cdrom"
	allowed := o.Supported.DiskBus
	if cdrom {
		allowed = o.Supported.CDROMBus
	}
	if bus != "" && len(allowed) > 0 && !slices.Contains(allowed, bus) {
		return nil, &hypervisor.PropertyError{Property: "hw_rescue_bus", Value: bus, Allowed: allowed, Driver: o.Driver}
	}
	if bus == "" && !stable {
		// Legacy rescue: the rescue image's own bus for its disk, as get_disk_info with the rescue image's meta
		// (novabsd_disk_bus over hw_disk_bus, as for a build).
		var err error
		if _, bus, err = domain.DiskBus(props, o); err != nil {
			return nil, err
		}
	}
	rescue := hypervisor.Disk{Role: hypervisor.RoleRoot, Path: rescuePath, Format: "raw", Bus: bus, CDROM: cdrom,
		ReadOnly: cdrom, Boot: true}
	var own []hypervisor.Disk
	root := -1
	for _, d := range orig.Devices.Disks {
		hd, err := domainDisk(d)
		if err != nil {
			return nil, err
		}
		if configDrive != "" && filepath.Base(hd.Path) == configDriveFile {
			hd.Path = configDrive
		}
		if root < 0 && !hd.CDROM && (d.Boot != nil && d.Boot.Order > 0) {
			root = len(own)
		}
		own = append(own, hd)
	}
	if root < 0 {
		root = slices.IndexFunc(own, func(d hypervisor.Disk) bool { return !d.CDROM })
	}
	var disks []hypervisor.Disk
	if stable {
		disks = append(own, rescue)
	} else {
		disks = []hypervisor.Disk{rescue}
		if root >= 0 {
			disks = append(disks, own[root])
		}
		for i, d := range own {
			if i != root && (filepath.Base(d.Path) == configDriveFile || d.Path == configDrive) {
				disks = append(disks, d)
			}
		}
	}
	arch := ""
	if orig.OS != nil && orig.OS.Type != nil {
		arch = orig.OS.Type.Arch
	}
	vcpus := 1
	if orig.VCPU != nil && orig.VCPU.Value > 0 {
		vcpus = int(orig.VCPU.Value)
	}
	// Only the disks (and their controllers) of this build are used.
	laid, err := domain.Build(hypervisor.Spec{UUID: orig.UUID, Name: orig.Name, Dir: dir,
		VCPUs: vcpus, MemoryMB: 1, Arch: arch, Disks: disks}, domain.Props{}, o)
	if err != nil {
		return nil, err
	}
	out, err := copyDomain(orig)
	if err != nil {
		return nil, err
	}
	out.Devices.Disks = laid.Devices.Disks
	diskController := func(c libvirtxml.DomainController) bool {
		return c.Type == "nvme" || c.Type == "sata" || c.Type == "scsi"
	}
	out.Devices.Controllers = slices.DeleteFunc(out.Devices.Controllers, diskController)
	for _, c := range laid.Devices.Controllers {
		if diskController(c) {
			out.Devices.Controllers = append(out.Devices.Controllers, c)
		}
	}
	if out.OS != nil {
		out.OS.BootDevices = nil // the rescue disk's boot order decides
	}
	return out, nil
}

// domainDisk reads a disk of a domain this service wrote back into the neutral form.
func domainDisk(d libvirtxml.DomainDisk) (hypervisor.Disk, error) {
	hd := hypervisor.Disk{CDROM: d.Device == "cdrom", ReadOnly: d.ReadOnly != nil, Serial: d.Serial,
		Role: hypervisor.RoleEphemeral}
	if hd.CDROM {
		hd.Role = hypervisor.RoleConfigDrive
	}
	if d.Driver != nil {
		hd.Format = d.Driver.Type
	}
	if d.Target != nil {
		hd.Bus = d.Target.Bus
	}
	switch {
	case d.Source != nil && d.Source.File != nil:
		hd.Path = d.Source.File.File
	case d.Source != nil && d.Source.Block != nil:
		hd.Path = d.Source.Block.Dev
	}
	if hd.Path == "" {
		return hypervisor.Disk{}, errors.New("a disk of the guest's domain has no source")
	}
	return hd, nil
}

// copyDomain is a deep copy of dom, through its XML.
func copyDomain(dom *libvirtxml.Domain) (*libvirtxml.Domain, error) {
	x, err := dom.Marshal()
	if err != nil {
		return nil, err
	}
	var out libvirtxml.Domain
	if err := out.Unmarshal(x); err != nil {
		return nil, err
	}
	return &out, nil
}

// saveDomainAs writes dom to dir/name.
func saveDomainAs(dir, name string, dom *libvirtxml.Domain) error {
	x, err := dom.Marshal()
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(x+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// loadDomainFrom reads dir/name.
func loadDomainFrom(dir, name string) (*libvirtxml.Domain, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(string(b)); err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	return &dom, nil
}

// imageMeta reads the image record from Glance (ImageMeta.from_image_ref).
func (s *Service) imageMeta(ctx context.Context, rc *rpc.RequestContext, id string) (imageMeta, error) {
	eng := s.lc.eng
	if eng.imageInfo != nil {
		return eng.imageInfo(ctx, rc, id)
	}
	if eng.glance == nil {
		return imageMeta{}, errors.New("no image service configured")
	}
	c, err := eng.glance(rc)
	if err != nil {
		return imageMeta{}, err
	}
	img, err := c.Get(ctx, id)
	if err != nil {
		return imageMeta{}, err
	}
	m := imageMeta{ID: img.ID, DiskFormat: img.DiskFormat, ContainerFormat: img.ContainerFormat,
		Properties: make(map[string]any, len(img.Properties))}
	for k, v := range img.Properties {
		m.Properties[k] = v
	}
	if img.VirtualSize > 0 {
		m.VirtualSize = json.RawMessage(fmt.Sprint(img.VirtualSize))
	}
	return m, nil
}

// translateImageError is the Nova exception for an image that cannot be read or fetched.
func translateImageError(id string, err error) error {
	var re *rpc.RemoteError
	switch {
	case errors.As(err, &re):
		return err
	case errors.Is(err, images.ErrNotFound):
		return fmt.Errorf("%w (%v)", novaError("ImageNotFound", 404, "Image %s could not be found.", id), err)
	case errors.Is(err, images.ErrNotActive):
		return fmt.Errorf("%w (%v)", novaError("ImageNotActive", 400, "Image %s is not active.", id), err)
	}
	return err
}

func (s *Service) unrescueInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	return nil, s.doUnrescue(ctx, requestContext(ctx), a.Instance)
}

// doUnrescue is unrescue_instance with the libvirt driver's unrescue: the rescue guest destroyed, the guest's
// own domain started again, then the rescue disk and unrescue file removed. A failure puts the instance in ERROR
// (_error_out_instance_on_exception), the unrescue file kept so that a retry or an operator can finish.
func (s *Service) doUnrescue(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object) error {
	return s.run(ctx, rc, inst, op{event: "compute_unrescue_instance", revertsTask: true, fault: true, lock: true}, func() error {
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		logInstance(s.log, inst).Info("Unrescuing")
		orig, err := loadDomainFrom(g.Dir, unrescueFile)
		if err != nil {
			return s.errorOutOnException(ctx, rc, inst, vmActive, fmt.Errorf("the guest's own domain: %w", err))
		}
		drv := s.lc.eng.driver
		if err := drv.Destroy(ctx, g); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			return s.errorOutOnException(ctx, rc, inst, vmActive, translateEngineError(inst, err))
		}
		if err := s.replugVIFs(ctx, rc, inst); err != nil {
			return s.errorOutOnException(ctx, rc, inst, vmActive, err)
		}
		if err := drv.Spawn(ctx, g, orig); err != nil {
			return s.errorOutOnException(ctx, rc, inst, vmActive, translateEngineError(inst, err))
		}
		if err := errors.Join(removeIfExists(filepath.Join(g.Dir, unrescueFile)),
			removeIfExists(filepath.Join(g.Dir, rescueConfigDriveFile)),
			s.lc.eng.storage.DeleteInstance(ctx, rescueStore(instanceUUID(inst)))); err != nil {
			logInstance(s.log, inst).Warn("Cannot remove the rescue files", "error", err)
		}
		asInstance(inst).SetStates(s.powerState(ctx, g), vmActive)
		return s.saveInstance(ctx, rc, inst, taskUnrescuing)
	})
}

// hasConfigDrive says whether the guest's domain attaches the instance's config drive.
func hasConfigDrive(dom *libvirtxml.Domain) bool {
	if dom == nil || dom.Devices == nil {
		return false
	}
	for _, d := range dom.Devices.Disks {
		if hd, err := domainDisk(d); err == nil && filepath.Base(hd.Path) == configDriveFile {
			return true
		}
	}
	return false
}

// rescueConfigDrive is the content of the rescue's config drive: the instance's metadata and network as now,
// with the rescue password as admin_pass (nova generates one when the user gave none; here the drive then
// carries none, as for an instance built without an admin password). nil: nothing asks for a drive any more
// (it had been forced by an earlier setting), and the guest's own drive stays attached.
func (s *Service) rescueConfigDrive(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, img imageMeta,
	password *string) (*configdrive.Content, error) {
	info, err := s.networkInfo(ctx, rc, inst)
	if err != nil {
		return nil, fmt.Errorf("reading network info: %w", err)
	}
	if password != nil && *password == "" {
		password = nil
	}
	return s.configDriveFor(inst, img, password, info)
}

// dropUnfinishedRescue puts the guest's own domain (unrescue.xml) back and removes what an unfinished rescue
// left: the rescue disk, the rescue config drive and unrescue.xml itself.
func (s *Service) dropUnfinishedRescue(ctx context.Context, inst *vo.Object, g hypervisor.Guest) error {
	own, err := loadDomainFrom(g.Dir, unrescueFile)
	if err != nil {
		return err
	}
	if err := hypervisor.SaveDomain(g.Dir, own); err != nil {
		return err
	}
	logInstance(s.log, inst).Warn("Put the guest's own domain back after an unfinished rescue")
	return errors.Join(removeIfExists(filepath.Join(g.Dir, unrescueFile)),
		removeIfExists(filepath.Join(g.Dir, rescueConfigDriveFile)),
		s.lc.eng.storage.DeleteInstance(ctx, rescueStore(instanceUUID(inst))))
}

// rescuedPollLoop is the _poll_rescued_instances periodic task, at the default periodic interval (60 s) as nova's.
func (s *Service) rescuedPollLoop(ctx context.Context) {
	s.periodic(ctx, periodicTask{
		interval: func(*conf.Config) int { return 0 },
		run:      s.pollRescuedInstances,
		failed: func(err error) {
			s.log.Warn("Polling rescued instances failed; retrying next period", "error", err)
		},
	})
}

// pollRescuedInstances unrescues this host's RESCUED instances whose rescue guest started (launched_at) more than
// rescue_timeout ago, as nova's periodic task does through compute_api.unrescue: task_state unrescuing saved while
// no other task runs, then the unrescue. Nothing when rescue_timeout is 0. One failure does not stop the others.
func (s *Service) pollRescuedInstances(ctx context.Context) error {
	cfg := s.cfg.Load()
	timeout := cfg.Default.RescueTimeout
	if timeout <= 0 {
		return nil
	}
	rc := rpc.AdminContext()
	insts, err := s.instancesByFilters(ctx, &rc, map[string]any{"vm_state": vmRescued, "host": cfg.Default.Host},
		[]string{"system_metadata"})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, inst := range insts {
		log := logInstance(s.log, inst)
		v := asInstance(inst)
		if err := v.check(); err != nil {
			log.Error("Not unrescuing a malformed instance", "error", err)
			continue
		}
		if task, _ := v.TaskState(); task != "" {
			continue // compute_api.unrescue refuses while another task runs; the next period tries again
		}
		at, err := optString(inst, "launched_at")
		if err != nil || at == "" {
			continue
		}
		launched, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			log.Warn("Rescued instance has an unreadable launched_at; not unrescuing it", "launched_at", at)
			continue
		}
		if now.Sub(launched) <= seconds(timeout) {
			continue
		}
		log.Info("Unrescuing an instance rescued longer than rescue_timeout", "rescue_timeout", timeout)
		v.SetTaskState(taskUnrescuing)
		if err := s.saveInstance(ctx, &rc, inst, nil); err != nil {
			log.Warn("Periodic task failed to unrescue instance", "error", err)
			continue
		}
		if err := s.doUnrescue(ctx, &rc, inst); err != nil {
			log.Warn("Periodic task failed to unrescue instance", "error", err)
		}
	}
	return nil
}
