package main

import (
	"context"
	"log/slog"

	"github.com/novabsd/novabsd/cmd/novabsd/internal/sdnotify"
)

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
