package doctest

import (
	"slices"
	"strings"
	"testing"
)

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
	doc := ParseMarkdown("x.md", src)
	if len(doc.Errs) > 0 {
		t.Fatalf("errors: %v", doc.Errs)
	}
	want := []Example{
		{Where: "x.md:4", Code: "otel-qrun version"},
		{Where: "x.md:10", Code: `kill -TTIN "$pid"`, Exit: 3, WithLauncher: true},
		{Where: "x.md:17", Code: "go install example.com/x@latest", NoRun: "installs"},
	}
	if !slices.Equal(doc.Examples, want) {
		t.Errorf("examples:\n got %+v\nwant %+v", doc.Examples, want)
	}
	if len(doc.Files) != 1 || doc.Files[0] != (File{"qrun.yaml", "workers: 2\n"}) {
		t.Errorf("files: %+v", doc.Files)
	}
	if len(doc.Inline) != 2 || doc.Inline[0].Code != "otel-qrun --workers 2 -- ./worker" || doc.Inline[1].Code != "otel-qrun config" {
		t.Errorf("inline: %+v", doc.Inline)
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
		if doc := ParseMarkdown("bad.md", bad); len(doc.Errs) == 0 {
			t.Errorf("no error for:\n%s", bad)
		}
	}
}

// TestUnroff checks the roff unescaping of man page code blocks.
func TestUnroff(t *testing.T) {
	t.Parallel()
	got, err := Unroff(`otel\-qrun \-\-workers 2 \(aqx\(aq \\n\&`)
	if want := `otel-qrun --workers 2 'x' \n`; err != nil || got != want {
		t.Errorf("Unroff = %q, %v; want %q", got, err, want)
	}
	if _, err := Unroff(`\fBbold\fP`); err == nil {
		t.Error("Unroff accepts an unknown escape")
	}
}
