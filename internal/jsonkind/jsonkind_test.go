package jsonkind_test

import (
	"encoding/json"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/jsonkind"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct{ in, kind, article string }{
		{`{"a":1}`, "object", "an object"},
		{`[1]`, "array", "an array"},
		{`"s"`, "string", "a string"},
		{`-1.5e3`, "number", "a number"},
		{`0`, "number", "a number"},
		{`true`, "boolean", "a boolean"},
		{`false`, "boolean", "a boolean"},
		{`null`, "null", "null"},
		{``, "nothing", "nothing"},
	} {
		if tc.in != "" && !json.Valid([]byte(tc.in)) {
			t.Fatalf("%q is not valid JSON", tc.in)
		}
		if got := jsonkind.Of([]byte(tc.in)); got != tc.kind {
			t.Errorf("Of(%q) = %q, want %q", tc.in, got, tc.kind)
		}
		if got := jsonkind.WithArticle([]byte(tc.in)); got != tc.article {
			t.Errorf("WithArticle(%q) = %q, want %q", tc.in, got, tc.article)
		}
	}
}
