package rpc

import (
	"fmt"
	"math"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Every call crosses JSON four times (request and reply, each an inner message quoted inside the 2.0 envelope),
// and through map[string]json.RawMessage that cost more CPU than the rest of a call together. This file walks a
// message once, in place: it accepts exactly what encoding/json accepts and unquotes strings the way it does
// (FuzzJSONScan checks both against encoding/json), so only the cost changes.

// maxJSONDepth is encoding/json's nesting limit, kept so both accept the same documents.
const maxJSONDepth = 10000

// JSONSyntaxError reports a message that is not valid JSON.
type JSONSyntaxError struct {
	Offset int
	Msg    string
}

func (e *JSONSyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

func syntaxErr(off int, msg string) error { return &JSONSyntaxError{Offset: off, Msg: msg} }

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString checks the string starting at b[i] ('"') and returns the offset after its closing quote, and
// whether unquoting has to do more than drop the quotes (escapes or non-ASCII bytes).
func scanString(b []byte, i int) (end int, complex bool, err error) {
	start := i
	i++
	for {
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, false, syntaxErr(start, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, complex, nil
		case c == '\\':
			complex = true
			if i+1 >= len(b) {
				return 0, false, syntaxErr(i, "unterminated escape in string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					return 0, false, syntaxErr(i, `bad \u escape in string`)
				}
				i += 6
			default:
				return 0, false, syntaxErr(i, "bad escape in string")
			}
		case c < 0x20:
			return 0, false, syntaxErr(i, "control character in string")
		default: // non-ASCII
			complex = true
			i++
		}
	}
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// scanValue checks the value starting at b[i] (no leading space) and returns the offset after it.
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{' || c == '[':
		if depth >= maxJSONDepth {
			return 0, syntaxErr(i, "exceeded max depth")
		}
		return scanComposite(b, i, depth+1)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || ('0' <= c && c <= '9'):
		return scanNumber(b, i)
	default:
		return 0, syntaxErr(i, fmt.Sprintf("unexpected character %q", c))
	}
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, syntaxErr(i, "bad literal, want "+lit)
	}
	return i + len(lit), nil
}

func scanDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = scanDigits(b, i+1)
	default:
		return 0, syntaxErr(start, "bad number")
	}
	if i < len(b) && b[i] == '.' {
		j := scanDigits(b, i+1)
		if j == i+1 {
			return 0, syntaxErr(start, "bad number: no digits after the point")
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := scanDigits(b, i)
		if j == i {
			return 0, syntaxErr(start, "bad number: no exponent digits")
		}
		i = j
	}
	return i, nil
}

// scanComposite checks the object or array starting at b[i]; depth counts it already.
func scanComposite(b []byte, i, depth int) (int, error) {
	obj := b[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		var err error
		if obj {
			if i >= len(b) || b[i] != '"' {
				return 0, syntaxErr(i, "want an object key")
			}
			if i, _, err = scanString(b, i); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return 0, syntaxErr(i, "want ':' after an object key")
			}
			i = skipSpace(b, i+1)
		}
		if i, err = scanValue(b, i, depth); err != nil {
			return 0, err
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, syntaxErr(i, "unexpected end of input")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closer:
			return i + 1, nil
		default:
			return 0, syntaxErr(i, fmt.Sprintf("want ',' or %q", closer))
		}
	}
}

// validJSON reports whether b is exactly one JSON value, with optional surrounding space (json.Valid).
func validJSON(b []byte) error {
	i := skipSpace(b, 0)
	end, err := scanValue(b, i, 0)
	if err != nil {
		return err
	}
	if j := skipSpace(b, end); j != len(b) {
		return syntaxErr(j, "data after the top-level value")
	}
	return nil
}

// eachMember checks that b is one JSON object (optional surrounding space) and calls fn with every member in
// order: the unquoted key and the raw value, both sub-slices of b or fresh, valid only until fn returns unless
// copied. Duplicate keys are passed as they come (the last one wins, as in encoding/json and Python).
func eachMember(b []byte, fn func(key, val []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		if i < len(b) {
			if _, err := scanValue(b, i, 0); err != nil {
				return err
			}
			return syntaxErr(i, "not an object")
		}
		return syntaxErr(i, "unexpected end of input")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return syntaxErr(i, "want an object key")
			}
			ks := i
			ke, complex, err := scanString(b, i)
			if err != nil {
				return err
			}
			key := b[ks+1 : ke-1]
			if complex {
				key = appendUnquoted(nil, b[ks:ke])
			}
			i = skipSpace(b, ke)
			if i >= len(b) || b[i] != ':' {
				return syntaxErr(i, "want ':' after an object key")
			}
			vs := skipSpace(b, i+1)
			ve, err := scanValue(b, vs, 1)
			if err != nil {
				return err
			}
			if err := fn(key, b[vs:ve]); err != nil {
				return err
			}
			i = skipSpace(b, ve)
			if i >= len(b) {
				return syntaxErr(i, "unexpected end of input")
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return syntaxErr(i, "want ',' or '}'")
			}
			i = skipSpace(b, i+1)
		}
	}
	if j := skipSpace(b, i); j != len(b) {
		return syntaxErr(j, "data after the top-level object")
	}
	return nil
}

// appendUnquoted appends the text of the scanned (valid) JSON string s, quotes included, as encoding/json
// decodes it: bad surrogates and invalid UTF-8 become U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	s = s[1 : len(s)-1]
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			e := s[r+1]
			r += 2
			switch e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := hex4(s[r : r+4])
				r += 4
				if utf16.IsSurrogate(rr) {
					var rr1 rune = -1
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						rr1 = hex4(s[r+2 : r+6])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
		case c < utf8.RuneSelf:
			// Copy the run of plain bytes at once.
			j := r + 1
			for j < len(s) && s[j] != '\\' && s[j] < utf8.RuneSelf {
				j++
			}
			dst = append(dst, s[r:j]...)
			r = j
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// jsonString decodes a raw JSON value that must be a string or null (null gives "").
func jsonString(v []byte) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		if string(v) == "null" {
			return "", nil
		}
		return "", fmt.Errorf("json: cannot unmarshal %s into Go value of type string", jsonKind(v))
	}
	end, complex, err := scanString(v, 0)
	if err != nil {
		return "", err
	}
	if end != len(v) {
		return "", syntaxErr(end, "data after the string")
	}
	if !complex {
		return string(v[1 : end-1]), nil
	}
	return string(appendUnquoted(nil, v)), nil
}

// jsonBool decodes a raw JSON value that must be true, false or null (null gives false).
func jsonBool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fmt.Errorf("json: cannot unmarshal %s into Go value of type bool", jsonKind(v))
}

// jsonFloat decodes a raw JSON number.
func jsonFloat(v []byte) (float64, error) {
	if len(v) > 0 && (v[0] == '-' || ('0' <= v[0] && v[0] <= '9')) {
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return 0, fmt.Errorf("json: cannot unmarshal number %s into Go value of type float64", v)
		}
		return f, nil
	}
	return 0, fmt.Errorf("json: cannot unmarshal %s into Go value of type float64", jsonKind(v))
}

func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

const hexDigits = "0123456789abcdef"

// plainByte marks the ASCII bytes a JSON string holds as they are.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendQuoted appends s as a JSON string. It escapes what JSON requires plus what encoding/json escapes for
// safety (U+2028, U+2029, invalid UTF-8 as U+FFFD); it leaves <, > and & alone, as Python's json.dumps does.
func appendQuoted(dst []byte, s string) []byte {
	return appendQuotedOf(dst, s, utf8.DecodeRuneInString)
}

// appendQuotedBytes is appendQuoted for a byte slice (the inner message of an envelope).
func appendQuotedBytes(dst, s []byte) []byte { return appendQuotedOf(dst, s, utf8.DecodeRune) }

func appendQuotedOf[S string | []byte](dst []byte, s S, decode func(S) (rune, int)) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainByte[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decode(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendRawJSON appends a raw JSON value after checking it is exactly one value, without its surrounding space;
// empty raw is null. This is what json.Marshal does with a json.RawMessage, minus the re-compacting.
func appendRawJSON(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return append(dst, "null"...), nil
	}
	i := skipSpace(raw, 0)
	end, err := scanValue(raw, i, 0)
	if err != nil {
		return dst, err
	}
	if j := skipSpace(raw, end); j != len(raw) {
		return dst, syntaxErr(j, "data after the value")
	}
	return append(dst, raw[i:end]...), nil
}

// appendFloat appends f the way encoding/json writes a float64.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// jsonStrings decodes a raw JSON array whose elements are strings (null elements give "").
func jsonStrings(v []byte) ([]string, error) {
	if len(v) == 0 || v[0] != '[' {
		return nil, fmt.Errorf("json: cannot unmarshal %s into Go value of type []string", jsonKind(v))
	}
	if err := validJSON(v); err != nil {
		return nil, err
	}
	out := []string{}
	for i := skipSpace(v, 1); v[i] != ']'; {
		end, err := scanValue(v, i, 1)
		if err != nil {
			return nil, err
		}
		s, err := jsonString(v[i:end])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if i = skipSpace(v, end); v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return out, nil
}
