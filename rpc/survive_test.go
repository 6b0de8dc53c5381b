package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/novabsd/novabsd/rpc/vo"
)

// Numbers a message carries are bounded before use; these tests pin each bound without a broker.

func TestHeartbeatInterval(t *testing.T) {
	tests := []struct {
		timeout float64
		every   time.Duration
		ok      bool
	}{
		{math.NaN(), 0, false},
		{math.Inf(1), maxHeartbeatInterval, true},
		{math.Inf(-1), 0, false},
		{-10, 0, false},
		{0, 0, false},
		{1.9, 0, false},
		{2, time.Second, true},
		{60, 30 * time.Second, true},
		{7200, time.Hour, true},
		{1e11, maxHeartbeatInterval, true}, // half of it in ns overflows int64
		{1e300, maxHeartbeatInterval, true},
	}
	for _, tc := range tests {
		every, ok := heartbeatInterval(tc.timeout)
		if every != tc.every || ok != tc.ok {
			t.Errorf("heartbeatInterval(%v) = %v, %v; want %v, %v", tc.timeout, every, ok, tc.every, tc.ok)
		}
	}
}

func TestDecodeRequestTimeoutBounds(t *testing.T) {
	tests := []struct {
		raw     string
		want    float64 // when no error
		wantErr bool
	}{
		{"60", 60, false},
		{"0", 0, false},
		{"1e11", 1e11, false},
		{"-1", 0, true},
		{"-0.5", 0, true},
		{"1e400", 0, true}, // out of float64's range
		{`"60"`, 0, true},
	}
	for _, tc := range tests {
		inner := `{"method":"m","args":{},"_msg_id":"a","_reply_q":"q","_timeout":` + tc.raw + `}`
		req, err := DecodeRequest([]byte(inner))
		if tc.wantErr {
			var eerr *EnvelopeError
			if !errors.As(err, &eerr) || !strings.Contains(err.Error(), "_timeout") {
				t.Errorf("_timeout %s: err = %v, want an EnvelopeError naming _timeout", tc.raw, err)
			}
			continue
		}
		if err != nil || req.Timeout == nil || *req.Timeout != tc.want {
			t.Errorf("_timeout %s: req %+v, err %v; want %v", tc.raw, req, err, tc.want)
		}
	}
}

func TestVersionNumberBounds(t *testing.T) {
	for _, v := range []string{"+1.0", "1.+0", "-0.1", "1.-0", " 1.0", "99999999999999999999.0", "1.18446744073709551617",
		"1234567890.0", "1..0", "1.0.", "1"} {
		if _, err := parseVersion(v); err == nil {
			t.Errorf("parseVersion(%q) accepted", v)
		}
	}
	for _, v := range []string{"1.0", "6.5", "123456789.0.1"} {
		if _, err := parseVersion(v); err != nil {
			t.Errorf("parseVersion(%q): %v", v, err)
		}
	}
	for _, v := range []string{"2.-1", "2.+0", "+2.0", "18446744073709551618.0", "2.-9223372036854775808"} {
		if envelopeCompatible(v) {
			t.Errorf("envelope version %q accepted", v)
		}
	}
	if !envelopeCompatible("2.0") {
		t.Error("envelope version 2.0 refused")
	}
	// 2^64+1 wraps to 1 in an unbounded int.
	if vo.Compatible("1.0", "18446744073709551617.0") || vo.Compatible("18446744073709551617.0", "1.0") {
		t.Error("vo.Compatible accepts a major that overflows")
	}
	if !vo.Compatible("1.9", "1.2") {
		t.Error("vo.Compatible(1.9, 1.2) = false")
	}
}

// rawPublisher publishes bodies as a hostile peer would, bypassing this package's encoder.
type rawPublisher struct {
	ch *amqp.Channel
}

func newRawPublisher(t testing.TB) *rawPublisher {
	t.Helper()
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return &rawPublisher{ch: ch}
}

func (p *rawPublisher) send(t testing.TB, ex, key string, m amqp.Publishing) {
	t.Helper()
	if err := p.ch.Publish(ex, key, false, false, m); err != nil {
		t.Fatalf("publishing a raw message: %v", err)
	}
}

func rawCall(inner map[string]any) []byte {
	b, _ := json.Marshal(inner)
	env, _ := WrapEnvelope(b)
	return env
}

// TestCallTimeoutBounds: a call's _timeout cannot stop the server. 1e11 overflowed the heartbeat period and
// panicked in the heartbeat goroutine, outside any recover, ending the process.
func TestCallTimeoutBounds(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	startServer(t, tr, ex, "h", func(s *Server) { s.Register("", "1.0", echoEndpoint(nil)) })
	rw, err := tr.replies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw := newRawPublisher(t)
	tests := []struct {
		name      string
		timeout   string // raw JSON
		wantClass string // "" = a result
	}{
		{"huge", "1e11", ""},
		{"huger", "1e300", ""},
		{"zero", "0", ""},
		{"negative", "-5", "ValueError"},
		{"out of range", "1e400", "ValueError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newHexID()
			pc := rw.listen(id)
			defer rw.unlisten(id)
			inner := `{"method":"echo","version":"1.0","args":{"x":3},"_msg_id":"` + id + `","_reply_q":"` + rw.queue +
				`","_timeout":` + tc.timeout + `}`
			body, _ := WrapEnvelope([]byte(inner))
			raw.send(t, ex, ex+".h", amqp.Publishing{Body: body})
			select {
			case r := <-pc.replies:
				if tc.wantClass == "" {
					if r.Failure != nil || !strings.Contains(string(r.Result), `"x":3`) || !r.Ending {
						t.Fatalf("reply %+v failure %+v, want the echo", r, r.Failure)
					}
				} else if r.Failure == nil || r.Failure.Class != tc.wantClass ||
					!strings.Contains(r.Failure.Message, "_timeout") {
					t.Fatalf("reply %+v failure %+v, want %s naming _timeout", r, r.Failure, tc.wantClass)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no reply")
			}
		})
	}
	if _, err := tr.NewClient(Target{Topic: ex, Version: "1.0"}).Call(context.Background(), nil, "echo",
		map[string]any{"x": 1}); err != nil {
		t.Fatalf("server stopped serving: %v", err)
	}
}

// TestPanicStopsHeartbeat: a handler that panics gets its caller a RuntimeError and its call-monitor heartbeat
// stops with it; it used to run on forever, heartbeating a call that had ended. A handler that returns stops
// its heartbeat before the final reply.
func TestPanicStopsHeartbeat(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	startServer(t, tr, ex, "h", func(s *Server) {
		s.Register("", "1.0", map[string]Handler{
			"panic_late": func(context.Context, json.RawMessage) (any, error) {
				time.Sleep(1500 * time.Millisecond) // one heartbeat (every 1 s) goes out first
				panic("boom")
			},
			"slow": func(context.Context, json.RawMessage) (any, error) {
				time.Sleep(1500 * time.Millisecond)
				return "done", nil
			},
		})
	})
	rw, err := tr.replies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw := newRawPublisher(t)
	for method, wantClass := range map[string]string{"panic_late": "RuntimeError", "slow": ""} {
		t.Run(method, func(t *testing.T) {
			id := newHexID()
			pc := rw.listen(id)
			defer rw.unlisten(id)
			raw.send(t, ex, ex+".h", amqp.Publishing{Body: rawCall(map[string]any{"method": method,
				"version": "1.0", "args": map[string]any{}, "_msg_id": id, "_reply_q": rw.queue, "_timeout": 2})})
			heartbeats := 0
			deadline := time.After(15 * time.Second)
			for ended := false; !ended; {
				select {
				case r := <-pc.replies:
					if !r.Ending {
						heartbeats++
						continue
					}
					if wantClass == "" && (r.Failure != nil || string(r.Result) != `"done"`) ||
						wantClass != "" && (r.Failure == nil || r.Failure.Class != wantClass) {
						t.Fatalf("final reply %s failure %+v, want %q", r.Result, r.Failure, wantClass)
					}
					ended = true
				case <-deadline:
					t.Fatal("no final reply")
				}
			}
			if heartbeats == 0 {
				t.Fatal("no heartbeat before the end; the test proves nothing")
			}
			select {
			case r := <-pc.replies:
				t.Fatalf("a frame after the final reply (ending %v): the heartbeat outlived the call", r.Ending)
			case <-time.After(2500 * time.Millisecond):
			}
		})
	}
}

// TestListenerSurvivesDeliverPanic: a panic while delivering one message (a reply the decoder did not foresee,
// say) is logged and the next message is delivered; it used to end the process from the consumer goroutine.
func TestListenerSurvivesDeliverPanic(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	queue := ex + "_q"
	l := newListener(tr, "test "+queue, []queueSpec{tr.replySpec(queue)})
	got := make(chan string, 4)
	l.deliver = func(d *amqp.Delivery, _ <-chan struct{}) {
		if string(d.Body) == "panic" {
			panic("unforeseen")
		}
		got <- string(d.Body)
	}
	l.autoAck = true
	l.start()
	t.Cleanup(func() { close(l.stop); <-l.done })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := l.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	raw := newRawPublisher(t)
	raw.send(t, "", queue, amqp.Publishing{Body: []byte("panic")})
	raw.send(t, "", queue, amqp.Publishing{Body: []byte("after")})
	select {
	case b := <-got:
		if b != "after" {
			t.Fatalf("delivered %q, want after", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message after the panic was not delivered")
	}
}

// FuzzServerSurvives publishes each input as a whole AMQP body (with headers and content type picked from it) to
// a running server's queues on the real broker, then requires a valid call to be answered: no message may stop
// the server or crash the process. Run it with
//
//	go test -run '^$' -fuzz '^FuzzServerSurvives$' -fuzztime 30s -fuzzminimizetime 1x ./rpc/
//
// (make fuzz does). The coverage of a server on a live broker is noisy (its connections' goroutines run between
// inputs), so nearly every input looks new; without -fuzzminimizetime the engine spends the whole run
// minimizing them, about 100 executions instead of thousands.
func FuzzServerSurvives(f *testing.F) {
	needBroker(f)
	seedWire(f)
	files, _ := filepath.Glob(filepath.Join(wireDir, "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) <= 16<<10 {
			f.Add(b) // captured bodies as they came off the wire
		}
	}
	for _, timeout := range []string{"1e11", "1e300", "-1", "1e400", "NaN", "Infinity", `"x"`, "{}"} {
		inner := `{"method":"echo","version":"1.0","args":{"x":1},"_msg_id":"f1","_reply_q":"nowhere","_timeout":` +
			timeout + `}`
		env, _ := WrapEnvelope([]byte(inner))
		f.Add(env)
		f.Add([]byte(inner)) // envelope 1.0: the message itself
	}
	for _, s := range []string{
		`{"oslo.version": "2.-1", "oslo.message": "{}"}`,
		`{"oslo.version": "99999999999999999999.0", "oslo.message": "{}"}`,
		`{"method":"echo","version":"99999999999999999999.0","args":{}}`,
		`{"method":"echo","version":"1.-0","args":{},"_msg_id":"f2","_reply_q":"nowhere"}`,
		`{"method":"echo","args":{},"_context_timestamp":"9999-12-31T23:59:59.999999","_context_roles":[null,"a"]}`,
		`{"method":"echo","args":{"x":1e400}}`,
		"", "\x00", "[", `{"oslo.message": null, "oslo.version": "2.0"}`,
	} {
		f.Add([]byte(s))
	}

	ex := uniqueName(f)
	o := testOptions(f, ex)
	// Inputs call with made-up reply queues; give up on those replies soon so the server stops in time.
	o.Rabbit.MissingConsumerRetryTimeout = time.Second
	tr := newTestTransport(f, o)
	startServer(f, tr, ex, "h", func(s *Server) { s.Register("", "1.0", echoEndpoint(nil)) })
	c := tr.NewClient(Target{Topic: ex, Server: "h", Version: "1.0"}).WithTimeout(5 * time.Second)
	raw := newRawPublisher(f)
	keys := []string{ex + ".h", ex}
	contentTypes := []string{"", "application/json", "text/plain; charset=\x00", "application/x-python-serialize"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var pick byte
		if len(body) > 0 {
			pick = body[len(body)-1]
		}
		m := amqp.Publishing{Body: body, ContentType: contentTypes[int(pick)%len(contentTypes)]}
		if pick&4 != 0 {
			m.ContentEncoding = "gzip"
		}
		if pick&8 != 0 {
			m.Headers = amqp.Table{"x-stream-offset": string(body[:min(len(body), 8)]), "oslo.version": int32(pick),
				"_unique_id": []byte(body[:min(len(body), 4)])}
		}
		raw.send(t, ex, keys[int(pick>>4)%len(keys)], m)
		got, err := c.Call(context.Background(), nil, "echo", map[string]any{"x": 5})
		if err != nil {
			t.Fatalf("server stopped answering after body %q: %v", body, err)
		}
		if !strings.Contains(string(got), `"x":5`) {
			t.Fatalf("answer %s after body %q, want the echo", got, body)
		}
	})
}
