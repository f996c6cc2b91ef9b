package envconfig_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// parse returns a flag set with AddFlags, parsed from args.
func parse(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	envconfig.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return fs
}

// writeFile writes content to a new file called name and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// jsonScalar writes s as a JSON (and YAML) scalar: as is when it is a JSON
// number, boolean or null, else as a string.
func jsonScalar(s string) string {
	if s != "" && json.Valid([]byte(s)) && s[0] != '"' && s[0] != '[' && s[0] != '{' {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func mustLoad(t *testing.T, fs *pflag.FlagSet, environ ...string) *envconfig.Config {
	t.Helper()
	c, err := envconfig.Load(fs, environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func allSources(src envconfig.Source) map[string]envconfig.Source {
	m := make(map[string]envconfig.Source)
	for _, k := range envconfig.Keys() {
		m[k.Name] = src
	}
	return m
}

func defaultConfig() *envconfig.Config {
	return &envconfig.Config{
		Name:            "default",
		Workers:         1,
		MaxWorkers:      1024,
		Restart:         qrun.RestartNever,
		MaxRestarts:     5,
		MinUptime:       10 * time.Second,
		StopSignal:      syscall.SIGTERM,
		StopGrace:       10 * time.Second,
		GuardCycle:      500 * time.Millisecond,
		Results:         "-",
		MaxAttempts:     1,
		Prefetch:        1,
		QueueLimit:      1,
		MaxLine:         1048576,
		ClaimInterval:   40 * time.Second, // max(timeout none, 30s) + stop_grace 10s
		ShutdownTimeout: 3 * time.Second,
		Subreaper:       envconfig.SwitchAuto,
		Instrument:      qrun.InstrumentNone,
		Sources:         allSources(envconfig.SourceDefault),
	}
}

func TestDefaults(t *testing.T) {
	want := defaultConfig()
	if got := mustLoad(t, nil); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(nil, nil) =\n%+v\nwant\n%+v", got, want)
	}
	want.Warnings = []string{`environment: unknown variable "Q_CLUSTER_UNKNOWN"`} // ignored, with a warning
	if got := mustLoad(t, parse(t), "PATH=/bin", "Q_CLUSTER_UNKNOWN=1"); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with unset flags =\n%+v\nwant\n%+v", got, want)
	}
	want.Warnings = nil
	if err := want.Validate(); err != nil {
		t.Errorf("Validate of the defaults: %v", err)
	}
}

func TestKeys(t *testing.T) {
	var names []string
	for _, k := range envconfig.Keys() {
		names = append(names, k.Name)
		if want := "--" + strings.ReplaceAll(k.Name, "_", "-"); k.Flag != want {
			t.Errorf("%s: Flag = %q, want %q", k.Name, k.Flag, want)
		}
		if want := "Q_CLUSTER_" + strings.ToUpper(k.Name); k.Env != want {
			t.Errorf("%s: Env = %q, want %q", k.Name, k.Env, want)
		}
		if k.Usage == "" {
			t.Errorf("%s: no usage", k.Name)
		}
	}
	want := []string{"name", "workers", "max_workers", "restart", "max_restarts", "min_uptime",
		"stop_signal", "stop_grace", "timeout", "start_timeout", "recycle", "max_rss", "cpu_affinity",
		"guard_cycle", "tasks", "per_task", "results", "max_attempts", "prefetch", "queue_limit",
		"max_line", "claim_interval", "shutdown_timeout", "subreaper", "instrument", "javaagent"}
	if !slices.Equal(names, want) {
		t.Errorf("Keys() names = %q\nwant %q", names, want)
	}
	if a := envconfig.Keys()[0].Aliases; !slices.Equal(a, []string{"cluster_name"}) {
		t.Errorf("name aliases = %q", a)
	}
	envconfig.Keys()[0].Aliases[0] = "changed"
	if a := envconfig.Keys()[0].Aliases[0]; a != "cluster_name" {
		t.Errorf("Keys() shares its alias slice: %q", a)
	}
}

func TestValue(t *testing.T) {
	c := mustLoad(t, nil)
	for _, k := range envconfig.Keys() {
		want := k.Default
		switch k.Name {
		case "queue_limit":
			want = "1"
		case "claim_interval":
			want = "40s"
		}
		if got := c.Value(k.Name); got != want {
			t.Errorf("Value(%q) = %q, want the default %q", k.Name, got, want)
		}
	}
	if got := c.Value("cluster_name"); got != "default" {
		t.Errorf("Value(cluster_name) = %q", got)
	}
	if got := c.Value("nope"); got != "" {
		t.Errorf("Value(nope) = %q", got)
	}
	c.Timeout = 90 * time.Second
	c.StopSignal = syscall.SIGKILL
	c.Restart = qrun.RestartOnFailure
	c.Subreaper = envconfig.SwitchOff
	for key, want := range map[string]string{"timeout": "1m30s", "stop_signal": "KILL", "restart": "on-failure", "subreaper": "false"} {
		if got := c.Value(key); got != want {
			t.Errorf("Value(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestSwitchString(t *testing.T) {
	for sw, want := range map[envconfig.Switch]string{
		envconfig.SwitchAuto: "auto", envconfig.SwitchOn: "true", envconfig.SwitchOff: "false", 7: "switch(7)",
	} {
		if got := sw.String(); got != want {
			t.Errorf("Switch(%d).String() = %q, want %q", int(sw), got, want)
		}
	}
}

// sample is a value given for a key, and how Value shows it.
type sample struct{ in, want string }

// layerSamples holds, for every key, a value for each layer: flag, env,
// Q_CLUSTER, file.
var layerSamples = map[string][4]sample{
	"name":             {{"flag-name", "flag-name"}, {"env-name", "env-name"}, {"qc-name", "qc-name"}, {"file-name", "file-name"}},
	"workers":          {{"2", "2"}, {"3", "3"}, {"4", "4"}, {"5", "5"}},
	"max_workers":      {{"2048", "2048"}, {"8", "8"}, {"16", "16"}, {"4096", "4096"}},
	"restart":          {{"always", "always"}, {"on-failure", "on-failure"}, {"always", "always"}, {"on-failure", "on-failure"}},
	"max_restarts":     {{"0", "0"}, {"1", "1"}, {"2", "2"}, {"3", "3"}},
	"min_uptime":       {{"1m30s", "1m30s"}, {"60", "1m0s"}, {"0.5", "500ms"}, {"2", "2s"}},
	"stop_signal":      {{"INT", "INT"}, {"sighup", "HUP"}, {"9", "KILL"}, {"SIGUSR1", "USR1"}},
	"stop_grace":       {{"0", "0s"}, {"1.5", "1.5s"}, {"30", "30s"}, {"1h", "1h0m0s"}},
	"timeout":          {{"5", "5s"}, {"1m", "1m0s"}, {"90", "1m30s"}, {"0.25", "250ms"}},
	"start_timeout":    {{"30", "30s"}, {"1m", "1m0s"}, {"0", "0s"}, {"2.5", "2.5s"}},
	"recycle":          {{"1", "1"}, {"2", "2"}, {"3", "3"}, {"4", "4"}},
	"max_rss":          {{"100", "100"}, {"200", "200"}, {"300", "300"}, {"400", "400"}},
	"cpu_affinity":     {{"1", "1"}, {"2", "2"}, {"3", "3"}, {"4", "4"}},
	"guard_cycle":      {{"1", "1s"}, {"250ms", "250ms"}, {"0.1", "100ms"}, {"2", "2s"}},
	"tasks":            {{"-", "-"}, {"/env/tasks", "/env/tasks"}, {"q.fifo", "q.fifo"}, {"file.txt", "file.txt"}},
	"per_task":         {{"true", "true"}, {"0", "false"}, {"true", "true"}, {"off", "false"}},
	"results":          {{"out.jsonl", "out.jsonl"}, {"/env/r", "/env/r"}, {"r.json", "r.json"}, {"f.json", "f.json"}},
	"max_attempts":     {{"2", "2"}, {"3", "3"}, {"4", "4"}, {"5", "5"}},
	"prefetch":         {{"2", "2"}, {"16", "16"}, {"1", "1"}, {"65536", "65536"}},
	"queue_limit":      {{"7", "7"}, {"8", "8"}, {"9", "9"}, {"10", "10"}},
	"max_line":         {{"100", "100"}, {"200", "200"}, {"300", "300"}, {"400", "400"}},
	"claim_interval":   {{"5", "5s"}, {"1m", "1m0s"}, {"90", "1m30s"}, {"0.25", "250ms"}},
	"shutdown_timeout": {{"0", "0s"}, {"10", "10s"}, {"1.5", "1.5s"}, {"5m", "5m0s"}},
	"subreaper":        {{"true", "true"}, {"false", "false"}, {"on", "true"}, {"no", "false"}},
	"instrument":       {{"python", "python"}, {"node", "node"}, {"java", "java"}, {"auto", "auto"}},
	"javaagent":        {{"/flag/a.jar", "/flag/a.jar"}, {"env.jar", "env.jar"}, {"/qc/a.jar", "/qc/a.jar"}, {"f.jar", "f.jar"}},
}

var layerSources = [4]envconfig.Source{envconfig.SourceFlag, envconfig.SourceEnv, envconfig.SourceQCluster, envconfig.SourceFile}

// TestPrecedence gives every key a value in every subset of the four
// layers and checks that the highest layer wins, for value and source.
func TestPrecedence(t *testing.T) {
	for _, k := range envconfig.Keys() {
		t.Run(k.Name, func(t *testing.T) {
			samples, ok := layerSamples[k.Name]
			if !ok {
				t.Fatalf("no samples for %s", k.Name)
			}
			for mask := range 16 {
				var args, environ []string
				if mask&1 != 0 {
					args = append(args, k.Flag+"="+samples[0].in)
				}
				if mask&2 != 0 {
					environ = append(environ, k.Env+"="+samples[1].in)
				}
				if mask&4 != 0 {
					environ = append(environ, fmt.Sprintf(`Q_CLUSTER={"%s": %s}`, k.Name, jsonScalar(samples[2].in)))
				}
				if mask&8 != 0 {
					path := writeFile(t, "c.yaml", fmt.Sprintf("%s: %s\n", k.Name, jsonScalar(samples[3].in)))
					args = append(args, "--config", path)
				}
				want, wantSrc := k.Default, envconfig.SourceDefault
				switch k.Name {
				case "queue_limit":
					want = "1"
				case "claim_interval":
					want = "40s"
				}
				for layer := range 4 {
					if mask&(1<<layer) != 0 {
						want, wantSrc = samples[layer].want, layerSources[layer]
						break
					}
				}
				c := mustLoad(t, parse(t, args...), environ...)
				if got := c.Value(k.Name); got != want {
					t.Errorf("args %q env %q: %s = %q, want %q", args, environ, k.Name, got, want)
				}
				wantSources := allSources(envconfig.SourceDefault)
				wantSources[k.Name] = wantSrc
				if !reflect.DeepEqual(c.Sources, wantSources) {
					t.Errorf("args %q env %q: Sources = %v, want %s from %s", args, environ, c.Sources, k.Name, wantSrc)
				}
			}
		})
	}
}

func TestLayers(t *testing.T) {
	t.Run("flags", func(t *testing.T) {
		c := mustLoad(t, parse(t, "--workers", "3", "--restart=always", "--stop-signal", "sigint",
			"--timeout", "1.5", "--per-task", "--subreaper", "--verbose", "--max-rss", "2048"))
		if c.Workers != 3 || c.Restart != qrun.RestartAlways || c.StopSignal != syscall.SIGINT ||
			c.Timeout != 1500*time.Millisecond || !c.PerTask || c.Subreaper != envconfig.SwitchOn ||
			!c.Verbose || c.MaxRSS != 2048 || c.QueueLimit != 9 {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("env", func(t *testing.T) {
		c := mustLoad(t, nil, "Q_CLUSTER_WORKERS=4", "Q_CLUSTER_MAX_RSS=100", "Q_CLUSTER_MIN_UPTIME=0.5",
			"Q_CLUSTER_SUBREAPER=off", "Q_CLUSTER_PER_TASK=yes", "Q_CLUSTER_TIMEOUT=none")
		if c.Workers != 4 || c.MaxRSS != 100 || c.MinUptime != 500*time.Millisecond ||
			c.Subreaper != envconfig.SwitchOff || !c.PerTask || c.Timeout != 0 {
			t.Errorf("got %+v", c)
		}
		if c.Sources["workers"] != envconfig.SourceEnv || c.Sources["timeout"] != envconfig.SourceEnv {
			t.Errorf("Sources = %v", c.Sources)
		}
	})
	t.Run("empty env var is unset", func(t *testing.T) {
		c := mustLoad(t, nil, `Q_CLUSTER={"workers":2}`, "Q_CLUSTER_WORKERS=")
		if c.Workers != 2 || c.Sources["workers"] != envconfig.SourceQCluster {
			t.Errorf("workers = %d from %s, want 2 from Q_CLUSTER", c.Workers, c.Sources["workers"])
		}
		c = mustLoad(t, nil, "Q_CLUSTER=", "Q_CLUSTER_WORKERS=3")
		if c.Workers != 3 {
			t.Errorf("workers = %d", c.Workers)
		}
	})
	t.Run("last duplicate wins", func(t *testing.T) {
		c := mustLoad(t, nil, "Q_CLUSTER_WORKERS=2", "Q_CLUSTER_WORKERS=3")
		if c.Workers != 3 {
			t.Errorf("workers = %d, want 3", c.Workers)
		}
	})
	t.Run("config and verbose flags", func(t *testing.T) {
		path := writeFile(t, "c.yml", "workers: 2\n")
		c := mustLoad(t, parse(t, "--config", path, "--verbose"))
		if c.ConfigFile != path || !c.Verbose || c.Workers != 2 {
			t.Errorf("got %+v", c)
		}
	})
}

func TestAlias(t *testing.T) {
	file := func(t *testing.T, content string) []string {
		return []string{"--config", writeFile(t, "c.yaml", content)}
	}
	tests := []struct {
		name    string
		args    []string
		environ []string
		file    string
		want    string
		src     envconfig.Source
	}{
		{name: "flag", args: []string{"--cluster-name", "a"}, want: "a", src: envconfig.SourceFlag},
		{name: "env", environ: []string{"Q_CLUSTER_CLUSTER_NAME=a"}, want: "a", src: envconfig.SourceEnv},
		{name: "Q_CLUSTER", environ: []string{`Q_CLUSTER={"cluster_name":"a"}`}, want: "a", src: envconfig.SourceQCluster},
		{name: "file", file: "cluster_name: a\n", want: "a", src: envconfig.SourceFile},
		{name: "flag name wins", args: []string{"--cluster-name=a", "--name=b"}, want: "b", src: envconfig.SourceFlag},
		{name: "env name wins", environ: []string{"Q_CLUSTER_NAME=b", "Q_CLUSTER_CLUSTER_NAME=a"}, want: "b", src: envconfig.SourceEnv},
		{name: "Q_CLUSTER name wins", environ: []string{`Q_CLUSTER={"cluster_name":"a","name":"b"}`}, want: "b", src: envconfig.SourceQCluster},
		{name: "file name wins", file: "cluster_name: a\nname: b\n", want: "b", src: envconfig.SourceFile},
		{name: "file null name", file: "cluster_name: a\nname: null\n", want: "a", src: envconfig.SourceFile},
		{name: "Q_CLUSTER null name", environ: []string{`Q_CLUSTER={"cluster_name":"a","name":null}`}, want: "a", src: envconfig.SourceQCluster},
		{name: "flag alias over env", args: []string{"--cluster-name=a"}, environ: []string{"Q_CLUSTER_NAME=b"}, want: "a", src: envconfig.SourceFlag},
		{name: "env alias over Q_CLUSTER", environ: []string{"Q_CLUSTER_CLUSTER_NAME=a", `Q_CLUSTER={"name":"b"}`}, want: "a", src: envconfig.SourceEnv},
		{name: "Q_CLUSTER alias over file", environ: []string{`Q_CLUSTER={"cluster_name":"a"}`}, file: "name: b\n", want: "a", src: envconfig.SourceQCluster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(slices.Clone(args), file(t, tt.file)...)
			}
			c := mustLoad(t, parse(t, args...), tt.environ...)
			if c.Name != tt.want || c.Sources["name"] != tt.src {
				t.Errorf("name = %q from %s, want %q from %s", c.Name, c.Sources["name"], tt.want, tt.src)
			}
			if _, ok := c.Sources["cluster_name"]; ok {
				t.Errorf("Sources has the alias: %v", c.Sources)
			}
		})
	}
	t.Run("error names the alias", func(t *testing.T) {
		_, err := envconfig.Load(nil, []string{`Q_CLUSTER={"cluster_name":""}`})
		if err == nil || !strings.Contains(err.Error(), `(from Q_CLUSTER, key "cluster_name")`) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestFiles(t *testing.T) {
	files := map[string]string{
		"c.yaml": `
name: yaml
Workers: 3
guard_cycle: 0.25
timeout: 60
stop_signal: INT
per_task: true
max_rss: 1024
min_uptime: 1m
subreaper: false
label: ignored
ALT_CLUSTERS:
  long:
    timeout: 3000
`,
		"c.json": `{"name": "json", "workers": 3, "guard_cycle": 0.25, "timeout": 60,
"stop_signal": "INT", "per_task": true, "max_rss": 1024, "min_uptime": "1m", "subreaper": false,
"label": "ignored", "ALT_CLUSTERS": {"long": {"timeout": 3000}}}`,
		"c.toml": `
name = "toml"
workers = 3
guard_cycle = 0.25
timeout = 60
stop_signal = "INT"
per_task = true
max_rss = 1024
min_uptime = "1m"
subreaper = false
label = "ignored"
[ALT_CLUSTERS.long]
timeout = 3000
`,
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, name, content)
			c := mustLoad(t, parse(t, "--config", path))
			want := defaultConfig()
			want.Name = strings.TrimPrefix(filepath.Ext(name), ".")
			want.Workers, want.QueueLimit = 3, 9
			want.GuardCycle = 250 * time.Millisecond
			want.Timeout = time.Minute
			want.ClaimInterval = 70 * time.Second // timeout + stop_grace
			want.StopSignal = syscall.SIGINT
			want.PerTask = true
			want.MaxRSS = 1024
			want.MinUptime = time.Minute
			want.Subreaper = envconfig.SwitchOff
			want.ConfigFile = path
			// Unknown keys are ignored, each with a warning.
			want.Warnings = []string{path + `: unknown key "alt_clusters"`, path + `: unknown key "label"`}
			for _, k := range []string{"name", "workers", "guard_cycle", "timeout", "stop_signal", "per_task", "max_rss", "min_uptime", "subreaper"} {
				want.Sources[k] = envconfig.SourceFile
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got\n%+v\nwant\n%+v", c, want)
			}
		})
	}
	t.Run("upper-case extension and empty file", func(t *testing.T) {
		c := mustLoad(t, parse(t, "--config", writeFile(t, "c.YAML", "")))
		if c.Workers != 1 {
			t.Errorf("workers = %d", c.Workers)
		}
	})
}

func TestQClusterDjango(t *testing.T) {
	qc := `{"name": "DjangORM", "workers": 4, "recycle": 500, "timeout": 60, "compress": true,
	"save_limit": 250, "queue_limit": 500, "cpu_affinity": 1, "label": "Django Q2", "orm": "default",
	"retry": 120, "max_attempts": 3, "guard_cycle": 0.5, "max_rss": 1e6, "redis": null, "bulk": 10,
	"catch_up": false, "ALT_CLUSTERS": {"long": {"timeout": 3000, "retry": 3600}}, "WORKERS": 99,
	"error_reporter": {"sentry": {"dsn": "x"}}, "broker_class": ["a", 1]}`
	c := mustLoad(t, nil, "Q_CLUSTER="+qc)
	want := defaultConfig()
	want.Name, want.Workers, want.Recycle, want.Timeout = "DjangORM", 4, 500, time.Minute
	want.ClaimInterval = 70 * time.Second
	want.QueueLimit, want.CPUAffinity, want.MaxAttempts = 500, 1, 3
	want.GuardCycle, want.MaxRSS = 500*time.Millisecond, 1000000
	for _, k := range []string{"name", "workers", "recycle", "timeout", "queue_limit", "cpu_affinity", "max_attempts", "guard_cycle", "max_rss"} {
		want.Sources[k] = envconfig.SourceQCluster
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
}

func TestNull(t *testing.T) {
	path := writeFile(t, "c.yaml", "workers: 3\nmax_line: ~\nname: null\n")
	c := mustLoad(t, parse(t, "--config", path), `Q_CLUSTER={"workers": null, "timeout": null, "stop_signal": null}`)
	if c.Workers != 3 || c.Sources["workers"] != envconfig.SourceFile {
		t.Errorf("workers = %d from %s, want 3 from the file", c.Workers, c.Sources["workers"])
	}
	for _, k := range []string{"max_line", "name", "timeout", "stop_signal"} {
		if c.Sources[k] != envconfig.SourceDefault {
			t.Errorf("%s from %s, want the default", k, c.Sources[k])
		}
	}
	if c.MaxLine != 1048576 || c.Name != "default" || c.StopSignal != syscall.SIGTERM {
		t.Errorf("got %+v", c)
	}
}

func TestQueueLimit(t *testing.T) {
	tests := []struct {
		environ []string
		want    int
		src     envconfig.Source
	}{
		{nil, 1, envconfig.SourceDefault},
		{[]string{"Q_CLUSTER_WORKERS=3"}, 9, envconfig.SourceDefault},
		{[]string{`Q_CLUSTER={"workers": 12}`}, 144, envconfig.SourceDefault},
		{[]string{"Q_CLUSTER_WORKERS=3", "Q_CLUSTER_QUEUE_LIMIT=2"}, 2, envconfig.SourceEnv},
		{[]string{`Q_CLUSTER={"workers": 3, "queue_limit": 100}`}, 100, envconfig.SourceQCluster},
		{[]string{"Q_CLUSTER_WORKERS=3000", "Q_CLUSTER_MAX_WORKERS=3000"}, envconfig.MaxQueueLimit, envconfig.SourceDefault},
	}
	for _, tt := range tests {
		c := mustLoad(t, nil, tt.environ...)
		if c.QueueLimit != tt.want || c.Sources["queue_limit"] != tt.src {
			t.Errorf("%q: queue_limit = %d from %s, want %d from %s", tt.environ, c.QueueLimit, c.Sources["queue_limit"], tt.want, tt.src)
		}
	}
}

func TestFlags(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	envconfig.AddFlags(fs)
	for _, k := range envconfig.Keys() {
		if fs.Lookup(k.Flag[2:]) == nil {
			t.Errorf("no flag %s", k.Flag)
		}
	}
	if f := fs.Lookup("cluster-name"); f == nil || !f.Hidden {
		t.Errorf("--cluster-name missing or not hidden: %+v", f)
	}
	usage := fs.FlagUsages()
	for _, want := range []string{
		"--workers count", "(default 1)", `--name string`, `(default "default")`,
		"--subreaper mode[=true]", "(default auto)", "--config FILE", "--verbose", "--per-task ",
		"on-failure", "(default TERM)", "(default none)", "(default workers²)", "(default 500ms)",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}

	for args, want := range map[string]envconfig.Switch{
		"--subreaper": envconfig.SwitchOn, "--subreaper=false": envconfig.SwitchOff,
		"--subreaper=auto": envconfig.SwitchAuto, "--subreaper=1": envconfig.SwitchOn,
	} {
		if c := mustLoad(t, parse(t, args)); c.Subreaper != want {
			t.Errorf("%s: subreaper = %v, want %v", args, c.Subreaper, want)
		}
	}
	fs = parse(t, "--subreaper", "false")
	if c := mustLoad(t, fs); c.Subreaper != envconfig.SwitchOn || !slices.Equal(fs.Args(), []string{"false"}) {
		t.Errorf("--subreaper false: subreaper = %v, args %q", c.Subreaper, fs.Args())
	}
	for args, want := range map[string]bool{"--per-task": true, "--per-task=yes": true, "--per-task=off": false} {
		if c := mustLoad(t, parse(t, args)); c.PerTask != want {
			t.Errorf("%s: per_task = %v", args, c.PerTask)
		}
	}
	fs = pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	envconfig.AddFlags(fs)
	err := fs.Parse([]string{"--per-task=maybe"})
	if !errors.Is(err, envconfig.ErrInvalid) || !strings.Contains(err.Error(), `"maybe"`) || !strings.Contains(err.Error(), "--per-task") {
		t.Errorf("--per-task=maybe: %v", err)
	}
}

// TestForeignFlags checks a flag set with typed flags of the same names.
func TestForeignFlags(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.Int("workers", 1, "")
	fs.Duration("timeout", 0, "")
	fs.Bool("per-task", false, "")
	if err := fs.Parse([]string{"--workers=6", "--timeout=2m", "--per-task"}); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, fs)
	if c.Workers != 6 || c.Timeout != 2*time.Minute || !c.PerTask {
		t.Errorf("got %+v", c)
	}
}

// badValues are values that no layer accepts for their key.
var badValues = []struct{ key, value string }{
	{"name", ""}, {"name", "a\nworkers 99"}, {"name", "x\x00y"}, {"name", "tab\there"},
	{"stop_signal", "STOP"}, {"stop_signal", "CONT"}, {"stop_signal", "SIGCHLD"}, {"stop_signal", "TSTP"}, {"stop_signal", "19"},
	{"workers", "-2"}, {"workers", "0"}, {"workers", "abc"}, {"workers", "1.5"}, {"workers", "99999999999999999999"},
	{"workers", "1e18"}, {"workers", "1025"}, {"workers", "2e3"}, {"workers", "0x10"}, {"workers", "1_0"},
	{"max_workers", "0"}, {"max_workers", "65537"}, {"max_workers", "1e5"},
	{"restart", "sometimes"}, {"restart", "NEVER"},
	{"max_restarts", "-1"}, {"max_restarts", "2147483648"},
	{"min_uptime", "-1"}, {"min_uptime", "abc"}, {"min_uptime", "1x"}, {"min_uptime", "NaN"},
	{"min_uptime", "Inf"}, {"min_uptime", "-1s"}, {"min_uptime", "1e30"}, {"min_uptime", "8761h"}, {"min_uptime", "1e9"},
	{"stop_signal", "FOO"}, {"stop_signal", "0"}, {"stop_signal", "SIGFOO"}, {"stop_signal", "-15"}, {"stop_signal", "999"},
	{"stop_grace", "-0.5"}, {"stop_grace", "2562047h"},
	{"timeout", "-1s"}, {"timeout", "never"}, {"timeout", "31536001"},
	{"start_timeout", "-1"}, {"start_timeout", "none"}, {"start_timeout", "1x"}, {"start_timeout", "8761h"},
	{"recycle", "-1"},
	{"max_rss", "1.5"}, {"max_rss", "-1"},
	{"cpu_affinity", "-1"}, {"cpu_affinity", "1025"},
	{"guard_cycle", "0"}, {"guard_cycle", "-0.5"}, {"guard_cycle", "0s"}, {"guard_cycle", "1ms"}, {"guard_cycle", "0.000001"},
	{"per_task", "maybe"},
	{"results", ""},
	{"max_attempts", "-1"},
	{"prefetch", "0"}, {"prefetch", "-1"}, {"prefetch", "65537"}, {"prefetch", "1.5"},
	{"queue_limit", "0"}, {"queue_limit", "1048577"},
	{"max_line", "0"}, {"max_line", "67108865"},
	{"shutdown_timeout", "-1"}, {"shutdown_timeout", "9000h"},
	{"subreaper", "maybe"}, {"subreaper", "2"},
	{"instrument", "ruby"}, {"instrument", "PYTHON"}, {"instrument", "python3"}, {"instrument", ""},
}

func TestBadValues(t *testing.T) {
	keys := make(map[string]envconfig.Key)
	for _, k := range envconfig.Keys() {
		keys[k.Name] = k
	}
	for _, bv := range badValues {
		k := keys[bv.key]
		for _, layer := range []string{"flag", "env", "Q_CLUSTER", "file"} {
			t.Run(bv.key+"="+bv.value+"/"+layer, func(t *testing.T) {
				var args, environ []string
				var origin string
				switch layer {
				case "flag":
					if bv.key == "per_task" {
						t.Skip("--per-task is checked when parsing, see TestFlags")
					}
					args, origin = []string{k.Flag + "=" + bv.value}, k.Flag
				case "env":
					if bv.value == "" {
						t.Skip("an empty variable is unset")
					}
					environ, origin = []string{k.Env + "=" + bv.value}, k.Env
				case "Q_CLUSTER":
					environ = []string{fmt.Sprintf(`Q_CLUSTER={"%s": %s, "other": 1}`, bv.key, jsonScalar(bv.value))}
					origin = "Q_CLUSTER"
				case "file":
					b, _ := json.Marshal(bv.value) // a YAML string, shown as is
					path := writeFile(t, "c.yaml", fmt.Sprintf("%s: %s\n", bv.key, b))
					args, origin = []string{"--config", path}, fmt.Sprintf("config file %q", path)
				}
				c, err := envconfig.Load(parse(t, args...), environ)
				checkInvalid(t, c, err, fmt.Sprintf("invalid value %q for %s (from %s): must be ", bv.value, bv.key, origin))
			})
		}
	}
}

func TestInstrument(t *testing.T) {
	for _, in := range []qrun.Instrument{qrun.InstrumentAuto, qrun.InstrumentPython,
		qrun.InstrumentNode, qrun.InstrumentJava, qrun.InstrumentNone} {
		c := mustLoad(t, parse(t, "--instrument", string(in)))
		if c.Instrument != in || c.Sources["instrument"] != envconfig.SourceFlag {
			t.Errorf("--instrument %s: %q from %s", in, c.Instrument, c.Sources["instrument"])
		}
	}
	c := mustLoad(t, nil, `Q_CLUSTER={"instrument": "node", "javaagent": "/opt/otel/opentelemetry-javaagent.jar"}`)
	if c.Instrument != qrun.InstrumentNode || c.JavaAgent != "/opt/otel/opentelemetry-javaagent.jar" {
		t.Errorf("from Q_CLUSTER: %+v", c)
	}
	c, err := envconfig.Load(parse(t, "--instrument", "ruby"), nil)
	checkInvalid(t, c, err, `invalid value "ruby" for instrument (from --instrument): must be one of auto, python, node, java, none`)
	c, err = envconfig.Load(nil, []string{"Q_CLUSTER_INSTRUMENT=Node"})
	checkInvalid(t, c, err, `invalid value "Node" for instrument (from Q_CLUSTER_INSTRUMENT): must be one of auto, python, node, java, none`)
}

func checkInvalid(t *testing.T, c *envconfig.Config, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; config %+v", c)
	}
	if c != nil {
		t.Errorf("config %+v with error", c)
	}
	if !errors.Is(err, envconfig.ErrInvalid) {
		t.Errorf("error does not wrap ErrInvalid: %v", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\nlacks %q", err, want)
	}
}

// TestBadTypedValues covers values that only files and JSON can hold.
func TestBadTypedValues(t *testing.T) {
	tests := []struct {
		name, file, qcluster, want string
	}{
		{name: "yaml NaN", file: "c.yaml:min_uptime: .nan", want: `invalid value "NaN" for min_uptime`},
		{name: "yaml Inf", file: "c.yaml:stop_grace: .inf", want: `invalid value "+Inf" for stop_grace`},
		{name: "toml nan", file: "c.toml:guard_cycle = nan", want: `invalid value "NaN" for guard_cycle`},
		{name: "yaml float workers", file: "c.yaml:workers: 1.5", want: `invalid value "1.5" for workers`},
		{name: "yaml negative int", file: "c.yaml:workers: -2", want: `invalid value "-2" for workers`},
		{name: "yaml list", file: "c.yaml:workers: [1, 2]", want: `invalid value "[1,2]" for workers`},
		{name: "json file table", file: `c.json:{"max_rss": {"a": 1}}`, want: `invalid value "{\"a\":1}" for max_rss`},
		{name: "yaml bool name", file: "c.yaml:name: true", want: `invalid value "true" for name`},
		{name: "Q_CLUSTER max_rss 1.5", qcluster: `{"max_rss": 1.5}`, want: `invalid value "1.5" for max_rss (from Q_CLUSTER): must be an integer from 0 to 9007199254740991`},
		{name: "Q_CLUSTER huge number", qcluster: `{"timeout": 1e400}`, want: `invalid value "1e400" for timeout (from Q_CLUSTER)`},
		{name: "Q_CLUSTER huge workers", qcluster: `{"workers": 1e400}`, want: `invalid value "1e400" for workers`},
		{name: "Q_CLUSTER float workers", qcluster: `{"workers": 1e18}`, want: `invalid value "1e18" for workers (from Q_CLUSTER): must be an integer from 1 to max_workers`},
		{name: "yaml float workers beyond the bound", file: "c.yaml:workers: 1e18", want: `invalid value "1e18" for workers`},
		{name: "workers beyond a raised bound", qcluster: `{"workers": 20, "max_workers": 16}`, want: `invalid value "20" for workers (from Q_CLUSTER): must be an integer from 1 to max_workers`},
		{name: "Q_CLUSTER tasks bool", qcluster: `{"tasks": true}`, want: `invalid value "true" for tasks`},
		{name: "Q_CLUSTER signal object", qcluster: `{"stop_signal": {"n": 15}}`, want: `invalid value "{\"n\":15}" for stop_signal`},
		{name: "Q_CLUSTER restart number", qcluster: `{"restart": 1}`, want: `invalid value "1" for restart`},
		{name: "Q_CLUSTER per_task 2", qcluster: `{"per_task": 2}`, want: `invalid value "2" for per_task`},
		{name: "Q_CLUSTER max_attempts -1", qcluster: `{"max_attempts": -1}`, want: `invalid value "-1" for max_attempts (from Q_CLUSTER): must be an integer from 0 to 2147483647`},
		{name: "Q_CLUSTER instrument number", qcluster: `{"instrument": 1}`, want: `invalid value "1" for instrument (from Q_CLUSTER): must be one of auto, python, node, java, none`},
		{name: "yaml instrument bool", file: "c.yaml:instrument: false", want: `invalid value "false" for instrument`},
		{name: "Q_CLUSTER javaagent list", qcluster: `{"javaagent": ["a.jar"]}`, want: `invalid value "[\"a.jar\"]" for javaagent (from Q_CLUSTER): must be a string`},
		{name: "two bad keys", qcluster: `{"workers": 0, "restart": "x"}`, want: "for workers (from Q_CLUSTER): must be an integer from 1 to max_workers (1024 unless raised, at most 65536)\ninvalid value \"x\" for restart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args, environ []string
			if tt.file != "" {
				name, content, _ := strings.Cut(tt.file, ":")
				args = []string{"--config", writeFile(t, name, content+"\n")}
			}
			if tt.qcluster != "" {
				environ = []string{"Q_CLUSTER=" + tt.qcluster}
			}
			c, err := envconfig.Load(parse(t, args...), environ)
			checkInvalid(t, c, err, tt.want)
		})
	}
}

// TestOverriddenBadValue checks that only the winning value is validated.
func TestOverriddenBadValue(t *testing.T) {
	path := writeFile(t, "c.yaml", "workers: {a: 1}\ntimeout: abc\n")
	c := mustLoad(t, parse(t, "--config", path, "--timeout=5"), `Q_CLUSTER={"workers": 2, "restart": "sometimes"}`, "Q_CLUSTER_RESTART=always")
	if c.Workers != 2 || c.Timeout != 5*time.Second || c.Restart != qrun.RestartAlways {
		t.Errorf("got %+v", c)
	}
}

func TestStructuralErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, qcluster, file, content, want string
	}{
		{name: "truncated", qcluster: `{"workers": 4,`, want: "Q_CLUSTER is not a valid JSON object: unexpected end of JSON input at byte offset 14"},
		{name: "bad character", qcluster: `{"workers": 4,}`, want: "Q_CLUSTER is not a valid JSON object: invalid character '}' looking for beginning of object key string at byte offset 15"},
		{name: "trailing data", qcluster: `{"workers": 4} x`, want: "at byte offset 16"},
		{name: "array", qcluster: `[1]`, want: "Q_CLUSTER is not a valid JSON object: it is an array"},
		{name: "string", qcluster: ` "str"`, want: "Q_CLUSTER is not a valid JSON object: it is a string"},
		{name: "number", qcluster: `4`, want: "it is a number"},
		{name: "null", qcluster: `null`, want: "it is null"},
		{name: "bool", qcluster: `true`, want: "it is a boolean"},
		{name: "missing file", file: filepath.Join(dir, "missing.yaml"), want: "missing.yaml\": open "},
		{name: "directory", file: dir + "/d.yaml", want: `d.yaml": not a regular file: it is a directory`},
		{name: "fifo", file: dir + "/fifo.yaml", want: `fifo.yaml": not a regular file: it is a named pipe (FIFO)`},
		{name: "device", file: dir + "/zero.yaml", want: `zero.yaml": not a regular file: it is a character device`},
		{name: "too large", file: "big.yaml", content: "# " + strings.Repeat("x", envconfig.FileLimit) + "\n", want: `big.yaml": file too large: 1048579 bytes, more than 1048576`},
		{name: "malformed yaml", file: "bad.yaml", content: "workers: [1\n", want: `bad.yaml": `},
		{name: "malformed toml", file: "bad.toml", content: "workers = \n", want: `bad.toml": `},
		{name: "json array", file: "bad.json", content: "[1]", want: `bad.json": `},
		{name: "unsupported extension", file: "c.ini", content: "workers=1", want: "unsupported extension: want .yaml, .yml, .json or .toml"},
		{name: "no extension", file: "config", content: "workers: 1", want: "unsupported extension"},
	}
	if err := os.Mkdir(filepath.Join(dir, "d.yaml"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args, environ []string
			switch {
			case tt.content != "":
				args = []string{"--config", writeFile(t, tt.file, tt.content)}
			case tt.file != "":
				args = []string{"--config", tt.file}
			}
			if tt.qcluster != "" {
				environ = []string{"Q_CLUSTER=" + tt.qcluster}
			}
			c, err := envconfig.Load(parse(t, args...), environ)
			checkInvalid(t, c, err, tt.want)
		})
	}
}

func TestValidate(t *testing.T) {
	err := new(envconfig.Config).Validate()
	if !errors.Is(err, envconfig.ErrInvalid) {
		t.Fatalf("zero Config: %v", err)
	}
	for _, want := range []string{
		`invalid value "" for name: must be a non-empty string`,
		`invalid value "0" for workers: must be an integer from 1 to max_workers`,
		`invalid value "0" for max_workers: must be an integer from 1 to 65536`,
		`invalid value "" for restart: must be one of never, on-failure, always`,
		`invalid value "0" for stop_signal`,
		`invalid value "0s" for guard_cycle: must be a duration >= 10ms`,
		`invalid value "" for results`,
		`invalid value "0" for queue_limit`,
		`invalid value "0" for max_line`,
		`invalid value "" for instrument: must be one of auto, python, node, java, none`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, bad := range []func(*envconfig.Config){
		func(c *envconfig.Config) { c.Workers = -1 },
		func(c *envconfig.Config) { c.MaxRSS = -1 },
		func(c *envconfig.Config) { c.MinUptime = -time.Second },
		func(c *envconfig.Config) { c.Timeout = -1 },
		func(c *envconfig.Config) { c.StopSignal = -15 },
		func(c *envconfig.Config) { c.Subreaper = 3 },
		func(c *envconfig.Config) { c.Restart = "sometimes" },
		func(c *envconfig.Config) { c.Instrument = "ruby" },
	} {
		c := defaultConfig()
		bad(c)
		if err := c.Validate(); !errors.Is(err, envconfig.ErrInvalid) {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

// TestClaimIntervalDefault: claim_interval defaults to max(timeout, 30s) +
// stop_grace, from whatever layers set those; a value given wins.
func TestClaimIntervalDefault(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want time.Duration
	}{
		{nil, 40 * time.Second},
		{[]string{"Q_CLUSTER_TIMEOUT=10"}, 40 * time.Second},
		{[]string{"Q_CLUSTER_TIMEOUT=300", "Q_CLUSTER_STOP_GRACE=30"}, 330 * time.Second},
		{[]string{`Q_CLUSTER={"timeout":120,"stop_grace":0}`}, 120 * time.Second},
		{[]string{"Q_CLUSTER_TIMEOUT=300", "Q_CLUSTER_CLAIM_INTERVAL=15"}, 15 * time.Second},
	} {
		c := mustLoad(t, nil, tc.env...)
		if c.ClaimInterval != tc.want {
			t.Errorf("%q: claim_interval %v, want %v", tc.env, c.ClaimInterval, tc.want)
		}
	}
	if _, err := envconfig.Load(nil, []string{"Q_CLUSTER_CLAIM_INTERVAL=0"}); err == nil || !strings.Contains(err.Error(), "claim_interval") {
		t.Errorf("claim_interval 0: %v, want an error", err)
	}
}
