package cmd

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/doctest"
)

// The README's first hour: what a newcomer reads first must work as
// written, and what the rest of the README assumes must be said.

// TestReadmeTopGetsOtelQrunOnPath: the two commands of "Try it" stay two
// (the run with the console exporter through "go run .", the test suite),
// and right after them the README says how to put the clone's otel-qrun on
// PATH, which everything below calls.
func TestReadmeTopGetsOtelQrunOnPath(t *testing.T) {
	t.Parallel()
	doc := readReadme(t)
	src, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(src)
	_, top, _ := strings.Cut(readme, "\n## Try it")
	top, _, ok := strings.Cut(top, "\nContents:")
	if !ok {
		t.Fatal("README.md has no Try it section followed by a Contents line")
	}
	var topBlocks []doctest.Example
	for _, ex := range doc.Examples {
		if strings.Contains(top, ex.Code) {
			topBlocks = append(topBlocks, ex)
		}
	}
	if len(topBlocks) != 2 || !strings.Contains(topBlocks[0].Code, "OTEL_TRACES_EXPORTER=console") ||
		!strings.Contains(topBlocks[0].Code, "go run . ") || strings.TrimSpace(topBlocks[1].Code) != "go test -race ./..." {
		t.Fatalf("the README's top has %d command blocks, want the console run with go run . and the test command:\n%v", len(topBlocks), topBlocks)
	}
	_, after, _ := strings.Cut(top, "go test -race ./...\n```")
	for _, want := range []string{"`go install .`", "`go build -o ~/.local/bin/otel-qrun .`"} {
		if !strings.Contains(after, want) {
			t.Errorf("right after the test command the README does not say %s", want)
		}
	}
}

// TestReadmeDefinesItsPlaceholders: a program the examples call that does
// not exist in a clone is said to stand for the reader's own.
func TestReadmeDefinesItsPlaceholders(t *testing.T) {
	t.Parallel()
	doc := readReadme(t)
	src, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	re := regexp.MustCompile(`(?:^|[\s'"])(\./[A-Za-z][\w.-]*)`)
	for _, ex := range doc.Examples {
		for _, m := range re.FindAllStringSubmatch(ex.Code, -1) {
			if _, err := os.Stat("../" + m[1]); err != nil { // not a file of the clone
				used[m[1]] = true
			}
		}
	}
	def := regexp.MustCompile("In the examples, ((?:`\\./[^`]+`(?:, | and )?)+) stand for your own program")
	m := def.FindStringSubmatch(strings.Join(strings.Fields(string(src)), " "))
	if m == nil {
		t.Fatalf("README.md does not define its placeholder programs %v", used)
	}
	for p := range used {
		if !strings.Contains(m[1], "`"+p+"`") {
			t.Errorf("the examples run %s, which the README does not define (it defines %s)", p, m[1])
		}
	}
}

// TestReadmeConfigExampleSources runs the README's otel-qrun config example
// and checks the sentence after it names every key that does not come
// from its default, with its value and source.
func TestReadmeConfigExampleSources(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(src)
	const qcluster = `{"name":"emails","workers":4,"timeout":60,"max_attempts":3,"orm":"default"}`
	if !strings.Contains(readme, "export Q_CLUSTER='"+qcluster+"'\nQ_CLUSTER_WORKERS=2 otel-qrun config --restart on-failure -- ./worker\n") {
		t.Fatal("the config example changed: update this test")
	}
	_, sentence, _ := strings.Cut(readme, "`otel-qrun config` prints every key with its value and where it came from")
	sentence, _, _ = strings.Cut(sentence, "the rest `default`")
	sentence = strings.Join(strings.Fields(sentence), " ")

	res := runQrun(t, []string{"PATH=" + os.Getenv("PATH"), "Q_CLUSTER=" + qcluster, "Q_CLUSTER_WORKERS=2"},
		"config", "--restart", "on-failure", "--", "true")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	_, table, _ := strings.Cut(res.stdout, "# configuration")
	table, _, _ = strings.Cut(table, "\n\n")
	n := 0
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] == "default" {
			continue
		}
		n++
		key, value, source := f[0], f[1], f[2]
		inline := "`" + key + " " + value + " " + source + "`"
		grouped := "`" + key + " " + value + "`"
		if !strings.Contains(sentence, inline) && !(strings.Contains(sentence, grouped) && strings.Contains(sentence, "from `"+source+"`")) {
			t.Errorf("the README's sentence after the config example does not name %s = %s from %s: %q", key, value, source, sentence)
		}
	}
	if n == 0 {
		t.Fatalf("no key outside its default in:\n%s", res.stdout)
	}
}

// TestGuardCycleHelpAgreesWithReadme: the flag's help and the README's
// table say the same thing: the memory checks of max_rss, none without it.
func TestGuardCycleHelpAgreesWithReadme(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(l, "| `guard_cycle` |") {
			row = l
		}
	}
	help := Command().Flags().Lookup("guard-cycle").Usage
	for _, want := range []string{"memory checks of", "max_rss", "no checks without"} {
		if !strings.Contains(row, want) || !strings.Contains(help, want) {
			t.Errorf("README row %q and --guard-cycle help %q do not both say %q", row, help, want)
		}
	}
}
