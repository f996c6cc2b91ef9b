package envconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/otel-qrun/otel-qrun/internal/jsonkind"
	"github.com/otel-qrun/otel-qrun/internal/safefile"
	"github.com/otel-qrun/otel-qrun/qrun"
)

// qclusterVar is the environment variable holding the django-q2 style JSON.
const qclusterVar = "Q_CLUSTER"

// Load resolves every key from the flags of fs (already parsed; nil for no
// flags), the environment environ ("NAME=value" entries as os.Environ
// returns them; the process environment is never read), the Q_CLUSTER JSON
// in environ, the file named by --config and the defaults, as described in
// the package documentation. It checks the result as Validate does and
// returns an error wrapping ErrInvalid that names every bad key, its value
// and where the value came from.
func Load(fs *pflag.FlagSet, environ []string) (*Config, error) {
	env := envMap(environ)
	qc, err := parseQCluster(env[qclusterVar])
	if err != nil {
		return nil, err
	}

	c := &Config{Sources: make(map[string]Source)}
	if fs != nil {
		if f := fs.Lookup(flagConfig); f != nil {
			c.ConfigFile = f.Value.String()
		}
		if f := fs.Lookup(flagVerbose); f != nil {
			c.Verbose, _ = strconv.ParseBool(f.Value.String()) // a parsed bool flag
		}
	}

	v := viper.New()
	if c.ConfigFile != "" {
		if err := readFile(v, c.ConfigFile); err != nil {
			return nil, err
		}
	}
	c.Warnings = unknownKeys(v, c.ConfigFile, env)
	ss := specs()
	for _, s := range ss {
		if s.Name != keyQueueLimit && s.Name != keyClaimInterval { // computed below
			v.SetDefault(s.Name, s.Default)
		}
		if fs != nil {
			if f := fs.Lookup(s.Flag[2:]); f != nil {
				_ = v.BindPFlag(s.Name, f) // fails only for a nil flag
			}
		}
	}

	// Decode every key, then check every decoded value, so that a key's
	// bounds may depend on another key (workers <= max_workers).
	errs := make([]error, len(ss))
	raws := make([]any, len(ss))
	origins := make([]string, len(ss))
	for i, s := range ss {
		src, origin := resolve(v, &s, fs, env, qc, c.ConfigFile)
		c.Sources[s.Name] = src
		if src == SourceDefault && s.Name == keyQueueLimit {
			continue // computed from workers below
		}
		if src == SourceDefault && s.Name == keyClaimInterval {
			continue // computed from timeout and stop_grace below
		}
		raws[i], origins[i] = v.Get(s.Name), origin
		if !s.decode(c, raws[i]) {
			errs[i] = s.invalid(display(raws[i]), origin)
		}
	}
	if c.Sources[keyQueueLimit] == SourceDefault {
		c.QueueLimit = qrun.DefaultQueueLimit(c.Workers)
	}
	if c.Sources[keyClaimInterval] == SourceDefault {
		c.ClaimInterval = DefaultClaimInterval(c.Timeout, c.StopGrace)
	}
	for i, s := range ss {
		if errs[i] == nil && raws[i] != nil && !s.valid(c) {
			errs[i] = s.invalid(display(raws[i]), origins[i])
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// resolve finds the layer that sets the key of s and prepares v so that
// v.Get returns that layer's value. It returns the layer and a description
// of where the value came from, for error messages.
//
// Viper resolves flag > file > default itself. It reads the environment
// only from the process, and MergeConfigMap would not replace a table of the
// file with a scalar of Q_CLUSTER, so the two environment layers are
// resolved here and given to v as an override, which is only ever set when
// no flag sets the key and so keeps the precedence.
func resolve(v *viper.Viper, s *spec, fs *pflag.FlagSet, env map[string]string, qc map[string]any, file string) (Source, string) {
	names := append([]string{s.Name}, s.Aliases...)
	if fs != nil {
		for _, n := range names {
			if f := fs.Lookup(flagName(n)[2:]); f != nil && f.Changed {
				if n != s.Name {
					_ = v.BindPFlag(s.Name, f) // f is not nil
				}
				return SourceFlag, flagName(n)
			}
		}
	}
	for _, n := range names {
		if val, ok := env[envName(n)]; ok {
			v.Set(s.Name, val)
			return SourceEnv, envName(n)
		}
	}
	for _, n := range names {
		if val, ok := qc[n]; ok {
			v.Set(s.Name, val)
			return SourceQCluster, qclusterVar + aliasNote(s, n)
		}
	}
	for _, n := range names {
		if v.InConfig(n) { // false for a null value
			if n != s.Name {
				v.RegisterAlias(n, s.Name) // moves the file's value to s.Name
			}
			return SourceFile, fmt.Sprintf("config file %q", file) + aliasNote(s, n)
		}
	}
	return SourceDefault, "default"
}

// aliasNote names the key used in a JSON object or file when it is an alias.
func aliasNote(s *spec, used string) string {
	if used == s.Name {
		return ""
	}
	return fmt.Sprintf(", key %q", used)
}

// envMap returns the non-empty variables of environ whose names start with
// Q_CLUSTER. Of duplicate names the last wins, as in exec.Cmd.Env.
func envMap(environ []string) map[string]string {
	m := make(map[string]string)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, qclusterVar) {
			m[name] = val
		}
	}
	for name, val := range m {
		if val == "" {
			delete(m, name)
		}
	}
	return m
}

// parseQCluster returns the keys and aliases that the JSON object s sets,
// with numbers as json.Number; null values, unknown keys and keys in
// another case are left out. An empty s sets nothing.
func parseQCluster(s string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var top json.RawMessage
	if err := json.Unmarshal([]byte(s), &top); err != nil {
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			return nil, invalidf("%s is not a valid JSON object: %w at byte offset %d", qclusterVar, err, se.Offset)
		}
		return nil, invalidf("%s is not a valid JSON object: %w", qclusterVar, err)
	}
	top = bytes.TrimLeft(top, " \t\r\n")
	if top[0] != '{' {
		return nil, invalidf("%s is not a valid JSON object: it is %s", qclusterVar, jsonkind.WithArticle(top))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(top, &fields); err != nil {
		return nil, invalidf("%s is not a valid JSON object: %w", qclusterVar, err)
	}
	out := make(map[string]any)
	for _, s := range specs() {
		for _, n := range append([]string{s.Name}, s.Aliases...) {
			raw, ok := fields[n]
			if !ok {
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var val any
			if err := dec.Decode(&val); err != nil {
				return nil, invalidf("%s is not a valid JSON object: key %q: %w", qclusterVar, n, err)
			}
			if val != nil {
				out[n] = val
			}
		}
	}
	return out, nil
}

// FileLimit is the size limit of the --config file: 1 MiB.
const FileLimit = safefile.DefaultLimit

// readFile reads the config file at path into v, by its extension.
func readFile(v *viper.Viper, path string) error {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch ext {
	case "yaml", "yml", "json", "toml":
	default:
		return invalidf("config file %q: unsupported extension: want .yaml, .yml, .json or .toml", path)
	}
	// Read by safefile, never by viper: only a regular file, of at most
	// FileLimit bytes, and a FIFO put in its place cannot block the start.
	b, err := safefile.ReadFile(path, FileLimit)
	if err != nil {
		return invalidf("config file %q: %w", path, err)
	}
	v.SetConfigType(ext)
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		return invalidf("config file %q: %w", path, err)
	}
	return nil
}
