// Package credmask hides the passwords of URLs: the one masker behind `config show`, the errors of a bad
// transport_url and log redaction. It imports nothing of the project, so conf, rpc and the logger all use it.
//
// It works on the raw text and never parses it as a URL first: a password holding '/', '?' or '#' unencoded
// (rabbit://nova:pa/ss?x#y@host/) makes a parser end the host part early and see no password at all, and the
// text that most needs masking is a URL that does not parse, because it is about to be printed in an error.
// Where the text is ambiguous it masks more, never less, with one exception it cannot tell: a user name holding
// '@' or ',' unencoded, or a password holding '@' and later ',' ("x@h1,y"), spells a host boundary of oslo's
// multi-host form, and it reads them as the transport_url parser does.
package credmask

import (
	"regexp"
	"strings"
)

// Mask is what a password is replaced with.
const Mask = "****"

// URL returns raw, one URL or oslo transport_url, with every password replaced by Mask:
//
//	rabbit://nova:s3cret@h1:5672,nova:s3cret@h2:5672/nova -> rabbit://nova:****@h1:5672,nova:****@h2:5672/nova
//
// The user information ends at the last '@' of the text, wherever '/', '?' or '#' come before it. Text that is
// not a URL (no scheme://) may be anything the operator typed, so it is masked whole.
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !isScheme(scheme) {
		if raw == "" {
			return ""
		}
		return Mask
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw // no user information, so no password
	}
	return scheme + "://" + maskUserinfo(rest[:at]) + rest[at:]
}

// urlInText finds URLs in free text: a scheme, "://" and everything up to white space, since an unencoded
// password may hold any other character.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://\S*`)

// Text masks the passwords of every URL in s (a log message or value). A password holding white space is
// beyond it: nothing tells where such a URL ends in free text.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		if !strings.Contains(u, "@") {
			return u
		}
		return URL(u)
	})
}

// maskUserinfo masks s, everything of a URL's host part before its last '@': "user:pass", or with several
// hosts (oslo's rabbit://u:p@h1,u2:p2@h2/) "u:p@h1,u2:p2". A ',' separates hosts only where the text before
// it is "user:password@host[:port]" (hostEnd); a password may hold ',' and '@' too, and any other reading keeps
// the text in the masked part.
func maskUserinfo(s string) string {
	var b strings.Builder
	for first := true; ; first = false {
		cut := hostEnd(s)
		if cut < 0 {
			b.WriteString(maskCreds(s, first))
			return b.String()
		}
		at := strings.LastIndexByte(s[:cut], '@')
		b.WriteString(maskCreds(s[:at], first))
		b.WriteString(s[at : cut+1]) // "@host:port,"
		s = s[cut+1:]
	}
}

// hostEnd is the index of the first ',' in s that ends "user:password@host[:port]" with a password, or -1.
// Where the password is empty the '@' may as well be the password's first character: no split, more masked.
func hostEnd(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			continue
		}
		at := strings.LastIndexByte(s[:i], '@')
		if at < 0 || !isHostPort(s[at+1:i]) {
			continue
		}
		if _, pass, _ := strings.Cut(s[:at], ":"); pass != "" {
			return i
		}
	}
	return -1
}

// maskCreds masks one "user:password". The first host's user is shown; so is a later one's, when a ':' follows
// it. A later part without ':' may be the tail of a password that held ",...@host," and is masked whole.
func maskCreds(c string, first bool) string {
	if user, _, hasPass := strings.Cut(c, ":"); hasPass {
		return user + ":" + Mask
	}
	if first {
		return c
	}
	return Mask
}

func isScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '+' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isHostPort accepts a host name, IPv4 or [IPv6] address with an optional :port.
func isHostPort(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
		if !allOf(host, func(c byte) bool { return isDigit(c) || isLetter(c) || c == ':' || c == '.' || c == '%' }) {
			return false
		}
	} else {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i:]
		}
		if !allOf(host, func(c byte) bool { return isDigit(c) || isLetter(c) || c == '.' || c == '-' || c == '_' }) {
			return false
		}
	}
	if port != "" && !allOf(port[1:], isDigit) {
		return false
	}
	return host != ""
}

func allOf(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
