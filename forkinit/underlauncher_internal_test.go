package forkinit

import "testing"

// A worker knows it runs under otel-qrun by QRUN_WORKER_INDEX, and then
// leaves the no-collector hint to the launcher (printed once per run, not
// once per worker).
func TestUnderLauncher(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want bool
	}{
		{[]string{"QRUN_WORKER_INDEX=0"}, true},
		{[]string{"PATH=/bin", "QRUN_WORKER_INDEX=3"}, true},
		{nil, false},
		{[]string{"QRUN_WORKER_INDEXES=0", "XQRUN_WORKER_INDEX=1"}, false},
	} {
		if got := underLauncher(tc.env); got != tc.want {
			t.Errorf("underLauncher(%q) = %v, want %v", tc.env, got, tc.want)
		}
	}
}
