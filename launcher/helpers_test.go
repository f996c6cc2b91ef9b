package launcher_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"github.com/otel-qrun/otel-qrun/launcher"
)

// Fake workers are this test binary re-executed (see workertest).
func TestMain(m *testing.M) {
	if code, ok := launcher.KeeperMain(); ok {
		os.Exit(code)
	}
	if code, ok := workertest.Run(); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

type record = workertest.Record

// patience bounds every wait of a test as a last resort: tests wait on
// events (a record, a result line, a log record, the end of Run), and the
// bound only turns a hang into a failure on a heavily loaded machine.
const patience = 2 * time.Minute

var (
	helperEnviron     = workertest.Environ
	helperEnvironWith = workertest.EnvironWith
	gone              = workertest.Gone
	alive             = workertest.Alive
	zombies           = workertest.Zombies
)

func init() {
	workertest.Register("launcher", runLauncherHelper)
	workertest.Register("batchworker", func(struct{}) int { return batchWorker() })
	workertest.Register("closestdin", func(struct{}) int { return closeStdinWorker() })
	// readlines: report ready, then each line read from stdin, until EOF.
	workertest.Register("readlines", func(workertest.Params) int {
		fmt.Println(`{"event":"ready"}`)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			b, _ := json.Marshal(map[string]string{"event": "line", "stdin": sc.Text()})
			fmt.Println(string(b))
		}
		return 0
	})
}

// launcherParams configure the "launcher" helper.
type launcherParams struct {
	Workers      int
	Worker       string            // the helper the workers run
	WorkerParams workertest.Params // its parameters
	Subreaper    bool
	Grace        time.Duration          // stop grace; 0 means 2s
	Restart      launcher.RestartPolicy // "" means never
	Adopt        bool                   // become a parent that never reaps the orphans it adopts
	// NoSIGCHLD leaves SIGCHLD out of the signals the launcher gets, as
	// when signal.Notify dropped it from a full channel.
	NoSIGCHLD bool
}

// runLauncherHelper runs a launcher configured by p in its own process,
// with real signals delivered to that process.
func runLauncherHelper(p launcherParams) int {
	env := workertest.EnvironWith(p.Worker, p.WorkerParams)
	grace := 2 * time.Second
	if p.Grace > 0 {
		grace = p.Grace
	}
	restart := launcher.RestartNever
	if p.Restart != "" {
		restart = p.Restart
	}
	if p.Adopt {
		// Orphans become this process's children, which it never reaps:
		// a container whose PID 1 does not reap.
		if err := adoptOrphans(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	l, err := launcher.New([]string{os.Args[0]},
		launcher.WithWorkers(p.Workers),
		launcher.WithEnviron(env),
		launcher.WithSubreaper(p.Subreaper),
		launcher.WithStopGrace(grace),
		launcher.WithRestart(restart),
		launcher.WithBackoff(time.Millisecond, time.Millisecond),
		launcher.WithKeeper(os.Args[0]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sigs := make(chan os.Signal, 4)
	caught := []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD, syscall.SIGTSTP, syscall.SIGWINCH}
	if p.NoSIGCHLD {
		caught = slices.DeleteFunc(caught, func(s os.Signal) bool { return s == syscall.SIGCHLD })
	}
	signal.Notify(sigs, caught...)
	status, err := l.Run(context.Background(), sigs)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return status
}

// logSink is a slog handler that hands every record's message and
// attributes to a channel, so tests can wait for what the launcher did.
type logSink struct{ c chan map[string]string }

func (logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s logSink) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	select {
	case s.c <- m:
	default:
	}
	return nil
}
func (s logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s logSink) WithGroup(string) slog.Handler      { return s }

// waitLog waits for a log record whose message contains msg and whose
// attributes include attrs.
func (h *harness) waitLog(msg string, attrs map[string]string) {
	h.t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case m := <-h.logs:
			ok := strings.Contains(m["msg"], msg)
			for k, v := range attrs {
				ok = ok && m[k] == v
			}
			if ok {
				return
			}
		case <-timeout:
			h.t.Fatalf("no log %q %v within %s", msg, attrs, patience)
		}
	}
}

// harness runs a Launcher in the test process with helper workers whose
// stdout records arrive on a channel.
type harness struct {
	t        *testing.T
	records  chan record
	logs     chan map[string]string
	sigs     chan os.Signal
	returned chan struct{} // closed when Run has returned and its output is read
	status   int
	err      error
	cancel   context.CancelFunc
}

// startLauncher starts a launcher over the test binary with opts; the
// caller passes WithEnviron(helperEnviron(...)).
func startLauncher(t *testing.T, argv []string, opts ...launcher.Option) *harness {
	t.Helper()
	return startLauncherWith(t, context.Background(), argv, opts...)
}

// startLauncherWith is startLauncher with a parent context for worker spans.
func startLauncherWith(t *testing.T, parent context.Context, argv []string, opts ...launcher.Option) *harness {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if argv == nil {
		argv = []string{os.Args[0]}
	}
	logs := make(chan map[string]string, 1000)
	opts = append([]launcher.Option{launcher.WithStdio(nil, pw, os.Stderr), launcher.WithStopGrace(5 * time.Second),
		launcher.WithLogger(slog.New(logSink{logs}))}, opts...)
	l, err := launcher.New(argv, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(parent)
	h := &harness{t: t, records: make(chan record, 1000), logs: logs, sigs: make(chan os.Signal, 4), returned: make(chan struct{}), cancel: cancel}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var r record
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				h.records <- r
			}
		}
	}()
	go func() {
		h.status, h.err = l.Run(ctx, h.sigs)
		pw.Close()
		<-readDone
		pr.Close()
		close(h.returned)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.returned:
		case <-time.After(patience):
			t.Error("launcher did not stop")
		}
	})
	return h
}

// next returns the next record, failing after a generous timeout.
func (h *harness) next() record {
	h.t.Helper()
	select {
	case r := <-h.records:
		return r
	case <-time.After(patience):
		h.t.Fatalf("no record from a worker within %s", patience)
	}
	return record{}
}

// ready collects n ready records.
func (h *harness) ready(n int) []record {
	h.t.Helper()
	var out []record
	for len(out) < n {
		if r := h.next(); r.Event == "ready" {
			out = append(out, r)
		}
	}
	return out
}

// wait returns the launcher's status once Run has returned.
func (h *harness) wait() int {
	h.t.Helper()
	select {
	case <-h.returned:
	case <-time.After(patience):
		h.t.Fatalf("launcher did not finish within %s", patience)
	}
	if h.err != nil {
		h.t.Fatalf("Run: %v", h.err)
	}
	return h.status
}

// rest returns the records that arrived after the ones already read.
func (h *harness) rest() []record {
	var out []record
	for {
		select {
		case r := <-h.records:
			out = append(out, r)
		default:
			return out
		}
	}
}
