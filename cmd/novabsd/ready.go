package main

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/novabsd/novabsd/cmd/novabsd/internal/sdnotify"
)

// readyMessage is the record compute.Service.Run logs once it has joined the cloud and its RPC servers consume the
// compute topics, just before its periodic loops start. compute.Options has no readiness hook, so that record is the
// service's one sign of readiness to its caller; TestComputeLogsReadyMessage checks that compute still logs it there.
const readyMessage = "Compute service started"

// readyTap is a slog.Handler that passes every record on and closes ready at the first readyMessage record. It does
// no I/O itself: reportState sends the notification.
type readyTap struct {
	next  slog.Handler
	ready chan<- struct{}
	fired *atomic.Bool
}

func newReadyTap(next slog.Handler, ready chan<- struct{}) readyTap {
	return readyTap{next: next, ready: ready, fired: new(atomic.Bool)}
}

// Enabled lets Info records through even if the log level were above Info, so that the readiness record is seen;
// Handle then drops what next would not have logged.
func (h readyTap) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h readyTap) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == readyMessage && h.fired.CompareAndSwap(false, true) {
		close(h.ready)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h readyTap) WithAttrs(attrs []slog.Attr) slog.Handler {
	return readyTap{next: h.next.WithAttrs(attrs), ready: h.ready, fired: h.fired}
}

func (h readyTap) WithGroup(name string) slog.Handler {
	return readyTap{next: h.next.WithGroup(name), ready: h.ready, fired: h.fired}
}

// reportState tells the service manager (systemd, for a Type=notify unit) READY=1 when ready closes and STOPPING=1
// when ctx ends, that is when the stop begins; a service stopped before it was ready only reports STOPPING=1. It
// returns after STOPPING=1 has been sent. A nil notifier (no manager listening) sends nothing.
func reportState(ctx context.Context, ready <-chan struct{}, n *sdnotify.Notifier, log *slog.Logger) {
	select {
	case <-ready:
		if err := n.Notify(sdnotify.Ready); err != nil {
			log.Warn("Cannot tell the service manager that the service is ready", "error", err)
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	if err := n.Notify(sdnotify.Stopping); err != nil {
		log.Warn("Cannot tell the service manager that the service is stopping", "error", err)
	}
}
