// Package oslolog is the novabsd log format: the text lines oslo.log writes for every OpenStack service (so an
// operator's log tooling keeps working when nova-compute is replaced), or JSON on request, through log/slog.
//
// Callers attach request identity with the attribute keys below; the handler lifts them into the bracketed
// context field exactly where oslo.log's logging_context_format_string puts them:
//
//	2026-11-25 22:28:14.123 4242 INFO novabsd.compute [req-g req-r user project - - - -] [instance: UUID] message key=value
package oslolog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/novabsd/novabsd/conf/credmask"
)

// Attribute keys with a place of their own in the oslo line.
const (
	KeyLogger          = "logger"            // dotted logger name, like Python's logging names
	KeyRequestID       = "request_id"        // req-UUID of the RPC request being served
	KeyGlobalRequestID = "global_request_id" // req-UUID that spans services
	KeyUserIdentity    = "user_identity"     // "user project domain system_scope user_domain project_domain"
	KeyInstance        = "instance"          // instance UUID, printed as "[instance: UUID] "
)

// DefaultLogger is the logger name used when a record carries none.
const DefaultLogger = "novabsd"

// TextHandler writes oslo.log's default context/default format lines. It is safe for concurrent use.
type TextHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	level  slog.Leveler
	pid    string
	attrs  []slog.Attr // from WithAttrs, already resolved and redacted
	groups string      // dotted prefix from WithGroup
	now    func() time.Time
}

// NewTextHandler returns a handler writing to w at the given minimum level.
func NewTextHandler(w io.Writer, level slog.Leveler) *TextHandler {
	return &TextHandler{mu: &sync.Mutex{}, w: w, level: level, pid: strconv.Itoa(os.Getpid()), now: time.Now}
}

// Enabled reports whether records at level are written.
func (h *TextHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *TextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), prefixed(h.groups, attrs)...)
	return &h2
}

// WithGroup returns a handler that qualifies later attribute keys with name.
func (h *TextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = h.groups + name + "."
	return &h2
}

func prefixed(prefix string, attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		a.Value = a.Value.Resolve()
		if prefix != "" && !special(a.Key) {
			a.Key = prefix + a.Key
		}
		out = append(out, Redact(a))
	}
	return out
}

func special(key string) bool {
	switch key {
	case KeyLogger, KeyRequestID, KeyGlobalRequestID, KeyUserIdentity, KeyInstance:
		return true
	}
	return false
}

// Handle formats one record as a single line (newlines in the message are kept, as oslo does, but each
// continuation line carries no prefix).
func (h *TextHandler) Handle(_ context.Context, r slog.Record) error {
	var logger, reqID, globalID, identity, instance string
	var extra []slog.Attr
	take := func(a slog.Attr) {
		switch a.Key {
		case KeyLogger:
			logger = a.Value.String()
		case KeyRequestID:
			reqID = a.Value.String()
		case KeyGlobalRequestID:
			globalID = a.Value.String()
		case KeyUserIdentity:
			identity = a.Value.String()
		case KeyInstance:
			instance = a.Value.String()
		default:
			extra = append(extra, a)
		}
	}
	for _, a := range h.attrs {
		take(a)
	}
	r.Attrs(func(a slog.Attr) bool {
		for _, pa := range prefixed(h.groups, []slog.Attr{a}) {
			take(pa)
		}
		return true
	})
	if logger == "" {
		logger = DefaultLogger
	}

	var b strings.Builder
	t := r.Time
	if t.IsZero() {
		t = h.now()
	}
	b.WriteString(t.Format("2006-01-02 15:04:05.000"))
	b.WriteByte(' ')
	b.WriteString(h.pid)
	b.WriteByte(' ')
	b.WriteString(levelName(r.Level))
	b.WriteByte(' ')
	b.WriteString(logger)
	b.WriteString(" [")
	if reqID == "" && globalID == "" && identity == "" {
		b.WriteByte('-')
	} else {
		b.WriteString(dash(globalID))
		b.WriteByte(' ')
		b.WriteString(dash(reqID))
		b.WriteByte(' ')
		b.WriteString(dash(identity))
	}
	b.WriteString("] ")
	if instance != "" {
		b.WriteString("[instance: ")
		b.WriteString(instance)
		b.WriteString("] ")
	}
	b.WriteString(credmask.Text(r.Message)) // the JSON handler masks it through ReplaceAttr
	for _, a := range extra {
		writeAttr(&b, a)
	}
	b.WriteByte('\n')

	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// levelName maps slog levels onto the names oslo.log prints.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < slog.LevelError+4:
		return "ERROR"
	default:
		return "CRITICAL"
	}
}

func writeAttr(b *strings.Builder, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			g.Key = a.Key + "." + g.Key
			writeAttr(b, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(a.Key)
	b.WriteByte('=')
	s := a.Value.String()
	if strings.ContainsAny(s, " \t\n\"=") || s == "" {
		s = strconv.Quote(s)
	}
	b.WriteString(s)
}

// Level returns the slog level for oslo's debug switch.
func Level(debug bool) slog.Level {
	if debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
