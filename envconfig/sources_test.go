package envconfig_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

// fromClause is the part of an error message that names the layer.
var fromClause = regexp.MustCompile(` \(from (--[a-z-]+|Q_CLUSTER_[A-Z_]+|Q_CLUSTER|config file "[^"]*")\)`)

// layer gives one key one value through one layer.
type layer struct {
	name string
	// load returns Load's result; ok is false when the layer cannot hold
	// the value (an empty variable is unset, a JSON number must be valid).
	load func(t *testing.T, dir string, k envconfig.Key, value string) (c *envconfig.Config, err error, ok bool)
}

// textLayers hold the value as text, so that every one of them must give
// the same verdict and the same message.
var textLayers = []layer{
	{"flag", func(t *testing.T, _ string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		if k.Name == "per_task" {
			return nil, nil, false // a boolean flag, checked when parsing
		}
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		envconfig.AddFlags(fs)
		if err := fs.Parse([]string{k.Flag + "=" + v}); err != nil {
			t.Fatalf("parse %s=%q: %v", k.Flag, v, err)
		}
		c, err := envconfig.Load(fs, nil)
		return c, err, true
	}},
	{"env", func(_ *testing.T, _ string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		if v == "" || strings.Contains(v, "\x00") {
			return nil, nil, false
		}
		c, err := envconfig.Load(nil, []string{k.Env + "=" + v})
		return c, err, true
	}},
	{"Q_CLUSTER string", func(_ *testing.T, _ string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		if !utf8.ValidString(v) {
			return nil, nil, false
		}
		b, _ := json.Marshal(map[string]string{k.Name: v})
		c, err := envconfig.Load(nil, []string{"Q_CLUSTER=" + string(b)})
		return c, err, true
	}},
	{"Q_CLUSTER number", func(_ *testing.T, _ string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		var n json.Number
		if json.Unmarshal([]byte(v), &n) != nil || string(n) != v {
			return nil, nil, false
		}
		c, err := envconfig.Load(nil, []string{fmt.Sprintf(`Q_CLUSTER={"%s": %s}`, k.Name, v)})
		return c, err, true
	}},
	{"yaml string", func(t *testing.T, dir string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		if !utf8.ValidString(v) {
			return nil, nil, false
		}
		return loadFile(t, dir, "c.yaml", fmt.Sprintf("%s: %s\n", k.Name, yamlQuote(v)))
	}},
}

// numberLayers hold the value as a number of a file, which the file's
// decoder turns into a float64 or an integer: the verdict must be the
// same, and so must the message but for how the value is written (1e+18
// may come back as 1e18, 4.0 as 4).
var numberLayers = []layer{
	{"yaml number", func(t *testing.T, dir string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		return loadFile(t, dir, "c.yaml", fmt.Sprintf("%s: %s\n", k.Name, v))
	}},
	{"json file number", func(t *testing.T, dir string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		return loadFile(t, dir, "c.json", fmt.Sprintf(`{"%s": %s}`, k.Name, v))
	}},
	{"toml number", func(t *testing.T, dir string, k envconfig.Key, v string) (*envconfig.Config, error, bool) {
		return loadFile(t, dir, "c.toml", fmt.Sprintf("%s = %s\n", k.Name, v))
	}},
}

// yamlQuote writes s as a YAML double-quoted scalar, every character that
// YAML does not allow raw (controls, DEL, BOM) escaped.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfeff || r == 0xfffe || r == 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func loadFile(t *testing.T, dir, name, content string) (*envconfig.Config, error, bool) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	envconfig.AddFlags(fs)
	if err := fs.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	c, err := envconfig.Load(fs, nil)
	return c, err, true
}

// verdict is what Load decided about one key: its value as shown, or the
// error message without the layer it names.
func verdict(k envconfig.Key, c *envconfig.Config, err error) string {
	if err != nil {
		return "error: " + fromClause.ReplaceAllString(err.Error(), "")
	}
	return "ok: " + c.Value(k.Name)
}

// checkSameVerdict gives value to key through every text layer and checks
// that each gives the same verdict and message. It returns that verdict.
func checkSameVerdict(t *testing.T, k envconfig.Key, value string) string {
	t.Helper()
	dir := t.TempDir()
	first, firstLayer := "", ""
	for _, l := range textLayers {
		c, err, ok := l.load(t, dir, k, value)
		if !ok {
			continue
		}
		v := verdict(k, c, err)
		if firstLayer == "" {
			first, firstLayer = v, l.name
			continue
		}
		if v != first {
			t.Errorf("%s=%q: %s says\n  %s\nbut %s says\n  %s", k.Name, value, firstLayer, first, l.name, v)
		}
	}
	return first
}

func keyNamed(t *testing.T, name string) envconfig.Key {
	t.Helper()
	for _, k := range envconfig.Keys() {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no key %s", name)
	return envconfig.Key{}
}

// TestSameVerdictEverySource gives the same values through every layer:
// the same value is accepted or rejected the same way, with the same
// message (exit status 2 is checked through the binary in cmd).
func TestSameVerdictEverySource(t *testing.T) {
	tests := []struct {
		key    string
		values []string
	}{
		{"workers", []string{"1e18", "1E18", "1e400", "1025", "1024", "4.0", "1e3", "2.5e1", "4.5", "-1", "0", "-0", "+3", "0x10", "9223372036854775808", " 4", "four", ""}},
		{"max_workers", []string{"2048", "65536", "65537", "1e5", "0"}},
		{"max_restarts", []string{"2147483647", "2147483648", "1e10", "-1"}},
		{"max_rss", []string{"1e6", "9007199254740991", "9007199254740992", "1.5"}},
		{"cpu_affinity", []string{"1024", "1025", "1e3"}},
		{"queue_limit", []string{"1048576", "1048577", "1e6"}},
		{"max_line", []string{"67108864", "67108865", "1e9"}},
		{"timeout", []string{"none", "60", "1e18", "31536000", "31536001", "8760h", "8761h", "1e-10", "-1", "NaN"}},
		{"guard_cycle", []string{"0.01", "0.001", "1e-2", "10ms", "9ms", "0"}},
		{"stop_grace", []string{"1e400", "2562047h", "1.5"}},
		{"stop_signal", []string{"15", "15.0", "TERM", "0"}},
		{"per_task", []string{"1", "on", "2", "1.0"}},
		{"name", []string{"1e18", "x"}},
		{"restart", []string{"1", "always"}},
	}
	for _, tt := range tests {
		k := keyNamed(t, tt.key)
		for _, v := range tt.values {
			t.Run(tt.key+"="+v, func(t *testing.T) {
				want := checkSameVerdict(t, k, v)
				var n json.Number
				if json.Unmarshal([]byte(v), &n) != nil || string(n) != v {
					return // not a number: the number layers cannot hold it
				}
				dir := t.TempDir()
				wantOK := strings.HasPrefix(want, "ok: ")
				for _, l := range numberLayers {
					c, err, _ := l.load(t, dir, k, v)
					if l.name == "toml number" && err != nil && strings.Contains(err.Error(), "toml") {
						continue // a JSON number that TOML does not read (-0 is fine, 1e400 is not)
					}
					if got := verdict(k, c, err); strings.HasPrefix(got, "ok: ") != wantOK {
						t.Errorf("%s=%s: text layers say %s, %s says %s", k.Name, v, want, l.name, got)
					}
				}
			})
		}
	}
}

// FuzzKeySources checks that every text layer gives the same verdict and
// message for any value of any key.
func FuzzKeySources(f *testing.F) {
	keys := envconfig.Keys()
	for i := range keys {
		for _, v := range []string{"1", "1e18", "4.0", "-1", "none", "TERM", "on", "60", "1m30s", "", "x"} {
			f.Add(uint8(i), v)
		}
	}
	f.Fuzz(func(t *testing.T, i uint8, value string) {
		checkSameVerdict(t, keys[int(i)%len(keys)], value)
	})
}
