// Package telemetry sets up an OpenTelemetry SDK from the environment, for the
// launcher itself (cmd) and for Go workers (forkinit).
//
// [Setup] leaves the reading of OTEL_* variables to the SDK and its contrib
// packages (the OTLP exporters, the batch span processor, the periodic
// reader, the sampler, resource.WithFromEnv, autoprop, autoexport) and adds
// only what they lack:
//
//   - OTEL_SDK_DISABLED=true: no SDK at all, no-op providers.
//   - OTEL_LOG_LEVEL: the level of the logger and of otel's internal logger.
//   - OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER as comma-separated
//     lists ("otlp,console"), where "console" writes to the error writer
//     (stderr), never to stdout, and unknown names are configuration errors
//     ([ErrConfig]).
//   - Fail-open export: exporters never block the caller, and export errors
//     are reported once per signal on the error writer instead of once per
//     batch.
//   - Bounded shutdown: [SDK.Shutdown] returns within the shutdown timeout
//     even when the collector hangs, and leaves no goroutine behind.
//
// Unless the SDK is disabled, Setup installs otel's global error handler and
// internal logger, which have no per-provider equivalent; the providers and
// the propagator become otel globals only with [WithGlobal].
package telemetry
