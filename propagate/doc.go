// Package propagate holds the trace-context carriers otel-qrun hands to
// workers: an environment slice for a process, a JSON object for a task line,
// and the shell snippet that otel-cli reads and writes with --tp-carrier.
//
// Every carrier is a copy: injecting into an environment returns a new slice
// and never touches the process environment (there is no os.Setenv here),
// and a carrier never aliases the slice or map it was built from. The
// package does no I/O beyond the readers and writers passed to it; to extract
// from the process environment, pass os.Environ().
//
// Environment variable names follow the OpenTelemetry environment-carrier
// rules (the same rules as go.opentelemetry.io/contrib/propagators/envcar):
// a propagator field is upper-cased, every character outside [A-Z0-9_]
// becomes '_', and a leading digit gets a '_' prefix, so "traceparent" is
// TRACEPARENT and "x-b3-traceid" is X_B3_TRACEID. Only variables whose names
// are already in that form are read: a variable literally named
// "traceparent" is a different variable and is neither read nor removed.
//
// The shell carrier is the file format of otel-cli's --tp-carrier (and the
// output of its --tp-print and --tp-export flags): two comment lines with the
// trace and span ids, then one assignment per variable:
//
//	# trace id: 0af7651916cd43dd8448eb211c80319c
//	#  span id: b7ad6b7169203331
//	export TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
//
// otel-cli reads such a file by taking the first non-comment line that
// contains "TRACEPARENT" and trimming "export " and "TRACEPARENT=" from it,
// so FormatShell always writes TRACEPARENT first and unquoted (a traceparent
// never needs quotes). The output is also a shell snippet safe for `source`
// and `eval`; the other variables (TRACESTATE, BAGGAGE, ...) are single-quoted
// when needed. ParseShell reads that format, with or without "export".
//
// Extraction reports ErrInvalidCarrier when the carrier has a trace field
// (TRACEPARENT, B3, X_B3_TRACEID, ...) that yields no valid span context. The
// returned context is still usable: it has whatever was valid (baggage, for
// instance), so the caller starts a new trace and warns.
package propagate
