package envconfig

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ParseDuration parses a duration written as a number of seconds (60, 0.5,
// 1e3, as in django-q2) or as a Go duration (1m30s). Seconds are converted
// exactly, truncated below one nanosecond. Negative durations and values
// beyond [time.Duration] are errors wrapping [ErrInvalid].
func ParseDuration(s string) (time.Duration, error) {
	d, isNumber, err := parseSeconds(s)
	if !isNumber {
		d, err = time.ParseDuration(s)
	}
	switch {
	case err != nil:
		return 0, invalidf("invalid duration %q: want %s", s, durationForms)
	case d < 0:
		return 0, invalidf("invalid duration %q: must not be negative", s)
	}
	return d, nil
}

// parseSeconds parses s when it is a decimal number of seconds: an optional
// sign, digits with an optional fraction, an optional exponent. isNumber is
// false when s has another form. The conversion to nanoseconds is exact, so
// "0.3" is 300ms, not 299.999999ms as a float64 would give.
func parseSeconds(s string) (d time.Duration, isNumber bool, err error) {
	neg, digits, exp, ok := scanDecimal(s)
	if !ok {
		return 0, false, nil
	}
	if len(digits) == 0 {
		return 0, true, nil // zero, whatever its sign and exponent
	}
	shift := exp + 9 // from seconds to nanoseconds
	switch {
	case shift <= -len(digits):
		return 0, true, nil
	case shift < 0:
		digits = digits[:len(digits)+shift]
	case len(digits)+shift > 19: // more digits than math.MaxInt64 has
		return 0, true, strconv.ErrRange
	default:
		digits = append(digits, strings.Repeat("0", shift)...)
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if neg {
		n = -n
	}
	return time.Duration(n), true, err
}

// parseInteger parses s when it is a decimal number with an integral value
// that fits in an int64: 4, -2, +7, and also 4.0, 1e3 and 2.5e1, the forms
// a JSON, YAML or TOML number takes. Every layer hands its integers to this
// one function as text, so the same value gets the same verdict from every
// layer ({"workers":1e18} in Q_CLUSTER and --workers 1e18 alike).
func parseInteger(s string) (int64, bool) {
	neg, digits, exp, ok := scanDecimal(s)
	switch {
	case !ok:
		return 0, false
	case len(digits) == 0:
		return 0, true
	case exp < 0:
		// The digits after the decimal point must all be zeros.
		if -exp > len(digits) || strings.Trim(string(digits[len(digits)+exp:]), "0") != "" {
			return 0, false
		}
		digits = digits[:len(digits)+exp]
	case len(digits)+exp > 19: // more digits than math.MaxInt64 has
		return 0, false
	default:
		digits = append(digits, strings.Repeat("0", exp)...)
	}
	if neg {
		digits = append([]byte{'-'}, digits...)
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	return n, err == nil
}

// scanDecimal reads s as an optional sign, digits with an optional
// fraction, and an optional exponent: its value is ±digits × 10^exp, with
// digits free of leading zeros (empty for zero). ok is false for any other
// form. Exponents beyond a million are capped, far beyond any value of a
// key, so that exp cannot overflow.
func scanDecimal(s string) (neg bool, digits []byte, exp int, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	sawDigit := false
	for ; i < len(s) && isDigit(s[i]); i++ {
		digits, sawDigit = append(digits, s[i]), true
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && isDigit(s[i]); i++ {
			digits, sawDigit = append(digits, s[i]), true
			exp--
		}
	}
	if !sawDigit {
		return false, nil, 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return false, nil, 0, false
		}
		e := 0
		for ; i < len(s) && isDigit(s[i]); i++ {
			if e < 1e6 {
				e = e*10 + int(s[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(s) {
		return false, nil, 0, false
	}
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	return neg, digits, exp, true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// ParseSignal parses a signal name with or without the SIG prefix, in any
// case (TERM, SIGTERM, term, sigterm), or a decimal signal number (15).
// Unknown names and numbers, and 0, are errors wrapping [ErrInvalid].
func ParseSignal(s string) (syscall.Signal, error) {
	if s != "" && strings.TrimLeft(s, "0123456789") == "" {
		n, err := strconv.Atoi(s)
		if err == nil && n > 0 && unix.SignalName(syscall.Signal(n)) != "" {
			return syscall.Signal(n), nil
		}
		return 0, invalidf("invalid signal %q: no such signal number", s)
	}
	name := asciiUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, invalidf("invalid signal %q: want a name (TERM, SIGTERM) or a number (15)", s)
}

// asciiUpper upper-cases ASCII letters only, so that no other letter can
// turn into a signal name ("ſ" would become "S" with strings.ToUpper).
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// SignalName returns the name of sig without the SIG prefix ("TERM"), or
// its number when the platform has no name for it.
func SignalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return strconv.Itoa(int(sig))
}

// The decoders below take a raw value as any layer gives it: a string (flag,
// environment, quoted file value), a json.Number (Q_CLUSTER), or a bool,
// integer or float64 (file, typed flag). They report false for a value of
// the wrong form; ranges are checked by the key's valid function.

// toString accepts a string, or a number written as its text.
func toString(raw any) (string, bool) {
	return numberText(raw)
}

// toInt64 accepts an integer as parseInteger reads it, in any form a
// layer gives: text (flag, environment, quoted file value), json.Number
// (Q_CLUSTER), float64 or an integer type (file). Everything goes through
// the same text parser, so every layer gives the same verdict.
func toInt64(raw any) (int64, bool) {
	s, ok := numberText(raw)
	if !ok {
		return 0, false
	}
	return parseInteger(s)
}

// numberText returns the text of a string or number as parseInteger and
// ParseDuration read it. A float64 is written in the shortest form that
// reads back as the same value.
func numberText(raw any) (string, bool) {
	switch x := raw.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		return formatFloat(x), true
	}
	if n, ok := intValue(raw); ok {
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

// formatFloat writes f as a user most likely wrote it in a file: 1e18, not
// 1e+18; 0.5; 4.
func formatFloat(f float64) string {
	return strings.Replace(strconv.FormatFloat(f, 'g', -1, 64), "e+", "e", 1)
}

// intValue converts the integer types that file decoders and typed flags
// produce.
func intValue(raw any) (int64, bool) {
	switch x := raw.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	}
	return 0, false
}

// toDuration accepts a string for ParseDuration, or a number of seconds.
func toDuration(raw any) (time.Duration, bool) {
	s, ok := numberText(raw)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	return d, err == nil
}

// toSwitch accepts auto, the usual spellings of true and false in any case,
// a bool, or the numbers 1 and 0.
func toSwitch(raw any) (Switch, bool) {
	if b, ok := raw.(bool); ok {
		if b {
			return SwitchOn, true
		}
		return SwitchOff, true
	}
	s, ok := toString(raw)
	if !ok {
		return SwitchAuto, false
	}
	if n, ok := parseInteger(s); ok { // 1, or 1.0 as a file gives it
		s = strconv.FormatInt(n, 10)
	}
	switch strings.ToLower(s) {
	case "auto":
		return SwitchAuto, true
	case "true", "1", "yes", "on":
		return SwitchOn, true
	case "false", "0", "no", "off":
		return SwitchOff, true
	}
	return SwitchAuto, false
}

// display formats a raw value for an error message.
func display(raw any) string {
	switch x := raw.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return formatFloat(x)
	}
	if b, err := json.Marshal(raw); err == nil {
		return string(b)
	}
	return fmt.Sprint(raw)
}
