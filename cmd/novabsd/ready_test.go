package main

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/cmd/novabsd/internal/sdnotify"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestReadyTap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		level     slog.Level // the log's level
		log       func(*slog.Logger)
		wantReady bool
		wantOut   []string // messages that reach the log
	}{
		{"other records", slog.LevelInfo, func(l *slog.Logger) { l.Info("Serving Nova"); l.Warn("Compute service") },
			false, []string{"Serving Nova", "Compute service"}},
		{"ready record", slog.LevelInfo, func(l *slog.Logger) { l.Info("Serving Nova"); l.Info(readyMessage, "host", "h") },
			true, []string{"Serving Nova", readyMessage}},
		{"ready twice", slog.LevelInfo, func(l *slog.Logger) { l.Info(readyMessage); l.Info(readyMessage) },
			true, []string{readyMessage, readyMessage}},
		{"through With and WithGroup", slog.LevelInfo, func(l *slog.Logger) { l.With("k", 1).WithGroup("g").Info(readyMessage) },
			true, []string{readyMessage}},
		// The record is seen even by a log that does not show Info; the log still drops it.
		{"log above info", slog.LevelWarn, func(l *slog.Logger) { l.Info(readyMessage); l.Debug("d"); l.Error("e") },
			true, []string{"e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			ready := make(chan struct{})
			next := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tc.level})
			tc.log(slog.New(newReadyTap(next, ready)))
			if got := closed(ready); got != tc.wantReady {
				t.Errorf("ready closed: %v, want %v", got, tc.wantReady)
			}
			var msgs []string
			dec := json.NewDecoder(&buf)
			for dec.More() {
				var rec struct{ Msg string }
				if err := dec.Decode(&rec); err != nil {
					t.Fatalf("log output: %v", err)
				}
				msgs = append(msgs, rec.Msg)
			}
			if strings.Join(msgs, "|") != strings.Join(tc.wantOut, "|") {
				t.Errorf("logged %q, want %q", msgs, tc.wantOut)
			}
		})
	}
}

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

// TestComputeLogsReadyMessage holds readyTap's assumption: compute.Service.Run logs readyMessage, and only after it
// has started its RPC servers (startServers), so READY=1 never goes out before the service consumes its topics.
func TestComputeLogsReadyMessage(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "compute", "service.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var run *ast.FuncDecl
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "Run" && fd.Recv != nil {
			run = fd
		}
	}
	if run == nil {
		t.Fatal("compute/service.go has no (*Service).Run")
	}
	var servers, message token.Pos
	ast.Inspect(run.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if n.Sel.Name == "startServers" && servers == token.NoPos {
				servers = n.Pos()
			}
		case *ast.BasicLit:
			if n.Kind == token.STRING && n.Value == strconv.Quote(readyMessage) {
				message = n.Pos()
			}
		}
		return true
	})
	if servers == token.NoPos || message == token.NoPos {
		t.Fatalf("compute.Service.Run: startServers call found: %v, %q logged: %v; READY=1 would never be sent",
			servers != token.NoPos, readyMessage, message != token.NoPos)
	}
	if message < servers {
		t.Fatalf("compute.Service.Run logs %q (%s) before it starts its RPC servers (%s)", readyMessage,
			fset.Position(message), fset.Position(servers))
	}
}
