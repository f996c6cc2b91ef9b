'use strict';
// otel-qrun per-task preload for Node.js (embedded in otel-qrun, written to a
// private temporary file while otel-qrun runs, and required through
// NODE_OPTIONS after @opentelemetry/auto-instrumentations-node/register).
//
// A per-task process runs exactly one task, and otel-qrun hands it the
// context of the task's CONSUMER span in TRACEPARENT, TRACESTATE and BAGGAGE.
// This preload extracts that context with the propagators the SDK registered
// (OTEL_PROPAGATORS) and runs the main module inside it, so every span of
// the task, including those of callbacks and promises it schedules, belongs
// to the task's trace. It is never used for long-lived workers: their spans
// would all pile into one process-long trace.
//
// Module.runMain is the hook Node.js keeps for preloads that wrap the
// execution of the entry point (CommonJS and ES modules alike); the context
// is extracted when the main module starts, after every preload has run and
// the SDK has registered its context manager and propagators.
(function otelQrunPreload() {
  const marker = Symbol.for('otel-qrun.preload');
  if (globalThis[marker]) {
    return; // a preload of an outer otel-qrun already wraps the main module
  }
  globalThis[marker] = true;

  const Module = require('module');
  const path = require('path');

  // The API is resolved the way otel-qrun checked it at start-up: from the
  // working directory, else from beside the register (pnpm does not hoist
  // peer dependencies). Every copy of @opentelemetry/api 1.x shares the
  // SDK's global context manager and propagator.
  let api;
  try {
    const fromCwd = Module.createRequire(path.join(process.cwd(), '[otel-qrun]'));
    try {
      api = fromCwd('@opentelemetry/api');
    } catch (err) {
      const register = fromCwd.resolve('@opentelemetry/auto-instrumentations-node/register');
      api = Module.createRequire(register)('@opentelemetry/api');
    }
  } catch (err) {
    process.emitWarning('otel-qrun: cannot load @opentelemetry/api (' + err.message +
      '); this task starts a new trace instead of continuing TRACEPARENT');
    return;
  }

  // The environment as a carrier, by the OpenTelemetry rules for
  // environment variables: the field traceparent is the variable TRACEPARENT.
  const envGetter = {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => carrier[String(key).toUpperCase().replace(/[^A-Z0-9_]/g, '_')],
  };

  const runMain = Module.runMain;
  Module.runMain = function otelQrunRunMain(...args) {
    Module.runMain = runMain;
    const parent = api.propagation.extract(api.ROOT_CONTEXT, Object.assign({}, process.env), envGetter);
    return api.context.with(parent, () => runMain.apply(this, args));
  };
})();
