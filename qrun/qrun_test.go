package qrun_test

import (
	"math"
	"testing"

	"github.com/otel-qrun/otel-qrun/qrun"
)

func TestDefaultQueueLimit(t *testing.T) {
	tests := []struct{ workers, want int }{
		{-1, 1},
		{0, 1},
		{1, 1},
		{4, 16},
		{1024, qrun.MaxQueueLimit}, // 1024² is exactly the bound
		{1025, qrun.MaxQueueLimit},
		{math.MaxInt, qrun.MaxQueueLimit}, // the square would overflow
	}
	for _, tt := range tests {
		if got := qrun.DefaultQueueLimit(tt.workers); got != tt.want {
			t.Errorf("DefaultQueueLimit(%d) = %d, want %d", tt.workers, got, tt.want)
		}
	}
}

func TestEnumsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range qrun.RestartPolicies() {
		if seen[string(p)] {
			t.Errorf("restart policy %q twice", p)
		}
		seen[string(p)] = true
	}
	if !seen[string(qrun.DefaultRestart)] {
		t.Errorf("default restart %q is no policy", qrun.DefaultRestart)
	}
	seen = map[string]bool{}
	for _, in := range qrun.Instruments() {
		if seen[string(in)] {
			t.Errorf("instrument %q twice", in)
		}
		seen[string(in)] = true
	}
	if !seen[string(qrun.DefaultInstrument)] {
		t.Errorf("default instrument %q is no value", qrun.DefaultInstrument)
	}
}
