package launcher_test

import (
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
	"github.com/otel-qrun/otel-qrun/launcher"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// bootstrapRecorder is a bootstrap that wraps the command with an extra
// argument and variable and remembers what it was given.
type bootstrapRecorder struct {
	mu    sync.Mutex
	given []launcher.Exec
}

func (b *bootstrapRecorder) apply(ex launcher.Exec) launcher.Exec {
	b.mu.Lock()
	b.given = append(b.given, launcher.Exec{Path: ex.Path, Argv: slices.Clone(ex.Argv), Env: slices.Clone(ex.Env)})
	b.mu.Unlock()
	return launcher.Exec{
		Path: ex.Path,
		Argv: append([]string{ex.Argv[0], "--bootstrapped"}, ex.Argv[1:]...),
		Env:  append(slices.Clone(ex.Env), "BOOTSTRAP=worker-"+lookup(ex.Env, qrun.EnvWorkerIndex)),
	}
}

func (b *bootstrapRecorder) calls() []launcher.Exec {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.given)
}

func lookup(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func TestBootstrapChangesWhatEveryWorkerExecutes(t *testing.T) {
	b := &bootstrapRecorder{}
	environ := helperEnviron("env")
	argv := []string{os.Args[0], "arg"}
	h := startLauncher(t, argv, launcher.WithWorkers(2), launcher.WithEnviron(environ), launcher.WithBootstrap(b.apply))
	recs := h.ready(2)
	if st := h.wait(); st != 0 {
		t.Fatalf("status %d", st)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Index < recs[j].Index })
	for i, r := range recs {
		if !slices.Equal(r.Args, []string{"--bootstrapped", "arg"}) {
			t.Errorf("worker %d args %q, want the bootstrap's", i, r.Args)
		}
		if want := "worker-" + r.Index; r.Env["BOOTSTRAP"] != want {
			t.Errorf("worker %d BOOTSTRAP=%q, want %q", i, r.Env["BOOTSTRAP"], want)
		}
	}
	calls := b.calls()
	if len(calls) != 2 {
		t.Fatalf("bootstrap applied %d times, want once per start (2)", len(calls))
	}
	for _, c := range calls {
		// The bootstrap sees the resolved path, argv as given, and the
		// worker's complete environment.
		if c.Path != os.Args[0] || !slices.Equal(c.Argv, argv) {
			t.Errorf("bootstrap given path %q argv %q", c.Path, c.Argv)
		}
		if lookup(c.Env, qrun.EnvWorkerIndex) == "" || lookup(c.Env, qrun.EnvWorkers) != "2" ||
			!strings.Contains(lookup(c.Env, "OTEL_RESOURCE_ATTRIBUTES"), launcher.AttrInstanceID+"=") {
			t.Errorf("bootstrap given an incomplete worker environment: %q", c.Env)
		}
	}
	if !slices.Equal(environ, helperEnviron("env")) {
		t.Error("the launcher's environment was changed")
	}
}

func TestBootstrapAppliesToRestartsAndPerTaskProcesses(t *testing.T) {
	t.Run("restart", func(t *testing.T) {
		b := &bootstrapRecorder{}
		h := startLauncher(t, nil, launcher.WithEnviron(helperEnvironWith("exit", workertest.Params{Exit: 1})),
			launcher.WithRestart(launcher.RestartOnFailure), launcher.WithMaxRestarts(2),
			launcher.WithBackoff(time.Millisecond, time.Millisecond), launcher.WithBootstrap(b.apply))
		if st := h.wait(); st != 1 {
			t.Errorf("status %d, want 1", st)
		}
		if n := len(b.calls()); n != 3 {
			t.Errorf("bootstrap applied %d times, want 3 (one start and two restarts)", n)
		}
	})
	t.Run("per task", func(t *testing.T) {
		b := &bootstrapRecorder{}
		th := startTasks(t, strings.NewReader("a\nb\n"), launcher.WithPerTask(true), launcher.WithWorkers(2),
			launcher.WithEnviron(helperEnviron("pertask")), launcher.WithBootstrap(b.apply))
		status, results := th.all(t)
		if status != 0 || len(results) != 2 {
			t.Fatalf("status %d, results %v", status, results)
		}
		ids := map[string]bool{}
		for _, c := range b.calls() {
			ids[lookup(c.Env, "QRUN_TASK_ID")] = true
		}
		if len(ids) != 2 || ids[""] {
			t.Errorf("bootstrap given task ids %v, want each task's process", ids)
		}
	})
}

func TestBootstrapFailureToExecIsAStartFailure(t *testing.T) {
	missing := t.TempDir() + "/missing-wrapper"
	h := startLauncher(t, nil, launcher.WithEnviron(helperEnviron("env")),
		launcher.WithBootstrap(func(ex launcher.Exec) launcher.Exec {
			ex.Path = missing
			return ex
		}))
	if st := h.wait(); st != launcher.ExitNotFound {
		t.Errorf("status %d, want %d", st, launcher.ExitNotFound)
	}
	for {
		select {
		case m := <-h.logs:
			if m["msg"] == "cannot start worker" {
				if !strings.Contains(m["error"], missing) {
					t.Errorf("error %q does not name the executable the bootstrap chose", m["error"])
				}
				return
			}
		default:
			t.Fatal("no log of the failed start")
		}
	}
}
