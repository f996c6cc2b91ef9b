package taskproto_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
)

// sameResult reports whether two results are equal.
func sameResult(a, b taskproto.Result) bool {
	return a.ID == b.ID && a.Status == b.Status && a.Attempts == b.Attempts && a.Duration == b.Duration &&
		a.TraceID == b.TraceID && a.Worker == b.Worker && a.Error == b.Error && string(a.Result) == string(b.Result)
}

func TestAppendResult(t *testing.T) {
	tests := []struct {
		name   string
		result taskproto.Result
		want   string
	}{
		{
			"ok",
			taskproto.Result{
				ID: "mail-1", Status: taskproto.StatusOK, Attempts: 1, Duration: 250 * time.Millisecond,
				TraceID: testTraceID, Worker: 0, Result: json.RawMessage(`{"queued":true}`),
			},
			`{"id":"mail-1","status":"ok","attempts":1,"duration_s":0.25,"trace_id":"` + testTraceID + `","worker":0,"result":{"queued":true}}`,
		},
		{
			"invalid never ran",
			taskproto.Result{ID: "3", Status: taskproto.StatusInvalid, Worker: -1, Error: "line 3 is longer than max_line (10 bytes)"},
			`{"id":"3","status":"invalid","attempts":0,"duration_s":0,"worker":null,"error":"line 3 is longer than max_line (10 bytes)"}`,
		},
		{
			"error with HTML characters",
			taskproto.Result{ID: "<a>", Status: taskproto.StatusError, Attempts: 3, Duration: 90 * time.Second, Worker: 12, Error: `x < y && "z"`},
			`{"id":"<a>","status":"error","attempts":3,"duration_s":90,"worker":12,"error":"x < y && \"z\""}`,
		},
		{
			"nanoseconds",
			taskproto.Result{ID: "n", Status: taskproto.StatusTimeout, Attempts: 1, Duration: time.Nanosecond, Worker: 1},
			`{"id":"n","status":"timeout","attempts":1,"duration_s":0.000000001,"worker":1}`,
		},
		{
			"other statuses",
			taskproto.Result{ID: "l", Status: taskproto.StatusLost, Attempts: 2, Duration: 1234567891 * time.Nanosecond, Worker: 0},
			`{"id":"l","status":"lost","attempts":2,"duration_s":1.234567891,"worker":0}`,
		},
		{
			"cancelled",
			taskproto.Result{ID: "c", Status: taskproto.StatusCancelled, Worker: -7},
			`{"id":"c","status":"cancelled","attempts":0,"duration_s":0,"worker":null}`,
		},
		{
			"result with a line break",
			taskproto.Result{ID: "r", Status: taskproto.StatusOK, Attempts: 1, Worker: 0, Result: json.RawMessage("{\n\"a\": 1\n}")},
			`{"id":"r","status":"ok","attempts":1,"duration_s":0,"worker":0,"result":{"a":1}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := taskproto.AppendResult(nil, tt.result)
			if string(got) != tt.want+"\n" {
				t.Errorf("AppendResult\n got %s\nwant %s", got, tt.want)
			}
			back, err := taskproto.ParseResult(got)
			if err != nil {
				t.Fatalf("ParseResult(%s): %v", got, err)
			}
			want := tt.result
			if want.Worker < 0 {
				want.Worker = -1
			}
			if len(want.Result) > 0 {
				want.Result = json.RawMessage(mustCompact(t, want.Result))
			}
			if !sameResult(back, want) {
				t.Errorf("round trip\n got %+v\nwant %+v", back, want)
			}
			// encoding/json agrees on every field.
			var std struct {
				ID       string          `json:"id"`
				Status   string          `json:"status"`
				Attempts int             `json:"attempts"`
				Duration float64         `json:"duration_s"`
				TraceID  string          `json:"trace_id"`
				Worker   *int            `json:"worker"`
				Error    string          `json:"error"`
				Result   json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal(got, &std); err != nil {
				t.Fatal(err)
			}
			if std.ID != back.ID || std.Status != string(back.Status) || std.Error != back.Error ||
				time.Duration(std.Duration*1e9+0.5) != back.Duration || (std.Worker == nil) != (back.Worker == -1) {
				t.Errorf("encoding/json read %+v, ParseResult %+v", std, back)
			}
		})
	}
}

// mustCompact returns raw compacted.
func mustCompact(t *testing.T, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestResultDurationRoundTrip(t *testing.T) {
	durations := []time.Duration{
		0, 1, 999, time.Microsecond, 1500 * time.Millisecond, time.Hour + 1, 100 * 24 * time.Hour,
		1<<53 + 1, 1<<63 - 1, -1, -time.Second, -1 << 63,
	}
	for _, d := range durations {
		line := taskproto.AppendResult(nil, taskproto.Result{ID: "d", Status: taskproto.StatusOK, Duration: d, Worker: 0})
		back, err := taskproto.ParseResult(line)
		if err != nil {
			t.Fatalf("ParseResult(%s): %v", line, err)
		}
		if back.Duration != d {
			t.Errorf("duration %d came back as %d from %s", d, back.Duration, line)
		}
	}
}

func TestParseResult(t *testing.T) {
	got, err := taskproto.ParseResult([]byte(`{"status":"ok","id":"a","extra":1,"duration_s":1.5e-3,"trace_id":null,"error":null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := taskproto.Result{ID: "a", Status: taskproto.StatusOK, Duration: 1500 * time.Microsecond, Worker: -1}
	if !sameResult(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	bad := []struct{ line, want string }{
		{"", "parse result: empty line, want a JSON object"},
		{"{", "parse result: not valid JSON: unexpected end of JSON input at byte offset 1"},
		{"[]", "parse result: got a JSON array, want an object"},
		{`{"status":"ok"}`, `parse result: no "id"`},
		{`{"id":1,"status":"ok"}`, `parse result: "id" is a JSON number, want a string`},
		{`{"id":"a"}`, `parse result: no "status"`},
		{`{"id":"a","status":true}`, `parse result: "status" is a JSON boolean, want a string`},
		{`{"id":"a","status":"ok","attempts":"1"}`, `parse result: "attempts" is a JSON string, want an integer`},
		{`{"id":"a","status":"ok","duration_s":"1"}`, `parse result: "duration_s" is a JSON string, want a number of seconds`},
		{`{"id":"a","status":"ok","duration_s":1e300}`, `parse result: "duration_s" is the number 1e300, want a number of seconds`},
		{`{"id":"a","status":"ok","trace_id":1}`, `parse result: "trace_id" is a JSON number, want a string`},
		{`{"id":"a","status":"ok","worker":"0"}`, `parse result: "worker" is a JSON string, want an integer or null`},
		{`{"id":"a","status":"ok","worker":0.5}`, `parse result: "worker" is the number 0.5, want an integer or null`},
		{`{"id":"a","status":"ok","error":false}`, `parse result: "error" is a JSON boolean, want a string`},
	}
	for _, tt := range bad {
		if _, err := taskproto.ParseResult([]byte(tt.line)); err == nil || err.Error() != tt.want {
			t.Errorf("ParseResult(%q) error\n got %v\nwant %s", tt.line, err, tt.want)
		}
	}
}
