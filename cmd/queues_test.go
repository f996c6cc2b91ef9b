package cmd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// The queue tests run real prefork task runners (RQ's forking worker,
// django-q's cluster) from the Debian packages python3-rq and
// python3-django-q against a redis-server started by the test (a second
// or two each); they are skipped where those packages are missing (.ci/run
// installs them).
const python = "/usr/bin/python3"

func needQueues(t *testing.T, modules ...string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process trees are followed on Linux only")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (Debian package redis-server)")
	}
	check := "import " + strings.Join(modules, ", ")
	if out, err := exec.Command(python, "-c", check).CombinedOutput(); err != nil {
		t.Skipf("%s: %v %s (Debian packages python3-rq, python3-django-q)", check, err, out)
	}
}

// py runs a Python snippet and returns its output.
func py(t *testing.T, env []string, code string) string {
	t.Helper()
	c := exec.Command(python, "-c", code)
	c.Env = env
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s\n%s", err, code, out)
	}
	return strings.TrimSpace(string(out))
}

// clients returns the connections redis has besides the one asking.
func clients(t *testing.T, port int) int {
	t.Helper()
	out := py(t, os.Environ(), fmt.Sprintf("import redis; print(len(redis.Redis(port=%d).client_list()) - 1)", port))
	n, _ := strconv.Atoi(out)
	return n
}

// queueRun is otel-qrun running a queue worker.
type queueRun struct {
	cmd    *exec.Cmd
	stderr workertest.LockedBuffer
}

func startQueue(t *testing.T, env []string, args ...string) *queueRun {
	t.Helper()
	q := &queueRun{cmd: exec.Command(qrunBin, args...)}
	q.cmd.Env = env
	q.cmd.Stdout, q.cmd.Stderr = &q.stderr, &q.stderr
	if err := q.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.cmd.Process.Kill(); q.cmd.Wait() })
	return q
}

// stop ends the launcher with sig and checks that nothing of its trees
// runs and nothing is connected to redis, within d of the launcher's exit.
func (q *queueRun) stop(t *testing.T, sig syscall.Signal, tag string, port int, d time.Duration) {
	t.Helper()
	start := time.Now()
	q.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- q.cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("%s: launcher ended (%v) after %s", signalName(sig), err, time.Since(start).Round(time.Millisecond))
	case <-time.After(90 * time.Second):
		t.Fatalf("launcher did not end; output:\n%s", q.stderr.String())
	}
	took := gone(t, d, tag)
	t.Logf("%s: nothing left %s after the launcher", signalName(sig), took.Round(time.Millisecond))
	if n := clients(t, port); n != 0 {
		t.Errorf("%d redis connections left after the launcher ended: something still consumes", n)
	}
}

func signalName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// RQ's default worker forks a work horse per job, which calls setsid. With
// two jobs running, neither SIGTERM nor SIGKILL of the launcher leaves a
// horse running its job, or anything connected to redis.
func TestRQForkingWorkerTree(t *testing.T) {
	needQueues(t, "rq", "redis")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(signalName(sig), func(t *testing.T) {
			port := startRedis(t).Port()
			url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
			tag := treeTag(t)
			py(t, os.Environ(), fmt.Sprintf(`
import redis, rq
q = rq.Queue(connection=redis.Redis(port=%d))
for _ in range(2): q.enqueue("time.sleep", 60, job_timeout=120)`, port))
			q := startQueue(t, append(workertest.Environ("", quietTelemetry...), tag),
				"--workers", "2", "--stop-grace", "20", "--", "/usr/bin/rq", "worker", "--url", url)
			// Both jobs run in their horses.
			py(t, os.Environ(), fmt.Sprintf(`
import redis, rq, time
from rq.registry import StartedJobRegistry
r = StartedJobRegistry("default", connection=redis.Redis(port=%d))
deadline = time.time() + 60
while len(r) < 2:
    if time.time() > deadline: raise SystemExit("the jobs did not start")
    time.sleep(0.05)`, port))
			q.stop(t, sig, tag, port, 2*time.Second)
		})
	}
}

// django-q's qcluster: a sentinel, a pusher, a monitor and the workers, for
// each cluster. Neither SIGTERM nor SIGKILL of the launcher leaves any of
// them running, or consuming from redis.
func TestDjangoQClusterTree(t *testing.T) {
	needQueues(t, "django", "django_q", "redis")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(signalName(sig), func(t *testing.T) {
			port := startRedis(t).Port()
			dir := t.TempDir()
			settings := fmt.Sprintf(`SECRET_KEY = "test"
INSTALLED_APPS = ["django_q"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %q}}
USE_TZ = True
Q_CLUSTER = {"name": "tree", "workers": 2, "timeout": 120, "retry": 300, "redis": {"host": "127.0.0.1", "port": %d, "db": 0}}
`, filepath.Join(dir, "db.sqlite3"), port)
			if err := os.WriteFile(filepath.Join(dir, "qsettings.py"), []byte(settings), 0o644); err != nil {
				t.Fatal(err)
			}
			env := append(workertest.Environ("", quietTelemetry...), "PYTHONPATH="+dir, "DJANGO_SETTINGS_MODULE=qsettings")
			migrate := exec.Command(python, "-m", "django", "migrate", "-v", "0")
			migrate.Env = env
			if out, err := migrate.CombinedOutput(); err != nil {
				t.Fatalf("migrate: %v %s", err, out)
			}
			tag := treeTag(t)
			q := startQueue(t, append(env, tag), "--stop-grace", "20", "--", python, "-m", "django", "qcluster")
			py(t, env, `
import django; django.setup()
from django_q.tasks import async_task
for _ in range(2): async_task("time.sleep", 60)`)
			// Both tasks were taken from redis by the cluster.
			py(t, env, fmt.Sprintf(`
import redis, time
r = redis.Redis(port=%d)
deadline = time.time() + 60
while r.llen("django_q:tree:q") > 0:
    if time.time() > deadline: raise SystemExit("the cluster did not take the tasks")
    time.sleep(0.05)`, port))
			q.stop(t, sig, tag, port, 2*time.Second)
		})
	}
}
