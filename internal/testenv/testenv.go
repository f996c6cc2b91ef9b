// Package testenv decides which tests of the repository run by default,
// and gives tests what their environment must provide (a pseudo-terminal:
// [OpenPTY], Linux only).
//
// The README's test command, go test -race ./..., must pass within go
// test's default 10-minute timeout per package on a busy 2-core machine.
// End-to-end cases that must stay long (a real build with other flags,
// many processes started one after another, minutes of a real toolchain)
// are marked with [Long] and run only when the variable QRUN_LONG_TESTS is
// set to 1 (true, yes and on are read the same way). .ci/run sets it, so CI
// runs every test:
//
//	QRUN_LONG_TESTS=1 go test -race ./...
//
// It is one switch for every package, in place of per-package flags or
// build tags, so that a skipped test always says the same thing and a
// reader finds every long test with: grep -rn 'testenv.Long(' .
package testenv

import (
	"os"
	"strings"
	"testing"
)

// LongVar is the environment variable that enables the long tests.
const LongVar = "QRUN_LONG_TESTS"

// LongEnabled reports whether the long tests run: QRUN_LONG_TESTS is 1,
// true, yes or on (any case, spaces around ignored).
func LongEnabled() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(LongVar))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Long marks t as a long end-to-end test: it skips t unless LongEnabled,
// with a message that says why it is long and how to run it, e.g.
// "long test (builds the binary again with -ldflags): run with
// QRUN_LONG_TESTS=1". why is a short phrase; it must not be empty.
func Long(t testing.TB, why string) {
	t.Helper()
	if why == "" {
		panic("testenv.Long: say why the test is long")
	}
	if !LongEnabled() {
		t.Skipf("long test (%s): run with %s=1", why, LongVar)
	}
}
