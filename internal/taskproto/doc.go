// Package taskproto holds the line formats of task mode (section 6 of the
// design): the task lines the launcher reads, the lines it writes to a
// persistent worker's stdin, the replies a worker writes on QRUN_RESULT_FD,
// and the result stream. The launcher uses all four; a Go worker uses
// ParseWorkerTask and AppendReply; a producer (otel-qrun enqueue) writes
// task lines with AppendTask and PayloadFromBytes. Every encoder here has
// its parser, and the package is the only place that encodes or decodes
// these lines. LineReader implements the max_line bound once, for task
// input (Reader) and for the reply streams of workers.
//
// The package is pure: no goroutines and no I/O beyond the reader it is
// given. Encoders append to a caller's buffer (strconv style) so that a
// caller can reuse one buffer per stream; every line they write is one valid
// JSON object followed by '\n', in valid UTF-8, with no HTML escaping ('<',
// '>' and '&' stay as they are). Each parser accepts what its encoder writes
// and gives back the same value.
//
// # Task lines
//
// Each input line is one task. A line whose first byte that is not JSON
// whitespace is '{' must be a JSON object:
//
//	{"id":"mail-7","payload":{"to":"a@b"},"carrier":{"traceparent":"00-…-01"},"timeout":30}
//
// Any other line is a task whose payload is the line itself as a JSON
// string, and whose id is its line number, so `seq 100 | otel-qrun --tasks -
// …` runs tasks "1" to "100" with payloads "1" to "100". See ParseLine for
// every rule. Decisions where the design is silent:
//
//   - Ids are strings. A number id ({"id":7}) is an invalid line, not the
//     id "7": the result stream writes ids as strings, and reading 7, 7.0
//     and 7e0 as three different ids, or 7 and "7" as one, would hide the
//     mistake from the producer. The error says "want a string". An id with
//     a NUL character is invalid too, since per_task passes the id in the
//     environment. An absent, null or empty id is generated: the decimal
//     line number, which is unique within one input.
//   - Input that is not valid UTF-8 is not rejected: each byte that is not
//     part of valid UTF-8 becomes U+FFFD, in raw lines (as json.Marshal
//     does) and in the strings of task objects alike, so that what reaches
//     a worker is always valid UTF-8 JSON.
//   - Blank lines (only spaces, tabs and CRs) are skipped by Reader and
//     get no result; they still count for line numbers, so the generated
//     ids of later lines stay their line numbers. A line longer than
//     max_line is invalid whatever it holds.
//   - CRLF input is read as LF input, and a UTF-8 byte order mark at the
//     start of the input is dropped.
//
// A line that is not a task gives a *LineError, which matches
// ErrInvalidTask; the launcher writes its "invalid" result with the error
// text.
//
// # Worker lines and replies
//
// A persistent worker gets one WorkerTask line per attempt on stdin, and
// answers with one Reply line on QRUN_RESULT_FD:
//
//	{"id":"mail-7","payload":{"to":"a@b"},"carrier":{"traceparent":"00-…-01"},"attempt":1}
//	{"id":"mail-7","ok":true,"result":{"queued":true}}
//
// A reply must have a string "id" and a boolean "ok". Its "error" is
// normally a string; any other JSON there (a worker that sends
// {"type":"ValueError","msg":"…"}) is kept as its JSON text rather than
// turning a reported failure into an invalid reply. Every ParseReply error
// wraps ErrInvalidReply.
//
// # Results
//
// For every task read, the launcher writes one Result line:
//
//	{"id":"mail-7","status":"ok","attempts":1,"duration_s":0.25,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","worker":0,"result":{"queued":true}}
//
// A per_task worker gets PayloadBytes of the payload on stdin.
package taskproto
