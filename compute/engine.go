package compute

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/configdrive"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/bhyve"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"github.com/novabsd/novabsd/hypervisor/qemu"
	"github.com/novabsd/novabsd/hypervisor/storage"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/placement"
	"github.com/novabsd/novabsd/rpc"
)

// engine is what the lifecycle drives: the hypervisor, the disk store and the image cache.
type engine struct {
	driver        hypervisor.Driver
	storage       storage.Backend
	domainOptions func(ctx context.Context) domain.Options
	instancesPath string
	// fetch returns the path of the image in the local cache, downloading it from Glance with the user's token.
	fetch func(ctx context.Context, rc *rpc.RequestContext, imageID string) (string, error)
	// glance makes a per-request Glance client (nil in tests that need none).
	glance func(rc *rpc.RequestContext) (*images.Client, error)
	// cache is the image cache fetch fills, for the image cache manager and for builds to hold their image
	// (nil in tests that fake fetch).
	cache      *images.Cache
	imageLocks keyedLocks // one import into the disk store per image at a time
	qemuImg    string     // for qcow2 snapshots; "" uploads raw
	vnc        hypervisor.Ports

	// serial holds the serial consoles' ports ([serial_console] port_range), as vnc holds the VNC servers'.
	serial hypervisor.Ports
	// writeConfigDrive writes a config drive; nil is configdrive.Write (tests put a stand-in here).
	writeConfigDrive func(path string, c configdrive.Content) error
	// mkfs formats ephemeral and swap disks ([DEFAULT] default_ephemeral_format, virt_mkfs); nil formats with
	// Nova's defaults.
	mkfs *storage.Mkfs
	// imageInfo reads an image's record; nil reads it from Glance (tests put a stand-in here).
	imageInfo func(ctx context.Context, rc *rpc.RequestContext, imageID string) (imageMeta, error)
}

// guest identifies an instance's guest to the driver: instance uuid, domain name, instances_path/<uuid>. It is
// where every path and command line of an instance starts, so the uuid is checked here: "..", "a/b" or "" must
// never become instances_path's parent or a sibling.
func (e *engine) guest(uuid, name string) (hypervisor.Guest, error) {
	if err := checkInstanceUUID(uuid); err != nil {
		return hypervisor.Guest{}, err
	}
	g := hypervisor.Guest{UUID: uuid, Name: name, Dir: filepath.Join(e.instancesPath, uuid)}
	if err := g.Check(); err != nil {
		return hypervisor.Guest{}, err
	}
	return g, nil
}

// newEngine builds the engine compute_driver names, from nova.conf; log receives what the engine decides on its own
// (the QEMU driver leaving a KVM that kills guests).
func newEngine(cfg *conf.Config, log *slog.Logger) (*engine, error) {
	d := cfg.Default
	e := &engine{instancesPath: d.InstancesPath, vnc: hypervisor.Ports{Kind: "VNC"},
		serial: hypervisor.Ports{Kind: "serial console"}}
	cacheDir := cfg.ImageCache.SubdirectoryName
	if cacheDir == "" {
		cacheDir = "_base"
	}
	if !filepath.IsAbs(cacheDir) {
		cacheDir = filepath.Join(d.InstancesPath, cacheDir)
	}
	es := engineConfig(cfg)
	switch es.name {
	case "bhyve":
		b := cfg.Bhyve
		if err := checkVMMDir(cfg); err != nil {
			return nil, err
		}
		bc := bhyve.Config{Bhyve: b.BhyvePath, Bhyvectl: b.BhyvectlPath, Bhyveload: b.BhyveloadPath,
			VMMDir: b.VMMDir, UEFIFirmware: b.UEFIFirmware, UEFIVarsTemplate: b.UEFIVarsTemplate, FwCfgQEMU: true}
		e.driver = bhyve.New(bc)
		opts := bhyve.DomainOptions(bc)
		e.domainOptions = func(context.Context) domain.Options { return opts }
	default:
		q := cfg.Qemu
		qc := qemu.DefaultConfig()
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&qc.Binary, q.QemuPath)
		accel, err := qemuAccel(cfg)
		if err != nil {
			return nil, err
		}
		set(&qc.Accel, accel)
		qc.Logger = log
		set(&qc.Machine, q.MachineType)
		set(&qc.User, q.User)
		qc.Sandbox = q.Sandbox
		set(&qc.OVMFCode, q.UEFIFirmware)
		set(&qc.OVMFVars, q.UEFIVarsTemplate)
		drv, err := qemu.New(qc)
		if err != nil {
			return nil, err
		}
		e.driver = drv
		// Asked at each build: the driver may have left KVM for TCG since, and the domain type follows it.
		e.domainOptions = drv.DomainOptions
		if p, err := exec.LookPath(orDefault(q.QemuImgPath, "qemu-img")); err == nil {
			e.qemuImg = p
		}
	}
	var err error
	if e.mkfs, err = newMkfs(cfg); err != nil {
		return nil, err
	}
	if es.zfsPool != "" {
		e.storage, err = storage.NewZFS(es.zfsPool + "/" + es.zfsPrefix)
	} else {
		e.storage, err = storage.NewFile(filepath.Join(d.InstancesPath, "_images"), d.InstancesPath, storage.CopyAuto)
	}
	if err != nil {
		return nil, err
	}
	ic := cfg.ImageCache
	cache, err := images.NewCache(images.CacheOptions{Dir: cacheDir, RemoveUnused: ic.RemoveUnusedBaseImages,
		OriginalMinAge: time.Duration(ic.RemoveUnusedOriginalMinimumAgeSeconds) * time.Second,
		ResizedMinAge:  time.Duration(ic.RemoveUnusedResizedMinimumAgeSeconds) * time.Second})
	if err != nil {
		return nil, err
	}
	e.cache = cache
	g := cfg.Glance
	gopts := images.GlanceOptions{EndpointOverride: g.EndpointOverride, ServiceType: g.ServiceType,
		ServiceName: g.ServiceName, RegionName: g.RegionName, ValidInterfaces: g.ValidInterfaces,
		CAFile: g.CAFile, CertFile: g.CertFile, KeyFile: g.KeyFile, Insecure: g.Insecure, NumRetries: g.NumRetries,
		UserAgent: "novabsd"}
	if g.Timeout != nil {
		gopts.Timeout = seconds(*g.Timeout)
	}
	gl, err := images.NewGlance(gopts)
	if err != nil {
		return nil, err
	}
	e.glance = func(rc *rpc.RequestContext) (*images.Client, error) {
		return gl.Client(images.Auth{Token: rc.AuthToken, GlobalRequestID: globalRequestID(rc),
			ServiceCatalog: rc.ServiceCatalog})
	}
	e.fetch = func(ctx context.Context, rc *rpc.RequestContext, imageID string) (string, error) {
		c, err := e.glance(rc)
		if err != nil {
			return "", err
		}
		return cache.Fetch(ctx, imageID, c)
	}
	return e, nil
}

// engineSettings is what nova.conf says about the engine beyond its driver's own options, each read from that
// engine's group ([bhyve] or [qemu]).
type engineSettings struct {
	name      string // "bhyve" or "qemu": the driver compute_driver names
	zfsPool   string // pool of the instance disks; "" for file storage
	zfsPrefix string // dataset beneath zfsPool
	vncListen string // address guests' VNC servers listen on
	vncMin    int    // VNC port range
	vncMax    int
}

// engineConfig is the one place the engine's name chooses configuration: which group's storage backend and VNC
// range apply. The QEMU engine has no VNC range options; it takes QEMU's own display range, 5900-5999.
func engineConfig(cfg *conf.Config) engineSettings {
	es := engineSettings{name: engineName(cfg), vncListen: orDefault(cfg.VNC.ServerListen, "127.0.0.1"),
		vncMin: 5900, vncMax: 5999}
	backend, pool, prefix := cfg.Qemu.StorageBackend, cfg.Qemu.ZFSPool, cfg.Qemu.ZFSDatasetPrefix
	if es.name == "bhyve" {
		b := cfg.Bhyve
		backend, pool, prefix = b.StorageBackend, b.ZFSPool, b.ZFSDatasetPrefix
		es.vncListen, es.vncMin, es.vncMax = orDefault(b.VNCListen, es.vncListen), b.VNCPortMin, b.VNCPortMax
	}
	if backend == "zfs" {
		es.zfsPool, es.zfsPrefix = pool, prefix
	}
	return es
}

// engineCaps is what the engine can do on this host; zero before initHost has built the engine.
func (s *Service) engineCaps() hypervisor.Capabilities {
	if s.lc == nil || s.lc.eng == nil || s.lc.eng.driver == nil {
		return hypervisor.Capabilities{}
	}
	return s.lc.eng.driver.Capabilities()
}

// capabilityTraits are the COMPUTE_* traits the engine earns: COMPUTE_NET_ATTACH_INTERFACE with NIC hot-plug (the
// libvirt driver's supports_attach_interface); tagged attach is refused, so never the _WITH_TAG trait.
func capabilityTraits(c hypervisor.Capabilities) placement.Capabilities {
	return placement.Capabilities{ImageTypes: imageTypes(c), MigrateToSameHost: false, AttachInterface: c.NICHotplug}
}

// deviceTraits are the device traits the engine earns from the values it accepts (never from its name): a
// COMPUTE_STORAGE_BUS_* per disk or CD-ROM bus, COMPUTE_NET_VIF_MODEL_* per NIC model, COMPUTE_GRAPHICS_MODEL_* per
// video model, and novabsd's own NVMe trait; the rest of each family is false, and so are the sound, TPM and vIOMMU
// families, which hypervisor/domain refuses for every engine. COMPUTE_SECURITY_UEFI_SECURE_BOOT stays false through
// capabilityTraits, for the same reason.
func deviceTraits(c hypervisor.Capabilities) map[string]bool {
	v := c.Values
	return placement.DeviceTraits(placement.DeviceModels{
		StorageBuses: slices.Concat(v.DiskBus, v.CDROMBus),
		VIFModels:    v.VIFModel,
		VideoModels:  v.VideoModel,
	})
}

// imageTypes are the Glance disk formats this host boots (COMPUTE_IMAGE_TYPE_*), from what the engine opens: every
// disk the storage backend makes is storage.DiskFormat, imported from any of storage.ImageFormats, so an engine that
// opens that format boots all of them; an iso image is attached as a CD-ROM, so it needs a CD-ROM bus too.
func imageTypes(c hypervisor.Capabilities) []string {
	if !slices.Contains(c.Values.DiskFormat, storage.DiskFormat) {
		return nil
	}
	types := slices.Clone(storage.ImageFormats)
	if len(c.Values.CDROMBus) > 0 {
		types = append(types, "iso")
	}
	return types
}

// qemuAccel is the QEMU accelerator nova.conf asks for: [qemu] accel when a file sets it; else, when a file sets
// it, the [libvirt] virt_type a host moving from Nova's libvirt driver carries (qemu means tcg, kvm means kvm); else
// [qemu] accel's default, auto. Nova's own virt_type default (kvm) is nobody's choice, so it leaves auto, which
// uses KVM only where it really runs guests.
func qemuAccel(cfg *conf.Config) (string, error) {
	if _, set := cfg.Where("qemu", "accel"); set {
		return cfg.Qemu.Accel, nil
	}
	loc, set := cfg.Where("libvirt", "virt_type")
	if !set {
		return cfg.Qemu.Accel, nil
	}
	switch cfg.Libvirt.VirtType {
	case "qemu":
		return qemu.AccelTCG, nil
	case "kvm":
		return qemu.AccelKVM, nil
	}
	return "", &conf.Error{File: loc.File, Line: loc.Line, Group: "libvirt", Option: "virt_type",
		Reason: fmt.Sprintf("%q has no QEMU accelerator: use kvm or qemu, or set [qemu] accel", cfg.Libvirt.VirtType)}
}

// checkVMMDir refuses a [bhyve] vmm_dir that is not absolute: the driver joins VM names to it to find and destroy
// kernel VMs, and a relative one would name a directory under whatever the service's working directory is.
func checkVMMDir(cfg *conf.Config) error {
	dir := cfg.Bhyve.VMMDir
	if filepath.IsAbs(dir) {
		return nil
	}
	loc, _ := cfg.Where("bhyve", "vmm_dir")
	return &conf.Error{File: loc.File, Line: loc.Line, Group: "bhyve", Option: "vmm_dir",
		Reason: fmt.Sprintf("%q is not an absolute path", dir)}
}

func globalRequestID(rc *rpc.RequestContext) string {
	if rc.GlobalRequestID != "" {
		return rc.GlobalRequestID
	}
	return rc.RequestID
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// guestVNCPort reads the VNC port recorded in the guest's domain file (0 when it has no VNC).
func guestVNCPort(g hypervisor.Guest) (int, string, error) {
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return 0, "", err
	}
	if dom.Devices != nil {
		for _, gr := range dom.Devices.Graphics {
			if gr.VNC != nil && gr.VNC.Port > 0 {
				return gr.VNC.Port, gr.VNC.Listen, nil
			}
		}
	}
	return 0, "", nil
}
