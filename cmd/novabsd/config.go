package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/novabsd/novabsd/conf"
)

// sourceFlags are oslo's --config-file/--config-dir, shared by every command that reads nova.conf.
type sourceFlags struct {
	files, dirs multiFlag
}

func (s *sourceFlags) register(fs *flag.FlagSet) {
	fs.Var(&s.files, "config-file", "oslo-style config file to read; repeatable, later files win (default /etc/nova/nova.conf, then /usr/local/etc/nova/nova.conf)")
	fs.Var(&s.dirs, "config-dir", "directory whose *.conf files are read in sorted order after --config-file; repeatable")
}

func (s *sourceFlags) load() (*conf.Config, error) {
	return conf.Load(conf.Sources{ConfigFiles: s.files, ConfigDirs: s.dirs})
}

func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "sample" && args[0] != "show") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "usage: novabsd config sample|show [options]")
			return flag.ErrHelp
		}
		fmt.Fprintln(stderr, "usage: novabsd config sample|show [options]")
		return errUsage
	}
	switch args[0] {
	case "sample":
		fs := newFlagSet("config sample", "config sample", stderr)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		return conf.WriteSample(stdout)
	default:
		fs := newFlagSet("config show", "config show [--config-file F]... [--config-dir D]...", stderr)
		var src sourceFlags
		src.register(fs)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		cfg, err := src.load()
		if err != nil {
			return err
		}
		return cfg.WriteShow(stdout)
	}
}
