// Package domain builds the libvirt domain for a guest from the neutral
// hypervisor.Spec plus the image properties and flavor extra specs, the way
// Nova's libvirt driver reads them. Which values are accepted comes from the
// target driver's Options, so a value valid for QEMU (hw_disk_bus=scsi) is
// refused for bhyve with an error naming the property and the allowed
// values.
package domain

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
	"libvirt.org/go/libvirtxml"
)

// Props carries Nova's image properties (hw_disk_bus, ...) and flavor extra
// specs (hw:cpu_sockets, ...) as plain strings.
type Props struct {
	Image map[string]string
	Extra map[string]string
}

// Options describes the target driver: its domain type, accepted values and
// defaults. Drivers export a function returning theirs.
type Options struct {
	Driver    string               // driver name used in errors, e.g. "bhyve"
	Type      string               // libvirt domain type: "bhyve", "kvm", "qemu"
	Supported hypervisor.Supported // accepted values per property
	// Arch is the guest arch when the Spec gives none (the host's).
	Arch string
	// AllowThreads lets the topology use more than one thread per core.
	AllowThreads bool

	DefaultDiskBus    string // disk bus when novabsd_disk_bus and hw_disk_bus are unset
	DefaultCDROMBus   string // hw_cdrom_bus when unset
	DefaultVIFModel   string // hw_vif_model when unset
	DefaultVideoModel string // hw_video_model when unset and VNC is on
	// DefaultFirmware returns hw_firmware_type when the image sets none;
	// nil means "bios".
	DefaultFirmware func(image map[string]string) string
	// GraphicsNeedUEFI drops VNC and the tablet for BIOS guests, which
	// cannot drive them (bhyve's fbuf and xhci need its UEFI bootrom).
	GraphicsNeedUEFI bool

	LoaderPath    string // default UEFI code file when the Spec gives none
	NVRAMTemplate string // UEFI vars template copied per guest
	Console       string // "nmdm" (bhyve) or "pty" (qemu)
	RNGBackend    string // host entropy device for <rng>
	USBController string // controller model for the tablet: "nec-xhci", "qemu-xhci"
	DiskDriver    string // <disk><driver name=...>, as libvirt writes it ("qemu"); "" leaves it out
}

// Build returns the libvirt domain for spec. Every image property and extra
// spec it reads is validated; the first bad one is returned as a
// *hypervisor.PropertyError.
func Build(spec hypervisor.Spec, p Props, o Options) (*libvirtxml.Domain, error) {
	if spec.Name == "" || spec.UUID == "" || spec.Dir == "" {
		return nil, fmt.Errorf("domain spec needs name, uuid and instance dir (got %q, %q, %q)", spec.Name, spec.UUID, spec.Dir)
	}
	// The uuid and name end up in paths (instance files, /dev/nmdm<uuid>A): one that is not a single safe file
	// name is refused before any is built.
	if err := (hypervisor.Guest{UUID: spec.UUID, Name: spec.Name, Dir: spec.Dir}).Check(); err != nil {
		var ge *hypervisor.GuestError
		if errors.As(err, &ge) {
			return nil, &hypervisor.PropertyError{Property: ge.Field, Value: ge.Value, Reason: ge.Why}
		}
		return nil, err
	}
	if spec.MemoryMB < 1 {
		return nil, &hypervisor.PropertyError{Property: "memory_mb", Value: fmt.Sprint(spec.MemoryMB), Reason: "must be at least 1"}
	}
	if max := o.Supported.MaxVCPUs; max > 0 && spec.VCPUs > max {
		return nil, &hypervisor.PropertyError{Property: "vcpus", Value: fmt.Sprint(spec.VCPUs), Driver: o.Driver, Reason: fmt.Sprintf("at most %d", max)}
	}
	b := &builder{spec: spec, p: p, o: o}
	steps := []func() error{b.base, b.unsupported, b.cpu, b.firmware, b.disks, b.nics, b.console, b.graphics, b.rng, b.passthrough}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return &b.dom, nil
}

type builder struct {
	spec hypervisor.Spec
	p    Props
	o    Options
	dom  libvirtxml.Domain
	arch string
	fw   string
}

func (b *builder) devs() *libvirtxml.DomainDeviceList { return b.dom.Devices }

// choose validates a property value against the driver's list, falling back
// to def when the property is unset.
func (b *builder) choose(prop, value, def string, allowed []string) (string, error) {
	if value == "" {
		value = def
	}
	if value == "" {
		return "", nil
	}
	if len(allowed) > 0 && !slices.Contains(allowed, value) {
		return "", &hypervisor.PropertyError{Property: prop, Value: value, Allowed: allowed, Driver: b.o.Driver}
	}
	return value, nil
}

func (b *builder) base() error {
	arch, err := b.choose("architecture", normArch(firstSet(b.spec.Arch, b.p.Image["hw_architecture"], b.p.Image["architecture"])), normArch(b.o.Arch), b.o.Supported.Arch)
	if err != nil {
		return err
	}
	b.arch = arch
	machine, err := b.choose("hw_machine_type", b.p.Image["hw_machine_type"], "", b.o.Supported.MachineType)
	if err != nil {
		return err
	}
	// With no list from the driver the value still reaches an engine's
	// command line: it must at least be a bare name, never "q35,kernel=...".
	if machine != "" && !machineName.MatchString(machine) {
		return &hypervisor.PropertyError{Property: "hw_machine_type", Value: machine, Driver: b.o.Driver,
			Reason: "must be a machine type name (letters, digits, '.', '_', '-')"}
	}
	clock := "utc"
	if b.p.Image["os_type"] == "windows" {
		clock = "localtime" // Windows keeps the RTC in local time, as Nova sets it
	}
	b.dom = libvirtxml.Domain{
		Type:       b.o.Type,
		Name:       b.spec.Name,
		UUID:       b.spec.UUID,
		Memory:     &libvirtxml.DomainMemory{Value: uint(b.spec.MemoryMB) * 1024, Unit: "KiB"},
		OS:         &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Arch: b.arch, Machine: machine, Type: "hvm"}},
		Clock:      &libvirtxml.DomainClock{Offset: clock},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices:    &libvirtxml.DomainDeviceList{},
		Metadata:   metadata(b.spec.Metadata),
	}
	if b.arch == "x86_64" || b.arch == "i686" {
		b.dom.Features = &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}}
	}
	return nil
}

var machineName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (b *builder) cpu() error {
	t, err := BestTopology(b.spec.VCPUs, b.p, b.o.AllowThreads)
	if err != nil {
		return err
	}
	b.dom.VCPU = &libvirtxml.DomainVCPU{Placement: "static", Value: uint(b.spec.VCPUs)}
	b.dom.CPU = &libvirtxml.DomainCPU{Topology: &libvirtxml.DomainCPUTopology{Sockets: t.Sockets, Cores: t.Cores, Threads: t.Threads}}
	return nil
}

func (b *builder) firmware() error {
	def := "bios"
	if b.o.DefaultFirmware != nil {
		def = b.o.DefaultFirmware(b.p.Image)
	}
	fw, err := b.choose("hw_firmware_type", b.p.Image["hw_firmware_type"], def, b.o.Supported.Firmware)
	if err != nil {
		return err
	}
	b.fw = fw
	if fw != "uefi" {
		return nil
	}
	loader := firstSet(b.spec.Loader, b.o.LoaderPath)
	if loader == "" {
		b.dom.OS.Firmware = "efi" // let the driver pick its firmware
	} else {
		b.dom.OS.Loader = &libvirtxml.DomainLoader{Path: loader, Readonly: "yes", Type: "pflash"}
	}
	b.dom.OS.NVRam = &libvirtxml.DomainNVRam{
		NVRam:    firstSet(b.spec.NVRAM, filepath.Join(b.spec.Dir, hypervisor.NVRAMFile)),
		Template: b.o.NVRAMTemplate,
	}
	return nil
}

func (b *builder) console() error {
	log := firstSet(b.spec.ConsoleLog, filepath.Join(b.spec.Dir, hypervisor.ConsoleLogFile))
	port := uint(0)
	var tcp *libvirtxml.DomainChardevSource
	if t := b.spec.SerialTCP; t != nil {
		if err := hypervisor.CheckListen(t.Listen, t.Port); err != nil {
			return &hypervisor.PropertyError{Property: "serial console listen", Value: net.JoinHostPort(t.Listen, strconv.Itoa(t.Port)), Reason: err.Error()}
		}
		// As nova's libvirt driver writes it: <source mode='bind' host=… service=…/>, raw (no telnet).
		tcp = &libvirtxml.DomainChardevSource{TCP: &libvirtxml.DomainChardevSourceTCP{
			Mode: "bind", Host: t.Listen, Service: strconv.Itoa(t.Port)}}
	}
	src, console := tcp, tcp
	switch b.o.Console {
	case "nmdm":
		// libvirt's bhyve driver names the pair after the uuid; bhyve
		// opens A, readers (the console logger, cu) use B. bhyve logs
		// nothing and its own tcp= backend (FreeBSD 15+) would leave the
		// log empty, so a TCP console stays on the nmdm pair: the
		// <console> names the listener the driver bridges B to.
		src = &libvirtxml.DomainChardevSource{NMDM: &libvirtxml.DomainChardevSourceNMDM{
			Master: "/dev/nmdm" + b.spec.UUID + "A", Slave: "/dev/nmdm" + b.spec.UUID + "B",
		}}
		if console == nil {
			console = src
		}
	default:
		if src == nil {
			src = &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}}
		}
		console = src
	}
	d := b.devs()
	d.Serials = append(d.Serials, libvirtxml.DomainSerial{
		Source: src,
		Target: &libvirtxml.DomainSerialTarget{Port: &port},
		Log:    &libvirtxml.DomainChardevLog{File: log, Append: "off"},
	})
	d.Consoles = append(d.Consoles, libvirtxml.DomainConsole{
		Source: console,
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
	})
	return nil
}

func (b *builder) rng() error {
	model, err := b.choose("hw_rng_model", b.p.Image["hw_rng_model"], "", b.o.Supported.RNGModel)
	if err != nil || model == "" {
		return err
	}
	// Nova adds the device only when the flavor allows it (default true).
	if v, ok := b.p.Extra["hw_rng:allowed"]; ok && !truthy(v) {
		return nil
	}
	b.devs().RNGs = append(b.devs().RNGs, libvirtxml.DomainRNG{
		Model:   model,
		Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: firstSet(b.o.RNGBackend, "/dev/urandom")}},
	})
	return nil
}

func metadata(m map[string]string) *libvirtxml.DomainMetadata {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var s strings.Builder
	s.WriteString(`<novabsd:instance xmlns:novabsd="https://github.com/novabsd/novabsd/xmlns/1">`)
	for _, k := range keys {
		fmt.Fprintf(&s, `<novabsd:entry name="%s">%s</novabsd:entry>`, xmlEscape(k), xmlEscape(m[k]))
	}
	s.WriteString(`</novabsd:instance>`)
	return &libvirtxml.DomainMetadata{XML: s.String()}
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

func firstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true
	}
	return false
}

// normArch maps Glance/FreeBSD spellings to libvirt's.
func normArch(a string) string {
	switch a {
	case "amd64", "x64", "x86-64":
		return "x86_64"
	case "arm64", "aarch64":
		return "aarch64"
	}
	return a
}
