package propagate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/propagate"
)

// exampleContext returns a context with a fixed, sampled span context.
func exampleContext() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
		SpanID:     trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
		TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

func ExampleInjectEnv() {
	p := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	inherited := []string{
		"PATH=/usr/bin",
		"TRACEPARENT=00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
		"TRACESTATE=stale=1",
		"HOME=/home/worker",
	}
	// The worker's environment: the stale context is gone, the new one is
	// appended, inherited is unchanged.
	for _, kv := range propagate.InjectEnv(exampleContext(), p, inherited) {
		fmt.Println(kv)
	}
	// Output:
	// PATH=/usr/bin
	// HOME=/home/worker
	// TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
}

func ExampleExtractEnv() {
	p := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	ctx, err := propagate.ExtractEnv(context.Background(), p, []string{
		"TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	})
	fmt.Println(trace.SpanContextFromContext(ctx).TraceID(), err)

	_, err = propagate.ExtractEnv(context.Background(), p, []string{"TRACEPARENT=garbage"})
	fmt.Println(err)
	// Output:
	// 0af7651916cd43dd8448eb211c80319c <nil>
	// invalid trace context carrier: TRACEPARENT="garbage": no valid span context
}

func ExampleInjectMap() {
	carrier := propagate.InjectMap(exampleContext(), propagation.TraceContext{})
	line, err := json.Marshal(map[string]any{"id": "t1", "payload": "hello", "carrier": carrier})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(line))
	// Output:
	// {"carrier":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},"id":"t1","payload":"hello"}
}

func ExampleParseShell() {
	// A file written by `otel-cli span --tp-carrier FILE --tp-export`.
	file := `# trace id: 0af7651916cd43dd8448eb211c80319c
#  span id: b7ad6b7169203331
export TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
export BAGGAGE='user=alice;note=x'
`
	vars, err := propagate.ParseShell(strings.NewReader(file))
	if err != nil {
		panic(err)
	}
	fmt.Println(vars["TRACEPARENT"])
	fmt.Println(vars["BAGGAGE"])

	_, err = propagate.ParseShell(strings.NewReader("TRACEPARENT=1\nTRACESTATE='open\n"))
	fmt.Println(err)
	// Output:
	// 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	// user=alice;note=x
	// parse shell carrier: line 2: unterminated single quote
}

func ExampleFormatShell() {
	fmt.Print(propagate.FormatShell(exampleContext(), propagation.TraceContext{}))
	// Output:
	// # trace id: 0af7651916cd43dd8448eb211c80319c
	// #  span id: b7ad6b7169203331
	// export TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
}
