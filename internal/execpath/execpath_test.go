package execpath_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/execpath"
)

func TestFind(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, d := range []string{a, b, filepath.Join(b, "dir")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(dir, name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(a, "shadowed", 0o644)
	good := write(b, "shadowed", 0o755)
	onlyA := write(a, "plain", 0o644)
	exe := write(a, "tool", 0o755)
	if err := syscall.Mkfifo(filepath.Join(a, "fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := a + string(filepath.ListSeparator) + b

	for _, tc := range []struct {
		name, file, path, base, want string
		err                          error
	}{
		{"first directory", "tool", path, "", exe, nil},
		{"skips a non-executable entry", "shadowed", path, "", good, nil},
		{"only a non-executable entry", "plain", path, "", "", execpath.ErrNotExecutable},
		{"a directory", "dir", path, "", "", execpath.ErrNotExecutable},
		{"not a regular file", "fifo", path, "", "", execpath.ErrNotExecutable},
		{"missing", "nope", path, "", "", execpath.ErrNotFound},
		{"empty PATH", "tool", "", "", "", execpath.ErrNotFound},
		{"slash: used as given", exe, "", "", exe, nil},
		{"slash: not executable", onlyA, path, "", "", execpath.ErrNotExecutable},
		{"slash: missing", filepath.Join(a, "nope"), path, "", "", execpath.ErrNotFound},
		{"relative PATH entry: in base", "tool", "a", base, exe, nil},
		{"relative file with a slash: in base", "a/tool", "", base, exe, nil},
		{"absolute PATH entry: base ignored", "shadowed", b, a, good, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := execpath.Find(tc.file, tc.path, tc.base)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Find(%q) error %v, want %v", tc.file, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("Find(%q) = %q, want %q", tc.file, got, tc.want)
			}
		})
	}
}
