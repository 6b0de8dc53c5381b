package hypervisor

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/internal/freeport"
)

func TestPorts(t *testing.T) {
	base := freeport.Range(t, 42000, 4)
	tests := []struct {
		name string
		run  func(t *testing.T, v *Ports)
	}{
		{"two guests never share a port", func(t *testing.T, v *Ports) {
			a, errA := v.Pick("a", "127.0.0.1", base, base+3)
			b, errB := v.Pick("b", "127.0.0.1", base, base+3)
			if errA != nil || errB != nil || a == b || a != base || b != base+1 {
				t.Fatalf("a=%d (%v) b=%d (%v), want %d and %d", a, errA, b, errB, base, base+1)
			}
			if again, err := v.Pick("a", "127.0.0.1", base, base+3); err != nil || again != a {
				t.Errorf("a again = %d (%v), want the port it holds, %d", again, err, a)
			}
		}},
		{"a port another process listens on is skipped", func(t *testing.T, v *Ports) {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base)))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if p, err := v.Pick("a", "127.0.0.1", base, base+3); err != nil || p != base+1 {
				t.Errorf("Pick = %d (%v), want %d past the busy %d", p, err, base+1, base)
			}
		}},
		{"a reserved port is not given to another guest", func(t *testing.T, v *Ports) {
			v.Reserve("old", base)
			if p, err := v.Pick("new", "127.0.0.1", base, base+3); err != nil || p != base+1 {
				t.Errorf("Pick = %d (%v), want %d past the reserved %d", p, err, base+1, base)
			}
		}},
		{"release frees the port", func(t *testing.T, v *Ports) {
			a, _ := v.Pick("a", "127.0.0.1", base, base)
			v.Release("a")
			v.Release("never-held") // not an error
			if b, err := v.Pick("b", "127.0.0.1", base, base); err != nil || b != a {
				t.Errorf("after release Pick = %d (%v), want %d", b, err, a)
			}
		}},
		{"the range is honoured", func(t *testing.T, v *Ports) {
			for _, g := range []string{"a", "b", "c"} {
				p, err := v.Pick(g, "127.0.0.1", base+1, base+3)
				if err != nil || p < base+1 || p > base+3 {
					t.Errorf("%s: Pick = %d (%v), want within %d-%d", g, p, err, base+1, base+3)
				}
			}
		}},
		{"exhaustion is a clear error", func(t *testing.T, v *Ports) {
			v.Pick("a", "127.0.0.1", base, base+1)
			v.Pick("b", "127.0.0.1", base, base+1)
			_, err := v.Pick("c", "127.0.0.1", base, base+1)
			want := "no free VNC port between " + strconv.Itoa(base) + " and " + strconv.Itoa(base+1) + " on 127.0.0.1"
			if !errors.Is(err, ErrNoPort) || err.Error() != want {
				t.Errorf("err = %v, want %q", err, want)
			}
		}},
		{"the zero value names its ports TCP", func(t *testing.T, _ *Ports) {
			v := &Ports{}
			v.Reserve("a", base)
			_, err := v.Pick("b", "127.0.0.1", base, base)
			if want := "no free TCP port between " + strconv.Itoa(base) + " and " + strconv.Itoa(base) + " on 127.0.0.1"; err == nil || err.Error() != want {
				t.Errorf("err = %v, want %q", err, want)
			}
		}},
		{"a range that is no range is refused", func(t *testing.T, v *Ports) {
			for _, r := range [][2]int{{0, 10}, {5999, 5900}, {65000, 70000}} {
				if _, err := v.Pick("a", "127.0.0.1", r[0], r[1]); err == nil || !strings.Contains(err.Error(), "not a range") {
					t.Errorf("range %v: err = %v, want a refusal", r, err)
				}
			}
		}},
		{"an address not of this host is an error, not exhaustion", func(t *testing.T, v *Ports) {
			_, err := v.Pick("a", "192.0.2.1", base, base+3) // TEST-NET-1
			if err == nil || errors.Is(err, ErrNoPort) || !strings.Contains(err.Error(), "192.0.2.1") {
				t.Errorf("err = %v, want the bind error naming the address", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, &Ports{Kind: "VNC"}) })
	}
}
