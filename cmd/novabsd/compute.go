package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/novabsd/novabsd/cmd/novabsd/internal/oslolog"
	"github.com/novabsd/novabsd/cmd/novabsd/internal/sdnotify"
	"github.com/novabsd/novabsd/compute"
	"github.com/novabsd/novabsd/conf"
)

// computeFlags are the command-line options of `novabsd compute`; like oslo's, they override the config files.
type computeFlags struct {
	sources sourceFlags
	debug   bool
	json    bool
	logFile string
	logDir  string
}

func runCompute(args []string, _, stderr io.Writer) error {
	fs := newFlagSet("compute", "compute [--config-file F]... [--config-dir D]... [--debug] [--use-json] [--log-file F] [--log-dir D]", stderr)
	var f computeFlags
	f.sources.register(fs)
	fs.BoolVar(&f.debug, "debug", false, "log at debug level (overrides [DEFAULT] debug)")
	fs.BoolVar(&f.json, "use-json", false, "log JSON records instead of oslo text lines (overrides [DEFAULT] use_json)")
	fs.StringVar(&f.logFile, "log-file", "", "log to this file (overrides [DEFAULT] log_file)")
	fs.StringVar(&f.logDir, "log-dir", "", "log to <dir>/novabsd.log (overrides [DEFAULT] log_dir)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	// Under a Type=notify systemd unit: READY=1 once serving, STOPPING=1 when the stop begins. The variable is
	// removed so that the guests the service starts do not inherit it.
	notifier, err := sdnotify.New(os.Getenv(sdnotify.EnvSocket))
	if err != nil {
		return err
	}
	os.Unsetenv(sdnotify.EnvSocket)

	cfg, err := f.sources.load()
	if err != nil {
		return err
	}
	log, out, err := oslolog.New(f.logSettings(cfg), stderr)
	if err != nil {
		return err
	}
	defer out.Close()
	log = log.With(oslolog.KeyLogger, "novabsd.compute")
	logConfigNotes(log, cfg)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ready := make(chan struct{})
	svc, err := compute.New(cfg, compute.Options{ConfigFiles: cfg.Files, Logger: log, Version: buildVersion(),
		Ready: sync.OnceFunc(func() { close(ready) })})
	if err != nil {
		log.Error("Cannot start the compute service", "error", err)
		return err
	}
	var helpers sync.WaitGroup
	helpers.Add(2)
	go func() { defer helpers.Done(); reloadOnHangup(ctx, &f, svc, out, log) }()
	go func() { defer helpers.Done(); reportState(ctx, ready, notifier, log) }()

	log.Info("Starting novabsd compute", "version", buildVersion(), "host", cfg.Default.Host, "config_files", cfg.Files)
	err = svc.Run(ctx)
	stop() // a Run ended by an error is a stop too: reportState sends STOPPING=1 and both helpers return
	helpers.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("The compute service stopped on an error", "error", err)
		return err
	}
	log.Info("novabsd compute stopped")
	return nil
}

func (f *computeFlags) logSettings(cfg *conf.Config) oslolog.Settings {
	s := oslolog.Settings{
		Debug: cfg.Default.Debug || f.debug, JSON: cfg.Default.UseJSON || f.json,
		LogFile: cfg.Default.LogFile, LogDir: cfg.Default.LogDir, Program: "novabsd",
	}
	if f.logFile != "" {
		s.LogFile = f.logFile
	}
	if f.logDir != "" {
		s.LogDir = f.logDir
	}
	return s
}

// logConfigNotes reports what the loader found but did not use: other services' options at debug, deprecated
// spellings as warnings so operators can fix their files before the names go away.
func logConfigNotes(log *slog.Logger, cfg *conf.Config) {
	for _, u := range cfg.Unknown {
		log.Debug("Ignoring an option novabsd does not read", "file", u.File, "line", u.Line, "group", u.Group, "option", u.Key)
	}
	for _, d := range cfg.Deprecated {
		log.Warn("Deprecated option name", "file", d.File, "line", d.Line, "group", d.Group, "option", d.Key,
			"use", fmt.Sprintf("[%s] %s", d.Use.Group, d.Use.Name))
	}
}

// reloadOnHangup re-reads the configuration on SIGHUP, as oslo.service does: the log file is reopened (after
// logrotate) and the service applies what may change at run time. A bad file is reported and the running
// configuration kept.
func reloadOnHangup(ctx context.Context, f *computeFlags, svc *compute.Service, out *oslolog.Output, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if err := out.Reopen(); err != nil {
			log.Error("Cannot reopen the log file", "error", err)
		}
		cfg, err := f.sources.load()
		if err != nil {
			log.Error("SIGHUP: the configuration has errors; keeping the running one", "error", err)
			continue
		}
		log.Info("SIGHUP: configuration re-read", "config_files", filepath.Join(cfg.Files...))
		svc.Reload(cfg)
	}
}
