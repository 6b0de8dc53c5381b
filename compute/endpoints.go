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
	if err := srv.Register("", s.release.RPCVersion, map[string]rpc.Handler{
		"set_host_enabled":        s.setHostEnabled,
		"get_host_uptime":         s.getHostUptime,
		"build_and_run_instance":  s.buildAndRunInstance,
		"terminate_instance":      s.terminateInstance,
		"stop_instance":           s.stopInstance,
		"start_instance":          s.startInstance,
		"reboot_instance":         s.rebootInstance,
		"pause_instance":          s.pauseInstance,
		"unpause_instance":        s.unpauseInstance,
		"suspend_instance":        s.suspendInstance,
		"resume_instance":         s.resumeInstance,
		"get_console_output":      s.getConsoleOutput,
		"snapshot_instance":       s.snapshotInstance,
		"backup_instance":         s.backupInstance,
		"get_vnc_console":         s.getVNCConsole,
		"validate_console_port":   s.validateConsolePort,
		"external_instance_event": s.externalInstanceEvent,
	}); err != nil {
		return err
	}
	return srv.Register("baseapi", "1.1", map[string]rpc.Handler{
		"ping": func(_ context.Context, args json.RawMessage) (any, error) {
			var a struct {
				Arg any `json:"arg"`
			}
			if err := rpc.DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			return map[string]any{"service": Binary, "arg": a.Arg}, nil
		},
	})
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
		_ = s.serviceRef.Set("disabled", disabled)
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
