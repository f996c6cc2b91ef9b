package cmd

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/internal/redisq"
	"github.com/otel-qrun/otel-qrun/internal/redistask"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// redisCloseTimeout bounds the hand-back of what a Redis source still
// holds at exit (entries read and never started).
const redisCloseTimeout = 10 * time.Second

// redisTasks holds the Redis side of task mode: a source (--tasks
// redis://…), a sink (--results redis://…), or both, on one connection
// pool when they name the same server.
type redisTasks struct {
	opts    []launcher.Option
	clients []*redisq.Client
	src     *redistask.Source
}

// close hands back what the source holds and closes the pools.
func (rt *redisTasks) close() {
	if rt.src != nil {
		ctx, cancel := context.WithTimeout(context.Background(), redisCloseTimeout)
		_ = rt.src.Close(ctx)
		cancel()
	}
	for _, c := range rt.clients {
		_ = c.Close()
	}
}

// openRedisTasks wires the Redis URLs among --tasks and --results. A task
// URL without a group joins the group named after the cluster (the name
// key). meter may be nil (telemetry off). base carries no component: the
// Redis clients' lines name theirs (redis, go-redis), the rest otel-qrun.
func openRedisTasks(cfg *envconfig.Config, environ []string, base *slog.Logger, meter metric.MeterProvider) (*redisTasks, error) {
	getenv := func(k string) string { return lookupEnv(environ, k) }
	rt := &redisTasks{}
	log := base.With("component", "otel-qrun")
	redisq.SetGoRedisLogger(base)
	var tasksURL *redisq.URL
	var tasksClient *redisq.Client
	if redisq.IsURL(cfg.Tasks) {
		u, err := redisq.ParseURL(cfg.Tasks, getenv)
		if err != nil {
			return nil, usageError("--tasks: %w", err)
		}
		if u.Group == "" {
			u.Group = cfg.Name
		}
		tasksURL = u
		tasksClient = redisq.Dial(u, redisq.WithLogger(base))
		rt.clients = append(rt.clients, tasksClient)
		src, err := redisq.NewSource(tasksClient, redisq.WithClaimInterval(cfg.ClaimInterval), redisq.WithMaxLine(cfg.MaxLine))
		if err != nil {
			rt.close()
			return nil, usageError("--tasks: %w", err)
		}
		ts, err := redistask.NewSource(src, redistask.Config{
			Limit: cfg.Workers + cfg.QueueLimit, MaxAttempts: cfg.MaxAttempts, Meter: meter, Log: log,
		})
		if err != nil {
			_ = src.Close(context.Background())
			rt.close()
			return nil, err
		}
		rt.src = ts
		rt.opts = append(rt.opts, launcher.WithTaskSource(ts))
	}
	if redisq.IsURL(cfg.Results) {
		u, err := redisq.ParseURL(cfg.Results, getenv)
		if err != nil {
			rt.close()
			return nil, usageError("--results: %w", err)
		}
		c := tasksClient
		if c == nil || !redisq.SameServer(tasksURL, u) {
			c = redisq.Dial(u, redisq.WithLogger(base))
			rt.clients = append(rt.clients, c)
		}
		rt.opts = append(rt.opts, launcher.WithResultSink(redistask.NewSink(redisq.NewSink(c, u.Stream))))
	}
	return rt, nil
}
