package rpc

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/novabsd/novabsd/rpc/vo"
)

// wireDir holds real messages captured from a Python cloud (INDEX.md there describes them): the project's
// shared/ folder beside the checkout (where CI puts it), else this workplace's copy.
var wireDir = func() string {
	for _, dir := range []string{filepath.Join("..", "..", "shared", "reference", "wire"), "/work/shared/reference/wire"} {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	return "/work/shared/reference/wire"
}()

func semanticJSON(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, b)
	}
	return expandFailure(v)
}

// expandFailure parses the reply "failure" string so the comparison is semantic inside it too.
func expandFailure(v any) any {
	if m, ok := v.(map[string]any); ok {
		if s, ok := m["failure"].(string); ok {
			dec := json.NewDecoder(bytes.NewReader([]byte(s)))
			dec.UseNumber()
			var f any
			if dec.Decode(&f) == nil {
				m["failure"] = f
			}
		}
	}
	return v
}

func sameJSON(t *testing.T, what string, want, got []byte) {
	t.Helper()
	w, g := semanticJSON(t, want), semanticJSON(t, got)
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("%s changed in decode→encode:\nwant %.600s\ngot  %.600s", what, want, got)
	}
}

func countObjects(v any) int {
	switch x := v.(type) {
	case *vo.Object:
		return 1
	case map[string]any:
		n := 0
		for _, e := range x {
			n += countObjects(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += countObjects(e)
		}
		return n
	}
	return 0
}

func TestGoldenWire(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(wireDir, "*", "*.json"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no captured messages under %s", wireDir)
		}
		t.Skipf("no captured messages under %s", wireDir)
	}
	objects := 0
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var capture struct {
				Exchange string          `json:"exchange"`
				Message  json.RawMessage `json:"message"`
				Replies  []struct {
					Message json.RawMessage `json:"message"`
				} `json:"replies"`
			}
			if err := json.Unmarshal(b, &capture); err != nil {
				t.Fatal(err)
			}
			// Envelope round trip.
			env, err := WrapEnvelope(capture.Message)
			if err != nil {
				t.Fatal(err)
			}
			inner, err := UnwrapEnvelope(env)
			if err != nil || !bytes.Equal(inner, capture.Message) {
				t.Fatalf("envelope round trip: %v", err)
			}
			req, err := DecodeRequest(inner)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if req.Context.RequestID == "" || req.Context.Timestamp.IsZero() {
				t.Fatalf("context not decoded: %+v", req.Context)
			}
			out, err := req.Encode()
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "message", capture.Message, out)
			args, err := vo.Decode(req.Args)
			if err != nil {
				t.Fatalf("args: %v", err)
			}
			objects += countObjects(args)
			enc, err := vo.Encode(args)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "args", req.Args, enc)
			for i, r := range capture.Replies {
				rep, err := DecodeReply(r.Message)
				if err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				out, err := rep.Encode()
				if err != nil {
					t.Fatal(err)
				}
				sameJSON(t, "reply", r.Message, out)
				res, err := vo.Decode(rep.Result)
				if err != nil {
					t.Fatalf("reply result: %v", err)
				}
				objects += countObjects(res)
				enc, _ := vo.Encode(res)
				sameJSON(t, "reply result", rep.Result, enc)
			}
		})
	}
	if objects == 0 {
		t.Fatal("no versioned objects found in the captures")
	}
	t.Logf("%d files, %d top-level versioned objects round-tripped", len(files), objects)
}

func TestGoldenReplyEnvelope(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(wireDir, "reply-envelope.json"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var f struct {
		Success struct{ Message json.RawMessage } `json:"success"`
		Failure struct{ Message json.RawMessage } `json:"failure"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]json.RawMessage{"success": f.Success.Message, "failure": f.Failure.Message} {
		rep, err := DecodeReply(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := rep.Encode()
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, name, m, out)
		if name == "failure" && (rep.Failure == nil || rep.Failure.Class != "ComputeHostNotFound" ||
			rep.Failure.Module != "nova.exception" || rep.Failure.Kwargs["code"] != 404.0) {
			t.Fatalf("failure decoded as %+v", rep.Failure)
		}
	}
}
