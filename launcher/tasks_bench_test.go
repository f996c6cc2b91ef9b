package launcher_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/propagate"

	"github.com/otel-qrun/otel-qrun/launcher"
)

// BenchmarkDispatch runs b.N tasks through 4 persistent workers with a
// span per task (batched to an in-memory exporter). The figure to read is
// ns/op: the time per task with four workers on this machine.
func BenchmarkDispatch(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewInMemoryExporter()))
	defer tp.Shutdown(context.Background())
	input := strings.Repeat("{\"payload\":1}\n", b.N)
	l, err := launcher.New([]string{osArgs0()}, launcher.WithWorkers(4),
		launcher.WithEnviron(helperEnviron("taskworker")), launcher.WithTasks(strings.NewReader(input), io.Discard),
		launcher.WithTracerProvider(tp), launcher.WithPropagator(propagation.TraceContext{}), launcher.WithQueueLimit(64))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if st, err := l.Run(context.Background(), nil); st != 0 || err != nil {
		b.Fatalf("Run = %d, %v", st, err)
	}
}

func osArgs0() string { return os.Args[0] }

// BenchmarkTaskHotPath is the launcher's own work for one task, without
// I/O: parse the line, start the CONSUMER span under the task's carrier,
// inject the worker's carrier, encode the worker line, end the span, encode
// the result.
func BenchmarkTaskHotPath(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("bench")
	prop := propagation.TraceContext{}
	line := []byte(`{"id":"t-1","payload":{"to":"a@b","n":3},"carrier":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}`)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		t, err := taskproto.ParseLine(line, 1)
		if err != nil {
			b.Fatal(err)
		}
		parent, _ := propagate.ExtractMap(context.Background(), prop, t.Carrier)
		ctx, span := tracer.Start(parent, "process default", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(parent)}),
			trace.WithAttributes(attribute.String("messaging.system", "otel_qrun"), attribute.String("messaging.message.id", t.ID)))
		buf = taskproto.AppendWorkerTask(buf[:0], taskproto.WorkerTask{ID: t.ID, Payload: t.Payload,
			Carrier: propagate.InjectMap(ctx, prop), Attempt: 1})
		span.End()
		buf = taskproto.AppendResult(buf[:0], taskproto.Result{ID: t.ID, Status: taskproto.StatusOK, Attempts: 1,
			TraceID: span.SpanContext().TraceID().String(), Worker: 0})
	}
}
