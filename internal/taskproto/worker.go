package taskproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/otel-qrun/otel-qrun/internal/jsonkind"
	"github.com/otel-qrun/otel-qrun/propagate"
)

// WorkerTask is the line the launcher writes to a persistent worker's stdin
// for one attempt of a task:
//
//	{"id":"7","payload":{"to":"a@b"},"carrier":{"traceparent":"00-…-01"},"attempt":1}
type WorkerTask struct {
	// ID is the task's id.
	ID string `json:"id"`
	// Payload is the task's payload; nil is written as null.
	Payload json.RawMessage `json:"payload"`
	// Carrier holds the context of the attempt's span; nil is written as {}.
	Carrier propagate.MapCarrier `json:"carrier"`
	// Attempt is the attempt number, from 1.
	Attempt int `json:"attempt"`
}

// AppendWorkerTask appends t to dst as one JSON line ending in '\n', with the
// members in the order id, payload, carrier, attempt and the carrier's keys
// sorted. Strings are escaped as JSON requires, without HTML escaping. The
// payload is written as is when it is valid JSON on one line in valid UTF-8
// (as every Payload from ParseLine is); a payload that holds a line break or
// invalid UTF-8 is compacted with U+FFFD for each bad byte, and one that is
// not valid JSON is written as a JSON string of its bytes, so the line is
// always valid JSON.
func AppendWorkerTask(dst []byte, t WorkerTask) []byte {
	dst = appendTaskMembers(dst, t.ID, t.Payload, t.Carrier)
	dst = append(dst, `,"attempt":`...)
	dst = appendInt(dst, t.Attempt)
	return append(dst, '}', '\n')
}

// appendTaskMembers appends the start of a task object that task lines and
// worker lines share: {"id":…,"payload":…,"carrier":…, without the closing
// brace.
func appendTaskMembers(dst []byte, id string, payload json.RawMessage, carrier propagate.MapCarrier) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"payload":`...)
	dst = appendRaw(dst, payload)
	dst = append(dst, `,"carrier":`...)
	return appendCarrier(dst, carrier)
}

// appendCarrier appends c as a JSON object of strings with sorted keys; nil
// gives {}.
func appendCarrier(dst []byte, c propagate.MapCarrier) []byte {
	var small [8]string
	keys := small[:0]
	if len(c) > len(small) {
		keys = make([]string, 0, len(c))
	}
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, c[k])
	}
	return append(dst, '}')
}

// ParseWorkerTask parses a line written by AppendWorkerTask; it is what a Go
// worker calls for each line of its stdin. The line must be a JSON object
// with a string "id"; "payload" is any JSON (absent gives null), "carrier" follows
// the rules of propagate.ParseMapCarrier (absent, null or {} gives nil), and
// "attempt" is an integer (absent gives 0). Other members are ignored. A
// trailing newline is allowed.
func ParseWorkerTask(line []byte) (WorkerTask, error) {
	obj, err := parseObject(line)
	if err != nil {
		return WorkerTask{}, fmt.Errorf("parse worker task: %w", err)
	}
	var t WorkerTask
	var idVal, payload, carrier, attempt []byte
	pick(obj, field{"id", &idVal}, field{"payload", &payload}, field{"carrier", &carrier}, field{"attempt", &attempt})
	if idVal == nil {
		return WorkerTask{}, errors.New(`parse worker task: no "id"`)
	}
	id, ok := decodeString(idVal)
	if !ok {
		return WorkerTask{}, fmt.Errorf(`parse worker task: "id" is a JSON %s, want a string`, jsonkind.Of(idVal))
	}
	t.ID = id
	if payload != nil {
		t.Payload = normRaw(payload)
	} else {
		t.Payload = json.RawMessage("null")
	}
	if carrier != nil {
		c, err := parseCarrier(carrier)
		if err != nil {
			return WorkerTask{}, fmt.Errorf(`parse worker task: "carrier": %w`, err)
		}
		if len(c) > 0 {
			t.Carrier = c
		}
	}
	if attempt != nil {
		n, ok := decodeInt(attempt)
		if !ok {
			return WorkerTask{}, fmt.Errorf(`parse worker task: "attempt" is %s, want an integer`, describe(attempt))
		}
		t.Attempt = n
	}
	return t, nil
}

// Reply is the line a persistent worker writes on QRUN_RESULT_FD when it has
// finished a task:
//
//	{"id":"7","ok":false,"error":"smtp: connection refused"}
type Reply struct {
	// ID is the id of the task the reply is for.
	ID string `json:"id"`
	// OK reports whether the task succeeded.
	OK bool `json:"ok"`
	// Error says why the task failed; "" when there is nothing to say.
	Error string `json:"error,omitempty"`
	// Result is any JSON the worker returns; nil when it returns nothing.
	Result json.RawMessage `json:"result,omitempty"`
	// Attempt echoes the attempt number of the task line; 0 when the
	// worker leaves it out. When given, the launcher credits the reply
	// only to that attempt.
	Attempt int `json:"attempt,omitempty"`
	// Ready marks the readiness line {"ready":true}: the worker has started
	// and takes tasks from now on. A readiness line has no id and no ok.
	Ready bool `json:"ready,omitempty"`
}

// ReadyLine is the line a persistent worker may write once on
// QRUN_RESULT_FD when its start-up is over, before its first reply. The
// launcher then starts the clock of the worker's tasks (timeout) from that
// moment, so start-up is never charged to a task.
const ReadyLine = `{"ready":true}` + "\n"

// ErrInvalidReply is wrapped by every error of ParseReply.
var ErrInvalidReply = errors.New("invalid reply")

// ParseReply parses one line a worker wrote on QRUN_RESULT_FD: a reply or
// the readiness line. A readiness line is an object with "ready":true and
// neither "id" nor "ok"; it gives a Reply with only Ready set. Otherwise the line must
// be a JSON object (surrounding whitespace and a trailing newline are
// allowed, anything else after the object is not) with a string "id" and a
// boolean "ok". "error" is optional: a string, null (no error) or, to keep
// what a worker meant, any other JSON, kept as its JSON text. "result" is any
// JSON, kept as is (so "result":null gives the JSON null) but compacted if it
// holds a line break. Other members are ignored; when a member appears twice
// the last one wins. Bytes that are not valid UTF-8 become U+FFFD. Every
// error wraps ErrInvalidReply and says what is wrong.
func ParseReply(line []byte) (Reply, error) {
	obj, err := parseObject(line)
	if err != nil {
		return Reply{}, fmt.Errorf("%w: %w", ErrInvalidReply, err)
	}
	var idVal, okVal, errVal, result, attempt, ready []byte
	pick(obj, field{"id", &idVal}, field{"ok", &okVal}, field{"error", &errVal}, field{"result", &result},
		field{"attempt", &attempt}, field{"ready", &ready})
	var r Reply
	if idVal == nil && okVal == nil && ready != nil {
		if string(ready) != "true" {
			return Reply{}, fmt.Errorf(`%w: "ready" is %s, want true`, ErrInvalidReply, describe(ready))
		}
		return Reply{Ready: true}, nil
	}
	if idVal == nil {
		return Reply{}, fmt.Errorf(`%w: no "id"`, ErrInvalidReply)
	}
	id, ok := decodeString(idVal)
	if !ok {
		return Reply{}, fmt.Errorf(`%w: "id" is a JSON %s, want a string`, ErrInvalidReply, jsonkind.Of(idVal))
	}
	r.ID = id
	switch string(okVal) {
	case "true":
		r.OK = true
	case "false":
	case "":
		return Reply{}, fmt.Errorf(`%w: no "ok"`, ErrInvalidReply)
	default:
		return Reply{}, fmt.Errorf(`%w: "ok" is a JSON %s, want a boolean`, ErrInvalidReply, jsonkind.Of(okVal))
	}
	if errVal != nil {
		if s, ok := decodeString(errVal); ok {
			r.Error = s
		} else if errVal[0] != 'n' {
			r.Error = string(normRaw(errVal))
		}
	}
	if result != nil {
		r.Result = normRaw(result)
	}
	if attempt != nil && string(attempt) != "null" {
		n, ok := decodeInt(attempt)
		if !ok || n < 0 {
			return Reply{}, fmt.Errorf(`%w: "attempt" is %s, want an integer >= 0`, ErrInvalidReply, describe(attempt))
		}
		r.Attempt = n
	}
	return r, nil
}

// AppendReply appends r to dst as one JSON line ending in '\n', with the
// members in the order id, ok, error (left out when empty), result (left out
// when empty; written as appendRaw writes a payload), attempt (left out when
// 0). A Reply with Ready set is written as ReadyLine.
func AppendReply(dst []byte, r Reply) []byte {
	if r.Ready {
		return append(dst, ReadyLine...)
	}
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	if r.OK {
		dst = append(dst, `,"ok":true`...)
	} else {
		dst = append(dst, `,"ok":false`...)
	}
	if r.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, r.Error)
	}
	if len(r.Result) > 0 {
		dst = append(dst, `,"result":`...)
		dst = appendRaw(dst, r.Result)
	}
	if r.Attempt != 0 {
		dst = append(dst, `,"attempt":`...)
		dst = appendInt(dst, r.Attempt)
	}
	return append(dst, '}', '\n')
}

// parseObject checks that line is one JSON object, surrounding whitespace
// allowed, and returns it without the whitespace and with each byte that is
// not valid UTF-8 replaced by U+FFFD.
func parseObject(line []byte) ([]byte, error) {
	if !json.Valid(line) {
		if len(trimSpace(line)) == 0 {
			return nil, errors.New("empty line, want a JSON object")
		}
		return nil, fmt.Errorf("not valid JSON: %w", syntaxError(line))
	}
	obj := trimSpace(validUTF8(line))
	if obj[0] != '{' {
		return nil, fmt.Errorf("got a JSON %s, want an object", jsonkind.Of(obj))
	}
	return obj, nil
}

// describe names the valid JSON value v for an error message: its kind, and
// its text when it is a number.
func describe(v []byte) string {
	if k := jsonkind.Of(v); k != "number" {
		return "a JSON " + k
	}
	return "the number " + string(v)
}
