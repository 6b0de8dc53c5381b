package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Target names where messages go: Topic (e.g. "compute"), optionally Server (the host), in Exchange (default:
// Options.ControlExchange). For clients, Namespace and Version are sent with each message and Fanout casts to
// every server of the topic.
type Target struct {
	Exchange  string
	Topic     string
	Server    string
	Namespace string
	Version   string
	Fanout    bool
}

// Handler runs one RPC method. ctx carries the caller's RequestContext (RequestContextFrom) and is cancelled only
// when a graceful Stop runs out of time. args is the JSON object of keyword arguments. The result is sent as JSON:
// json.RawMessage as is, anything else through json.Marshal. An error is sent as a remote exception: return a
// *RemoteError to choose the Python class; DecodeArgs errors go out as builtins.TypeError.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

type endpoint struct {
	namespace string
	version   apiVersion
	methods   map[string]Handler
}

// Server consumes a target's queues (topic, topic.server and the topic's fanout queue) and dispatches each
// request to the endpoints registered on it, like oslo's RPC server with the default access policy.
type Server struct {
	t      *Transport
	target Target

	mu        sync.Mutex
	endpoints []endpoint
	l         *listener

	sem      chan struct{}
	inflight sync.WaitGroup
	dups     *dupCache
	// work hands a message to an idle worker. Workers live until the server has stopped, so a message costs
	// neither a goroutine start nor the stack growth of a fresh goroutine; there are at most len(sem).
	work     chan []byte
	workers  atomic.Int32
	quit     chan struct{} // closed once the server stopped and nothing is in flight
	quitOnce sync.Once

	hctx    context.Context // parent of handler contexts; cancelled when Stop gives up waiting
	hcancel context.CancelFunc
	stopped sync.Once
}

// NewServer makes a server for target (Topic and Server required). Register endpoints, then Start.
func (t *Transport) NewServer(target Target) (*Server, error) {
	if target.Topic == "" || target.Server == "" {
		return nil, fmt.Errorf("rpc: server target needs a topic and a server, got topic %q server %q", target.Topic,
			target.Server)
	}
	if target.Exchange == "" {
		target.Exchange = t.opts.ControlExchange
	}
	s := &Server{t: t, target: target, sem: make(chan struct{}, t.opts.ExecutorPoolSize),
		dups: newDupCache(t.opts.DuplicateWindow), work: make(chan []byte), quit: make(chan struct{})}
	s.hctx, s.hcancel = context.WithCancel(context.Background())
	return s, nil
}

// Register adds an endpoint: methods reachable under namespace ("" = none) by messages whose version has the
// same major and a minor not above version. Endpoints are tried in registration order; the first compatible one
// that has the method runs it. Method names starting with "_" are never dispatched.
func (s *Server) Register(namespace, version string, methods map[string]Handler) error {
	v, err := parseVersion(version)
	if err != nil {
		return fmt.Errorf("rpc: registering namespace %q: %w", namespace, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l != nil {
		return errors.New("rpc: Register after Start")
	}
	m := make(map[string]Handler, len(methods))
	for k, h := range methods {
		if h == nil {
			return fmt.Errorf("rpc: registering %q: nil handler", k)
		}
		m[k] = h
	}
	s.endpoints = append(s.endpoints, endpoint{namespace: namespace, version: v, methods: m})
	return nil
}

// Start declares the target's exchanges and queues and begins consuming; it returns once consuming (or when ctx
// ends, or when the broker refuses a declaration). Later connection losses are recovered in the background.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.l != nil {
		s.mu.Unlock()
		return errors.New("rpc: server already started")
	}
	if s.t.opts.PingEnabled && !s.hasMethod("oslo_rpc_server_ping") {
		// oslo's PingEndpoint has no target: namespace none, version 1.0.
		s.endpoints = append(s.endpoints, endpoint{version: apiVersion{1, 0, 0}, methods: map[string]Handler{
			"oslo_rpc_server_ping": func(context.Context, json.RawMessage) (any, error) { return "pong", nil },
		}})
	}
	tg := s.target
	specs := []queueSpec{
		s.t.topicSpec(tg.Exchange, tg.Topic),
		s.t.topicSpec(tg.Exchange, tg.Topic+"."+tg.Server),
		s.t.fanoutSpec(tg.Topic),
	}
	l := newListener(s.t, "server "+tg.Topic+"."+tg.Server, specs)
	l.deliver = s.deliver
	l.onStopped = s.cleanupQueues
	s.l = l
	s.mu.Unlock()
	l.start()
	return l.waitReady(ctx)
}

func (s *Server) hasMethod(name string) bool {
	for _, ep := range s.endpoints {
		if ep.methods[name] != nil {
			return true
		}
	}
	return false
}

// Stop stops consuming (unstarted messages return to their queues), lets in-flight calls finish and reply, and
// returns when they have. If ctx ends first, handler contexts are cancelled and ctx's error is returned.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	l := s.l
	s.mu.Unlock()
	if l == nil {
		return nil
	}
	s.stopped.Do(func() { close(l.stop) })
	done := make(chan struct{})
	go func() {
		<-l.done
		s.inflight.Wait()
		s.quitOnce.Do(func() { close(s.quit) })
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.hcancel()
		return fmt.Errorf("rpc: stopping server %s.%s: in-flight calls still running: %w", s.target.Topic,
			s.target.Server, ctx.Err())
	}
}

// cleanupQueues deletes the per-process fanout queue on a clean stop, as oslo's Connection.close does (stream
// and queue-manager queues are meant to be reused and stay).
func (s *Server) cleanupQueues(ch *amqp.Channel) {
	r := &s.t.opts.Rabbit
	if r.StreamFanout || r.UseQueueManager {
		return
	}
	for _, sp := range s.l.specs {
		if sp.exchangeType == "fanout" {
			if _, err := ch.QueueDelete(sp.queue, false, false, false); err != nil {
				s.t.log.Warn("cannot delete fanout queue", "queue", sp.queue, "err", err)
			}
		}
	}
}

func (s *Server) deliver(d *amqp.Delivery, stopping <-chan struct{}) {
	select {
	case s.sem <- struct{}{}:
	case <-stopping:
		_ = d.Reject(true) // not started: back to the queue for another server
		return
	}
	// Acked before dispatch, like oslo's RpcAMQPListener: at-most-once.
	if err := d.Ack(false); err != nil {
		<-s.sem
		s.t.log.Warn("cannot acknowledge message; dropping it", "err", err)
		return
	}
	s.inflight.Add(1)
	select {
	case s.work <- d.Body:
		return
	default:
	}
	if s.workers.Add(1) <= int32(cap(s.sem)) {
		go s.worker(d.Body)
		return
	}
	// Every worker exists; as we hold a slot of sem, one of them is about to be idle, unless the transport is
	// closing and they are leaving.
	s.workers.Add(-1)
	select {
	case s.work <- d.Body:
	case <-s.t.ctx.Done():
		s.workers.Add(1)
		go s.worker(d.Body)
	}
}

// worker handles body, then whatever deliver hands it, until the server has stopped.
func (s *Server) worker(body []byte) {
	defer s.workers.Add(-1)
	for {
		s.handle(body)
		<-s.sem
		s.inflight.Done()
		select {
		case body = <-s.work:
		case <-s.quit:
			return
		case <-s.t.ctx.Done():
			return
		}
	}
}

// handle decodes, dispatches and replies. Nothing a message contains may crash the process: a panic anywhere in
// it, even in answering an earlier panic, is logged and the worker goes on serving.
func (s *Server) handle(body []byte) {
	defer s.t.recoverPanic("handling a message")
	s.handleMessage(body)
}

func (s *Server) handleMessage(body []byte) {
	var req *Request
	defer func() {
		if p := recover(); p != nil {
			s.t.log.Error("panic while handling message", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if req != nil && req.IsCall() {
				s.reply(req, nil, &RemoteError{Module: "builtins", Class: "RuntimeError",
					Message: fmt.Sprintf("internal error handling %s", req.Method), Kwargs: map[string]any{}})
			}
		}
	}()
	inner, err := UnwrapEnvelope(body)
	if err != nil {
		s.rejectBad(body, err)
		return
	}
	req, err = decodeRequestOwned(inner) // a fresh inner, or the delivery's own body
	if err != nil {
		s.rejectBad(inner, err)
		return
	}
	if s.dups.check(req.UniqueID) {
		s.t.log.Info("dropping duplicate message", "unique_id", req.UniqueID, "method", req.Method)
		return
	}
	stopBeat := func() {}
	if req.IsCall() && req.Timeout != nil {
		if every, ok := heartbeatInterval(*req.Timeout); ok {
			stopBeat = s.heartbeat(req, every)
			// Deferred after the recover above, so it runs first: a panicking handler stops its heartbeat too,
			// and no heartbeat follows the final reply the recover sends.
			defer stopBeat()
		}
	}
	result, failure := s.dispatch(req)
	stopBeat() // before the final reply, so no heartbeat follows it
	if !req.IsCall() {
		if failure != nil {
			s.t.log.Error("cast failed", "method", req.Method, "request_id", req.Context.RequestID,
				"error", failure.Module+"."+failure.Class+": "+failure.Message)
		}
		return
	}
	s.reply(req, result, failure)
}

// maxHeartbeatInterval caps the call-monitor heartbeat period. _timeout only says how long the caller waits
// without news, so heartbeating more often than half of it is harmless; the cap keeps a huge _timeout (1e11 s)
// from overflowing time.Duration into a negative ticker period.
const maxHeartbeatInterval = time.Hour

// heartbeatInterval is how often a call whose _timeout is timeout seconds gets call-monitor heartbeats: half of
// it, at most maxHeartbeatInterval; ok is false when it gets none (under 2 s, negative, NaN).
func heartbeatInterval(timeout float64) (every time.Duration, ok bool) {
	half := timeout / 2
	if !(half >= 1) { // also false for NaN
		return 0, false
	}
	if half >= maxHeartbeatInterval.Seconds() { // also +Inf
		return maxHeartbeatInterval, true
	}
	return time.Duration(half * float64(time.Second)), true
}

// rejectBad logs a message that cannot be dispatched and, when it still names a reply queue, answers the caller
// so it does not wait for its timeout.
func (s *Server) rejectBad(raw []byte, cause error) {
	s.t.log.Error("dropping undecodable message", "err", cause, "bytes", len(raw))
	var ids struct {
		MsgID  string `json:"_msg_id"`
		ReplyQ string `json:"_reply_q"`
		Msg    string `json:"oslo.message"`
	}
	if json.Unmarshal(raw, &ids) != nil {
		return
	}
	if ids.Msg != "" { // an envelope we refused: the ids are inside
		_ = json.Unmarshal([]byte(ids.Msg), &ids)
	}
	if ids.MsgID == "" || ids.ReplyQ == "" {
		return
	}
	failure := &RemoteError{Module: "builtins", Class: "ValueError", Message: cause.Error(), Kwargs: map[string]any{}}
	var verr *UnsupportedEnvelopeVersionError
	if errors.As(cause, &verr) {
		failure.Module, failure.Class = "oslo_messaging._drivers.common", "UnsupportedRpcEnvelopeVersion"
	}
	failure.Args = []any{failure.Message}
	s.reply(&Request{MsgID: ids.MsgID, ReplyQ: ids.ReplyQ, Method: "?"}, nil, failure)
}

func (s *Server) dispatch(req *Request) (json.RawMessage, *RemoteError) {
	verStr := req.Version
	if verStr == "" {
		verStr = "1.0"
	}
	ver, err := parseVersion(verStr)
	if err != nil {
		s.t.log.Error("bad message version", "method", req.Method, "version", verStr)
		return nil, &RemoteError{Module: "builtins", Class: "ValueError", Message: err.Error(),
			Args: []any{err.Error()}, Kwargs: map[string]any{}}
	}
	found := false
	for _, ep := range s.endpoints {
		if ep.namespace != req.Namespace || !ep.version.compatible(ver) {
			continue
		}
		h := ep.methods[req.Method]
		if h == nil || strings.HasPrefix(req.Method, "_") {
			found = true
			continue
		}
		return s.invoke(h, req)
	}
	if found {
		s.t.log.Error("no such RPC method", "method", req.Method, "namespace", req.Namespace, "version", verStr)
		return nil, NoSuchMethodError(req.Method)
	}
	s.t.log.Error("unsupported RPC version", "method", req.Method, "namespace", req.Namespace, "version", verStr)
	return nil, UnsupportedVersionError(verStr, req.Method)
}

func (s *Server) invoke(h Handler, req *Request) (json.RawMessage, *RemoteError) {
	args := req.Args
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	ctx := WithRequestContext(s.hctx, &req.Context)
	res, err := h(ctx, args)
	if err != nil {
		var aerr *ArgsError
		if errors.As(err, &aerr) {
			s.t.log.Error("arguments do not fit", "method", req.Method, "err", err)
			return nil, BadArgumentsError(req.Method, aerr.Err)
		}
		return nil, remoteErrorFor(err, req.Method)
	}
	switch v := res.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case json.RawMessage:
		if len(v) == 0 {
			return json.RawMessage("null"), nil
		}
		return v, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, remoteErrorFor(fmt.Errorf("result of %s is not JSON-serializable: %w", req.Method, err), req.Method)
	}
	return b, nil
}

// heartbeat sends call-monitor replies (ending false) every interval until stopped (rpc/dispatcher.py _watchdog).
// The stop function it returns waits for the heartbeat goroutine to end and may be called more than once.
func (s *Server) heartbeat(req *Request, every time.Duration) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.t.recoverPanic("sending call-monitor heartbeats")
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				if err := s.t.sendReply(req, &Reply{Result: json.RawMessage("null"), Ending: false}); err != nil {
					s.t.log.Debug("call-monitor heartbeat failed", "msg_id", req.MsgID, "err", err)
					return
				}
			}
		}
	}()
	return sync.OnceFunc(func() { close(stop); <-done })
}

func (s *Server) reply(req *Request, result json.RawMessage, failure *RemoteError) {
	if failure != nil && failure.Traceback == nil {
		failure.Traceback = goTraceback(failure.Module, failure.Class, failure.Message, req.Method)
	}
	if err := s.t.sendReply(req, &Reply{Result: result, Failure: failure, Ending: true}); err != nil {
		s.t.log.Error("cannot send reply", "method", req.Method, "msg_id", req.MsgID, "reply_q", req.ReplyQ,
			"err", err)
	}
}

// sendReply publishes one reply frame to the caller's reply queue through the default exchange. A reply the
// broker returns (queue missing, e.g. during the caller's reconnect) is retried every 0.25 s for
// kombu_missing_consumer_retry_timeout, as oslo does.
func (t *Transport) sendReply(req *Request, r *Reply) error {
	r.MsgID = req.MsgID
	r.UniqueID = newHexID()
	body, err := encodeReply(r)
	if err != nil {
		return err
	}
	wait := t.opts.Rabbit.MissingConsumerRetryTimeout
	if wait < time.Second {
		wait = time.Second
	}
	ctx, cancel := context.WithTimeout(t.ctx, wait)
	defer cancel()
	m := &publishing{key: req.ReplyQ, body: body, mandatory: t.opts.Rabbit.DirectMandatoryFlag, uniqueID: r.UniqueID}
	for {
		err := t.pub.publish(ctx, m)
		if !errors.Is(err, ErrUndeliverable) {
			return err
		}
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return fmt.Errorf("rpc: reply queue %s missing for %s: %w", req.ReplyQ, wait, ErrUndeliverable)
		}
	}
}

// encodeReply renders the AMQP body of a reply.
func encodeReply(r *Reply) ([]byte, error) {
	sp := scratch.Get().(*[]byte)
	defer scratch.Put(sp)
	inner, err := r.appendJSON((*sp)[:0])
	if err != nil {
		return nil, err
	}
	*sp = inner[:0]
	return WrapEnvelope(inner)
}

// DecodeArgs unmarshals a handler's arguments into v (usually a struct with json tags), refusing unknown
// arguments the way a Python method refuses unexpected keyword arguments. Its error makes the caller see
// builtins.TypeError.
func DecodeArgs(args json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(args)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &ArgsError{Err: err}
	}
	return nil
}
