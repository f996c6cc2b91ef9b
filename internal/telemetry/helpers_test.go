package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) != "" {
		os.Exit(runHelper(os.Getenv(envHelper)))
	}
	goleak.VerifyTestMain(m)
}

// envHelper names the helper that a re-executed test binary runs instead
// of the tests.
const envHelper = "TELEMETRY_TEST_HELPER"

// runHelper runs a helper process and returns its exit status.
//
//	console: set up the SDK from the environment with the default error
//	writer (os.Stderr), record a span "helper-span" and a counter, shut down.
func runHelper(name string) int {
	switch name {
	case "console":
		s, err := Setup(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, "Setup:", err)
			return 2
		}
		ctx, span := s.TracerProvider.Tracer("t").Start(context.Background(), "helper-span")
		ctr, _ := s.MeterProvider.Meter("t").Int64Counter("helper.count")
		ctr.Add(ctx, 3)
		span.End()
		if err := s.Shutdown(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "Shutdown:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper", name)
	return 2
}

const waitFor = 10 * time.Second

// cleanEnv removes every OTEL_* variable of the test's environment for the
// duration of the test, so that the developer's or CI's settings do not
// leak in.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "") // restores the value after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// setenv sets "KEY=value" entries with t.Setenv.
func setenv(t *testing.T, entries ...string) {
	t.Helper()
	for _, kv := range entries {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// buffer is a concurrency-safe bytes.Buffer that signals every write.
type buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{}
}

func newBuffer() *buffer {
	return &buffer{written: make(chan struct{}, 1)}
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.written <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the lines of the buffer that contain substr.
func (b *buffer) lines(substr string) []string {
	var out []string
	for l := range strings.Lines(b.String()) {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// captureStdout redirects os.Stdout to a pipe until the returned function
// is called, which restores it and returns what was written.
func captureStdout(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(&out, r)
	}()
	var once sync.Once
	restore := func() string {
		once.Do(func() {
			os.Stdout = old
			_ = w.Close()
			<-done
			_ = r.Close()
		})
		return out.String()
	}
	t.Cleanup(func() { restore() })
	return restore
}

// setup calls Setup and shuts the SDK down when the test ends.
func setup(t *testing.T, opts ...Option) *SDK {
	t.Helper()
	s, err := Setup(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}
