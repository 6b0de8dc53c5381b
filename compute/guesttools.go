package compute

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// guestToolMethods: trigger_crash_dump, get_diagnostics, get_instance_diagnostics and cache_images.
func (s *Service) guestToolMethods() map[string]method {
	return map[string]method{
		"trigger_crash_dump":       {req("instance"), s.triggerCrashDump},
		"get_diagnostics":          {req("instance"), s.getDiagnostics},
		"get_instance_diagnostics": {req("instance"), s.getInstanceDiagnostics},
		"cache_images":             {req("image_ids"), s.cacheImages},
	}
}

// triggerCrashDump is trigger_crash_dump: an NMI to the guest, which a guest set up for it answers with a crash
// dump. Task and power state are left alone, as nova does (the outcome depends on the guest). A guest that is not
// running fails InstanceNotRunning, an engine without NMIs TriggerCrashDumpNotSupported, as libvirt's driver
// raises them; either is recorded as a fault.
func (s *Service) triggerCrashDump(ctx context.Context, args json.RawMessage) (any, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	inst := a.Instance
	return nil, s.run(ctx, requestContext(ctx), inst, op{event: "compute_trigger_crash_dump", fault: true}, func() error {
		nmi, err := hypervisor.AsNMIInjector(s.lc.eng.driver)
		if err != nil {
			return novaError("TriggerCrashDumpNotSupported", 400, "Triggering crash dump is not supported")
		}
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		err = nmi.InjectNMI(ctx, g)
		switch {
		case errors.Is(err, hypervisor.ErrInvalidState), errors.Is(err, hypervisor.ErrNotFound):
			return novaError("InstanceNotRunning", 400, "Instance %s is not running.", instanceUUID(inst))
		case errors.Is(err, hypervisor.ErrUnsupported):
			return novaError("TriggerCrashDumpNotSupported", 400, "Triggering crash dump is not supported")
		}
		return err
	})
}

// diagnose reads a running guest's counters for get_diagnostics / get_instance_diagnostics, with nova's checks:
// a guest whose power state is not RUNNING is InstanceInvalidState (naming the recorded power state, as nova
// does), an engine without counters NotImplementedError (the base driver's answer).
func (s *Service) diagnose(ctx context.Context, args json.RawMessage) (*vo.Object, hypervisor.Diagnostics, error) {
	var a instanceArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, hypervisor.Diagnostics{}, err
	}
	inst := a.Instance
	var d hypervisor.Diagnostics
	err := s.run(ctx, requestContext(ctx), inst, op{fault: true}, func() error {
		g, err := s.guestOf(inst)
		if err != nil {
			return err
		}
		if s.powerState(ctx, g) != powerRunning {
			return invalidPowerState(inst, "get_diagnostics")
		}
		dg, err := hypervisor.AsDiagnoser(s.lc.eng.driver)
		if err != nil {
			return translateEngineError(inst, err)
		}
		d, err = dg.Diagnostics(ctx, g)
		if errors.Is(err, hypervisor.ErrInvalidState) {
			return invalidPowerState(inst, "get_diagnostics") // stopped between the two reads
		}
		return translateEngineError(inst, err)
	})
	return inst, d, err
}

// powerStateNames is nova's power_state.STATE_MAP.
var powerStateNames = map[int64]string{powerNoState: "pending", powerRunning: "running", powerPaused: "paused",
	powerShutdown: "shutdown", powerCrashed: "crashed", powerSuspended: "suspended"}

func invalidPowerState(inst *vo.Object, method string) error {
	ps, _, _ := asInstance(inst).PowerState()
	return novaError("InstanceInvalidState", 409,
		"Instance %s in power state %s. Cannot %s while the instance is in this state.", instanceUUID(inst),
		powerStateNames[ps], method)
}

// getDiagnostics is get_diagnostics: the flat dict libvirt's driver returns. CPU times are nanoseconds, disks
// are keyed by target device and NICs by their host-side interface, memory is the guest's maximum in KiB.
// Counters the engine does not give are left out, as libvirt's driver leaves out what libvirt cannot read.
func (s *Service) getDiagnostics(ctx context.Context, args json.RawMessage) (any, error) {
	_, d, err := s.diagnose(ctx, args)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, c := range d.CPUs {
		if c.HasTime {
			out["cpu"+strconv.Itoa(c.ID)+"_time"] = c.Time.Nanoseconds()
		}
	}
	for _, k := range d.Disks {
		out[k.Target+"_read_req"] = k.ReadRequests
		out[k.Target+"_read"] = k.ReadBytes
		out[k.Target+"_write_req"] = k.WriteRequests
		out[k.Target+"_write"] = k.WriteBytes
		if k.HasErrors {
			out[k.Target+"_errors"] = k.Errors
		}
	}
	for _, n := range d.NICs {
		if n.Device == "" {
			continue
		}
		for suffix, v := range map[string]int64{"_rx": n.RxBytes, "_rx_packets": n.RxPackets, "_rx_errors": n.RxErrors,
			"_rx_drop": n.RxDrops, "_tx": n.TxBytes, "_tx_packets": n.TxPackets, "_tx_errors": n.TxErrors,
			"_tx_drop": n.TxDrops} {
			out[n.Device+suffix] = v
		}
	}
	if d.MemoryKB > 0 {
		out["memory"] = d.MemoryKB
	}
	return out, nil
}

// getInstanceDiagnostics is get_instance_diagnostics: nova's Diagnostics object as libvirt's driver fills it
// (driver "libvirt", the only value of the enum that fits a host speaking its protocol; uptime since
// launched_at). Every field nova sets is set, None where this host cannot tell, so that nova-api's view reads
// no unset field.
func (s *Service) getInstanceDiagnostics(ctx context.Context, args json.RawMessage) (any, error) {
	inst, d, err := s.diagnose(ctx, args)
	if err != nil {
		return nil, err
	}
	cfg := s.cfg.Load()
	hyper := strings.ToLower(s.lc.eng.driver.Capabilities().HypervisorType)
	cd, _ := optString(inst, "config_drive")
	img, _ := asInstance(inst).SystemMetadata()
	configDrive := cd != "" || img["image_img_config_drive"] == "mandatory" || cfg.Default.ForceConfigDrive
	var uptime any
	if la, _ := optString(inst, "launched_at"); la != "" {
		if t, err := vo.ParseISOTime(la); err == nil {
			uptime = int64(time.Since(t).Seconds())
		}
	}
	var cpus, disks, nics []*vo.Object
	for _, c := range d.CPUs {
		var t any
		if c.HasTime {
			t = c.Time.Nanoseconds()
		}
		cpus = append(cpus, newObject("CpuDiagnostics", map[string]any{"id": c.ID, "time": t, "utilisation": nil}))
	}
	for _, k := range d.Disks {
		var errs any
		if k.HasErrors {
			errs = k.Errors
		}
		disks = append(disks, newObject("DiskDiagnostics", map[string]any{"read_bytes": k.ReadBytes,
			"read_requests": k.ReadRequests, "write_bytes": k.WriteBytes, "write_requests": k.WriteRequests,
			"errors_count": errs}))
	}
	seen := map[string]bool{}
	for _, n := range d.NICs {
		seen[strings.ToLower(n.MAC)] = true
		nics = append(nics, newObject("NicDiagnostics", map[string]any{"mac_address": strings.ToLower(n.MAC),
			"rx_octets": n.RxBytes, "rx_errors": n.RxErrors, "rx_drop": n.RxDrops, "rx_packets": n.RxPackets,
			"rx_rate": nil, "tx_octets": n.TxBytes, "tx_errors": n.TxErrors, "tx_drop": n.TxDrops,
			"tx_packets": n.TxPackets, "tx_rate": nil}))
	}
	// A NIC without counters is still listed, by its MAC, as libvirt's driver lists an interface without a target.
	for _, mac := range s.domainMACs(inst) {
		if !seen[mac] {
			nics = append(nics, newObject("NicDiagnostics", map[string]any{"mac_address": mac, "rx_octets": nil,
				"rx_errors": nil, "rx_drop": nil, "rx_packets": nil, "rx_rate": nil, "tx_octets": nil,
				"tx_errors": nil, "tx_drop": nil, "tx_packets": nil, "tx_rate": nil}))
		}
	}
	var mem any
	if d.MemoryKB > 0 {
		mem = d.MemoryKB / 1024
	}
	// maximum and used are both the memory the guest was given (libvirt's info without a balloon driver), in
	// MiB as the API documents them.
	memory := newObject("MemoryDiagnostics", map[string]any{"maximum": mem, "used": mem})
	return newObject("Diagnostics", map[string]any{"state": "running", "driver": "libvirt", "hypervisor": hyper,
		"hypervisor_os": runtime.GOOS, "uptime": uptime, "config_drive": configDrive, "memory_details": memory,
		"cpu_details": emptyList(cpus), "nic_details": emptyList(nics), "disk_details": emptyList(disks),
		"num_cpus": len(cpus), "num_nics": len(nics), "num_disks": len(disks)}), nil
}

// domainMACs are the MACs of the guest's interfaces in its saved domain; none when it cannot be read.
func (s *Service) domainMACs(inst *vo.Object) []string {
	g, err := s.guestOf(inst)
	if err != nil {
		return nil
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil || dom.Devices == nil {
		return nil
	}
	var out []string
	for _, nic := range dom.Devices.Interfaces {
		if nic.MAC != nil && nic.MAC.Address != "" {
			out = append(out, strings.ToLower(nic.MAC.Address))
		}
	}
	return out
}

// newObject is a versioned object of this release with the given fields; the names and values are this file's
// own, so a failure to set one is a programming error the tests see.
func newObject(name string, fields map[string]any) *vo.Object {
	o := vo.New(name, "1.0")
	for k, v := range fields {
		if err := o.Set(k, v); err != nil {
			panic("compute: " + name + "." + k + ": " + err.Error())
		}
	}
	return o
}

func emptyList(l []*vo.Object) []*vo.Object {
	if l == nil {
		return []*vo.Object{}
	}
	return l
}

// cacheImagesArgs are cache_images's arguments.
type cacheImagesArgs struct {
	ImageIDs []string `json:"image_ids"`
}

// cacheImages is cache_images: each image is downloaded into the image cache, as libvirt's cache_image does,
// and answered "cached" when it was fetched now, "existing" when it was there already (its timestamp refreshed,
// so the cache manager keeps it), "error" when it could not be had. One after the other, as nova does.
func (s *Service) cacheImages(ctx context.Context, args json.RawMessage) (any, error) {
	var a cacheImagesArgs
	if err := rpc.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	rc := requestContext(ctx)
	s.log.Info("Caching images by request", "count", len(a.ImageIDs))
	out := make(map[string]string, len(a.ImageIDs))
	for _, id := range a.ImageIDs {
		existed := s.imageCached(id)
		if _, err := s.lc.eng.fetch(ctx, rc, id); err != nil {
			s.log.Error("Failed to cache image", "image", id, "error", err)
			out[id] = "error"
			continue
		}
		if existed {
			out[id] = "existing"
		} else {
			out[id] = "cached"
		}
	}
	return out, nil
}

// imageCached reports whether the image cache holds the image now (the cache names files by a hash of the id,
// so no id reaches a path).
func (s *Service) imageCached(id string) bool {
	c := s.lc.eng.cache
	if c == nil || id == "" {
		return false
	}
	fi, err := os.Stat(c.Path(id))
	return err == nil && fi.Mode().IsRegular()
}
