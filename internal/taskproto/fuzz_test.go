package taskproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/otel-qrun/otel-qrun/propagate"
)

const fuzzTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// checkOneLine fails when line is not one valid JSON object in valid UTF-8
// ending with its only '\n'.
func checkOneLine(t *testing.T, line []byte) {
	t.Helper()
	if bytes.IndexByte(line, '\n') != len(line)-1 || bytes.IndexByte(line, '\r') >= 0 {
		t.Fatalf("not one line: %q", line)
	}
	if !json.Valid(line) || !utf8.Valid(line) || trimSpace(line)[0] != '{' {
		t.Fatalf("not a JSON object in valid UTF-8: %q", line)
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte("hello"), 1)
	f.Add([]byte("42\r\n"), 2)
	f.Add([]byte(`{"id":"a","payload":{"x":[1,2]},"carrier":{"traceparent":"`+fuzzTraceparent+`"},"timeout":1.5}`), 3)
	f.Add([]byte(`{"id":7}`), 4)
	f.Add([]byte(`{"id":"a\u0000"}`), 4)
	f.Add([]byte(`{"\u0069d":"x","payload":"a\ud83d\ude00","timeout":1e-12}`), 5)
	f.Add([]byte("{\"payload\":[1,\r2],\"carrier\":null}"), 6)
	f.Add([]byte("{\"id\":\"\xff\",\"payload\":\"\xfe\"}"), 7)
	f.Add([]byte(`{"timeout":-0}`), 8)
	f.Add([]byte(`{"a" 1}`), 9)
	f.Add([]byte(" \t"), 10)
	f.Add([]byte("a\u2028b<&>\x00"), 11)
	f.Fuzz(func(t *testing.T, line []byte, lineNo int) {
		orig := bytes.Clone(line)
		task, err := ParseLine(line, lineNo)
		if !bytes.Equal(line, orig) {
			t.Fatal("ParseLine changed its input")
		}
		if err != nil {
			le, ok := errors.AsType[*LineError](err)
			if !ok || !errors.Is(err, ErrInvalidTask) {
				t.Fatalf("error %v (%T) is not a *LineError", err, err)
			}
			if le.Line != lineNo || le.ID == "" || le.Err == nil {
				t.Fatalf("LineError %+v", le)
			}
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name the line", err)
			}
			return
		}
		if task.ID == "" || strings.IndexByte(task.ID, 0) >= 0 || task.Line != lineNo || task.Timeout < 0 {
			t.Fatalf("bad task %+v", task)
		}
		if !json.Valid(task.Payload) || !utf8.Valid(task.Payload) || bytes.ContainsAny(task.Payload, "\r\n") {
			t.Fatalf("payload %q is not valid JSON on one line", task.Payload)
		}
		if task.Carrier != nil && len(task.Carrier) == 0 {
			t.Fatal("empty non-nil carrier")
		}

		// The worker line parses back to the same task.
		wt := WorkerTask{ID: task.ID, Payload: task.Payload, Carrier: task.Carrier, Attempt: 1}
		enc := AppendWorkerTask(nil, wt)
		checkOneLine(t, enc)
		back, err := ParseWorkerTask(enc)
		if err != nil {
			t.Fatalf("ParseWorkerTask(%s): %v", enc, err)
		}
		if back.ID != wt.ID || !bytes.Equal(back.Payload, wt.Payload) || !maps.Equal(back.Carrier, wt.Carrier) || back.Attempt != 1 {
			t.Fatalf("worker task round trip:\n got %+v\nwant %+v", back, wt)
		}
		// encoding/json reads it too.
		var std struct {
			ID      string          `json:"id"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(enc, &std); err != nil || std.ID != task.ID {
			t.Fatalf("encoding/json read %s as %+v, %v", enc, std, err)
		}

		// The task line AppendTask writes parses back to the same task.
		tl := AppendTask(nil, task)
		checkOneLine(t, tl)
		again, err := ParseLine(tl, lineNo)
		if err != nil {
			t.Fatalf("ParseLine(AppendTask(%+v)) = %v", task, err)
		}
		if again.ID != task.ID || !bytes.Equal(again.Payload, task.Payload) || !maps.Equal(again.Carrier, task.Carrier) ||
			again.Timeout != task.Timeout || again.Line != lineNo {
			t.Fatalf("task line round trip of %s:\n got %+v\nwant %+v", tl, again, task)
		}

		// A raw line's payload gives back its text.
		if l := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'}); utf8.Valid(l) {
			if i := skipSpace(l, 0); l[i] != '{' {
				if got := PayloadBytes(task.Payload); !bytes.Equal(got, l) {
					t.Fatalf("PayloadBytes = %q, want the line %q", got, l)
				}
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	f.Add("a\nb\r\n\n  \n{\"id\":\"x\"}\nlast", uint8(8))
	f.Add("0123456789abcdef0123456789\n{\"id\":\"y\",\"payload\":\"0123456789abcdef\"}\r\n", uint8(40))
	f.Add("\xEF\xBB\xBF{}\n{\n\r\n", uint8(3))
	f.Add("             \nx", uint8(2))
	f.Add("", uint8(0))
	f.Add("\n\n\n", uint8(1))
	f.Fuzz(func(t *testing.T, input string, maxLine uint8) {
		checkReader(t, input, int(maxLine%64)+1, 16)
	})
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte(`{"id":"a","ok":true}`))
	f.Add([]byte(`{"id":"a","ok":false,"error":"boom","result":{"n":[1, 2]}}` + "\n"))
	f.Add([]byte(`{"id":"a","ok":false,"error":{"type":"E"},"result":null}`))
	f.Add([]byte("{\"id\":\"\xff\",\"ok\":true,\"result\":[1,\r\n2]}"))
	f.Add([]byte(`{"id":1,"ok":true}`))
	f.Add([]byte(`{"id":"a","ok":"true"}`))
	f.Add([]byte(`{"id":"a","ok":true} x`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"ready":true}`))
	f.Add([]byte(`{"ready":1}`))
	f.Add([]byte(`{"id":"a","ok":true,"attempt":2}`))
	f.Add([]byte(`{"id":"a","ok":true,"attempt":-1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseReply(line)
		if err != nil {
			if !errors.Is(err, ErrInvalidReply) {
				t.Fatalf("error %v does not wrap ErrInvalidReply", err)
			}
			return
		}
		if r.Result != nil && (!json.Valid(r.Result) || bytes.ContainsAny(r.Result, "\r\n") || !utf8.Valid(r.Result)) {
			t.Fatalf("result %q is not valid JSON on one line", r.Result)
		}
		enc := AppendReply(nil, r)
		checkOneLine(t, enc)
		back, err := ParseReply(enc)
		if err != nil {
			t.Fatalf("ParseReply(%s): %v", enc, err)
		}
		if back.ID != r.ID || back.OK != r.OK || back.Error != r.Error || !bytes.Equal(back.Result, r.Result) ||
			back.Attempt != r.Attempt || back.Ready != r.Ready {
			t.Fatalf("reply round trip:\n got %+v\nwant %+v", back, r)
		}
	})
}

func FuzzResultRoundTrip(f *testing.F) {
	f.Add("mail-1", "ok", 1, int64(250000000), fuzzTraceparent[3:35], 0, "", []byte(`{"a":1}`))
	f.Add("3", "invalid", 0, int64(0), "", -1, "line 3 is blank", []byte(nil))
	f.Add("\xff<&>", "error", 3, int64(-1), "\u2028", 7, "x\ny", []byte("[1,\n2]"))
	f.Add("x", "ok", 1, int64(1), "", 1, "", []byte("not json"))
	f.Fuzz(func(t *testing.T, id, status string, attempts int, ns int64, traceID string, worker int, errText string, result []byte) {
		r := Result{
			ID: id, Status: Status(status), Attempts: attempts, Duration: time.Duration(ns),
			TraceID: traceID, Worker: worker, Error: errText, Result: result,
		}
		enc := AppendResult(nil, r)
		checkOneLine(t, enc)
		back, err := ParseResult(enc)
		if err != nil {
			t.Fatalf("ParseResult(%s): %v", enc, err)
		}
		if back.Attempts != r.Attempts || back.Duration != r.Duration || (back.Worker != r.Worker && (r.Worker >= 0 || back.Worker != -1)) {
			t.Fatalf("result round trip:\n got %+v\nwant %+v", back, r)
		}
		// Each string separately: invalid fragments can join into valid UTF-8.
		valid := utf8.ValidString(id) && utf8.ValidString(status) && utf8.ValidString(traceID) && utf8.ValidString(errText)
		if valid && (back.ID != r.ID || back.Status != r.Status || back.TraceID != r.TraceID || back.Error != r.Error) {
			t.Fatalf("result round trip:\n got %+v\nwant %+v", back, r)
		}
		// Parsing and encoding again is stable (after invalid UTF-8 became
		// U+FFFD).
		enc = AppendResult(nil, back)
		back, err = ParseResult(enc)
		if err != nil {
			t.Fatalf("ParseResult(%s): %v", enc, err)
		}
		if again := AppendResult(nil, back); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, again)
		}
	})
}

func FuzzParseCarrier(f *testing.F) {
	f.Add([]byte(`{"traceparent":"` + fuzzTraceparent + `","tracestate":"a=b"}`))
	f.Add([]byte(`{"a":"1","a":"2","A":"3","\u0062":"x\ty"}`))
	f.Add([]byte(`{"a":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`"x"`))
	f.Add([]byte("{\"\xff\":\"\xfe\"}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		want, wantErr := propagate.ParseMapCarrier(raw)
		got, err := parseCarrier(trimSpace(validUTF8(raw)))
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("parseCarrier error %v, ParseMapCarrier error %v", err, wantErr)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("parseCarrier = %q, ParseMapCarrier = %q", got, want)
		}
	})
}

// FuzzAppendTask encodes tasks built from any id, payload bytes, carrier
// value and timeout, and checks that ParseLine reads the line back.
func FuzzAppendTask(f *testing.F) {
	f.Add("mail-7", []byte(`{"to":"a@b"}`), fuzzTraceparent, int64(30e9))
	f.Add("", []byte("hello"), "", int64(0))
	f.Add("a\x00b", []byte("\xff{"), "k=\xfe", int64(-1))
	f.Add("<&>\u2028", []byte("[1,\n2]"), "v", int64(1))
	f.Fuzz(func(t *testing.T, id string, raw []byte, carrierValue string, timeout int64) {
		payload := PayloadFromBytes(raw)
		if !json.Valid(payload) || !utf8.Valid(payload) || bytes.ContainsAny(payload, "\r\n") {
			t.Fatalf("PayloadFromBytes(%q) = %q: not valid JSON on one line", raw, payload)
		}
		task := Task{ID: id, Payload: payload, Timeout: time.Duration(timeout)}
		if carrierValue != "" {
			task.Carrier = propagate.MapCarrier{"traceparent": carrierValue}
		}
		line := AppendTask(nil, task)
		checkOneLine(t, line)
		back, err := ParseLine(line, 9)
		if id == "" || strings.IndexByte(id, 0) >= 0 || !utf8.ValidString(id) || !utf8.ValidString(carrierValue) {
			return // generated, rejected or replaced: not a round trip
		}
		if err != nil {
			if errors.Is(err, ErrInvalidTask) && task.Carrier != nil {
				return // a carrier value propagate rejects
			}
			t.Fatalf("ParseLine(%s): %v", line, err)
		}
		want := task
		if want.Timeout < 0 {
			want.Timeout = 0
		}
		if back.ID != want.ID || !bytes.Equal(back.Payload, want.Payload) || !maps.Equal(back.Carrier, want.Carrier) || back.Timeout != want.Timeout {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", line, back, want)
		}
	})
}
