package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// interopEndpoint mirrors testdata/peer.py's Endpoint so both directions run the same checks.
func interopEndpoint(casts chan<- string) map[string]Handler {
	return map[string]Handler{
		"echo": func(ctx context.Context, args json.RawMessage) (any, error) {
			rc, _ := RequestContextFrom(ctx)
			var extra any
			if raw, ok := rc.Extra["tracing_extra"]; ok {
				_ = json.Unmarshal(raw, &extra)
			}
			return map[string]any{"args": args, "ctx": map[string]any{
				"request_id": rc.RequestID, "user_id": rc.UserID, "project_id": rc.ProjectID, "roles": rc.Roles,
				"is_admin": rc.IsAdmin, "auth_token": rc.AuthToken, "tracing_extra": extra,
				"timestamp": rc.Timestamp.Format(TimestampFormat)}}, nil
		},
		"fail": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct{ Kind, Message string }
			if err := DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.Kind == "nova" {
				return nil, NewRemoteError("nova.exception", "InstanceNotFound",
					fmt.Sprintf("Instance %s could not be found.", a.Message),
					map[string]any{"instance_id": a.Message, "code": 404})
			}
			return nil, NewRemoteError("builtins", "ValueError", a.Message, nil)
		},
		"size": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct{ Data string }
			if err := DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			return len(a.Data), nil
		},
		"record": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct{ N string }
			_ = json.Unmarshal(args, &a)
			casts <- a.N
			return nil, nil
		},
	}
}

type pyResult struct {
	OK    json.RawMessage `json:"ok"`
	Error *struct {
		Type, Module, Str, ExcType, Value string
	} `json:"error"`
}

func (r *pyResult) UnmarshalJSON(b []byte) error {
	var m struct {
		OK    json.RawMessage   `json:"ok"`
		Error map[string]string `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	r.OK = m.OK
	if m.Error != nil {
		r.Error = &struct{ Type, Module, Str, ExcType, Value string }{m.Error["type"], m.Error["module"],
			m.Error["str"], m.Error["exc_type"], m.Error["value"]}
	}
	return nil
}

func TestInteropPythonClientGoServer(t *testing.T) {
	needBroker(t)
	for _, peer := range pythonPeers(t) {
		t.Run(peer.name, func(t *testing.T) {
			ex := uniqueName(t)
			tr := newTestTransport(t, testOptions(t, ex))
			casts := make(chan string, 10)
			startServer(t, tr, ex, "gohost", func(s *Server) { s.Register("", "1.3", interopEndpoint(casts)) })

			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			cmd := peer.command(ctx, "client", brokerURL, ex, ex, "gohost")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("python client: %v\n%s", err, stderr.String())
			}
			res := map[string]pyResult{}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("python client output %q: %v\n%s", out, err, stderr.String())
			}
			ok := func(name string) json.RawMessage {
				r, found := res[name]
				if !found || r.Error != nil {
					t.Fatalf("%s: %+v", name, r.Error)
				}
				return r.OK
			}
			t.Run("call topic carries args and context", func(t *testing.T) {
				var got struct {
					Args map[string]any
					Ctx  map[string]any
				}
				json.Unmarshal(ok("call_topic"), &got)
				wantCtx := map[string]any{"request_id": "req-6b1b4ea0-1111-4222-8333-944455556666", "user_id": "u-123",
					"project_id": "p-456", "roles": []any{"admin", "member"}, "is_admin": true, "auth_token": "tok-abc",
					"tracing_extra": map[string]any{"k": "v"}, "timestamp": "2026-01-02T03:04:05.123456"}
				if !reflect.DeepEqual(got.Args, map[string]any{"x": 1.0, "s": "héllo"}) || !reflect.DeepEqual(got.Ctx, wantCtx) {
					t.Fatalf("echo = %+v", got)
				}
			})
			t.Run("call server", func(t *testing.T) {
				var got struct{ Args map[string]int }
				if json.Unmarshal(ok("call_server"), &got); got.Args["x"] != 2 {
					t.Fatalf("call_server = %s", ok("call_server"))
				}
			})
			t.Run("casts topic server fanout", func(t *testing.T) {
				ok("cast_topic")
				ok("cast_server")
				ok("fanout")
				got := map[string]bool{}
				for len(got) < 3 {
					select {
					case n := <-casts:
						got[n] = true
					case <-time.After(10 * time.Second):
						t.Fatalf("casts received %v, want topic, server, fanout", got)
					}
				}
			})
			errCases := []struct{ name, typ, excType, contains string }{
				{"error_nova", "RemoteError", "InstanceNotFound", "Instance inst-1 could not be found."},
				{"error_value", "ValueError", "", "bad value"},
				{"no_such_method", "RemoteError", "NoSuchMethod", "Endpoint does not support RPC method nope"},
				{"bad_version", "RemoteError", "UnsupportedVersion", "Endpoint does not support RPC version 2.0"},
			}
			for _, ec := range errCases {
				t.Run(ec.name, func(t *testing.T) {
					r := res[ec.name]
					if r.Error == nil || r.Error.Type != ec.typ || r.Error.ExcType != ec.excType ||
						!strings.Contains(r.Error.Str, ec.contains) {
						t.Fatalf("%s = %+v, want %s(%s) containing %q", ec.name, r.Error, ec.typ, ec.excType, ec.contains)
					}
				})
			}
			t.Run("1 MiB argument", func(t *testing.T) {
				if string(ok("big")) != "1048576" {
					t.Fatalf("big = %s", ok("big"))
				}
			})
			t.Run("ping", func(t *testing.T) {
				if string(ok("ping")) != `"pong"` {
					t.Fatalf("ping = %s", ok("ping"))
				}
			})
			t.Run("200 concurrent calls", func(t *testing.T) {
				var c struct {
					Results []int
					Errors  []string
					Seconds float64
				}
				json.Unmarshal(ok("concurrent"), &c)
				if len(c.Errors) > 0 || len(c.Results) != 200 {
					t.Fatalf("concurrent: %d results, errors %v", len(c.Results), c.Errors)
				}
				for i, v := range c.Results {
					if v != i {
						t.Fatalf("result %d = %d", i, v)
					}
				}
				t.Logf("200 concurrent calls from %s took %.2fs", peer.name, c.Seconds)
			})
		})
	}
}

func TestInteropGoClientPythonServer(t *testing.T) {
	needBroker(t)
	for _, peer := range pythonPeers(t) {
		t.Run(peer.name, func(t *testing.T) {
			ex := uniqueName(t)
			py := startPyServer(t, peer, "server", brokerURL, ex, ex, "pyhost")
			tr := newTestTransport(t, testOptions(t, ex))
			c := tr.NewClient(Target{Topic: ex, Version: "1.2"})
			rc := AdminContext()
			rc.UserID, rc.ProjectID, rc.AuthToken, rc.Roles = "u-9", "p-9", "tok-9", []string{"reader"}
			rc.Extra = map[string]json.RawMessage{"tracing_extra": json.RawMessage(`{"k":"v"}`)}
			ctx := context.Background()

			t.Run("call topic and server", func(t *testing.T) {
				for _, cl := range []*Client{c, c.WithServer("pyhost")} {
					out, err := cl.Call(ctx, &rc, "echo", map[string]any{"x": 5})
					if err != nil {
						t.Fatal(err)
					}
					var got struct {
						Args map[string]any
						Ctx  map[string]any
					}
					json.Unmarshal(out, &got)
					want := map[string]any{"request_id": rc.RequestID, "user_id": "u-9", "project_id": "p-9",
						"roles": []any{"reader"}, "is_admin": true, "auth_token": "tok-9",
						"tracing_extra": map[string]any{"k": "v"}}
					if got.Args["x"] != 5.0 || !reflect.DeepEqual(got.Ctx, want) {
						t.Fatalf("echo = %s", out)
					}
				}
			})
			t.Run("casts topic server fanout", func(t *testing.T) {
				for _, cs := range []struct {
					cl *Client
					n  string
				}{{c, "topic"}, {c.WithServer("pyhost"), "server"}, {c.WithFanout(), "fanout"}} {
					if err := cs.cl.Cast(ctx, &rc, "record", map[string]any{"n": cs.n}); err != nil {
						t.Fatal(err)
					}
				}
				got := map[string]bool{}
				for len(got) < 3 {
					select {
					case line := <-py.casts:
						var a struct{ N string }
						json.Unmarshal([]byte(line), &a)
						got[a.N] = true
					case <-time.After(10 * time.Second):
						t.Fatalf("python got casts %v, want topic, server, fanout\n%s", got, py.stderr())
					}
				}
			})
			t.Run("remote errors keep class and message", func(t *testing.T) {
				_, err := c.Call(ctx, &rc, "fail", map[string]any{"kind": "nova", "message": "inst-9"})
				var re *RemoteError
				if !errors.As(err, &re) || re.Module != "nova.exception" || re.Class != "InstanceNotFound" ||
					re.Message != "Instance inst-9 could not be found." || re.Kwargs["code"] != 404.0 ||
					re.Kwargs["instance_id"] != "inst-9" || len(re.Traceback) == 0 {
					t.Fatalf("nova error = %#v", err)
				}
				_, err = c.Call(ctx, &rc, "fail", map[string]any{"kind": "value", "message": "bad value"})
				if !errors.As(err, &re) || re.Module != "builtins" || re.Class != "ValueError" || re.Message != "bad value" {
					t.Fatalf("value error = %#v", err)
				}
				_, err = c.Call(ctx, &rc, "nope", nil)
				if !errors.Is(err, &RemoteError{Module: dispatcherModule, Class: "NoSuchMethod"}) {
					t.Fatalf("unknown method error = %v", err)
				}
				_, err = c.WithVersion("1.4").Call(ctx, &rc, "echo", nil)
				if !errors.Is(err, &RemoteError{Module: dispatcherModule, Class: "UnsupportedVersion"}) {
					t.Fatalf("newer version error = %v", err)
				}
			})
			t.Run("1 MiB argument", func(t *testing.T) {
				out, err := c.Call(ctx, &rc, "size", map[string]any{"data": strings.Repeat("y", 1<<20)})
				if err != nil || string(out) != "1048576" {
					t.Fatalf("size = %s, %v", out, err)
				}
			})
			t.Run("200 concurrent calls", func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, 200)
				start := time.Now()
				for i := 0; i < 200; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						out, err := c.Call(ctx, &rc, "echo", map[string]any{"i": i})
						if err != nil {
							errs <- err
							return
						}
						var got struct{ Args map[string]int }
						if json.Unmarshal(out, &got); got.Args["i"] != i {
							errs <- fmt.Errorf("call %d got %s", i, out)
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				t.Logf("200 concurrent calls to %s took %v", peer.name, time.Since(start))
			})
		})
	}
}

// TestDeclarationsMatchPython starts a Go server and then a Python server on the same topic with the same
// [oslo_messaging_rabbit] options (as URL query): RabbitMQ refuses (406) a re-declaration whose flags or
// arguments differ, so the Python server only comes up if our declarations equal oslo.messaging's.
func TestDeclarationsMatchPython(t *testing.T) {
	needBroker(t)
	cases := []struct {
		name, query string
		only18      bool
	}{
		{"defaults", "", false},
		{"durable", "amqp_durable_queues=true", false},
		{"auto delete", "amqp_auto_delete=true", false},
		{"ha", "rabbit_ha_queues=true", false},
		{"quorum", "rabbit_quorum_queue=true&rabbit_quorum_delivery_limit=5", true},
		{"transient quorum", "rabbit_transient_quorum_queue=true", true},
		{"ttl", "rabbit_transient_queues_ttl=60", false},
	}
	for _, peer := range pythonPeers(t) {
		for _, tc := range cases {
			t.Run(peer.name+"/"+tc.name, func(t *testing.T) {
				if tc.only18 && strings.Contains(peer.name, "14.0") {
					t.Skip("option spelled differently or absent in oslo.messaging 14")
				}
				url := brokerURL
				if tc.query != "" {
					url += "?" + tc.query
				}
				ex := uniqueName(t)
				o := testOptions(t, ex)
				o.TransportURL = url
				tr := newTestTransport(t, o)
				startServer(t, tr, ex, "go", func(s *Server) { s.Register("", "1.0", interopEndpoint(nil)) })
				startPyServer(t, peer, "server", url, ex, ex, "py")
				// And the reverse direction: Python casts to a Go-declared fanout exchange.
				out, err := tr.NewClient(Target{Topic: ex, Version: "1.0"}).WithServer("py").Call(
					context.Background(), nil, "size", map[string]any{"data": "abc"})
				if err != nil || string(out) != "3" {
					t.Fatalf("call to python server with %q: %s %v", tc.query, out, err)
				}
			})
		}
	}
}
