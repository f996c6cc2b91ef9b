package testenv_test

import (
	"fmt"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/testenv"
)

func TestLongEnabled(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"no", false}, {"2", false},
		{"1", true}, {"true", true}, {" TRUE ", true}, {"yes", true}, {"On", true},
	} {
		t.Setenv(testenv.LongVar, tc.val)
		if got := testenv.LongEnabled(); got != tc.want {
			t.Errorf("%s=%q: LongEnabled() = %v, want %v", testenv.LongVar, tc.val, got, tc.want)
		}
	}
}

// recorder is a testing.TB that records a skip instead of stopping the
// goroutine, so that Long's decision can be checked.
type recorder struct {
	testing.TB
	skipped string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}

func TestLong(t *testing.T) {
	t.Setenv(testenv.LongVar, "")
	r := &recorder{TB: t}
	testenv.Long(r, "starts many binaries")
	if want := "long test (starts many binaries): run with QRUN_LONG_TESTS=1"; r.skipped != want {
		t.Errorf("skip message %q, want %q", r.skipped, want)
	}
	t.Setenv(testenv.LongVar, "1")
	r = &recorder{TB: t}
	testenv.Long(r, "starts many binaries")
	if r.skipped != "" {
		t.Errorf("skipped with %s=1: %q", testenv.LongVar, r.skipped)
	}
}
