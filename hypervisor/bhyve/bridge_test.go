package bhyve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
	"libvirt.org/go/libvirtxml"
)

// TestConsolePlanTCP: the domain's TCP console becomes the plan's bridge address, checked; bhyve's argv keeps com1
// on the nmdm pair (the golden serial-console-tcp.argv).
func TestConsolePlanTCP(t *testing.T) {
	build := func(t *testing.T, l *hypervisor.SerialTCP) *libvirtxml.Domain {
		s := spec(1, 512)
		s.Disks = disks("virtio", 1)
		s.SerialTCP = l
		dom, err := domain.Build(s, domain.Props{}, DomainOptions(amd64Config()))
		if err != nil {
			t.Fatal(err)
		}
		return dom
	}
	tests := []struct {
		name    string
		listen  *hypervisor.SerialTCP
		mutate  func(*libvirtxml.DomainChardevSourceTCP)
		want    string
		wantErr string
	}{
		{name: "none", want: ""},
		{name: "IPv4", listen: &hypervisor.SerialTCP{Listen: "192.0.2.7", Port: 10042}, want: "192.0.2.7:10042"},
		{name: "IPv6", listen: &hypervisor.SerialTCP{Listen: "::1", Port: 19999}, want: "[::1]:19999"},
		{name: "host name", listen: &hypervisor.SerialTCP{Listen: "192.0.2.7", Port: 10042},
			mutate: func(s *libvirtxml.DomainChardevSourceTCP) { s.Host = "evil.example" }, wantErr: "not an IP address literal"},
		{name: "port 0", listen: &hypervisor.SerialTCP{Listen: "192.0.2.7", Port: 10042},
			mutate: func(s *libvirtxml.DomainChardevSourceTCP) { s.Service = "0" }, wantErr: "not a TCP port"},
		{name: "port with options", listen: &hypervisor.SerialTCP{Listen: "192.0.2.7", Port: 10042},
			mutate: func(s *libvirtxml.DomainChardevSourceTCP) { s.Service = "10042,wait" }, wantErr: "not a TCP port"},
		{name: "connect mode", listen: &hypervisor.SerialTCP{Listen: "192.0.2.7", Port: 10042},
			mutate: func(s *libvirtxml.DomainChardevSourceTCP) { s.Mode = "connect" }, wantErr: "console tcp mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dom := build(t, tt.listen)
			if tt.mutate != nil {
				tt.mutate(dom.Devices.Consoles[0].Source.TCP)
			}
			// Through the XML the service keeps, as PowerOn reads it back.
			x, err := dom.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var back libvirtxml.Domain
			if err := back.Unmarshal(x); err != nil {
				t.Fatal(err)
			}
			plan, err := BuildPlan(&back, amd64Config())
			if tt.wantErr != "" {
				var pe *hypervisor.PropertyError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a PropertyError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.ConsoleTCP != tt.want {
				t.Errorf("ConsoleTCP = %q, want %q", plan.ConsoleTCP, tt.want)
			}
			if !strings.Contains(strings.Join(plan.Bhyve, " "), "-l com1,/dev/nmdm"+uuid+"A") {
				t.Errorf("com1 left the nmdm pair: %v", plan.Bhyve)
			}
		})
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// readUntil reads from c until the text holds want, for up to 5 s.
func readUntil(t *testing.T, c net.Conn, r *bufio.Reader, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got strings.Builder
	for !strings.Contains(got.String(), want) {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatalf("read %q, want %q: %v", got.String(), want, err)
		}
		got.WriteByte(b)
	}
}

// TestSerialConsoleBridge: with a TCP console the driver serves the console's B side to one client at a time. The
// FIFO standing in for the nmdm pair loops what the client types back as guest output, so one line crosses the
// bridge both ways and lands in the console log.
func TestSerialConsoleBridge(t *testing.T) {
	r := newRig(t, nil)
	port := freeTCPPort(t)
	tcp := &libvirtxml.DomainChardevSource{TCP: &libvirtxml.DomainChardevSourceTCP{Mode: "bind", Host: "127.0.0.1",
		Service: itoa(port)}}
	r.dom.Devices.Consoles[0].Source = tcp
	r.spawn()
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	c1, r1 := dial()
	// The bridge takes a client once it has accepted it; the first line may race that, so type until it comes back.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c1.Write([]byte("typed-1\n")); err != nil {
			t.Fatal(err)
		}
		_ = c1.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		line, err := r1.ReadString('\n')
		if err == nil && strings.Contains(line, "typed-1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the typed line did not come back: %q %v", line, err)
		}
	}

	// A second client while the first is connected is closed at once.
	c2, r2 := dial()
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r2.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("second client: read %v, want EOF", err)
	}
	c2.Close()
	// The first is still served.
	if _, err := c1.Write([]byte("typed-2\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c1, r1, "typed-2")
	c1.Close()

	// Once it has gone, the next client gets the console.
	var c3 net.Conn
	var r3 *bufio.Reader
	r.eventually("a new client served", func() bool {
		c3, r3 = dial()
		_, _ = c3.Write([]byte("typed-3\n"))
		_ = c3.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		line, err := r3.ReadString('\n')
		if err == nil && strings.Contains(line, "typed-3") {
			return true
		}
		c3.Close()
		return false
	})
	defer c3.Close()
	r.eventually("typed lines in the console log", func() bool {
		out, _ := r.drv.ConsoleOutput(context.Background(), r.g, 0)
		return strings.Contains(string(out), "typed-1\n") && strings.Contains(string(out), "typed-3\n")
	})

	// Power off ends the bridge with the guest (client disconnected, port closed); power on serves it again.
	if err := r.drv.PowerOff(context.Background(), r.g, 0); err != nil {
		t.Fatal(err)
	}
	_ = c3.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(r3); err != nil {
		t.Errorf("client after power off: %v, want EOF", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the console still listens after power off")
	}
	if err := r.drv.PowerOn(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	c4, r4 := dial()
	defer c4.Close()
	r.eventually("the console served after power on", func() bool {
		_, _ = c4.Write([]byte("typed-4\n"))
		_ = c4.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		line, err := r4.ReadString('\n')
		return err == nil && strings.Contains(line, "typed-4")
	})
	if err := r.drv.Destroy(context.Background(), r.g); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the console still listens after destroy")
	}
}

// TestSerialConsoleBridgeBusyPort: a TCP console whose port is taken leaves the guest and its log running and
// says so in bhyve.log.
func TestSerialConsoleBridgeBusyPort(t *testing.T) {
	r := newRig(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	r.dom.Devices.Consoles[0].Source = &libvirtxml.DomainChardevSource{TCP: &libvirtxml.DomainChardevSourceTCP{
		Mode: "bind", Host: "127.0.0.1", Service: itoa(port)}}
	r.spawn()
	r.eventually("console marker", func() bool {
		out, _ := r.drv.ConsoleOutput(context.Background(), r.g, 0)
		return strings.Contains(string(out), "standin boot "+r.g.Name)
	})
	r.eventually("the refusal in bhyve.log", func() bool {
		b, _ := readFile(r.g.Dir + "/bhyve.log")
		return strings.Contains(b, "serial console on 127.0.0.1:"+itoa(port))
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}
