package cmd

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestManPagesBreakCleanly formats every committed man page as man does on
// a terminal, at a wide and a narrow width, and fails on any warning of
// groff: "can't break line" is a word (a JSON example, a long flag
// synopsis) that runs past the margin; an invalid character is text that
// needs escaping.
func TestManPagesBreakCleanly(t *testing.T) {
	t.Parallel()
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff is not installed")
	}
	pages, err := filepath.Glob(filepath.Join(committedManDir, "*.1"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no man pages in %s: %v", committedManDir, err)
	}
	for _, page := range pages {
		for _, width := range []int{70, 80} {
			t.Run(fmt.Sprintf("%s/%d", filepath.Base(page), width), func(t *testing.T) {
				// As man(1): preconv (-k), tbl (-t), warnings on (-ww), no output (-z).
				c := exec.Command(groff, "-k", "-t", "-man", "-Tutf8", "-ww", "-z", fmt.Sprintf("-rLL=%dn", width-2), page)
				var stderr bytes.Buffer
				c.Stderr = &stderr
				if err := c.Run(); err != nil || stderr.Len() > 0 {
					t.Errorf("groff: %v\n%s", err, stderr.String())
				}
			})
		}
	}
}
