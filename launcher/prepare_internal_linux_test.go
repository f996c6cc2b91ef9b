package launcher

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/sys/unix"
)

// A Run given a Preparation takes its cgroup and its keeper, ends both,
// and calls the drained function once its worker is gone (its span ended)
// and before the cgroup is removed; Close then only reaps the keeper.
func TestPreparationTakenByRun(t *testing.T) {
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("no /bin/true")
	}
	p := Prepare(os.Args[0], os.Environ())
	info := p.Supervision()
	sup := p.sup
	if sup.keeper == nil {
		t.Fatal("the preparation started no keeper")
	}
	keeperPid := sup.keeper.pid
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	drained := 0
	l, err := New([]string{"/bin/true"}, WithPreparation(p), WithTracerProvider(tp),
		WithStdio(devNull, devNull, devNull),
		WithDrained(func() {
			drained++
			if n := len(rec.Ended()); n != 1 {
				t.Errorf("drained with %d spans ended, want the worker's", n)
			}
			if info.Mechanism == MechanismCgroup {
				if _, err := os.Stat(sup.base); err != nil {
					t.Errorf("drained after the Run's cgroup was removed: %v", err)
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	status, err := l.Run(context.Background(), nil)
	if err != nil || status != 0 {
		t.Fatalf("Run: status %d, %v", status, err)
	}
	if drained != 1 {
		t.Errorf("drained called %d times, want once", drained)
	}
	if s := p.take(); s != nil {
		t.Error("the preparation was not taken by Run")
	}
	// Run killed the keeper and left reaping it to Close: it ends, and
	// is still there to reap (WNOWAIT).
	exited := make(chan error, 1)
	go func() {
		var info unix.Siginfo
		exited <- unix.Waitid(unix.P_PID, keeperPid, &info, unix.WEXITED|unix.WNOWAIT, nil)
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the keeper %d after Run: waitid: %v, want it ended and not reaped", keeperPid, err)
		}
	case <-time.After(60 * time.Second): // a bound of last resort
		t.Fatalf("the keeper %d still runs after Run", keeperPid)
	}
	p.Close()
	if err := syscall.Kill(keeperPid, 0); err != syscall.ESRCH {
		t.Errorf("the prepared keeper %d after Run: kill 0 = %v, want ESRCH", keeperPid, err)
	}
	if info.Mechanism == MechanismCgroup {
		if _, err := os.Stat(sup.base); !os.IsNotExist(err) {
			t.Errorf("the Run's cgroup %s after Run: %v, want it removed", sup.base, err)
		}
	}
}

// A Preparation no Run took is ended by Close: its keeper is ended and
// reaped, its cgroups removed.
func TestPreparationClosedUnused(t *testing.T) {
	p := Prepare(os.Args[0], os.Environ())
	info := p.Supervision()
	sup := p.sup
	if sup.keeper == nil {
		t.Fatal("the preparation started no keeper")
	}
	p.Close()
	if err := syscall.Kill(sup.keeper.pid, 0); err != syscall.ESRCH {
		t.Errorf("keeper %d after Close: kill 0 = %v, want ESRCH", sup.keeper.pid, err)
	}
	if info.Mechanism == MechanismCgroup {
		if _, err := os.Stat(sup.base); !os.IsNotExist(err) {
			t.Errorf("cgroup %s after Close: %v, want it removed", sup.base, err)
		}
	}
	p.Close() // twice: nothing more
}

// A Preparation begun before the caller has a logger (cmd begins it before
// it parses its arguments) reports a keeper that could not start through
// the logger of the Run that takes it; a warning logged at the
// preparation's time would go nowhere.
func TestPreparationWarnsThroughRunLogger(t *testing.T) {
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("no /bin/true")
	}
	p := Prepare(filepath.Join(t.TempDir(), "no-such-keeper"), os.Environ())
	defer p.Close()
	if p.Supervision(); p.sup.keeper != nil {
		t.Fatal("a keeper started from a path that does not exist")
	}
	var logged bytes.Buffer
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	l, err := New([]string{"/bin/true"}, WithPreparation(p), WithStdio(devNull, devNull, devNull),
		WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if status, err := l.Run(context.Background(), nil); err != nil || status != 0 {
		t.Fatalf("Run: status %d, %v", status, err)
	}
	if got := logged.String(); strings.Count(got, "cannot start the keeper") != 1 || !strings.Contains(got, "no-such-keeper") {
		t.Errorf("the Run logged:\n%s\nwant the keeper's failure to start, once, with its path", got)
	}
}
