package docgen

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// DefaultEpoch is the date, in seconds since the Unix epoch, written into
// the man pages when SOURCE_DATE_EPOCH is not set: fixed, so that the
// committed pages do not change from run to run (2026-01-01T00:00:00Z).
const DefaultEpoch int64 = 1767225600

// FixCommand is the command that regenerates the committed man pages.
const FixCommand = "go run ./scripts/gendocs -out man"

// Date returns the date for the pages' header: SOURCE_DATE_EPOCH (see
// https://reproducible-builds.org/specs/source-date-epoch/) when getenv
// reports it, else DefaultEpoch.
func Date(getenv func(string) string) (time.Time, error) {
	epoch := DefaultEpoch
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		epoch = n
	}
	return time.Unix(epoch, 0).UTC(), nil
}

// Page is one generated man page.
type Page struct {
	Name    string // file name: "otel-qrun.1", "otel-qrun-config.1"
	Content []byte // roff source
}

// ManPages renders one page for root and one for every available
// (non-hidden, non-deprecated) command below it, including cobra's default
// completion command, in a stable order. The page of root also documents the
// configuration keys, the environment, the exit statuses and the signals.
//
// It changes root for documentation (default help, version and completion
// commands and flags, no auto-generated tag, descriptions escaped for
// markdown), so pass a freshly built tree, and only once.
func ManPages(root *cobra.Command, date time.Time) ([]Page, error) {
	prepare(root)
	// Descriptions are plain text in --help; cobra renders them as markdown,
	// where "Q_CLUSTER_<KEY>" would become emphasis and an HTML tag.
	_ = walk(root, func(c *cobra.Command) error {
		c.Short, c.Long = mdEscape(c.Short), escapeText(c.Long)
		return nil
	})
	var pages []Page
	err := walk(root, func(c *cobra.Command) error {
		header := &doc.GenManHeader{
			Section: "1",
			Date:    &date,
			Source:  root.Name(),
			Manual:  "User Commands",
		}
		var buf bytes.Buffer
		if err := doc.GenMan(c, header, &buf); err != nil {
			return fmt.Errorf("man page of %q: %w", c.CommandPath(), err)
		}
		page := buf.Bytes()
		if c == root {
			var err error
			if page, err = extendRootPage(page); err != nil {
				return err
			}
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		pages = append(pages, Page{Name: name, Content: page})
		return nil
	})
	return pages, err
}

// WriteMan writes the pages of ManPages into dir, gzipped (name.1.gz) when
// compress is set, and removes pages (*.1, *.1.gz) that dir holds from
// commands that no longer exist. It returns the names written.
func WriteMan(root *cobra.Command, date time.Time, dir string, compress bool) ([]string, error) {
	pages, err := ManPages(root, date)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	written := make(map[string]bool, len(pages))
	var names []string
	for _, p := range pages {
		name, content := p.Name, p.Content
		if compress {
			name += ".gz"
			if content, err = gzipBytes(content); err != nil {
				return nil, fmt.Errorf("gzip %s: %w", p.Name, err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return nil, err
		}
		written[name] = true
		names = append(names, name)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && !written[n] && (strings.HasSuffix(n, ".1") || strings.HasSuffix(n, ".1.gz")) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return nil, err
			}
		}
	}
	return names, nil
}

// WriteCompletions writes the bash, zsh and fish completion scripts of root
// into dir as NAME.bash, NAME.zsh and NAME.fish, and returns their names.
func WriteCompletions(root *cobra.Command, dir string) ([]string, error) {
	prepare(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	gens := []struct {
		ext string
		gen func(*bytes.Buffer) error
	}{
		{"bash", func(b *bytes.Buffer) error { return root.GenBashCompletionV2(b, true) }},
		{"zsh", func(b *bytes.Buffer) error { return root.GenZshCompletion(b) }},
		{"fish", func(b *bytes.Buffer) error { return root.GenFishCompletion(b, true) }},
	}
	var names []string
	for _, g := range gens {
		var buf bytes.Buffer
		if err := g.gen(&buf); err != nil {
			return nil, fmt.Errorf("%s completion: %w", g.ext, err)
		}
		name := root.Name() + "." + g.ext
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// prepare adds what cobra adds when the program runs (the completion
// command, the help and version flags) so that the pages and completions
// describe the tree users get, and drops cobra's "Auto generated" tag.
func prepare(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.InitDefaultVersionFlag()
	_ = walk(root, func(c *cobra.Command) error {
		c.DisableAutoGenTag = true
		c.InitDefaultHelpFlag()
		return nil
	})
}

// walk calls fn for c and every available command below it, depth first,
// in cobra's (sorted) order.
func walk(c *cobra.Command, fn func(*cobra.Command) error) error {
	if err := fn(c); err != nil {
		return err
	}
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := walk(sub, fn); err != nil {
			return err
		}
	}
	return nil
}

// Sections of cobra's rendered page that the root page's extra text is
// placed around.
const (
	sectionExample = "\n.SH EXAMPLE\n"
	sectionSeeAlso = "\n.SH SEE ALSO\n"
)

// extendRootPage inserts the sections of rootSections after the options
// (before cobra's EXAMPLE section) and more examples at the end of the
// EXAMPLE section (before SEE ALSO).
func extendRootPage(page []byte) ([]byte, error) {
	sections, err := renderMarkdown(rootSections())
	if err != nil {
		return nil, err
	}
	examples := examplesMarkdown()
	if !bytes.Contains(page, []byte(sectionExample)) {
		examples = "## EXAMPLE\n" + examples
	}
	more, err := renderMarkdown(examples)
	if err != nil {
		return nil, err
	}
	page = insertBefore(page, sectionSeeAlso, more)
	return insertBefore(page, sectionExample, sections), nil
}

// insertBefore inserts text before the first occurrence of marker in page,
// or at the end of page when marker does not occur.
func insertBefore(page []byte, marker string, text []byte) []byte {
	i := bytes.Index(page, []byte(marker))
	if i < 0 {
		i = len(page)
	}
	out := make([]byte, 0, len(page)+len(text))
	out = append(out, page[:i]...)
	out = append(out, text...)
	return append(out, page[i:]...)
}

// renderMarkdown converts md to roff for insertion into a page. Level-2
// headings become .SH (level 1 would become a second .TH). The renderer's
// preamble, .nh, is kept: the .TH of the page turned hyphenation back on, and
// hyphenated names such as Q_CLUS-TER cannot be searched for.
func renderMarkdown(md string) ([]byte, error) {
	out := md2man.Render([]byte(md))
	if bytes.HasPrefix(out, []byte(`'\" t`)) {
		// A tbl table would need the preprocessor line at the top of the page.
		return nil, errors.New("docgen: markdown tables are not supported in inserted sections")
	}
	return bytes.TrimRight(out, "\n"), nil
}

// escapeText escapes markdown in the lines of s, except in lines indented
// by a tab or four spaces, which markdown shows verbatim as code.
func escapeText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "    ") {
			lines[i] = mdEscape(l)
		}
	}
	return strings.Join(lines, "\n")
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	// No name and a zero modification time in the header: reproducible.
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
