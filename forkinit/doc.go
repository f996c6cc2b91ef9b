// Package forkinit is what a Go worker started by otel-qrun imports.
//
// [Init] initializes the worker's own OpenTelemetry SDK from the environment
// (OTEL_* through autoexport and autoprop, OTEL_SDK_DISABLED, console
// exporters on stderr, a bounded shutdown), exactly as the launcher does for
// itself, with the worker identity the launcher put into
// OTEL_RESOURCE_ATTRIBUTES (service.instance.id, qrun.worker.index). It
// returns a context that continues the carrier the launcher handed over
// (TRACEPARENT, TRACESTATE, BAGGAGE), so the worker's spans are children of
// the launcher's span for that worker.
//
// [Serve] is the loop of a persistent task mode worker: it reads task lines
// on stdin, runs a [Handler] in a context continuing each task's carrier
// (so the handler's spans are children of the launcher's CONSUMER span),
// and writes one reply per task on the descriptor in QRUN_RESULT_FD.
//
// The package does not depend on the otel-qrun command line.
package forkinit
