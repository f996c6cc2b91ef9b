package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/propagate"
)

type enqueueOptions struct {
	f    *factory
	name string
	id   string
}

func newEnqueueCmd(f *factory) *cobra.Command {
	o := &enqueueOptions{f: f}
	c := &cobra.Command{
		Use:   "enqueue [--name NAME] [--id ID] [PAYLOAD]",
		Short: "Print one task line carrying a new PRODUCER span's context",
		Long: `Print one task line for otel-qrun --tasks on stdout:

  {"id":"…","payload":…,"carrier":{"traceparent":"…"}}

Its carrier is the context of a new PRODUCER span "send NAME", a child of the
trace context in the environment (TRACEPARENT, TRACESTATE, BAGGAGE, or the
fields of OTEL_PROPAGATORS) when there is one. The span is exported before
exit, so the task's trace shows when it was sent and by whom.

PAYLOAD is the argument or, without one, all of stdin with its trailing
newline removed. A payload that is valid JSON is embedded as JSON (on one
line); anything else becomes a JSON string. The id is a new UUID unless --id
is given; NAME defaults to the cluster name (Q_CLUSTER_NAME, the name in the
Q_CLUSTER JSON, or "default"); an invalid Q_CLUSTER is an error, as for
the other commands.

With OTEL_SDK_DISABLED=true no span is created and the carrier holds the
inherited context unchanged. A malformed inherited TRACEPARENT is reported on
stderr and the span starts a new trace.`,
		Example: `  otel-qrun enqueue '{"to":"a@b"}' >> tasks.fifo
  echo '{"to":"a@b"}' | otel-qrun enqueue --name emails --id mail-42
  for n in 1 2 3; do otel-qrun enqueue "$n"; done | otel-qrun --tasks - -- ./worker`,
		Args: func(c *cobra.Command, args []string) error {
			if err := cobra.MaximumNArgs(1)(c, args); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%w: give one PAYLOAD (quote it), or none to read it from stdin", err)}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c.Context(), c, args)
		},
	}
	c.Flags().StringVar(&o.name, "name", "", "queue `NAME` for messaging.destination.name and the span name (default: the cluster name)")
	c.Flags().StringVar(&o.id, "id", "", "task `ID` (default: a new UUID)")
	return silence(c)
}

func (o *enqueueOptions) run(ctx context.Context, c *cobra.Command, args []string) error {
	if c.Flags().Changed("name") && o.name == "" {
		return usageError("invalid value \"\" for --name: must not be empty")
	}
	if c.Flags().Changed("id") && o.id == "" {
		return usageError("invalid value \"\" for --id: must not be empty")
	}
	environ := o.f.Environ()
	cfg, err := envconfig.Load(nil, environ)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	name := o.name
	if name == "" {
		name = cfg.Name
	}
	id := o.id
	if id == "" {
		id = uuid.NewString()
	}
	var raw []byte
	if len(args) == 1 {
		raw = []byte(args[0])
	} else if o.f.IO.In != nil {
		if raw, err = io.ReadAll(o.f.IO.In); err != nil {
			return fmt.Errorf("read the payload from stdin: %w", err)
		}
		raw = bytes.TrimSuffix(bytes.TrimSuffix(raw, []byte("\n")), []byte("\r"))
	}
	payload := taskproto.PayloadFromBytes(raw)

	log := newLogger(o.f.IO.ErrOut, false, environ)
	sdk, ctx, shutdown, err := startTelemetry(ctx, o.f, environ, log,
		telemetry.WithShutdownTimeout(cfg.ShutdownTimeout), telemetry.WithoutMetrics())
	if err != nil {
		return err
	}
	defer shutdown()
	if !sdk.Disabled {
		var span trace.Span
		ctx, span = sdk.TracerProvider.Tracer("github.com/otel-qrun/otel-qrun/cmd").Start(ctx, "send "+name,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "otel_qrun"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.operation.name", "send"),
				attribute.String("messaging.destination.name", name),
				attribute.String("messaging.message.id", id),
			))
		span.End()
	}

	line := taskproto.AppendTask(nil, taskproto.Task{ID: id, Payload: payload, Carrier: propagate.InjectMap(ctx, sdk.Propagator)})
	_, err = o.f.IO.Out.Write(line)
	return err
}
