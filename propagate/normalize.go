package propagate

import "strings"

// normalizeKey converts a propagator field name to an environment variable
// name following the OpenTelemetry environment-carrier rules: empty becomes
// "_", a-z are upper-cased, A-Z, 0-9 and '_' are kept, every other character
// (including each byte of invalid UTF-8) becomes '_', and a leading digit
// gets a '_' prefix.
func normalizeKey(s string) string {
	if isNormalized(s) {
		return s
	}
	if s == "" {
		return "_"
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s[0] >= '0' && s[0] <= '9' {
		b.WriteByte('_')
	}
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// isNormalized reports whether s is a non-empty name that normalizeKey
// leaves unchanged: only A-Z, 0-9 and '_', not starting with a digit.
func isNormalized(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// isShellName reports whether s is a valid POSIX shell variable name:
// [A-Za-z_][A-Za-z0-9_]*.
func isShellName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}
