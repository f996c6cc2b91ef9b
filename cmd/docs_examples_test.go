package cmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
	"github.com/otel-qrun/otel-qrun/scripts/gendocs/docgen"
)

// The documentation's examples are run, so that README.md and the man pages
// cannot drift from the code.
//
// Where examples come from:
//
//   - README.md: every fenced code block. A block whose info string is "sh"
//     is a shell example and runs; "text", "yaml", "json", "toml", "go",
//     "python", "js" and "dockerfile" blocks are not commands and do not run.
//     Any other info string, or none, is an error, so that a new example
//     cannot slip past the test by its language ("bash", "console" or a bare
//     fence).
//   - The man pages, as docgen renders them from the command tree (which
//     TestManPagesFresh keeps equal to man/): every .EX block of every page,
//     that is the cobra Example of every command, docgen.Examples on
//     otel-qrun(1), and the code in cobra's completion pages.
//
// How an example is marked: in README.md, HTML comments on the lines right
// before the fence, one directive each (several may be given):
//
//	<!-- example: norun: REASON -->   not run (installs, Kubernetes, servers...)
//	<!-- example: exit N -->          runs and must exit N instead of 0
//	<!-- example: with-launcher -->   runs while an otel-qrun runs; its pid is in $pid
//	<!-- example: file NAME -->       (on a yaml/json/toml/text block) the block is
//	                                  written to NAME in every example's directory
//
// For docgen.Examples the same directives go in Example.Test. The cobra
// Examples of the commands must all run; the completion pages' code, cobra's
// own instructions for loading completions into a shell, is not run.
//
// How an example runs: with sh -e -x -c, stdin from /dev/null, in a fresh
// directory holding the stand-ins below, the files of "file" directives and
// a link "examples" to the repository's examples/ (so the README's
// "python3 examples/pyworker/worker.py" is the real worker). PATH starts
// with a directory holding:
//
//   - otel-qrun: the binary TestMain built;
//   - go: a stand-in for "go run ." (the same binary), "go run" and
//     "go build -o OUT" of examples/goworker and examples/goworker-tasks
//     (binaries built from the same source); any other go command fails;
//   - celery, gunicorn, rq, python, node, opentelemetry-instrument and
//     otel-cli: a fake that records its argv and environment and behaves as
//     the simplest worker of the mode otel-qrun started it in (exit 0; reply
//     ok to every task on QRUN_RESULT_FD; read the payload of a per-task
//     process); "opentelemetry-instrument CMD" and "otel-cli exec ... -- CMD"
//     run CMD;
//
// and the directory holds the same fake as ./worker, ./job, ./app, ./shard,
// ./step.sh and ./handle-one.sh. python3 is the real one (the README runs
// examples/pyworker); an example that needs it is skipped where it is
// missing. The launcher's telemetry goes to an OTLP receiver in the test
// (per-signal endpoints, which win over an endpoint an example sets),
// Prometheus to a free port. For a with-launcher example, an
// "otel-qrun --workers 2" with sleeping workers runs first; after the
// example it gets SIGTERM and must exit 0, so it must still be running and
// have handled what the example sent it.
//
// An example passes when it exits with the expected status (0 unless
// marked) within exampleTimeout and, when 0 is expected, otel-qrun printed
// no error on stderr ("otel-qrun: ..." other than warnings and export
// failures, or level=ERROR): a pipeline or a loop can hide a failing
// otel-qrun's status, not its message. Every otel-qrun command line in an
// example, in a norun block and in inline code in README.md is also parsed
// against the command tree: an unknown flag or subcommand, a misspelled
// subcommand, a bad flag value or too many arguments fail the test.

// readmePath is the README, relative to this package's directory.
const readmePath = "../README.md"

// exampleTimeout bounds one example, including its launcher fixture.
const exampleTimeout = 60 * time.Second

// standIns are the fake programs put in the example's directory.
var standIns = []string{"worker", "job", "app", "shard", "step.sh", "handle-one.sh"}

// fakeCommands are the fake programs put first in PATH.
var fakeCommands = []string{"celery", "gunicorn", "rq", "python", "node", "opentelemetry-instrument", "otel-cli"}

// realTools are programs that examples run for real: an example that names
// one that this machine lacks is skipped, not failed.
var realTools = []string{"python3"}

// Fenced block languages of README.md that are not commands.
var docLanguages = map[string]bool{
	"text": true, "yaml": true, "json": true, "toml": true,
	"go": true, "python": true, "js": true, "dockerfile": true,
}

// docExample is one example of the documentation.
type docExample struct {
	where string // "README.md:42", "otel-qrun-enqueue.1, example 1"
	code  string
	noRun string // why it is not run; empty: it runs
	exit  int    // the expected exit status
	// launcher: $pid is a running otel-qrun while the example runs.
	launcher bool
}

// docFile is a file that README.md shows and examples use.
type docFile struct{ name, content string }

// applyDirective applies one directive to ex; file directives are handled
// by the caller.
func applyDirective(ex *docExample, d string) error {
	d = strings.TrimSpace(d)
	switch {
	case d == "":
		return nil
	case d == "with-launcher":
		ex.launcher = true
	case strings.HasPrefix(d, "norun:"):
		ex.noRun = strings.TrimSpace(strings.TrimPrefix(d, "norun:"))
		if ex.noRun == "" {
			return errors.New(`"norun:" needs a reason: <!-- example: norun: why it cannot run in a test -->`)
		}
	case strings.HasPrefix(d, "exit "):
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(d, "exit ")))
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("directive %q: want exit N with 0 <= N <= 255", d)
		}
		ex.exit = n
	default:
		return fmt.Errorf("unknown directive %q: want norun: REASON, exit N, with-launcher or file NAME", d)
	}
	return nil
}

var (
	directiveRE = regexp.MustCompile(`^\s*<!--\s*example:\s*(.*?)\s*-->\s*$`)
	fenceRE     = regexp.MustCompile("^( *)(```+|~~~+)[ \t]*([^`]*?)[ \t]*$")
)

// markdownDoc is what the documentation test reads from a markdown file.
type markdownDoc struct {
	examples []docExample
	files    []docFile
	inline   []docExample // code spans that contain otel-qrun, for the static check
	errs     []error
}

// parseMarkdown reads the fenced blocks, their directives and the inline
// code spans of a markdown document named name.
func parseMarkdown(name, src string) markdownDoc {
	var doc markdownDoc
	lines := strings.Split(src, "\n")
	var directives []string
	directiveLine := 0
	var para []string
	paraLine := 0
	flushPara := func() {
		if len(para) > 0 {
			for _, span := range codeSpans(strings.Join(para, " ")) {
				if strings.Contains(span, "otel-qrun") || strings.HasPrefix(span, "go run .") {
					doc.inline = append(doc.inline, docExample{where: fmt.Sprintf("%s:%d", name, paraLine), code: span})
				}
			}
		}
		para = nil
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := directiveRE.FindStringSubmatch(line); m != nil {
			flushPara()
			if len(directives) == 0 {
				directiveLine = i + 1
			}
			directives = append(directives, m[1])
			continue
		}
		m := fenceRE.FindStringSubmatch(line)
		if m == nil {
			if len(directives) > 0 && strings.TrimSpace(line) != "" {
				doc.errs = append(doc.errs, fmt.Errorf("%s:%d: an example directive must come right before a fenced block", name, directiveLine))
				directives = nil
			}
			if strings.TrimSpace(line) == "" {
				flushPara()
			} else {
				if len(para) == 0 {
					paraLine = i + 1
				}
				para = append(para, line)
			}
			continue
		}
		flushPara()
		indent, fence, info := m[1], m[2], m[3]
		start := i + 1
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			if t := strings.TrimLeft(l, " "); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]+" \t") == "" {
				closed = true
				break
			}
			body = append(body, strings.TrimPrefix(l, indent))
		}
		where := fmt.Sprintf("%s:%d", name, start)
		if !closed {
			doc.errs = append(doc.errs, fmt.Errorf("%s: the fenced block is not closed", where))
			break
		}
		code := strings.Join(body, "\n")
		doc.addBlock(where, strings.Fields(info), code, directives)
		directives = nil
	}
	flushPara()
	if len(directives) > 0 {
		doc.errs = append(doc.errs, fmt.Errorf("%s:%d: an example directive must come right before a fenced block", name, directiveLine))
	}
	return doc
}

// addBlock classifies one fenced block.
func (doc *markdownDoc) addBlock(where string, info []string, code string, directives []string) {
	lang := ""
	if len(info) > 0 {
		lang = info[0]
	}
	switch {
	case lang == "sh":
		ex := docExample{where: where, code: code}
		for _, d := range directives {
			if strings.HasPrefix(strings.TrimSpace(d), "file ") {
				doc.errs = append(doc.errs, fmt.Errorf("%s: a file directive belongs on a yaml, json, toml or text block", where))
				continue
			}
			if err := applyDirective(&ex, d); err != nil {
				doc.errs = append(doc.errs, fmt.Errorf("%s: %w", where, err))
			}
		}
		doc.examples = append(doc.examples, ex)
	case docLanguages[lang]:
		for _, d := range directives {
			name, ok := strings.CutPrefix(strings.TrimSpace(d), "file ")
			name = strings.TrimSpace(name)
			if !ok || name == "" || strings.ContainsAny(name, `/\`) || name == "examples" || slices.Contains(standIns, name) {
				doc.errs = append(doc.errs, fmt.Errorf("%s: a %s block takes only <!-- example: file NAME --> (a plain file name), not %q", where, lang, d))
				continue
			}
			doc.files = append(doc.files, docFile{name: name, content: code + "\n"})
		}
	case lang == "":
		doc.errs = append(doc.errs, fmt.Errorf("%s: a fenced block needs a language: sh for a command that the test runs (or marks norun), text for output or a synopsis", where))
	default:
		doc.errs = append(doc.errs, fmt.Errorf("%s: fenced block language %q: use sh for shell commands (they are run; mark one that cannot run with <!-- example: norun: REASON -->), or one of %s", where, lang, strings.Join(sortedKeys(docLanguages), ", ")))
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// codeSpans returns the contents of the inline code spans of a paragraph.
func codeSpans(s string) []string {
	var spans []string
	for i := 0; i < len(s); {
		if s[i] == '\\' {
			i += 2
			continue
		}
		if s[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(s) && s[i+n] == '`' {
			n++
		}
		open := i + n
		closeAt := -1
		for j := open; j < len(s); {
			if s[j] != '`' {
				j++
				continue
			}
			k := 0
			for j+k < len(s) && s[j+k] == '`' {
				k++
			}
			if k == n {
				closeAt = j
				break
			}
			j += k
		}
		if closeAt < 0 {
			i = open
			continue
		}
		spans = append(spans, strings.TrimSpace(s[open:closeAt]))
		i = closeAt + n
	}
	return spans
}

// manExamples returns the code blocks of the man pages docgen renders from
// the command tree, with the directives of docgen.Examples.
func manExamples() ([]docExample, error) {
	pages, err := docgen.ManPages(Command(), time.Unix(docgen.DefaultEpoch, 0).UTC())
	if err != nil {
		return nil, err
	}
	tests := make(map[string]string)
	for _, e := range docgen.Examples() {
		tests[strings.TrimSpace(e.Code)] = e.Test
	}
	var out []docExample
	for _, p := range pages {
		n := 0
		var block []string
		in := false
		for _, line := range strings.Split(string(p.Content), "\n") {
			switch {
			case line == ".EX":
				in, block = true, nil
			case line == ".EE" && in:
				in = false
				n++
				code, err := unroff(dedent(block))
				if err != nil {
					return nil, fmt.Errorf("%s, example %d: %w", p.Name, n, err)
				}
				ex := docExample{where: fmt.Sprintf("%s, example %d", p.Name, n), code: code}
				if strings.HasPrefix(p.Name, "otel-qrun-completion") {
					ex.noRun = "cobra's instructions for loading completions into a shell"
				} else if err := applyDirective(&ex, tests[strings.TrimSpace(code)]); err != nil {
					return nil, fmt.Errorf("%s: docgen.Examples: %w", ex.where, err)
				}
				out = append(out, ex)
			case in:
				block = append(block, line)
			}
		}
	}
	return out, nil
}

// dedent removes the indentation that all non-blank lines share.
func dedent(lines []string) string {
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			l = l[common:]
		}
		out[i] = l
	}
	return strings.Join(out, "\n")
}

// roffEscapes are the escapes go-md2man writes in code blocks.
var roffEscapes = map[string]string{
	`\-`: "-", `\\`: `\`, `\e`: `\`, `\&`: "", `\(aq`: "'", `\(dq`: `"`,
	`\(ga`: "`", `\(ti`: "~", `\(ha`: "^", `\(rs`: `\`,
}

// unroff turns the text of a roff code block back into what a reader
// types. An escape it does not know is an error, so that a change of the
// renderer cannot make the test run something else than the page shows.
func unroff(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		found := false
		for esc, repl := range roffEscapes {
			if strings.HasPrefix(s[i:], esc) {
				b.WriteString(repl)
				i += len(esc) - 1
				found = true
				break
			}
		}
		if !found {
			end := min(i+4, len(s))
			return "", fmt.Errorf("unknown roff escape %q in a code block: teach unroff it", s[i:end])
		}
	}
	return b.String(), nil
}

// readReadme parses README.md.
func readReadme(t *testing.T) markdownDoc {
	t.Helper()
	src, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	return parseMarkdown("README.md", string(src))
}

// TestDocExamples runs every example of README.md and of the man pages;
// see the comment at the top of this file.
func TestDocExamples(t *testing.T) {
	t.Parallel()
	doc := readReadme(t)
	for _, err := range doc.errs {
		t.Error(err)
	}
	man, err := manExamples()
	if err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(doc.examples), man...)
	if len(doc.examples) == 0 || len(man) == 0 {
		t.Fatalf("found %d README examples and %d man page examples: the extraction is broken", len(doc.examples), len(man))
	}
	receiver := otlptest.NewHTTP(t)
	sb := newSandbox(t, doc.files, receiver)

	var ran, notRun atomic.Int32
	t.Run("example", func(t *testing.T) {
		for _, ex := range all {
			t.Run(ex.where, func(t *testing.T) {
				t.Parallel()
				if err := checkCommandLines(ex.code); err != nil {
					t.Errorf("%s: %v\n--- example:\n%s", ex.where, err, ex.code)
				}
				if ex.noRun != "" {
					notRun.Add(1)
					t.Skipf("not run: %s", ex.noRun)
				}
				for _, tool := range realTools {
					if regexp.MustCompile(`\b` + regexp.QuoteMeta(tool) + `\b`).MatchString(ex.code) {
						if _, err := exec.LookPath(tool); err != nil {
							notRun.Add(1)
							t.Skipf("not run: needs %s, which is not installed", tool)
						}
					}
				}
				ran.Add(1)
				if err := sb.run(t, ex); err != nil {
					t.Errorf("%s: %v", ex.where, err)
				}
			})
		}
	})
	t.Logf("%d examples (%d in README.md, %d in the man pages): %d ran, %d not run",
		len(all), len(doc.examples), len(man), ran.Load(), notRun.Load())
	if ran.Load() > 0 && !t.Failed() && len(receiver.Spans()) == 0 {
		t.Error("the examples ran, but no span reached the test's OTLP receiver")
	}
}

// TestDocInlineCommands checks the otel-qrun command lines in the inline
// code of README.md (`otel-qrun config`, `--workers 4` is not one) against
// the command tree. They are not run: they are often fragments.
func TestDocInlineCommands(t *testing.T) {
	t.Parallel()
	doc := readReadme(t)
	if len(doc.inline) == 0 {
		t.Fatal("no inline otel-qrun command in README.md: the extraction is broken")
	}
	for _, ex := range doc.inline {
		if err := checkCommandLines(ex.code); err != nil {
			t.Errorf("%s: `%s`: %v", ex.where, ex.code, err)
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
		ex   docExample
		want string
	}{
		{"unknown flag in a pipeline", docExample{code: `seq 2 | otel-qrun --per-task --tasks - --frob -- ./handle-one.sh | cat`}, "unknown flag"},
		{"unknown command", docExample{code: `otel-qrun frobnicate`}, "exit status 127"},
		{"wrong exit status", docExample{code: `printf 'fail\n' | otel-qrun --tasks - --per-task -- sh examples/shworker/task.sh`}, "exit status 1, want 0"},
		{"go command the stand-in lacks", docExample{code: `go vet ./...`}, "exit status 97"},
		{"bad flag value checked at run time", docExample{code: `otel-qrun carrier --format yaml`}, "invalid value"},
		{"launcher fixture killed", docExample{code: `kill -KILL "$pid"`, launcher: true}, "the running otel-qrun"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.ex.where = tc.name
			err := sb.run(t, tc.ex)
			if err == nil {
				t.Fatalf("the example passed:\n%s", tc.ex.code)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error does not say %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestParseMarkdown checks how README.md's blocks and directives are read.
func TestParseMarkdown(t *testing.T) {
	t.Parallel()
	src := strings.Join([]string{
		"Run `otel-qrun --workers 2 -- ./worker`, or",
		"`otel-qrun config`.",
		"",
		"```sh",
		"otel-qrun version",
		"```",
		"",
		"<!-- example: exit 3 -->",
		"<!-- example: with-launcher -->",
		"```sh",
		"kill -TTIN \"$pid\"",
		"```",
		"",
		"- in a list:",
		"",
		"  <!-- example: norun: installs -->",
		"  ```sh",
		"  go install example.com/x@latest",
		"  ```",
		"",
		"<!-- example: file qrun.yaml -->",
		"```yaml",
		"workers: 2",
		"```",
		"",
		"```text",
		"otel-qrun [flags]",
		"```",
	}, "\n")
	doc := parseMarkdown("x.md", src)
	if len(doc.errs) > 0 {
		t.Fatalf("errors: %v", doc.errs)
	}
	want := []docExample{
		{where: "x.md:4", code: "otel-qrun version"},
		{where: "x.md:10", code: `kill -TTIN "$pid"`, exit: 3, launcher: true},
		{where: "x.md:17", code: "go install example.com/x@latest", noRun: "installs"},
	}
	if !slices.Equal(doc.examples, want) {
		t.Errorf("examples:\n got %+v\nwant %+v", doc.examples, want)
	}
	if len(doc.files) != 1 || doc.files[0] != (docFile{"qrun.yaml", "workers: 2\n"}) {
		t.Errorf("files: %+v", doc.files)
	}
	if len(doc.inline) != 2 || doc.inline[0].code != "otel-qrun --workers 2 -- ./worker" || doc.inline[1].code != "otel-qrun config" {
		t.Errorf("inline: %+v", doc.inline)
	}

	for _, bad := range []string{
		"```\nls\n```",                                     // no language
		"```bash\nls\n```",                                 // not sh
		"```console\n$ ls\n```",                            // not sh
		"<!-- example: norun: -->\n```sh\nls\n```",         // no reason
		"<!-- example: sometimes -->\n```sh\nls\n```",      // unknown directive
		"<!-- example: exit 3 -->\n\ntext\n```sh\nls\n```", // directive not before the block
		"<!-- example: file a/b -->\n```yaml\nx: 1\n```",   // a path
		"<!-- example: file x.yaml -->\n```sh\nls\n```",    // file on a command
		"```sh\nls", // not closed
		"```sh\nls\n```\n<!-- example: norun: dangling -->", // directive at the end
	} {
		if doc := parseMarkdown("bad.md", bad); len(doc.errs) == 0 {
			t.Errorf("no error for:\n%s", bad)
		}
	}
}

// TestUnroff checks the roff unescaping of man page code blocks.
func TestUnroff(t *testing.T) {
	t.Parallel()
	got, err := unroff(`otel\-qrun \-\-workers 2 \(aqx\(aq \\n\&`)
	if want := `otel-qrun --workers 2 'x' \n`; err != nil || got != want {
		t.Errorf("unroff = %q, %v; want %q", got, err, want)
	}
	if _, err := unroff(`\fBbold\fP`); err == nil {
		t.Error("unroff accepts an unknown escape")
	}
}
