package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/novabsd/novabsd/cmd/novabsd/internal/sdnotify"
)

func TestReportState(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func() string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	n, err := sdnotify.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)

	t.Run("ready then stop", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); reportState(ctx, ready, n, log) }()
		close(ready)
		if m := next(); m != sdnotify.Ready {
			t.Fatalf("first notification %q, want %q", m, sdnotify.Ready)
		}
		cancel()
		if m := next(); m != sdnotify.Stopping {
			t.Fatalf("second notification %q, want %q", m, sdnotify.Stopping)
		}
		<-done
	})
	t.Run("stopped before ready", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); reportState(ctx, make(chan struct{}), n, log) }()
		cancel()
		if m := next(); m != sdnotify.Stopping {
			t.Fatalf("notification %q, want only %q", m, sdnotify.Stopping)
		}
		<-done
	})
}
