package redisq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is a connection pool to one Redis server and database (go-redis),
// with the retry policy shared by Source and Sink: a command that fails
// for a reason that passes (connection refused or reset, a timeout, a
// server that is LOADING after a restart, …) is retried with exponential
// backoff and jitter until its context ends, and the outage is reported
// once on the logger, as is the recovery. It is safe for concurrent use.
type Client struct {
	u   *URL
	rdb *redis.Client
	log *slog.Logger

	minBackoff, maxBackoff time.Duration

	mu        sync.Mutex
	down      bool
	downSince time.Time
	outages   int
}

// Option configures a Client.
type Option func(*Client)

// WithLogger sets where outages are reported (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithBackoff sets the first and the longest wait between retries
// (default 100ms and 5s); the wait doubles after each failure, with ±25 %
// jitter.
func WithBackoff(first, longest time.Duration) Option {
	return func(c *Client) { c.minBackoff, c.maxBackoff = first, longest }
}

// Dial returns a Client for u. It does no I/O: connections are made by the
// first command.
func Dial(u *URL, opts ...Option) *Client {
	c := &Client{
		u:          u,
		rdb:        redis.NewClient(u.options()),
		log:        slog.New(slog.DiscardHandler),
		minBackoff: 100 * time.Millisecond,
		maxBackoff: 5 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.With("component", "redis", "redis.url", u.String())
	return c
}

// URL returns the URL the client was dialled with.
func (c *Client) URL() *URL { return c.u }

// Redis returns the underlying go-redis client, for commands this package
// does not wrap (tests, benchmarks).
func (c *Client) Redis() *redis.Client { return c.rdb }

// Outages returns how many outages were reported so far.
func (c *Client) Outages() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outages
}

// Close closes the connection pool.
func (c *Client) Close() error { return c.rdb.Close() }

// transient reports whether err may pass by retrying: a network error, or
// a server reply that says the server is not ready yet. Server replies
// that describe the command (WRONGTYPE, NOPERM, NOGROUP, …) and
// redis.ErrClosed are not.
func transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.Nil):
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range []string{"LOADING", "BUSY ", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "READONLY"} {
			if redis.HasErrorPrefix(err, p) {
				return true
			}
		}
		return false
	}
	return true
}

// do runs f until it succeeds, fails for good, or ctx ends; what names the
// operation in errors ("read entries"). While f fails transiently the
// outage is reported (once) and f is retried with backoff.
func (c *Client) do(ctx context.Context, what string, f func(context.Context) error) error {
	wait := c.minBackoff
	for {
		outage := c.outage()
		err := f(ctx)
		if err == nil {
			c.up(outage)
			return nil
		}
		if !transient(err) || ctx.Err() != nil {
			if ctx.Err() != nil && transient(err) {
				return fmt.Errorf("%s: %w (redis unreachable: %v)", what, ctx.Err(), err)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		c.fail(err)
		d := wait*3/4 + time.Duration(rand.Int64N(int64(wait/2)+1)) // wait ±25 %
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (redis unreachable: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, c.maxBackoff)
	}
}

// fail records a transient failure; the first of an outage is reported.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return
	}
	c.down, c.downSince = true, time.Now()
	c.outages++
	c.log.Warn("redis unreachable; retrying with backoff", "error", err)
}

// outage returns the number of outages so far, which an operation notes
// when it starts.
func (c *Client) outage() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outages
}

// up records the success of an operation that started when outage
// outages had begun; it reports the end of an outage. An operation that
// started before the outage began proves nothing of Redis now (a reply
// sent as Redis went down): it ends no outage, and the next failure is no
// second report of the same one.
func (c *Client) up(outage int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down || outage != c.outages {
		return
	}
	c.down = false
	c.log.Info("redis reachable again", "outage_s", time.Since(c.downSince).Seconds())
}

// goRedisLogger passes go-redis's own log lines to a slog.Logger at debug
// level: the outage reports of Client say the same once, where go-redis
// prints one line per failed dial.
type goRedisLogger struct{ l *slog.Logger }

func (g goRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	g.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// SetGoRedisLogger routes the log lines of go-redis, which it prints on
// stderr by default (one per failed dial while Redis is down), to l at
// debug level. go-redis has one logger per process (redis.SetLogger), so
// this is process-wide: the command's set-up calls it once, before Dial.
func SetGoRedisLogger(l *slog.Logger) { redis.SetLogger(goRedisLogger{l}) }

// AddTask appends one task line (a trailing "\n" is dropped) to stream as
// the TaskField of a new entry (XADD stream * task LINE) and returns the
// entry id. One attempt, bounded by ctx: for producers such as
// otel-qrun enqueue --to, which report a failure rather than wait.
func (c *Client) AddTask(ctx context.Context, stream string, line []byte) (string, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	id, err := c.rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{TaskField, line}}).Result()
	if err != nil {
		return "", fmt.Errorf("append a task to %s at %s: %w", stream, c.u.Addr(), err)
	}
	return id, nil
}
