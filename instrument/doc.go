// Package instrument decides and applies the zero-code bootstrap that starts
// a Python, Node.js or Java worker's own OpenTelemetry SDK, with no change
// to the worker's code.
//
// Each ecosystem has an official bootstrap driven by a wrapper command or by
// the environment:
//
//   - Python: the command runs through opentelemetry-instrument (package
//     opentelemetry-distro), found beside the command's interpreter, as in a
//     virtualenv's bin/, or on PATH. PYTHONPATH is left as it is:
//     opentelemetry-instrument puts its sitecustomize directory in front of
//     the user's entries itself.
//   - Node.js: --require @opentelemetry/auto-instrumentations-node/register
//     is appended to NODE_OPTIONS, once Node has shown that it resolves the
//     module from the workers' working directory. A small preload
//     ([NodePreload]) follows it: it lets a worker with no SIGTERM handler of
//     its own die of SIGTERM after flushing the SDK (the register's handler
//     would keep it alive), and in per-task processes it runs the main module
//     inside the trace context of TRACEPARENT, TRACESTATE and BAGGAGE.
//   - Java: -javaagent:PATH is appended to JAVA_TOOL_OPTIONS.
//
// Existing PYTHONPATH, NODE_OPTIONS and JAVA_TOOL_OPTIONS values are kept and
// appended to, never replaced, and a bootstrap that is already there (a
// command that already starts with opentelemetry-instrument, a NODE_OPTIONS
// that already requires the register, a JAVA_TOOL_OPTIONS that already loads
// that agent) is not added again, so no worker is instrumented twice.
//
// [Prepare] does the checks once, at start-up: it resolves auto, looks for
// the wrapper, runs node once to resolve the modules, checks the agent jar.
// Its [Plan] is then applied to every worker start with [Plan.Apply], which
// does no I/O: it maps the executable, argument vector and environment a
// worker would get to the ones it executes. The bootstrap is applied in the
// worker's own exec, so no SDK state is ever inherited across a fork.
//
// The package knows nothing of flags or configuration files.
package instrument
