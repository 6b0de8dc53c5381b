package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/passthrough"
	"github.com/novabsd/novabsd/placement"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// Binary and topics of the service, as Nova names them.
const (
	Binary   = "nova-compute"
	Topic    = "compute"
	TopicAlt = "compute-alt" // RPC 6.5: operations already in progress finish here during a graceful stop
)

// nodeIdentityVersion is the service version from which Nova keeps the compute_id file (NODE_IDENTITY_VERSION).
const nodeIdentityVersion = 65

// Options are the parts of a Service that do not come from nova.conf.
type Options struct {
	ConfigFiles []string     // the --config-file paths, where compute_id is also looked for
	Logger      *slog.Logger // nil: slog.Default()
	Version     string       // novabsd's version, for logs and the Placement user agent
	// Ready, if set, is called once Run has joined the cloud and its RPC servers consume the compute topics (a
	// service manager's readiness, e.g. systemd's READY=1). It must not block.
	Ready func()
}

// Service is one nova-compute: it joins the cloud, serves the compute topics and keeps its records current.
type Service struct {
	opts Options
	log  *slog.Logger
	cfg  atomic.Pointer[conf.Config]

	// Set up by Run.
	release   Release
	transport *rpc.Transport
	cond      *conductor
	sched     *schedulerInfo // instance-info fanouts to the schedulers; nil sends none
	nodeUUID  string

	mu         sync.Mutex // guards the records below
	serviceRef *vo.Object // our Service row
	node       *vo.Object // our ComputeNode row
	placement  *placement.Client
	auditMu    sync.Mutex // one resource audit at a time (periodic, startup, set_host_enabled)
	// unknownTraits is the last set of host traits Placement did not know, as logged (under auditMu).
	unknownTraits string
	audit         auditCache // the host as discovered once and the last audit's resources (node.go), under auditMu
	lc            *lifecycle // instance lifecycle (lifecycle.go), set up by initHost

	// providerConfigs are [compute] provider_config_location's files, read once by New (nil: none).
	providerConfigs *placement.ProviderConfigs

	// usbSpecs are [novabsd] usb_device_spec, read once by New; usb is what the last audit offered (usb.go).
	usbSpecs []passthrough.USBSpec
	usb      usbOffer
}

// checkPCIConfig reads [pci] device_spec and alias as Nova would, so a wrong entry stops the service with its
// name rather than surfacing later. novabsd does not yet keep Nova's PCI device records (the pools the
// scheduler's PciPassthroughFilter reads), so no PCI device is offered: a flavor with pci_passthrough:alias is
// never scheduled here. An operator's device_spec is said to be unused, once, at start.
func checkPCIConfig(cfg *conf.Config, log *slog.Logger) error {
	specs, err := passthrough.ParsePCIDeviceSpecs(cfg.PCI.DeviceSpec)
	if err != nil {
		return &StartupError{"[pci] " + err.Error()}
	}
	if _, err := passthrough.ParsePCIAliases(cfg.PCI.Alias); err != nil {
		return &StartupError{"[pci] " + err.Error()}
	}
	if len(specs) > 0 || cfg.PCI.ReportInPlacement {
		log.Warn("PCI passthrough is not offered by novabsd yet: [pci] device_spec and report_in_placement are " +
			"checked but no device is reported, so flavors asking for PCI aliases are not scheduled onto this host")
	}
	return nil
}

// StartupError is a reason the service refuses to start (Nova's InvalidConfiguration and friends).
type StartupError struct{ Reason string }

func (e *StartupError) Error() string { return e.Reason }

// New checks cfg and returns a service ready to Run.
func New(cfg *conf.Config, opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if cfg.Default.Host == "" {
		return nil, &StartupError{"[DEFAULT] host is empty"}
	}
	if cfg.Default.TransportURL == "" {
		return nil, &StartupError{"[DEFAULT] transport_url is not set: novabsd cannot reach the cloud's message broker"}
	}
	if _, err := rpc.ParseTransportURL(cfg.Default.TransportURL); err != nil {
		return nil, err
	}
	if cfg.Compute.MaxDiskDevicesToAttach == 0 {
		return nil, &StartupError{"[compute] max_disk_devices_to_attach is 0: no instance could boot; use -1 for no limit"}
	}
	if err := checkConfigDriveFormat(cfg); err != nil {
		return nil, err
	}
	if err := checkStartupMkfs(cfg); err != nil {
		return nil, err
	}
	if err := checkSerialConsole(cfg); err != nil {
		return nil, err
	}
	pcs, err := loadProviderConfigs(cfg.Compute.ProviderConfigLocation, opts.Logger)
	if err != nil {
		return nil, err
	}
	usbSpecs, err := passthrough.ParseUSBSpecs(cfg.NovaBSD.USBDeviceSpec)
	if err != nil {
		return nil, &StartupError{"[novabsd] " + err.Error()}
	}
	if err := checkPCIConfig(cfg, opts.Logger); err != nil {
		return nil, err
	}
	s := &Service{opts: opts, log: opts.Logger, providerConfigs: pcs, usbSpecs: usbSpecs}
	s.cfg.Store(cfg)
	return s, nil
}

// Reload applies a re-read configuration (SIGHUP). Like nova, only what is safe at run time takes effect: log
// level and file are the caller's; intervals, reserves and allocation ratios apply from the next period. The
// broker, host name, identity, provider configs and the scheduler version cap need a restart.
func (s *Service) Reload(cfg *conf.Config) {
	old := s.cfg.Load()
	for _, ch := range []struct{ name, a, b string }{
		{"[DEFAULT] host", old.Default.Host, cfg.Default.Host},
		{"[DEFAULT] transport_url", old.Default.TransportURL, cfg.Default.TransportURL},
		{"[DEFAULT] state_path", old.Default.StatePath, cfg.Default.StatePath},
		{"[compute] provider_config_location", old.Compute.ProviderConfigLocation, cfg.Compute.ProviderConfigLocation},
		{"[upgrade_levels] scheduler", old.UpgradeLevels.Scheduler, cfg.UpgradeLevels.Scheduler},
	} {
		if ch.a != ch.b {
			s.log.Warn("This change needs a restart; the running value stays", "option", ch.name)
		}
	}
	next := *cfg
	next.Default.Host, next.Default.TransportURL, next.Default.StatePath = old.Default.Host, old.Default.TransportURL, old.Default.StatePath
	next.Compute.ProviderConfigLocation = old.Compute.ProviderConfigLocation
	next.UpgradeLevels.Scheduler = old.UpgradeLevels.Scheduler // the scheduler client's cap is set at start
	s.cfg.Store(&next)
}

// Run joins the cloud and serves until ctx ends, then stops gracefully.
func (s *Service) Run(ctx context.Context) error {
	cfg := s.cfg.Load()
	t, err := rpc.NewTransport(rpcOptions(cfg, s.log.With("logger", "novabsd.rpc")))
	if err != nil {
		return err
	}
	defer t.Close()
	s.transport = t

	// The scheduler casts go out from their own goroutine from the start (init_host sends one); it stops, after
	// flushing, before the transport closes.
	s.sched = newSchedulerInfo(t, schedulerTopic, cfg.UpgradeLevels.Scheduler,
		seconds(cfg.Default.RPCResponseTimeout), s.log)
	schedCtx, stopSched := context.WithCancel(context.Background())
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); s.sched.run(schedCtx) }()
	defer func() { stopSched(); <-schedDone }()

	// The release decides the manifests of every conductor call, so it is chosen first; the conductor's answers
	// it needs are plain integers, not objects.
	s.cond = newConductor(t, Releases[0])
	if err := s.cond.waitUntilReady(ctx, s.log); err != nil {
		return err
	}
	if s.release, err = s.chooseRelease(ctx, cfg); err != nil {
		return err
	}
	s.cond.release = s.release
	s.log.Info("Serving Nova", "release", s.release.Name, "codename", s.release.Codename,
		"service_version", s.release.ServiceVersion, "compute_rpc", s.release.RPCVersion)

	if err := s.checkOldComputes(ctx); err != nil {
		return err
	}
	rc := rpc.AdminContext()
	svc, err := s.cond.classObject(ctx, &rc, "Service", "get_by_host_and_binary",
		serviceManifest, []any{cfg.Default.Host, Binary}, nil)
	if err != nil {
		return err
	}
	if s.nodeUUID, err = s.nodeIdentity(ctx, cfg, svc); err != nil {
		return err
	}
	if err := s.checkExistingNode(ctx, cfg); err != nil {
		return err
	}
	if err := s.checkProviderConfigs(hypervisorHostname(cfg)); err != nil {
		return err
	}
	if err := s.ensureServiceRecord(ctx, cfg, svc); err != nil {
		return err
	}
	if err := s.initHost(ctx, cfg); err != nil {
		return err
	}
	if err := s.updateAvailableResource(ctx, true); err != nil {
		var se *StartupError
		if errors.As(err, &se) {
			return err
		}
		// Nova logs audit failures (Placement down, a conductor hiccup) and tries again next period.
		s.log.Error("Resource audit at start-up failed; retrying next period", "error", err)
	}

	servers, err := s.startServers(ctx, cfg)
	if err != nil {
		return err
	}
	s.log.Info("Compute service started", "host", cfg.Default.Host, "node", s.nodeUUID,
		"topics", strings.Join(s.topics(cfg), ", "))
	if s.opts.Ready != nil {
		s.opts.Ready()
	}

	var loops sync.WaitGroup
	loopCtx, stopLoops := context.WithCancel(context.Background())
	loops.Add(9)
	go func() { defer loops.Done(); s.heartbeatLoop(loopCtx) }()
	go func() { defer loops.Done(); s.powerSyncLoop(loopCtx) }()
	go func() { defer loops.Done(); s.periodicLoop(loopCtx) }()
	go func() { defer loops.Done(); s.schedulerSyncLoop(loopCtx) }()
	go func() { defer loops.Done(); s.imageCacheLoop(loopCtx) }()
	go func() { defer loops.Done(); s.healInfoCacheLoop(loopCtx) }()
	go func() { defer loops.Done(); s.shelvedPollLoop(loopCtx) }()
	go func() { defer loops.Done(); s.reclaimLoop(loopCtx) }()
	go func() { defer loops.Done(); s.rescuedPollLoop(loopCtx) }()

	<-ctx.Done()
	s.log.Info("Stopping: no new work is taken; operations in progress finish")
	err = s.shutdown(servers, s.cfg.Load())
	stopLoops()
	loops.Wait()
	return err
}

func (s *Service) topics(cfg *conf.Config) []string {
	t := []string{Topic + "." + cfg.Default.Host}
	if s.release.AltTopic {
		t = append(t, TopicAlt+"."+cfg.Default.Host)
	}
	return t
}

// chooseRelease picks the Nova release to serve: [upgrade_levels] compute when it names one, otherwise the
// release whose service version the conductors report.
func (s *Service) chooseRelease(ctx context.Context, cfg *conf.Config) (Release, error) {
	if pin := cfg.UpgradeLevels.Compute; pin != "" && !strings.EqualFold(pin, "auto") {
		r, err := ReleaseByName(pin)
		if err != nil {
			return Release{}, &StartupError{"[upgrade_levels] compute: " + err.Error()}
		}
		return r, nil
	}
	v, err := s.minimumVersion(ctx, "nova-conductor")
	if err != nil {
		return Release{}, err
	}
	if v == 0 {
		return Release{}, &StartupError{"no nova-conductor service record found to tell the cloud's Nova release; " +
			"set [upgrade_levels] compute to the release (e.g. gazpacho)"}
	}
	r, err := ReleaseForServiceVersion(v)
	if err != nil {
		return Release{}, &StartupError{err.Error()}
	}
	return r, nil
}

func (s *Service) minimumVersion(ctx context.Context, binary string) (int, error) {
	rc := rpc.AdminContext()
	raw, err := s.cond.classAction(ctx, &rc, "Service", "get_minimum_version", serviceManifest, []any{binary}, nil)
	if err != nil {
		return 0, err
	}
	var v int
	if err := jsonUnmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("Service.get_minimum_version(%s): %w", binary, err)
	}
	return v, nil
}

// checkOldComputes is nova's raise_if_old_compute: a cell whose oldest compute is older than the release
// supports is refused by every Nova service at start, so we refuse too rather than join a broken cell.
func (s *Service) checkOldComputes(ctx context.Context) error {
	v, err := s.minimumVersion(ctx, Binary)
	if err != nil {
		return err
	}
	if v > 0 && v < s.release.OldestSupported {
		return &StartupError{fmt.Sprintf("the oldest nova-compute in this cell reports service version %d; "+
			"Nova %s does not support computes older than %d", v, s.release.Name, s.release.OldestSupported)}
	}
	return nil
}

// ensureServiceRecord creates our Service row or brings its version to the release's, as Service.start does.
func (s *Service) ensureServiceRecord(ctx context.Context, cfg *conf.Config, svc *vo.Object) error {
	rc := rpc.AdminContext()
	if svc == nil {
		svc = newServiceRecord(s.release.ObjectVersion("Service"), cfg.Default.Host, s.release.ServiceVersion).o
		if _, err := s.cond.objectAction(ctx, &rc, svc, "create", nil, nil); err != nil {
			return err
		}
		id, _, err := asServiceRecord(svc).ID()
		if err != nil {
			return err
		}
		s.log.Info("Created the service record", "service_id", id)
	} else {
		have, err := asServiceRecord(svc).Version()
		if err != nil {
			return err
		}
		if have > s.release.ServiceVersion {
			return &StartupError{fmt.Sprintf("this host's service record reports version %d, newer than Nova %s's %d: "+
				"lowering it would make the conductor refuse every heartbeat (ServiceTooOld)",
				have, s.release.Name, s.release.ServiceVersion)}
		}
		if have != s.release.ServiceVersion {
			asServiceRecord(svc).SetVersion(s.release.ServiceVersion)
			if _, err := s.cond.objectAction(ctx, &rc, svc, "save", nil, nil); err != nil {
				return err
			}
			s.log.Info("Updated the service record's version", "from", have, "to", s.release.ServiceVersion)
		}
	}
	s.mu.Lock()
	s.serviceRef = svc
	s.mu.Unlock()
	return nil
}

// heartbeatLoop is nova's servicegroup db driver: report_count+1 and save every report_interval. The conductor
// sets last_seen_up from it; failures are logged once and retried each period. The first report goes out at once
// (nova waits 5 s), so a restarted host is seen up again as soon as it serves its topics.
func (s *Service) heartbeatLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := s.reportState(ctx)
		switch {
		case err != nil && !failing:
			failing = true
			s.log.Warn("Cannot report service status to nova-conductor; retrying each report_interval", "error", err)
		case err == nil && failing:
			failing = false
			s.log.Info("Recovered from being unable to report status")
		}
		timer.Reset(seconds(max(1, s.cfg.Load().Default.ReportInterval)))
	}
}

// reportState saves report_count+1. The save may last rpc_response_timeout, and builds, capacity checks and
// set_host_enabled need s.mu meanwhile, so it saves a copy made under the lock and merges the answer back under
// the lock: fields changed in the record meanwhile (set_host_enabled's disabled) keep their newer value.
func (s *Service) reportState(ctx context.Context) error {
	s.mu.Lock()
	if s.serviceRef == nil {
		s.mu.Unlock()
		return nil
	}
	before := s.serviceRef.Clone()
	s.mu.Unlock()
	count, err := asServiceRecord(before).ReportCount()
	if err != nil {
		return err
	}
	ref := before.Clone()
	asServiceRecord(ref).SetReportCount(count + 1)
	rc := rpc.AdminContext()
	cctx, cancel := context.WithTimeout(ctx, seconds(s.cfg.Load().Default.RPCResponseTimeout))
	defer cancel()
	if _, err := s.cond.objectAction(cctx, &rc, ref, "save", nil, nil); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.serviceRef
	for k, v := range ref.Data {
		if bytes.Equal(cur.Data[k], before.Data[k]) { // not changed by anyone else meanwhile
			cur.Data[k] = v
		}
	}
	// What the save sent is saved, unless it changed again meanwhile; what the conductor reports changed stays.
	cur.Changes = slices.DeleteFunc(cur.Changes, func(f string) bool {
		return bytes.Equal(cur.Data[f], ref.Data[f]) && !slices.Contains(ref.Changes, f)
	})
	return nil
}

// periodicTask describes one of nova's periodic tasks as run here: its interval option (read at each turn, so
// SIGHUP applies; 0 means every 60 s and a negative value disables it), whether the first run is at once, and
// what a failed run logs before the next period retries it.
type periodicTask struct {
	interval func(*conf.Config) int
	atStart  bool
	run      func(context.Context) error
	failed   func(err error) // logs a failed run
}

// periodic runs t until ctx ends.
func (s *Service) periodic(ctx context.Context, t periodicTask) {
	first := t.atStart
	for {
		interval := t.interval(s.cfg.Load())
		if interval < 0 {
			<-ctx.Done()
			return
		}
		if interval == 0 {
			interval = 60
		}
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-time.After(seconds(interval)):
			}
		}
		first = false
		if err := t.run(ctx); err != nil && ctx.Err() == nil {
			t.failed(err)
		}
	}
}

// periodicLoop runs the resource audit every update_resources_interval.
func (s *Service) periodicLoop(ctx context.Context) {
	s.periodic(ctx, periodicTask{
		interval: func(c *conf.Config) int { return c.Default.UpdateResourcesInterval },
		run:      func(ctx context.Context) error { return s.updateAvailableResource(ctx, false) },
		failed: func(err error) {
			s.log.Error("Resource audit failed; retrying next period", "error", err)
		},
	})
}

// startServers consumes compute.<host> and, from RPC 6.5, compute-alt.<host>, each with its own server.
func (s *Service) startServers(ctx context.Context, cfg *conf.Config) ([]*rpc.Server, error) {
	topics := []string{Topic}
	if s.release.AltTopic {
		topics = append(topics, TopicAlt)
	}
	var started []*rpc.Server
	for _, topic := range topics {
		srv, err := s.transport.NewServer(rpc.Target{Topic: topic, Server: cfg.Default.Host})
		if err == nil {
			err = s.registerEndpoints(srv)
		}
		if err == nil {
			err = srv.Start(ctx)
		}
		if err != nil {
			for _, done := range started {
				_ = done.Stop(context.Background())
			}
			return nil, fmt.Errorf("serve %s.%s: %w", topic, cfg.Default.Host, err)
		}
		started = append(started, srv)
	}
	return started, nil
}

// shutdown is nova's graceful stop (2026.1 service.py stop and ComputeManager.graceful_shutdown): compute.<host>
// stops first so no new work arrives; the builds and snapshots in progress get manager_shutdown_timeout to
// finish while compute-alt.<host> still serves them; compute-alt stops last. All of it is bounded by
// graceful_shutdown_timeout (0: no bound, as oslo.service). Work still running at its deadline is cancelled
// through its context and leaves its instance in a task state the next start's initHost resolves. Queues stay
// declared: messages sent meanwhile wait for the next start.
func (s *Service) shutdown(servers []*rpc.Server, cfg *conf.Config) error {
	total := cfg.Default.GracefulShutdownTimeout
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if total > 0 {
		ctx, cancel = context.WithTimeout(ctx, seconds(total))
	}
	defer cancel()
	var errs []error
	stop := func(srv *rpc.Server) {
		if err := srv.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(servers) > 0 {
		stop(servers[0])
	}
	if len(servers) < 2 {
		// Without compute-alt (before 2026.1) Neutron's events arrived on compute.<host>, now stopped: a build
		// waiting for network-vif-plugged would wait in vain, so its wait ends now (cleanup_host's
		// cancel_all_events).
		s.cancelEventWaiters()
	}
	if s.lc != nil {
		workCtx, cancelWait := context.WithTimeout(ctx, seconds(managerShutdownTimeout(cfg)))
		finished := s.lc.waitWork(workCtx)
		cancelWait()
		if !finished {
			s.log.Warn("Operations still in progress at manager_shutdown_timeout are cancelled; "+
				"the next start resolves their instances' states", "manager_shutdown_timeout", managerShutdownTimeout(cfg))
			s.cancelEventWaiters()
			s.lc.cancelWork()
			if !s.lc.waitWork(ctx) {
				errs = append(errs, fmt.Errorf("graceful_shutdown_timeout (%d s): operations still running after "+
					"being cancelled", total))
			}
		}
	}
	for _, srv := range servers[min(1, len(servers)):] {
		stop(srv)
	}
	return errors.Join(errs...)
}

// cancelEventWaiters ends every wait for Neutron's events (cancel_all_events) and logs how many there were.
func (s *Service) cancelEventWaiters() {
	if s.lc == nil || s.lc.net == nil {
		return
	}
	if n := s.lc.net.events.cancelAll(); n > 0 {
		s.log.Info("Canceled in-flight events at shutdown", "events", n)
	}
}

// managerShutdownTimeout is how long work in progress may take during a stop, in seconds: nova's
// manager_shutdown_timeout, or graceful_shutdown_timeout less 10 s when that is shorter.
func managerShutdownTimeout(cfg *conf.Config) int {
	m, g := cfg.Default.ManagerShutdownTimeout, cfg.Default.GracefulShutdownTimeout
	if g > 0 && m > g {
		return max(0, g-10)
	}
	return m
}
