package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/novabsd/novabsd/compute"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise the VCS revision is used.
var version = "dev"

func buildVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return v
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "novabsd %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintln(stdout, "Nova releases served (service version, compute RPC):")
	for _, r := range compute.Releases {
		def := ""
		if r.Name == compute.DefaultRelease {
			def = " (primary)"
		}
		fmt.Fprintf(stdout, "  %s %-9s %d  %s%s\n", r.Name, r.Codename, r.ServiceVersion, r.RPCVersion, def)
	}
	return nil
}
