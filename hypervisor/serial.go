package hypervisor

import (
	"fmt"
	"net/netip"
	"strconv"

	"libvirt.org/go/libvirtxml"
)

// CheckListen says whether host and port may name a listener on an
// engine's command line: host an IP address literal without a zone (no name
// to resolve, nothing but digits, dots and colons), port 1-65535.
func CheckListen(host string, port int) error {
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("listen address %q is not an IP address literal", host)
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("listen port %d is not a TCP port (1-65535)", port)
	}
	return nil
}

// SerialListen returns where dom's serial console listens for a console
// proxy: the first serial device with a TCP source in bind mode, else the
// first such console, as nova's libvirt driver looks for it. ok is false
// when the domain has none; a listener whose address or port is not valid
// is an error.
func SerialListen(dom *libvirtxml.Domain) (l SerialTCP, ok bool, err error) {
	if dom == nil || dom.Devices == nil {
		return SerialTCP{}, false, nil
	}
	var srcs []*libvirtxml.DomainChardevSource
	for i := range dom.Devices.Serials {
		srcs = append(srcs, dom.Devices.Serials[i].Source)
	}
	for i := range dom.Devices.Consoles {
		srcs = append(srcs, dom.Devices.Consoles[i].Source)
	}
	for _, s := range srcs {
		if s == nil || s.TCP == nil || s.TCP.Mode != "bind" {
			continue
		}
		port, perr := strconv.Atoi(s.TCP.Service)
		if perr != nil {
			port = -1
		}
		if err := CheckListen(s.TCP.Host, port); err != nil {
			return SerialTCP{}, false, fmt.Errorf("serial console: %w", err)
		}
		return SerialTCP{Listen: s.TCP.Host, Port: port}, true, nil
	}
	return SerialTCP{}, false, nil
}
