package taskproto_test

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
)

func TestAppendWorkerTask(t *testing.T) {
	tests := []struct {
		name string
		task taskproto.WorkerTask
		want string
	}{
		{
			"full",
			taskproto.WorkerTask{
				ID:      "mail-1",
				Payload: json.RawMessage(`{"to":"a@b"}`),
				Carrier: propagate.MapCarrier{"traceparent": testTraceparent, "baggage": "k=v", "tracestate": "a=b"},
				Attempt: 2,
			},
			`{"id":"mail-1","payload":{"to":"a@b"},"carrier":{"baggage":"k=v","traceparent":"` + testTraceparent + `","tracestate":"a=b"},"attempt":2}` + "\n",
		},
		{"zero", taskproto.WorkerTask{}, `{"id":"","payload":null,"carrier":{},"attempt":0}` + "\n"},
		{
			"no HTML escaping",
			taskproto.WorkerTask{ID: "<&>", Payload: json.RawMessage(`"<b>&amp;</b>"`), Attempt: 1},
			`{"id":"<&>","payload":"<b>&amp;</b>","carrier":{},"attempt":1}` + "\n",
		},
		{
			"string escapes",
			taskproto.WorkerTask{ID: "a\"\\\n\t\x00\u2028\xff", Payload: json.RawMessage(`1`), Attempt: 1},
			`{"id":"a\"\\\n\t\u0000\u2028\ufffd","payload":1,"carrier":{},"attempt":1}` + "\n",
		},
		{
			"payload with line breaks is compacted",
			taskproto.WorkerTask{ID: "x", Payload: json.RawMessage("{\n  \"a\": [1,\r\n 2]\n}\n"), Attempt: 1},
			`{"id":"x","payload":{"a":[1,2]},"carrier":{},"attempt":1}` + "\n",
		},
		{
			"payload with invalid UTF-8",
			taskproto.WorkerTask{ID: "x", Payload: json.RawMessage("\"a\xffb\""), Attempt: 1},
			"{\"id\":\"x\",\"payload\":\"a\uFFFDb\",\"carrier\":{},\"attempt\":1}\n",
		},
		{
			"payload that is not JSON becomes a string",
			taskproto.WorkerTask{ID: "x", Payload: json.RawMessage("not json\n"), Attempt: 1},
			`{"id":"x","payload":"not json\n","carrier":{},"attempt":1}` + "\n",
		},
		{
			"many carrier keys",
			taskproto.WorkerTask{ID: "x", Carrier: propagate.MapCarrier{
				"j": "10", "i": "9", "h": "8", "g": "7", "f": "6", "e": "5", "d": "4", "c": "3", "b": "2", "a": "1",
			}},
			`{"id":"x","payload":null,"carrier":{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10"},"attempt":0}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := taskproto.AppendWorkerTask([]byte("prefix "), tt.task)
			if string(got) != "prefix "+tt.want {
				t.Errorf("AppendWorkerTask\n got %s\nwant prefix %s", got, tt.want)
			}
			line := got[len("prefix "):]
			if !json.Valid(line) || strings.Count(string(line), "\n") != 1 {
				t.Errorf("not one valid JSON line: %q", line)
			}
			// encoding/json reads it the same way.
			var std struct {
				ID      string            `json:"id"`
				Carrier map[string]string `json:"carrier"`
				Attempt int               `json:"attempt"`
			}
			if err := json.Unmarshal(line, &std); err != nil {
				t.Fatal(err)
			}
			parsed, err := taskproto.ParseWorkerTask(line)
			if err != nil {
				t.Fatalf("ParseWorkerTask(%s): %v", line, err)
			}
			if parsed.ID != std.ID || parsed.Attempt != std.Attempt || !maps.Equal(parsed.Carrier, propagate.MapCarrier(std.Carrier)) {
				t.Errorf("ParseWorkerTask = %+v, encoding/json = %+v", parsed, std)
			}
		})
	}
}

func TestWorkerTaskRoundTrip(t *testing.T) {
	tasks := []taskproto.WorkerTask{
		{ID: "1", Payload: json.RawMessage(`"1"`), Attempt: 1},
		{ID: "a b", Payload: json.RawMessage(`{"k":[1,{"x":null}],"s":"<&>"}`), Carrier: propagate.MapCarrier{"traceparent": testTraceparent}, Attempt: 3},
		{ID: "é\u2028\"", Payload: json.RawMessage(`[1, 2, 3]`), Carrier: propagate.MapCarrier{"Traceparent": "x", "traceparent": "y"}, Attempt: -1},
		{ID: "x", Payload: json.RawMessage(`null`)},
	}
	for _, want := range tasks {
		line := taskproto.AppendWorkerTask(nil, want)
		got, err := taskproto.ParseWorkerTask(line)
		if err != nil {
			t.Fatalf("ParseWorkerTask(%s): %v", line, err)
		}
		if got.ID != want.ID || string(got.Payload) != string(want.Payload) || !maps.Equal(got.Carrier, want.Carrier) || got.Attempt != want.Attempt {
			t.Errorf("round trip of %+v gave %+v", want, got)
		}
	}
}

func TestParseWorkerTask(t *testing.T) {
	got, err := taskproto.ParseWorkerTask([]byte(" {\"id\":\"a\",\"extra\":1,\"carrier\":null} \r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "a" || string(got.Payload) != "null" || got.Carrier != nil || got.Attempt != 0 {
		t.Errorf("got %+v", got)
	}

	bad := []struct{ line, want string }{
		{"", "parse worker task: empty line, want a JSON object"},
		{"x", "parse worker task: not valid JSON: invalid character 'x' looking for beginning of value at byte offset 1"},
		{`"s"`, "parse worker task: got a JSON string, want an object"},
		{`{}`, `parse worker task: no "id"`},
		{`{"id":1}`, `parse worker task: "id" is a JSON number, want a string`},
		{`{"id":"a","attempt":"1"}`, `parse worker task: "attempt" is a JSON string, want an integer`},
		{`{"id":"a","attempt":1.5}`, `parse worker task: "attempt" is the number 1.5, want an integer`},
		{`{"id":"a","attempt":99999999999999999999}`, `parse worker task: "attempt" is the number 99999999999999999999, want an integer`},
		{`{"id":"a","carrier":{"x":1}}`, `parse worker task: "carrier": parse carrier: value of key "x" is a JSON number, want a string`},
	}
	for _, tt := range bad {
		if _, err := taskproto.ParseWorkerTask([]byte(tt.line)); err == nil || err.Error() != tt.want {
			t.Errorf("ParseWorkerTask(%q) error\n got %v\nwant %s", tt.line, err, tt.want)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name string
		line string
		want taskproto.Reply
	}{
		{"ok", `{"id":"a","ok":true}`, taskproto.Reply{ID: "a", OK: true}},
		{"failed", `{"id":"a","ok":false,"error":"boom <&>"}`, taskproto.Reply{ID: "a", Error: "boom <&>"}},
		{"result", `{"id":"a","ok":true,"result":{"n": [1, 2]}}`, taskproto.Reply{ID: "a", OK: true, Result: json.RawMessage(`{"n": [1, 2]}`)}},
		{"result null kept", `{"id":"a","ok":true,"result":null}`, taskproto.Reply{ID: "a", OK: true, Result: json.RawMessage(`null`)}},
		{"whitespace and newline", " {\"id\" : \"a\" , \"ok\" : true }\r\n", taskproto.Reply{ID: "a", OK: true}},
		{"error null", `{"id":"a","ok":false,"error":null}`, taskproto.Reply{ID: "a"}},
		{"error object kept as JSON", `{"id":"a","ok":false,"error":{"type":"ValueError","msg":"x"}}`, taskproto.Reply{ID: "a", Error: `{"type":"ValueError","msg":"x"}`}},
		{"error number kept as JSON", `{"id":"a","ok":false,"error":2}`, taskproto.Reply{ID: "a", Error: `2`}},
		{"empty id is a string", `{"id":"","ok":true}`, taskproto.Reply{OK: true}},
		{"unknown members ignored", `{"id":"a","ok":true,"extra":{"ok":false},"OK":false}`, taskproto.Reply{ID: "a", OK: true}},
		{"escapes", `{"id":"a\u00e9\n","ok":true,"error":"\"x\""}`, taskproto.Reply{ID: "aé\n", OK: true, Error: `"x"`}},
		{"invalid UTF-8", "{\"id\":\"a\xff\",\"ok\":true}", taskproto.Reply{ID: "a\uFFFD", OK: true}},
		{"attempt echoed", `{"id":"a","ok":true,"attempt":3}`, taskproto.Reply{ID: "a", OK: true, Attempt: 3}},
		{"attempt null", `{"id":"a","ok":true,"attempt":null}`, taskproto.Reply{ID: "a", OK: true}},
		{"readiness line", `{"ready":true}`, taskproto.Reply{Ready: true}},
		{"readiness line with extras", ` {"ready":true,"pid":7}` + "\n", taskproto.Reply{Ready: true}},
		{"ready member on a reply is ignored", `{"id":"a","ok":true,"ready":true}`, taskproto.Reply{ID: "a", OK: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := taskproto.ParseReply([]byte(tt.line))
			if err != nil {
				t.Fatalf("ParseReply(%q): %v", tt.line, err)
			}
			if got.ID != tt.want.ID || got.OK != tt.want.OK || got.Error != tt.want.Error || string(got.Result) != string(tt.want.Result) ||
				got.Attempt != tt.want.Attempt || got.Ready != tt.want.Ready {
				t.Errorf("ParseReply(%q)\n got %+v (result %s)\nwant %+v (result %s)", tt.line, got, got.Result, tt.want, tt.want.Result)
			}
		})
	}
}

func TestParseReplyErrors(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{"empty", "", "invalid reply: empty line, want a JSON object"},
		{"blank", " \n", "invalid reply: empty line, want a JSON object"},
		{"not JSON", "done", "invalid reply: not valid JSON: invalid character 'd' looking for beginning of value at byte offset 1"},
		{"truncated", `{"id":"a","ok":tr`, "invalid reply: not valid JSON: unexpected end of JSON input at byte offset 17"},
		{"array", `[{"id":"a","ok":true}]`, "invalid reply: got a JSON array, want an object"},
		{"string", `"ok"`, "invalid reply: got a JSON string, want an object"},
		{"null", `null`, "invalid reply: got a JSON null, want an object"},
		{"no id", `{"ok":true}`, `invalid reply: no "id"`},
		{"id number", `{"id":1,"ok":true}`, `invalid reply: "id" is a JSON number, want a string`},
		{"id null", `{"id":null,"ok":true}`, `invalid reply: "id" is a JSON null, want a string`},
		{"no ok", `{"id":"a"}`, `invalid reply: no "ok"`},
		{"ready false", `{"ready":false}`, `invalid reply: "ready" is a JSON boolean, want true`},
		{"ready string", `{"ready":"yes"}`, `invalid reply: "ready" is a JSON string, want true`},
		{"attempt string", `{"id":"a","ok":true,"attempt":"1"}`, `invalid reply: "attempt" is a JSON string, want an integer >= 0`},
		{"attempt negative", `{"id":"a","ok":true,"attempt":-1}`, `invalid reply: "attempt" is the number -1, want an integer >= 0`},
		{"ok string", `{"id":"a","ok":"true"}`, `invalid reply: "ok" is a JSON string, want a boolean`},
		{"ok number", `{"id":"a","ok":1}`, `invalid reply: "ok" is a JSON number, want a boolean`},
		{"ok null", `{"id":"a","ok":null}`, `invalid reply: "ok" is a JSON null, want a boolean`},
		{"trailing garbage", `{"id":"a","ok":true} x`, "invalid reply: not valid JSON: invalid character 'x' after top-level value at byte offset 22"},
		{"two objects", `{"id":"a","ok":true}{"id":"b","ok":true}`, "invalid reply: not valid JSON: invalid character '{' after top-level value at byte offset 21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := taskproto.ParseReply([]byte(tt.line))
			if err == nil {
				t.Fatalf("ParseReply(%q) = %+v, want an error", tt.line, got)
			}
			if !errors.Is(err, taskproto.ErrInvalidReply) {
				t.Errorf("error %v does not wrap ErrInvalidReply", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestAppendReply(t *testing.T) {
	tests := []struct {
		reply taskproto.Reply
		want  string
	}{
		{taskproto.Reply{ID: "a", OK: true}, `{"id":"a","ok":true}`},
		{taskproto.Reply{ID: "a", Error: "x <&> \"y\""}, `{"id":"a","ok":false,"error":"x <&> \"y\""}`},
		{taskproto.Reply{ID: "a", OK: true, Result: json.RawMessage(`{"n":1}`)}, `{"id":"a","ok":true,"result":{"n":1}}`},
		{taskproto.Reply{ID: "a", OK: true, Result: json.RawMessage("[1,\n2]")}, `{"id":"a","ok":true,"result":[1,2]}`},
		{taskproto.Reply{ID: "a", OK: true, Result: json.RawMessage("bad")}, `{"id":"a","ok":true,"result":"bad"}`},
	}
	for _, tt := range tests {
		got := taskproto.AppendReply(nil, tt.reply)
		if string(got) != tt.want+"\n" {
			t.Errorf("AppendReply(%+v)\n got %s\nwant %s", tt.reply, got, tt.want)
		}
		back, err := taskproto.ParseReply(got)
		if err != nil {
			t.Fatalf("ParseReply(%s): %v", got, err)
		}
		if back.ID != tt.reply.ID || back.OK != tt.reply.OK || back.Error != tt.reply.Error {
			t.Errorf("round trip of %+v gave %+v", tt.reply, back)
		}
		var std taskproto.Reply
		if err := json.Unmarshal(got, &std); err != nil || std.ID != back.ID || std.OK != back.OK || string(std.Result) != string(back.Result) {
			t.Errorf("encoding/json read %s as %+v, %v; ParseReply as %+v", got, std, err, back)
		}
	}
}
