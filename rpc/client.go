package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/novabsd/novabsd/internal/retry"
)

// Client sends calls and casts to a Target. It is a small value: the With* methods return adjusted copies, like
// oslo's RPCClient.prepare.
type Client struct {
	t      *Transport
	target Target
	// Timeout bounds a call (rpc_response_timeout by default).
	timeout time.Duration
	// callMonitor is sent as _timeout: the server heartbeats every half of it and the call fails when heartbeats
	// stop, even within timeout. 0 sends null (no monitoring).
	callMonitor time.Duration
	versionCap  string
}

// NewClient makes a client for target; target.Exchange defaults to Options.ControlExchange.
func (t *Transport) NewClient(target Target) *Client {
	if target.Exchange == "" {
		target.Exchange = t.opts.ControlExchange
	}
	return &Client{t: t, target: target, timeout: t.opts.RPCResponseTimeout}
}

// WithServer targets one server of the topic (routing key topic.server).
func (c *Client) WithServer(server string) *Client { n := *c; n.target.Server = server; return &n }

// WithFanout makes casts go to every server of the topic.
func (c *Client) WithFanout() *Client { n := *c; n.target.Fanout = true; return &n }

// WithVersion sets the API version messages claim.
func (c *Client) WithVersion(v string) *Client { n := *c; n.target.Version = v; return &n }

// WithNamespace sets the endpoint namespace ("" = none).
func (c *Client) WithNamespace(ns string) *Client { n := *c; n.target.Namespace = ns; return &n }

// WithTimeout sets the call timeout.
func (c *Client) WithTimeout(d time.Duration) *Client { n := *c; n.timeout = d; return &n }

// WithCallMonitor sets the call-monitor timeout (_timeout) for long calls.
func (c *Client) WithCallMonitor(d time.Duration) *Client { n := *c; n.callMonitor = d; return &n }

// WithVersionCap pins the highest version this client may send (oslo's version_cap, [upgrade_levels]).
func (c *Client) WithVersionCap(v string) *Client { n := *c; n.versionCap = v; return &n }

// VersionCapError is oslo's RPCVersionCapError: the message's version is above the pinned cap.
type VersionCapError struct {
	Version, Cap string
}

func (e *VersionCapError) Error() string {
	return fmt.Sprintf("rpc: requested message version %s is incompatible; it needs to be equal to or less than the version cap %s", e.Version, e.Cap)
}

// CanSendVersion reports whether version is allowed by the cap (always, with no cap).
func (c *Client) CanSendVersion(version string) bool {
	if c.versionCap == "" {
		return true
	}
	ok, err := VersionCompatible(c.versionCap, version)
	return err == nil && ok
}

func (c *Client) message(rc *RequestContext, method string, args any) (*Request, error) {
	if c.target.Version != "" && !c.CanSendVersion(c.target.Version) {
		return nil, &VersionCapError{Version: c.target.Version, Cap: c.versionCap}
	}
	var raw json.RawMessage
	switch a := args.(type) {
	case nil:
		raw = json.RawMessage("{}")
	case json.RawMessage:
		raw = a
	default:
		b, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("rpc: encoding arguments of %s: %w", method, err)
		}
		raw = b
	}
	if !isJSONObject(raw) {
		return nil, fmt.Errorf("rpc: arguments of %s must encode to a JSON object", method)
	}
	req := &Request{Method: method, Args: raw, Version: c.target.Version, Namespace: c.target.Namespace,
		UniqueID: newHexID()}
	if rc != nil {
		req.Context = *rc
	}
	return req, nil
}

func (c *Client) routing() (exchangeDecl, string) {
	r := &c.t.opts.Rabbit
	if c.target.Fanout {
		return exchangeDecl{name: c.target.Topic + "_fanout", kind: "fanout", durable: r.TransientQuorumQueue,
			autoDelete: true}, ""
	}
	key := c.target.Topic
	if c.target.Server != "" {
		key += "." + c.target.Server
	}
	return exchangeDecl{name: c.target.Exchange, kind: "topic", durable: r.durable(), autoDelete: r.AutoDelete}, key
}

// Cast sends method(args) without waiting for a result. It returns once the broker confirmed the message,
// retrying across reconnects until then or until ctx ends; args is any JSON-marshallable object.
func (c *Client) Cast(ctx context.Context, rc *RequestContext, method string, args any) error {
	req, err := c.message(rc, method, args)
	if err != nil {
		return err
	}
	body, err := encodeRequest(req)
	if err != nil {
		return err
	}
	ex, key := c.routing()
	return c.t.pub.publish(ctx, &publishing{ex: ex, key: key, body: body})
}

// Call sends method(args) and waits for the result JSON. A remote failure comes back as *RemoteError; no reply
// within the timeout (or a lost reply connection) as *TimeoutError (errors.Is(err, ErrTimeout)).
func (c *Client) Call(ctx context.Context, rc *RequestContext, method string, args any) (json.RawMessage, error) {
	if c.target.Fanout {
		return nil, errors.New("rpc: cannot call a fanout target")
	}
	req, err := c.message(rc, method, args)
	if err != nil {
		return nil, err
	}
	timeout := c.timeout
	if timeout <= 0 {
		timeout = c.t.opts.RPCResponseTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rw, err := c.t.replies(ctx)
	if err != nil {
		return nil, &TimeoutError{Method: method, Reason: err.Error()}
	}
	req.MsgID = newHexID()
	req.ReplyQ = rw.queue
	if c.callMonitor > 0 {
		s := c.callMonitor.Seconds()
		req.Timeout = &s
	}
	body, err := encodeRequest(req)
	if err != nil {
		return nil, err
	}
	pc := rw.listen(req.MsgID)
	defer rw.unlisten(req.MsgID)
	if err := c.publishCall(ctx, req, body); err != nil {
		var derr *DeclareError
		if errors.As(err, &derr) {
			return nil, err
		}
		return nil, &TimeoutError{MsgID: req.MsgID, ReplyQueue: rw.queue, Method: method, Reason: err.Error()}
	}
	return c.await(ctx, req, rw, pc)
}

// publishCall publishes a call mandatory and, while no queue is bound for its routing key, publishes it again
// until ctx ends. oslo.messaging publishes calls without the flag, so a call sent while its server is
// re-declaring its queues (after a broker restart, say) is dropped and waits out the whole timeout; ours
// reaches the server as soon as it consumes again. The message is the same on the wire either way.
func (c *Client) publishCall(ctx context.Context, req *Request, body []byte) error {
	ex, key := c.routing()
	m := &publishing{ex: ex, key: key, body: body, mandatory: true, uniqueID: req.UniqueID}
	for range retry.Loop(ctx, republishRetry) {
		if dl, ok := ctx.Deadline(); ok { // kombu's expiration: what is left of the call's timeout, in ms
			m.expiration = strconv.FormatInt(max(time.Until(dl).Milliseconds(), 1), 10)
		}
		err := c.t.pub.publish(ctx, m)
		if !errors.Is(err, ErrUndeliverable) {
			if err != nil {
				return fmt.Errorf("request not confirmed by the broker: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("no queue bound for routing key %q on exchange %q until the timeout: no server consumes it", key, ex.name)
}

// republishRetry paces publishCall: doubling from 100 ms to at most 2 s, until the call's context ends.
var republishRetry = retry.Policy{Backoff: retry.Backoff{Initial: 100 * time.Millisecond, Factor: 2, Max: 2 * time.Second}}

func (c *Client) await(ctx context.Context, req *Request, rw *replyWaiter, pc *pendingCall) (json.RawMessage, error) {
	var monitor <-chan time.Time
	var mt *time.Timer
	if c.callMonitor > 0 {
		mt = time.NewTimer(c.callMonitor)
		defer mt.Stop()
		monitor = mt.C
	}
	var result json.RawMessage
	timeout := func(reason string) error {
		return &TimeoutError{MsgID: req.MsgID, ReplyQueue: rw.queue, Method: req.Method, Reason: reason}
	}
	for {
		select {
		case r := <-pc.replies:
			if r.Failure != nil {
				return nil, r.Failure
			}
			if len(r.Result) > 0 && string(r.Result) != "null" {
				result = r.Result
			}
			if r.Ending {
				if result == nil {
					result = json.RawMessage("null")
				}
				return result, nil
			}
			if mt != nil { // a heartbeat (or an old-style partial result): the server is alive
				mt.Reset(c.callMonitor)
			}
		case <-monitor:
			return nil, timeout("no call-monitor heartbeat within " + c.callMonitor.String())
		case <-pc.lost:
			return nil, timeout("the connection of the reply queue was lost; the reply cannot arrive")
		case <-ctx.Done():
			return nil, timeout(ctx.Err().Error())
		}
	}
}

// scratch holds the inner message while it is quoted into the envelope; pooled because every call and reply
// needs one for a few microseconds.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// encodeRequest renders the AMQP body of req: the inner message, then the envelope around it.
func encodeRequest(req *Request) ([]byte, error) {
	sp := scratch.Get().(*[]byte)
	defer scratch.Put(sp)
	inner, err := req.appendJSON((*sp)[:0])
	if err != nil {
		return nil, err
	}
	*sp = inner[:0]
	return WrapEnvelope(inner)
}
