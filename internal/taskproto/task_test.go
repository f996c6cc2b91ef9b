package taskproto_test

import (
	"encoding/json"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
)

const (
	testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
)

// sameTask reports whether two tasks are equal, a nil and an empty carrier
// being equal.
func sameTask(a, b taskproto.Task) bool {
	return a.ID == b.ID && string(a.Payload) == string(b.Payload) && maps.Equal(a.Carrier, b.Carrier) &&
		a.Timeout == b.Timeout && a.Line == b.Line
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want taskproto.Task // Line is set to 7 by the test
	}{
		{"raw", "hello", taskproto.Task{ID: "7", Payload: json.RawMessage(`"hello"`)}},
		{"raw number", "42", taskproto.Task{ID: "7", Payload: json.RawMessage(`"42"`)}},
		{"raw array is a string", "[1,2]", taskproto.Task{ID: "7", Payload: json.RawMessage(`"[1,2]"`)}},
		{"raw JSON string is a string", `"hi"`, taskproto.Task{ID: "7", Payload: json.RawMessage(`"\"hi\""`)}},
		{"raw keeps spaces", "  a b \t", taskproto.Task{ID: "7", Payload: json.RawMessage(`"  a b \t"`)}},
		{"raw CR stripped", "hello\r", taskproto.Task{ID: "7", Payload: json.RawMessage(`"hello"`)}},
		{"raw CRLF stripped", "hello\r\n", taskproto.Task{ID: "7", Payload: json.RawMessage(`"hello"`)}},
		{"raw LF stripped", "hello\n", taskproto.Task{ID: "7", Payload: json.RawMessage(`"hello"`)}},
		{"raw only one CR stripped", "hello\r\r", taskproto.Task{ID: "7", Payload: json.RawMessage(`"hello\r"`)}},
		{"raw no HTML escaping", "<a href='x'>&amp;</a>", taskproto.Task{ID: "7", Payload: json.RawMessage(`"<a href='x'>&amp;</a>"`)}},
		{"raw escapes", "a\"b\\c\x01\x7f", taskproto.Task{ID: "7", Payload: json.RawMessage(`"a\"b\\c\u0001` + "\x7f" + `"`)}},
		{"raw UTF-8 kept", "héllo, 世界", taskproto.Task{ID: "7", Payload: json.RawMessage(`"héllo, 世界"`)}},
		{"raw line separators escaped", "a\u2028b\u2029c", taskproto.Task{ID: "7", Payload: json.RawMessage(`"a\u2028b\u2029c"`)}},
		{"raw invalid UTF-8 per byte", "a\xff\xfeb", taskproto.Task{ID: "7", Payload: json.RawMessage(`"a\ufffd\ufffdb"`)}},
		{"raw brace later", "x {}", taskproto.Task{ID: "7", Payload: json.RawMessage(`"x {}"`)}},
		{"raw vertical tab is not JSON space", "\v{}", taskproto.Task{ID: "7", Payload: json.RawMessage(`"\u000b{}"`)}},
		{
			"object",
			`{"id":"mail-1","payload":{"to":"a@b","n":[1, 2]},"carrier":{"traceparent":"` + testTraceparent + `"},"timeout":1.5}`,
			taskproto.Task{
				ID:      "mail-1",
				Payload: json.RawMessage(`{"to":"a@b","n":[1, 2]}`),
				Carrier: propagate.MapCarrier{"traceparent": testTraceparent},
				Timeout: 1500 * time.Millisecond,
			},
		},
		{"empty object", "{}", taskproto.Task{ID: "7", Payload: json.RawMessage("null")}},
		{"leading and trailing space", " \t{ \"id\" : \"a\" } \r\n", taskproto.Task{ID: "a", Payload: json.RawMessage("null")}},
		{"empty id", `{"id":"","payload":1}`, taskproto.Task{ID: "7", Payload: json.RawMessage("1")}},
		{
			"nulls are absent",
			`{"id":null,"payload":null,"carrier":null,"timeout":null}`,
			taskproto.Task{ID: "7", Payload: json.RawMessage("null")},
		},
		{"empty carrier is nil", `{"carrier":{}}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null")}},
		{
			"carrier keys kept as given",
			`{"carrier":{"Traceparent":"` + testTraceparent + `","baggage":"k=v"}}`,
			taskproto.Task{
				ID: "7", Payload: json.RawMessage("null"),
				Carrier: propagate.MapCarrier{"Traceparent": testTraceparent, "baggage": "k=v"},
			},
		},
		{
			"unknown and differently cased members ignored",
			`{"id":"x","ID":"y","Payload":1,"extra":[{"id":"z"}],"attempt":3}`,
			taskproto.Task{ID: "x", Payload: json.RawMessage("null")},
		},
		{"last duplicate wins", `{"id":"a","payload":1,"id":"b","payload":2}`, taskproto.Task{ID: "b", Payload: json.RawMessage("2")}},
		{"escaped member name", `{"\u0069d":"esc"}`, taskproto.Task{ID: "esc", Payload: json.RawMessage("null")}},
		{"escaped id", `{"id":"a\"b\u00e9\u2028<"}`, taskproto.Task{ID: "a\"bé\u2028<", Payload: json.RawMessage("null")}},
		{"id with spaces kept", `{"id":" a "}`, taskproto.Task{ID: " a ", Payload: json.RawMessage("null")}},
		{"payload string", `{"payload":"x<&>y"}`, taskproto.Task{ID: "7", Payload: json.RawMessage(`"x<&>y"`)}},
		{"payload false", `{"payload":false}`, taskproto.Task{ID: "7", Payload: json.RawMessage("false")}},
		{"payload compacted when it holds a CR", "{\"payload\":[1,\r2, 3]}", taskproto.Task{ID: "7", Payload: json.RawMessage("[1,2,3]")}},
		{"payload invalid UTF-8", "{\"payload\":\"a\xffb\"}", taskproto.Task{ID: "7", Payload: json.RawMessage("\"a\uFFFDb\"")}},
		{"id invalid UTF-8", "{\"id\":\"a\xffb\"}", taskproto.Task{ID: "a\uFFFDb", Payload: json.RawMessage("null")}},
		{"timeout 0 is none", `{"timeout":0}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null")}},
		{"timeout -0 is none", `{"timeout":-0.0}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null")}},
		{"timeout integer", `{"timeout":30}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null"), Timeout: 30 * time.Second}},
		{"timeout exact decimal", `{"timeout":0.001}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null"), Timeout: time.Millisecond}},
		{"timeout exponent", `{"timeout":1.5e2}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null"), Timeout: 150 * time.Second}},
		{"timeout below 1ns", `{"timeout":1e-12}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null"), Timeout: time.Nanosecond}},
		{"timeout largest", `{"timeout":9223372036.854775807}`, taskproto.Task{ID: "7", Payload: json.RawMessage("null"), Timeout: 1<<63 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := taskproto.ParseLine([]byte(tt.line), 7)
			if err != nil {
				t.Fatalf("ParseLine(%q) error: %v", tt.line, err)
			}
			tt.want.Line = 7
			if !sameTask(got, tt.want) {
				t.Errorf("ParseLine(%q)\n got %+v (payload %s)\nwant %+v (payload %s)", tt.line, got, got.Payload, tt.want, tt.want.Payload)
			}
			if !json.Valid(got.Payload) {
				t.Errorf("payload %q is not valid JSON", got.Payload)
			}
			if tt.want.Carrier == nil && got.Carrier != nil {
				t.Errorf("Carrier = %#v, want nil", got.Carrier)
			}
		})
	}
}

func TestParseLineCopies(t *testing.T) {
	line := []byte(`{"id":"abc","payload":{"k":"v"},"carrier":{"traceparent":"` + testTraceparent + `"}}`)
	got, err := taskproto.ParseLine(line, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range line {
		line[i] = 'X'
	}
	if got.ID != "abc" || string(got.Payload) != `{"k":"v"}` || got.Carrier.Get("traceparent") != testTraceparent {
		t.Errorf("task changed with its input: %+v payload %s", got, got.Payload)
	}
}

func TestParseLineErrors(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		wantID string
		want   string
	}{
		{"blank", " \t\r", "4", "line 4 is blank"},
		{"empty", "", "4", "line 4 is blank"},
		{"unterminated", "{", "4", "line 4 starts with { but is not valid JSON: unexpected end of JSON input at byte offset 1"},
		{"bad object", `{"a" 1}`, "4", "line 4 starts with { but is not valid JSON: invalid character '1' after object key at byte offset 6"},
		{"offset counts leading space", `  {"a" 1}`, "4", "line 4 starts with { but is not valid JSON: invalid character '1' after object key at byte offset 8"},
		{"trailing garbage", `{"id":"x"} trailing`, "4", "line 4 starts with { but is not valid JSON: invalid character 't' after top-level value at byte offset 12"},
		{"two objects", `{}{}`, "4", "line 4 starts with { but is not valid JSON: invalid character '{' after top-level value at byte offset 3"},
		{"number id", `{"id":7}`, "4", `line 4 has an "id" that is a JSON number, want a string`},
		{"boolean id", `{"id":true,"payload":1}`, "4", `line 4 has an "id" that is a JSON boolean, want a string`},
		{"object id", `{"id":{"a":"b"}}`, "4", `line 4 has an "id" that is a JSON object, want a string`},
		{"NUL in id", `{"id":"a\u0000b"}`, "4", `line 4 has an "id" with a NUL character`},
		{"carrier string", `{"id":"x","carrier":"tp"}`, "x", `line 4 has an invalid "carrier": parse carrier: got a JSON string, want an object of strings`},
		{"carrier number value", `{"id":"x","carrier":{"traceparent":1}}`, "x", `line 4 has an invalid "carrier": parse carrier: value of key "traceparent" is a JSON number, want a string`},
		{"carrier error without id", `{"carrier":[]}`, "4", `line 4 has an invalid "carrier": parse carrier: got a JSON array, want an object of strings`},
		{"timeout string", `{"id":"x","timeout":"30"}`, "x", `line 4 has a "timeout" that is a JSON string, want a number of seconds`},
		{"timeout boolean", `{"timeout":true}`, "4", `line 4 has a "timeout" that is a JSON boolean, want a number of seconds`},
		{"timeout negative", `{"id":"x","timeout":-1}`, "x", `line 4 has a negative "timeout" (-1 seconds)`},
		{"timeout tiny negative", `{"timeout":-1e-12}`, "4", `line 4 has a negative "timeout" (-1e-12 seconds)`},
		{"timeout huge", `{"timeout":1e300}`, "4", `line 4 has a "timeout" out of range (1e300 seconds)`},
		{"timeout overflow", `{"timeout":9223372037}`, "4", `line 4 has a "timeout" out of range (9223372037 seconds)`},
		{"timeout overflow exponent", `{"timeout":1e400}`, "4", `line 4 has a "timeout" out of range (1e400 seconds)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := taskproto.ParseLine([]byte(tt.line), 4)
			if err == nil {
				t.Fatalf("ParseLine(%q) = %+v, want an error", tt.line, got)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if !errors.Is(err, taskproto.ErrInvalidTask) {
				t.Errorf("error %v does not match ErrInvalidTask", err)
			}
			le, ok := errors.AsType[*taskproto.LineError](err)
			if !ok {
				t.Fatalf("error %T is not a *LineError", err)
			}
			if le.Line != 4 || le.ID != tt.wantID {
				t.Errorf("LineError{Line: %d, ID: %q}, want {4, %q}", le.Line, le.ID, tt.wantID)
			}
			if le.Err == nil || errors.Unwrap(err) != le.Err {
				t.Errorf("Unwrap() = %v, want the reason %v", errors.Unwrap(err), le.Err)
			}
		})
	}
}

func TestParseLineSyntaxErrorUnwraps(t *testing.T) {
	_, err := taskproto.ParseLine([]byte(`{"a":}`), 1)
	se, ok := errors.AsType[*json.SyntaxError](err)
	if !ok {
		t.Fatalf("error %v does not unwrap to a *json.SyntaxError", err)
	}
	if se.Offset != 6 {
		t.Errorf("Offset = %d, want 6", se.Offset)
	}
}

func TestLineErrorWithoutReason(t *testing.T) {
	err := &taskproto.LineError{Line: 2, ID: "2"}
	if got, want := err.Error(), "line 2 is not a valid task"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, taskproto.ErrInvalidTask) {
		t.Error("does not match ErrInvalidTask")
	}
}

func TestPayloadBytes(t *testing.T) {
	tests := []struct {
		payload string
		want    string
	}{
		{`"hello"`, "hello"},
		{` "hello" `, "hello"},
		{`""`, ""},
		{`"a\nb\t\"c\" \u00e9 \ud83d\ude00"`, "a\nb\t\"c\" é 😀"},
		{`"<&>"`, "<&>"},
		{`{"a": [1, 2]}`, `{"a": [1, 2]}`},
		{" 42\n", "42"},
		{"null", "null"},
		{"", "null"},
		{"true", "true"},
		{`"unterminated`, `"unterminated`},
	}
	for _, tt := range tests {
		if got := taskproto.PayloadBytes(json.RawMessage(tt.payload)); string(got) != tt.want {
			t.Errorf("PayloadBytes(%q) = %q, want %q", tt.payload, got, tt.want)
		}
	}
	if got := taskproto.PayloadBytes(nil); string(got) != "null" {
		t.Errorf("PayloadBytes(nil) = %q, want null", got)
	}

	// A raw line comes back as its bytes.
	for _, line := range []string{"hello world", `a "quoted" \ line`, "tab\there", "<html>&", "世界"} {
		task, err := taskproto.ParseLine([]byte(line), 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := taskproto.PayloadBytes(task.Payload); string(got) != line {
			t.Errorf("PayloadBytes of raw line %q = %q", line, got)
		}
	}
}

func TestParseEntryIDs(t *testing.T) {
	for _, tc := range []struct {
		name, data, wantID string
		invalid            bool
	}{
		{"raw text", "hello", "1-0", false},
		{"raw zero", "0", "1-0", false},
		{"object without id", `{"payload":1}`, "1-0", false},
		{"null id", `{"id":null}`, "1-0", false},
		{"empty id", `{"id":""}`, "1-0", false},
		{"own id", `{"id":"a"}`, "a", false},
		{"own id 0", `{"id":"0"}`, "0", false},
		{"broken json", `{"id":"a"`, "1-0", true},
		{"number id", `{"id":7}`, "1-0", true},
		{"bad timeout with id 0", `{"id":"0","timeout":-1}`, "0", true},
		{"bad timeout without id", `{"timeout":-1}`, "1-0", true},
		{"blank", "  ", "1-0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task, err := taskproto.ParseEntry([]byte(tc.data), "1-0")
			if tc.invalid {
				var le *taskproto.LineError
				if !errors.As(err, &le) || le.ID != tc.wantID || le.Line != 0 {
					t.Fatalf("ParseEntry(%q) = %v, want a *LineError with id %q", tc.data, err, tc.wantID)
				}
				return
			}
			if err != nil || task.ID != tc.wantID || task.Line != 0 {
				t.Fatalf("ParseEntry(%q) = %+v, %v; want id %q", tc.data, task, err, tc.wantID)
			}
		})
	}
}
