package instrument

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode"
)

// prepareJava checks that the agent jar is a file.
func (p *Plan) prepareJava(cfg Config) error {
	if cfg.JavaAgent == "" {
		return fmt.Errorf("%w: no Java agent: give the path of opentelemetry-javaagent.jar with javaagent (--javaagent PATH), from %s",
			ErrUnavailable, JavaAgentURL)
	}
	agent := p.abs(cfg.JavaAgent)
	st, err := os.Stat(agent)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: Java agent %s: no such file (download opentelemetry-javaagent.jar from %s)",
			ErrUnavailable, agent, JavaAgentURL)
	case err != nil:
		return fmt.Errorf("%w: Java agent: %w", ErrUnavailable, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w: Java agent %s: not a regular file", ErrUnavailable, agent)
	}
	p.javaAgent = agent
	if why := p.javaBootstrapped(cfg.Argv, cfg.Environ); why != "" {
		p.note("java: already bootstrapped (%s): not added again", why)
		return nil
	}
	p.note("java: JAVA_TOOL_OPTIONS += %s", javaAgentOption(agent))
	return nil
}

// applyJava appends -javaagent:PATH to JAVA_TOOL_OPTIONS, which every JVM
// reads, unless the worker already loads that agent.
func (p *Plan) applyJava(argv, env []string) []string {
	if p.javaBootstrapped(argv, env) != "" {
		return env
	}
	return withEnv(env, envJavaToolOptions, appendOption(getenv(env, envJavaToolOptions), javaAgentOption(p.javaAgent)))
}

// javaBootstrapped says where the plan's agent is already loaded from:
// JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS or the command line. "" means nowhere.
func (p *Plan) javaBootstrapped(argv, env []string) string {
	has := func(opts []string) bool {
		for _, o := range opts {
			jar, ok := strings.CutPrefix(o, "-javaagent:")
			if !ok {
				continue
			}
			jar, _, _ = strings.Cut(jar, "=") // -javaagent:jar=options
			if p.abs(jar) == p.javaAgent {
				return true
			}
		}
		return false
	}
	for _, name := range []string{envJavaToolOptions, envJDKJavaOptions} {
		if has(splitJavaOptions(getenv(env, name))) {
			return name + " loads " + p.javaAgent
		}
	}
	if len(argv) > 1 && has(argv[1:]) {
		return "the command loads " + p.javaAgent
	}
	return ""
}

func javaAgentOption(jar string) string { return javaQuote("-javaagent:" + jar) }

// splitJavaOptions splits JAVA_TOOL_OPTIONS the way the JVM does: on white
// space, with single- or double-quoted parts that keep white space.
func splitJavaOptions(s string) []string {
	var out []string
	var cur strings.Builder
	started := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80 && unicode.IsSpace(rune(c)):
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		case c == '\'' || c == '"':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				end = len(s) - i - 1 // unmatched: the JVM refuses it; keep the rest
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			started = true
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}

// javaQuote quotes s for JAVA_TOOL_OPTIONS when it holds white space or
// quotes: runs without a double quote go in double quotes, double quotes
// in single quotes.
func javaQuote(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '\'' }) {
		return s
	}
	var b strings.Builder
	for i, part := range strings.Split(s, `"`) {
		if i > 0 {
			b.WriteString(`'"'`)
		}
		if part != "" {
			b.WriteString(`"` + part + `"`)
		}
	}
	return b.String()
}
