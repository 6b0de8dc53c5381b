package rpc

import (
	"regexp"
	"testing"
)

// The ids on the wire have the forms oslo generates: Python services log and compare them, and a reply queue
// named with another form would still work but would not look like oslo's.
func TestGeneratedIDForms(t *testing.T) {
	tests := []struct {
		name string
		gen  func() string
		form string
	}{
		{"request id", NewRequestID, `^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`},
		{"message id", newHexID, `^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			re := regexp.MustCompile(tc.form)
			a, b := tc.gen(), tc.gen()
			if !re.MatchString(a) || !re.MatchString(b) {
				t.Errorf("%q, %q: want the form %s", a, b, tc.form)
			}
			if a == b {
				t.Errorf("two ids are both %q", a)
			}
		})
	}
}
