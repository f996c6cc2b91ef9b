package launcher_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/otel-qrun/otel-qrun/launcher"
)

// LookPath is internal/execpath's lookup (tested there in full); its
// errors match the launcher's own sentinels, which map to 127 and 126.
func TestLookPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := launcher.LookPath("tool", dir); err != nil || got != exe {
		t.Errorf("LookPath(tool) = %q, %v; want %q", got, err, exe)
	}
	if _, err := launcher.LookPath("nope", dir); !errors.Is(err, launcher.ErrNotFound) {
		t.Errorf("LookPath(nope): %v, want ErrNotFound", err)
	}
	if _, err := launcher.LookPath("plain", dir); !errors.Is(err, launcher.ErrNotExecutable) {
		t.Errorf("LookPath(plain): %v, want ErrNotExecutable", err)
	}
}
