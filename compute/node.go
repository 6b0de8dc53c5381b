package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor/host"
	"github.com/novabsd/novabsd/placement"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// The object trees our conductor calls ask to be backported to (obj_tree_get_versions of the top object).
var (
	serviceManifest     = []string{"Service", "ComputeNode", "HVSpec", "PciDevicePoolList", "PciDevicePool"}
	computeNodeManifest = []string{"ComputeNode", "HVSpec", "PciDevicePoolList", "PciDevicePool"}
	nodeListManifest    = append([]string{"ComputeNodeList"}, computeNodeManifest...)
)

// nodeIdentity finds this host's compute node uuid with Nova's rules (nova/virt/node.py and
// ComputeManager._ensure_existing_node_identity): the compute_id file wins; a service that already ran with node
// identity must have it; a service upgraded from before identity adopts its one node; a new host generates one.
func (s *Service) nodeIdentity(ctx context.Context, cfg *conf.Config, svc *vo.Object) (string, error) {
	dirs := NodeIDLocations(s.opts.ConfigFiles, cfg.Default.StatePath)
	id, err := ReadNodeID(dirs)
	if err != nil || id != "" {
		if id != "" {
			s.log.Info("Determined node identity", "node_uuid", id)
		}
		return id, err
	}
	if svc == nil {
		// A new host: nothing in the cloud knows it yet. Packages usually create state_path; a host set up by
		// hand may not have it, and the identity must be written somewhere that lasts.
		if err := os.MkdirAll(cfg.Default.StatePath, 0o755); err != nil {
			return "", &StartupError{fmt.Sprintf("state_path %s: %v", cfg.Default.StatePath, err)}
		}
		id, _, err := LocalNodeID(dirs, cfg.Default.StatePath, s.log)
		return id, err
	}
	version, err := asServiceRecord(svc).Version()
	if err != nil {
		return "", err
	}
	if version >= nodeIdentityVersion {
		return "", &StartupError{fmt.Sprintf("no local node identity found in %s, but this host's service record "+
			"(version %d) was created with one; refusing to start to avoid creating a second compute node. "+
			"Restore %s or write the node's uuid there", joinDirs(dirs), version, NodeIDFile)}
	}
	rc := rpc.AdminContext()
	nodes, err := s.nodesByHost(ctx, &rc, cfg.Default.Host)
	if err != nil {
		return "", err
	}
	switch len(nodes) {
	case 0:
		return "", &StartupError{"no compute node record found for host " + cfg.Default.Host + " to take the identity from"}
	case 1:
		id, err := asComputeNode(nodes[0]).UUID()
		if err != nil {
			return "", err
		}
		if err := WriteNodeID(cfg.Default.StatePath, id); err != nil {
			return "", err
		}
		s.log.Info("Adopted the existing compute node's identity", "node_uuid", id)
		return id, nil
	default:
		return "", &StartupError{fmt.Sprintf("host %s has %d compute node records; write the right uuid to %s",
			cfg.Default.Host, len(nodes), NodeIDFile)}
	}
}

func joinDirs(dirs []string) string {
	b, _ := json.Marshal(dirs)
	return string(b)
}

func (s *Service) nodesByHost(ctx context.Context, rc *rpc.RequestContext, hostName string) ([]*vo.Object, error) {
	raw, err := s.cond.classAction(ctx, rc, "ComputeNodeList", "get_all_by_host", nodeListManifest, []any{hostName}, nil)
	if err != nil {
		var re *rpc.RemoteError
		if errors.As(err, &re) && re.Class == "ComputeHostNotFound" {
			return nil, nil
		}
		return nil, err
	}
	return objectList(raw)
}

// checkExistingNode refuses a node record of this uuid that belongs to another host name or hypervisor host
// name: Nova treats both as a rename it cannot follow safely.
func (s *Service) checkExistingNode(ctx context.Context, cfg *conf.Config) error {
	rc := rpc.AdminContext()
	raw, err := s.cond.classAction(ctx, &rc, "ComputeNodeList", "get_all_by_uuids", nodeListManifest,
		[]any{[]string{s.nodeUUID}}, nil)
	if err != nil {
		return err
	}
	nodes, err := objectList(raw)
	if err != nil {
		return err
	}
	hostname := hypervisorHostname(cfg)
	for _, n := range nodes {
		hn, err := asComputeNode(n).HypervisorHostname()
		if err != nil {
			return err
		}
		if hn != hostname {
			return &StartupError{fmt.Sprintf("compute node %s has hypervisor hostname %q but this host is %q: "+
				"possible rename detected, refusing to start", s.nodeUUID, hn, hostname)}
		}
		h, err := asComputeNode(n).Host()
		if err != nil {
			return err
		}
		if h != cfg.Default.Host {
			return &StartupError{fmt.Sprintf("compute node %s belongs to host %q, not %q: possible rename detected, "+
				"refusing to start", s.nodeUUID, h, cfg.Default.Host)}
		}
	}
	return nil
}

// hypervisorHostname names the compute node and its Placement provider. It is [DEFAULT] host, whose default is
// the machine's host name (what libvirt reports), so a production host is named as under the Python service,
// while several test computes can share one machine without their providers' names colliding.
func hypervisorHostname(cfg *conf.Config) string { return cfg.Default.Host }

// resources is what the host offers, as the audit reports it.
type resources struct {
	host *host.Host
	disk host.Disk
	usb  []host.USBDevice // read only when [novabsd] usb_device_spec offers some (usb.go)
}

// discoverHost is the whole host discovery (CPU, topology, the hypervisor's version: files, sysctls and a
// subprocess); refreshHost re-reads only what changes while the host runs. Variables so tests can count calls.
var (
	discoverHost = host.Discover
	refreshHost  = host.Refresh
	readLoad     = host.ReadLoad
)

// discover is the audit's view of the host. The whole discovery runs once, at the first audit; later audits
// refresh only the values that change (memory, uptime) on that cached copy, and read the disk.
func (s *Service) discover(cfg *conf.Config) (*resources, error) {
	h, err := s.hostFacts()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Default.InstancesPath, 0o755); err != nil {
		return nil, fmt.Errorf("instances_path: %w", err)
	}
	var d host.Disk
	if pool := s.zfsPool(cfg); pool != "" {
		d, err = host.DiscoverZFSPool(pool)
	} else {
		d, err = host.DiscoverDisk(cfg.Default.InstancesPath)
	}
	if err != nil {
		return nil, err
	}
	usb, err := s.usbDevices(cfg)
	if err != nil {
		return nil, err
	}
	return &resources{host: h, disk: d, usb: usb}, nil
}

// auditCache is what the audit keeps between runs, under auditMu.
type auditCache struct {
	host *host.Host // the whole discovery, done once: CPU, topology and hypervisor version do not change
	last *resources // the last audit's view of the host
}

// auditedResources is the last audit's view of the host, for the handlers that report it again between audits
// (set_host_enabled); only when no audit has run yet is the host read now. Called under auditMu.
func (s *Service) auditedResources(cfg *conf.Config) (*resources, error) {
	if s.audit.last != nil {
		return s.audit.last, nil
	}
	return s.discover(cfg)
}

// hostFacts returns a fresh copy of the cached host with its changing values re-read, discovering the host
// the first time. Called under auditMu, which also guards the cache.
func (s *Service) hostFacts() (*host.Host, error) {
	if s.audit.host == nil {
		h, err := discoverHost()
		if err != nil {
			return nil, fmt.Errorf("host discovery: %w", err)
		}
		s.audit.host = h
		c := *h
		return &c, nil
	}
	c := *s.audit.host
	if err := refreshHost(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// zfsPool is the pool instance disks live on, or "" for file storage.
func (s *Service) zfsPool(cfg *conf.Config) string {
	return engineConfig(cfg).zfsPool
}

// updateAvailableResource is the resource audit (ResourceTracker.update_available_resource): find or create the
// ComputeNode, bring Placement in line (before the node is saved, as since 2025.1), then save what changed.
func (s *Service) updateAvailableResource(ctx context.Context, startup bool) error {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	cfg := s.cfg.Load()
	res, err := s.discover(cfg)
	if err != nil {
		if startup {
			return &StartupError{err.Error()}
		}
		return err
	}
	s.audit.last = res
	rc := rpc.AdminContext()
	node, created, err := s.computeNode(ctx, &rc, cfg, res)
	if err != nil {
		return err
	}
	disabled := s.serviceDisabled()
	if err := s.syncPlacement(ctx, cfg, res, &disabled); err != nil {
		return err
	}
	if !created && len(node.Changes) > 0 {
		if _, err := s.cond.objectAction(ctx, &rc, node, "save", nil, nil); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.node = node
	s.mu.Unlock()
	return nil
}

func (s *Service) serviceDisabled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// An undecodable disabled reads as enabled, as before: the record is the conductor's and was read at start.
	disabled, _ := asServiceRecord(s.serviceRef).Disabled()
	return disabled
}

// computeNode returns our ComputeNode with the audit's values set (changes recorded), creating it on first run.
func (s *Service) computeNode(ctx context.Context, rc *rpc.RequestContext, cfg *conf.Config, res *resources) (*vo.Object, bool, error) {
	s.mu.Lock()
	node, svc := s.node, asServiceRecord(s.serviceRef)
	s.mu.Unlock()
	// ensureServiceRecord ran first, so the row has an id; should it not, the node gets no service (None)
	// rather than service 0, which names no row.
	svcID, hasSvc, err := svc.ID()
	if err != nil {
		return nil, false, err
	}
	var svcValue any
	if hasSvc {
		svcValue = svcID
	}
	if node == nil {
		deleted := *rc
		deleted.ReadDeleted = "yes"
		var err error
		node, err = s.cond.classObject(ctx, &deleted, "ComputeNode", "get_by_uuid", computeNodeManifest,
			[]any{s.nodeUUID}, nil)
		if err != nil {
			var re *rpc.RemoteError
			if !errors.As(err, &re) || re.Class != "ComputeHostNotFound" {
				return nil, false, err
			}
			node = nil
		}
	}
	values, err := s.nodeValues(cfg, res)
	if err != nil {
		return nil, false, err
	}
	if node == nil {
		node = vo.New("ComputeNode", s.release.ObjectVersion("ComputeNode"))
		values["uuid"] = s.nodeUUID
		values["host"] = cfg.Default.Host
		values["service_id"] = svcValue
		values["cpu_allocation_ratio"] = ratio(cfg.Default.CPUAllocationRatio, cfg.Default.InitialCPUAllocationRatio)
		values["ram_allocation_ratio"] = ratio(cfg.Default.RAMAllocationRatio, cfg.Default.InitialRAMAllocationRatio)
		values["disk_allocation_ratio"] = ratio(cfg.Default.DiskAllocationRatio, cfg.Default.InitialDiskAllocationRatio)
		if err := setAll(node, values); err != nil {
			return nil, false, err
		}
		if _, err := s.cond.objectAction(ctx, rc, node, "create", nil, nil); err != nil {
			var re *rpc.RemoteError
			if errors.As(err, &re) && re.Class == "DuplicateRecord" {
				return nil, false, &StartupError{"compute node " + s.nodeUUID + " already exists in another cell or " +
					"under another service: " + re.Message}
			}
			return nil, false, err
		}
		s.log.Info("Created the compute node record", "node_uuid", s.nodeUUID, "hypervisor_hostname", values["hypervisor_hostname"])
		return node, true, nil
	}
	deleted, err := asComputeNode(node).Deleted()
	if err != nil {
		return nil, false, err
	}
	if deleted {
		values["deleted"] = false
		values["deleted_at"] = nil
		s.log.Info("Restoring the soft-deleted compute node record", "node_uuid", s.nodeUUID)
	}
	cn := asComputeNode(node)
	host, err := cn.Host()
	if err != nil {
		return nil, false, err
	}
	if host != cfg.Default.Host {
		values["host"] = cfg.Default.Host
	}
	nodeSvc, nodeHasSvc, err := cn.ServiceID()
	if err != nil {
		return nil, false, err
	}
	if nodeSvc != svcID || nodeHasSvc != hasSvc {
		values["service_id"] = svcValue
	}
	// Ratios are only overwritten by explicitly configured values (ResourceTracker._copy_resources).
	for name, v := range map[string]*float64{"cpu_allocation_ratio": cfg.Default.CPUAllocationRatio,
		"ram_allocation_ratio": cfg.Default.RAMAllocationRatio, "disk_allocation_ratio": cfg.Default.DiskAllocationRatio} {
		if v != nil && *v != 0 {
			values[name] = *v
		}
	}
	return node, false, setChanged(node, values)
}

func ratio(configured *float64, initial float64) float64 {
	if configured != nil && *configured != 0 {
		return *configured
	}
	return initial
}

// nodeValues are the ComputeNode fields the audit owns (update_from_virt_driver plus the usage the resource
// tracker computes from this host's instances).
func (s *Service) nodeValues(cfg *conf.Config, res *resources) (map[string]any, error) {
	h := res.host
	cpuInfo, err := host.CPUInfoJSON(h)
	if err != nil {
		return nil, err
	}
	hostname := hypervisorHostname(cfg)
	d := cfg.Default
	usage := s.usage()
	memUsed := int64(d.ReservedHostMemoryMB) + usage.memoryMB
	// _update_usage: reserved_host_disk_mb / 1024 plus each instance's root_gb + ephemeral_gb + swap / 1024, summed
	// as floats and truncated when saved (an IntegerField).
	diskUsed := (int64(d.ReservedHostDiskMB) + usage.diskMB) / 1024
	hvType := s.engineCaps().HypervisorType
	hvSpec := vo.New("HVSpec", s.release.ObjectVersion("HVSpec"))
	// HVSpec carries the canonical (lower-case) spelling, as nova's HVType.canonicalize makes it.
	if err := setAll(hvSpec, map[string]any{"arch": h.Arch, "hv_type": strings.ToLower(hvType), "vm_mode": "hvm"}); err != nil {
		return nil, err
	}
	pools, err := vo.NewList("PciDevicePoolList", s.release.ObjectVersion("PciDevicePoolList"), nil)
	if err != nil {
		return nil, err
	}
	stats := map[string]string{"failed_builds": strconv.Itoa(usage.failedBuilds), "uptime": uptimeString(h.Uptime)}
	for k, v := range usage.stats {
		stats[k] = v
	}
	return map[string]any{
		"vcpus":                h.VCPUs,
		"memory_mb":            h.MemoryMB,
		"local_gb":             res.disk.TotalGB(),
		"vcpus_used":           int64(d.ReservedHostCPUs) + usage.vcpus,
		"memory_mb_used":       memUsed,
		"local_gb_used":        diskUsed,
		"free_ram_mb":          h.MemoryMB - memUsed,
		"free_disk_gb":         int64(res.disk.TotalGB()) - diskUsed,
		"current_workload":     usage.workload,
		"running_vms":          usage.running,
		"hypervisor_type":      hvType,
		"hypervisor_version":   h.HypervisorVersion,
		"hypervisor_hostname":  hostname,
		"cpu_info":             cpuInfo,
		"disk_available_least": res.disk.FreeGB(),
		"host_ip":              d.MyIP,
		"supported_hv_specs":   []*vo.Object{hvSpec},
		"pci_device_pools":     pools,
		"metrics":              "[]",
		"stats":                stats,
		"numa_topology":        nil,
	}, nil
}

// usage sums what this host's instances take; the instance lifecycle fills it.
type usageTotals struct {
	vcpus, memoryMB   int64
	diskMB            int64 // root, ephemeral and swap of every instance
	running, workload int
	failedBuilds      int
	stats             map[string]string
}

func (s *Service) usage() usageTotals {
	if s.lc == nil {
		return usageTotals{stats: map[string]string{"num_instances": "0"}}
	}
	u := s.lc.tracker.totals()
	u.failedBuilds = int(s.lc.failedBuilds.Load())
	return u
}

// uptimeOutput is what nova's libvirt driver answers get_host_uptime with: the output of `env LANG=C uptime`
// (procps 4.0.7, Debian forky's, where nova 2026.1 runs), e.g. " 13:45:01 up 2 days,  3:04,  1 user,  load average: 0.00, 0.01, 0.05\n", built from the
// same sources uptime reads rather than by running it.
func uptimeOutput(now time.Time, l host.Load) string {
	b := make([]byte, 0, 80)
	b = fmt.Appendf(b, " %02d:%02d:%02d up ", now.Hour(), now.Minute(), now.Second())
	secs := int64(l.Uptime / time.Second)
	days, hours, mins := secs/86400, secs/3600%24, secs/60%60
	if days > 0 {
		unit := "day"
		if days > 1 {
			unit = "days"
		}
		b = fmt.Appendf(b, "%d %s, ", days, unit)
	}
	if hours > 0 {
		b = fmt.Appendf(b, "%2d:%02d, ", hours, mins)
	} else {
		b = fmt.Appendf(b, "%d min, ", mins)
	}
	switch {
	case l.Users < 0:
		b = append(b, "? users, "...)
	case l.Users == 1:
		b = append(b, " 1 user, "...)
	default:
		b = fmt.Appendf(b, "%2d users, ", l.Users)
	}
	b = fmt.Appendf(b, " load average: %.2f, %.2f, %.2f\n", l.Averages[0], l.Averages[1], l.Averages[2])
	return string(b)
}

// uptimeString renders uptime as the hypervisor API shows it (the "up" part of uptime(1)).
func uptimeString(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	days := int(d.Hours()) / 24
	hm := fmt.Sprintf("%d:%02d", int(d.Hours())%24, int(d.Minutes())%60)
	now := time.Now().Format("15:04:05")
	if days > 0 {
		return fmt.Sprintf(" %s up %d days, %s", now, days, hm)
	}
	return fmt.Sprintf(" %s up %s", now, hm)
}

// syncPlacement brings the node's resource provider in line with the host. disabled nil leaves
// COMPUTE_STATUS_DISABLED as it is.
func (s *Service) syncPlacement(ctx context.Context, cfg *conf.Config, res *resources, disabled *bool) error {
	pc, err := s.placementClient(ctx, cfg)
	if err != nil {
		return err
	}
	req := s.syncRequest(cfg, res, disabled)
	children, usb := s.usbChildren(req.Name, res.usb)
	req.Children = children
	r, err := pc.Sync(ctx, req)
	if err != nil {
		return fmt.Errorf("syncing the node's resource provider: %w", err)
	}
	s.offerUSB(usb, r)
	if u := strings.Join(r.UnknownTraits, ","); u != s.unknownTraits {
		s.unknownTraits = u
		if u != "" {
			s.log.Warn("Placement does not know some of the host's traits (its os-traits is older); they are not reported",
				"traits", u)
		}
	}
	return nil
}

// syncRequest is what the audit tells Placement: the host's resources and traits, and the operator's provider
// configs, which Sync merges in (creating their custom resource classes and traits) on every update, with
// OWNER_NOVA where the release wants it.
func (s *Service) syncRequest(cfg *conf.Config, res *resources, disabled *bool) placement.SyncRequest {
	h := res.host
	caps := s.engineCaps()
	return placement.SyncRequest{
		UUID: s.nodeUUID, Name: hypervisorHostname(cfg),
		Resources: placement.HostResources{VCPUs: int64(h.VCPUs), MemoryMB: h.MemoryMB, DiskGB: int64(res.disk.TotalGB())},
		Config:    resourceConfig(cfg),
		Traits: placement.TraitInputs{
			Capabilities: capabilityTraits(caps), ImageTypeExcludeList: cfg.Compute.ImageTypeExcludeList,
			Arch: h.Arch, CPUFeatures: h.CPU.Features, Hyperthreading: h.CPU.Topology.Threads > 1,
			DriverTraits: deviceTraits(caps), ServiceDisabled: disabled, OwnerNova: s.release.OwnerNovaTrait,
		},
		ProviderConfigs: s.providerConfigs,
	}
}

// placementClient authenticates on first use and keeps the client; a Placement or Keystone outage at start
// only delays the first sync.
func (s *Service) placementClient(ctx context.Context, cfg *conf.Config) (*placement.Client, error) {
	s.mu.Lock()
	pc := s.placement
	s.mu.Unlock()
	if pc != nil {
		return pc, nil
	}
	pc, err := placement.New(ctx, placementOptions(cfg, "novabsd/"+s.opts.Version))
	if err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	s.mu.Lock()
	s.placement = pc
	s.mu.Unlock()
	return pc, nil
}

// engineName is the hypervisor this service drives: compute_driver names it ("bhyve", "qemu"; Nova's libvirt
// driver maps to qemu), else the host's native one.
func engineName(cfg *conf.Config) string {
	switch cfg.Default.ComputeDriver {
	case "bhyve", "novabsd.bhyve":
		return "bhyve"
	case "qemu", "novabsd.qemu", "libvirt.LibvirtDriver":
		return "qemu"
	}
	if nativeEngine == "bhyve" {
		return "bhyve"
	}
	return "qemu"
}

func setAll(o *vo.Object, values map[string]any) error {
	for k, v := range values {
		if err := o.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

// setChanged sets only the fields whose JSON differs, so the save carries precise changes.
func setChanged(o *vo.Object, values map[string]any) error {
	for k, v := range values {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", o.Name, k, err)
		}
		if old, ok := o.Data[k]; ok && jsonEqual(old, raw) {
			continue
		}
		if err := o.Set(k, json.RawMessage(raw)); err != nil {
			return err
		}
	}
	return nil
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func objectList(raw json.RawMessage) ([]*vo.Object, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var list vo.Object
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return list.Objects()
}

func jsonUnmarshal(raw json.RawMessage, v any) error { return json.Unmarshal(raw, v) }
