#!/usr/bin/env python3
r"""A persistent otel-qrun task worker that uses only the Python 3 standard library.

Run two of them over three tasks (from the repository root):

    printf '%s\n' '{"payload":{"to":"a@b"}}' '{"payload":{"fail":true}}' hello |
      otel-qrun --tasks - --workers 2 -- python3 examples/pyworker/worker.py

or over tasks from producers, each task carrying its producer's trace:

    { otel-qrun enqueue '{"to":"a@b"}'; otel-qrun enqueue '{"fail":true}'; } |
      otel-qrun --tasks - -- python3 examples/pyworker/worker.py

The protocol (docs/protocol.md in the otel-qrun repository):

- otel-qrun writes one JSON line per task to the worker's stdin:
  {"id": "...", "payload": ..., "carrier": {"traceparent": "00-..."}, "attempt": 1}
  The carrier holds the context of the launcher's CONSUMER span for this
  attempt. A worker gets its next task only after it answered the last one.
- The worker answers each task with one JSON line on the file descriptor
  named by QRUN_RESULT_FD (3): {"id": "...", "ok": true, "result": ...} or
  {"id": "...", "ok": false, "error": "..."}. stdout and stderr stay free for
  logs; otel-qrun never reads them as replies.
- Once started, the worker may write the readiness line {"ready": true} on
  that descriptor: otel-qrun then starts the clock of a task's timeout when
  the worker is ready, so a slow start-up (imports, connections) is never
  charged to the first task.
- The end of stdin means stop: finish, flush telemetry, exit 0.

A payload {"fail": true} makes the task fail (ok: false), to see retries
(--max-attempts) and error spans.

Tracing: with the OpenTelemetry SDK installed, run the worker under
otel-qrun's Python bootstrap,

    pip install opentelemetry-distro opentelemetry-exporter-otlp
    otel-qrun --tasks - --instrument python -- python3 examples/pyworker/worker.py

The bootstrap starts the SDK in each worker and puts the module otel_qrun on
its path: the worker then serves tasks with otel_qrun.serve, which runs each
task in the context of its carrier (the spans it starts are children of the
launcher's CONSUMER span), records a failure's exception, and tells the
launcher when it is ready ({"ready":true} on QRUN_RESULT_FD). Without
otel_qrun the worker runs its own loop below, with the standard library
alone; it still extracts the carrier when the OpenTelemetry API is
installed (see run_task). Because otel-qrun starts every worker with fork
and exec, each worker sets up its own SDK: nothing is inherited across a
fork.
"""

import json
import os
import signal
import sys

try:
    # Only the API is needed here; otel-qrun --instrument python (or your
    # own setup code) installs the SDK, its exporters and OTEL_PROPAGATORS.
    from opentelemetry import propagate, trace
except ImportError:  # no OpenTelemetry installed: run without spans
    propagate = trace = None

try:
    # On the path under otel-qrun --instrument python (standard library and
    # the OpenTelemetry API only: it can also be copied into a project).
    import otel_qrun
except ImportError:
    otel_qrun = None


def log(message):
    """Logs go to stderr (stdout would do too); never to the reply channel."""
    # One write per line: print() writes the line and its newline apart,
    # and the lines of several workers on one stderr interleave.
    sys.stderr.write(f"pyworker[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def handle(task):
    """The work. Returns the task's result; an exception fails the task."""
    payload = task.get("payload")
    if isinstance(payload, dict) and payload.get("fail"):
        raise ValueError("the payload asked to fail")
    return {"echo": payload, "worker": os.environ.get("QRUN_WORKER_INDEX")}


def run_task(task):
    """Runs handle in a span that continues the task's carrier, when the
    OpenTelemetry API is installed."""
    if trace is None:
        return handle(task)
    # The carrier is a dict of header-style fields ("traceparent",
    # "tracestate", "baggage"): exactly what propagate.extract reads.
    ctx = propagate.extract(task.get("carrier") or {})
    tracer = trace.get_tracer("pyworker")
    attributes = {"messaging.message.id": task["id"], "qrun.task.attempt": task.get("attempt", 1)}
    # An exception is recorded on the span and sets its status to ERROR.
    with tracer.start_as_current_span("handle task", context=ctx, attributes=attributes):
        return handle(task)


def reply(out, task_id, attempt, result=None, error=None):
    """Writes one reply line; the launcher waits for it before the next task.
    Echoing the attempt lets the launcher credit the reply to that attempt only."""
    message = {"id": task_id, "ok": error is None}
    if isinstance(attempt, int):
        message["attempt"] = attempt
    if error is not None:
        message["error"] = error
    elif result is not None:
        message["result"] = result
    try:
        line = json.dumps(message, separators=(",", ":"))
    except (TypeError, ValueError) as exc:  # a result JSON cannot hold
        line = json.dumps({"id": task_id, "ok": False, "error": f"result is not JSON: {exc}", "attempt": attempt})
    out.write(line + "\n")  # line buffered: one write, flushed at once


def stop(signum, frame):
    """otel-qrun stops workers with a signal (TERM by default); exiting through
    SystemExit runs atexit handlers, which flush the OpenTelemetry SDK."""
    raise SystemExit(0)


def handle_in_context(task):
    """The handler for otel_qrun.serve, which already runs it in the context
    of the task's carrier: its span is a child of the CONSUMER span."""
    if trace is None:
        return handle({"id": task.id, "payload": task.payload})
    attributes = {"messaging.message.id": task.id, "qrun.task.attempt": task.attempt}
    with trace.get_tracer("pyworker").start_as_current_span("work", attributes=attributes, record_exception=False):
        return handle({"id": task.id, "payload": task.payload})


def main():
    fd = os.environ.get("QRUN_RESULT_FD")
    if not fd:
        log("QRUN_RESULT_FD is not set: run me as a persistent task worker, with otel-qrun --tasks (and without --per-task)")
        return 2
    signal.signal(signal.SIGTERM, stop)
    if otel_qrun is not None:
        log("serving with otel_qrun")
        return otel_qrun.serve(handle_in_context)
    with os.fdopen(int(fd), "w", buffering=1, encoding="utf-8") as out:
        out.write('{"ready":true}\n')  # start-up is over: take tasks
        for raw in iter(sys.stdin.buffer.readline, b""):
            line = raw.strip()
            if not line:
                continue
            try:
                task = json.loads(line)
            except ValueError as exc:
                # Without an id there is nothing to reply to.
                log(f"skipping a task line that is not JSON ({exc}): {line[:200]!r}")
                continue
            task_id = task.get("id") if isinstance(task, dict) else None
            if not isinstance(task_id, str):
                log(f"skipping a task line without a string id: {line[:200]!r}")
                continue
            if not isinstance(task.get("carrier") or {}, dict):
                reply(out, task_id, task.get("attempt"), error="invalid task line: carrier is not an object")
                continue
            try:
                result = run_task(task)
            except Exception as exc:  # the task fails, the worker carries on
                log(f"task {task_id} (attempt {task.get('attempt')}) failed: {exc}")
                reply(out, task_id, task.get("attempt"), error=f"{type(exc).__name__}: {exc}")
            else:
                log(f"task {task_id} (attempt {task.get('attempt')}) done")
                reply(out, task_id, task.get("attempt"), result=result)
    return 0  # stdin ended: otel-qrun is stopping this worker


if __name__ == "__main__":
    status = main()
    # The work is over: a stop signal from here on (otel-qrun stops the
    # worker's whole tree) must not interrupt the exit's flush with a
    # SystemExit inside the interpreter's shutdown.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(status)
