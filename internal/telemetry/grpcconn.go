package telemetry

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
)

// The OTLP/gRPC exporters of traces and metrics each open their own
// connection, and only when they first export: for a short run, at exit.
// Setup opens one connection per distinct collector instead, at once and in
// the background (the worker starts meanwhile), and hands it to the
// exporters of both signals. Owning it also tells a collector that refused
// every connection, which Shutdown then gives up on at once instead of
// retrying until its deadline.
//
// The connection is made with the settings the exporters would read from
// the process environment (OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT, _INSECURE,
// _COMPRESSION; headers and timeouts stay per export). Settings this file
// does not reproduce exactly (certificates, client certificates, endpoint
// schemes other than http and https) leave the exporter to make its own
// connection, as before.

// errCollectorRefused ends the exports through a connection that never
// reached the collector when Shutdown begins.
var errCollectorRefused = errors.New("the collector refused every connection")

// grpcSettings are what a signal's OTLP/gRPC exporter connects with.
type grpcSettings struct {
	target   string
	insecure bool
	gzip     bool
}

// grpcSettingsFor reads the connection settings of signal ("TRACES" or
// "METRICS") with getenv (os.Getenv: the exporters read the process
// environment) as the exporters read them: the general variable, then the
// signal's, later ones winning. ok is false when the environment asks for
// what grpcConn does not reproduce.
func grpcSettingsFor(getenv func(string) string, signal string) (s grpcSettings, ok bool) {
	get := func(key string) (string, bool) {
		v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_" + key))
		return v, v != ""
	}
	for _, key := range []string{"CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
		if _, set := get(key); set {
			return grpcSettings{}, false
		}
		if _, set := get(signal + "_" + key); set {
			return grpcSettings{}, false
		}
	}
	s.target = "localhost:4317" // the exporters' default (plaintextDefault decides on TLS)
	for _, key := range []string{"ENDPOINT", signal + "_ENDPOINT"} {
		v, set := get(key)
		if !set {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return grpcSettings{}, false
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
			s.insecure = true
		case "https":
			s.insecure = false
		default:
			return grpcSettings{}, false
		}
		s.target = u.Host
	}
	for _, key := range []string{"INSECURE", signal + "_INSECURE"} {
		if v, set := get(key); set {
			s.insecure = strings.EqualFold(v, "true")
		}
	}
	for _, key := range []string{"COMPRESSION", signal + "_COMPRESSION"} {
		if v, set := get(key); set {
			s.gzip = v == "gzip"
		}
	}
	if plaintextDefault(getenv, signal) {
		s.insecure = true
	}
	return s, true
}

// plaintextDefault tells whether signal ("TRACES" or "METRICS") goes to
// the default collector with nothing said about transport security: no
// endpoint, no insecure and no certificate variable, general or the
// signal's, is set (getenv reads them as the exporters do). The launcher
// then sends without TLS, to http://localhost:4318 (http/protobuf) or
// http://localhost:4317 (gRPC): the default of the OpenTelemetry
// specification (protocol/exporter.md, "Endpoint ... Default:
// http://localhost:4318"), which the workers' SDKs (Python, Node, Java)
// follow. The Go exporters keep https for compatibility with their
// earlier releases, which a collector without TLS, the usual local one,
// answers with "tls: first record does not look like a TLS handshake"; so
// a launcher and its workers with the same (empty) OTEL_* settings sent to
// two different places.
func plaintextDefault(getenv func(string) string, signal string) bool {
	for _, key := range []string{"ENDPOINT", "INSECURE", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
		if strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_"+key)) != "" ||
			strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_"+signal+"_"+key)) != "" {
			return false
		}
	}
	return true
}

// grpcConn is a connection to a collector owned by the SDK and shared by
// the exporters whose settings match. Its exports run under life, a child
// of the SDK's lifetime that also ends when Shutdown finds that the
// collector refused every connection.
type grpcConn struct {
	settings grpcSettings
	conn     *grpc.ClientConn
	life     *lifetime

	everReady atomic.Bool
	stopping  atomic.Bool
	stopWatch context.CancelFunc
	watched   sync.WaitGroup
}

// dialGRPC creates the connection, idle until connect or the first
// export.
func dialGRPC(s grpcSettings, parent *lifetime) (*grpcConn, error) {
	creds := credentials.NewTLS(nil) // the host's root CAs, as the exporters do
	if s.insecure {
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("OTel OTLP Exporter Go/" + otlptrace.Version()),
	}
	if s.gzip {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
	}
	conn, err := grpc.NewClient(s.target, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(parent.ctx)
	g := &grpcConn{settings: s, conn: conn, life: &lifetime{ctx: ctx, cancel: cancel}}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	g.stopWatch = stopWatch
	g.watched.Go(func() { g.watch(watchCtx) })
	return g, nil
}

// connect starts connecting in the background: leaving idle mode builds
// the resolver and the balancer before the dial starts (about 0.45 ms on a
// 2-core machine), which a short run spent on its critical path. close
// waits for it.
func (g *grpcConn) connect() { g.watched.Go(g.conn.Connect) }

// watch follows the connection's state until it is closed.
func (g *grpcConn) watch(ctx context.Context) {
	for {
		state := g.conn.GetState()
		switch state {
		case connectivity.Ready:
			g.everReady.Store(true)
		case connectivity.TransientFailure:
			g.giveUpIfRefused()
		case connectivity.Shutdown:
			return
		}
		if !g.conn.WaitForStateChange(ctx, state) {
			return
		}
	}
}

// giveUpIfRefused ends the exports through the connection once Shutdown
// has begun, when the collector has refused every attempt so far (gRPC
// keeps a channel in TRANSIENT_FAILURE until a connection succeeds).
func (g *grpcConn) giveUpIfRefused() {
	if g.stopping.Load() && !g.everReady.Load() && g.conn.GetState() == connectivity.TransientFailure {
		g.life.cancel(errCollectorRefused)
	}
}

// beginShutdown marks the start of Shutdown: from now on a collector that
// refused every connection is given up on.
func (g *grpcConn) beginShutdown() {
	g.stopping.Store(true)
	g.giveUpIfRefused()
}

// close closes the connection and waits for its watcher.
func (g *grpcConn) close() error {
	err := g.conn.Close()
	g.stopWatch()
	g.watched.Wait()
	g.life.cancel(errors.New("telemetry shut down"))
	return err
}

// grpcConns hands out the SDK's connections, one per distinct settings.
type grpcConns struct {
	parent *lifetime
	lazy   bool // connect at the first export, not at once
	conns  []*grpcConn
}

// get returns the connection for signal ("TRACES" or "METRICS"), dialing
// it when no connection with the same settings exists, or nil when the
// exporter is to connect by itself.
func (c *grpcConns) get(signal string) (*grpcConn, error) {
	s, ok := grpcSettingsFor(os.Getenv, signal)
	if !ok {
		return nil, nil
	}
	for _, g := range c.conns {
		if g.settings == s {
			return g, nil
		}
	}
	g, err := dialGRPC(s, c.parent)
	if err != nil {
		return nil, err
	}
	c.conns = append(c.conns, g)
	return g, nil
}

// connect starts connecting every connection in the background, unless
// lazy.
func (c *grpcConns) connect() {
	if c.lazy {
		return
	}
	for _, g := range c.conns {
		g.connect()
	}
}

func (c *grpcConns) beginShutdown() {
	for _, g := range c.conns {
		g.beginShutdown()
	}
}

func (c *grpcConns) close() error {
	var errs []error
	for _, g := range c.conns {
		errs = append(errs, g.close())
	}
	return errors.Join(errs...)
}
