package taskproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/jsonkind"
)

// Status is how a task ended, the "status" of its result line.
type Status string

// The statuses of section 6 of the design.
const (
	// StatusOK: the task succeeded.
	StatusOK Status = "ok"
	// StatusError: the last attempt failed (the worker said so, or a
	// per_task process exited non-zero).
	StatusError Status = "error"
	// StatusTimeout: the last attempt ran longer than its timeout.
	StatusTimeout Status = "timeout"
	// StatusLost: the worker died during the last attempt.
	StatusLost Status = "lost"
	// StatusInvalid: the line is not a task (a *LineError); it never ran.
	StatusInvalid Status = "invalid"
	// StatusCancelled: a stop was requested before the task started.
	StatusCancelled Status = "cancelled"
)

// Result is one line of the result stream: how one task read from the input
// ended.
type Result struct {
	// ID is the task's id ("id").
	ID string
	// Status is how the task ended ("status").
	Status Status
	// Attempts is the number of attempts made ("attempts").
	Attempts int
	// Duration is the time the task took ("duration_s", in seconds).
	Duration time.Duration
	// TraceID is the trace id of the task's spans ("trace_id"); omitted when
	// empty.
	TraceID string
	// Worker is the index of the worker that ran the last attempt
	// ("worker"); a negative value (use -1) means the task never ran and is
	// written as null.
	Worker int
	// Error says why the task failed ("error"); omitted when empty.
	Error string
	// Result is what the worker returned ("result"); omitted when empty.
	Result json.RawMessage
}

// AppendResult appends r to dst as one JSON line ending in '\n', with the
// members in the order id, status, attempts, duration_s, trace_id, worker,
// error, result:
//
//	{"id":"7","status":"ok","attempts":1,"duration_s":0.25,"trace_id":"4bf9…","worker":0,"result":{"sent":true}}
//
// duration_s is the exact decimal number of seconds (at most nine fractional
// digits, no exponent). Strings are escaped as JSON requires, without HTML
// escaping. Result is written as AppendWorkerTask writes a payload.
func AppendResult(dst []byte, r Result) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, string(r.Status))
	dst = append(dst, `,"attempts":`...)
	dst = appendInt(dst, r.Attempts)
	dst = append(dst, `,"duration_s":`...)
	dst = appendSeconds(dst, r.Duration)
	if r.TraceID != "" {
		dst = append(dst, `,"trace_id":`...)
		dst = appendString(dst, r.TraceID)
	}
	dst = append(dst, `,"worker":`...)
	if r.Worker < 0 {
		dst = append(dst, "null"...)
	} else {
		dst = appendInt(dst, r.Worker)
	}
	if r.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, r.Error)
	}
	if len(r.Result) > 0 {
		dst = append(dst, `,"result":`...)
		dst = appendRaw(dst, r.Result)
	}
	return append(dst, '}', '\n')
}

// ParseResult parses one line of the result stream. "id" and "status" are
// required strings (any status is accepted); "attempts" is an integer and
// "duration_s" a number of seconds (absent gives 0); "trace_id" and "error"
// are strings (absent or null gives ""); "worker" is an integer, and null or
// absent gives -1; "result" is any JSON. Other members are ignored. A line
// written by AppendResult parses back to the same Result (with Worker -1 for
// any negative Worker).
func ParseResult(line []byte) (Result, error) {
	obj, err := parseObject(line)
	if err != nil {
		return Result{}, fmt.Errorf("parse result: %w", err)
	}
	var id, status, attempts, duration, traceID, worker, errVal, result []byte
	pick(obj, field{"id", &id}, field{"status", &status}, field{"attempts", &attempts},
		field{"duration_s", &duration}, field{"trace_id", &traceID}, field{"worker", &worker},
		field{"error", &errVal}, field{"result", &result})
	r := Result{Worker: -1}
	var ok bool
	if id == nil {
		return Result{}, errors.New(`parse result: no "id"`)
	}
	if r.ID, ok = decodeString(id); !ok {
		return Result{}, fmt.Errorf(`parse result: "id" is a JSON %s, want a string`, jsonkind.Of(id))
	}
	if status == nil {
		return Result{}, errors.New(`parse result: no "status"`)
	}
	s, ok := decodeString(status)
	if !ok {
		return Result{}, fmt.Errorf(`parse result: "status" is a JSON %s, want a string`, jsonkind.Of(status))
	}
	r.Status = Status(s)
	if attempts != nil {
		if r.Attempts, ok = decodeInt(attempts); !ok {
			return Result{}, fmt.Errorf(`parse result: "attempts" is %s, want an integer`, describe(attempts))
		}
	}
	if duration != nil {
		if r.Duration, ok = parseSeconds(duration); !ok {
			return Result{}, fmt.Errorf(`parse result: "duration_s" is %s, want a number of seconds`, describe(duration))
		}
	}
	if r.TraceID, err = optionalString("trace_id", traceID); err != nil {
		return Result{}, err
	}
	if worker != nil && worker[0] != 'n' {
		if r.Worker, ok = decodeInt(worker); !ok {
			return Result{}, fmt.Errorf(`parse result: "worker" is %s, want an integer or null`, describe(worker))
		}
	}
	if r.Error, err = optionalString("error", errVal); err != nil {
		return Result{}, err
	}
	if result != nil {
		r.Result = normRaw(result)
	}
	return r, nil
}

// optionalString decodes the member name of a result line: absent or null
// gives "", a string its value, anything else an error.
func optionalString(name string, v []byte) (string, error) {
	if v == nil || v[0] == 'n' {
		return "", nil
	}
	s, ok := decodeString(v)
	if !ok {
		return "", fmt.Errorf("parse result: %q is a JSON %s, want a string", name, jsonkind.Of(v))
	}
	return s, nil
}
