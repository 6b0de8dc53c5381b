//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSerialConsole: `openstack console url show --serial` names nova-serialproxy's websocket with a token; through
// it, as a user would, the guest's output arrives, a line typed to its shell reaches the guest and the guest's
// answer comes back, and the console log Nova shows holds it too. The path: nova-api → get_serial_console on the
// novabsd host (a ConsoleAuthToken from the conductor) → nova-serialproxy checks the token and asks the host
// (validate_console_port) → the guest's TCP serial console on [serial_console] proxyclient_address.
func TestSerialConsole(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	id := createServer(t, host, "e2e-serial", "tiny")
	waitMarker(t, id, 1, 3*time.Minute)

	c := openstackJSON1(t, "console", "url", "show", "--serial", id)
	url := field(c, "url")
	if !strings.HasPrefix(url, "ws://127.0.0.1:6083/?token=") || field(c, "type") != "serial" {
		t.Fatalf("console url show --serial = %v, want type serial and ws://127.0.0.1:6083/?token=...", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// websockify (nova-serialproxy) speaks binary frames; "binary" is the subprotocol it still accepts by name.
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		t.Fatalf("websocket %s: %v (response %v)", url, err, resp)
	}
	conn := websocket.NetConn(ctx, ws, websocket.MessageBinary)

	// One reader keeps everything the guest prints; it ends when the websocket closes (deferred below, before
	// the wait for it). A read deadline would close the websocket itself (websocket.NetConn), so there is none.
	var (
		mu   sync.Mutex
		got  bytes.Buffer
		done = make(chan error, 1)
	)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				done <- err
				return
			}
		}
	}()
	defer func() {
		ws.CloseNow()
		<-done
	}()
	read := func() string {
		mu.Lock()
		defer mu.Unlock()
		return got.String()
	}
	waitFor := func(want string, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !strings.Contains(read(), want) {
			select {
			case err := <-done:
				done <- err // for the deferred wait
				t.Fatalf("the serial console closed (%v) before %q; read:\n%s", err, want, tail(read(), 30))
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q not seen through nova-serialproxy within %v; read:\n%s", want, d, tail(read(), 30))
			}
		}
	}
	// The guest prints a heartbeat every 5 s.
	waitFor("novabsd-tiny: alive", time.Minute)
	// busybox init's askfirst shell starts on Enter; the answer is computed by the guest's shell, so the
	// terminal's echo of the typed line cannot match it.
	if _, err := conn.Write([]byte("\r")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if _, err := conn.Write([]byte("echo novabsd-serial-$((6*7))-ok\r")); err != nil {
		t.Fatal(err)
	}
	waitFor("novabsd-serial-42-ok", time.Minute)

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(consoleLog(t, id), "novabsd-serial-42-ok") {
		if time.Now().After(deadline) {
			t.Fatalf("the console log lacks the typed command's answer:\n%s", tail(consoleLog(t, id), 20))
		}
		time.Sleep(2 * time.Second)
	}
}
