package launcher_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/otel-qrun/otel-qrun/launcher"
)

func TestLookPath(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
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
	if err := os.Mkdir(filepath.Join(b, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe := write(a, "tool", 0o755)
	path := a + string(filepath.ListSeparator) + b

	for _, tc := range []struct {
		name, file, path, want string
		err                    error
	}{
		{"first directory", "tool", path, exe, nil},
		{"skips a non-executable entry", "shadowed", path, good, nil},
		{"only a non-executable entry", "plain", path, "", launcher.ErrNotExecutable},
		{"a directory", "dir", path, "", launcher.ErrNotExecutable},
		{"missing", "nope", path, "", launcher.ErrNotFound},
		{"empty PATH", "tool", "", "", launcher.ErrNotFound},
		{"slash: used as given", exe, "", exe, nil},
		{"slash: not executable", onlyA, path, "", launcher.ErrNotExecutable},
		{"slash: missing", filepath.Join(a, "nope"), path, "", launcher.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := launcher.LookPath(tc.file, tc.path)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("LookPath(%q) error %v, want %v", tc.file, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("LookPath(%q) = %q, want %q", tc.file, got, tc.want)
			}
		})
	}
}
