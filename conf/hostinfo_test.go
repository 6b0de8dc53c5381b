package conf

import (
	"net/netip"
	"os"
	"testing"
)

func TestMachineDefaults(t *testing.T) {
	if h, err := os.Hostname(); err == nil && osHostname() != h {
		t.Errorf("host default %q, gethostname %q", osHostname(), h)
	}
	// Loopback routes back to itself: the kernel picks 127.0.0.1 as source without sending anything.
	if got := sourceIPv4("127.0.0.2:9"); got != "127.0.0.1" {
		t.Errorf("source towards loopback = %q", got)
	}
	// A udp4 socket cannot be dialled to an IPv6 address: the fallback.
	if got := sourceIPv4("[2001:db8::1]:9"); got != "127.0.0.1" {
		t.Errorf("fallback = %q", got)
	}
	if a, err := netip.ParseAddr(primaryIPv4()); err != nil || !a.Is4() {
		t.Errorf("primary address %v is not IPv4 (%v)", a, err)
	}
}
