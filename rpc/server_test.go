package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

type echoArgs struct {
	X int    `json:"x"`
	S string `json:"s,omitempty"`
}

func echoEndpoint(casts chan<- string) map[string]Handler {
	return map[string]Handler{
		"echo": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a echoArgs
			if err := DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			rc, _ := RequestContextFrom(ctx)
			return map[string]any{"x": a.X, "s": a.S, "request_id": rc.RequestID, "user_id": rc.UserID}, nil
		},
		"fail": func(ctx context.Context, args json.RawMessage) (any, error) {
			return nil, NewRemoteError("nova.exception", "InstanceNotFound", "Instance i-1 could not be found.",
				map[string]any{"instance_id": "i-1", "code": 404})
		},
		"plain_error": func(ctx context.Context, args json.RawMessage) (any, error) {
			return nil, errors.New("disk on fire")
		},
		"panic": func(ctx context.Context, args json.RawMessage) (any, error) { panic("boom") },
		"record": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				N string `json:"n"`
			}
			_ = json.Unmarshal(args, &a)
			casts <- a.N
			return nil, nil
		},
	}
}

func TestGoClientGoServer(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	casts := make(chan string, 10)
	startServer(t, tr, ex, "host1", func(s *Server) {
		if err := s.Register("", "1.3", echoEndpoint(casts)); err != nil {
			t.Fatal(err)
		}
	})
	ctx := context.Background()
	rc := AdminContext()
	rc.UserID = "u1"
	c := tr.NewClient(Target{Topic: ex, Version: "1.1"})

	tests := []struct {
		name    string
		client  *Client
		method  string
		args    any
		want    string
		wantErr *RemoteError
	}{
		{"topic", c, "echo", map[string]any{"x": 7}, `"x":7`, nil},
		{"server", c.WithServer("host1"), "echo", map[string]any{"x": 8}, `"x":8`, nil},
		{"context", c, "echo", map[string]any{"x": 1}, `"user_id":"u1"`, nil},
		{"remote error", c, "fail", nil, "", &RemoteError{Module: "nova.exception", Class: "InstanceNotFound"}},
		{"plain error", c, "plain_error", nil, "", &RemoteError{Module: "builtins", Class: "Exception"}},
		{"panic", c, "panic", nil, "", &RemoteError{Module: "builtins", Class: "RuntimeError"}},
		{"no such method", c, "nope", nil, "", &RemoteError{Module: dispatcherModule, Class: "NoSuchMethod"}},
		{"private method", c, "_secret", nil, "", &RemoteError{Module: dispatcherModule, Class: "NoSuchMethod"}},
		{"newer minor", c.WithVersion("1.4"), "echo", nil, "", &RemoteError{Module: dispatcherModule, Class: "UnsupportedVersion"}},
		{"other major", c.WithVersion("2.0"), "echo", nil, "", &RemoteError{Module: dispatcherModule, Class: "UnsupportedVersion"}},
		{"namespace", c.WithNamespace("baseapi"), "echo", nil, "", &RemoteError{Module: dispatcherModule, Class: "UnsupportedVersion"}},
		{"bad args", c, "echo", map[string]any{"x": "not a number"}, "", &RemoteError{Module: "builtins", Class: "TypeError"}},
		{"unexpected arg", c, "echo", map[string]any{"x": 1, "zzz": 2}, "", &RemoteError{Module: "builtins", Class: "TypeError"}},
		{"ping", c.WithVersion("1.0"), "oslo_rpc_server_ping", nil, `"pong"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.client.Call(ctx, &rc, tc.method, tc.args)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Call(%s) error = %v, want %s.%s", tc.method, err, tc.wantErr.Module, tc.wantErr.Class)
				}
				return
			}
			if err != nil {
				t.Fatalf("Call(%s): %v", tc.method, err)
			}
			if !strings.Contains(string(got), tc.want) {
				t.Fatalf("Call(%s) = %s, want it to contain %s", tc.method, got, tc.want)
			}
		})
	}

	if err := c.WithServer("host1").Cast(ctx, &rc, "record", map[string]any{"n": "cast"}); err != nil {
		t.Fatal(err)
	}
	if err := c.WithFanout().Cast(ctx, &rc, "record", map[string]any{"n": "fan"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case n := <-casts:
			got[n] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("casts received: %v, want cast and fan", got)
		}
	}
}

func TestCallTimeout(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	// Nobody consumes this topic: the broker drops the unroutable call and the caller must time out.
	c := tr.NewClient(Target{Topic: "nobody", Version: "1.0"}).WithTimeout(500 * time.Millisecond)
	start := time.Now()
	_, err := c.Call(context.Background(), nil, "echo", nil)
	var te *TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Call error = %v, want *TimeoutError", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

// A call sent while no server consumes its topic (a server re-declaring its queues after a broker restart, or
// still starting) must reach the server once it consumes, rather than being dropped and timing out.
func TestCallReachesLateServer(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	c := tr.NewClient(Target{Topic: ex, Server: "late", Version: "1.0"}).WithTimeout(20 * time.Second)
	type result struct {
		got json.RawMessage
		err error
	}
	res := make(chan result, 1)
	go func() {
		got, err := c.Call(context.Background(), nil, "echo", map[string]any{"x": 42})
		res <- result{got, err}
	}()
	time.Sleep(1500 * time.Millisecond)
	select {
	case r := <-res:
		t.Fatalf("call returned before any server existed: %s, %v", r.got, r.err)
	default:
	}
	started := time.Now()
	startServer(t, tr, ex, "late", func(s *Server) {
		if err := s.Register("", "1.0", echoEndpoint(nil)); err != nil {
			t.Fatal(err)
		}
	})
	r := <-res
	if r.err != nil {
		t.Fatalf("call to a server that started late: %v", r.err)
	}
	if !strings.Contains(string(r.got), `"x":42`) {
		t.Fatalf("result %s, want x 42", r.got)
	}
	// Republishing backs off to at most 2 s, so the answer comes within a few seconds of the server.
	if d := time.Since(started); d > 5*time.Second {
		t.Errorf("answer %v after the server started; want it within the republishing pause", d)
	}
}

func TestVersionCap(t *testing.T) {
	tr, err := NewTransport(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := tr.NewClient(Target{Topic: "x", Version: "6.3"}).WithVersionCap("6.2")
	var ve *VersionCapError
	if err := c.Cast(context.Background(), nil, "m", nil); !errors.As(err, &ve) {
		t.Fatalf("Cast above cap: err = %v, want *VersionCapError", err)
	}
	if !c.CanSendVersion("6.2") || c.CanSendVersion("6.3") || c.CanSendVersion("7.0") {
		t.Fatal("CanSendVersion disagrees with cap 6.2")
	}
}

// TestBadInput publishes raw bodies a broken or hostile peer could send: the server answers calls it can
// identify with oslo's failure format, logs the rest, and keeps serving.
func TestBadInput(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	casts := make(chan string, 10)
	startServer(t, tr, ex, "h", func(s *Server) { s.Register("", "1.0", echoEndpoint(casts)) })
	rw, err := tr.replies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) {
		if err := ch.Publish(ex, ex+".h", false, false, amqp.Publishing{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	call := func(msgID, inner string, envVersion string) string {
		enc, _ := json.Marshal(inner)
		return `{"oslo.version": "` + envVersion + `", "oslo.message": ` + string(enc) + `}`
	}
	tests := []struct {
		name      string
		body      string
		wantClass string // "" = no reply expected
	}{
		{"not json", "\x00\xffgarbage", ""},
		{"json array", "[1,2]", ""},
		{"inner not json", `{"oslo.version": "2.0", "oslo.message": "{nope"}`, ""},
		{"envelope 3.0", call("m1", `{"method":"echo","args":{},"_msg_id":"m1","_reply_q":"`+rw.queue+`"}`, "3.0"), "UnsupportedRpcEnvelopeVersion"},
		{"no method", call("m2", `{"args":{},"_msg_id":"m2","_reply_q":"`+rw.queue+`"}`, "2.0"), "ValueError"},
		{"args not object", call("m3", `{"method":"echo","args":[1],"_msg_id":"m3","_reply_q":"`+rw.queue+`"}`, "2.0"), "ValueError"},
		{"bad version", call("m4", `{"method":"echo","version":"x.y","args":{},"_msg_id":"m4","_reply_q":"`+rw.queue+`"}`, "2.0"), "ValueError"},
		{"unknown method", call("m5", `{"method":"zap","version":"1.0","args":{},"_msg_id":"m5","_reply_q":"`+rw.queue+`"}`, "2.0"), "NoSuchMethod"},
		{"wrong types", call("m6", `{"method":"echo","version":"1.0","args":{"x":"1"},"_msg_id":"m6","_reply_q":"`+rw.queue+`"}`, "2.0"), "TypeError"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := []string{"", "", "", "m1", "m2", "m3", "m4", "m5", "m6"}[i]
			var pc *pendingCall
			if id != "" {
				pc = rw.listen(id)
				defer rw.unlisten(id)
			}
			send(tc.body)
			if pc == nil {
				return
			}
			select {
			case r := <-pc.replies:
				if r.Failure == nil || r.Failure.Class != tc.wantClass || !r.Ending {
					t.Fatalf("reply = %+v failure %+v, want failure %s with ending", r, r.Failure, tc.wantClass)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no failure reply")
			}
		})
	}
	// Still serving.
	c := tr.NewClient(Target{Topic: ex, Version: "1.0"})
	if _, err := c.Call(context.Background(), nil, "echo", map[string]any{"x": 1}); err != nil {
		t.Fatalf("server stopped serving after bad input: %v", err)
	}
}

func TestDuplicateSuppression(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	tr := newTestTransport(t, testOptions(t, ex))
	casts := make(chan string, 10)
	startServer(t, tr, ex, "h", func(s *Server) { s.Register("", "1.0", echoEndpoint(casts)) })
	req := &Request{Method: "record", Args: json.RawMessage(`{"n":"once"}`), Version: "1.0", UniqueID: newHexID()}
	body, err := encodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := tr.pub.publish(context.Background(), &publishing{ex: exchangeDecl{name: ex, kind: "topic"}, key: ex + ".h", body: body}); err != nil {
			t.Fatal(err)
		}
	}
	req.UniqueID = newHexID()
	req.Args = json.RawMessage(`{"n":"marker"}`)
	body, _ = encodeRequest(req)
	tr.pub.publish(context.Background(), &publishing{ex: exchangeDecl{name: ex, kind: "topic"}, key: ex + ".h", body: body})
	var got []string
	for {
		select {
		case n := <-casts:
			got = append(got, n)
			if n == "marker" {
				if strings.Join(got, ",") != "once,marker" {
					t.Fatalf("casts = %v, want [once marker]", got)
				}
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("casts = %v", got)
		}
	}
}

// TestConcurrencyBoundAndGracefulStop checks that no more than ExecutorPoolSize handlers run at once and that
// Stop lets running calls finish and reply.
func TestConcurrencyBoundAndGracefulStop(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	o := testOptions(t, ex)
	o.ExecutorPoolSize = 3
	tr := newTestTransport(t, o)
	var running, peak atomic.Int32
	release := make(chan struct{})
	s := startServer(t, tr, ex, "h", func(s *Server) {
		s.Register("", "1.0", map[string]Handler{"slow": func(ctx context.Context, _ json.RawMessage) (any, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			return "done", nil
		}})
	})
	c := tr.NewClient(Target{Topic: ex, Version: "1.0"}).WithTimeout(4 * time.Second)
	var wg sync.WaitGroup
	results := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Call(context.Background(), nil, "slow", nil)
			results <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for running.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if p := peak.Load(); p != 3 {
		t.Fatalf("peak concurrency %d, want 3 (executor pool size)", p)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		stopped <- s.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while calls were running", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// The three running calls finished and replied; the three waiting ones were never started and time out.
	c2 := 0
	wg.Wait()
	close(results)
	for err := range results {
		if err == nil {
			c2++
		}
	}
	if c2 < 3 {
		t.Fatalf("%d calls completed, want the 3 in flight at Stop", c2)
	}
}

// TestWorkersAreReusedAndLeave: handlers run on at most ExecutorPoolSize long-lived workers, which serve call
// after call and are gone once the server has stopped.
func TestWorkersAreReusedAndLeave(t *testing.T) {
	needBroker(t)
	ex := uniqueName(t)
	o := testOptions(t, ex)
	o.ExecutorPoolSize = 2
	tr := newTestTransport(t, o)
	var mostWorkers atomic.Int32
	var s *Server
	s = startServer(t, tr, ex, "h", func(srv *Server) {
		srv.Register("", "1.0", map[string]Handler{"echo": func(_ context.Context, a json.RawMessage) (any, error) {
			for n := s.workers.Load(); n > mostWorkers.Load(); n = s.workers.Load() {
				mostWorkers.Store(n)
			}
			return a, nil
		}})
	})
	c := tr.NewClient(Target{Topic: ex, Version: "1.0"}).WithTimeout(10 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				out, err := c.Call(context.Background(), nil, "echo", map[string]int{"g": g, "i": i})
				if err == nil && string(out) != fmt.Sprintf(`{"g":%d,"i":%d}`, g, i) {
					err = fmt.Errorf("call %d/%d got %s", g, i, out)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := mostWorkers.Load(); n < 1 || n > 2 {
		t.Fatalf("%d workers ran handlers, want 1..2 (executor pool size 2)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.workers.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still alive after Stop", s.workers.Load())
		}
	}
}
