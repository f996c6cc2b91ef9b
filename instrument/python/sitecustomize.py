# otel-qrun's Python bootstrap (embedded in otel-qrun, written to a private
# directory that --instrument python puts first on the workers' PYTHONPATH).
# Python imports the first sitecustomize module on its path at start-up: this
# one runs otel-qrun's bootstrap, which chains to the next sitecustomize on
# the path and starts the OpenTelemetry distro as opentelemetry-instrument
# does. See _otel_qrun_bootstrap.py.
import _otel_qrun_bootstrap

_otel_qrun_bootstrap.run(__file__)
