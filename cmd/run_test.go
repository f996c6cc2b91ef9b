package cmd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/internal/workertest"
)

// helperEnv is the environment of the helper name with zero parameters,
// the launcher's telemetry quiet, plus extra.
func helperEnv(name string, extra ...string) []string {
	return append(workertest.Environ(name, quietTelemetry...), extra...)
}

// helperEnvWith is helperEnv with the helper's parameters p.
func helperEnvWith(name string, p workertest.Params, extra ...string) []string {
	return append(workertest.EnvironWith(name, p, quietTelemetry...), extra...)
}

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"--bogus", "true"}, "unknown flag: --bogus"},
		{"negative workers", nil, []string{"--workers", "-1", "true"}, `invalid value "-1" for workers (from --workers)`},
		{"workers not a number", nil, []string{"--workers=many", "true"}, "workers"},
		{"restart policy", nil, []string{"--restart", "sometimes", "true"}, "never, on-failure, always"},
		{"signal name", nil, []string{"--stop-signal", "FOO", "true"}, "stop_signal"},
		{"duration", []string{"Q_CLUSTER_STOP_GRACE=soon"}, []string{"true"}, "Q_CLUSTER_STOP_GRACE"},
		{"Q_CLUSTER JSON", []string{`Q_CLUSTER={"workers": 4,`}, []string{"true"}, "byte offset"},
		{"config file", nil, []string{"--config", "/nonexistent/qrun.yaml", "true"}, "/nonexistent/qrun.yaml"},
		{"no command", nil, nil, "no command given"},
		{"empty command", nil, []string{"--", ""}, "no command given"},
		{"extra argument", nil, []string{"version", "extra"}, "unknown command"},
		{"unknown exporter", []string{"OTEL_TRACES_EXPORTER=carrier-pigeon"}, []string{"true"}, "OTEL_TRACES_EXPORTER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"PATH=" + os.Getenv("PATH")}, tt.env...)
			r := runQrun(t, env, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
}

// A command that is not found, or cannot be executed, ends the run with
// 127 or 126 as a shell would; it still leaves a trace: the span its first
// worker would have had, ended as a start that failed, a child of the
// inherited context (launcher.RecordStartFailure). Before, the run
// exported nothing.
func TestCommandNotFoundOrNotExecutable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tt := range []struct {
		args []string
		code int
		typ  string
	}{
		{[]string{"qrun-no-such-command"}, 127, "ErrNotFound"},
		{[]string{plain}, 126, "ErrNotExecutable"},
		{[]string{dir}, 126, "ErrNotExecutable"},
		// --instrument looks the command up before the launcher does.
		{[]string{"--instrument", "auto", "qrun-no-such-command"}, 127, "ErrNotFound"},
	} {
		arg := tt.args[len(tt.args)-1]
		r := otlptest.NewGRPC(t)
		env := append([]string{"PATH=" + os.Getenv("PATH"), "TRACEPARENT=00-" + trace + "-" + parent + "-01"}, r.Env()...)
		if res := runQrun(t, env, tt.args...); res.code != tt.code || !strings.Contains(res.stderr, arg) {
			t.Errorf("%s: exit %d, stderr %q; want %d", arg, res.code, res.stderr, tt.code)
			continue
		}
		name := "run " + filepath.Base(arg)
		spans := r.WaitSpans(t, func(s []otlptest.Span) bool { return len(spansNamed(s, name)) == 1 }, 20*time.Second)
		s := spansNamed(spans, name)[0]
		if s.TraceID != trace || s.ParentSpanID != parent || s.StatusCode != "error" || s.StatusMessage != "start failed" ||
			len(s.Events) != 1 || s.Events[0].Name != "exception" ||
			!strings.Contains(fmt.Sprint(s.Events[0].Attrs["exception.message"]), filepath.Base(arg)) ||
			s.Events[0].Attrs["exception.type"] != "github.com/otel-qrun/otel-qrun/launcher."+tt.typ ||
			s.Attrs["process.executable.name"] != filepath.Base(arg) || s.Attrs["qrun.worker.index"] != int64(0) {
			t.Errorf("%s: span %+v; want %q in trace %s under %s, status error \"start failed\", the error as an exception event",
				arg, s, name, trace, parent)
		}
	}
}

func TestFlagsStopAtTheCommand(t *testing.T) {
	t.Parallel()
	// Everything after the first non-flag belongs to the worker, even flags
	// otel-qrun itself knows; argv is passed exactly, with no shell.
	args := []string{"--workers", "3", "two words", "$HOME", ""}
	r := runQrun(t, helperEnv("env"), append([]string{"--name", "q1", os.Args[0]}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	recs := records(t, r.stdout)
	if len(recs) != 1 || !reflect.DeepEqual(recs[0].Args, args) || recs[0].Env["QRUN_CLUSTER"] != "q1" {
		t.Fatalf("records %+v, want one worker with args %q", recs, args)
	}
}

func TestPrecedenceThroughTheBinary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"default", nil, nil, 1},
		{"Q_CLUSTER", []string{`Q_CLUSTER={"workers":4,"orm":"default"}`}, nil, 4},
		{"env beats Q_CLUSTER", []string{`Q_CLUSTER={"workers":4}`, "Q_CLUSTER_WORKERS=3"}, nil, 3},
		{"flag beats env", []string{`Q_CLUSTER={"workers":4}`, "Q_CLUSTER_WORKERS=3"}, []string{"--workers", "2"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runQrun(t, helperEnv("env", tt.env...), append(tt.args, os.Args[0])...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			recs := records(t, r.stdout)
			if len(recs) != tt.want {
				t.Fatalf("%d workers, want %d", len(recs), tt.want)
			}
			for _, rec := range recs {
				if rec.Env["QRUN_WORKERS"] != strconv.Itoa(tt.want) {
					t.Errorf("QRUN_WORKERS=%s, want %d", rec.Env["QRUN_WORKERS"], tt.want)
				}
			}
		})
	}
}

func TestExitStatusOfWorkers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"own status", helperEnvWith("exit", workertest.Params{Exit: 3}), nil, 3},
		{"killed by a signal", helperEnvWith("selfkill", workertest.Params{Signal: 10}), nil, 128 + 10},
		{"first failure of several", helperEnvWith("byindex", workertest.Params{ByIndex: []string{"trap", "exit"}, Exit: 4}), []string{"--workers", "2"}, 4},
		{"shards all done", helperEnv("exit"), []string{"--workers", "4"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runQrun(t, tt.env, append(tt.args, os.Args[0])...)
			if r.code != tt.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, tt.want, r.stderr)
			}
		})
	}
}

// A launcher in front of one command, with restart never and no task mode,
// is a transparent prefix, as tini is: the worker's status is the user's
// answer and passes through without a word on stderr. With two workers the
// same failure is the launcher's event and is logged.
func TestTransparentPrefixIsSilent(t *testing.T) {
	t.Parallel()
	r := otlptest.NewHTTP(t) // a collector the user configured: no hint either
	env := append([]string{"PATH=" + os.Getenv("PATH")}, r.Env()...)
	got := runQrun(t, env, "--", "sh", "-c", "exit 42")
	if got.code != 42 || got.stderr != "" {
		t.Errorf("otel-qrun -- sh -c 'exit 42': exit %d, stderr %q; want 42 and nothing", got.code, got.stderr)
	}
	got = runQrun(t, env, "--workers", "2", "--", "sh", "-c", "exit 42")
	if got.code != 42 || !strings.Contains(got.stderr, `level=WARN msg="worker failed"`) {
		t.Errorf("two workers: exit %d, stderr %q; want 42 and the warning", got.code, got.stderr)
	}
}

func TestSignalsReachTheWorkers(t *testing.T) {
	t.Parallel()
	p := startQrun(t, helperEnv("signals"), "--workers", "2", os.Args[0])
	p.next(t)
	p.next(t)
	p.cmd.Process.Signal(syscall.SIGUSR1)
	got := []string{p.next(t).Signal, p.next(t).Signal}
	if got[0] != "SIGUSR1" || got[1] != "SIGUSR1" {
		t.Errorf("workers received %q, want SIGUSR1 twice", got)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0; stderr:\n%s", code, p.err.String())
	}
}

func TestSIGKILLOfTheLauncherLeavesNoWorker(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("pdeathsig is Linux only")
	}
	p := startQrun(t, helperEnv("ignore"), "--workers", "2", os.Args[0])
	a, b := p.next(t), p.next(t)
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
	workertest.Gone(t, a.PID, b.PID)
}

func TestAsPID1ReapsOrphans(t *testing.T) {
	t.Parallel()
	unshare, err := exec.LookPath("unshare")
	if err != nil || runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux, root and unshare to run otel-qrun as PID 1")
	}
	if out, err := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot create a PID namespace here: %v %s", err, out)
	}
	// As PID 1 the launcher is the subreaper automatically; the worker
	// leaves orphans behind and exits 7, a status that must not be stolen.
	env := helperEnvWith("orphans", workertest.Params{Exit: 7, N: 5})
	c := exec.Command(unshare, "--pid", "--fork", "--mount-proc", qrunBin, "--verbose", os.Args[0])
	c.Env = env
	out, err := c.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 7 {
		t.Fatalf("exit %v, want 7; output:\n%s", err, out)
	}
	if n := strings.Count(string(out), "reaped orphan"); n != 5 {
		t.Errorf("reaped %d orphans, want 5; output:\n%s", n, out)
	}
}

func TestLauncherMessagesGoToStderr(t *testing.T) {
	t.Parallel()
	r := runQrun(t, helperEnv("exit"), "--verbose", "--workers", "2", os.Args[0])
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := len(records(t, r.stdout)); n != 2 {
		t.Errorf("%d worker records on stdout, want 2", n)
	}
	if !strings.Contains(r.stderr, "worker started") {
		t.Errorf("--verbose did not log to stderr: %q", r.stderr)
	}
}

func TestConfigCommand(t *testing.T) {
	t.Parallel()
	env := helperEnv("env",
		`Q_CLUSTER={"workers":2,"name":"emails"}`,
		"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer s3cret",
		"OTEL_RESOURCE_ATTRIBUTES=team=mail",
		"MY_API_TOKEN=tok3n")
	r := runQrun(t, env, "config", "--stop-grace", "30", "--", "sh", "-c", "true")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"workers", "Q_CLUSTER", "emails", "stop_grace", "30s", "flag", "restart", "never", "default",
		"QRUN_WORKER_INDEX=0", "QRUN_WORKER_INDEX=1", "QRUN_CLUSTER=emails",
		"OTEL_RESOURCE_ATTRIBUTES=team=mail,service.instance.id=", "qrun.worker.index=1",
		"OTEL_EXPORTER_OTLP_HEADERS=authorization=[REDACTED]", "TRACEPARENT",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config output lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, secret := range []string{"s3cret", "tok3n"} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("config output shows the secret %q", secret)
		}
	}
	if !strings.Contains(r.stderr, "OTEL_SERVICE_NAME is not set") {
		t.Errorf("no warning about OTEL_SERVICE_NAME: %q", r.stderr)
	}
	r = runQrun(t, append(env, "OTEL_SERVICE_NAME=mail"), "config", "--workers", "0")
	if r.code != 2 {
		t.Errorf("config with a bad value: exit %d, want 2", r.code)
	}
}

// config is a check before a deploy: a command the run could not execute
// makes it end as the run would (127 not found, 126 not executable), the
// whole configuration printed first.
func TestConfigExitsAsTheRunWould(t *testing.T) {
	t.Parallel()
	notExec := filepath.Join(t.TempDir(), "worker")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		command string
		code    int
	}{
		{"true", 0},
		{"no-such-command-here", 127},
		{notExec, 126},
	} {
		r := runQrun(t, helperEnv("env", "OTEL_SERVICE_NAME=w"), "config", "--", tt.command)
		if r.code != tt.code {
			t.Errorf("config -- %s: exit %d, want %d\n%s", tt.command, r.code, tt.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "# worker 0 environment") {
			t.Errorf("config -- %s printed no whole configuration:\n%s", tt.command, r.stdout)
		}
	}
}

func TestScaleThroughTheBinary(t *testing.T) {
	t.Parallel()
	p := startQrun(t, helperEnv("signals"), os.Args[0])
	first := p.next(t)
	p.cmd.Process.Signal(syscall.SIGTTIN)
	second := p.next(t)
	indexes := []string{first.Index, second.Index}
	sort.Strings(indexes)
	if !reflect.DeepEqual(indexes, []string{"0", "1"}) {
		t.Errorf("after SIGTTIN: workers %v", indexes)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	workertest.Gone(t, first.PID, second.PID)
}

// A secret given to the command as a flag's next argument (--password
// VALUE) is masked in the config output, and shown with --show-secrets.
// The command's arguments show as shell words: a header line's masked
// value ends with its argument, and a secret found in one argument is
// hidden in the others too.
func TestConfigMasksFlagValueArguments(t *testing.T) {
	t.Parallel()
	env := []string{"PATH=" + os.Getenv("PATH"), "OTEL_SDK_DISABLED=true"}
	r := runQrun(t, env, "config", "--", "echo", "--password", "hunter2x", "--user", "bob",
		"X-Api-Key: k1k1k1", "next", `{"api_key":"kkkk2"}`, "echo hunter2x kkkk2 k1k1k1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `echo --password '[REDACTED]' --user bob 'X-Api-Key: [REDACTED]' next '{"api_key":"[REDACTED]"}' 'echo [REDACTED] [REDACTED] [REDACTED]'`
	for _, secret := range []string{"hunter2x", "kkkk2", "k1k1k1"} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("config output shows %q", secret)
		}
	}
	if !strings.Contains(r.stdout, want) {
		t.Errorf("config output:\n%s\nwant the command as\n%s", r.stdout, want)
	}
	r = runQrun(t, env, "config", "--show-secrets", "--", "echo", "--password", "hunter2x")
	if !strings.Contains(r.stdout, "echo --password hunter2x") || strings.Contains(r.stdout, "REDACTED") {
		t.Errorf("config --show-secrets output:\n%s\nwant the password in clear", r.stdout)
	}
}
