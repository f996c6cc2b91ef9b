package envconfig_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

func FuzzQCluster(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"workers": 4}`, `{"workers": 4,`, `[1]`, `"str"`, `null`, `1e400`,
		`{"name": "emails", "workers": 4, "timeout": 60, "retry": 120, "orm": "default"}`,
		`{"ALT_CLUSTERS": {"long": {"timeout": 3000}}, "workers": null, "cluster_name": "x"}`,
		`{"guard_cycle": 0.5, "max_rss": 1e6, "stop_signal": 9, "subreaper": "on", "per_task": true}`,
		`{"timeout": "none", "min_uptime": "1m30s", "queue_limit": 0, "restart": "always"}`,
		`{"workers": 3037000500, "max_line": -1, "tasks": ["a"], "results": {"a": 1}}`,
		`{"stop_grace": 1e-10, "shutdown_timeout": 9223372036.854775807, "name": ""}`,
		`{"workers": 1, "workers": 2, "WORKERS": 3}`, `{"instrument": "auto", "javaagent": "/opt/a.jar"}`,
		`{"instrument": "ruby", "javaagent": 1}`, "{\"name\": \"\xff\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := envconfig.Load(nil, []string{"Q_CLUSTER=" + s})
		if err != nil {
			if !errors.Is(err, envconfig.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load succeeded but Validate fails: %v", err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"0", "60", "0.5", ".5", "5.", "1e3", "1.5E-3", "-1", "-0", "1m30s", "250ms", "-1s", "abc", "1x",
		"NaN", "Inf", "9223372036.854775807", "9223372036.854775808", "1e19", "0e99999999999",
		"2562047h47m16.854775807s", "", "+", "1e", "0.0000000019",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := envconfig.ParseDuration(s)
		if err != nil {
			if !errors.Is(err, envconfig.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		secs := fmt.Sprintf("%d.%09d", d/time.Second, d%time.Second)
		if back, err := envconfig.ParseDuration(secs); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, but its seconds %q parse as %v, %v", s, d, secs, back, err)
		}
		if back, err := envconfig.ParseDuration(d.String()); err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, but %q parses as %v, %v", s, d, d.String(), back, err)
		}
	})
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"TERM", "SIGTERM", "term", "sigterm", "15", "015", "0", "KILL", "FOO", "-15", "999", "ſigterm", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := envconfig.ParseSignal(s)
		if err != nil {
			if !errors.Is(err, envconfig.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if sig <= 0 {
			t.Fatalf("ParseSignal(%q) = %d", s, int(sig))
		}
		for _, back := range []string{envconfig.SignalName(sig), strconv.Itoa(int(sig))} {
			if got, err := envconfig.ParseSignal(back); err != nil || got != sig {
				t.Fatalf("ParseSignal(%q) = %d, but %q parses as %d, %v", s, int(sig), back, int(got), err)
			}
		}
	})
}

// FuzzConfigFile reads any content as a --config file of each kind: Load
// either fails with an error wrapping ErrInvalid or returns a Config that
// Validate accepts, whose every bounded value is within its bound.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"workers: 2\n", "workers: 1e18\n", "workers: 4.0\nmax_workers: 8\n", "workers: [1\n",
		`{"workers": 1e18}`, `{"workers": 3, "timeout": 1e400}`, "workers = 1e18\n", "workers = \n",
		"name: &a [*a]\n", "a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nworkers: 2\n", "\xef\xbb\xbfworkers: 2\n",
		"guard_cycle: 0.001\n", "max_line: 67108865\n", "queue_limit: 1e6\n", "stop_signal: 15.0\n",
		"wrkers: 3\n", "wrkers: ~\nWorkers: 2\n", "a.b: 1\n\"x\\ny\": 2\n", "\xff\xfe: 1\n", "? [a, b]\n: 1\n",
		`{"timout": 3, "": 1, "cluster_name": "x"}`, "[wrkers]\na = 1\n", "é: 1\nworkerś: 2\n",
	} {
		for ext := range 3 {
			f.Add(uint8(ext), s)
		}
	}
	exts := []string{"yaml", "json", "toml"}
	f.Fuzz(func(t *testing.T, ext uint8, content string) {
		path := filepath.Join(t.TempDir(), "c."+exts[int(ext)%len(exts)])
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		fs := pflag.NewFlagSet("fuzz", pflag.ContinueOnError)
		envconfig.AddFlags(fs)
		if err := fs.Parse([]string{"--config", path}); err != nil {
			t.Fatal(err)
		}
		c, err := envconfig.Load(fs, nil)
		if err != nil {
			if !errors.Is(err, envconfig.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load succeeded but Validate fails: %v", err)
		}
		for _, w := range c.Warnings {
			if !strings.HasPrefix(w, path+": unknown key ") || strings.Contains(w, "\n") {
				t.Fatalf("warning %q", w)
			}
		}
		if c.Workers > c.MaxWorkers || c.MaxWorkers > envconfig.MaxWorkersLimit || c.QueueLimit > envconfig.MaxQueueLimit ||
			c.MaxLine > envconfig.MaxLineLimit || c.GuardCycle < envconfig.MinGuardCycle || c.Timeout > envconfig.MaxDuration {
			t.Fatalf("a value beyond its bound: %+v", c)
		}
	})
}

// FuzzEnvironmentNames loads an environment with one variable of any name
// set to a secret: Load never fails on the name alone, every warning is
// one line naming a Q_CLUSTER_ variable, and none shows the value.
func FuzzEnvironmentNames(f *testing.F) {
	for _, s := range []string{
		"Q_CLUSTER_WORKRS", "Q_CLUSTER_WORKERS", "Q_CLUSTER_", "Q_CLUSTER__", "Q_CLUSTER_workers", "Q_CLUSTERS",
		"Q_CLUSTER_\xff", "Q_CLUSTER_A\nB", "Q_CLUSTER_CLUSTER_NAME", "Q_CLUSTER_É", "PATH", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if strings.Contains(name, "=") {
			return
		}
		c, err := envconfig.Load(nil, []string{name + "=SECRETVALUE"})
		if err != nil {
			if !errors.Is(err, envconfig.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		for _, w := range c.Warnings {
			if !strings.HasPrefix(w, `environment: unknown variable "Q_CLUSTER_`) || strings.Contains(w, "\n") || strings.Contains(w, "SECRETVALUE") {
				t.Fatalf("warning %q", w)
			}
		}
	})
}
