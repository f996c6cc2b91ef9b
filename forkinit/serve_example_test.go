package forkinit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/forkinit"
)

func ExampleServe() {
	// otel-qrun writes one task line per task to a persistent worker's
	// stdin, with the context of its CONSUMER span in "carrier", and reads
	// one reply line per task from the descriptor in QRUN_RESULT_FD. An
	// in-memory input and reply buffer stand in for them here; a real
	// worker calls forkinit.Serve(ctx, handle) with no options.
	tasks := strings.NewReader(`{"id":"t1","payload":{"to":"a@b"},"carrier":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"attempt":1}
{"id":"t2","payload":{"to":""},"carrier":{},"attempt":1}
`)
	var replies bytes.Buffer

	handle := func(ctx context.Context, t forkinit.Task) (any, error) {
		var p struct {
			To string `json:"to"`
		}
		if err := json.Unmarshal(t.Payload, &p); err != nil {
			return nil, err
		}
		if p.To == "" {
			return nil, errors.New("no recipient")
		}
		// Spans started from ctx are children of the launcher's span.
		fmt.Println("send", t.ID, "in trace", trace.SpanContextFromContext(ctx).TraceID())
		return map[string]string{"sent": p.To}, nil
	}
	err := forkinit.Serve(context.Background(), handle,
		forkinit.WithInput(tasks),
		forkinit.WithReplies(&replies),
		// forkinit.Init installs the propagator of OTEL_PROPAGATORS, which
		// Serve uses by default.
		forkinit.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(replies.String())
	// Output:
	// send t1 in trace 4bf92f3577b34da6a3ce929d0e0e4736
	// {"ready":true}
	// {"id":"t1","ok":true,"result":{"sent":"a@b"},"attempt":1}
	// {"id":"t2","ok":false,"error":"no recipient","attempt":1}
}
