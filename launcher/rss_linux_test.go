package launcher

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in      string
		want    procStat
		wantErr bool
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 100 2400000 131 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			procStat{pid: 1234, state: 'S', ppid: 1, pgrp: 1234, start: 100, rssPages: 131}, false},
		{"7 (a) b) (c) Z 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 2400000 9 0", procStat{pid: 7, state: 'Z', ppid: 1, pgrp: 42, start: 100, rssPages: 9}, false},
		{"7 (no close paren S 1 42", procStat{}, true},
		{"7 (short) S 1 42", procStat{}, true},
		{"(nopid) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 2400000 9 0", procStat{}, true},
		{"7 (bad) S 1 x 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 2400000 9 0", procStat{}, true},
		{"7 (bad) SS 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 2400000 9 0", procStat{}, true},
		{"", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1234 (sleep) S 1 1234 1234 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 100 2400000 131 18446744073709551615"))
	f.Add([]byte("7 (a) b) (c) Z 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 2400000 9 0"))
	f.Add([]byte("1 ()"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseStat(b)
		if err == nil && (p.pid < 0 || p.ppid < 0 || p.rssPages < 0) {
			t.Errorf("parseStat(%q) = %+v: negative field", b, p)
		}
	})
}

func TestReadStatOfThisProcess(t *testing.T) {
	var buf [2048]byte
	p, err := readStat(os.Getpid(), buf[:])
	if err != nil {
		t.Fatal(err)
	}
	if p.pid != os.Getpid() || p.ppid != os.Getppid() || p.rssPages <= 0 || !p.live() {
		t.Errorf("stat of this process: %+v", p)
	}
}

func TestInstanceID(t *testing.T) {
	tests := []struct{ attrs, want string }{
		{"service.instance.id=abc,qrun.worker.index=0", "abc"},
		{"a=b,service.instance.id=x-1", "x-1"},
		{"a=b", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := instanceID([]string{"OTEL_RESOURCE_ATTRIBUTES=" + tt.attrs}); got != tt.want {
			t.Errorf("instanceID(%q) = %q, want %q", tt.attrs, got, tt.want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/sys/fs/cgroup`: "/sys/fs/cgroup", `/a\040b`: "/a b", `/x\`: `/x\`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
