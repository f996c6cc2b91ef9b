package redact

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Mask replaces every hidden value.
const Mask = "[REDACTED]"

// MinSecretLen is the length below which a value found in the environment
// is not searched for in free text: replacing every "1" or "ab" would make
// output unreadable while hiding nothing worth hiding. A variable's own
// value is hidden whatever its length.
const MinSecretLen = 4

// HeadersName reports whether name is an OTLP headers variable:
// OTEL_EXPORTER_OTLP_HEADERS or OTEL_EXPORTER_OTLP_<SIGNAL>_HEADERS.
func HeadersName(name string) bool {
	upper := strings.ToUpper(name)
	return strings.HasPrefix(upper, "OTEL_EXPORTER_OTLP_") && strings.HasSuffix(upper, "HEADERS")
}

// Value returns the value of the environment variable name as it may be
// shown: Mask for a secret-looking name, each header's value masked for an
// OTLP headers variable ("authorization=[REDACTED],x-team=[REDACTED]"), and
// user information and secret query values masked in any URL otherwise.
// An empty value stays empty.
func Value(name, value string) string {
	switch {
	case value == "":
		return ""
	case HeadersName(name):
		return Headers(value)
	case SecretName(name):
		return Mask
	}
	if strings.Contains(value, "://") {
		value = maskUserinfo(value, false)
	}
	return schemeless(Text(value))
}

// Headers masks the value of every entry of a W3C-baggage-like header list
// (name=value, comma-separated), as OTEL_EXPORTER_OTLP_HEADERS holds. A
// name is kept when it is a valid HTTP header name; an entry without "=" or
// with an invalid name is masked whole.
func Headers(value string) string {
	items := strings.Split(value, ",")
	for i, item := range items {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, _, ok := strings.Cut(item, "=")
		if ok && headerName(strings.TrimSpace(k)) {
			items[i] = k + "=" + Mask
		} else {
			items[i] = Mask
		}
	}
	return strings.Join(items, ",")
}

// headerName reports whether s is an HTTP field name (RFC 9110 token).
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// urlEndIndex returns where the URL whose authority starts at start in s
// ends: at the first byte that ends a URL in free text (text true), or at
// the end of s.
func urlEndIndex(s string, start int, text bool) int {
	if !text {
		return len(s)
	}
	end := start
	for end < len(s) && !urlEnd(s[end]) {
		end++
	}
	return end
}

// urlEnd reports whether c ends a URL in free text.
func urlEnd(c byte) bool {
	return c <= ' ' || c == '"' || c == '\'' || c == '`' || c == '<' || c == '>' || c == '\\' || c == 0x7f
}

// maskUserinfo masks the user information of the URLs in s
// (userinfoSpans).
func maskUserinfo(s string, text bool) string {
	if sp := userinfoSpans(s, text, nil); len(sp) > 0 {
		return applySpans(s, sp)
	}
	return s
}

// schemeless masks USER:PASSWORD in a whole value of the form
// USER:PASSWORD@host, a URL without a scheme (redis-cli -u and some SDKs
// accept it). A value with "@" but no ":" before it (an e-mail address) is
// kept.
func schemeless(v string) string {
	if strings.Contains(v, "://") {
		return v
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || !strings.Contains(v[:at], ":") || strings.ContainsAny(v[:at], " \t\n") {
		return v
	}
	return Mask + v[at:]
}

// userinfos returns the user information of the URLs in s, and their
// passwords, found by the rule of Text and schemeless, and the values of
// the other rules of Text.
func userinfos(s string) []string {
	var out []string
	add := func(ui string) {
		out = append(out, ui)
		if _, pw, ok := strings.Cut(ui, ":"); ok {
			out = append(out, pw)
		}
	}
	for _, text := range []bool{true, false} {
		rest := s
		for {
			i := strings.Index(rest, "://")
			if i < 0 {
				break
			}
			start := i + 3
			end := urlEndIndex(rest, start, text)
			// Which "@" ends the user information of a malformed URL is
			// unknown: the candidates (at most the first and last few, so
			// that a value full of "@" costs no more than a short one) are
			// all secrets.
			auth := rest[start:end]
			ats := make([]int, 0, 8)
			for at := range len(auth) {
				if auth[at] == '@' {
					ats = append(ats, at)
				}
			}
			if len(ats) > 8 {
				ats = append(ats[:4], ats[len(ats)-4:]...)
			}
			for _, at := range ats {
				add(auth[:at])
			}
			rest = rest[end:]
		}
	}
	if !strings.Contains(s, "://") {
		if at := strings.LastIndexByte(s, '@'); at > 0 && strings.Contains(s[:at], ":") {
			add(s[:at])
		}
	}
	// The values Text masks, and the passwords of the user information
	// it finds without a scheme.
	for _, sp := range textSpans(s) {
		v := s[sp.start:sp.end]
		if sp.user {
			add(v)
			continue
		}
		out = append(out, strings.Trim(v, `"'`))
	}
	return out
}

// variants returns s and the forms it takes once decoded or escaped by the
// usual encoders of log lines and messages.
func variants(s string) []string {
	out := []string{s, strings.TrimSpace(s)}
	if d, err := url.PathUnescape(s); err == nil {
		out = append(out, d)
	}
	if d, err := url.QueryUnescape(s); err == nil {
		out = append(out, d)
	}
	n := len(out)
	for _, v := range out[:n] {
		q := strconv.Quote(v)
		out = append(out, q[1:len(q)-1])
		q = strconv.QuoteToASCII(v)
		out = append(out, q[1:len(q)-1])
		if j, err := json.Marshal(v); err == nil {
			out = append(out, string(j[1:len(j)-1]))
		}
		out = append(out, url.QueryEscape(v), url.PathEscape(v))
	}
	// The words of a value ("Bearer abc", "Bearer%abc", "Bearer+abc") are
	// secret too, but for the scheme of an Authorization header; a word
	// holding "%" or "+" ("Bearer 0+00") is also one whole.
	for _, v := range out[:n] {
		for _, seps := range []string{" \t", " \t%+"} {
			for _, w := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
				if w != v && !slices.Contains(authSchemes, strings.ToLower(w)) {
					out = append(out, w)
				}
			}
		}
	}
	return out
}

// authSchemes are the schemes of HTTP Authorization headers, which are no
// secret.
var authSchemes = []string{"bearer", "basic", "digest", "token", "apikey", "negotiate"}

// notSecret are values too common to be secrets, whatever the name of
// their variable: masking them in free text would hide the configuration.
var notSecret = []string{"true", "false", "none", "null", "auto", "unset", "disabled", "enabled"}

// keepable reports whether s is worth searching for in free text.
func keepable(s string) bool {
	return len(s) >= MinSecretLen && !strings.Contains(Mask, s) &&
		!slices.Contains(notSecret, strings.ToLower(s))
}
