package launcher_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

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
