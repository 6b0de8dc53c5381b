package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/internal/freeport"
)

// serialConn is a client of a guest's TCP serial console that keeps everything read.
type serialConn struct {
	t    *testing.T
	conn net.Conn
	got  bytes.Buffer
}

// waitFor reads until the output holds want, failing the test after d.
func (c *serialConn) waitFor(want string, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	buf := make([]byte, 4096)
	for !strings.Contains(c.got.String(), want) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%q not seen on the serial console within %v; read:\n%s", want, d, c.got.String())
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.conn.Read(buf)
		c.got.Write(buf[:n])
		if err != nil && !os.IsTimeout(err) {
			c.t.Fatalf("serial console read: %v; read so far:\n%s", err, c.got.String())
		}
	}
}

// TestQEMUSerialConsole boots the tiny image with [serial_console] enabled and talks to its shell over the TCP
// serial console get_serial_console names, as nova-serialproxy does: the guest's output arrives, a typed command
// is answered, and the console log keeps recording all of it. A stop and start keep the port; the delete frees it.
func TestQEMUSerialConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a real guest under TCG")
	}
	needTinyQEMU(t)
	h := newHarness(t)
	drv := useTinyQEMU(t, h)
	base := freeport.Range(t, 43000, 2)
	cfg := *h.s.cfg.Load()
	cfg.SerialConsole = conf.SerialConsoleGroup{Enabled: true, PortRange: itoa(base) + ":" + itoa(base+2),
		ProxyclientAddress: "127.0.0.1", BaseURL: "ws://ctl:6083/"}
	h.s.cfg.Store(&cfg)

	uuid := "99999999-0000-4000-8000-0000000000f1"
	bootTinyQEMU(t, h, drv, uuid)

	rpcCall := func(fn func(context.Context, json.RawMessage) (any, error), task string, args map[string]any) any {
		t.Helper()
		return callInstance(t, h, uuid, "call", fn, task, args)
	}
	console := func() (string, int) {
		info := rpcCall(h.s.getSerialConsole, "", map[string]any{"console_type": "serial"}).(map[string]any)
		return info["host"].(string), info["port"].(int)
	}
	host, port := console()
	if host != "127.0.0.1" || port != base {
		t.Fatalf("get_serial_console = %s:%d, want 127.0.0.1:%d", host, port, base)
	}
	if ok := rpcCall(h.s.validateConsolePort, "", map[string]any{"port": itoa(port),
		"console_type": "serial"}); ok != true {
		t.Errorf("validate_console_port(%d, serial) = %v", port, ok)
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &serialConn{t: t, conn: conn}
	// The heartbeat comes every 5 s whenever the client connected: the guest's output reaches the client.
	c.waitFor("novabsd-tiny: alive", 3*time.Minute)
	// busybox init's askfirst shell on ttyS0 starts on Enter; the answer is computed by the guest's shell, so the
	// terminal's echo of the typed line alone cannot match it.
	if _, err := conn.Write([]byte("\r")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if _, err := conn.Write([]byte("echo novabsd-serial-$((6*7))-ok\r")); err != nil {
		t.Fatal(err)
	}
	c.waitFor("novabsd-serial-42-ok", time.Minute)

	// QEMU writes the log beside the socket, not before it: give it a moment to catch up.
	var log string
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		log = consoleOutput(t, h, uuid)
		if strings.Contains(log, "NOVABSD-TINY-GUEST-READY") && strings.Contains(log, "novabsd-serial-42-ok") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("console log lacks the marker or the answer with the TCP console on:\n%s", log)
		}
	}
	conn.Close()

	rpcCall(h.s.stopInstance, taskPoweringOff, map[string]any{"clean_shutdown": false})
	rpcCall(h.s.startInstance, taskPoweringOn, map[string]any{})
	if _, again := console(); again != port {
		t.Errorf("after stop and start the port is %d, want %d", again, port)
	}
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 5*time.Second); err != nil {
		t.Errorf("the restarted guest's console does not listen: %v", err)
	} else {
		conn.Close()
	}

	rpcCall(h.s.terminateInstance, taskDeleting, map[string]any{"bdms": nil})
	if p, err := h.s.lc.eng.serial.Pick("another", "127.0.0.1", base, base+1); err != nil || p != port {
		t.Errorf("after the delete Pick = %d (%v), want the freed %d", p, err, port)
	}
}
