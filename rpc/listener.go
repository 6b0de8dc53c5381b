package rpc

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/novabsd/novabsd/internal/retry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// listener keeps a dedicated connection consuming a fixed set of queues: it declares them, consumes, and on any
// loss reconnects (with the transport's backoff), re-declares and resumes. Queue names never change across
// reconnects, as oslo's Consumer objects keep theirs.
type listener struct {
	t         *Transport
	purpose   string
	specs     []queueSpec
	deliver   func(d *amqp.Delivery, stopping <-chan struct{})
	onLost    func()
	onStopped func(ch *amqp.Channel) // runs on a clean stop, before the connection closes
	// autoAck consumes without acknowledgements: used for the reply queue, where oslo acks every reply on
	// receipt anyway, so the broker is spared one frame per call.
	autoAck bool

	ready    chan struct{} // closed after the first successful declare+consume, or on a permanent failure
	readyErr error
	stop     chan struct{}
	done     chan struct{}

	offMu   sync.Mutex
	offsets map[string]int64 // stream queues: last offset seen
}

func newListener(t *Transport, purpose string, specs []queueSpec) *listener {
	return &listener{t: t, purpose: purpose, specs: specs, ready: make(chan struct{}), stop: make(chan struct{}),
		done: make(chan struct{}), offsets: map[string]int64{}}
}

func (l *listener) start() { go l.run() }

// waitReady waits until the queues are consumed the first time.
func (l *listener) waitReady(ctx context.Context) error {
	select {
	case <-l.ready:
		return l.readyErr
	case <-ctx.Done():
		return fmt.Errorf("rpc: %s: not consuming yet: %w", l.purpose, ctx.Err())
	}
}

// permanent tells errors that reconnecting cannot fix (refused declarations, refused credentials).
func permanent(err error) bool {
	var aerr *amqp.Error
	if !errors.As(err, &aerr) {
		return false
	}
	switch aerr.Code {
	case amqp.PreconditionFailed, amqp.AccessRefused, amqp.NotAllowed, amqp.ResourceLocked:
		return true
	}
	return false
}

func (l *listener) run() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(l.t.ctx)
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	first := true
	markReady := func(err error) {
		if first {
			first = false
			l.readyErr = err
			close(l.ready)
		}
	}
	defer markReady(errors.New("rpc: " + l.purpose + ": stopped before consuming"))
	for {
		conn, err := l.t.dial(ctx, l.purpose)
		if err != nil {
			return // stopped or transport closed
		}
		ch, tags, deliveries, err := l.setup(conn)
		if err != nil {
			_ = conn.Close()
			if first && permanent(err) {
				markReady(err)
				return
			}
			l.t.log.Error("cannot declare or consume; retrying", "purpose", l.purpose, "err", err)
			if !sleepCtx(ctx, l.t.opts.Rabbit.RetryInterval) {
				return
			}
			continue
		}
		markReady(nil)
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
		var wg sync.WaitGroup
		ended := make(chan struct{}, len(deliveries))
		for _, dch := range deliveries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range dch {
					l.safeDeliver(&d)
				}
				ended <- struct{}{}
			}()
		}
		graceful := func() {
			for _, tag := range tags {
				_ = ch.Cancel(tag, false)
			}
			wg.Wait()
			if l.onStopped != nil {
				l.onStopped(ch)
			}
			_ = conn.Close()
		}
		var reason any
		select {
		case <-l.stop:
			graceful()
			return
		case <-ctx.Done():
			select {
			case <-l.stop:
				graceful()
			default:
				_ = conn.Close()
				wg.Wait()
			}
			return
		case e := <-closed:
			reason = e
		case e := <-chClosed:
			reason = e
		case <-ended:
			reason = "consumer cancelled by the broker"
		}
		l.t.log.Warn("consuming connection lost; reconnecting", "purpose", l.purpose, "reason", fmt.Sprint(reason))
		if l.onLost != nil {
			l.onLost()
		}
		_ = conn.Close()
		wg.Wait()
		if !sleepCtx(ctx, l.t.opts.Rabbit.ReconnectDelay) {
			return
		}
	}
}

// safeDeliver hands d to deliver; a panic there (a message no decoder foresaw) is logged and the next message
// delivered, instead of the panic ending the process from this goroutine, where nothing else would recover it.
func (l *listener) safeDeliver(d *amqp.Delivery) {
	defer l.t.recoverPanic("delivering a message of " + l.purpose)
	l.deliver(d, l.stop)
}

// recoverPanic, deferred at the top of a goroutine (or of the work it does for one message), logs a panic with
// its stack and swallows it: nothing a peer sends may stop the service. It must be deferred itself, not called
// from a deferred function, for recover to see the panic.
func (t *Transport) recoverPanic(what string) {
	if p := recover(); p != nil {
		t.log.Error("panic while "+what+"; still serving", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	}
}

func (l *listener) setup(conn *amqp.Connection) (*amqp.Channel, []string, []<-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, nil, nil, err
	}
	if n := l.t.opts.Rabbit.QoSPrefetchCount; n > 0 {
		if err := ch.Qos(n, 0, false); err != nil {
			return nil, nil, nil, err
		}
	}
	var tags []string
	var outs []<-chan amqp.Delivery
	for i := range l.specs {
		s := &l.specs[i]
		if err := l.t.declare(conn, &ch, s); err != nil {
			return nil, nil, nil, err
		}
		args := s.consumerArgs
		if s.stream {
			args = amqp.Table{"x-stream-offset": "last"}
			l.offMu.Lock()
			if off, ok := l.offsets[s.queue]; ok {
				args["x-stream-offset"] = off + 1
			}
			l.offMu.Unlock()
		}
		tag := strconv.Itoa(i + 1) // kombu numbers consumer tags per connection
		d, err := ch.Consume(s.queue, tag, l.autoAck, false, false, false, args)
		if err != nil {
			return nil, nil, nil, &DeclareError{"consumer", s.queue, err}
		}
		if s.stream {
			d = l.trackOffsets(s.queue, d)
		}
		tags = append(tags, tag)
		outs = append(outs, d)
	}
	return ch, tags, outs, nil
}

func (l *listener) trackOffsets(queue string, in <-chan amqp.Delivery) <-chan amqp.Delivery {
	out := make(chan amqp.Delivery)
	go func() {
		defer close(out)
		for d := range in {
			if v, ok := d.Headers["x-stream-offset"].(int64); ok {
				l.offMu.Lock()
				l.offsets[queue] = v
				l.offMu.Unlock()
			}
			out <- d
		}
	}()
	return out
}

// sleepCtx reports whether d passed before ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool { return retry.Sleep(ctx, d) == nil }
