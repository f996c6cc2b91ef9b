package doctest

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// standIns are the fake programs put in the example's directory.
var standIns = []string{"worker", "job", "app", "shard", "step.sh", "handle-one.sh"}

// fakeCommands are the fake programs put first in PATH.
var fakeCommands = []string{"celery", "gunicorn", "rq", "python", "node", "opentelemetry-instrument", "otel-cli"}

// realTools are programs that examples run for real: an example that names
// one that this machine lacks is skipped, not failed.
var realTools = []string{"python3"}

// languages are the fenced block languages of README.md that are not
// commands.
var languages = map[string]bool{
	"text": true, "yaml": true, "json": true, "toml": true,
	"go": true, "python": true, "js": true, "dockerfile": true,
}

// Example is one example of the documentation.
type Example struct {
	// Where names it in messages: "README.md:42" (the line after the
	// fence), "otel-qrun-enqueue.1, example 1".
	Where string
	// Code is the shell snippet, without the fence and its indentation.
	Code string
	// NoRun is why it is not run (<!-- example: norun: REASON -->); empty:
	// it runs.
	NoRun string
	// Exit is the exit status it must end with (<!-- example: exit N -->).
	Exit int
	// WithLauncher: $pid is a running otel-qrun while the example runs
	// (<!-- example: with-launcher -->).
	WithLauncher bool
}

// File is a file that README.md shows and examples use
// (<!-- example: file NAME -->): it is written to Name in the directory of
// every example.
type File struct{ Name, Content string }

// applyDirective applies one directive to ex; file directives are handled
// by the caller.
func applyDirective(ex *Example, d string) error {
	d = strings.TrimSpace(d)
	switch {
	case d == "":
		return nil
	case d == "with-launcher":
		ex.WithLauncher = true
	case strings.HasPrefix(d, "norun:"):
		ex.NoRun = strings.TrimSpace(strings.TrimPrefix(d, "norun:"))
		if ex.NoRun == "" {
			return errors.New(`"norun:" needs a reason: <!-- example: norun: why it cannot run in a test -->`)
		}
	case strings.HasPrefix(d, "exit "):
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(d, "exit ")))
		if err != nil || n < 0 || n > 255 {
			return fmt.Errorf("directive %q: want exit N with 0 <= N <= 255", d)
		}
		ex.Exit = n
	default:
		return fmt.Errorf("unknown directive %q: want norun: REASON, exit N, with-launcher or file NAME", d)
	}
	return nil
}

var (
	directiveRE = regexp.MustCompile(`^\s*<!--\s*example:\s*(.*?)\s*-->\s*$`)
	fenceRE     = regexp.MustCompile("^( *)(```+|~~~+)[ \t]*([^`]*?)[ \t]*$")
)

// Doc is what the documentation test reads from a markdown file.
type Doc struct {
	// Examples are the fenced sh blocks, in order, with their directives.
	Examples []Example
	// Files are the blocks marked <!-- example: file NAME -->.
	Files []File
	// Inline are the code spans that contain otel-qrun or "go run .", for
	// the static check; they are fragments and never run.
	Inline []Example
	// Errs are the mistakes of the document's markup: a block without a
	// language or with an unknown one, a misplaced or unknown directive, an
	// unclosed fence. A test reports each one.
	Errs []error
}

// ParseMarkdown reads the fenced blocks, their directives and the inline
// code spans of a markdown document named name.
func ParseMarkdown(name, src string) Doc {
	var doc Doc
	lines := strings.Split(src, "\n")
	var directives []string
	directiveLine := 0
	var para []string
	paraLine := 0
	flushPara := func() {
		if len(para) > 0 {
			for _, span := range codeSpans(strings.Join(para, " ")) {
				if strings.Contains(span, "otel-qrun") || strings.HasPrefix(span, "go run .") {
					doc.Inline = append(doc.Inline, Example{Where: fmt.Sprintf("%s:%d", name, paraLine), Code: span})
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
				doc.Errs = append(doc.Errs, fmt.Errorf("%s:%d: an example directive must come right before a fenced block", name, directiveLine))
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
			doc.Errs = append(doc.Errs, fmt.Errorf("%s: the fenced block is not closed", where))
			break
		}
		code := strings.Join(body, "\n")
		doc.addBlock(where, strings.Fields(info), code, directives)
		directives = nil
	}
	flushPara()
	if len(directives) > 0 {
		doc.Errs = append(doc.Errs, fmt.Errorf("%s:%d: an example directive must come right before a fenced block", name, directiveLine))
	}
	return doc
}

// addBlock classifies one fenced block.
func (doc *Doc) addBlock(where string, info []string, code string, directives []string) {
	lang := ""
	if len(info) > 0 {
		lang = info[0]
	}
	switch {
	case lang == "sh":
		ex := Example{Where: where, Code: code}
		for _, d := range directives {
			if strings.HasPrefix(strings.TrimSpace(d), "file ") {
				doc.Errs = append(doc.Errs, fmt.Errorf("%s: a file directive belongs on a yaml, json, toml or text block", where))
				continue
			}
			if err := applyDirective(&ex, d); err != nil {
				doc.Errs = append(doc.Errs, fmt.Errorf("%s: %w", where, err))
			}
		}
		doc.Examples = append(doc.Examples, ex)
	case languages[lang]:
		for _, d := range directives {
			name, ok := strings.CutPrefix(strings.TrimSpace(d), "file ")
			name = strings.TrimSpace(name)
			if !ok || name == "" || strings.ContainsAny(name, `/\`) || name == "examples" || slices.Contains(standIns, name) {
				doc.Errs = append(doc.Errs, fmt.Errorf("%s: a %s block takes only <!-- example: file NAME --> (a plain file name), not %q", where, lang, d))
				continue
			}
			doc.Files = append(doc.Files, File{Name: name, Content: code + "\n"})
		}
	case lang == "":
		doc.Errs = append(doc.Errs, fmt.Errorf("%s: a fenced block needs a language: sh for a command that the test runs (or marks norun), text for output or a synopsis", where))
	default:
		doc.Errs = append(doc.Errs, fmt.Errorf("%s: fenced block language %q: use sh for shell commands (they are run; mark one that cannot run with <!-- example: norun: REASON -->), or one of %s", where, lang, strings.Join(sortedKeys(languages), ", ")))
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
