package envconfig_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0":                        0,
		"60":                       time.Minute,
		"0.5":                      500 * time.Millisecond,
		".5":                       500 * time.Millisecond,
		"5.":                       5 * time.Second,
		"+2":                       2 * time.Second,
		"0.3":                      300 * time.Millisecond,
		"1e3":                      1000 * time.Second,
		"1.5E-3":                   1500 * time.Microsecond,
		"0.0000000019":             time.Nanosecond,
		"1e-10":                    0,
		"-0":                       0,
		"-0.0e5":                   0,
		"0e999999999999999999":     0,
		"1m30s":                    90 * time.Second,
		"250ms":                    250 * time.Millisecond,
		"1.5h":                     90 * time.Minute,
		"-0s":                      0,
		"9223372036.854775807":     math.MaxInt64,
		"2562047h47m16.854775807s": math.MaxInt64,
	}
	for in, want := range good {
		if got, err := envconfig.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " 1", "1 ", "-1", "-0.5", "-1s", "abc", "1x", "NaN", "nan", "Inf",
		"+Inf", "infinity", "0x10", "1_000", "1e", "1e+", ".", "-", "1..2", "9223372036.854775808",
		"1e19", "1e400", "3000000h", "1,5"} {
		d, err := envconfig.ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
			continue
		}
		if !errors.Is(err, envconfig.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("ParseDuration(%q) error %v", in, err)
		}
	}
}

func TestParseSignal(t *testing.T) {
	good := map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "SIGTERM": syscall.SIGTERM, "term": syscall.SIGTERM, "sigterm": syscall.SIGTERM,
		"SigTerm": syscall.SIGTERM, "15": syscall.SIGTERM, "015": syscall.SIGTERM, "KILL": syscall.SIGKILL,
		"9": syscall.SIGKILL, "int": syscall.SIGINT, "HUP": syscall.SIGHUP, "usr2": syscall.SIGUSR2, "QUIT": syscall.SIGQUIT,
	}
	for in, want := range good {
		if got, err := envconfig.ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "00", "FOO", "SIGFOO", "SIG", "-15", "+15", " 15", "TERM ", "999",
		"99999999999999999999999", "ſigterm", "SIGTERM\x00", "15s"} {
		sig, err := envconfig.ParseSignal(in)
		if err == nil {
			t.Errorf("ParseSignal(%q) = %v, want an error", in, sig)
			continue
		}
		if !errors.Is(err, envconfig.ErrInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("ParseSignal(%q) error %v", in, err)
		}
	}
}

func TestSignalName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{
		syscall.SIGTERM: "TERM", syscall.SIGKILL: "KILL", syscall.SIGUSR1: "USR1", 0: "0", 999: "999", -1: "-1",
	} {
		if got := envconfig.SignalName(sig); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", int(sig), got, want)
		}
	}
}
