package cmd

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/testenv"
)

// The -X flags of the release (goreleaser.yaml); the linker silently ignores
// a -X for a variable that does not exist, so the test builds with them.
const ldflagsPackage = "github.com/otel-qrun/otel-qrun/cmd"

// setVersionVars sets the variables the release sets with -X, for the
// duration of the test. Tests that call it must not be parallel.
func setVersionVars(t *testing.T, v, c, d string) {
	t.Helper()
	oldV, oldC, oldD := version, commit, date
	version, commit, date = v, c, d
	t.Cleanup(func() { version, commit, date = oldV, oldC, oldD })
}

// runInProcess runs otel-qrun with args through the cobra tree, with
// buffers for streams.
func runInProcess(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	f := &factory{
		IO:      &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Environ: func() []string { return nil },
		Notify:  func(chan<- os.Signal, ...os.Signal) func() { return func() {} },
		Getpid:  func() int { return 4242 },
	}
	code = execute(context.Background(), f, args)
	return out.String(), errOut.String(), code
}

// Not parallel: it sets the package's version variables.
func TestVersionCommandReportsLdflags(t *testing.T) {
	setVersionVars(t, "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-02-03T04:05:06Z")

	stdout, stderr, code := runInProcess(t, "version")
	if code != 0 || stderr != "" {
		t.Fatalf("otel-qrun version: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"otel-qrun v1.2.3",
		"0123456789abcdef0123456789abcdef01234567",
		"2026-02-03T04:05:06Z",
		runtime.Version(),
		runtime.GOOS + "/" + runtime.GOARCH,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("otel-qrun version = %q, lacks %q", stdout, want)
		}
	}
	if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, "\n") {
		t.Errorf("otel-qrun version = %q, want one line", stdout)
	}

	flagOut, flagErr, flagCode := runInProcess(t, "--version")
	if flagCode != 0 || flagErr != "" || flagOut != stdout {
		t.Errorf("otel-qrun --version = %q (exit %d, stderr %q), want the output of otel-qrun version %q", flagOut, flagCode, flagErr, stdout)
	}
}

// Not parallel: it sets the package's version variables.
func TestVersionCommandFallsBackToBuildInfo(t *testing.T) {
	setVersionVars(t, "", "", "")

	wantVersion, wantCommit, wantDate := "dev", "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			wantVersion = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				wantCommit = s.Value
			case "vcs.time":
				wantDate = s.Value
			}
		}
	}
	stdout, stderr, code := runInProcess(t, "version")
	if code != 0 || stderr != "" {
		t.Fatalf("otel-qrun version: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"otel-qrun " + wantVersion + " ", wantCommit, wantDate, runtime.Version()} {
		if !strings.Contains(stdout, want) {
			t.Errorf("otel-qrun version = %q, lacks %q", stdout, want)
		}
	}
}

// TestVersionLdflagsWinOverBuildInfo builds the binary the way the release
// does, with -X flags and VCS stamping where a repository is available, and
// checks that the -X values are reported instead of the stamped ones.
func TestVersionLdflagsWinOverBuildInfo(t *testing.T) {
	t.Parallel()
	testenv.Long(t, "builds the binary again, with -ldflags")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const (
		xVersion = "v9.8.7-ldflags"
		xCommit  = "commit-from-ldflags"
		xDate    = "2030-01-02T03:04:05Z"
	)
	bin := filepath.Join(t.TempDir(), "otel-qrun")
	args := []string{"build", "-buildvcs=auto", "-o", bin, "-ldflags",
		"-s -w -X " + ldflagsPackage + ".version=" + xVersion +
			" -X " + ldflagsPackage + ".commit=" + xCommit +
			" -X " + ldflagsPackage + ".date=" + xDate}
	if raceEnabled {
		args = append(args, "-race") // as TestMain's build, whose compiled packages it reuses
	}
	build := exec.Command(goBin, append(args, "..")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("read build info: %v", err)
	}
	var stamped []string // what the fallback would report, if anything
	if v := info.Main.Version; v != "" && v != "(devel)" {
		stamped = append(stamped, v)
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" || s.Key == "vcs.time" {
			stamped = append(stamped, s.Value)
		}
	}
	t.Logf("build info the -X values override: %q", stamped)

	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	got := string(out)
	for _, want := range []string{"otel-qrun " + xVersion + " ", xCommit, xDate, info.GoVersion} {
		if !strings.Contains(got, want) {
			t.Errorf("otel-qrun version = %q, lacks %q", got, want)
		}
	}
	for _, s := range stamped {
		if strings.Contains(got, s) {
			t.Errorf("otel-qrun version = %q reports the build info %q instead of the -X value", got, s)
		}
	}
}
