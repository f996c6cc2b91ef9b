// Command goworker is an example Go worker for otel-qrun: it initializes its
// own SDK with forkinit, so its spans continue the launcher's trace and carry
// its own service.instance.id.
//
//	OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=none \
//	  go run . --workers 2 -- go run ./examples/goworker
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/otel-qrun/otel-qrun/forkinit"
	"github.com/otel-qrun/otel-qrun/qrun"
)

func main() {
	ctx, shutdown, err := forkinit.Init(context.Background(), forkinit.WithServiceName("goworker"))
	if err != nil {
		log.Fatal(err)
	}
	// Flush before exiting: this is the step a forked worker never reaches.
	defer shutdown(context.Background())

	index := os.Getenv(qrun.EnvWorkerIndex)
	ctx, span := otel.Tracer("goworker").Start(ctx, "work")
	span.SetAttributes(attribute.String("qrun.worker.index", index))
	defer span.End()

	time.Sleep(10 * time.Millisecond) // the work
	fmt.Printf("worker %s did its work in trace %s\n", index, span.SpanContext().TraceID())
	_ = ctx
}
