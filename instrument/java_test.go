package instrument

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestJavaAppendsTheAgent(t *testing.T) {
	dir := t.TempDir()
	agent := writeExec(t, filepath.Join(dir, "otel", "opentelemetry-javaagent.jar"), "PK")
	java := writeExec(t, filepath.Join(dir, "jdk", "bin", "java"), "")
	argv := []string{"java", "-jar", "app.jar"}

	// A relative agent path is made absolute against the workers' directory.
	p := prepare(t, Config{Mode: Auto, Path: java, Argv: argv, JavaAgent: "otel/opentelemetry-javaagent.jar", Dir: dir})
	if p.Mode() != Java {
		t.Fatalf("mode %q", p.Mode())
	}
	if n := p.Notes(); len(n) != 2 || n[1] != "java: JAVA_TOOL_OPTIONS += -javaagent:"+agent {
		t.Errorf("notes %q", n)
	}
	tests := []struct{ name, before, want string }{
		{"unset", "", "-javaagent:" + agent},
		{"appended", "-Xmx512m -Dfoo=bar", "-Xmx512m -Dfoo=bar -javaagent:" + agent},
		{"other agent kept", "-javaagent:/opt/other-agent.jar", "-javaagent:/opt/other-agent.jar -javaagent:" + agent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			if tt.before != "" {
				env = []string{"JAVA_TOOL_OPTIONS=" + tt.before}
			}
			path, gotArgv, got := p.Apply(java, argv, env)
			if path != java || !slices.Equal(gotArgv, argv) {
				t.Errorf("command changed: %q %q", path, gotArgv)
			}
			if v := getenv(got, "JAVA_TOOL_OPTIONS"); v != tt.want {
				t.Errorf("JAVA_TOOL_OPTIONS=%q, want %q", v, tt.want)
			}
		})
	}
}

func TestJavaNeverTwice(t *testing.T) {
	dir := t.TempDir()
	agent := writeExec(t, filepath.Join(dir, "opentelemetry-javaagent.jar"), "PK")
	p := prepare(t, Config{Mode: Java, Path: "/usr/bin/java", Argv: []string{"java"}, JavaAgent: agent, Dir: dir})
	for _, env := range [][]string{
		{"JAVA_TOOL_OPTIONS=-Xmx1g -javaagent:" + agent},
		{"JAVA_TOOL_OPTIONS=-javaagent:./opentelemetry-javaagent.jar=config"},
		{"JAVA_TOOL_OPTIONS='-javaagent:" + agent + "'"},
		{"JDK_JAVA_OPTIONS=-javaagent:" + agent},
	} {
		if _, _, got := p.Apply("/usr/bin/java", []string{"java", "-jar", "app.jar"}, env); !slices.Equal(got, env) {
			t.Errorf("%q: changed to %q", env, got)
		}
	}
	argv := []string{"java", "-javaagent:" + agent, "-jar", "app.jar"}
	if _, _, got := p.Apply("/usr/bin/java", argv, nil); got != nil {
		t.Errorf("agent on the command line: environment changed to %q", got)
	}
	p = prepare(t, Config{Mode: Java, Path: "/usr/bin/java", Argv: argv, JavaAgent: agent})
	if n := p.Notes(); len(n) != 1 || !strings.Contains(n[0], "already bootstrapped (the command loads "+agent) {
		t.Errorf("notes %q", n)
	}
}

func TestJavaErrors(t *testing.T) {
	dir := t.TempDir()
	prepareErr(t, Config{Mode: Java, Path: "/usr/bin/java"}, "no Java agent", "javaagent", JavaAgentURL)
	prepareErr(t, Config{Mode: Java, Path: "/usr/bin/java", JavaAgent: filepath.Join(dir, "missing.jar")},
		"Java agent "+filepath.Join(dir, "missing.jar")+": no such file", JavaAgentURL)
	prepareErr(t, Config{Mode: Java, Path: "/usr/bin/java", JavaAgent: dir}, "not a regular file")
	if err := os.Chmod(dir, 0o000); err == nil && os.Getuid() != 0 {
		defer os.Chmod(dir, 0o700)
		prepareErr(t, Config{Mode: Java, Path: "/usr/bin/java", JavaAgent: filepath.Join(dir, "x", "a.jar")}, "permission denied")
	}
}

func TestJavaQuoting(t *testing.T) {
	dir := t.TempDir()
	agent := writeExec(t, filepath.Join(dir, "my agents", `it's "otel".jar`), "PK")
	p := prepare(t, Config{Mode: Java, Path: "/usr/bin/java", JavaAgent: agent})
	_, _, env := p.Apply("/usr/bin/java", []string{"java"}, []string{"JAVA_TOOL_OPTIONS=-Xss1m"})
	if got := splitJavaOptions(getenv(env, "JAVA_TOOL_OPTIONS")); !slices.Equal(got, []string{"-Xss1m", "-javaagent:" + agent}) {
		t.Errorf("JAVA_TOOL_OPTIONS %q splits as %q", getenv(env, "JAVA_TOOL_OPTIONS"), got)
	}
	if _, _, again := p.Apply("/usr/bin/java", []string{"java"}, env); !slices.Equal(again, env) {
		t.Errorf("applied twice: %q", again)
	}
	for in, want := range map[string][]string{
		"":                        nil,
		" \t\n":                   nil,
		"-a  -b\t-c":              {"-a", "-b", "-c"},
		`-Dx="a b" '-Dy=c d'`:     {"-Dx=a b", "-Dy=c d"},
		`-javaagent:"/a b/c.jar"`: {"-javaagent:/a b/c.jar"},
		`-Dq='"'`:                 {`-Dq="`},
		`-Dopen="unterminated`:    {"-Dopen=unterminated"},
	} {
		if got := splitJavaOptions(in); !slices.Equal(got, want) {
			t.Errorf("splitJavaOptions(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzJavaQuote(f *testing.F) {
	for _, s := range []string{"a", "a b", `a"b`, `'`, `"'"`, "\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		if got := splitJavaOptions(javaQuote(s)); !slices.Equal(got, []string{s}) {
			t.Fatalf("javaQuote(%q) = %q splits as %q", s, javaQuote(s), got)
		}
	})
}
