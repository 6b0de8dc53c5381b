package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		socket  string
		wantNil bool // no manager: a nil Notifier and no error
		wantErr bool
	}{
		{socket: "", wantNil: true},
		{socket: "/run/systemd/notify"},
		{socket: "@/org/freedesktop/systemd1/notify/123"},
		{socket: "run/systemd/notify", wantErr: true},
		{socket: "@", wantErr: true},
		{socket: "/run/\x00x", wantErr: true},
		{socket: "/" + strings.Repeat("a", 108), wantErr: true},
	} {
		t.Run(fmt.Sprintf("%q", tc.socket), func(t *testing.T) {
			n, err := New(tc.socket)
			if tc.wantErr {
				if !errors.Is(err, ErrBadSocket) {
					t.Fatalf("New(%q) = %v, %v; want an ErrBadSocket", tc.socket, n, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tc.socket, err)
			}
			if (n == nil) != tc.wantNil {
				t.Fatalf("New(%q) = %v; want nil: %v", tc.socket, n, tc.wantNil)
			}
		})
	}
}

// listen opens a datagram socket as the service manager does and returns what it receives.
func listen(t *testing.T, name string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on %q: %v", name, err)
	}
	got := make(chan string, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return // closed by the cleanup
			}
			got <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return got
}

func receive(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived")
		return ""
	}
}

func TestNotifySendsDatagrams(t *testing.T) {
	sockets := map[string]string{"path": filepath.Join(t.TempDir(), "notify")}
	if runtime.GOOS == "linux" {
		sockets["abstract"] = fmt.Sprintf("@novabsd-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	for kind, name := range sockets {
		t.Run(kind, func(t *testing.T) {
			got := listen(t, name)
			n, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Notify(Ready); err != nil {
				t.Fatalf("Notify(READY=1): %v", err)
			}
			if m := receive(t, got); m != "READY=1" {
				t.Fatalf("manager got %q, want READY=1", m)
			}
			if err := n.Notify(Stopping, "STATUS=draining"); err != nil {
				t.Fatalf("Notify(STOPPING=1, STATUS): %v", err)
			}
			if m := receive(t, got); m != "STOPPING=1\nSTATUS=draining" {
				t.Fatalf("manager got %q, want both assignments in one datagram", m)
			}
		})
	}
}

func TestNotifyErrors(t *testing.T) {
	var none *Notifier
	if err := none.Notify(Ready); err != nil {
		t.Fatalf("a nil Notifier must send nothing and succeed: %v", err)
	}
	n, err := New(filepath.Join(t.TempDir(), "nobody-listens"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(Ready); err == nil {
		t.Fatal("Notify to a socket nobody listens on succeeded")
	}
	for _, bad := range []string{"READY", "READY=1\nMAINPID=1"} {
		if err := n.Notify(bad); err == nil || !strings.Contains(err.Error(), "assignment") {
			t.Errorf("Notify(%q) = %v; want it refused as not one assignment", bad, err)
		}
	}
}
