package propagate

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// FormatShell returns the carrier of ctx in otel-cli's shell format: when ctx
// has a valid span context, the two otel-cli comment lines with its trace
// and span ids; then one "export NAME=value" line per variable p injects:
// TRACEPARENT, TRACESTATE and BAGGAGE first, then the others sorted by name.
// Names are normalized and values are single-quoted only when they need it.
// A value holding a NUL byte, which no environment can carry, is left out.
func FormatShell(ctx context.Context, p propagation.TextMapPropagator) string {
	var b strings.Builder
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		fmt.Fprintf(&b, "# trace id: %s\n#  span id: %s\n", sc.TraceID(), sc.SpanID())
	}
	for _, v := range injectVars(ctx, p) {
		if strings.IndexByte(v.value, 0) >= 0 {
			continue
		}
		writeExport(&b, v.name, v.value)
	}
	return b.String()
}

// WriteShell writes vars to w as "export NAME=value" lines in the format of
// FormatShell (without the comment lines): TRACEPARENT, TRACESTATE and
// BAGGAGE first, then the other names sorted. Values are single-quoted only
// when they need it. A name that is not a valid shell variable name, or a
// value holding a NUL byte, is an error and nothing is written.
func WriteShell(w io.Writer, vars map[string]string) error {
	names := slices.SortedFunc(maps.Keys(vars), compareVars)
	var b strings.Builder
	for _, name := range names {
		value := vars[name]
		if !isShellName(name) {
			return fmt.Errorf("write shell carrier: invalid variable name %q", truncate(name, maxQuoted))
		}
		if strings.IndexByte(value, 0) >= 0 {
			return fmt.Errorf("write shell carrier: value of %s holds a NUL byte", name)
		}
		writeExport(&b, name, value)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write shell carrier: %w", err)
	}
	return nil
}

func writeExport(b *strings.Builder, name, value string) {
	b.WriteString("export ")
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(shellQuote(value))
	b.WriteByte('\n')
}

// shellQuote returns s unchanged when every byte of it is safe unquoted in a
// shell assignment, else s in single quotes, each ' written as '\”.
func shellQuote(s string) string {
	safe := true
	for i := 0; i < len(s); i++ {
		if !isSafeByte(s[i]) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func isSafeByte(c byte) bool {
	if isNameByte(c) {
		return true
	}
	switch c {
	case '@', '%', '+', '=', ':', ',', '.', '/', '-':
		return true
	}
	return false
}

// ParseShell reads a shell carrier: the files otel-cli writes with
// --tp-carrier and --tp-export, and the output of FormatShell and WriteShell.
//
// Each statement is NAME=VALUE or export NAME=VALUE. Blank lines and
// comments are skipped, and a comment may follow a value. A value is a
// sequence of plain characters, backslash escapes, '...' and "..." strings
// (quoted strings may span lines); it is taken literally, as `source` would
// take it. Parameter expansion ($), command substitution (` and $(...)),
// tilde expansion, operators (; & | < > ( )), several assignments in one
// statement and NUL bytes are not supported and are errors, as are a
// missing '=', an invalid name and an unterminated quote; each error names
// its line number. A carriage return outside quotes counts as a blank, so
// files with CRLF line ends are read.
//
// The result maps each variable name, as written, to its value; when a name
// is assigned twice the last value wins. Names are what the shell would
// set: a lower-case name such as "traceparent" is kept as it is and is not a
// carrier field.
func ParseShell(r io.Reader) (map[string]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read shell carrier: %w", err)
	}
	sp := shellParser{s: string(data), line: 1}
	vars := make(map[string]string)
	for {
		name, value, ok, err := sp.statement()
		if err != nil {
			return nil, fmt.Errorf("parse shell carrier: %w", err)
		}
		if !ok {
			return vars, nil
		}
		vars[name] = value
	}
}

// ExtractShell parses a shell carrier from r with ParseShell and returns ctx
// updated with the trace context p extracts from its variables, with the
// rules of ExtractEnv (names are read in normalized form only). A parse
// error is returned with ctx unchanged.
func ExtractShell(ctx context.Context, p propagation.TextMapPropagator, r io.Reader) (context.Context, error) {
	vars, err := ParseShell(r)
	if err != nil {
		return ctx, err
	}
	env := make([]string, 0, len(vars))
	for name, value := range vars {
		env = append(env, name+"="+value)
	}
	return extract(ctx, p, newEnvCarrierOwned(env), normalizeKey)
}

// shellParser reads statements from s, counting lines from 1.
type shellParser struct {
	s    string
	pos  int
	line int
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func (sp *shellParser) skipBlanks() {
	for sp.pos < len(sp.s) && isBlank(sp.s[sp.pos]) {
		sp.pos++
	}
}

func (sp *shellParser) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{line}, args...)...)
}

// statement reads the next assignment. ok is false at the end of the input.
func (sp *shellParser) statement() (name, value string, ok bool, err error) {
	// Skip blank lines and comments.
	for {
		sp.skipBlanks()
		if sp.pos >= len(sp.s) {
			return "", "", false, nil
		}
		switch sp.s[sp.pos] {
		case '\n':
			sp.pos++
			sp.line++
			continue
		case '#':
			sp.skipComment()
			continue
		}
		break
	}
	line := sp.line
	if rest := sp.s[sp.pos:]; strings.HasPrefix(rest, "export") {
		if len(rest) == len("export") || rest[len("export")] == '\n' || rest[len("export")] == '#' {
			return "", "", false, sp.errorf(line, "export without NAME=VALUE")
		}
		if isBlank(rest[len("export")]) {
			sp.pos += len("export")
			sp.skipBlanks()
			if sp.pos >= len(sp.s) || sp.s[sp.pos] == '\n' || sp.s[sp.pos] == '#' {
				return "", "", false, sp.errorf(line, "export without NAME=VALUE")
			}
		}
	}
	start := sp.pos
	for sp.pos < len(sp.s) && !isBlank(sp.s[sp.pos]) && sp.s[sp.pos] != '\n' && sp.s[sp.pos] != '=' {
		sp.pos++
	}
	name = sp.s[start:sp.pos]
	if sp.pos >= len(sp.s) || sp.s[sp.pos] != '=' {
		return "", "", false, sp.errorf(line, "missing '=' after %q", truncate(name, maxQuoted))
	}
	if !isShellName(name) {
		return "", "", false, sp.errorf(line, "invalid variable name %q", truncate(name, maxQuoted))
	}
	sp.pos++ // '='
	value, err = sp.value()
	if err != nil {
		return "", "", false, err
	}
	// Only blanks and a comment may follow the value on its last line.
	sp.skipBlanks()
	if sp.pos < len(sp.s) {
		switch c := sp.s[sp.pos]; c {
		case '\n':
		case '#':
			sp.skipComment()
		default:
			return "", "", false, sp.errorf(sp.line, "unexpected %q after the value of %s", c, name)
		}
	}
	return name, value, true, nil
}

func (sp *shellParser) skipComment() {
	for sp.pos < len(sp.s) && sp.s[sp.pos] != '\n' {
		sp.pos++
	}
}

// value reads the word after '=', up to an unquoted blank or newline.
func (sp *shellParser) value() (string, error) {
	var b strings.Builder
	wordStart := true // a '~' here would be tilde-expanded
	for sp.pos < len(sp.s) {
		c := sp.s[sp.pos]
		switch {
		case isBlank(c) || c == '\n':
			return b.String(), nil
		case c == 0:
			return "", sp.errorf(sp.line, "NUL byte")
		case c == '\'':
			line := sp.line
			end := strings.IndexByte(sp.s[sp.pos+1:], '\'')
			if end < 0 {
				return "", sp.errorf(line, "unterminated single quote")
			}
			quoted := sp.s[sp.pos+1 : sp.pos+1+end]
			if strings.IndexByte(quoted, 0) >= 0 {
				return "", sp.errorf(line, "NUL byte")
			}
			b.WriteString(quoted)
			sp.line += strings.Count(quoted, "\n")
			sp.pos += end + 2
		case c == '"':
			if err := sp.doubleQuoted(&b); err != nil {
				return "", err
			}
		case c == '\\':
			if sp.pos+1 >= len(sp.s) {
				return "", sp.errorf(sp.line, "backslash at end of input")
			}
			next := sp.s[sp.pos+1]
			sp.pos += 2
			switch next {
			case '\n': // line continuation
				sp.line++
			case 0:
				return "", sp.errorf(sp.line, "NUL byte")
			default:
				b.WriteByte(next)
			}
		case c == '$' || c == '`':
			return "", sp.errorf(sp.line, "unsupported expansion %q", c)
		case c == '~' && wordStart:
			return "", sp.errorf(sp.line, "unsupported tilde expansion")
		case strings.IndexByte(";&|<>()", c) >= 0:
			return "", sp.errorf(sp.line, "unsupported shell operator %q", c)
		default:
			b.WriteByte(c)
			sp.pos++
		}
		// In an assignment, the shell expands '~' at the start of the value
		// and after each unquoted ':'.
		wordStart = c == ':'
	}
	return b.String(), nil
}

// doubleQuoted reads a "..." string at sp.pos into b. Inside, a backslash
// escapes $ ` " \ and newline (a line continuation) and is literal before
// anything else; an unescaped $ or ` would expand and is an error.
func (sp *shellParser) doubleQuoted(b *strings.Builder) error {
	line := sp.line
	sp.pos++ // opening quote
	for sp.pos < len(sp.s) {
		c := sp.s[sp.pos]
		switch c {
		case '"':
			sp.pos++
			return nil
		case 0:
			return sp.errorf(sp.line, "NUL byte")
		case '$', '`':
			return sp.errorf(sp.line, "unsupported expansion %q in double quotes", c)
		case '\n':
			sp.line++
			b.WriteByte(c)
			sp.pos++
		case '\\':
			if sp.pos+1 >= len(sp.s) {
				return sp.errorf(line, "unterminated double quote")
			}
			next := sp.s[sp.pos+1]
			sp.pos += 2
			switch next {
			case '$', '`', '"', '\\':
				b.WriteByte(next)
			case '\n':
				sp.line++
			case 0:
				return sp.errorf(sp.line, "NUL byte")
			default:
				b.WriteByte('\\')
				b.WriteByte(next)
			}
		default:
			b.WriteByte(c)
			sp.pos++
		}
	}
	return sp.errorf(line, "unterminated double quote")
}

// ShellQuote returns s as one word of a POSIX shell: unchanged when every
// byte of it is safe unquoted (letters, digits and _ @ % + = : , . / -),
// else in single quotes, a quote within written as the four bytes quote,
// backslash, quote, quote; the empty string is two quotes.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	return shellQuote(s)
}
