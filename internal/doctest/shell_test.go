package doctest

import (
	"slices"
	"testing"
)

// TestShellTokens checks the tokenizer of the static check.
func TestShellTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want [][]string
	}{
		{`otel-qrun --workers 2 -- sh -c 'echo "$X"'`, [][]string{{"--workers", "2", "--", "sh", "-c", `echo "$X"`}}},
		{`A=1 B="two words" otel-qrun config`, [][]string{{"config"}}},
		{"otel-qrun enqueue '{\"to\":\"a@b\"}' >> tasks.fifo", [][]string{{"enqueue", `{"to":"a@b"}`}}},
		{`{ otel-qrun enqueue 1; otel-qrun enqueue "x y"; } | otel-qrun --tasks - -- ./w`, [][]string{{"enqueue", "1"}, {"enqueue", "x y"}, {"--tasks", "-", "--", "./w"}}},
		{`eval "$(otel-qrun carrier --format shell --span backup)"`, [][]string{{"carrier", "--format", "shell", "--span", "backup"}}},
		{"go run . --workers 2 \\\n  -- ./w 2>/dev/null # comment", [][]string{{"--workers", "2", "--", "./w"}}},
		{`exec otel-qrun -- ./w </dev/null 2>&1`, [][]string{{"--", "./w"}}},
		{`/usr/local/bin/otel-qrun version && echo otel-qrun`, [][]string{{"version"}}},
		{`otel-qrun -- sh -c 'otel-qrun carrier --span "s $I" >/dev/null'`, [][]string{{"--", "sh", "-c", `otel-qrun carrier --span "s $I" >/dev/null`}, {"carrier", "--span", "s $I"}}},
	} {
		got, err := Invocations(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if !slices.Equal(got[i], tc.want[i]) {
				t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}
