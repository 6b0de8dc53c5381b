package version

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr string
	}{
		{in: "6.5", want: Version{6, 5, 0}},
		{in: "1.23", want: Version{1, 23, 0}},
		{in: "10.0.2", want: Version{10, 0, 2}},
		{in: "2.01", want: Version{2, 1, 0}}, // Python's int("01") is 1
		{in: "6", wantErr: `version "6" is not major.minor[.patch]`},
		{in: "", wantErr: `version "" is not major.minor[.patch]`},
		{in: "1.2.3.4", wantErr: `version "1.2.3.4" is not major.minor[.patch]`},
		{in: "6.x", wantErr: `version "6.x": "x" is not a number`},
		{in: "1..2", wantErr: `version "1..2": "" is not a number`},
		{in: "6.", wantErr: `version "6.": "" is not a number`},
		{in: "+6.5", wantErr: `version "+6.5": "+6" is not a number`},
		{in: "6.-1", wantErr: `version "6.-1": "-1" is not a number`},
		{in: " 6.5", wantErr: `version " 6.5": " 6" is not a number`},
		{in: "6.99999999999999999999", wantErr: `version "6.99999999999999999999": "99999999999999999999" is not a number`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.wantErr != "" {
				var se *SyntaxError
				if !errors.As(err, &se) || err.Error() != tc.wantErr {
					t.Fatalf("Parse(%q) = %v, %v; want SyntaxError %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.5", "6.5", 0},
		{"6.5", "6.5.0", 0},
		{"6.4", "6.5", -1},
		{"6.10", "6.9", 1}, // numeric, not lexical
		{"5.13", "6.0", -1},
		{"6.5.1", "6.5", 1},
		{"10.0.2", "9.2.90", 1},
	}
	for _, tc := range tests {
		a, b := MustParse(tc.a), MustParse(tc.b)
		if got := a.Compare(b); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.Compare(a); got != -tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
		if got := a.AtLeast(b); got != (tc.want >= 0) {
			t.Errorf("%s.AtLeast(%s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestString(t *testing.T) {
	for _, s := range []string{"6.5", "1.0", "10.0.2"} {
		if got := MustParse(s).String(); got != s {
			t.Errorf("MustParse(%q).String() = %q", s, got)
		}
	}
}
