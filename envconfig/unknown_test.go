package envconfig_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

// loadWith loads a config file of the given name and content (none when
// name is "") with environ, failing the test on an error.
func loadWith(t *testing.T, name, content string, environ []string) *envconfig.Config {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	envconfig.AddFlags(fs)
	var args []string
	if name != "" {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		args = []string{"--config", path}
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := envconfig.Load(fs, environ)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Unknown keys of the config file and of Q_CLUSTER_<KEY> variables each
// give one warning naming the key, where it came from and the closest key;
// known keys, aliases and the Q_CLUSTER JSON's keys give none.
func TestUnknownKeysWarn(t *testing.T) {
	tests := []struct {
		name, file, content string
		environ             []string
		want                []string // warnings, the file's path written as FILE
	}{
		{"typo in yaml", "config.yaml", "wrkers: 3\n", nil,
			[]string{`FILE: unknown key "wrkers" (did you mean "workers"?)`}},
		{"typo in toml", "c.toml", "stop_grase = \"5s\"\n", nil,
			[]string{`FILE: unknown key "stop_grase" (did you mean "stop_grace"?)`}},
		{"typo in json", "c.json", `{"timout": 3, "workers": 2}`, nil,
			[]string{`FILE: unknown key "timout" (did you mean "timeout"?)`}},
		{"far from every key", "c.yaml", "frobnicate: 1\n", nil,
			[]string{`FILE: unknown key "frobnicate"`}},
		{"several, sorted", "c.yaml", "zzz: 1\nmax_rs: 2\nworkers: 1\n", nil,
			[]string{`FILE: unknown key "max_rs" (did you mean "max_rss"?)`, `FILE: unknown key "zzz"`}},
		{"a table", "c.yaml", "wrkers:\n  a: 1\n", nil,
			[]string{`FILE: unknown key "wrkers" (did you mean "workers"?)`}},
		{"null value", "c.yaml", "wrkers: ~\n", nil,
			[]string{`FILE: unknown key "wrkers" (did you mean "workers"?)`}},
		{"upper case key is known", "c.yaml", "WORKERS: 2\n", nil, nil},
		{"alias is known", "c.yaml", "cluster_name: x\n", nil, nil},
		{"empty file", "c.yaml", "", nil, nil},
		{"environment typo", "", "", []string{"Q_CLUSTER_WORKRS=3"},
			[]string{`environment: unknown variable "Q_CLUSTER_WORKRS" (did you mean "Q_CLUSTER_WORKERS"?)`}},
		{"environment far", "", "", []string{"Q_CLUSTER_SECRET_THING=hunter2"},
			[]string{`environment: unknown variable "Q_CLUSTER_SECRET_THING"`}},
		{"environment empty value is unset", "", "", []string{"Q_CLUSTER_WORKRS="}, nil},
		{"environment alias and lower case prefix", "", "", []string{"Q_CLUSTER_CLUSTER_NAME=x", "q_cluster_wrkrs=1", "Q_CLUSTERS=1"}, nil},
		{"Q_CLUSTER JSON keys are others' too", "", "", []string{`Q_CLUSTER={"wrkers": 3, "orm": "default"}`}, nil},
		{"file and environment", "c.yaml", "wrkers: 3\n", []string{"Q_CLUSTER_WORKRS=3", "Q_CLUSTER_WORKERS=2"},
			[]string{`FILE: unknown key "wrkers" (did you mean "workers"?)`,
				`environment: unknown variable "Q_CLUSTER_WORKRS" (did you mean "Q_CLUSTER_WORKERS"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadWith(t, tt.file, tt.content, tt.environ)
			var got []string
			for _, w := range c.Warnings {
				if c.ConfigFile != "" {
					w = strings.ReplaceAll(w, c.ConfigFile, "FILE")
				}
				got = append(got, w)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warnings\n%q\nwant\n%q", got, tt.want)
			}
			for _, w := range c.Warnings {
				if strings.Contains(w, "hunter2") {
					t.Errorf("a warning shows a value: %q", w)
				}
			}
		})
	}
}

// A typo warns but changes nothing else: the key keeps its default.
func TestUnknownKeyKeepsDefault(t *testing.T) {
	c := loadWith(t, "c.yaml", "wrkers: 3\n", nil)
	if c.Workers != 1 || c.Sources["workers"] != envconfig.SourceDefault {
		t.Errorf("workers %d from %v", c.Workers, c.Sources["workers"])
	}
}
