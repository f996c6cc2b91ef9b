package doctest

import (
	"fmt"
	"strings"

	"github.com/otel-qrun/otel-qrun/scripts/gendocs/docgen"
)

// ManExamples returns the code blocks (.EX to .EE) of the man pages
// docgen renders from the command tree, unescaped with Unroff and with the
// directives of docgen.Examples. The code of cobra's completion pages
// (otel-qrun-completion*) is marked norun. An unknown roff escape or a bad
// directive is an error.
func ManExamples(pages []docgen.Page) ([]Example, error) {
	tests := make(map[string]string)
	for _, e := range docgen.Examples() {
		tests[strings.TrimSpace(e.Code)] = e.Test
	}
	var out []Example
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
				code, err := Unroff(dedent(block))
				if err != nil {
					return nil, fmt.Errorf("%s, example %d: %w", p.Name, n, err)
				}
				ex := Example{Where: fmt.Sprintf("%s, example %d", p.Name, n), Code: code}
				if strings.HasPrefix(p.Name, "otel-qrun-completion") {
					ex.NoRun = "cobra's instructions for loading completions into a shell"
				} else if err := applyDirective(&ex, tests[strings.TrimSpace(code)]); err != nil {
					return nil, fmt.Errorf("%s: docgen.Examples: %w", ex.Where, err)
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

// Unroff turns the text of a roff code block back into what a reader
// types. An escape it does not know is an error, so that a change of the
// renderer cannot make the test run something else than the page shows.
func Unroff(s string) (string, error) {
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
			return "", fmt.Errorf("unknown roff escape %q in a code block: teach Unroff it", s[i:end])
		}
	}
	return b.String(), nil
}
