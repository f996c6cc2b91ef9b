package taskproto_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"
)

func BenchmarkParseLine(b *testing.B) {
	line := []byte(`{"id":"mail-12345","payload":{"to":"user@example.com","subject":"Welcome","n":42},"carrier":{"traceparent":"` +
		testTraceparent + `","tracestate":"vendor=abc"},"timeout":30}`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := taskproto.ParseLine(line, 12345); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLineRaw(b *testing.B) {
	line := []byte("12345")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := taskproto.ParseLine(line, 12345); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendWorkerTask(b *testing.B) {
	t := taskproto.WorkerTask{
		ID:      "mail-12345",
		Payload: json.RawMessage(`{"to":"user@example.com","subject":"Welcome","n":42}`),
		Carrier: propagate.MapCarrier{"traceparent": testTraceparent, "tracestate": "vendor=abc"},
		Attempt: 1,
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = taskproto.AppendWorkerTask(buf[:0], t)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseReply(b *testing.B) {
	line := []byte(`{"id":"mail-12345","ok":true,"result":{"queued":true,"id":"<abc@example.com>"}}` + "\n")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := taskproto.ParseReply(line); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResult(b *testing.B) {
	r := taskproto.Result{
		ID: "mail-12345", Status: taskproto.StatusOK, Attempts: 1, Duration: 1234567 * time.Microsecond,
		TraceID: testTraceID, Worker: 3, Result: json.RawMessage(`{"queued":true,"id":"<abc@example.com>"}`),
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = taskproto.AppendResult(buf[:0], r)
	}
	b.SetBytes(int64(len(buf)))
}
