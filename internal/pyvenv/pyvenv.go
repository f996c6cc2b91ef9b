// Package pyvenv gives tests a Python virtualenv with the real OpenTelemetry
// Python SDK, distro and OTLP/HTTP exporter, installed with no network from
// the wheels in the shared/ directory beside the repository
// (../shared/wheels from the repository root). The virtualenv is made with
// --system-site-packages from Debian's /usr/bin/python3, so it also sees
// Debian's gunicorn, Celery, RQ and django-q.
//
// It is created once per machine under the user's cache directory, keyed by
// the wheels it holds, behind a lock file, so parallel test binaries share
// one install and later runs reuse it.
package pyvenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Packages are what the virtualenv installs.
var Packages = []string{"opentelemetry-distro", "opentelemetry-exporter-otlp-proto-http"}

// BasePython is the interpreter the virtualenv is made from.
const BasePython = "/usr/bin/python3"

var once struct {
	sync.Once
	python, skip string
	err          error
}

// Python returns the virtualenv's interpreter, creating the virtualenv on
// first use. It skips the test when the wheels or Debian's python3 (with
// venv) are not on this machine, and fails it when the install fails.
func Python(t testing.TB) string {
	t.Helper()
	once.Do(func() { once.python, once.skip, once.err = create() })
	switch {
	case once.skip != "":
		t.Skip(once.skip)
	case once.err != nil:
		t.Fatal(once.err)
	}
	return once.python
}

// Wheels returns the shared wheels directory, or "" when there is none.
func Wheels() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			w := filepath.Join(filepath.Dir(dir), "shared", "wheels")
			if st, err := os.Stat(w); err == nil && st.IsDir() {
				return w
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func create() (python, skip string, err error) {
	wheels := Wheels()
	if wheels == "" {
		return "", "skipping the Python SDK tests: no ../shared/wheels beside the repository", nil
	}
	if _, err := os.Stat(BasePython); err != nil {
		return "", "skipping the Python SDK tests: " + BasePython + " is not installed", nil
	}
	names, err := filepath.Glob(filepath.Join(wheels, "*.whl"))
	if err != nil || len(names) == 0 {
		return "", "skipping the Python SDK tests: no wheels in " + wheels, nil
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintln(h, filepath.Base(n))
	}
	fmt.Fprintln(h, strings.Join(Packages, " "))
	cache := os.TempDir()
	if base, err := os.UserCacheDir(); err == nil && os.MkdirAll(filepath.Join(base, "otel-qrun-test"), 0o755) == nil {
		cache = base
	}
	root := filepath.Join(cache, "otel-qrun-test")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", "", err
	}
	dir := filepath.Join(root, "pyvenv-"+hex.EncodeToString(h.Sum(nil)[:6]))
	python = filepath.Join(dir, "bin", "python")
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return python, "", nil
	}
	os.RemoveAll(dir) // an interrupted install
	if out, err := exec.Command(BasePython, "-m", "venv", "--system-site-packages", dir).CombinedOutput(); err != nil {
		return "", "skipping the Python SDK tests: " + BasePython + " -m venv: " + strings.TrimSpace(string(out)), nil
	}
	args := append([]string{"-m", "pip", "install", "-q", "--no-index", "--find-links", wheels}, Packages...)
	c := exec.Command(python, args...)
	c.Env = append(os.Environ(), "PIP_DISABLE_PIP_VERSION_CHECK=1")
	if out, err := c.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s %s: %v\n%s", python, strings.Join(args, " "), err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		return "", "", err
	}
	return python, "", nil
}
