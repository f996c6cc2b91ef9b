package taskproto

import (
	"bytes"
	"encoding/json"
)

// ParseEntry parses a task held by a broker message (the "task" field of a
// Redis stream entry) rather than by a numbered line: the rules of
// ParseLine, except that the id generated for a task without one (a raw
// line, or an object whose "id" is absent, null or "") is genID instead of
// a line number. The Task's Line is 0. genID must not be empty.
//
// Errors are *LineError values (matching ErrInvalidTask) with Line 0 and,
// when the id could not be read, ID genID; callers print their own prefix
// with the reason from Unwrap rather than "line 0".
func ParseEntry(data []byte, genID string) (Task, error) {
	t, err := ParseLine(data, 0)
	if err != nil {
		if le, ok := err.(*LineError); ok && le.ID == "0" && !hasOwnID(data) {
			le.ID = genID
		}
		return t, err
	}
	if t.ID == "0" && !hasOwnID(data) {
		t.ID = genID
	}
	return t, nil
}

// hasOwnID reports whether data is a valid JSON object with a non-empty
// string "id", the case where ParseLine does not generate the id.
func hasOwnID(data []byte) bool {
	data = bytes.TrimSuffix(data, []byte{'\n'})
	data = bytes.TrimSuffix(data, []byte{'\r'})
	obj := trimSpace(data)
	if len(obj) == 0 || obj[0] != '{' || !json.Valid(obj) {
		return false
	}
	obj = validUTF8(obj)
	var idVal []byte
	pick(obj, field{"id", &idVal})
	id, ok := decodeString(idVal)
	return ok && id != ""
}
