package redact

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Mask replaces every hidden value.
const Mask = "[REDACTED]"

// MinSecretLen is the length below which a value found in the environment
// is not searched for in free text: replacing every "1" or "ab" would make
// output unreadable while hiding nothing worth hiding. A variable's own
// value is hidden whatever its length.
const MinSecretLen = 4

// secretWords are the parts of a variable name that make its value secret.
var secretWords = []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"}

// SecretName reports whether the variable name looks like it holds a
// secret: it contains TOKEN, SECRET, PASSWORD, PASSWD, KEY or CREDENTIAL,
// or starts with AUTH, in any case.
func SecretName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return secretNameUpper(strings.ToUpper(name))
		}
	}
	// ASCII (nearly every name): compared without an upper-case copy, as
	// it is asked once per attribute of every exported span.
	if len(name) >= 4 && strings.EqualFold(name[:4], "AUTH") {
		return true
	}
	for _, w := range secretWords {
		if containsUpperASCII(name, w) {
			return true
		}
	}
	return false
}

// secretNameUpper is SecretName of a name already in upper case.
func secretNameUpper(upper string) bool {
	if strings.HasPrefix(upper, "AUTH") {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(upper, w) {
			return true
		}
	}
	return false
}

// containsUpperASCII reports whether the ASCII string s contains w (ASCII,
// upper case) in any case.
func containsUpperASCII(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

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

// Text masks user information of every URL in s (everything between
// "scheme://" and the last "@" before the next space or quote, so that a
// malformed password holding "/" or "#" is hidden too), the values of
// name=value pairs with secret names (secretTextName: a query parameter
// ?password=..., an attribute deploy.token=..., API_KEY=... or
// password = "..." in text, a quoted value whole), the string values of
// JSON members with such names ("password": "..."), and the values of HTTP
// header lines with such names (X-Api-Key: ..., Authorization: Bearer ...,
// as given to curl -H).
func Text(s string) string {
	if strings.Contains(s, "://") {
		s = maskUserinfo(s, true)
	}
	if mayHoldSecretPair(s, '=') {
		s = maskValues(s, secretPair())
	}
	if mayHoldSecretPair(s, ':') {
		s = maskValues(s, secretJSON())
		s = maskValues(s, secretHeader())
	}
	return s
}

// The expressions of secret values in text: group 1 is the name, group 2
// the value that is masked. Their names are candidates, which
// secretTextName decides on. They are compiled at their first use
// (through mayHoldSecretPair, often never in a run), not at every start.
var (
	// secretPair: a name=value pair, spaces around "=" or not: a query
	// parameter, an entry of a list such as OTEL_RESOURCE_ATTRIBUTES, a
	// NAME=value or a logfmt pair in text. A quoted value is masked whole.
	secretPair = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:^|[?&;,=\s])([a-z0-9_.\-]*` + secretWordsRE + `[a-z0-9_.\-]*)[ \t]*=[ \t]*` +
			`("(?:[^"\\]|\\.)*"?|'[^']*'?|[^&#,;\s"'<>\\]*)`)
	})
	// secretJSON: a JSON member whose value is a string; the masked value
	// is inside the quotes.
	secretJSON = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)"([^"\\]*` + secretWordsRE + `[^"\\]*)"[ \t]*:[ \t]*"((?:[^"\\]|\\.)*)"`)
	})
	// secretHeader: an HTTP header line, whose value runs to the end of
	// the line or the quote that ends the argument: a name with a "-"
	// (X-Api-Key, X-Auth-Token) or Authorization and Proxy-Authorization,
	// then ":" and a space ("key: ..." alone is prose too often: "invalid
	// key: ...").
	secretHeader = sync.OnceValue(func() *regexp.Regexp {
		name := `(?:[a-z0-9_]*-[a-z0-9_\-]*` + secretWordsRE + `[a-z0-9_\-]*|[a-z0-9_\-]*` + secretWordsRE + `[a-z0-9_]*-[a-z0-9_\-]*|authorization)`
		return regexp.MustCompile(`(?i)(?:^|[\s"'])(` + name + `):[ \t]+([^"'\r\n]*[^"'\r\n \t])`)
	})
)

// secretWordsRE is the words of a secret-looking name, in a regular
// expression (pairWords).
const secretWordsRE = `(?:token|secret|password|passwd|pwd|key|credential|auth)`

// maskValues masks, in s, the value of each match of re (group 2) whose
// name (group 1) secretTextName takes as secret.
func maskValues(s string, re *regexp.Regexp) string {
	ms := re.FindAllStringSubmatchIndex(s, -1)
	if ms == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		if !secretTextName(s[m[2]:m[3]]) || m[4] < last {
			continue
		}
		b.WriteString(s[last:m[4]])
		b.WriteString(Mask)
		last = m[5]
	}
	b.WriteString(s[last:])
	return b.String()
}

// foldSpecial maps the two letters (?i) also folds into ASCII ones: the
// long s into s and the Kelvin sign into k.
var foldSpecial = strings.NewReplacer("\u017f", "s", "\u212a", "k")

// secretTextName reports whether name, found before a value in text, is a
// secret's. The strong words (token, secret, passw…, credential) make it
// secret wherever they are in it; the weak ones (key, auth, pwd) only as a
// whole part of it, split at non-letters and at camel case (api_key,
// X-Auth-Token, apiKey; not monkey, author, keyboard), or in apikey,
// accesskey, privatekey and authorization. A name that is key alone is
// generic (the OTel console exporters print {"Key":"service.name"}, a
// text says "the primary key = id").
func secretTextName(name string) bool {
	lower := strings.ToLower(foldSpecial.Replace(name))
	if lower == "key" {
		return false
	}
	for _, w := range []string{"token", "secret", "passw", "credential"} {
		if strings.Contains(lower, w) {
			return true
		}
	}
	for _, part := range nameParts(foldSpecial.Replace(name)) {
		switch part {
		case "key", "auth", "pwd", "apikey", "accesskey", "privatekey", "authorization":
			return true
		}
	}
	return false
}

// nameParts splits name at every byte that is not a letter or a digit and
// where a lower-case letter or a digit is followed by an upper-case one,
// and returns the parts in lower case.
func nameParts(name string) []string {
	var parts []string
	start := -1
	for i, r := range name {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		if start >= 0 && (!alnum || (unicode.IsUpper(r) && i > 0 && !unicode.IsUpper(prevRune(name, i)))) {
			parts = append(parts, strings.ToLower(name[start:i]))
			start = -1
		}
		if alnum && start < 0 {
			start = i
		}
	}
	if start >= 0 {
		parts = append(parts, strings.ToLower(name[start:]))
	}
	return parts
}

// prevRune returns the rune of s that ends at byte i.
func prevRune(s string, i int) rune {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

// pairWords are the words of secretPair's names.
var pairWords = []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "KEY", "CREDENTIAL", "AUTH"}

// mayHoldSecretPair reports whether a pattern of secret names whose value
// follows sep ('=' for secretPair, ':' for secretJSON and secretHeader)
// may match s: false only when s has no sep or, being ASCII, none of
// pairWords in any case. It spares the regular expressions (backtracking
// matches, run on every environment value at every start) the values that
// cannot match. A value with other than ASCII is always matched: (?i) also
// folds the Kelvin sign into k and the long s into s.
func mayHoldSecretPair(s string, sep byte) bool {
	if strings.IndexByte(s, sep) < 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	for _, w := range pairWords {
		if containsUpperASCII(s, w) {
			return true
		}
	}
	return false
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

// maskUserinfo masks the user information of the URLs in s. In free text
// (text true) a URL ends at a space or quote; in a variable's value it ends
// only at the end of the value, so that a malformed password holding a
// space is hidden too.
func maskUserinfo(s string, text bool) string {
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "://")
		if i < 0 {
			break
		}
		start := i + 3
		end := urlEndIndex(rest, start, text)
		b.WriteString(rest[:start])
		auth := rest[start:end]
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			// The next URL, if any, starts after this one: a "://" inside the
			// user information belongs to it and is masked with it.
			b.WriteString(Mask)
			b.WriteString(auth[at:])
		} else {
			b.WriteString(auth)
		}
		rest = rest[end:]
	}
	b.WriteString(rest)
	return b.String()
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
// passwords, found by the rule of Text and schemeless.
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
	for _, f := range []struct {
		sep byte
		re  func() *regexp.Regexp
	}{{'=', secretPair}, {':', secretJSON}, {':', secretHeader}} {
		if !mayHoldSecretPair(s, f.sep) {
			continue
		}
		for _, m := range f.re().FindAllStringSubmatchIndex(s, -1) {
			if secretTextName(s[m[2]:m[3]]) {
				out = append(out, strings.Trim(s[m[4]:m[5]], `"'`))
			}
		}
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
	// The words of a value ("Bearer abc", "Bearer%abc") are secret too,
	// but for the scheme of an Authorization header.
	for _, v := range out[:n] {
		for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '%' || r == '+' || r == '\t' }) {
			if w != v && !slices.Contains(authSchemes, strings.ToLower(w)) {
				out = append(out, w)
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
