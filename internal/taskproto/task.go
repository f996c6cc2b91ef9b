package taskproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/jsonkind"
	"github.com/otel-qrun/otel-qrun/propagate"
)

// Task is one task read from the input.
type Task struct {
	// ID is the task's id: the line's "id" when it has a non-empty one, else
	// the decimal line number, so that the results of raw lines map back to
	// the input order. It is never empty and never holds a NUL character
	// (so it can go into QRUN_TASK_ID).
	ID string
	// Payload is always valid JSON in valid UTF-8 without a line break: the
	// object's "payload" (null when absent), or a JSON string holding a raw
	// line. It does not share memory with the input.
	Payload json.RawMessage
	// Carrier is the line's "carrier"; nil when the line has none, or an
	// empty or null one.
	Carrier propagate.MapCarrier
	// Timeout is the per-task timeout from the line's "timeout" (a number of
	// seconds >= 0); 0 means none.
	Timeout time.Duration
	// Line is the 1-based line number of the task in the input.
	Line int
}

// ErrInvalidTask is matched, through errors.Is, by every *LineError: a line
// that is not a task and gets the result "invalid".
var ErrInvalidTask = errors.New("invalid task")

// LineError describes a line of the input that is not a task. It matches
// ErrInvalidTask with errors.Is, and unwraps to the reason.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// ID is the line's "id" when it could be read, else the generated id
	// (the decimal line number). It is the id of the "invalid" result.
	ID string
	// Err says why the line is not a task. Its message is a phrase that
	// follows "line N", e.g. "is longer than max_line (1024 bytes)".
	Err error
}

// Error returns "line N " followed by the reason, e.g. "line 3 starts with {
// but is not valid JSON: ... at byte offset 7".
func (e *LineError) Error() string {
	if e.Err == nil {
		return "line " + strconv.Itoa(e.Line) + " is not a valid task"
	}
	return "line " + strconv.Itoa(e.Line) + " " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *LineError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidTask.
func (e *LineError) Is(target error) bool { return target == ErrInvalidTask }

// errBlank is the reason ParseLine gives for a blank line.
var errBlank = errors.New("is blank")

// ParseLine parses one input line, numbered lineNo (1-based), into a Task.
//
// One trailing "\n", then one trailing "\r", is removed first. A line whose
// first byte that is not JSON whitespace (space, tab, CR, LF) is '{' must be
// a valid JSON object:
//
//   - "id": a string; absent, null or "" gives the generated id (the decimal
//     line number). Any other kind (a number too) is an error, and so is an
//     id holding a NUL character.
//   - "payload": any JSON; absent gives null.
//   - "carrier": an object of string values, with the rules and errors of
//     propagate.ParseMapCarrier (keys kept as given); absent, null or {}
//     gives a nil Carrier.
//   - "timeout": a JSON number of seconds >= 0, rounded to the nanosecond
//     (a positive value below 1ns becomes 1ns); absent, null or 0 means none.
//   - Other members are ignored. Member names match exactly (case matters),
//     and when a name appears twice the last value wins.
//
// Strings with bytes that are not valid UTF-8 get U+FFFD for each such byte.
//
// Any other line that is not blank is a task whose payload is that line as a
// JSON string: the exact bytes (leading and trailing spaces kept), except
// that each byte that is not part of valid UTF-8 becomes U+FFFD, as with
// json.Marshal. Its id is the line number. So "[1,2]" or "42" is a string
// payload too: only objects are read as task objects.
//
// A line that is not a task gives a *LineError. A blank line (only JSON
// whitespace) is such an error ("is blank"); Reader skips blank lines
// without calling ParseLine.
func ParseLine(line []byte, lineNo int) (Task, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	i := skipSpace(line, 0)
	if i == len(line) {
		return Task{}, &LineError{Line: lineNo, ID: strconv.Itoa(lineNo), Err: errBlank}
	}
	if line[i] != '{' {
		payload := appendString(make([]byte, 0, len(line)+2), line)
		return Task{ID: strconv.Itoa(lineNo), Payload: payload, Line: lineNo}, nil
	}
	return parseObjectLine(line, lineNo)
}

// parseObjectLine is ParseLine for a line that starts with '{'.
func parseObjectLine(line []byte, lineNo int) (Task, error) {
	fail := func(id string, err error) (Task, error) {
		if id == "" {
			id = strconv.Itoa(lineNo)
		}
		return Task{}, &LineError{Line: lineNo, ID: id, Err: err}
	}
	if !json.Valid(line) {
		return fail("", fmt.Errorf("starts with { but is not valid JSON: %w", syntaxError(line)))
	}
	obj := trimSpace(validUTF8(line))

	var idVal, payload, carrier, timeout []byte
	pick(obj, field{"id", &idVal}, field{"payload", &payload}, field{"carrier", &carrier}, field{"timeout", &timeout})

	t := Task{Line: lineNo} // ID "" until the line's id is read
	if idVal != nil && idVal[0] != 'n' {
		id, ok := decodeString(idVal)
		switch {
		case !ok:
			return fail("", fmt.Errorf(`has an "id" that is a JSON %s, want a string`, jsonkind.Of(idVal)))
		case strings.IndexByte(id, 0) >= 0:
			return fail("", errors.New(`has an "id" with a NUL character`))
		case id != "":
			t.ID = id
		}
	}
	if timeout != nil && timeout[0] != 'n' {
		if jsonkind.Of(timeout) != "number" {
			return fail(t.ID, fmt.Errorf(`has a "timeout" that is a JSON %s, want a number of seconds`, jsonkind.Of(timeout)))
		}
		if isNegative(timeout) {
			return fail(t.ID, fmt.Errorf(`has a negative "timeout" (%s seconds)`, timeout))
		}
		d, ok := parseSeconds(timeout)
		if !ok {
			return fail(t.ID, fmt.Errorf(`has a "timeout" out of range (%s seconds)`, timeout))
		}
		if d == 0 && hasNonZeroMantissa(timeout) {
			d = time.Nanosecond
		}
		t.Timeout = d
	}
	if carrier != nil {
		c, err := parseCarrier(carrier)
		if err != nil {
			return fail(t.ID, fmt.Errorf(`has an invalid "carrier": %w`, err))
		}
		if len(c) > 0 {
			t.Carrier = c
		}
	}
	if payload != nil {
		t.Payload = normRaw(payload)
	} else {
		t.Payload = json.RawMessage("null")
	}
	if t.ID == "" {
		t.ID = strconv.Itoa(lineNo)
	}
	return t, nil
}

// PayloadBytes returns what a per_task worker gets on stdin for payload: a
// JSON string as its text (unescaped, no newline added), anything else as
// its JSON text without surrounding whitespace. A nil or empty payload is
// null, so it gives "null". The result may share memory with payload.
func PayloadBytes(payload json.RawMessage) []byte {
	p := trimSpace(payload)
	if len(p) == 0 {
		return []byte("null")
	}
	if p[0] != '"' || !json.Valid(p) {
		return p
	}
	inner := p[1 : len(p)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var s string
	if json.Unmarshal(p, &s) != nil {
		return p
	}
	return []byte(s)
}

// AppendTask appends t to dst as one task line ending in '\n', the form
// producers write (otel-qrun enqueue):
//
//	{"id":"mail-7","payload":{"to":"a@b"},"carrier":{"traceparent":"00-…-01"},"timeout":30}
//
// Members come in the order id, payload, carrier, timeout, with the
// carrier's keys sorted; a nil carrier is written as {}, and "timeout" (an
// exact decimal number of seconds) only when t.Timeout > 0. t.Line is not
// written. Strings are escaped as JSON requires, without HTML escaping. The
// payload follows the rules of AppendWorkerTask: nil or empty is null, a
// value that is not valid JSON becomes a JSON string of its bytes, and one
// holding a line break or invalid UTF-8 is compacted, so the line is always
// valid JSON.
//
// ParseLine reads the line back as t (with the line number it is given)
// whenever t.ID is not empty and holds no NUL character, t.Payload is what
// AppendTask writes as is (every Payload from ParseLine and
// PayloadFromBytes is), t.Carrier's values are non-empty, and t.Timeout is
// 0 or positive.
func AppendTask(dst []byte, t Task) []byte {
	dst = appendTaskMembers(dst, t.ID, t.Payload, t.Carrier)
	if t.Timeout > 0 {
		dst = append(dst, `,"timeout":`...)
		dst = appendSeconds(dst, t.Timeout)
	}
	return append(dst, '}', '\n')
}

// PayloadFromBytes returns the payload a producer means by the bytes raw:
// raw without insignificant whitespace (json.Compact) when it is valid JSON (so '{"to":"a@b"}' is an
// object and '42' a number), else a JSON string of raw's bytes (so 'hello',
// ” and '  ' are strings), each byte that is not part of valid UTF-8
// becoming U+FFFD. The result is valid JSON on one line that AppendTask
// writes unchanged; it does not share memory with raw. It is the converse
// of PayloadBytes for everything but JSON strings, which PayloadBytes
// unquotes.
func PayloadFromBytes(raw []byte) json.RawMessage {
	if json.Valid(raw) {
		var b bytes.Buffer
		b.Grow(len(raw))
		_ = json.Compact(&b, validUTF8(raw)) // raw is valid JSON: no error
		return b.Bytes()
	}
	return appendString(make([]byte, 0, len(raw)+2), raw)
}
