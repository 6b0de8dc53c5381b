package hypervisor

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"libvirt.org/go/libvirtxml"
)

// ArgvBuilder returns the command lines a driver would run, in order, to
// start the guest described by dom (bhyve: bhyveload then bhyve; qemu: one
// line). It must not run anything or touch the host.
type ArgvBuilder func(dom *libvirtxml.Domain) ([][]string, error)

var argvBuilders = struct {
	sync.RWMutex
	m map[string]ArgvBuilder
}{m: map[string]ArgvBuilder{}}

// RegisterArgvBuilder makes fn the builder for driver name. Driver packages
// call it from init; registering a name again replaces the builder (the
// service does so with a builder bound to its configuration).
func RegisterArgvBuilder(name string, fn ArgvBuilder) {
	argvBuilders.Lock()
	defer argvBuilders.Unlock()
	argvBuilders.m[name] = fn
}

// ArgvDrivers returns the registered driver names, sorted.
func ArgvDrivers() []string {
	argvBuilders.RLock()
	defer argvBuilders.RUnlock()
	names := make([]string, 0, len(argvBuilders.m))
	for n := range argvBuilders.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Argv returns driver's command lines for dom.
func Argv(driver string, dom *libvirtxml.Domain) ([][]string, error) {
	argvBuilders.RLock()
	fn, ok := argvBuilders.m[driver]
	argvBuilders.RUnlock()
	if !ok {
		return nil, &PropertyError{Property: "driver", Value: driver, Allowed: ArgvDrivers()}
	}
	return fn(dom)
}

// ArgvForXML parses a libvirt domain XML document and returns driver's
// command lines for it. It accepts XML written by novabsd and XML as
// libvirt's own drivers document it.
func ArgvForXML(driver string, xml []byte) ([][]string, error) {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(string(xml)); err != nil {
		return nil, fmt.Errorf("parse domain XML: %w", err)
	}
	return Argv(driver, &dom)
}

// FormatArgv renders command lines one per line with shell quoting where an
// argument needs it, for display.
func FormatArgv(lines [][]string) string {
	var b strings.Builder
	for _, line := range lines {
		for i, a := range line {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(shellQuote(a))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
