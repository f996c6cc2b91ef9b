package redact

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// A Redactor hides, in free text, the generic patterns of [Text] and every
// secret value it was given or found in an environment. The zero value and
// nil hide the generic patterns only. A Redactor is safe for concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string // longest first, no duplicates
	rep     *strings.Replacer
}

// New returns a Redactor that knows the secrets of environ ("NAME=value"
// entries as os.Environ returns them): the values of secret-looking
// variables, the header values of OTLP headers variables, the user
// information and passwords of URLs in any variable, and the secret-looking
// members of a Q_CLUSTER JSON object. Values shorter than [MinSecretLen]
// are hidden where a variable is shown whole ([Redactor.Env]) but are not
// searched for in free text.
func New(environ []string) *Redactor {
	r := &Redactor{}
	var found []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" {
			continue
		}
		found = append(found, EnvSecrets(name, value)...)
	}
	r.Add(found...)
	return r
}

// EnvSecrets returns the secret parts of the value of the variable name,
// by the rule of [Value]: the whole value for a secret-looking name, each
// header value (or malformed entry) for an OTLP headers variable, and the
// user information, passwords and secret query values of URLs in any
// value. For Q_CLUSTER it also returns the string members of the JSON
// object whose keys look secret, at any depth, and the user information of
// URLs in its strings.
func EnvSecrets(name, value string) []string {
	var out []string
	switch {
	case HeadersName(name):
		out = append(out, value)
		for item := range strings.SplitSeq(value, ",") {
			if _, v, ok := strings.Cut(item, "="); ok {
				out = append(out, v)
			} else {
				out = append(out, item)
			}
		}
	case SecretName(name):
		out = append(out, value)
	}
	out = append(out, userinfos(value)...)
	if name == "Q_CLUSTER" {
		var v any
		dec := json.NewDecoder(strings.NewReader(value))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			out = append(out, jsonSecrets(v, false)...)
		}
	}
	return out
}

// jsonSecrets walks a decoded JSON value; secret says whether it sits
// under a secret-looking key.
func jsonSecrets(v any, secret bool) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out = append(out, jsonSecrets(e, secret || SecretName(k))...)
		}
	case []any:
		for _, e := range x {
			out = append(out, jsonSecrets(e, secret)...)
		}
	case string:
		if secret {
			out = append(out, x)
		}
		out = append(out, userinfos(x)...)
	case json.Number:
		if secret {
			out = append(out, x.String())
		}
	}
	return out
}

// Add makes r hide each of secrets (and its quoted, escaped and decoded
// forms) in free text, except those shorter than [MinSecretLen], common
// words such as "true", and parts of [Mask].
func (r *Redactor) Add(secrets ...string) {
	if len(secrets) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	all := slices.Clone(r.secrets)
	for _, s := range secrets {
		for _, v := range variants(s) {
			if keepable(v) {
				all = append(all, v)
			}
		}
	}
	slices.SortFunc(all, func(a, b string) int {
		if c := cmp.Compare(len(b), len(a)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	all = slices.Compact(all)
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Mask)
	}
	r.secrets, r.rep = all, strings.NewReplacer(pairs...)
}

// String returns s with the generic patterns of [Text] and every known
// secret masked. When masking one secret would bring another to light
// (their texts overlap), the whole of s is replaced by Mask: no known
// secret is ever returned.
func (r *Redactor) String(s string) string {
	s = Text(s)
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.rep == nil {
		return s
	}
	for range 4 {
		masked := r.rep.Replace(s)
		if masked == s {
			// The replacer tried every secret at every position: none is
			// left.
			return s
		}
		if s = masked; !r.holds(s) {
			return s
		}
	}
	return Mask
}

func (r *Redactor) holds(s string) bool {
	for _, secret := range r.secrets {
		if strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// Bytes is String for a byte slice; it returns p itself when nothing is
// masked.
func (r *Redactor) Bytes(p []byte) []byte {
	s := r.String(string(p))
	if s == string(p) {
		return p
	}
	return []byte(s)
}

// Args returns a copy of argv as it may be shown: an argument that follows
// a flag with a secret name (--password VALUE, -api-key VALUE: the flag's
// name without its dashes, by the rule of names in text) is masked whole.
// A flag=value argument is left to [Text] and [Redactor.String].
func Args(argv []string) []string {
	out := slices.Clone(argv)
	for i := 1; i < len(argv); i++ {
		if secretFlag(argv[i-1]) {
			out[i] = Mask
		}
	}
	return out
}

// ArgSecrets returns the secrets in the arguments argv, for a [Redactor] to
// hide wherever they show up again ([Redactor.Add]): each argument that
// follows a flag with a secret name ([Args]), and what the rules of [Text]
// find in each argument (user information in a URL, the value of a
// secret name=value pair, JSON member or header line).
func ArgSecrets(argv []string) []string {
	var out []string
	for i, a := range argv {
		if i > 0 && secretFlag(argv[i-1]) {
			out = append(out, a)
		}
		out = append(out, userinfos(a)...)
	}
	return out
}

// secretFlag reports whether arg is a flag (-name or --name, no "=value")
// whose name is a secret's by the rule of names in text.
func secretFlag(arg string) bool {
	flag, ok := strings.CutPrefix(arg, "-")
	if !ok || strings.Contains(flag, "=") {
		return false
	}
	name := strings.TrimPrefix(flag, "-")
	return name != "" && secretTextName(name)
}

// Env returns the value of the variable name as it may be shown: [Value],
// then every known secret masked (a variable may repeat another's secret).
func (r *Redactor) Env(name, value string) string {
	return r.String(Value(name, value))
}

// Environ returns a copy of environ with every value as [Redactor.Env]
// shows it.
func (r *Redactor) Environ(environ []string) []string {
	out := make([]string, len(environ))
	for i, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			out[i] = r.String(kv)
			continue
		}
		out[i] = r.String(name) + "=" + r.Env(name, value)
	}
	return out
}
