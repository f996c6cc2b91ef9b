// Package instrument decides and applies the zero-code bootstrap that starts
// a Python, Node.js or Java worker's own OpenTelemetry SDK, with no change
// to the worker's code.
//
// Each ecosystem has an official bootstrap driven by a wrapper command or by
// the environment:
//
//   - Python: otel-qrun's own bootstrap ([PythonModule] is one of its
//     files), written to a private directory that goes first on PYTHONPATH.
//     Its sitecustomize runs the next sitecustomize on the path, then starts
//     the distro through opentelemetry-instrument's own initialize(); it
//     runs per-task processes in the context of TRACEPARENT, and makes forks
//     safe: the parent flushes before a fork, the child gets its own
//     service.instance.id (in its SDK and its OTEL_RESOURCE_ATTRIBUTES) and
//     fresh exporter connections, and every process flushes at os._exit and
//     SIGTERM, bounded by QRUN_SHUTDOWN_TIMEOUT. Prepare runs the workers'
//     interpreter once to check that it imports the distro.
//   - Node.js: --require @opentelemetry/auto-instrumentations-node/register
//     is appended to NODE_OPTIONS, once Node has shown that it resolves the
//     module from the workers' working directory. A small preload
//     ([NodePreload]) follows it: it lets a worker with no SIGTERM handler of
//     its own die of SIGTERM after flushing the SDK, bounded by
//     QRUN_SHUTDOWN_TIMEOUT (the register's handler
//     would keep it alive), gives each worker that Node's cluster module
//     forks its own service.instance.id and lets a stopping primary wait for
//     its workers' flush, and in per-task processes it runs the main module
//     inside the trace context of TRACEPARENT, TRACESTATE and BAGGAGE.
//   - Java: -javaagent:PATH is appended to JAVA_TOOL_OPTIONS.
//
// Existing PYTHONPATH, NODE_OPTIONS and JAVA_TOOL_OPTIONS values are kept and
// extended, never replaced, and a bootstrap that is already there (a
// command that already starts with opentelemetry-instrument, a PYTHONPATH
// that holds an outer otel-qrun's bootstrap, a NODE_OPTIONS
// that already requires the register, a JAVA_TOOL_OPTIONS that already loads
// that agent) is not added again, so no worker is instrumented twice.
//
// [Prepare] does the checks once, at start-up: it resolves auto, runs python
// once to import the distro, runs node once to resolve the modules, checks
// the agent jar.
// Its [Plan] is then applied to every worker start with [Plan.Apply], which
// does no I/O: it maps the executable, argument vector and environment a
// worker would get to the ones it executes. The bootstrap is applied in the
// worker's own exec; what a worker forks itself is handled by the Python
// bootstrap and the Node preload.
//
// The package knows nothing of flags or configuration files.
package instrument
