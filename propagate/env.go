package propagate

import (
	"context"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/propagation"
)

// EnvCarrier is a propagation.TextMapCarrier over a private copy of an
// environment slice (the "NAME=value" form of os.Environ and exec.Cmd.Env).
//
// Get and Set normalize the key with the OpenTelemetry environment-carrier
// rules, so Get("traceparent") reads TRACEPARENT and Set("x-b3-traceid", v)
// writes X_B3_TRACEID. Only names already in normalized form are read: an
// entry "traceparent=..." is another variable and is ignored (and kept).
// When a name appears more than once, the last entry wins, as with os/exec.
// Entries without '=' are kept as they are and never read.
//
// The zero value is an empty carrier ready to use. An EnvCarrier is not safe
// for concurrent use.
type EnvCarrier struct {
	env []string
	// index maps each normalized name to the position in env of its last
	// (effective) entry.
	index map[string]int
	// written holds the names changed by Set; Environ drops their earlier
	// duplicate entries so the result is unambiguous.
	written map[string]bool
}

var _ propagation.TextMapCarrier = (*EnvCarrier)(nil)

// NewEnvCarrier returns a carrier over a copy of environ; environ itself is
// never modified.
func NewEnvCarrier(environ []string) *EnvCarrier {
	return newEnvCarrierOwned(slices.Clone(environ))
}

// newEnvCarrierOwned returns a carrier that takes ownership of env.
func newEnvCarrierOwned(env []string) *EnvCarrier {
	c := &EnvCarrier{env: env, index: make(map[string]int, len(env))}
	for i, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if ok && isNormalized(name) {
			c.index[name] = i
		}
	}
	return c
}

// Get returns the value of the variable named by the normalized key, or ""
// when it is unset or empty.
func (c *EnvCarrier) Get(key string) string {
	i, ok := c.index[normalizeKey(key)]
	if !ok {
		return ""
	}
	_, v, _ := strings.Cut(c.env[i], "=")
	return v
}

// Set sets the variable named by the normalized key. An existing variable is
// updated in place (earlier duplicates of it are dropped from Environ); a new
// one is appended.
func (c *EnvCarrier) Set(key, value string) {
	name := normalizeKey(key)
	kv := name + "=" + value
	if c.index == nil {
		c.index = make(map[string]int)
	}
	if c.written == nil {
		c.written = make(map[string]bool)
	}
	c.written[name] = true
	if i, ok := c.index[name]; ok {
		c.env[i] = kv
		return
	}
	c.index[name] = len(c.env)
	c.env = append(c.env, kv)
}

// Keys returns the normalized variable names present in the carrier, each
// once, in the order of their effective entries.
func (c *EnvCarrier) Keys() []string {
	keys := make([]string, 0, len(c.index))
	for k := range c.index {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return c.index[a] - c.index[b] })
	return keys
}

// Environ returns a fresh copy of the environment: the original order is
// kept, variables changed by Set are updated in place and new ones appended.
// The result is never nil, so it can be assigned to exec.Cmd.Env without
// meaning "inherit the parent's environment".
func (c *EnvCarrier) Environ() []string {
	out := make([]string, 0, len(c.env))
	for i, kv := range c.env {
		if len(c.written) > 0 {
			name, _, ok := strings.Cut(kv, "=")
			if ok && c.written[name] && c.index[name] != i {
				continue
			}
		}
		out = append(out, kv)
	}
	return out
}

// StripEnv returns a copy of environ without every entry of a variable
// named by a field of p (normalized: TRACEPARENT, TRACESTATE, BAGGAGE, or
// B3, X_B3_TRACEID, ... for B3). Every duplicate entry is removed; other
// entries keep their order. The result is never nil.
func StripEnv(p propagation.TextMapPropagator, environ []string) []string {
	names := make(map[string]bool)
	for _, f := range p.Fields() {
		names[normalizeKey(f)] = true
	}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if name, _, ok := strings.Cut(kv, "="); ok && names[name] {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// InjectEnv returns a copy of environ in which the carrier variables are
// replaced by the context of ctx: every variable of every propagator
// otel-qrun knows (see StripCarriers) and of p's fields is removed first,
// whatever p is, so that no stale parent (for example a TRACEPARENT
// inherited by the launcher while p is b3) survives; then p.Inject appends
// the new ones: TRACEPARENT, TRACESTATE and BAGGAGE first, then the others
// sorted by name. When ctx has no valid span context only baggage is
// injected (no placeholder such as B3's "0"). The result is never nil.
func InjectEnv(ctx context.Context, p propagation.TextMapPropagator, environ []string) []string {
	c := newEnvCarrierOwned(StripEnv(p, StripCarriers(environ)))
	n := len(c.env)
	inject(ctx, p, c)
	c.sortFrom(n)
	return c.Environ()
}

// AppendEnv appends to dst the "NAME=value" entries of the carrier of ctx
// as p injects it, in the order of InjectEnv: TRACEPARENT, TRACESTATE and
// BAGGAGE first, then the others sorted by name (only baggage when ctx has
// no valid span context). InjectEnv(ctx, p, environ) is
// StripEnv(p, StripCarriers(environ)) followed by these entries; a caller
// that starts many processes from one environment strips it once and
// appends each process's carrier.
func AppendEnv(ctx context.Context, p propagation.TextMapPropagator, dst []string) []string {
	c := &EnvCarrier{}
	inject(ctx, p, c)
	c.sortFrom(0)
	return append(dst, c.env...)
}

// ExtractEnv returns ctx updated with the trace context that p extracts from
// environ (pass os.Environ() for the process environment).
//
// When a trace field is set (TRACEPARENT, for instance) but yields no valid
// span context, the error wraps ErrInvalidCarrier; the returned context is
// still usable and holds whatever was valid, such as baggage, so the caller
// starts a new trace and warns. A missing carrier is not an error.
func ExtractEnv(ctx context.Context, p propagation.TextMapPropagator, environ []string) (context.Context, error) {
	return extract(ctx, p, NewEnvCarrier(environ), normalizeKey)
}

// FormatEnv returns the carrier of ctx as plain NAME=value lines, one per
// variable p injects (only baggage when ctx has no valid span context): TRACEPARENT, TRACESTATE and BAGGAGE first, then the
// others sorted by name. Values are written verbatim; a variable whose value
// holds a newline or NUL byte (which no standard propagator produces) is
// left out because the format cannot represent it.
func FormatEnv(ctx context.Context, p propagation.TextMapPropagator) string {
	var b strings.Builder
	for _, kv := range injectVars(ctx, p) {
		if strings.ContainsAny(kv.value, "\n\x00") {
			continue
		}
		b.WriteString(kv.name)
		b.WriteByte('=')
		b.WriteString(kv.value)
		b.WriteByte('\n')
	}
	return b.String()
}

type variable struct{ name, value string }

// injectVars injects ctx with p into an empty environment carrier and
// returns them in the order of compareVars.
func injectVars(ctx context.Context, p propagation.TextMapPropagator) []variable {
	c := &EnvCarrier{}
	inject(ctx, p, c)
	c.sortFrom(0)
	vars := make([]variable, 0, len(c.env))
	for _, kv := range c.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		vars = append(vars, variable{name, value})
	}
	return vars
}

// wellKnownRank ranks the W3C variables ahead of the others in the output
// of InjectEnv, FormatEnv and FormatShell (p.Fields() of a composite
// propagator has no fixed order): TRACEPARENT, TRACESTATE, BAGGAGE, then the
// rest (-1).
func wellKnownRank(name string) int {
	switch name {
	case "TRACEPARENT":
		return 0
	case "TRACESTATE":
		return 1
	case "BAGGAGE":
		return 2
	}
	return -1
}

// compareVars orders variable names: the well-known ones first, in
// wellKnownRank order, then the others by name.
func compareVars(a, b string) int {
	ra, rb := wellKnownRank(a), wellKnownRank(b)
	switch {
	case ra >= 0 && rb >= 0:
		return ra - rb
	case ra >= 0:
		return -1
	case rb >= 0:
		return 1
	}
	return strings.Compare(a, b)
}

// sortFrom sorts the entries from position n on, which must all be distinct
// variables added by Set, with compareVars.
func (c *EnvCarrier) sortFrom(n int) {
	if n >= len(c.env) {
		return
	}
	name := func(kv string) string {
		k, _, _ := strings.Cut(kv, "=")
		return k
	}
	tail := c.env[n:]
	slices.SortFunc(tail, func(a, b string) int { return compareVars(name(a), name(b)) })
	for i, kv := range tail {
		c.index[name(kv)] = n + i
	}
}
