// Package jsonkind names the kind of a JSON value for error messages, so
// that every parser of outside JSON (task lines, replies, results, carriers,
// Q_CLUSTER) says "got a JSON array, want a string" in the same words.
//
// The names are those of RFC 8259 section 3, with "boolean" for true and
// false: object, array, string, number, boolean, null. The package looks at
// the first byte only; it is for values already known to be valid JSON
// (after json.Valid or json.Unmarshal into a json.RawMessage), with no
// leading whitespace.
package jsonkind

// Of names the kind of the valid JSON value v: "object", "array", "string",
// "number", "boolean" or "null", and "nothing" for an empty v.
func Of(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// WithArticle is Of preceded by its indefinite article, for a sentence such
// as "it is an array": "an object", "an array", "a string", "a number",
// "a boolean", and "null" or "nothing" alone.
func WithArticle(v []byte) string {
	switch k := Of(v); k {
	case "null", "nothing":
		return k
	case "object", "array":
		return "an " + k
	default:
		return "a " + k
	}
}
