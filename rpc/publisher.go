package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novabsd/novabsd/internal/retry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// pubChannels is how many confirm-mode channels share the publishing connection. One: since the connection
// coalesces writes (coalescingConn), a publish holds its channel only to copy its frames, and the broker routes
// and confirms one busy channel in batches, spending less per message than on several (rpc/bench, 32 callers:
// about 15% less broker CPU per call and 10-15% more calls/s than with 4 channels).
const pubChannels = 1

// exchangeDecl is the exchange a publish goes to, declared once per channel before first use as oslo's
// Connection._publish does ("" is the default exchange and is never declared).
type exchangeDecl struct {
	name       string
	kind       string
	durable    bool
	autoDelete bool
}

// publisher owns the publishing connection. Every publish waits for the broker's confirm and is retried across
// reconnects until confirmed or until its context ends, so nothing is silently lost.
type publisher struct {
	t *Transport

	mu      sync.Mutex
	cur     *pubConn
	dialing chan struct{} // closed when the dial in progress ends
	closed  bool
}

type pubConn struct {
	conn  *amqp.Connection
	chans [pubChannels]*pubChannel
	next  atomic.Uint32
	dead  chan struct{}
}

type pubChannel struct {
	mu       sync.Mutex
	ch       *amqp.Channel
	declared map[string]bool
	// returned maps a mandatory message's _unique_id to the signal of its basic.return.
	retMu    sync.Mutex
	returned map[string]chan struct{}
	// sync asks the return watcher of the current AMQP channel to take in every basic.return already
	// received; watcherGone closes when that watcher ends with its channel.
	sync        chan chan struct{}
	watcherGone chan struct{}
}

// ErrUndeliverable is returned for a mandatory publish the broker could not route (oslo MessageUndeliverable),
// e.g. a reply whose caller's queue is gone.
var ErrUndeliverable = errors.New("rpc: message undeliverable: no queue bound for routing key")

func newPublisher(t *Transport) *publisher { return &publisher{t: t} }

func (p *publisher) close() {
	p.mu.Lock()
	p.closed = true
	cur := p.cur
	p.cur = nil
	p.mu.Unlock()
	if cur != nil {
		_ = cur.conn.Close()
	}
}

// connection returns a live publishing connection, dialing (once, shared by all waiters) when there is none.
func (p *publisher) connection(ctx context.Context) (*pubConn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("rpc: transport closed")
		}
		if p.cur != nil {
			select {
			case <-p.cur.dead:
				p.cur = nil
			default:
				c := p.cur
				p.mu.Unlock()
				return c, nil
			}
		}
		if p.dialing == nil {
			p.dialing = make(chan struct{})
			go p.dial(p.dialing)
		}
		wait := p.dialing
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (p *publisher) dial(done chan struct{}) {
	defer func() {
		p.mu.Lock()
		p.dialing = nil
		p.mu.Unlock()
		close(done)
	}()
	conn, err := p.t.dial(p.t.ctx, "publish")
	if err != nil {
		return
	}
	pc := &pubConn{conn: conn, dead: make(chan struct{})}
	for i := range pc.chans {
		c := &pubChannel{returned: map[string]chan struct{}{}}
		if err := c.open(conn); err != nil {
			p.t.log.Warn("cannot open publishing channel", "err", err)
			_ = conn.Close()
			return
		}
		pc.chans[i] = c
	}
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		if err := <-closes; err != nil {
			p.t.log.Warn("publishing connection lost", "err", err)
		}
		close(pc.dead)
	}()
	p.mu.Lock()
	p.cur = pc
	p.mu.Unlock()
}

// open (re)opens c's AMQP channel in confirm mode; callers hold c.mu or own c exclusively.
func (c *pubChannel) open(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	c.ch, c.declared = ch, map[string]bool{}
	rets := ch.NotifyReturn(make(chan amqp.Return, 16))
	c.sync, c.watcherGone = make(chan chan struct{}), make(chan struct{})
	go c.watchReturns(rets, c.sync, c.watcherGone)
	return nil
}

// watchReturns signals the publishers whose mandatory messages bounced. amqp091 hands a basic.return to rets
// before it resolves the confirm of the same message, so a publisher that asks for a sync after its ack
// learns for certain whether its message came back; without the sync it would race this goroutine.
func (c *pubChannel) watchReturns(rets <-chan amqp.Return, sync <-chan chan struct{}, gone chan struct{}) {
	defer close(gone)
	bounce := func(r amqp.Return) {
		id := uniqueIDOf(r.Body)
		c.retMu.Lock()
		if sig, ok := c.returned[id]; ok {
			close(sig)
			delete(c.returned, id)
		}
		c.retMu.Unlock()
	}
	for {
		select {
		case r, ok := <-rets:
			if !ok {
				return
			}
			bounce(r)
		case done := <-sync:
			for drained := false; !drained; {
				select {
				case r, ok := <-rets:
					if !ok {
						close(done)
						return
					}
					bounce(r)
				default:
					drained = true
				}
			}
			close(done)
		}
	}
}

// uniqueIDOf digs the _unique_id out of a returned body to find whose publish bounced.
func uniqueIDOf(body []byte) string {
	inner, err := UnwrapEnvelope(body)
	if err != nil {
		return ""
	}
	var m struct {
		UniqueID string `json:"_unique_id"`
	}
	_ = json.Unmarshal(inner, &m)
	return m.UniqueID
}

type publishing struct {
	ex         exchangeDecl
	key        string
	body       []byte
	mandatory  bool
	expiration string // calls: the timeout in ms, as kombu sets it
	uniqueID   string // for matching basic.return of mandatory publishes
}

// publish sends m and waits for its confirm, retrying on connection loss or nack until ctx ends. A declaration
// refused by the broker and an unroutable mandatory message are returned at once: retrying cannot fix them.
func (p *publisher) publish(ctx context.Context, m *publishing) error {
	var lastErr error
	for range retry.Loop(ctx, publishRetry) {
		pc, err := p.connection(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("rpc: publishing to exchange %q (routing key %q): %w (last error: %v)",
					m.ex.name, m.key, ctx.Err(), lastErr)
			}
			return err
		}
		err = p.publishOnce(ctx, pc, m)
		if err == nil {
			return nil
		}
		var derr *DeclareError
		if errors.Is(err, ErrUndeliverable) || (errors.As(err, &derr) && !isConnClosed(err)) {
			return err
		}
		lastErr = err
	}
	return fmt.Errorf("rpc: publishing to exchange %q (routing key %q) not confirmed: %w (last error: %v)",
		m.ex.name, m.key, ctx.Err(), lastErr)
}

// publishRetry paces publish: 100 ms more per attempt, at most 1 s, until the context ends.
var publishRetry = retry.Policy{Backoff: retry.Backoff{Initial: 100 * time.Millisecond, Step: 100 * time.Millisecond,
	Max: time.Second}}

func isConnClosed(err error) bool {
	var aerr *amqp.Error
	if errors.Is(err, amqp.ErrClosed) {
		return true
	}
	return errors.As(err, &aerr) && (aerr.Code == amqp.ConnectionForced || aerr.Recover)
}

func (p *publisher) publishOnce(ctx context.Context, pc *pubConn, m *publishing) error {
	c := pc.chans[pc.next.Add(1)%pubChannels]
	c.mu.Lock()
	if c.ch.IsClosed() {
		if err := c.open(pc.conn); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	ch := c.ch
	if m.ex.name != "" && !c.declared[m.ex.name] {
		err := ch.ExchangeDeclare(m.ex.name, m.ex.kind, m.ex.durable, m.ex.autoDelete, false, false, nil)
		if err != nil && isDurableMismatch(err) && m.ex.durable {
			// oslo's _publish: a control exchange first made non-durable by another service is reused as is.
			p.t.log.Warn("exchange exists as non-durable; publishing to it non-durable", "exchange", m.ex.name)
			if err = c.open(pc.conn); err == nil {
				ch = c.ch
				err = ch.ExchangeDeclare(m.ex.name, m.ex.kind, false, m.ex.autoDelete, false, false, nil)
			}
		}
		if err != nil {
			c.mu.Unlock()
			return &DeclareError{"exchange", m.ex.name, err}
		}
		c.declared[m.ex.name] = true
	}
	var bounced chan struct{}
	syncReturns, watcherGone := c.sync, c.watcherGone
	if m.mandatory && m.uniqueID != "" {
		bounced = make(chan struct{})
		c.retMu.Lock()
		c.returned[m.uniqueID] = bounced
		c.retMu.Unlock()
		defer func() {
			c.retMu.Lock()
			delete(c.returned, m.uniqueID)
			c.retMu.Unlock()
		}()
	}
	c.mu.Unlock()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, m.ex.name, m.key, m.mandatory, false, amqp.Publishing{
		Headers:         amqp.Table{},
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		DeliveryMode:    amqp.Persistent,
		Expiration:      m.expiration,
		Body:            m.body,
	})
	if err != nil {
		return err
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if !dc.Acked() {
		return errors.New("rpc: broker did not confirm the message (nack or channel closed)")
	}
	if bounced != nil {
		done := make(chan struct{})
		select {
		case syncReturns <- done:
			select {
			case <-done:
			case <-watcherGone:
			}
		case <-watcherGone:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-bounced:
			return ErrUndeliverable
		default:
		}
	}
	return nil
}
