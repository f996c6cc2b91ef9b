package taskproto_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
)

func TestAppendTask(t *testing.T) {
	for _, tc := range []struct {
		name string
		task taskproto.Task
		want string
	}{
		{"full", taskproto.Task{ID: "mail-7", Payload: json.RawMessage(`{"to":"a@b"}`),
			Carrier: propagate.MapCarrier{"traceparent": testTraceparent, "baggage": "k=v"}, Timeout: 30 * time.Second},
			`{"id":"mail-7","payload":{"to":"a@b"},"carrier":{"baggage":"k=v","traceparent":"` + testTraceparent + `"},"timeout":30}` + "\n"},
		{"no carrier, no timeout", taskproto.Task{ID: "1", Payload: json.RawMessage(`"x"`)},
			`{"id":"1","payload":"x","carrier":{}}` + "\n"},
		{"nil payload", taskproto.Task{ID: "a"}, `{"id":"a","payload":null,"carrier":{}}` + "\n"},
		{"fractional timeout", taskproto.Task{ID: "a", Payload: json.RawMessage(`1`), Timeout: 1500 * time.Millisecond},
			`{"id":"a","payload":1,"carrier":{},"timeout":1.5}` + "\n"},
		{"negative timeout is none", taskproto.Task{ID: "a", Payload: json.RawMessage(`1`), Timeout: -time.Second},
			`{"id":"a","payload":1,"carrier":{}}` + "\n"},
		{"no HTML escaping", taskproto.Task{ID: "<&>", Payload: json.RawMessage(`"<&>"`)},
			`{"id":"<&>","payload":"<&>","carrier":{}}` + "\n"},
		{"invalid JSON payload becomes a string", taskproto.Task{ID: "a", Payload: json.RawMessage(`{not json`)},
			`{"id":"a","payload":"{not json","carrier":{}}` + "\n"},
		{"multi-line payload is compacted", taskproto.Task{ID: "a", Payload: json.RawMessage("[1,\n2]")},
			`{"id":"a","payload":[1,2],"carrier":{}}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(taskproto.AppendTask([]byte("prefix"), tc.task))
			if got != "prefix"+tc.want {
				t.Errorf("AppendTask:\n got %q\nwant %q", got, "prefix"+tc.want)
			}
		})
	}
}

func TestAppendTaskRoundTrip(t *testing.T) {
	for _, task := range []taskproto.Task{
		{ID: "mail-7", Payload: json.RawMessage(`{"to":"a@b"}`), Carrier: propagate.MapCarrier{"traceparent": testTraceparent}, Timeout: 30 * time.Second},
		{ID: "x", Payload: json.RawMessage(`"line\nbreak \u2028 é"`), Timeout: time.Nanosecond},
		{ID: "é \" \\ \t", Payload: json.RawMessage(`null`), Timeout: 90*time.Minute + 7},
		{ID: "42", Payload: json.RawMessage(`[1,{"a":[]}]`)},
	} {
		task.Line = 3
		line := taskproto.AppendTask(nil, task)
		back, err := taskproto.ParseLine(line, 3)
		if err != nil {
			t.Fatalf("ParseLine(%s): %v", line, err)
		}
		if !sameTask(back, task) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", line, back, task)
		}
	}
}

func TestPayloadFromBytes(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`{"to":"a@b"}`, `{"to":"a@b"}`},
		{"{ \"to\" :\n \"a@b\" }", `{"to":"a@b"}`},
		{` 42 `, `42`},
		{`[1, 2]`, `[1,2]`},
		{`"quoted"`, `"quoted"`},
		{`null`, `null`},
		{`hello`, `"hello"`},
		{``, `""`},
		{`  `, `"  "`},
		{`{"to":`, `"{\"to\":"`},
		{"a\tb\x00<&>", `"a\tb\u0000<&>"`},
		{"bad \xff byte", `"bad \ufffd byte"`},
		{"\"bad \xff in JSON\"", `"bad ` + "\uFFFD" + ` in JSON"`},
	} {
		raw := []byte(tc.raw)
		got := taskproto.PayloadFromBytes(raw)
		if string(got) != tc.want {
			t.Errorf("PayloadFromBytes(%q) = %s, want %s", tc.raw, got, tc.want)
		}
		if len(got) > 0 && len(raw) > 0 && &got[0] == &raw[0] {
			t.Errorf("PayloadFromBytes(%q) shares memory with its input", tc.raw)
		}
		// AppendTask writes it unchanged.
		line := taskproto.AppendTask(nil, taskproto.Task{ID: "a", Payload: got})
		if want := `{"id":"a","payload":` + string(got) + `,"carrier":{}}` + "\n"; string(line) != want {
			t.Errorf("AppendTask changed the payload: %s", line)
		}
	}
}
