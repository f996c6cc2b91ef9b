"""otel_qrun: the loop of a persistent otel-qrun task worker in Python, the
twin of the Go package forkinit's Serve. Standard library and the
OpenTelemetry API only; without the API it runs the same, without trace
context.

    import otel_qrun

    def handle(task):
        return {"sent": task.payload["to"]}

    if __name__ == "__main__":
        raise SystemExit(otel_qrun.serve(handle))

otel-qrun --instrument python puts this module on the workers' PYTHONPATH;
it can also be copied into an application (otel-qrun prints it with
`otel-qrun config --instrument python -- python3`, see the README).

The protocol (otel-qrun's task mode, persistent workers):

- When it is ready to take tasks, the worker writes {"ready":true} on the
  file descriptor named by QRUN_RESULT_FD (3). The line is optional: a
  launcher that reads it counts task timeouts from readiness, and a worker
  that never sends it still works.
- otel-qrun writes one JSON line per task to the worker's stdin:
  {"id": "...", "payload": ..., "carrier": {"traceparent": "00-..."}, "attempt": 1}
  The carrier holds the context of the launcher's CONSUMER span for this
  attempt. The worker gets its next task only after it answered the last.
- The worker answers each task with one JSON line on QRUN_RESULT_FD:
  {"id": "...", "ok": true, "result": ...} or {"id": "...", "ok": false,
  "error": "..."}. stdout and stderr stay free for logs.
- The end of stdin means stop: serve returns 0.
"""

import json
import os
import sys
import time

try:
    from opentelemetry import context as _otel_context
    from opentelemetry import propagate as _otel_propagate
    from opentelemetry import trace as _otel_trace
except ImportError:  # no OpenTelemetry API: tasks run without trace context
    _otel_context = _otel_propagate = _otel_trace = None

__all__ = ["Task", "serve", "READY_LINE"]

#: The line a worker writes on QRUN_RESULT_FD once it is ready for tasks.
READY_LINE = '{"ready":true}'


class Task(object):
    """One task line: id (str), payload (any JSON value), carrier (dict of
    carrier fields such as "traceparent"), attempt (int, from 1)."""

    __slots__ = ("id", "payload", "carrier", "attempt")

    def __init__(self, id, payload=None, carrier=None, attempt=1):
        self.id = id
        self.payload = payload
        self.carrier = carrier or {}
        self.attempt = attempt

    def __repr__(self):
        return "Task(id=%r, attempt=%r)" % (self.id, self.attempt)


def _log(message):
    try:
        sys.stderr.write("otel_qrun[%d]: %s\n" % (os.getpid(), message))
        sys.stderr.flush()
    except Exception:
        pass


def _reply_line(task_id, ok, error=None, result=None):
    message = {"id": task_id, "ok": ok}
    if error is not None:
        message["error"] = error
    if result is not None:
        message["result"] = result
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        return json.dumps({"id": task_id, "ok": False, "error": "result is not JSON: %s" % exc}, separators=(",", ":"))


def _parse(raw):
    """Returns (task, reply): a Task to run, or a reply line to write at once,
    or (None, None) for a line with no id to reply to."""
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        _log("skipping a task line that is not JSON (%s): %r" % (exc, raw[:200]))
        return None, None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        _log("skipping a task line without a string id: %r" % (raw[:200],))
        return None, None
    carrier = obj.get("carrier")
    if carrier is None:
        carrier = {}
    if not isinstance(carrier, dict):
        return None, _reply_line(obj["id"], False, error="invalid task line: carrier is not an object")
    attempt = obj.get("attempt", 1)
    if not isinstance(attempt, int) or isinstance(attempt, bool):
        attempt = 1
    carrier = {str(k): v for k, v in carrier.items() if isinstance(v, str)}
    return Task(obj["id"], obj.get("payload"), carrier, attempt), None


def _record_failure(task, exc, start_ns, span_name):
    """A span for a failed task, child of its CONSUMER span, that records the
    exception (exception.type, exception.message, exception.stacktrace)."""
    tracer = _otel_trace.get_tracer("otel_qrun")
    span = tracer.start_span(
        span_name,
        context=_otel_context.get_current(),
        attributes={"messaging.message.id": task.id, "qrun.task.attempt": task.attempt},
        start_time=start_ns,
    )
    try:
        span.record_exception(exc)
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(_otel_trace.Status(_otel_trace.StatusCode.ERROR, "%s: %s" % (type(exc).__name__, exc)))
    finally:
        span.end()


def _run(handler, task, span_name):
    """Runs handler(task) in the context of the task's carrier; returns the
    reply line."""
    token = None
    if _otel_propagate is not None:
        # The task's context replaces the worker's own: a task without a
        # carrier starts a new trace.
        token = _otel_context.attach(_otel_propagate.extract(task.carrier, context=_otel_context.Context()))
    start_ns = time.time_ns()
    try:
        try:
            result = handler(task)
        except Exception as exc:
            if _otel_trace is not None:
                try:
                    _record_failure(task, exc, start_ns, span_name)
                except Exception as rec_exc:  # telemetry never fails a task
                    _log("recording the failure of task %s: %s" % (task.id, rec_exc))
            return _reply_line(task.id, False, error="%s: %s" % (type(exc).__name__, exc))
        return _reply_line(task.id, True, result=result)
    finally:
        if token is not None:
            _otel_context.detach(token)


def serve(handler, ready=True, stdin=None, replies=None, span_name="handle task"):
    """Serves tasks until stdin ends; returns 0 then (an exit status).

    handler(task) gets a Task and returns the task's result (any JSON value,
    None for none); an exception fails the task: its reply says
    "Type: message", and a span named span_name, child of the CONSUMER span,
    records the exception with status ERROR. The handler runs in the context
    extracted from the task's carrier by the global propagators
    (OTEL_PROPAGATORS), so the spans it starts are children of the task's
    CONSUMER span.

    ready: write READY_LINE first. stdin: a binary file of task lines
    (default sys.stdin.buffer). replies: a text file for the replies
    (default: QRUN_RESULT_FD opened for writing, closed on return).
    Raises ValueError when QRUN_RESULT_FD is unset or not a number, OSError
    when a reply cannot be written.
    """
    own = replies is None
    if own:
        fd = os.environ.get("QRUN_RESULT_FD", "")
        if not fd.isdigit():
            raise ValueError("QRUN_RESULT_FD=%r is not a file descriptor: run the worker with otel-qrun --tasks" % fd)
        replies = os.fdopen(int(fd), "w", buffering=1, encoding="utf-8", closefd=True)
    if stdin is None:
        stdin = sys.stdin.buffer
    try:
        if ready:
            replies.write(READY_LINE + "\n")
            replies.flush()
        for raw in iter(stdin.readline, b""):
            raw = raw.strip()
            if not raw:
                continue
            task, line = _parse(raw)
            if task is not None:
                line = _run(handler, task, span_name)
            if line is not None:
                replies.write(line + "\n")
                replies.flush()
        return 0
    finally:
        if own:
            replies.close()
