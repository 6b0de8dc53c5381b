package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/novabsd/novabsd/hypervisor"
	// The drivers register their command-line builders with hypervisor.
	_ "github.com/novabsd/novabsd/hypervisor/bhyve"
	_ "github.com/novabsd/novabsd/hypervisor/qemu"
)

func runDomain(args []string, stdout, stderr io.Writer) error {
	const synopsis = "domain argv --driver bhyve|qemu FILE.xml"
	if len(args) == 0 || args[0] != "argv" {
		fmt.Fprintln(stderr, "usage: novabsd "+synopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errUsage
	}
	fs := newFlagSet("domain argv", synopsis, stderr)
	driver := fs.String("driver", "", "driver whose command lines to print: "+strings.Join(hypervisor.ArgvDrivers(), ", "))
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *driver == "" || fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	path := fs.Arg(0)
	xml, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read domain XML: %w", err)
	}
	lines, err := hypervisor.ArgvForXML(*driver, xml)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = io.WriteString(stdout, hypervisor.FormatArgv(lines))
	return err
}
