"""otel-qrun's Python bootstrap, run by its sitecustomize in every Python
process whose PYTHONPATH starts with otel-qrun's private directory.

In order, once per interpreter:

1. Identity. A process exec'd by another bootstrapped process (a subprocess,
   a multiprocessing "spawn" or "forkserver" child) would report the
   service.instance.id of the process it inherited OTEL_RESOURCE_ATTRIBUTES
   from: QRUN_INSTANCE_PID names the process that id belongs to, and a
   process that is not that one gets an id of its own before its SDK starts.
2. Chain. The next sitecustomize on sys.path (the application's, Debian's,
   or opentelemetry-instrument's) runs, as if this one were not there.
3. SDK. Unless the chained sitecustomize was opentelemetry-instrument's
   (an outer opentelemetry-instrument), the distro starts through
   opentelemetry.instrumentation.auto_instrumentation.initialize(): the same
   distro, configurator and instrumentor entry points, the same OTEL_* and
   OTEL_PYTHON_* variables as under opentelemetry-instrument.
4. Task context. A process that runs one task (QRUN_TASK_ID is set) runs
   in the context of TRACEPARENT, TRACESTATE and BAGGAGE, extracted with the
   propagators of OTEL_PROPAGATORS, so its spans are children of the task's
   CONSUMER span. Long-lived workers do not: their spans would pile into one
   process-long trace.
5. Exit and stop. os._exit flushes the SDK's spans, metrics and logs first
   (multiprocessing, billiard and django-q children end that way and skip
   atexit). SIGTERM flushes them too, and so does the launcher's
   stop_signal when it is another (QRUN_STOP_SIGNAL, "SIGQUIT"): with the
   default disposition the process then dies of that signal; a handler the
   program installs (through
   signal.signal, which the bootstrap wraps; signal.getsignal still returns
   the program's own) runs after the flush. Both are bounded by
   QRUN_SHUTDOWN_TIMEOUT seconds (the launcher's shutdown_timeout).
6. Fork. Before a fork the parent flushes its spans and logs, so a child
   never exports its parent's; after it the child closes the HTTP
   connections its OTLP exporters inherited (the parent's keep-alive
   connections: two processes on one socket hang each other), and gets a service.instance.id
   of its own (the SDK's, from SDK 1.44, which refreshes it at fork; a new
   one otherwise), its own process.pid when the resource has one, and
   OTEL_RESOURCE_ATTRIBUTES and QRUN_INSTANCE_PID in os.environ say so, so
   that an SDK built in a post_fork hook from the environment agrees.

Nothing here raises: a failure is reported on stderr once and the program
runs without that part.
"""

import os
import signal
import sys
import threading
import uuid

_ENV_INSTANCE_PID = "QRUN_INSTANCE_PID"
_ENV_SHUTDOWN_TIMEOUT = "QRUN_SHUTDOWN_TIMEOUT"
_ENV_RESOURCE = "OTEL_RESOURCE_ATTRIBUTES"
_ATTR_INSTANCE_ID = "service.instance.id"
_ATTR_PID = "process.pid"
_MARKER = "_otel_qrun_bootstrap.py"  # a directory holding it is otel-qrun's

_state = {
    "done": False,
    "flushing": False,
    "exiting": False,  # atexit handlers run: the SDK's shutdown flushes
    "real_exit": None,
    "real_signal": None,
    "real_getsignal": None,
    "handlers": {},  # flushing SIGTERM handler -> the program's handler
    "child_resource": None,
    "stale_resource": None,
}


def _warn(message):
    try:
        sys.stderr.write("otel-qrun bootstrap[%d]: %s\n" % (os.getpid(), message))
        sys.stderr.flush()
    except Exception:  # stderr closed: nothing to say it with
        pass


def _shutdown_timeout():
    """Seconds a flush may take, from QRUN_SHUTDOWN_TIMEOUT (default 3)."""
    try:
        value = float(os.environ.get(_ENV_SHUTDOWN_TIMEOUT, "3"))
    except ValueError:
        return 3.0
    return value if value > 0 else 3.0


# --- OTEL_RESOURCE_ATTRIBUTES -------------------------------------------------
# The W3C Baggage octet rules the SDK reads it with: key=value pairs joined by
# ",", values percent-encoded.


def _parse_attrs(value):
    from urllib.parse import unquote

    out = []
    for item in value.split(","):
        if not item.strip() or "=" not in item:
            continue
        k, v = item.split("=", 1)
        out.append((unquote(k.strip()), item))
    return out


def _with_instance_id(value, instance_id):
    """value (an OTEL_RESOURCE_ATTRIBUTES) with service.instance.id replaced."""
    from urllib.parse import quote

    kept = [item for key, item in _parse_attrs(value or "") if key != _ATTR_INSTANCE_ID]
    kept.append(_ATTR_INSTANCE_ID + "=" + quote(instance_id, safe=""))
    return ",".join(kept)


def _env_instance_id():
    from urllib.parse import unquote

    for key, item in _parse_attrs(os.environ.get(_ENV_RESOURCE, "")):
        if key == _ATTR_INSTANCE_ID:
            return unquote(item.split("=", 1)[1].strip())
    return None


def _claim_identity(instance_id=None):
    """Makes os.environ name this process as the owner of its id: a new id
    when instance_id is None and the inherited one belongs to another process."""
    pid = str(os.getpid())
    owner = os.environ.get(_ENV_INSTANCE_PID)
    if instance_id is None and owner not in (None, pid) and _env_instance_id() is not None:
        instance_id = str(uuid.uuid4())
    if instance_id is not None:
        os.environ[_ENV_RESOURCE] = _with_instance_id(os.environ.get(_ENV_RESOURCE, ""), instance_id)
    os.environ[_ENV_INSTANCE_PID] = pid


# --- chaining ---------------------------------------------------------------


def _chain(here):
    """Runs the next sitecustomize on sys.path, skipping otel-qrun's own
    directories. Returns its directory, or None when there is none."""
    import importlib.machinery
    import importlib.util

    path = []
    for entry in sys.path:
        d = os.path.abspath(entry or os.getcwd())
        if d == here or os.path.exists(os.path.join(d, _MARKER)):
            continue
        path.append(entry)
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # as site.py reports an error in sitecustomize
        _warn("error in %s: %s: %s" % (spec.origin, type(exc).__name__, exc))
    return os.path.dirname(os.path.abspath(spec.origin or ""))


def _initialize(here):
    """Starts the distro exactly as opentelemetry-instrument's sitecustomize
    does. otel-qrun's directory leaves PYTHONPATH meanwhile, so that a
    process the initialization starts does not bootstrap recursively."""
    saved = os.environ.get("PYTHONPATH")
    if saved is not None:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in saved.split(os.pathsep) if os.path.abspath(p or ".") != here)
    try:
        try:
            from opentelemetry.instrumentation.auto_instrumentation import initialize
        except ImportError:
            try:  # an opentelemetry-instrumentation before initialize() existed
                import opentelemetry.instrumentation.auto_instrumentation.sitecustomize  # noqa: F401
            except ImportError:
                return False  # no distro in this interpreter: run without
            return True
        initialize()
        return True
    finally:
        if saved is not None:
            current = os.environ.get("PYTHONPATH", "")
            if here not in current.split(os.pathsep):
                os.environ["PYTHONPATH"] = here + os.pathsep + current if current else here


# --- flushing ---------------------------------------------------------------


def _providers(metrics_too):
    try:
        from opentelemetry import trace

        yield trace.get_tracer_provider()
    except Exception:
        pass
    if metrics_too:
        try:
            from opentelemetry import metrics

            yield metrics.get_meter_provider()
        except Exception:
            pass
    try:
        from opentelemetry import _logs

        yield _logs.get_logger_provider()
    except Exception:
        pass


def flush(timeout=None, metrics_too=True):
    """Force-flushes the global tracer, meter and logger providers, in at
    most timeout seconds altogether (default QRUN_SHUTDOWN_TIMEOUT). A flush
    that a signal handler starts during another one returns at once: the
    SDK's export lock is not reentrant."""
    if _state["flushing"] or _state["exiting"]:
        return
    _state["flushing"] = True
    try:
        _flush(timeout, metrics_too)
    finally:
        _state["flushing"] = False


def _flush(timeout, metrics_too):
    import time

    deadline = time.monotonic() + (_shutdown_timeout() if timeout is None else timeout)
    for provider in _providers(metrics_too):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        fn = getattr(provider, "force_flush", None)
        if fn is None:
            continue
        try:
            fn(timeout_millis=max(1, int(left * 1000)))
        except TypeError:
            try:
                fn()
            except Exception:
                pass
        except Exception:
            pass


def _exit(*args, **kwargs):
    """os._exit, after a bounded flush: children of multiprocessing, billiard
    and django-q end this way, which skips atexit."""
    flush()
    return _state["real_exit"](*args, **kwargs)


def _on_sigterm(signum, frame):
    """The default SIGTERM disposition, after a bounded flush. Another
    SIGTERM meanwhile (the launcher signals the group again once its leader
    is gone) is ignored."""
    _state["real_signal"](signum, signal.SIG_IGN)
    if _state["exiting"]:
        return  # atexit is shutting the SDK down: let it finish
    flush()
    _state["real_signal"](signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _flushing(handler):
    """handler, after a bounded flush."""

    def on_sigterm(signum, frame):
        flush()
        return handler(signum, frame)

    _state["handlers"][on_sigterm] = handler
    return on_sigterm


def _signal(signum, handler):
    """signal.signal, except that SIGTERM flushes the SDK first: the default
    disposition becomes _on_sigterm, a handler of the program is wrapped.
    (billiard's pool children, for one, install a SIGTERM handler that
    exits through a path their parent's death cuts short.)"""
    if signum in _stop_signals():
        if handler == signal.SIG_DFL:
            handler = _on_sigterm
        elif callable(handler) and not _is_ours(handler):
            handler = _flushing(handler)
    return _unwrap(_state["real_signal"](signum, handler))


def _is_ours(handler):
    try:
        return handler is _on_sigterm or handler in _state["handlers"]
    except TypeError:  # unhashable
        return False


def _getsignal(signum):
    return _unwrap(_state["real_getsignal"](signum))


def _unwrap(handler):
    if handler is _on_sigterm:
        return signal.SIG_DFL
    try:
        return _state["handlers"].get(handler, handler)
    except TypeError:  # unhashable: not ours
        return handler


def _stop_signals():
    """SIGTERM and the launcher's stop_signal (QRUN_STOP_SIGNAL), when it
    is another that the program may handle."""
    sigs = _state.get("stop_signals")
    if sigs is None:
        sigs = {signal.SIGTERM}
        name = os.environ.get("QRUN_STOP_SIGNAL", "").strip().upper()
        if name:
            try:
                sig = signal.Signals[name if name.startswith("SIG") else "SIG" + name]
            except KeyError:
                _warn("QRUN_STOP_SIGNAL=%r is not a signal: only SIGTERM flushes" % name)
            else:
                if sig not in (signal.SIGKILL, signal.SIGSTOP):
                    sigs.add(sig)
        sigs = _state["stop_signals"] = frozenset(sigs)
    return sigs


def _watch_sigterm():
    """Makes SIGTERM (and the stop signal) flush the SDK from now on,
    whoever sets its handler."""
    if _state["real_signal"] is None:
        _state["real_signal"], _state["real_getsignal"] = signal.signal, signal.getsignal
        signal.signal, signal.getsignal = _signal, _getsignal
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in sorted(_stop_signals()):
        try:
            current = _state["real_getsignal"](sig)
            if current == signal.SIG_DFL or (callable(current) and not _is_ours(current)):
                _signal(sig, current)
        except (ValueError, OSError, TypeError):
            pass


# --- fork -------------------------------------------------------------------


def _before_fork():
    # Spans and logs still queued would be exported by the parent and, with
    # an SDK that does not clear its queues at fork, by the child too.
    flush(metrics_too=False)


def _after_fork_in_child():
    try:
        _drop_inherited_connections()
    except Exception as exc:
        _warn("exporter connections after fork: %s: %s" % (type(exc).__name__, exc))
    try:
        _refresh_identity()
    except Exception as exc:
        _warn("new identity after fork: %s: %s" % (type(exc).__name__, exc))
    _watch_sigterm()


# Attributes that lead from a provider to its exporters, in the SDK's
# versions since 1.7.
_EXPORTER_PATHS = (
    "_active_span_processor", "_span_processors", "span_exporter", "_batch_processor", "_exporter",
    "_sdk_config", "metric_readers", "_multi_log_record_processor", "_log_record_processors",
)


def _exporters(obj, depth=0, seen=None):
    seen = set() if seen is None else seen
    if obj is None or depth > 6 or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        for item in obj:
            for e in _exporters(item, depth + 1, seen):
                yield e
        return
    if hasattr(obj, "_session"):
        yield obj
    for name in _EXPORTER_PATHS:
        child = getattr(obj, name, None)
        if child is not None:
            for e in _exporters(child, depth + 1, seen):
                yield e


def _drop_inherited_connections():
    """Closes, in a forked child, the HTTP connections its exporters
    inherited: the parent still uses them, and two processes reading one
    socket's responses hang both. The sessions open new ones when next
    used; closing a socket in the child does not end it in the parent."""
    for provider in _providers(True):
        for exporter in _exporters(provider):
            close = getattr(exporter._session, "close", None)
            if close is not None:
                close()


def _refresh_identity():
    """Gives a forked child its own service.instance.id and process.pid, in
    its SDK and in os.environ."""
    from opentelemetry import trace

    inherited = _env_instance_id()
    provider = trace.get_tracer_provider()
    resource = getattr(provider, "resource", None)
    attrs = dict(getattr(resource, "attributes", {}) or {})
    pid = os.getpid()
    current = attrs.get(_ATTR_INSTANCE_ID)
    if resource is None:  # no SDK: only the environment
        _claim_identity(str(uuid.uuid4()))
        return
    if current is not None and current != inherited:
        new_id = current  # the SDK refreshed it at fork (SDK 1.44+)
        stale = False
    else:
        new_id = str(uuid.uuid4())
        stale = True
    update = {}
    if stale:
        update[_ATTR_INSTANCE_ID] = new_id
    if _ATTR_PID in attrs and attrs[_ATTR_PID] != pid:
        update[_ATTR_PID] = pid
    if update:
        from opentelemetry.sdk.resources import Resource

        patch = Resource(update)
        if hasattr(provider, "_update_resource"):  # SDK 1.44+: every tracer follows
            provider._update_resource(patch)
        else:  # older SDKs: spans are re-stamped as they start
            _state["stale_resource"] = resource
            _state["child_resource"] = resource.merge(patch)
            if hasattr(provider, "_resource"):
                provider._resource = _state["child_resource"]
    _claim_identity(new_id)


class _RestampProcessor(object):
    """A span processor that gives the spans a child starts with tracers made
    before the fork the child's resource, for SDKs before 1.44."""

    def on_start(self, span, parent_context=None):
        child = _state["child_resource"]
        if child is not None and getattr(span, "_resource", None) is _state["stale_resource"]:
            span._resource = child

    def _on_ending(self, span):
        pass

    def on_end(self, span):
        pass

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


# --- the whole ----------------------------------------------------------------


def _continue_task():
    """Runs the rest of a per-task process in the context of its carrier."""
    from opentelemetry import context, propagate

    carrier = {}
    for key in ("TRACEPARENT", "TRACESTATE", "BAGGAGE"):
        if os.environ.get(key):
            carrier[key.lower()] = os.environ[key]
    fields = set()
    try:
        fields = set(propagate.get_global_textmap().fields)
    except Exception:
        pass
    for field in fields:  # the environment-carrier rule: field -> FIELD_NAME
        name = "".join(c if c.isalnum() else "_" for c in field.upper())
        if os.environ.get(name) and field not in carrier:
            carrier[field] = os.environ[name]
    if carrier:
        context.attach(propagate.extract(carrier))


def run(sitecustomize_file):
    """The bootstrap; sitecustomize calls it once with its own path."""
    if _state["done"]:
        return
    _state["done"] = True
    here = os.path.dirname(os.path.abspath(sitecustomize_file))
    try:
        _claim_identity()
    except Exception as exc:
        _warn("identity: %s: %s" % (type(exc).__name__, exc))
    chained = _chain(here)
    outer = chained is not None and chained.replace(os.sep, "/").endswith("opentelemetry/instrumentation/auto_instrumentation")
    started = outer
    if not outer:
        try:
            started = _initialize(here)
        except Exception as exc:
            _warn("starting OpenTelemetry failed: %s: %s" % (type(exc).__name__, exc))
    if not started:
        return
    try:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        if not hasattr(provider, "_update_resource") and hasattr(provider, "add_span_processor"):
            provider.add_span_processor(_RestampProcessor())  # an SDK before 1.44
    except Exception:
        pass
    if os.environ.get("QRUN_TASK_ID"):
        try:
            _continue_task()
        except Exception as exc:
            _warn("continuing TRACEPARENT: %s: %s" % (type(exc).__name__, exc))
    _state["real_exit"] = os._exit
    os._exit = _exit
    # Registered after the SDK's shutdown, so it runs before it: a stop
    # signal during that shutdown must neither flush again (the SDK's export
    # lock is not reentrant) nor end the process before it is done.
    import atexit

    atexit.register(_state.__setitem__, "exiting", True)
    _watch_sigterm()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
