// Package otlptest runs OTLP receivers for end-to-end tests.
//
// A [Receiver] is a real OTLP server on 127.0.0.1 with a random port, speaking
// either gRPC ([NewGRPC]) or HTTP with protobuf bodies ([NewHTTP]). It records
// every span and metric it receives, converted to plain Go values ([Span],
// [Metric]) so that tests can assert on trace ids, parent span ids, resources
// and attributes. [Receiver.Env] gives the OTEL_* entries that point a child
// process at the receiver; [Receiver.WaitSpans] and [Receiver.WaitMetrics]
// block until what arrived satisfies a predicate.
//
// [Blackhole] and [Refused] give endpoints of broken collectors: one that
// accepts connections and never answers, and one where nothing listens.
//
// Everything is stopped by the test's Cleanup; the package is meant for tests
// only.
package otlptest
