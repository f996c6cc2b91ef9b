package docgen

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// testTree is a small command tree shaped like otel-qrun's.
func testTree(withExample bool) *cobra.Command {
	root := &cobra.Command{
		Use:   "otel-qrun [flags] COMMAND",
		Short: "Run workers",
		Long:  "Settings come from Q_CLUSTER_<KEY> variables.\n\n\tsource <(otel-qrun completion bash)",
		RunE:  func(*cobra.Command, []string) error { return nil },
	}
	if withExample {
		root.Example = "  otel-qrun -- ./worker"
	}
	root.Flags().Int("workers", 1, "worker processes to run")
	noop := func(*cobra.Command, []string) error { return nil }
	root.AddCommand(
		&cobra.Command{Use: "config", Short: "Print the configuration", RunE: noop},
		&cobra.Command{Use: "secret", Short: "Hidden", Hidden: true, RunE: noop},
	)
	return root
}

var testDate = time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)

func pageNames(t *testing.T, root *cobra.Command) (names []string, pages map[string]string) {
	t.Helper()
	ps, err := ManPages(root, testDate)
	if err != nil {
		t.Fatal(err)
	}
	pages = make(map[string]string)
	for _, p := range ps {
		names = append(names, p.Name)
		pages[p.Name] = string(p.Content)
	}
	return names, pages
}

func TestManPagesOfTheTree(t *testing.T) {
	names, pages := pageNames(t, testTree(true))
	want := []string{
		"otel-qrun.1", "otel-qrun-completion.1", "otel-qrun-completion-bash.1",
		"otel-qrun-completion-fish.1", "otel-qrun-completion-powershell.1",
		"otel-qrun-completion-zsh.1", "otel-qrun-config.1",
	}
	if !slices.Equal(names, want) {
		t.Errorf("pages = %q, want %q (hidden commands have none)", names, want)
	}
	root := pages["otel-qrun.1"]
	// The inserted sections sit between OPTIONS and EXAMPLE, the extra
	// examples between cobra's examples and SEE ALSO.
	order := []string{".SH OPTIONS", ".SH CONFIGURATION", ".SH ENVIRONMENT", ".SH WORKER ENVIRONMENT",
		".SH SUPERVISION", ".SH EXIT STATUS", ".SH SIGNALS", ".SH EXAMPLE", "otel-qrun -- ./worker",
		"Continue the trace of the caller", ".SH SEE ALSO"}
	last := -1
	for _, s := range order {
		i := strings.Index(root, s)
		if i < 0 {
			t.Errorf("otel-qrun.1 lacks %q", s)
			continue
		}
		if i < last {
			t.Errorf("%q is out of order in otel-qrun.1", s)
		}
		last = i
	}
	if n := strings.Count(root, ".SH EXAMPLE"); n != 1 {
		t.Errorf("otel-qrun.1 has %d EXAMPLE sections, want 1", n)
	}
	if strings.Count(root, ".TH ") != 1 {
		t.Error("otel-qrun.1 has more than one .TH")
	}
	if !strings.Contains(root, `.TH "OTEL-QRUN" "1" "May 2026" "otel-qrun"`) {
		t.Errorf("otel-qrun.1 header: %q", strings.SplitN(root, "\n", 3)[1])
	}
	// Descriptions are text, not markdown; indented lines stay code.
	if !strings.Contains(root, "Q_CLUSTER_<KEY> variables") {
		t.Error("the description's Q_CLUSTER_<KEY> was taken as markup")
	}
	if !strings.Contains(root, "source <(otel-qrun completion bash)") {
		t.Error("the description's indented code was escaped")
	}
	if strings.Contains(root, "Auto generated") {
		t.Error("cobra's auto-generated tag is present")
	}
}

func TestRootWithoutExamplesGetsAnExampleSection(t *testing.T) {
	_, pages := pageNames(t, testTree(false))
	root := pages["otel-qrun.1"]
	if n := strings.Count(root, ".SH EXAMPLE"); n != 1 {
		t.Fatalf("otel-qrun.1 has %d EXAMPLE sections, want 1", n)
	}
	if strings.Index(root, ".SH EXAMPLE") > strings.Index(root, ".SH SEE ALSO") {
		t.Error("EXAMPLE comes after SEE ALSO")
	}
}

func TestWriteManRemovesStalePagesOnly(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"otel-qrun-gone.1":    "old page",
		"otel-qrun-gone.1.gz": "old page",
		"README":              "kept",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names, err := WriteMan(testTree(true), testDate, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := append([]string{"README"}, names...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
}

func TestWriteManGzipIsReproducible(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if _, err := WriteMan(testTree(true), testDate, dir, true); err != nil {
			t.Fatal(err)
		}
	}
	za, err := os.ReadFile(filepath.Join(a, "otel-qrun.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zb, err := os.ReadFile(filepath.Join(b, "otel-qrun.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(za, zb) {
		t.Error("two runs wrote different otel-qrun.1.gz")
	}
	zr, err := gzip.NewReader(bytes.NewReader(za))
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q and time %v, want neither", zr.Name, zr.ModTime)
	}
	if !bytes.Contains(page, []byte(".SH CONFIGURATION")) {
		t.Error("otel-qrun.1.gz does not hold the root page")
	}
}

func TestWriteCompletions(t *testing.T) {
	dir := t.TempDir()
	names, err := WriteCompletions(testTree(true), dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"otel-qrun.bash", "otel-qrun.zsh", "otel-qrun.fish"}; !slices.Equal(names, want) {
		t.Fatalf("completions = %q, want %q", names, want)
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("otel-qrun")) {
			t.Errorf("%s does not complete otel-qrun", n)
		}
	}
}

func TestEscapeText(t *testing.T) {
	for in, want := range map[string]string{
		"Q_CLUSTER_<KEY>":         `Q\_CLUSTER\_\<KEY\>`,
		"*bold* and `code`":       "\\*bold\\* and \\`code\\`",
		"\tsource <(x)":           "\tsource <(x)",
		"    indented <code>":     "    indented <code>",
		"a [link](x)\n\tkeep_me_": "a \\[link\\](x)\n\tkeep_me_",
	} {
		if got := escapeText(in); got != want {
			t.Errorf("escapeText(%q) = %q, want %q", in, got, want)
		}
	}
}
