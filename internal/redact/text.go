package redact

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Text masks, in free text (a log line, an error message, an argument):
//
//   - user information of every URL (everything between "scheme://" and
//     the last "@" before the next space or quote, so that a malformed
//     password holding "/" or "#" is hidden too), and USER:PASSWORD
//     before a host without a scheme (redis user:pw@10.0.0.5:6379,
//     user:pw@host/vhost, user:pw@localhost; not a:b@c in prose: the
//     host must be a dotted name, an IP address, localhost, or have a
//     port or a path);
//   - the values of name=value pairs with secret names (secretTextName:
//     a query parameter ?password=..., an attribute deploy.token=...,
//     API_KEY=... or password = "..." in text, a quoted value whole);
//   - the values of name: value pairs with such names: YAML lines
//     (password: hunter 2, to the end of the line), the same after a
//     quote (a shell word 'token: abc'), and within a line one word or a
//     quoted value (token:abc, api_key : xyz);
//   - the values of JSON members and Python dict entries with such names,
//     double- or single-quoted, whatever the value (a string, inside its
//     quotes; a number or literal: "pin": 1234, 'password': None);
//   - the values of HTTP header lines with such names (X-Api-Key: ...,
//     Authorization: Bearer ..., Authorization:Basic ...,
//     Proxy-Authorization: ..., as given to curl -H), and every cookie's
//     value in Cookie and Set-Cookie headers and in cookie=... pairs
//     (Cookie: session=[REDACTED]; csrftoken=[REDACTED]; the attributes
//     of Set-Cookie, Path=/ and the like, are kept).
//
// The names and separators are matched also %-encoded, once or twice
// (secret%3Dabc, password%253Dx, a URL inside a query parameter), with
// invisible format characters inside (pass<U+00AD>word), and in fullwidth
// and compatibility forms (ｐａｓｓｗｏｒｄ＝x, 𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝=x): the text is
// matched through fold (NFKC of each rune whose decomposition is
// ASCII), and the original bytes of each value are replaced. Only the
// values are replaced, each run of masked bytes by one [Mask]; the text
// around them is kept.
func Text(s string) string {
	sp := textSpans(s)
	if len(sp) == 0 {
		return s
	}
	return applySpans(s, sp)
}

// span is a part [start, end) of a text to mask; user says that it is
// user information (USER:PASSWORD).
type span struct {
	start, end int
	user       bool
}

// textSpans returns the parts of s that Text masks, unsorted, possibly
// overlapping.
func textSpans(s string) []span {
	if strings.IndexByte(s, '=') < 0 && strings.IndexByte(s, ':') < 0 && strings.IndexByte(s, '%') < 0 && isASCII(s) {
		// No separator, and nothing that folds into one: most lines.
		return nil
	}
	f, off := fold(s)
	var sp []span
	if strings.Contains(f, "://") {
		sp = userinfoSpans(f, true, sp)
	}
	if mayHoldBareUserinfo(f) {
		sp = bareSpans(f, sp)
	}
	c := mayHoldSecretPair(f)
	if c.eq {
		sp = secretPair().spans(f, sp, false, secretNotCookie)
	}
	if c.quoted {
		sp = secretQuotedKey().spans(f, sp, false, secretTextName)
		sp = secretQuotedBare().spans(f, sp, false, secretKeyName)
	}
	if c.colon {
		sp = secretColon().spans(f, sp, false, secretKeyName)
	}
	if c.line {
		sp = secretLine().spans(f, sp, false, secretKeyName)
	}
	if c.header {
		sp = secretHeader().spans(f, sp, false, secretNotCookie)
	}
	sp = cookieSpans(f, sp) // when f holds "cookie"
	if off != nil {
		for i := range sp {
			sp[i].start, sp[i].end = off[sp[i].start], off[sp[i].end]
		}
	}
	return sp
}

// applySpans replaces each run of s covered by sp (overlapping or
// touching spans make one run) by Mask.
func applySpans(s string, sp []span) string {
	slices.SortFunc(sp, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	var b strings.Builder
	b.Grow(len(s) + len(Mask))
	last := 0
	for i := 0; i < len(sp); {
		start, end := sp[i].start, sp[i].end
		for i++; i < len(sp) && sp[i].start <= end; i++ {
			end = max(end, sp[i].end)
		}
		b.WriteString(s[last:start])
		b.WriteString(Mask)
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

// secretNotCookie reports whether name is a secret's but not a list of
// cookies (Cookie, Set-Cookie, HTTP_COOKIE), whose values cookieSpans
// masks one by one.
func secretNotCookie(name string) bool {
	lower := strings.ToLower(name)
	return secretTextName(name) && !strings.HasSuffix(lower, "cookie") && !strings.HasSuffix(lower, "cookies")
}

// secretKeyName is secretNotCookie for a name before ":", which is not a
// file's (open private.key: permission denied, as Go's errors say).
func secretKeyName(name string) bool {
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 && slices.Contains(fileExts, strings.ToLower(name[dot+1:])) {
		return false
	}
	return secretNotCookie(name)
}

// fileExts are the extensions of files that hold or name secrets.
var fileExts = []string{"txt", "json", "yaml", "yml", "toml", "ini", "conf", "cfg", "env", "properties", "xml",
	"pem", "key", "crt", "cer", "der", "csr", "pub", "p12", "pfx", "jks", "gpg", "asc", "log", "db"}

// bareSpans appends to sp the USER:PASSWORD of each match of
// bareUserinfo in s whose host ends the word (nginx:1.25@sha256:0123abc
// is an image, not a user at host sha256, port 0123) and whose user is
// not the mailto scheme (mailto:ops@example.com is an address).
func bareSpans(s string, sp []span) []span {
	r := bareUserinfo()
	for _, m := range r.re.FindAllStringSubmatchIndex(s, -1) {
		user, _ := firstGroup(m, r.names)
		v, _ := firstGroup(m, r.value)
		end := m[1]
		if strings.EqualFold(s[user[0]:user[1]], "mailto") ||
			end < len(s) && s[end-1] != '/' && nameByte(s[end]) && s[end] != '.' && s[end] != '-' {
			continue
		}
		sp = append(sp, span{v[0], v[1], true})
	}
	return sp
}

// A rule is an expression of secret values in text: its groups named n…
// hold the name (the first that matched is asked to the rule's check),
// those named v… the value that is masked (the first that matched).
type rule struct {
	re           *regexp.Regexp
	names, value []int
}

func newRule(expr string) *rule {
	r := &rule{re: regexp.MustCompile(expr)}
	for i, n := range r.re.SubexpNames() {
		switch {
		case strings.HasPrefix(n, "n"):
			r.names = append(r.names, i)
		case strings.HasPrefix(n, "v"):
			r.value = append(r.value, i)
		}
	}
	return r
}

// spans appends to sp the value of each match in s whose name check
// takes.
func (r *rule) spans(s string, sp []span, user bool, check func(string) bool) []span {
	for _, m := range r.re.FindAllStringSubmatchIndex(s, -1) {
		if name, ok := firstGroup(m, r.names); ok && !check(s[name[0]:name[1]]) {
			continue
		}
		if v, ok := firstGroup(m, r.value); ok {
			sp = append(sp, span{v[0], schemeEnd(s, v[0], v[1]), user})
		}
	}
	return sp
}

// schemeEnd returns where the value s[start:end] ends: end, or when the
// value is the scheme of an Authorization value (authSchemes), the end of
// the word after it (Bearer abc), if that is not a pair of its own.
func schemeEnd(s string, start, end int) int {
	if !slices.Contains(authSchemes, strings.ToLower(s[start:end])) {
		return end
	}
	i := skipBlanks(s, end)
	if i == end {
		return end
	}
	j := i
	for j < len(s) && !urlEnd(s[j]) && s[j] != ',' && s[j] != ';' && s[j] != '&' {
		if s[j] == '=' || s[j] == ':' {
			return end
		}
		j++
	}
	return j
}

// firstGroup returns the bounds of the first of groups that matched in m.
func firstGroup(m []int, groups []int) ([2]int, bool) {
	for _, g := range groups {
		if m[2*g] >= 0 {
			return [2]int{m[2*g], m[2*g+1]}, true
		}
	}
	return [2]int{}, false
}

// The expressions of secret values in text. Their names are candidates,
// which secretTextName decides on. They are compiled at their first use
// (through mayHoldSecretPair, often never in a run), not at every start.
const (
	// secretWordsRE is the words of a secret-looking name (pairWords).
	secretWordsRE = `(?:token|secret|passw|pwd|key|credential|auth|sess|cookie|pin)`
	// nameRE is a name of a pair in text.
	nameRE = `[a-z0-9_.\-]*` + secretWordsRE + `[a-z0-9_.\-]*`
	// wordValueRE is a value of one word, or quoted (the quotes, and a
	// Python string's prefix, b'...', kept).
	wordValueRE = `(?:[bru]{1,2})?(?:"(?P<v1>(?:[^"\\\r\n]|\\.)*)"?|'(?P<v2>(?:[^'\\\r\n]|\\.)*)'?)|(?P<v3>[^\s&,;"'<>\\{}\[\]()]+)`
)

var (
	// secretPair: a name=value pair, spaces around "=" or not: a query
	// parameter, an entry of a list such as OTEL_RESOURCE_ATTRIBUTES, a
	// NAME=value or a logfmt pair in text. A quoted value is masked whole
	// (with a Python prefix: b'...'); an Authorization value of a scheme
	// and a word (Bearer abc) is two words (schemeEnd).
	secretPair = sync.OnceValue(func() *rule {
		return newRule(`(?i)(?:^|[?&;,=\s"'({\[])(?P<n>` + nameRE + `)[ \t]*=[ \t]*` +
			`(?P<v>(?:[bru]{1,2})?(?:"(?:[^"\\\r\n]|\\.)*"?|'[^'\r\n]*'?)|[^&#,;\s"'<>\\]*)`)
	})
	// secretQuotedKey: a JSON member or a Python dict entry, its key in
	// double or single quotes, whose value is a string.
	secretQuotedKey = sync.OnceValue(func() *rule {
		return newRule(`(?i)(?:"(?P<n1>[^"\\\r\n]*` + secretWordsRE + `[^"\\\r\n]*)"|'(?P<n2>[^'\\\r\n]*` + secretWordsRE + `[^'\\\r\n]*)')` +
			`[ \t]*:[ \t]*(?:[bru]{1,2})?(?:"(?P<v1>(?:[^"\\\r\n]|\\.)*)"?|'(?P<v2>(?:[^'\\\r\n]|\\.)*)'?)`)
	})
	// secretQuotedBare: the same whose value is a number or a literal
	// ("pin": 1234, 'password': None), which ends where the value does
	// (not at a quote: b'...' is a string); its key is a name (a quoted
	// message before ": text" is not: parse "...": bad port).
	secretQuotedBare = sync.OnceValue(func() *rule {
		return newRule(`(?i)(?:"(?P<n1>` + nameRE + `)"|'(?P<n2>` + nameRE + `)')[ \t]*:[ \t]*(?P<v>[^\s,;"'<>\\{}\[\]()]+)(?:$|[\s,;<>\\{}\[\]()])`)
	})
	// secretColon: name: value within a line (token:abc, api_key : xyz):
	// one word, or a quoted value.
	secretColon = sync.OnceValue(func() *rule {
		return newRule(`(?i)(?:^|[\s{,(\[;&?=])(?P<n>` + nameRE + `)[ \t]*:[ \t]*(?:` + wordValueRE + `)`)
	})
	// secretLine: a YAML line (indented, or an item of a list) whose value
	// runs to the end of the line, and the same after a quote (a shell
	// word), whose value runs to the quote.
	secretLine = sync.OnceValue(func() *rule {
		return newRule(`(?im)(?:^[ \t]*(?:-[ \t]+)?(?P<n1>` + nameRE + `)[ \t]*:[ \t]+(?P<v1>[^\s"'](?:[^\r\n]*[^\s])?)` +
			`|["'](?P<n2>` + nameRE + `)[ \t]*:[ \t]*(?P<v2>[^\s"'](?:[^"'\r\n]*[^"'\s])?))`)
	})
	// secretHeader: an HTTP header line, whose value runs to the end of
	// the line or the quote that ends the argument: a name with a "-"
	// (X-Api-Key, X-Auth-Token) or Authorization and Proxy-Authorization,
	// then ":", with spaces or not (Authorization:Bearer abc).
	secretHeader = sync.OnceValue(func() *rule {
		name := `(?:[a-z0-9_]*-[a-z0-9_\-]*` + secretWordsRE + `[a-z0-9_\-]*|[a-z0-9_\-]*` + secretWordsRE + `[a-z0-9_]*-[a-z0-9_\-]*|authorization)`
		return newRule(`(?i)(?:^|[\s"'])(?P<n>` + name + `)[ \t]*:[ \t]*(?P<v>[^"'\r\n]*[^"'\r\n \t])`)
	})
	// cookieHeader: a Cookie or Set-Cookie header (to the end of the line
	// or the quote) or a cookie=... pair (its ;-separated entries).
	cookieHeader = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:^|[^a-z0-9_.\-])([a-z0-9_.\-]*cookies?)(?:[ \t]*:[ \t]*["']?([^"'\r\n]*)` +
			`|[ \t]*=[ \t]*["']?([^;\s"'<>,]*(?:;[ \t]*[^;\s"'<>=,]+=[^;\s"'<>,]*)*))`)
	})
	// bareUserinfo: USER:PASSWORD@host without a scheme, before a host
	// that looks like one: localhost, an IPv4 or bracketed IPv6 address,
	// a dotted name whose last label starts with a letter and has two
	// characters or more (not 12:00@room.5), or a name with a port or a
	// path.
	bareUserinfo = sync.OnceValue(func() *rule {
		label := `[a-z0-9](?:[a-z0-9-]*[a-z0-9])?`
		return newRule(`(?i)(?:^|[\s"'=(,;<\[{])(?P<v>(?P<n>[^\s:/@"'<>\[\]{}()=,;]*):[^\s/"'<>]*)@` +
			`(?:localhost|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-f:.]+\]|` + label + `(?:\.` + label + `)*\.[a-z][a-z0-9-]*[a-z0-9]|` +
			`[a-z0-9][a-z0-9-]*(?::[0-9]{1,5}|/))`)
	})
)

// cookieAttrs are the attributes of Set-Cookie (RFC 6265 section 4.1,
// and the later Partitioned and Priority), which are no secrets.
var cookieAttrs = []string{"path", "domain", "expires", "max-age", "secure", "httponly", "samesite", "partitioned", "priority"}

// cookieSpans appends to sp the value of every cookie in the Cookie and
// Set-Cookie headers and cookie=... pairs of s: each entry's value, or an
// entry without "=" whole, but for the attributes of Set-Cookie.
func cookieSpans(s string, sp []span) []span {
	if !containsFoldASCII(s, "cookie") {
		return sp
	}
	for _, m := range cookieHeader().FindAllStringSubmatchIndex(s, -1) {
		if !secretTextName(s[m[2]:m[3]]) {
			continue
		}
		start, end := m[4], m[5]
		if start < 0 {
			start, end = m[6], m[7]
		}
		for start <= end {
			next := strings.IndexByte(s[start:end], ';')
			if next < 0 {
				next = end - start
			}
			entry := s[start : start+next]
			trimmed := strings.TrimSpace(entry)
			lead := start + strings.Index(entry, trimmed)
			name, _, eq := strings.Cut(trimmed, "=")
			switch {
			case slices.Contains(cookieAttrs, strings.ToLower(strings.TrimSpace(name))):
			case eq:
				sp = append(sp, span{lead + len(name) + 1, lead + len(trimmed), false})
			case trimmed != "":
				sp = append(sp, span{lead, lead + len(trimmed), false})
			}
			start += next + 1
		}
	}
	return sp
}

// pairWords are the words of the names of the expressions (secretWordsRE),
// in lower case.
var pairWords = []string{"token", "secret", "passw", "pwd", "key", "credential", "auth", "sess", "cookie", "pin"}

// candidates says which expressions may match a text: a name holding one
// of pairWords followed by "=" (eq: secretPair) or ":" (colon: secretColon,
// after a byte that may start it; line: secretLine, at the start of a
// line or after a quote; header: secretHeader, with a "-" or
// Authorization), the name bare (name bytes and then blanks before the
// separator), or quoted (quoted: the key of a JSON member or dict entry,
// anything but a quote, a backslash or a line end, then the quote and
// ":").
type candidates struct{ eq, colon, line, header, quoted bool }

// mayHoldSecretPair reports which expressions of secret names may match
// s: none when s has no name of pairWords in any ASCII case directly
// before "=" or ":" (or the quote before ":"). It spares the regular
// expressions (run on every log line, and every environment value at
// every start) the texts that cannot match, in one pass over s. s is
// folded (fold): the Kelvin sign and the long s, which (?i) also folds
// into k and s, are ASCII there.
func mayHoldSecretPair(s string) candidates {
	var c candidates
	colon := strings.IndexByte(s, ':') >= 0
	if !colon && strings.IndexByte(s, '=') < 0 {
		return c
	}
	// The next double and single quote (or backslash, or line end) at or
	// after the end of a word: the end of a quoted key holding it.
	quotes := [2]struct {
		at    int
		q     byte
		stops string
	}{{-1, '"', "\"\\\r\n"}, {-1, '\'', "'\\\r\n"}}
	for i := 0; i < len(s); i++ {
		n := pairWordAt(s, i)
		if n == 0 {
			continue
		}
		j := i + n
		for j < len(s) && nameByte(s[j]) {
			j++
		}
		if k := skipBlanks(s, j); k < len(s) && s[k] == '=' {
			c.eq = true
		} else if k < len(s) && s[k] == ':' {
			ns := i // the start of the name
			for ns > 0 && nameByte(s[ns-1]) {
				ns--
			}
			prev := byte('\n') // before the text: as at a line start
			if ns > 0 {
				prev = s[ns-1]
			}
			quote := prev == '"' || prev == '\''
			c.colon = c.colon || ns == 0 || strings.IndexByte(" \t\n\f\r{,([;&?=", prev) >= 0
			c.header = c.header || (ns == 0 || quote || strings.IndexByte(" \t\n\f\r", prev) >= 0) &&
				(strings.IndexByte(s[ns:j], '-') >= 0 || strings.EqualFold(s[ns:j], "authorization"))
			c.line = c.line || quote || lineStart(s, ns)
		}
		for q := range quotes {
			if c.quoted || !colon {
				break
			}
			if quotes[q].at < i+n {
				quotes[q].at = len(s)
				if k := strings.IndexAny(s[i+n:], quotes[q].stops); k >= 0 {
					quotes[q].at = i + n + k
				}
			}
			if k := quotes[q].at; k < len(s) && s[k] == quotes[q].q {
				k = skipBlanks(s, k+1)
				c.quoted = k < len(s) && s[k] == ':'
			}
		}
	}
	return c
}

// lineStart reports whether only blanks, or an item of a YAML list ("- "),
// stand between the start of the line and s[i].
func lineStart(s string, i int) bool {
	p := i
	for p > 0 && (s[p-1] == ' ' || s[p-1] == '\t') {
		p--
	}
	if p > 0 && s[p-1] == '-' && p < i {
		for p--; p > 0 && (s[p-1] == ' ' || s[p-1] == '\t'); p-- {
		}
	}
	return p == 0 || s[p-1] == '\n'
}

// skipBlanks returns the first byte at or after i that is not a space or
// a tab.
func skipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// pairWordAt returns the length of the word of pairWords at s[i], in any
// case, or 0.
func pairWordAt(s string, i int) int {
	switch s[i] | 0x20 {
	case 't', 's', 'p', 'k', 'c', 'a':
		for _, w := range pairWords {
			if len(s)-i >= len(w) && strings.EqualFold(s[i:i+len(w)], w) {
				return len(w)
			}
		}
	}
	return 0
}

// nameByte reports whether c may be part of a name of a pair in text.
func nameByte(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

// mayHoldBareUserinfo reports whether s may hold USER:PASSWORD@host
// without a scheme: an "@" after a run of password bytes holding a ":",
// and before a byte that may start a host.
func mayHoldBareUserinfo(s string) bool {
	for at := strings.IndexByte(s, '@'); at > 0; {
		if at+1 < len(s) && (nameByte(s[at+1]) || s[at+1] == '[') {
			for i := at - 1; i >= 0 && !bareEnd(s[i]); i-- {
				if s[i] == ':' {
					return true
				}
			}
		}
		next := strings.IndexByte(s[at+1:], '@')
		if next < 0 {
			return false
		}
		at += 1 + next
	}
	return false
}

// bareEnd reports whether c ends the password of bareUserinfo.
func bareEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '/' || c == '"' || c == '\'' || c == '<' || c == '>'
}

// fold returns s as the rules of Text match it: every rune whose
// compatibility decomposition (NFKC, golang.org/x/text/unicode/norm) is
// ASCII made that ASCII (the fullwidth forms U+FF01 to U+FF5E, the
// ideographic space, mathematical and circled letters, the Kelvin sign
// and the long s; a rune at a time, so that every folded byte maps to
// whole bytes of s), the invisible format characters (Unicode category
// Cf: soft hyphen, zero-width space and joiners) dropped, and the
// %-escapes of printable ASCII but space decoded, also when encoded
// twice (%3D and %253D are "=", %3A is ":", %26 is "&"); off[i] is the byte of s
// that byte i of the result comes from, and off[len(result)] is len(s).
// When nothing folds it returns s and nil, without a copy.
func fold(s string) (string, []int) {
	first := foldStart(s)
	if first < 0 {
		return s, nil
	}
	b := make([]byte, first, len(s))
	copy(b, s[:first])
	off := make([]int, first, len(s)+1)
	for i := range first {
		off[i] = i
	}
	for i := first; i < len(s); {
		if d, n := foldAt(s, i); n > 0 {
			b = append(b, d...)
			for range d {
				off = append(off, i)
			}
			i += n
			continue
		}
		b = append(b, s[i])
		off = append(off, i)
		i++
	}
	return string(b), append(off, len(s))
}

// foldStart returns the first byte of s that fold changes, or -1.
func foldStart(s string) int {
	start := strings.IndexByte(s, '%')
	if !isASCII(s) {
		// A text in NFKC holds no rune with a compatibility decomposition;
		// an invisible one is looked for up to the first that is not.
		q := norm.NFKC.QuickSpanString(s)
		for i, r := range s[:q] {
			if unicode.Is(unicode.Cf, r) {
				q = i
				break
			}
		}
		if q < len(s) && (start < 0 || q < start) {
			start = q
		}
	}
	if start < 0 {
		return -1
	}
	for i := start; i < len(s); i++ {
		if _, n := foldAt(s, i); n > 0 {
			return i
		}
	}
	return -1
}

// printable is the printable ASCII, from the space on.
const printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

// foldAt returns the ASCII text that the bytes of s at i fold into and
// how many they are, or 0 bytes when they do not fold.
func foldAt(s string, i int) (string, int) {
	switch c := s[i]; {
	case c == '%':
		n := 3
		if strings.HasPrefix(s[i:], "%25") && i+4 < len(s) {
			n = 5 // encoded twice: %253D
		}
		if i+n-1 < len(s) {
			hi, ok1 := unhex(s[i+n-2])
			lo, ok2 := unhex(s[i+n-1])
			if c := hi<<4 | lo; ok1 && ok2 && c > ' ' && c < 0x7f && (n == 3 || c != '%') {
				return printable[c-' ' : c-' '+1], n
			}
		}
		if n == 5 {
			return "%", 3
		}
	case c >= utf8.RuneSelf:
		if r, n := utf8.DecodeRuneInString(s[i:]); unicode.Is(unicode.Cf, r) {
			return "", n // invisible: a soft hyphen, a zero-width space
		}
		p := norm.NFKC.PropertiesString(s[i:])
		if d := p.Decomposition(); len(d) > 0 && asciiPrintable(d) {
			return string(d), p.Size()
		}
	}
	return "", 0
}

// asciiPrintable reports whether b is printable ASCII or spaces.
func asciiPrintable(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// userinfoSpans appends to sp the user information of the URLs in s. In
// free text (text true) a URL ends at a space or quote; in a variable's
// value it ends only at the end of the value, so that a malformed password
// holding a space is hidden too. The next URL, if any, starts after this
// one: a "://" inside the user information belongs to it and is masked
// with it.
func userinfoSpans(s string, text bool, sp []span) []span {
	pos := 0
	for {
		i := strings.Index(s[pos:], "://")
		if i < 0 {
			return sp
		}
		start := pos + i + 3
		end := urlEndIndex(s, start, text)
		if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
			sp = append(sp, span{start, start + at, true})
		}
		pos = end
	}
}
