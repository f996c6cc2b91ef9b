package propagate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/propagation"

	"github.com/otel-qrun/otel-qrun/internal/jsonkind"
)

// MapCarrier is the "carrier" object of a task line: a
// propagation.TextMapCarrier whose keys are header-style field names such as
// "traceparent". It marshals to a JSON object of strings and unmarshals with
// the rules of ParseMapCarrier.
//
// Set stores lower-case keys. Get is case-insensitive, because a producer
// may write header-style keys such as "Traceparent": an exact match wins,
// then the lower-case key, then the smallest matching key.
type MapCarrier map[string]string

var _ propagation.TextMapCarrier = MapCarrier(nil)

// Get returns the value stored for key, compared without regard to case, or
// "" when there is none.
func (c MapCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		return v
	}
	if v, ok := c[strings.ToLower(key)]; ok {
		return v
	}
	var best, value string
	found := false
	for k, v := range c {
		if strings.EqualFold(k, key) && (!found || k < best) {
			best, value, found = k, v, true
		}
	}
	return value
}

// Set stores value under the lower-cased key and removes every other key
// that differs from it only by case. c must not be nil.
func (c MapCarrier) Set(key, value string) {
	lk := strings.ToLower(key)
	for k := range c {
		if k != lk && strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[lk] = value
}

// Keys returns the keys of c as stored, sorted.
func (c MapCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// UnmarshalJSON replaces *c with the carrier parsed from data by
// ParseMapCarrier, so a task line's "carrier" field gets the same checks.
func (c *MapCarrier) UnmarshalJSON(data []byte) error {
	m, err := ParseMapCarrier(data)
	if err != nil {
		return err
	}
	*c = m
	return nil
}

// InjectMap returns a new carrier holding the context of ctx as injected by
// p, e.g. {"traceparent": "00-…-01"}. It is empty, never nil, when ctx has
// nothing to inject. Without a valid span context only baggage is injected
// (no placeholder such as B3's "0").
func InjectMap(ctx context.Context, p propagation.TextMapPropagator) MapCarrier {
	c := MapCarrier{}
	inject(ctx, p, c)
	return c
}

// InjectMapInto is InjectMap into c, which it empties first and returns:
// a caller that hands the carrier on at once (encodes it into a task line,
// say) reuses one map instead of allocating one per call. c must not be
// nil.
func InjectMapInto(ctx context.Context, p propagation.TextMapPropagator, c MapCarrier) MapCarrier {
	clear(c)
	inject(ctx, p, c)
	return c
}

// ParseMapCarrier parses a carrier from a JSON object whose values are all
// strings. Keys are kept as given. JSON null gives an empty carrier. Input
// that is not a JSON object, or a value that is not a string (a number, a
// boolean, null, an array or a nested object), is an error naming the key.
// When a key appears twice, the last value wins.
func ParseMapCarrier(raw []byte) (MapCarrier, error) {
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, fmt.Errorf("parse carrier: offset %d: %w", se.Offset, err)
		}
		return nil, fmt.Errorf("parse carrier: %w", err)
	}
	raw = trimJSONSpace(raw)
	switch raw[0] {
	case 'n':
		return MapCarrier{}, nil
	case '{':
	default:
		return nil, fmt.Errorf("parse carrier: got a JSON %s, want an object of strings", jsonkind.Of(raw))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("parse carrier: %w", err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c := make(MapCarrier, len(fields))
	for _, k := range keys {
		v := trimJSONSpace(fields[k])
		if len(v) == 0 || v[0] != '"' {
			return nil, fmt.Errorf("parse carrier: value of key %q is a JSON %s, want a string", k, jsonkind.Of(v))
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("parse carrier: value of key %q: %w", k, err)
		}
		c[k] = s
	}
	return c, nil
}

// ExtractMap returns ctx updated with the trace context that p extracts from
// c. The error rule is that of ExtractEnv: a trace field that yields no valid
// span context gives an error wrapping ErrInvalidCarrier together with a
// usable context.
func ExtractMap(ctx context.Context, p propagation.TextMapPropagator, c MapCarrier) (context.Context, error) {
	return extract(ctx, p, c, strings.ToLower)
}

// trimJSONSpace removes the whitespace JSON allows around a value.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
