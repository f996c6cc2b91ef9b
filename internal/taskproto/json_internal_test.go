package taskproto

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// stdString encodes s with encoding/json, HTML escaping off.
func stdString(t testing.TB, s string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted" \ back`, "<a href=\"x\">&amp;</a>", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		"héllo 世界 😀", "\u2028\u2029", "bad \xff\xfe end", "\xed\xa0\x80 surrogate", "trunc \xe4\xb8",
	} {
		want := stdString(t, s)
		if got := string(appendString(nil, s)); got != want {
			t.Errorf("appendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
		if got := string(appendString(nil, []byte(s))); got != want {
			t.Errorf("appendString([]byte(%q)) = %s, encoding/json gives %s", s, got, want)
		}
	}
}

func TestSeconds(t *testing.T) {
	tests := []struct {
		text string
		d    time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"1", time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"0.000000001", 1, true},
		{"0.0000000014", 1, true},
		{"0.0000000015", 2, true},
		{"1.5e2", 150 * time.Second, true},
		{"1E-3", time.Millisecond, true},
		{"-2.25", -2250 * time.Millisecond, true},
		{"9223372036.854775807", math.MaxInt64, true},
		{"9223372036.854775808", 0, false},
		{"-9223372036.854775808", math.MinInt64, true},
		{"-9223372036.854775809", 0, false},
		{"9999999999", 0, false},
		{"99999999999", 0, false},
		{"1e19", 0, false},
		{"1e400", 0, false},
		{"1e-400", 0, true},
		{`"1"`, 0, false},
		{"true", 0, false},
		{"", 0, false},
		{"1.", 0, false},
		{"-", 0, false},
	}
	for _, tt := range tests {
		d, ok := parseSeconds([]byte(tt.text))
		if d != tt.d || ok != tt.ok {
			t.Errorf("parseSeconds(%q) = %d, %v, want %d, %v", tt.text, d, ok, tt.d, tt.ok)
		}
	}

	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"}, {1, "0.000000001"}, {time.Second, "1"}, {1500 * time.Millisecond, "1.5"},
		{-time.Millisecond, "-0.001"}, {math.MaxInt64, "9223372036.854775807"}, {math.MinInt64, "-9223372036.854775808"},
	} {
		got := string(appendSeconds(nil, tt.d))
		if got != tt.want {
			t.Errorf("appendSeconds(%d) = %s, want %s", tt.d, got, tt.want)
		}
		if back, ok := parseSeconds([]byte(got)); !ok || back != tt.d {
			t.Errorf("parseSeconds(%s) = %d, %v, want %d", got, back, ok, tt.d)
		}
	}
}

func TestDecodeInt(t *testing.T) {
	tests := []struct {
		text string
		n    int
		ok   bool
	}{
		{"0", 0, true}, {"-1", -1, true}, {"42", 42, true},
		{"9223372036854775807", math.MaxInt64, true}, {"9223372036854775808", 0, false},
		{"-9223372036854775808", math.MinInt64, true}, {"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false}, {"1.0", 0, false}, {"1e2", 0, false}, {"", 0, false}, {"-", 0, false},
	}
	for _, tt := range tests {
		if n, ok := decodeInt([]byte(tt.text)); n != tt.n || ok != tt.ok {
			t.Errorf("decodeInt(%q) = %d, %v, want %d, %v", tt.text, n, ok, tt.n, tt.ok)
		}
	}
}

func TestMembers(t *testing.T) {
	obj := []byte(`{ "a" : 1 , "b":"x,}]\"y" ,"c":{"d":[1,{"e":"}"}]},"f":[],"g":null,"h":-1.5e3 }`)
	want := [][2]string{{`"a"`, "1"}, {`"b"`, `"x,}]\"y"`}, {`"c"`, `{"d":[1,{"e":"}"}]}`}, {`"f"`, "[]"}, {`"g"`, "null"}, {`"h"`, "-1.5e3"}}
	m := newMembers(obj)
	for i := 0; ; i++ {
		k, v, ok := m.next()
		if !ok {
			if i != len(want) {
				t.Fatalf("%d members, want %d", i, len(want))
			}
			break
		}
		if i >= len(want) || string(k) != want[i][0] || string(v) != want[i][1] {
			t.Fatalf("member %d = %s: %s", i, k, v)
		}
	}
	m = newMembers([]byte("{}"))
	if _, _, ok := m.next(); ok {
		t.Error("a member in {}")
	}
}
