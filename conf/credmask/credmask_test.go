package credmask

import (
	"strings"
	"testing"
)

// nasty are passwords that escaped the three maskers this package replaced: each holds a character that ends
// a URL's host part for a parser, or that separates oslo's hosts.
var nasty = []string{"pa/ss?x#y", "s/cr3t", "an?ther", "ha#sh", "p@ss", "pa,ss", "a@b,c", "x@h1:5672,y", "%zz/w", "a b"}

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rabbit://user:pass@host:5672/", "rabbit://user:****@host:5672/"},
		{"rabbit://a:p1@h1:5672,b:p2@h2:5672/vhost?ssl=1", "rabbit://a:****@h1:5672,b:****@h2:5672/vhost?ssl=1"},
		{"rabbit://user@host/", "rabbit://user@host/"},
		{"rabbit://h1:5672,h2/", "rabbit://h1:5672,h2/"},
		{"rabbit://", "rabbit://"},
		{"rabbit://u:p@ss@host/", "rabbit://u:****@host/"},
		{"rabbit://nova:pa/ss?x#y@host:5672/vhost", "rabbit://nova:****@host:5672/vhost"},
		{"rabbit://u:s/cr3t@h1:5672,u2:an?ther@h2:5672/vhost", "rabbit://u:****@h1:5672,u2:****@h2:5672/vhost"},
		{"rabbit://u:p@[::1]:5672,v:q@[fe80::1%25eth0]/", "rabbit://u:****@[::1]:5672,v:****@[fe80::1%25eth0]/"},
		{"rabbit://nova:pa,ss@host/", "rabbit://nova:****@host/"},
		{"rabbit://nova:5672,x@host/", "rabbit://nova:****@host/"},
		{"rabbit://u:x@h1,tail@h/", "rabbit://u:****@h1,****@h/"},
		{"rabbit://:pw@host/", "rabbit://:****@host/"},
		{"rabbit://u:p@h/v?ssl_ca_file=/a@b", "rabbit://u:****@b"}, // ambiguous: masks more
		{"not a url with secret", "****"},
		{"nova:p://w@h", "****"}, // "nova:p" is no scheme
		{"", ""},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, pw := range nasty {
		for _, u := range []string{
			"rabbit://nova:" + pw + "@ctl:5672/nova",
			"rabbit://nova:" + pw + "@h1:5672,nova:" + pw + "@h2:5672/nova?ssl=1",
			"rabbit://other:plain@h1:5672,nova:" + pw + "@h2/",
		} {
			if got := URL(u); strings.Contains(got, pw) {
				t.Errorf("URL(%q) = %q: the password %q is in it", u, got, pw)
			}
		}
	}
}

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rabbit://guest:guest@127.0.0.1:5672/", "rabbit://guest:****@127.0.0.1:5672/"},
		{"rabbit://a%40b:p%2Fw@h1,c:d@h2:5673/vh?ssl=1", "rabbit://a%40b:****@h1,c:****@h2:5673/vh?ssl=1"},
		{"rabbit://h1:5672/", "rabbit://h1:5672/"},
		{"url is http://user@host/x only", "url is http://user@host/x only"},
		{"see mysql+pymysql://nova:pw@db/nova now", "see mysql+pymysql://nova:****@db/nova now"},
		{`transport_url "rabbit://nova:pa/ss?x#y@host:5672/vhost": bad`, `transport_url "rabbit://nova:****@host:5672/vhost": bad`},
		{"two: rabbit://a:b@h and http://c:d@e/f", "two: rabbit://a:****@h and http://c:****@e/f"},
		{"no urls at all: a:b@c", "no urls at all: a:b@c"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzMaskHidesPassword: for any user, password and host, neither URL nor Text leaves the password in a
// transport URL (one host or two) that holds it. A password that is part of the rest of the URL anyway (say
// "nova" with user "nova") proves nothing and is skipped, as is white space for Text, which ends a URL in text.
func FuzzMaskHidesPassword(f *testing.F) {
	for _, pw := range nasty {
		f.Add("nova", pw, "ctl.example.org:5672")
	}
	f.Add("u", "x@h1:5672,y", "[::1]:5672")
	f.Add("a@b", "c,d@e", "h")
	f.Add("us:er", "pw", "h")
	f.Fuzz(func(t *testing.T, user, pw, host string) {
		// Skipped: no password; a user name holding ':', '@' or ',' unencoded, or a password holding '@' and later
		// ',', which can spell a host boundary ("x@h1,y"): such URLs mean something else, and the masker takes the
		// parser's reading ("rabbit://@h:1,@h/" is two hosts without passwords); a password Mask itself may spell.
		if at := strings.IndexByte(pw, '@'); pw == "" || strings.ContainsAny(user, ":@,") ||
			strings.Contains(pw, "*") || at >= 0 && strings.Contains(pw[at:], ",") {
			return
		}
		for _, u := range []string{
			"rabbit://" + user + ":" + pw + "@" + host + "/nova",
			"rabbit://" + user + ":" + pw + "@" + host + "," + user + ":" + pw + "@" + host + "/nova?ssl=1",
		} {
			text := "connecting to " + u + " now"
			if rest := strings.ReplaceAll(text, ":"+pw+"@", ":@"); strings.Contains(rest, pw) {
				continue
			}
			if got := URL(u); strings.Contains(got, pw) {
				t.Fatalf("URL(%q) = %q holds the password %q", u, got, pw)
			}
			if strings.ContainsAny(u, " \t\n\v\f\r\u0085\u00a0") {
				continue
			}
			if got := Text(text); strings.Contains(got, pw) {
				t.Fatalf("Text(%q) = %q holds the password %q", u, got, pw)
			}
		}
	})
}
