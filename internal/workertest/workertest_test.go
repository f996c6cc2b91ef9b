package workertest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if code, ok := Run(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// The parameters reach the helper through one encoded variable.
func TestParamsReachTheHelper(t *testing.T) {
	tests := []struct {
		name   string
		helper string
		params any
		extra  []string
		want   int
	}{
		{"zero parameters", "exit", nil, nil, 0},
		{"exit status", "exit", Params{Exit: 7}, nil, 7},
		{"by index", "byindex", Params{ByIndex: []string{"env", "exit"}, Exit: 5}, []string{"QRUN_WORKER_INDEX=1"}, 5},
		{"by index out of range", "byindex", Params{ByIndex: []string{"exit"}}, []string{"QRUN_WORKER_INDEX=1"}, 100},
		{"custom parameter type", "test-sum", sumParams{A: 2, B: 3}, nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := exec.Command(os.Args[0])
			c.Env = EnvironWith(tt.helper, tt.params, tt.extra...)
			c.WaitDelay = time.Minute
			err := c.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.want {
				t.Errorf("exit %d, want %d", code, tt.want)
			}
		})
	}
}

type sumParams struct{ A, B int }

func init() { Register("test-sum", func(p sumParams) int { return p.A + p.B }) }

func TestEntriesRejectsMistakes(t *testing.T) {
	for _, tc := range []struct {
		name, helper string
		params       any
		want         string
	}{
		{"unknown helper", "no-such-helper", nil, "no helper"},
		{"wrong parameter type", "exit", sumParams{}, "takes workertest.Params"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Errorf("panic %v, want one saying %q", r, tc.want)
				}
			}()
			Entries(tc.helper, tc.params)
		})
	}
}
