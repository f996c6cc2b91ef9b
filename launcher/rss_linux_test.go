package launcher

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in      string
		pg      int
		rss     int64
		wantErr bool
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 100 2400000 131 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0", 1234, 131, false},
		{"7 (a) b) (c) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 2400000 9 0", 42, 9, false},
		{"7 (no close paren S 1 42", 0, 0, true},
		{"7 (short) S 1 42", 0, 0, true},
		{"7 (bad) S 1 x 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 2400000 9 0", 0, 0, true},
		{"", 0, 0, true},
	}
	for _, tt := range tests {
		pg, rss, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || pg != tt.pg || rss != tt.rss {
			t.Errorf("parseStat(%q) = %d, %d, %v; want %d, %d, error %v", tt.in, pg, rss, err, tt.pg, tt.rss, tt.wantErr)
		}
	}
}

func TestGroupsRSSCountsThisProcess(t *testing.T) {
	got, err := groupsRSS([]int{pgid(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got[pgid(t)] <= 0 {
		t.Errorf("resident memory of this test's process group: %d KiB", got[pgid(t)])
	}
}

func pgid(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	pg, _, err := parseStat(b)
	if err != nil {
		t.Fatal(err)
	}
	return pg
}

func BenchmarkGroupsRSS(b *testing.B) {
	pgids := make([]int, 16)
	for i := range pgids {
		pgids[i] = os.Getpid() + i
	}
	for b.Loop() {
		if _, err := groupsRSS(pgids); err != nil {
			b.Fatal(err)
		}
	}
}
