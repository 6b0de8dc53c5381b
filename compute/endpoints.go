package compute

import (
	"context"
	"encoding/json"
	"time"

	"github.com/novabsd/novabsd/rpc"
)

// registerEndpoints puts the compute manager's methods on srv: namespace none, the release's compute RPC
// version, and the baseapi endpoint every Nova service serves.
func (s *Service) registerEndpoints(srv *rpc.Server) error {
	if err := srv.Register("", s.release.RPCVersion, checkedAll(s.computeMethods())); err != nil {
		return err
	}
	return srv.Register("baseapi", "1.1", checkedAll(map[string]method{
		"ping": {req("arg"), func(_ context.Context, args json.RawMessage) (any, error) {
			var a struct {
				Arg any `json:"arg"`
			}
			if err := rpc.DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			return map[string]any{"service": Binary, "arg": a.Arg}, nil
		}},
	}))
}

// computeMethods are the compute manager's RPC methods with their signatures in nova/compute/manager.py at
// compute RPC 6.x (identical from 2025.1 to 2026.2). Each group lives in the file of its feature; a method in two
// groups is a programming error caught by the tests.
func (s *Service) computeMethods() map[string]method {
	out := map[string]method{}
	for _, group := range s.methodGroups() {
		for name, m := range group.methods {
			out[name] = m
		}
	}
	return out
}

// methodGroup is one feature's methods, named for the tests that check no method is in two groups.
type methodGroup struct {
	name    string
	methods map[string]method
}

func (s *Service) methodGroups() []methodGroup {
	return []methodGroup{
		{"core", s.coreMethods()}, {"rebuild", s.rebuildMethods()}, {"rescue", s.rescueMethods()},
		{"shelve", s.shelveMethods()}, {"softDelete", s.softDeleteMethods()},
		{"serialConsole", s.serialConsoleMethods()}, {"guestTool", s.guestToolMethods()},
		{"refused", s.refusedMethods()},
	}
}

// coreMethods are the methods of the build, delete, power, snapshot, VNC console and network features.
func (s *Service) coreMethods() map[string]method {
	none := "null"
	return map[string]method{
		"set_host_enabled": {req("enabled"), s.setHostEnabled},
		"get_host_uptime":  {req(), s.getHostUptime},
		"build_and_run_instance": {argSpec{
			required: []string{"instance", "image", "request_spec", "filter_properties", "accel_uuids"},
			optional: map[string]string{"admin_password": none, "injected_files": none, "requested_networks": none,
				"security_groups": none, "block_device_mapping": none, "node": none, "limits": none, "host_list": none},
		}, s.buildAndRunInstance},
		"terminate_instance":      {req("instance", "bdms"), s.terminateInstance},
		"stop_instance":           {req("instance", "clean_shutdown"), s.stopInstance},
		"start_instance":          {req("instance"), s.startInstance},
		"reboot_instance":         {req("instance", "block_device_info", "reboot_type"), s.rebootInstance},
		"pause_instance":          {req("instance"), s.pauseInstance},
		"unpause_instance":        {req("instance"), s.unpauseInstance},
		"suspend_instance":        {req("instance"), s.suspendInstance},
		"resume_instance":         {req("instance"), s.resumeInstance},
		"get_console_output":      {req("instance", "tail_length"), s.getConsoleOutput},
		"snapshot_instance":       {req("image_id", "instance"), s.snapshotInstance},
		"backup_instance":         {req("image_id", "instance", "backup_type", "rotation"), s.backupInstance},
		"get_vnc_console":         {req("console_type", "instance"), s.getVNCConsole},
		"validate_console_port":   {req("instance", "port", "console_type"), s.validateConsolePort},
		"external_instance_event": {req("instances", "events"), s.externalInstanceEvent},
		"attach_interface": {req("instance", "network_id", "port_id", "requested_ip", "tag"),
			s.attachInterface},
		"detach_interface": {req("instance", "port_id"), s.detachInterface},
	}
}

// checkedAll turns methods into handlers that check their arguments first (checked).
func checkedAll(methods map[string]method) map[string]rpc.Handler {
	out := make(map[string]rpc.Handler, len(methods))
	for name, m := range methods {
		out[name] = checked(name, m.args, m.handler)
	}
	return out
}

// setHostEnabled is called by nova-api when an operator disables or enables the service: it adds or removes
// COMPUTE_STATUS_DISABLED on the node's provider so the scheduler's pre-filter skips a disabled host.
func (s *Service) setHostEnabled(ctx context.Context, args json.RawMessage) (any, error) {
	var a struct {
		Enabled bool `json:"enabled"`
	}
	if err := rpc.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	disabled := !a.Enabled
	s.mu.Lock()
	if s.serviceRef != nil {
		asServiceRecord(s.serviceRef).SetDisabled(disabled)
		s.serviceRef.Changes = removeString(s.serviceRef.Changes, "disabled") // nova-api saved it already
	}
	s.mu.Unlock()
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	cfg := s.cfg.Load()
	res, err := s.auditedResources(cfg)
	if err == nil {
		err = s.syncPlacement(ctx, cfg, res, &disabled)
	}
	if err != nil {
		s.log.Warn("Unable to add/remove trait COMPUTE_STATUS_DISABLED", "error", err)
	}
	if a.Enabled {
		return "enabled", nil
	}
	return "disabled", nil
}

// getHostUptime answers as nova's libvirt driver does, with uptime(1)'s line, read from the clock, the load
// averages and the login sessions: no host discovery, no lock.
func (s *Service) getHostUptime(_ context.Context, args json.RawMessage) (any, error) {
	if err := rpc.DecodeArgs(args, &struct{}{}); err != nil {
		return nil, err
	}
	l, err := readLoad()
	if err != nil {
		return nil, err
	}
	return uptimeOutput(time.Now(), l), nil
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
