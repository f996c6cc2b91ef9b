'use strict';
// otel-qrun preload for Node.js (embedded in otel-qrun, written to a private
// temporary file while otel-qrun runs, and required through NODE_OPTIONS
// after @opentelemetry/auto-instrumentations-node/register). It does two
// things.
//
// SIGTERM. The register shuts the SDK down on SIGTERM, and a Node.js process
// with a SIGTERM handler no longer dies of SIGTERM: without this preload a
// worker under the register kept running after otel-qrun's stop signal until
// stop_grace ended in SIGKILL. When the application has no SIGTERM handler
// of its own, the preload restores what it expects: the SDK's spans and
// metrics are flushed (for at most QRUN_SHUTDOWN_TIMEOUT seconds, otel-qrun's
// shutdown_timeout; 3 when it is unset or not a number), then the process
// dies of SIGTERM. An application that handles SIGTERM itself is left alone.
//
// Per-task context. A per-task process (QRUN_TASK_ID is set) runs exactly
// one task, and otel-qrun hands it the context of the task's CONSUMER span in
// TRACEPARENT, TRACESTATE and BAGGAGE. The preload extracts that context with
// the propagators the SDK registered (OTEL_PROPAGATORS) and runs the main
// module inside it, so every span of the task, including those of callbacks
// and promises it schedules, belongs to the task's trace. Long-lived workers
// are not wrapped: their spans would all pile into one process-long trace.
//
// Cluster. The workers of Node's cluster module are forked with the
// primary's environment, so the register in each of them would report the
// primary's service.instance.id. The preload makes cluster.fork give each
// worker a service.instance.id of its own in OTEL_RESOURCE_ATTRIBUTES
// (qrun.worker.index and the rest are kept). A cluster worker exits as soon
// as its primary is gone (its IPC channel closes), which would cut its
// flush short: on SIGTERM a primary with no handler of its own flushes,
// then waits (at most QRUN_SHUTDOWN_TIMEOUT seconds more) for its workers
// to exit before it dies.
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
      '): a task does not continue TRACEPARENT, and SIGTERM waits for stop_grace');
    return;
  }

  // The environment as a carrier, by the OpenTelemetry rules for
  // environment variables: the field traceparent is the variable TRACEPARENT.
  const envGetter = {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => carrier[String(key).toUpperCase().replace(/[^A-Z0-9_]/g, '_')],
  };

  const cluster = require('cluster');
  const crypto = require('crypto');
  const isPrimary = cluster.isPrimary === undefined ? cluster.isMaster : cluster.isPrimary;
  if (isPrimary && typeof cluster.fork === 'function') {
    // OTEL_RESOURCE_ATTRIBUTES with service.instance.id replaced; keys are
    // compared percent-decoded, as the SDK reads them.
    const withInstanceId = (attrs, id) => {
      const kept = String(attrs || '').split(',').filter((item) => {
        if (!item.trim()) {
          return false;
        }
        let key = item.split('=')[0].trim();
        try {
          key = decodeURIComponent(key);
        } catch (err) {
          // kept as written
        }
        return key !== 'service.instance.id';
      });
      kept.push('service.instance.id=' + encodeURIComponent(id));
      return kept.join(',');
    };
    const fork = cluster.fork;
    cluster.fork = function otelQrunClusterFork(env) {
      const own = env && env.OTEL_RESOURCE_ATTRIBUTES !== undefined ? env.OTEL_RESOURCE_ATTRIBUTES : process.env.OTEL_RESOURCE_ATTRIBUTES;
      const workerEnv = Object.assign({}, env, { OTEL_RESOURCE_ATTRIBUTES: withInstanceId(own, crypto.randomUUID()) });
      return fork.call(this, workerEnv);
    };
  }
  // The bound of each step of the stop, in ms: QRUN_SHUTDOWN_TIMEOUT, the
  // launcher's shutdown_timeout in seconds (3 by default, as there).
  const shutdownMs = (() => {
    const s = Number(process.env.QRUN_SHUTDOWN_TIMEOUT);
    return process.env.QRUN_SHUTDOWN_TIMEOUT && Number.isFinite(s) && s >= 0 ? s * 1000 : 3000;
  })();

  // Resolves when the primary's cluster workers have exited, or after ms.
  const workersGone = (ms) => new Promise((resolve) => {
    if (!isPrimary) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, ms);
    timer.unref();
    const check = () => {
      if (Object.keys(cluster.workers || {}).length === 0) {
        clearTimeout(timer);
        resolve();
        return true;
      }
      return false;
    };
    if (!check()) {
      cluster.on('exit', check);
    }
  });

  // The handlers installed before the main module runs (the register's) are
  // not the application's.
  const preloadHandlers = new Set(process.listeners('SIGTERM'));
  process.on('SIGTERM', function otelQrunSigterm() {
    const own = process.listeners('SIGTERM').filter((l) => l !== otelQrunSigterm && !preloadHandlers.has(l));
    if (own.length > 0) {
      return; // the application decides when to exit
    }
    const flushes = [];
    for (const get of [() => api.trace.getTracerProvider(), () => api.metrics.getMeterProvider()]) {
      try {
        const provider = get();
        const p = provider && typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
        if (p && typeof p.forceFlush === 'function') {
          flushes.push(Promise.resolve().then(() => p.forceFlush()));
        }
      } catch (err) {
        // an API without that signal: nothing to flush
      }
    }
    const bound = new Promise((resolve) => setTimeout(resolve, shutdownMs).unref());
    Promise.race([Promise.allSettled(flushes), bound]).then(() => workersGone(shutdownMs)).then(() => {
      process.removeAllListeners('SIGTERM');
      process.kill(process.pid, 'SIGTERM');
    });
  });

  if (!process.env.QRUN_TASK_ID) {
    return; // a long-lived worker: no process-long context
  }
  const runMain = Module.runMain;
  Module.runMain = function otelQrunRunMain(...args) {
    Module.runMain = runMain;
    const parent = api.propagation.extract(api.ROOT_CONTEXT, Object.assign({}, process.env), envGetter);
    return api.context.with(parent, () => runMain.apply(this, args));
  };
})();
