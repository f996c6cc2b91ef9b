package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/term"

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
carrier field). Nothing is printed when there is no context (and, when
stderr is a terminal, a line on stderr says so); a malformed inherited
TRACEPARENT is reported on stderr and ignored.`,
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
	var text string
	switch o.format {
	case "shell":
		text = propagate.FormatShell(ctx, sdk.Propagator)
	case "json":
		var b []byte
		if b, err = json.Marshal(propagate.InjectMap(ctx, sdk.Propagator)); err != nil {
			return err
		}
		text = string(b) + "\n"
	default:
		text = propagate.FormatEnv(ctx, sdk.Propagator)
	}
	if len(propagate.InjectMap(ctx, sdk.Propagator)) == 0 && isTerminal(o.f.IO.ErrOut) {
		// Nothing to print is the answer; a person at a terminal is told.
		fmt.Fprintln(o.f.IO.ErrOut, "otel-qrun: carrier: no trace context in the environment (no TRACEPARENT): the carrier is empty; --span NAME starts a new trace")
	}
	_, err = fmt.Fprint(out, text)
	return err
}

// isTerminal tells whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
