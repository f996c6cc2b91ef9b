package cmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/propagate"
)

type carrierOptions struct {
	f      *factory
	format string
	span   string
}

func newCarrierCmd(f *factory) *cobra.Command {
	o := &carrierOptions{f: f}
	c := &cobra.Command{
		Use:   "carrier [--format env|shell|json] [--span NAME]",
		Short: "Print the current trace context as a carrier",
		Long: `Print the trace context of the environment (TRACEPARENT, TRACESTATE, BAGGAGE,
or the fields of the propagators in OTEL_PROPAGATORS) as a carrier, so shell
scripts can pass it along. With --span NAME, a new span that is a child of
that context is created, exported before exit, and its context printed.

Formats: env (KEY=VALUE lines), shell (the otel-cli --tp-carrier format:
export lines for sh's source or eval), json (an object for a task line's
carrier field). Nothing is printed when there is no context; a malformed
inherited TRACEPARENT is reported on stderr and ignored.`,
		Example: `  eval "$(otel-qrun carrier --format shell --span backup)"
  otel-qrun carrier --format json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c.Context()) },
	}
	c.Flags().StringVar(&o.format, "format", "env", "carrier format: env, shell or json")
	c.Flags().StringVar(&o.span, "span", "", "create a span `NAME`, child of the inherited context, and print its context")
	return silence(c)
}

func (o *carrierOptions) run(ctx context.Context) error {
	switch o.format {
	case "env", "shell", "json":
	default:
		return usageError("invalid value %q for --format: must be env, shell or json", o.format)
	}
	environ := o.f.Environ()
	log := newLogger(o.f.IO.ErrOut, false, environ)
	opts := []telemetry.Option{telemetry.WithoutMetrics()}
	if o.span == "" {
		opts = append(opts, telemetry.WithoutEarlyConnect()) // nothing to export
	}
	sdk, ctx, shutdown, err := startTelemetry(ctx, o.f, environ, log, opts...)
	if err != nil {
		return err
	}
	defer shutdown()
	if o.span != "" && !sdk.Disabled {
		var span trace.Span
		ctx, span = sdk.TracerProvider.Tracer("github.com/otel-qrun/otel-qrun/cmd").Start(ctx, o.span)
		span.End()
	}
	out := o.f.IO.Out
	switch o.format {
	case "shell":
		_, err = fmt.Fprint(out, propagate.FormatShell(ctx, sdk.Propagator))
	case "json":
		var b []byte
		if b, err = json.Marshal(propagate.InjectMap(ctx, sdk.Propagator)); err == nil {
			_, err = fmt.Fprintf(out, "%s\n", b)
		}
	default:
		_, err = fmt.Fprint(out, propagate.FormatEnv(ctx, sdk.Propagator))
	}
	return err
}
