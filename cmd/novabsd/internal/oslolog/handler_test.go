package oslolog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func fixedHandler(buf *bytes.Buffer, level slog.Level) *TextHandler {
	h := NewTextHandler(buf, level)
	h.pid = "4242"
	return h
}

func TestTextHandlerLines(t *testing.T) {
	at := time.Date(2026, 11, 25, 22, 28, 14, 123_000_000, time.UTC)
	tests := []struct {
		name  string
		level slog.Level
		msg   string
		attrs []slog.Attr
		want  string
	}{
		{"no context", slog.LevelInfo, "Starting compute node", nil,
			"2026-11-25 22:28:14.123 4242 INFO novabsd [-] Starting compute node\n"},
		{"request context", slog.LevelWarn, "slow", []slog.Attr{
			slog.String(KeyLogger, "novabsd.compute.manager"),
			slog.String(KeyRequestID, "req-r"), slog.String(KeyGlobalRequestID, "req-g"),
			slog.String(KeyUserIdentity, "u p - - - -"), slog.String(KeyInstance, "0b5f")},
			"2026-11-25 22:28:14.123 4242 WARNING novabsd.compute.manager [req-g req-r u p - - - -] [instance: 0b5f] slow\n"},
		{"partial context", slog.LevelError, "boom", []slog.Attr{slog.String(KeyRequestID, "req-r")},
			"2026-11-25 22:28:14.123 4242 ERROR novabsd [- req-r -] boom\n"},
		{"extra attrs quoted", slog.LevelDebug, "m", []slog.Attr{slog.Int("n", 3), slog.String("s", "a b")},
			"2026-11-25 22:28:14.123 4242 DEBUG novabsd [-] m n=3 s=\"a b\"\n"},
		{"secrets masked", slog.LevelInfo, "conn", []slog.Attr{slog.String("password", "hunter2"),
			slog.String("url", "rabbit://nova:s3cret@h1:5672,nova:s3cret@h2:5672/")},
			"2026-11-25 22:28:14.123 4242 INFO novabsd [-] conn password=**** url=rabbit://nova:****@h1:5672,nova:****@h2:5672/\n"},
		{"critical", slog.LevelError + 4, "dead", nil, "2026-11-25 22:28:14.123 4242 CRITICAL novabsd [-] dead\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := fixedHandler(&buf, slog.LevelDebug)
			r := slog.NewRecord(at, tt.level, tt.msg, 0)
			r.AddAttrs(tt.attrs...)
			if err := h.Handle(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestWithAttrsAndGroups(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(fixedHandler(&buf, slog.LevelInfo)).With(KeyLogger, "novabsd.rpc").WithGroup("amqp")
	l.Info("connected", "host", "h1", KeyRequestID, "req-1", "auth_token", "gAAAA")
	line := buf.String()
	for _, want := range []string{" INFO novabsd.rpc [- req-1 -] connected ", "amqp.host=h1", "amqp.auth_token=***"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "gAAAA") {
		t.Errorf("token leaked: %q", line)
	}
}

func TestLevelFiltering(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(fixedHandler(&buf, Level(false)))
	l.Debug("hidden")
	l.Info("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Fatalf("debug=false output: %q", buf.String())
	}
}

// TestRedactNastyPasswords: passwords holding what ends a URL's host part ('/', '?', '#') or separates oslo's
// hosts are masked in messages, string values and errors, by both handlers; they used to be logged whole.
func TestRedactNastyPasswords(t *testing.T) {
	for _, pw := range []string{"pa/ss?x#y", "s/cr3t", "an?ther", "ha#sh", "p@ss", "pa,ss", "x@h1:5672,y", "%zz/w"} {
		url := "rabbit://nova:" + pw + "@h1:5672,nova:" + pw + "@h2:5672/nova"
		for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
			"text": func(b *bytes.Buffer) slog.Handler { return fixedHandler(b, slog.LevelDebug) },
			"json": func(b *bytes.Buffer) slog.Handler {
				return slog.NewJSONHandler(b, &slog.HandlerOptions{ReplaceAttr: ReplaceAttr})
			},
		} {
			var buf bytes.Buffer
			l := slog.New(h(&buf))
			l.Info("cannot connect to " + url)
			l.Info("connecting", "url", url, "err", fmt.Errorf("dial %s: %w", url, os.ErrDeadlineExceeded))
			if out := buf.String(); strings.Contains(out, pw) || strings.Count(out, "nova:"+Masked+"@h1:5672") != 3 {
				t.Errorf("%s handler, password %q: %s", name, pw, out)
			}
		}
	}
}

func TestSettingsPath(t *testing.T) {
	tests := []struct {
		s    Settings
		want string
	}{
		{Settings{Program: "novabsd"}, ""},
		{Settings{LogFile: "/var/log/x.log", LogDir: "/ignored"}, "/var/log/x.log"},
		{Settings{LogFile: "x.log", LogDir: "/var/log/nova"}, "/var/log/nova/x.log"},
		{Settings{LogDir: "/var/log/nova", Program: "novabsd"}, "/var/log/nova/novabsd.log"},
	}
	for _, tt := range tests {
		if got := tt.s.Path(); got != tt.want {
			t.Errorf("%+v.Path() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestNewJSONToFileAndReopen(t *testing.T) {
	dir := t.TempDir()
	l, out, err := New(Settings{JSON: true, LogDir: dir, Program: "novabsd"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	l.Info("first", "password", "pw")
	path := filepath.Join(dir, "novabsd.log")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := out.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Info("second")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	var rec map[string]any
	if err := json.Unmarshal(old, &rec); err != nil {
		t.Fatalf("rotated file is not one JSON record: %v: %q", err, old)
	}
	if rec["msg"] != "first" || rec["password"] != Masked {
		t.Errorf("rotated record = %v", rec)
	}
	if !regexp.MustCompile(`"msg":"second"`).Match(cur) || bytes.Contains(cur, []byte("first")) {
		t.Errorf("reopened file = %q", cur)
	}
}

func TestNewUnwritableLogDir(t *testing.T) {
	_, _, err := New(Settings{LogDir: "/nonexistent/dir", Program: "novabsd"}, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/dir/novabsd.log") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}
