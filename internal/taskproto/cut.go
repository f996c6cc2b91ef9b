package taskproto

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// CutLineID returns the id of a task line that the input's end or a stop
// cut short: partial is the start of the line as read (no newline),
// lineNo its 1-based line number. It is the line's "id" when the line is a
// task object with an "id" member already whole in partial: a top-level
// member before the first member that partial cuts; of several, the last
// one, as ParseLine takes. Its value must be what ParseLine takes as an
// id: a non-empty JSON string without NUL (null: the line number).
// Otherwise, as for any line whose id cannot be read, it is the decimal
// line number. A UTF-8 byte order mark on line 1 is skipped, as Reader
// does. For a whole task line it gives the id ParseLine gives.
//
// The id is what a cancelled result of the cut line carries, so that the
// producer can match it with the task it meant to send.
func CutLineID(partial []byte, lineNo int) string {
	fallback := strconv.Itoa(lineNo)
	if lineNo == 1 {
		partial = bytes.TrimPrefix(partial, utf8BOM)
	}
	i := skipSpace(partial, 0)
	if i == len(partial) || partial[i] != '{' {
		return fallback
	}
	dec := json.NewDecoder(bytes.NewReader(partial[i:]))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fallback
	}
	id := fallback
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		// A value at the very end of partial may be cut itself: a
		// string is whole once its closing quote is read, and a cut
		// one does not decode.
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			break
		}
		if key == "id" {
			id = idOf(val, fallback)
		}
	}
	return id
}

// idOf is the id ParseLine takes from an "id" member's value val, and
// fallback when it takes none: null, "", a string with NUL, or no string
// at all (a line ParseLine rejects).
func idOf(val json.RawMessage, fallback string) string {
	if string(val) == "null" {
		return fallback
	}
	var id string
	if val[0] != '"' || json.Unmarshal(val, &id) != nil || strings.IndexByte(id, 0) >= 0 {
		return fallback
	}
	if id == "" {
		return fallback
	}
	return id
}
