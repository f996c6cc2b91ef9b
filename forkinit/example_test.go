package forkinit_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"go.opentelemetry.io/otel"

	"github.com/otel-qrun/otel-qrun/forkinit"
)

func ExampleInit() {
	// otel-qrun sets TRACEPARENT (and the OTEL_* of the user) for each worker;
	// fixed values stand in for them here.
	for k, v := range map[string]string{
		"TRACEPARENT":           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"OTEL_TRACES_EXPORTER":  "none",
		"OTEL_METRICS_EXPORTER": "none",
	} {
		os.Setenv(k, v)
		defer os.Unsetenv(k)
	}

	ctx, shutdown, err := forkinit.Init(context.Background(), forkinit.WithServiceName("emails"))
	if err != nil {
		log.Fatal(err)
	}
	defer shutdown(context.Background())

	_, span := otel.Tracer("worker").Start(ctx, "send email")
	defer span.End()
	fmt.Println("trace:", span.SpanContext().TraceID())
	// Output: trace: 4bf92f3577b34da6a3ce929d0e0e4736
}
