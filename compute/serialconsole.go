package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/rpc/vo"
)

// serialConsoleMethods: get_serial_console.
func (s *Service) serialConsoleMethods() map[string]method {
	return map[string]method{
		"get_serial_console": {req("console_type", "instance"), s.getSerialConsole},
	}
}

// portRangeRe is the regex nova's StrOpt port_range is declared with.
var portRangeRe = regexp.MustCompile(`^\d+:\d+$`)

// serialPortRange reads [serial_console] port_range as the inclusive range Ports.Pick takes. nova's range is
// START:STOP with STOP excluded (range(start, stop)); nova falls back to 10000:20000 with a warning when
// START >= STOP, novabsd refuses to start instead so a typo is not silently replaced.
func serialPortRange(cfg *conf.Config) (min, max int, err error) {
	v := cfg.SerialConsole.PortRange
	bad := func(reason string) error {
		loc, _ := cfg.Where("serial_console", "port_range")
		return &conf.Error{File: loc.File, Line: loc.Line, Group: "serial_console", Option: "port_range",
			Reason: fmt.Sprintf("%q %s", v, reason)}
	}
	if !portRangeRe.MatchString(v) {
		return 0, 0, bad("is not START:STOP (e.g. 10000:20000)")
	}
	var start, stop int
	if _, err := fmt.Sscanf(v, "%d:%d", &start, &stop); err != nil {
		return 0, 0, bad("is not START:STOP (e.g. 10000:20000)")
	}
	if start < 1 || stop > 65536 || start >= stop {
		return 0, 0, bad("must have 1 <= START < STOP <= 65536 (STOP itself is not used)")
	}
	return start, stop - 1, nil
}

// checkSerialConsole refuses, with the console enabled, a [serial_console] a guest could not be given: a bad
// port_range, or a proxyclient_address that is not an IP literal (the consoles listen on it and it reaches the
// engine's command line). Disabled, neither is read.
func checkSerialConsole(cfg *conf.Config) error {
	sc := cfg.SerialConsole
	if !sc.Enabled {
		return nil
	}
	if _, _, err := serialPortRange(cfg); err != nil {
		return err
	}
	if err := hypervisor.CheckListen(sc.ProxyclientAddress, 1); err != nil {
		loc, _ := cfg.Where("serial_console", "proxyclient_address")
		return &conf.Error{File: loc.File, Line: loc.Line, Group: "serial_console", Option: "proxyclient_address",
			Reason: fmt.Sprintf("%q is not an IP address: guests' serial consoles listen on it", sc.ProxyclientAddress)}
	}
	return nil
}

// serialConsoleFor gives a new guest its serial console listener when [serial_console] is enabled and the engine
// serves one, as nova's _create_serial_consoles does with acquire_port: a port of port_range that no guest holds
// and nothing listens on at proxyclient_address. nil without a console. The port stays held until release (or
// destroyGuest); the domain keeps it, so restarts and power cycles keep it too.
func (s *Service) serialConsoleFor(cfg *conf.Config, eng *engine, uuid string) (*hypervisor.SerialTCP, error) {
	sc := cfg.SerialConsole
	if !sc.Enabled || !eng.driver.Capabilities().SerialTCP {
		return nil, nil
	}
	min, max, err := serialPortRange(cfg)
	if err != nil {
		return nil, err
	}
	port, err := eng.serial.Pick(uuid, sc.ProxyclientAddress, min, max)
	if err != nil {
		return nil, err
	}
	return &hypervisor.SerialTCP{Listen: sc.ProxyclientAddress, Port: port}, nil
}

// getSerialConsole is get_serial_console: the guest's serial console listener with a console token the conductor
// authorised, for nova-serialproxy.
func (s *Service) getSerialConsole(ctx context.Context, args json.RawMessage) (any, error) {
	return s.getConsole(ctx, args, func(cfg *conf.Config, a consoleArgs) (consoleEndpoint, error) {
		if !cfg.SerialConsole.Enabled {
			return consoleEndpoint{}, novaError("ConsoleTypeUnavailable", 400, "Unavailable console type %s.", a.ConsoleType)
		}
		l, err := s.serialListen(a.Instance)
		if err != nil {
			return consoleEndpoint{}, err
		}
		base := cfg.SerialConsole.BaseURL
		return consoleEndpoint{host: l.Listen, port: l.Port, base: base,
			accessURL: func(token string) string { return base + "?token=" + token }}, nil
	})
}

// serialListen is where the guest's serial console listens, read from its domain as nova's libvirt driver reads
// the guest's XML: InstanceNotReady while it is still being built, ConsoleTypeUnavailable when it has none (built
// while [serial_console] was disabled, or by an engine without TCP consoles).
func (s *Service) serialListen(inst *vo.Object) (hypervisor.SerialTCP, error) {
	g, err := s.guestOf(inst)
	if err != nil {
		return hypervisor.SerialTCP{}, err
	}
	l, ok, err := guestSerialListen(g)
	if err != nil && errors.Is(err, hypervisor.ErrNotFound) {
		if vm, _ := asInstance(inst).VMState(); vm == vmBuilding { // checked on receipt
			return hypervisor.SerialTCP{}, novaError("InstanceNotReady", 409, "Instance %s is not ready",
				instanceUUID(inst))
		}
	}
	if err != nil {
		return hypervisor.SerialTCP{}, translateEngineError(inst, err)
	}
	if !ok {
		return hypervisor.SerialTCP{}, novaError("ConsoleTypeUnavailable", 400, "Unavailable console type serial.")
	}
	return l, nil
}

// guestSerialListen reads the serial console listener recorded in the guest's domain file.
func guestSerialListen(g hypervisor.Guest) (hypervisor.SerialTCP, bool, error) {
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return hypervisor.SerialTCP{}, false, err
	}
	return hypervisor.SerialListen(dom)
}

// validSerialPort is validate_console_port for "serial": the port the proxy was given is still the guest's.
func (s *Service) validSerialPort(inst *vo.Object, port string) (bool, error) {
	l, err := s.serialListen(inst)
	if err != nil {
		return false, err
	}
	return strconv.Itoa(l.Port) == port, nil
}
