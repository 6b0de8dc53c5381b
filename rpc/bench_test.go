package rpc

import (
	"context"
	"encoding/json"
	"testing"
)

// benchRequest is a call as nova's conductor sends one: a full user context and a small argument object.
func benchRequest() *Request {
	rc := RequestContext{UserID: "u-123", ProjectID: "p-456", Roles: []string{"admin", "member"}, IsAdmin: true,
		AuthToken:   "gAAAAABmZ0ExampleTokenThatIsLongLikeAFernetToken_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		ReadDeleted: "no", RequestID: NewRequestID(), GlobalRequestID: NewRequestID(), RemoteAddress: "10.0.0.1",
		UserName: "admin", ProjectName: "admin", Timestamp: AdminContext().Timestamp,
		ServiceCatalog: json.RawMessage(`[{"type":"image","name":"glance","endpoints":[{"region":"RegionOne","url":"http://10.0.0.1/image"}]}]`)}
	timeout := 60.0
	return &Request{Method: "build_and_run_instance", Args: json.RawMessage(`{"i":42,"host":"compute-1","node":"n"}`),
		Version: "6.5", MsgID: newHexID(), ReplyQ: "reply_" + newHexID(), UniqueID: newHexID(), Timeout: &timeout,
		Context: rc}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	body, err := encodeRequest(benchRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		inner, err := UnwrapEnvelope(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeRequest(inner); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplyRoundTrip(b *testing.B) {
	b.ReportAllocs()
	r := &Reply{Result: json.RawMessage(`42`), Ending: true, MsgID: newHexID(), UniqueID: newHexID()}
	for b.Loop() {
		inner, err := r.Encode()
		if err != nil {
			b.Fatal(err)
		}
		body, err := WrapEnvelope(inner)
		if err != nil {
			b.Fatal(err)
		}
		inner, err = UnwrapEnvelope(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeReply(inner); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCall is a full call round trip through the broker, Go client and Go server in one process, with 32
// callers as in rpc/bench (which compares against Python servers; this is for profiling the Go side).
func BenchmarkCall(b *testing.B) {
	needBroker(b)
	ex := uniqueName(b)
	tr := newTestTransport(b, testOptions(b, ex))
	startServer(b, tr, ex, "h", func(s *Server) {
		s.Register("", "1.0", map[string]Handler{"noop": func(_ context.Context, a json.RawMessage) (any, error) {
			return a, nil
		}})
	})
	c := tr.NewClient(Target{Topic: ex, Version: "1.0"})
	rc := AdminContext()
	if _, err := c.Call(context.Background(), &rc, "noop", nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(16) // × GOMAXPROCS callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := c.Call(context.Background(), &rc, "noop", map[string]int{"i": i}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
