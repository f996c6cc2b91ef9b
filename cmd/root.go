package cmd

import (
	"github.com/spf13/cobra"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

func newRootCmd(f *factory) *cobra.Command {
	o := &runOptions{f: f}
	c := &cobra.Command{
		Use:   "otel-qrun [flags] [--] COMMAND [ARG...]",
		Short: "Run workers with fresh OpenTelemetry SDKs and continued traces",
		Long: `otel-qrun starts COMMAND as one or more supervised worker processes.

Every worker is executed fresh (fork and exec, never a bare fork), so each one
initializes its own OpenTelemetry SDK with its own service.instance.id, and
each receives TRACEPARENT, TRACESTATE and BAGGAGE that continue the trace of
the launcher. otel-qrun supervises the workers like a prefork master and a
good PID 1: whole process trees, signal forwarding, restarts, memory limits,
graceful stops and zombie reaping.

With --instrument, otel-qrun also starts each Python, Node.js or Java
worker's own SDK with no change to its code, through the official zero-code
bootstrap of its language (opentelemetry-instrument, the
auto-instrumentations-node register, the Java agent), applied in each
worker's own exec.

Settings come from flags, Q_CLUSTER_<KEY> variables, the Q_CLUSTER JSON
object, a --config file and defaults, in that order of precedence.`,
		Example: `  otel-qrun --workers 4 -- celery -A proj worker --pool=solo
  otel-qrun --instrument auto --workers 4 -- celery -A proj worker --pool=solo
  Q_CLUSTER='{"name":"emails","workers":2}' otel-qrun python manage.py qcluster
  OTEL_TRACES_EXPORTER=console otel-qrun --workers 2 -- sh -c 'echo "$QRUN_WORKER_INDEX $TRACEPARENT"'`,
		Args:    cobra.ArbitraryArgs,
		Version: versionString(),
		RunE: func(c *cobra.Command, args []string) error {
			o.cmd, o.args = c, args
			return o.run(c.Context())
		},
	}
	c.SetVersionTemplate("{{.Version}}\n")
	c.Flags().SetInterspersed(false)
	envconfig.AddFlags(c.Flags())
	c.SetIn(f.IO.In)
	c.SetOut(f.IO.Out)
	c.SetErr(f.IO.ErrOut)
	c.AddCommand(
		newConfigCmd(f),
		newVersionCmd(f),
		newCarrierCmd(f),
		newEnqueueCmd(f),
	)
	return silence(c)
}
