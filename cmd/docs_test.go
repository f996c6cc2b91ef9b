package cmd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/scripts/gendocs/docgen"
)

// committedManDir holds the generated man pages that are committed.
const committedManDir = "../man"

// TestManPagesFresh regenerates the man pages and compares them with the
// committed ones in man/: a change to a command, a flag or a key must come
// with regenerated pages.
func TestManPagesFresh(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The committed pages carry the fixed default date, whatever
	// SOURCE_DATE_EPOCH a release or the environment sets.
	date := time.Unix(docgen.DefaultEpoch, 0).UTC()
	if _, err := docgen.WriteMan(Command(), date, dir, false); err != nil {
		t.Fatalf("generate man pages: %v", err)
	}
	want := readManDir(t, dir)
	got := readManDir(t, committedManDir)
	if len(want) == 0 {
		t.Fatal("no man pages were generated")
	}

	fix := "regenerate them with: " + docgen.FixCommand
	if os.Getenv("SOURCE_DATE_EPOCH") != "" {
		fix += " (with SOURCE_DATE_EPOCH unset)"
	}
	for _, name := range sortedManNames(want) {
		committed, ok := got[name]
		switch {
		case !ok:
			t.Errorf("man/%s is missing; %s", name, fix)
		case !bytes.Equal(committed, want[name]):
			t.Errorf("man/%s is stale (%s); %s", name, firstLineDiff(committed, want[name]), fix)
		}
	}
	for _, name := range sortedManNames(got) {
		if _, ok := want[name]; !ok {
			t.Errorf("man/%s is not generated from any command (extra page); %s", name, fix)
		}
	}
}

// TestRootManPageSections checks that the root page documents what cobra's
// flag list does not: keys, precedence, environment, exit statuses, signals.
func TestRootManPageSections(t *testing.T) {
	t.Parallel()
	pages, err := docgen.ManPages(Command(), time.Unix(docgen.DefaultEpoch, 0).UTC())
	if err != nil {
		t.Fatal(err)
	}
	var root string
	for _, p := range pages {
		if p.Name == "otel-qrun.1" {
			root = string(p.Content)
		}
	}
	if root == "" {
		t.Fatal("no page otel-qrun.1")
	}
	for _, s := range []string{
		".SH OPTIONS", ".SH CONFIGURATION", ".SH ENVIRONMENT", ".SH WORKER ENVIRONMENT",
		".SH EXIT STATUS", ".SH SIGNALS", ".SH EXAMPLE", ".SH SEE ALSO",
		"TRACEPARENT", "TRACESTATE", "BAGGAGE", "OTEL_RESOURCE_ATTRIBUTES", "service.instance.id",
		"qrun.worker.index", "OTEL_EXPORTER_PROMETHEUS_PORT", "QRUN_CLUSTER", "QRUN_WORKER_INDEX",
		"QRUN_WORKERS", "SIGTTIN", "SIGHUP", "126", "127",
		".SH TASK MODE", "QRUN_RESULT_FD", "QRUN_TASK_ID", "cancelled",
	} {
		if !strings.Contains(root, s) {
			t.Errorf("otel-qrun.1 lacks %q", s)
		}
	}
	if i, j := strings.Index(root, ".SH SIGNALS"), strings.Index(root, ".SH SEE ALSO"); i > j {
		t.Errorf("SIGNALS comes after SEE ALSO")
	}
	// Every key, in every layer, from the same table that Load uses.
	for _, k := range envconfig.Keys() {
		for _, name := range []string{k.Name, k.Flag, k.Env} {
			if !strings.Contains(root, `\fB`+name+`\fP`) {
				t.Errorf("otel-qrun.1 does not document %s", name)
			}
		}
	}
	if strings.Contains(root, "Auto generated") {
		t.Error("otel-qrun.1 has cobra's auto-generated tag")
	}
}

// TestManPagesReproducible checks that the pages depend on the date given
// and on nothing else that changes between runs.
func TestManPagesReproducible(t *testing.T) {
	t.Parallel()
	render := func(date time.Time) map[string][]byte {
		pages, err := docgen.ManPages(Command(), date)
		if err != nil {
			t.Fatal(err)
		}
		m := make(map[string][]byte, len(pages))
		for _, p := range pages {
			m[p.Name] = p.Content
		}
		return m
	}
	date := time.Unix(docgen.DefaultEpoch, 0).UTC()
	a, b := render(date), render(date)
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs: %s", name, firstLineDiff(a[name], b[name]))
		}
	}
	later := render(time.Date(2031, time.March, 4, 0, 0, 0, 0, time.UTC))
	if !bytes.Contains(later["otel-qrun.1"], []byte(`"Mar 2031"`)) {
		t.Errorf("otel-qrun.1 does not carry the given date Mar 2031")
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env     string
		want    time.Time
		wantErr bool
	}{
		{"", time.Unix(docgen.DefaultEpoch, 0).UTC(), false},
		{"1700000000", time.Unix(1700000000, 0).UTC(), false},
		{"yesterday", time.Time{}, true},
	} {
		t.Run(tc.env, func(t *testing.T) {
			got, err := docgen.Date(func(k string) string {
				if k == "SOURCE_DATE_EPOCH" {
					return tc.env
				}
				return ""
			})
			if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
				t.Errorf("Date(SOURCE_DATE_EPOCH=%q) = %v, %v; want %v, error %v", tc.env, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// readManDir returns the regular files of dir by name.
func readManDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	pages := make(map[string][]byte)
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		pages[e.Name()] = b
	}
	return pages
}

func sortedManNames(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// firstLineDiff describes the first line where got and want differ.
func firstLineDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if i >= len(g) || i >= len(w) || gl != wl {
			return fmt.Sprintf("line %d: committed %s, generated %s", i+1, quoteManLine(gl, i < len(g)), quoteManLine(wl, i < len(w)))
		}
	}
	return "same lines, different bytes"
}

func quoteManLine(s string, ok bool) string {
	if !ok {
		return "<end of file>"
	}
	return strconv.Quote(s)
}
