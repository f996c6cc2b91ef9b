package cmd

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/doctest"
	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/scripts/gendocs/docgen"
)

// The documentation's examples are run, so that README.md and the man pages
// cannot drift from the code. internal/doctest reads them, checks their
// command lines and runs them (its package comment says how); this package
// gives it the command tree (checkInvocation), the binaries TestMain built
// and the OTLP receiver.

// readmePath is the README, relative to this package's directory.
const readmePath = "../README.md"

// readReadme parses README.md.
func readReadme(t *testing.T) doctest.Doc {
	t.Helper()
	src, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	return doctest.ParseMarkdown("README.md", string(src))
}

// manExamples returns the code blocks of the man pages docgen renders from
// the command tree.
func manExamples() ([]doctest.Example, error) {
	pages, err := docgen.ManPages(Command(), time.Unix(docgen.DefaultEpoch, 0).UTC())
	if err != nil {
		return nil, err
	}
	return doctest.ManExamples(pages)
}

// newSandbox returns the sandbox of the documentation's examples, with the
// binaries TestMain built and the files README.md shows.
func newSandbox(t *testing.T, files []doctest.File, receiver *otlptest.Receiver) *doctest.Sandbox {
	t.Helper()
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	return doctest.NewSandbox(t, doctest.Config{
		Qrun:     qrunBin,
		Built:    exampleBin,
		Examples: examples,
		Files:    files,
		Env:      receiver.Env(),
	})
}

// checkCommandLines checks every otel-qrun command line of a snippet
// against the command tree.
func checkCommandLines(snippet string) error {
	return doctest.CheckCommandLines(snippet, checkInvocation)
}

// TestDocExamples runs every example of README.md and of the man pages;
// see internal/doctest.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	doc := readReadme(t)
	for _, err := range doc.Errs {
		t.Error(err)
	}
	man, err := manExamples()
	if err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(doc.Examples), man...)
	if len(doc.Examples) == 0 || len(man) == 0 {
		t.Fatalf("found %d README examples and %d man page examples: the extraction is broken", len(doc.Examples), len(man))
	}
	receiver := otlptest.NewHTTP(t)
	sb := newSandbox(t, doc.Files, receiver)
	ran, notRun := doctest.RunExamples(t, sb, all, checkInvocation)
	t.Logf("%d examples (%d in README.md, %d in the man pages): %d ran, %d not run",
		len(all), len(doc.Examples), len(man), ran, notRun)
	if ran > 0 && !t.Failed() && len(receiver.Spans()) == 0 {
		t.Error("the examples ran, but no span reached the test's OTLP receiver")
	}
}

// TestDocInlineCommands checks the otel-qrun command lines in the inline
// code of README.md (`otel-qrun config`, `--workers 4` is not one) against
// the command tree. They are not run: they are often fragments.
func TestDocInlineCommands(t *testing.T) {
	t.Parallel()
	doc := readReadme(t)
	if len(doc.Inline) == 0 {
		t.Fatal("no inline otel-qrun command in README.md: the extraction is broken")
	}
	for _, ex := range doc.Inline {
		if err := checkCommandLines(ex.Code); err != nil {
			t.Errorf("%s: `%s`: %v", ex.Where, ex.Code, err)
		}
	}
}

// TestDocExampleCheckCatchesDrift feeds the documentation test examples
// that must fail, so that it cannot pass by accident.
func TestDocExampleCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	for _, snippet := range []string{
		`otel-qrun --no-such-flag -- ./worker`,
		`otel-qrun --workers four -- ./worker`,
		`otel-qrun --restart sometimes -- ./worker`,
		`seq 3 | otel-qrun --tasks - --per-task --bogus -- ./handle-one.sh`,
		`eval "$(otel-qrun carrier --no-such-flag)"`,
		`otel-qrun carier --format json`,
		`otel-qrun enqueue a b`,
		`otel-qrun completion tcsh`,
		`go run . --worker 2 -- sh -c true`,
		`otel-qrun --workers 2 -- sh -c 'otel-qrun carrier --span x --format yaml --bad'`,
	} {
		if err := checkCommandLines(snippet); err == nil {
			t.Errorf("the static check accepts %q", snippet)
		}
	}
	for _, snippet := range []string{
		`otel-qrun --workers 4 -- celery -A proj worker --pool=solo`,
		`OTEL_TRACES_EXPORTER=console otel-qrun --workers 2 -- sh -c 'echo "$QRUN_WORKER_INDEX $TRACEPARENT"'`,
		`for n in 1 2 3; do otel-qrun enqueue "$n"; done | otel-qrun --tasks - -- ./worker`,
		`source <(otel-qrun completion bash)`,
		`otel-qrun -- config --workers 3`,
		`otel-qrun --help`,
		`otel-qrun --version`,
		`otel-qrun enqueue --help`,
		"otel-qrun --subreaper --stop-grace 1m30s \\\n  -- python manage.py qcluster 2>&1 >>log",
	} {
		if err := checkCommandLines(snippet); err != nil {
			t.Errorf("the static check rejects %q: %v", snippet, err)
		}
	}

	receiver := otlptest.NewHTTP(t)
	sb := newSandbox(t, nil, receiver)
	for _, tc := range []struct {
		name string
		ex   doctest.Example
		want string
	}{
		{"unknown flag in a pipeline", doctest.Example{Code: `seq 2 | otel-qrun --per-task --tasks - --frob -- ./handle-one.sh | cat`}, "unknown flag"},
		{"unknown command", doctest.Example{Code: `otel-qrun frobnicate`}, "exit status 127"},
		{"wrong exit status", doctest.Example{Code: `printf 'fail\n' | otel-qrun --tasks - --per-task -- sh examples/shworker/task.sh`}, "exit status 1, want 0"},
		{"go command the stand-in lacks", doctest.Example{Code: `go vet ./...`}, "exit status 97"},
		{"bad flag value checked at run time", doctest.Example{Code: `otel-qrun carrier --format yaml`}, "invalid value"},
		{"launcher fixture killed", doctest.Example{Code: `kill -KILL "$pid"`, WithLauncher: true}, "the running otel-qrun"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.ex.Where = tc.name
			err := sb.Run(t, tc.ex)
			if err == nil {
				t.Fatalf("the example passed:\n%s", tc.ex.Code)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}
