// Command goworker-tasks is an example persistent task worker for otel-qrun
// in Go: forkinit.Init sets up its own SDK from the environment, and
// forkinit.Serve reads the task lines on stdin, runs each task in a context
// that continues the launcher's CONSUMER span, and replies on
// QRUN_RESULT_FD. Run two of them over three tasks (from the repository
// root):
//
//	go build -o /tmp/goworker-tasks ./examples/goworker-tasks
//	printf '%s\n' '{"payload":{"to":"a@b"}}' '{"payload":{"fail":true}}' hello |
//	  OTEL_TRACES_EXPORTER=console OTEL_METRICS_EXPORTER=none \
//	  go run . --tasks - --workers 2 -- /tmp/goworker-tasks
//
// A payload {"fail": true} fails the task. Logs go to stderr; stdout is free
// for the worker's own output.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/otel-qrun/otel-qrun/forkinit"
	"github.com/otel-qrun/otel-qrun/qrun"
)

func main() { os.Exit(run()) }

// run returns the exit status, so that the deferred shutdown flushes the
// spans before the process exits.
func run() int {
	log.SetPrefix(fmt.Sprintf("goworker-tasks[%d]: ", os.Getpid()))
	log.SetFlags(0)

	// otel-qrun stops a worker by closing its stdin or, on a stop, with
	// SIGTERM (its stop_signal) to the worker's process group.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	ctx, shutdown, err := forkinit.Init(ctx, forkinit.WithServiceName("goworker-tasks"))
	if err != nil {
		log.Print(err)
		return 1
	}
	defer shutdown(context.Background())

	err = forkinit.Serve(ctx, handle)
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Print(err)
		return 1
	}
	return 0
}

// handle runs one task. ctx continues the task's carrier, so the span is a
// child of the launcher's span for this attempt.
func handle(ctx context.Context, t forkinit.Task) (any, error) {
	_, span := otel.Tracer("goworker-tasks").Start(ctx, "handle task")
	defer span.End()
	span.SetAttributes(attribute.String("messaging.message.id", t.ID), attribute.Int("qrun.task.attempt", t.Attempt))

	var p struct {
		Fail bool `json:"fail"`
	}
	_ = json.Unmarshal(t.Payload, &p) // a payload that is no object has no "fail"
	if p.Fail {
		err := errors.New("the payload asked to fail")
		span.SetStatus(codes.Error, err.Error())
		log.Printf("task %s (attempt %d) failed: %v", t.ID, t.Attempt, err)
		return nil, err
	}
	log.Printf("task %s (attempt %d) done in trace %s", t.ID, t.Attempt, span.SpanContext().TraceID())
	return map[string]any{"echo": t.Payload, "worker": os.Getenv(qrun.EnvWorkerIndex)}, nil
}
