package rpc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const brokerURL = "rabbit://guest:guest@127.0.0.1:5672/"

// needBroker fails under CI=true and skips otherwise when RabbitMQ is not reachable.
func needBroker(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5672", 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ not reachable on 127.0.0.1:5672 (start it with rabbitmq-server -detached): %v", err)
		}
		t.Skipf("RabbitMQ not reachable on 127.0.0.1:5672: %v", err)
	}
	c.Close()
}

var nameSeq atomic.Int64

// uniqueName keeps parallel and repeated test runs from sharing exchanges and queues.
func uniqueName(t testing.TB) string {
	n := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	if len(n) > 40 {
		n = n[:40]
	}
	return fmt.Sprintf("t-%s-%d-%d", strings.ToLower(n), os.Getpid(), nameSeq.Add(1))
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testOptions(t testing.TB, exchange string) Options {
	o := DefaultOptions()
	o.TransportURL = brokerURL
	o.ControlExchange = exchange
	o.RPCResponseTimeout = 20 * time.Second
	o.Logger = testLogger(t)
	o.PingEnabled = true
	return o
}

func newTestTransport(t testing.TB, o Options) *Transport {
	t.Helper()
	tr, err := NewTransport(o)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func startServer(t testing.TB, tr *Transport, topic, server string, register func(*Server)) *Server {
	t.Helper()
	s, err := tr.NewServer(Target{Topic: topic, Server: server})
	if err != nil {
		t.Fatal(err)
	}
	register(s)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}
