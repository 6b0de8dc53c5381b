package oslolog

import (
	"log/slog"
	"regexp"
	"strings"

	"github.com/novabsd/novabsd/conf/credmask"
)

// secretKey matches attribute keys whose values are never logged, whatever the caller passes: a password, a
// token or a secret in a log is a credential leak (oslo.log's mask_password does the same for message text).
var secretKey = regexp.MustCompile(`(?i)(pass(word|wd)?|token|secret|credential|private_key|auth_key)$`)

// Masked is what a redacted value is replaced with: the same as a masked password in a URL.
const Masked = credmask.Mask

// Redact returns a with secret values masked: values under a secret-sounding key, and the password part of any
// URL in a string or error value (transport_url carries the broker's credentials), by credmask.Text.
func Redact(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		g := a.Value.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = Redact(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	if secretKey.MatchString(a.Key) {
		return slog.String(a.Key, Masked)
	}
	if a.Value.Kind() == slog.KindString {
		if s := a.Value.String(); strings.Contains(s, "://") {
			return slog.String(a.Key, credmask.Text(s))
		}
	}
	// An error's text may quote a URL (a dial error, say); both handlers print an error as its text anyway.
	if err, ok := a.Value.Any().(error); ok && a.Value.Kind() == slog.KindAny {
		if s := err.Error(); strings.Contains(s, "://") {
			return slog.String(a.Key, credmask.Text(s))
		}
	}
	return a
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that applies Redact, for the JSON handler.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	return Redact(a)
}
