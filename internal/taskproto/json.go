package taskproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otel-qrun/otel-qrun/propagate"
)

// This file holds the small JSON toolkit the wire formats share: a string
// encoder without HTML escaping, a raw-value encoder that always yields one
// valid line, a walker over the members of an object already checked by
// json.Valid, and exact conversions between time.Duration and a number of
// seconds.

const hexDigits = "0123456789abcdef"

// appendString appends src as a JSON string. It escapes what JSON requires
// (the quote, the backslash and control characters) plus U+2028 and U+2029,
// which some line splitters treat as line ends. It does not escape '<', '>'
// or '&'. Each byte that is not part of valid UTF-8 becomes \ufffd, as
// encoding/json does.
func appendString[S []byte | string](dst []byte, src S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(src); {
		if b := src[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, src[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
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
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(src)-i, utf8.UTFMax)
		c, size := utf8.DecodeRuneInString(string(src[i : i+n]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, src[start:]...)
	return append(dst, '"')
}

// appendRaw appends the JSON value raw so that the result is valid JSON on
// one line: nothing (or only whitespace) becomes null, a value that is not
// valid JSON becomes a JSON string of its bytes, and a valid value holding a
// line break or invalid UTF-8 is compacted with each bad byte replaced by
// U+FFFD. Any other value is appended as is, without the whitespace around
// it, so a value returned by one of the Parse functions (see normRaw)
// survives an encode and parse round trip byte for byte.
func appendRaw(dst []byte, raw []byte) []byte {
	trimmed := trimSpace(raw)
	switch {
	case len(trimmed) == 0:
		return append(dst, "null"...)
	case !json.Valid(trimmed):
		return appendString(dst, raw)
	}
	raw = trimmed
	if !needsNormalizing(raw) {
		return append(dst, raw...)
	}
	buf := bytes.NewBuffer(dst)
	_ = json.Compact(buf, validUTF8(raw)) // raw is valid JSON: no error
	return buf.Bytes()
}

// normRaw returns a copy of the valid JSON value raw in the form appendRaw
// leaves unchanged: compacted when it holds a line break or invalid UTF-8.
// The copy never shares memory with raw.
func normRaw(raw []byte) json.RawMessage {
	if !needsNormalizing(raw) {
		return bytes.Clone(raw)
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	_ = json.Compact(&buf, validUTF8(raw)) // raw is valid JSON: no error
	return buf.Bytes()
}

// needsNormalizing reports whether the valid JSON value raw holds a line
// break (insignificant whitespace, since a JSON string cannot hold one) or
// invalid UTF-8.
func needsNormalizing(raw []byte) bool {
	return bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0 || !utf8.Valid(raw)
}

// validUTF8 returns b when it is valid UTF-8, else a copy in which each byte
// that is not part of valid UTF-8 is replaced by U+FFFD (one per byte, the
// rule of encoding/json). In valid JSON such bytes can only be inside
// strings, so the copy is still valid JSON.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		c, size := utf8.DecodeRune(b)
		if c == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// isSpace reports whether c is whitespace in JSON.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON whitespace, or len(b).
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimSpace removes the JSON whitespace around b.
func trimSpace(b []byte) []byte {
	b = b[skipSpace(b, 0):]
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// syntaxError describes why b, which json.Valid rejected, is not valid
// JSON, with the byte offset that encoding/json reports (the number of bytes
// read when the error was found).
func syntaxError(b []byte) error {
	var v struct{}
	err := json.Unmarshal(b, &v)
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// At the end of the input, encoding/json feeds its scanner a space,
		// so a truncated literal ("tr") reads "invalid character ' ' in
		// literal true": say what happened instead.
		if se.Offset == int64(len(b)) && len(b) > 0 && b[len(b)-1] != ' ' &&
			strings.HasPrefix(se.Error(), "invalid character ' '") {
			return fmt.Errorf("unexpected end of JSON input at byte offset %d", se.Offset)
		}
		return fmt.Errorf("%w at byte offset %d", se, se.Offset)
	}
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return err
}

// members walks the members of a JSON object. b must be a valid JSON object
// without surrounding whitespace; the walk does no checking of its own.
type members struct {
	b []byte
	i int
}

// field names a member to pick from an object, and where its value goes.
type field struct {
	name string
	val  *[]byte
}

// pick walks obj, a valid JSON object without surrounding whitespace, and
// stores the value of each member named in fields; of duplicate members
// the last wins, as with encoding/json. Other members are ignored.
func pick(obj []byte, fields ...field) {
	m := newMembers(obj)
	for {
		k, v, ok := m.next()
		if !ok {
			return
		}
		name := fieldName(k)
		for _, f := range fields {
			if string(name) == f.name {
				*f.val = v
				break
			}
		}
	}
}

// newMembers starts a walk over obj, a valid JSON object without
// surrounding whitespace.
func newMembers(obj []byte) members { return members{b: obj, i: 1} }

// next returns the next member's key (still quoted) and value (without
// surrounding whitespace), or ok false after the last member.
func (m *members) next() (key, val []byte, ok bool) {
	b := m.b
	i := skipSpace(b, m.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return nil, nil, false
	}
	end := skipString(b, i)
	key = b[i:end]
	i = skipSpace(b, end)
	i = skipSpace(b, i+1) // the ':'
	end = skipValue(b, i)
	m.i = end
	return key, b[i:end], true
}

// skipString returns the index just past the JSON string that starts at
// b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index just past the valid JSON value that starts at
// b[i].
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default:
		for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
			i++
		}
		return i
	}
}

// fieldName returns the name of the quoted key of a member, unescaped. It
// shares memory with key unless the key holds an escape.
func fieldName(key []byte) []byte {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var s string
	if json.Unmarshal(key, &s) != nil {
		return inner
	}
	return []byte(s)
}

// decodeString returns the Go string of the JSON value val, or ok false
// when val is not a JSON string. val must be valid JSON and valid UTF-8.
func decodeString(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' {
		return "", false
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string // escapes to the heap: only on this path
	if json.Unmarshal(val, &s) != nil {
		return "", false
	}
	return s, true
}

// decodeInt returns the JSON number val as an int, or ok false when val is
// not a JSON integer that fits.
func decodeInt(val []byte) (n int, ok bool) {
	neg := len(val) > 0 && val[0] == '-'
	digits := val
	if neg {
		digits = val[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case !neg && u <= math.MaxInt:
		return int(u), true
	case neg && u <= -math.MinInt:
		return int(-u), true // two's complement: -u wraps to MinInt for u == 2^63
	}
	return 0, false
}

// appendSeconds appends d as an exact decimal number of seconds: "0",
// "1.5", "0.000000001", "-2.25".
func appendSeconds(dst []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		dst = append(dst, '-')
		u = -u
	}
	sec, ns := u/uint64(time.Second), u%uint64(time.Second)
	dst = appendUint(dst, sec)
	if ns == 0 {
		return dst
	}
	var frac [9]byte
	for i := len(frac) - 1; i >= 0; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	n := len(frac)
	for frac[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, frac[:n]...)
}

// appendUint appends the decimal digits of u.
func appendUint(dst []byte, u uint64) []byte {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}

// appendInt appends the decimal digits of n.
func appendInt(dst []byte, n int) []byte {
	if n < 0 {
		return appendUint(append(dst, '-'), -uint64(n))
	}
	return appendUint(dst, uint64(n))
}

// parseSeconds converts the JSON number num, a count of seconds, to a
// Duration rounded to the nanosecond. ok is false when num is not a JSON
// number or the Duration would overflow. A plain decimal with at most nine
// fractional digits converts exactly; any other number goes through float64.
func parseSeconds(num []byte) (d time.Duration, ok bool) {
	s := num
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	intPart, frac := s, []byte(nil)
	if i := bytes.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	if len(intPart) == 0 || len(intPart) > 10 || len(frac) > 9 || !allDigits(intPart) || !allDigits(frac) ||
		(frac != nil && len(frac) == 0) {
		return parseSecondsFloat(num)
	}
	var ns uint64
	for _, c := range intPart {
		ns = ns*10 + uint64(c-'0')
	}
	ns *= uint64(time.Second)
	scale := uint64(time.Second)
	for _, c := range frac {
		scale /= 10
		ns += uint64(c-'0') * scale
	}
	switch {
	case !neg && ns <= math.MaxInt64:
		return time.Duration(ns), true
	case neg && ns <= 1<<63:
		return time.Duration(-ns), true
	}
	return 0, false
}

// parseSecondsFloat is parseSeconds for numbers with an exponent or more
// than nine fractional digits.
func parseSecondsFloat(num []byte) (time.Duration, bool) {
	if len(num) == 0 || !json.Valid(num) || (num[0] != '-' && (num[0] < '0' || num[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return 0, false
	}
	ns := math.Round(f * float64(time.Second))
	if ns >= 0x1p63 || ns < -0x1p63 {
		return 0, false
	}
	return time.Duration(ns), true
}

// allDigits reports whether every byte of b is an ASCII digit.
func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isNegative reports whether the JSON number num is below zero: it has a
// minus sign and a non-zero digit before any exponent.
func isNegative(num []byte) bool {
	return len(num) > 0 && num[0] == '-' && hasNonZeroMantissa(num)
}

// hasNonZeroMantissa reports whether the JSON number num has a non-zero
// digit before any exponent, that is, whether its value is not zero.
func hasNonZeroMantissa(num []byte) bool {
	for _, c := range num {
		if c == 'e' || c == 'E' {
			return false
		}
		if c >= '1' && c <= '9' {
			return true
		}
	}
	return false
}

// parseCarrier is propagate.ParseMapCarrier for raw, a valid JSON value in
// valid UTF-8, with the same result. An object whose values are all strings
// (the usual carrier) is read here with few allocations; anything else goes
// to propagate.ParseMapCarrier, which gives the error.
func parseCarrier(raw []byte) (propagate.MapCarrier, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return propagate.ParseMapCarrier(raw)
	}
	n := 0
	m := newMembers(raw)
	for {
		_, v, ok := m.next()
		if !ok {
			break
		}
		if v[0] != '"' {
			return propagate.ParseMapCarrier(raw)
		}
		n++
	}
	c := make(propagate.MapCarrier, n)
	m = newMembers(raw)
	for {
		k, v, ok := m.next()
		if !ok {
			break
		}
		s, _ := decodeString(v) // v is a string: checked above
		c[string(fieldName(k))] = s
	}
	return c, nil
}
