package oslolog

import (
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// secretKey matches attribute keys whose values are never logged, whatever the caller passes: a password, a
// token or a secret in a log is a credential leak (oslo.log's mask_password does the same for message text).
var secretKey = regexp.MustCompile(`(?i)(pass(word|wd)?|token|secret|credential|private_key|auth_key)$`)

// Masked is what a redacted value is replaced with.
const Masked = "***"

// Redact returns a with secret values masked: values under a secret-sounding key, and the password part of any
// URL (transport_url carries the broker's credentials).
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
			return slog.String(a.Key, MaskURLs(s))
		}
	}
	return a
}

var urlWithUser = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#]*@[^\s]*`)

// MaskURLs masks the passwords of every URL with user information in s, including oslo.messaging's
// multi-host form rabbit://u:p@h1,u:p@h2/vhost that net/url cannot parse whole.
func MaskURLs(s string) string {
	return urlWithUser.ReplaceAllStringFunc(s, maskURL)
}

func maskURL(raw string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	hostsEnd := strings.IndexAny(rest, "/?#")
	hosts, tail := rest, ""
	if hostsEnd >= 0 {
		hosts, tail = rest[:hostsEnd], rest[hostsEnd:]
	}
	parts := strings.Split(hosts, ",")
	for i, p := range parts {
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		user, _, hasPass := strings.Cut(p[:at], ":")
		if hasPass {
			if u, err := url.PathUnescape(user); err == nil {
				user = u
			}
			parts[i] = user + ":" + Masked + p[at:]
		}
	}
	return scheme + "://" + strings.Join(parts, ",") + tail
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that applies Redact, for the JSON handler.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	return Redact(a)
}
