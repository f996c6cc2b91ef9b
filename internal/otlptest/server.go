package otlptest

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed gRPC requests
	"google.golang.org/protobuf/proto"
)

// maxBody bounds an HTTP request body after decompression.
const maxBody = 64 << 20

// NewGRPC starts an OTLP/gRPC receiver on 127.0.0.1 with a random port. It
// serves the trace and metrics services (and accepts and discards logs).
// The receiver is stopped, and its connections closed, by t.Cleanup.
func NewGRPC(t testing.TB) *Receiver {
	t.Helper()
	r := newReceiver(ProtocolGRPC)
	l := &countingListener{Listener: listen(t), r: r}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, traceService{r: r})
	colmetricspb.RegisterMetricsServiceServer(srv, metricsService{r: r})
	collogspb.RegisterLogsServiceServer(srv, logsService{})
	r.endpoint = "http://" + l.Addr().String()

	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	t.Cleanup(func() {
		srv.Stop()
		wg.Wait()
	})
	return r
}

// NewHTTP starts an OTLP/HTTP receiver on 127.0.0.1 with a random port. It
// serves POST /v1/traces and /v1/metrics (and accepts and discards
// /v1/logs) with application/x-protobuf bodies, optionally gzip-encoded, and
// answers with the matching Export*ServiceResponse. The receiver is
// stopped, and its connections closed, by t.Cleanup.
func NewHTTP(t testing.TB) *Receiver {
	t.Helper()
	r := newReceiver(ProtocolHTTP)
	l := listen(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", func(w http.ResponseWriter, req *http.Request) {
		in := &coltracepb.ExportTraceServiceRequest{}
		if readRequest(w, req, in) {
			r.add(convertSpans(in.GetResourceSpans()), nil)
			writeResponse(w, &coltracepb.ExportTraceServiceResponse{})
		}
	})
	mux.HandleFunc("/v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		in := &colmetricspb.ExportMetricsServiceRequest{}
		if readRequest(w, req, in) {
			r.add(nil, convertMetrics(in.GetResourceMetrics()))
			writeResponse(w, &colmetricspb.ExportMetricsServiceResponse{})
		}
	})
	mux.HandleFunc("/v1/logs", func(w http.ResponseWriter, req *http.Request) {
		if readRequest(w, req, &collogspb.ExportLogsServiceRequest{}) {
			writeResponse(w, &collogspb.ExportLogsServiceResponse{})
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.endpoint = "http://" + l.Addr().String()

	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	t.Cleanup(func() {
		_ = srv.Close()
		wg.Wait()
	})
	return r
}

// countingListener counts the connections a receiver accepts.
type countingListener struct {
	net.Listener
	r *Receiver
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.r.accepted()
	}
	return c, err
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlptest: listen: %v", err)
	}
	return l
}

// readRequest decodes the protobuf body of an OTLP/HTTP request into msg. It
// answers the request itself and returns false when the request is not
// acceptable.
func readRequest(w http.ResponseWriter, req *http.Request, msg proto.Message) bool {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/x-protobuf" {
		http.Error(w, "content type must be application/x-protobuf", http.StatusUnsupportedMediaType)
		return false
	}
	var body io.Reader = req.Body
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, fmt.Sprintf("bad gzip body: %v", err), http.StatusBadRequest)
			return false
		}
		defer zr.Close()
		body = zr
	default:
		http.Error(w, "unsupported content encoding", http.StatusUnsupportedMediaType)
		return false
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		http.Error(w, fmt.Sprintf("read body: %v", err), http.StatusBadRequest)
		return false
	}
	if len(data) > maxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return false
	}
	if err := proto.Unmarshal(data, msg); err != nil {
		http.Error(w, fmt.Sprintf("decode body: %v", err), http.StatusBadRequest)
		return false
	}
	return true
}

func writeResponse(w http.ResponseWriter, msg proto.Message) {
	data, err := proto.Marshal(msg)
	if err != nil {
		http.Error(w, fmt.Sprintf("encode response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

type traceService struct {
	coltracepb.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	s.r.add(convertSpans(req.GetResourceSpans()), nil)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	colmetricspb.UnimplementedMetricsServiceServer
	r *Receiver
}

func (s metricsService) Export(_ context.Context, req *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	s.r.add(nil, convertMetrics(req.GetResourceMetrics()))
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

type logsService struct {
	collogspb.UnimplementedLogsServiceServer
}

func (logsService) Export(context.Context, *collogspb.ExportLogsServiceRequest) (*collogspb.ExportLogsServiceResponse, error) {
	return &collogspb.ExportLogsServiceResponse{}, nil
}

// Blackhole returns the URL ("http://127.0.0.1:PORT") of a listener that
// accepts TCP connections and never reads from them or answers: a collector
// that hangs. The listener and every accepted connection are closed by
// t.Cleanup.
func Blackhole(t testing.TB) string {
	t.Helper()
	l := listen(t)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				// Closed by cleanup (or failing): the kernel's backlog
				// still completes handshakes that nobody answers.
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// Refused returns the URL ("http://127.0.0.1:PORT") of a port where nothing
// listens, so that connections are refused. The port was free a moment ago;
// another process could take it, which tests accept as unlikely.
func Refused(t testing.TB) string {
	t.Helper()
	l := listen(t)
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("otlptest: close listener: %v", err)
	}
	return "http://" + addr
}

// Sink is an OTLP endpoint over HTTP and over gRPC that accepts every
// export and discards it without decoding, for benchmarks: what a collector
// spends on decoding is not charged to the process under test. Over HTTP it
// answers with an empty protobuf body, over gRPC with an empty message on
// any method: both are a valid, empty Export*ServiceResponse.
type Sink struct {
	httpEndpoint string
	grpcEndpoint string
	requests     atomic.Int64
	bytes        atomic.Int64
}

// NewSink starts a Sink on loopback, with a port per protocol; t.Cleanup
// stops it.
func NewSink(t testing.TB) *Sink {
	t.Helper()
	s := &Sink{}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			n, _ := io.Copy(io.Discard, req.Body)
			s.requests.Add(1)
			s.bytes.Add(n)
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	hl := listen(t)
	s.httpEndpoint = "http://" + hl.Addr().String()

	// Every method of every service: read the request as bytes, answer an
	// empty message.
	gs := grpc.NewServer(
		grpc.ForceServerCodec(rawCodec{}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			var msg []byte
			if err := stream.RecvMsg(&msg); err != nil {
				return err
			}
			s.requests.Add(1)
			s.bytes.Add(int64(len(msg)))
			return stream.SendMsg(&[]byte{})
		}))
	gl := listen(t)
	s.grpcEndpoint = "http://" + gl.Addr().String()

	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(hl) })
	wg.Go(func() { _ = gs.Serve(gl) })
	t.Cleanup(func() {
		_ = srv.Close()
		gs.Stop()
		wg.Wait()
	})
	return s
}

// rawCodec passes gRPC messages through as bytes (*[]byte both ways).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("otlptest: raw codec cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("otlptest: raw codec cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// Endpoint returns the base URL ("http://127.0.0.1:PORT") of the sink for
// protocol ([ProtocolGRPC] or [ProtocolHTTP]).
func (s *Sink) Endpoint(protocol string) string {
	if protocol == ProtocolGRPC {
		return s.grpcEndpoint
	}
	return s.httpEndpoint
}

// Env returns the entries that point a child's traces and metrics at the
// sink over http/protobuf.
func (s *Sink) Env() []string { return s.EnvFor(ProtocolHTTP) }

// EnvFor returns the entries that point a child's traces and metrics at
// the sink over protocol ([ProtocolGRPC] or [ProtocolHTTP]), per signal
// too, so that inherited per-signal settings do not win.
func (s *Sink) EnvFor(protocol string) []string {
	env := []string{
		"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=" + protocol,
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=" + protocol,
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_METRICS_EXPORTER=otlp",
		"OTEL_LOGS_EXPORTER=none",
	}
	if protocol == ProtocolGRPC {
		return append(env,
			"OTEL_EXPORTER_OTLP_ENDPOINT="+s.grpcEndpoint,
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+s.grpcEndpoint,
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="+s.grpcEndpoint,
			"OTEL_EXPORTER_OTLP_INSECURE=true",
		)
	}
	return append(env,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+s.httpEndpoint,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+s.httpEndpoint+"/v1/traces",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="+s.httpEndpoint+"/v1/metrics",
	)
}

// Requests returns how many exports arrived, over either protocol, and
// their bytes.
func (s *Sink) Requests() (n, bytes int64) { return s.requests.Load(), s.bytes.Load() }
