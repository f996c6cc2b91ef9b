package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/internal/redisq"
	"github.com/otel-qrun/otel-qrun/internal/taskproto"
	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/propagate"
)

type enqueueOptions struct {
	f    *factory
	name string
	id   string
	to   string
}

func newEnqueueCmd(f *factory) *cobra.Command {
	o := &enqueueOptions{f: f}
	c := &cobra.Command{
		Use:   "enqueue [--name NAME] [--id ID] [--to redis://…] [PAYLOAD]",
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

With --to redis://[user:password@]host:port/db?stream=NAME the task line is
appended to that Redis stream instead (XADD NAME * task LINE), for
otel-qrun --tasks redis://… on any host; the entry id is printed. NAME also
becomes the span's messaging.destination.name (and the span name unless
--name is given), and messaging.message.id is the entry id. The password
may come from REDIS_PASSWORD instead of the URL; it is never printed.

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
	c.Flags().StringVar(&o.to, "to", "", "append the task to a Redis stream: redis://[user:password@]host:port/db?stream=NAME (`URL`; rediss:// for TLS) and print the entry id")
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
	printWarnings(o.f.IO.ErrOut, cfg)
	var to *redisq.URL
	if c.Flags().Changed("to") {
		if to, err = redisq.ParseURL(o.to, func(k string) string { return lookupEnv(environ, k) }); err != nil {
			return usageError("invalid value for --to: %v", err)
		}
	}
	name := o.name
	if name == "" {
		name = cfg.Name
		if to != nil {
			name = to.Stream
		}
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
	span := trace.SpanFromContext(ctx) // the inherited context's: a no-op to end
	if !sdk.Disabled {
		attrs := []attribute.KeyValue{
			attribute.String("messaging.system", "otel_qrun"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.operation.name", "send"),
			attribute.String("messaging.destination.name", name),
			attribute.String("messaging.message.id", id),
		}
		if to != nil {
			attrs = append(attrs[:3], // the stream, and the entry id once known
				attribute.String("messaging.destination.name", to.Stream),
				redisq.BrokerKey.String("redis"),
				attribute.String("server.address", to.Host),
				attribute.Int("server.port", to.Port))
		}
		ctx, span = sdk.TracerProvider.Tracer("github.com/otel-qrun/otel-qrun/cmd").Start(ctx, "send "+name,
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	}

	line := taskproto.AppendTask(nil, taskproto.Task{ID: id, Payload: payload, Carrier: propagate.InjectMap(ctx, sdk.Propagator)})
	if to == nil {
		span.End()
		_, err = o.f.IO.Out.Write(line)
		return err
	}
	redisq.SetGoRedisLogger(log) // its per-dial lines at debug level: the error says it once
	entryID, err := appendTask(ctx, to, line)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(attribute.String("error.type", "redis"))
		span.End()
		return err
	}
	span.SetAttributes(attribute.String("messaging.message.id", entryID))
	span.End()
	_, err = fmt.Fprintln(o.f.IO.Out, entryID)
	return err
}

// enqueueRedisTimeout bounds the append of enqueue --to: a producer reports
// an unreachable Redis rather than wait for it.
const enqueueRedisTimeout = 10 * time.Second

// appendTask appends one task line to the stream of u and returns the
// entry id.
func appendTask(ctx context.Context, u *redisq.URL, line []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, enqueueRedisTimeout)
	defer cancel()
	c := redisq.Dial(u)
	defer c.Close()
	return c.AddTask(ctx, u.Stream, line)
}
