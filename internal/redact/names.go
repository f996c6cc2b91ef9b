package redact

import (
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"
)

// strongWords are the words that make a name secret wherever they are.
var strongWords = []string{"token", "secret", "passw", "credential"}

// weakTextWords are the words a name in text must hold for the weak rules
// to be asked (a quick test before the name is split).
var weakTextWords = []string{"key", "auth", "pwd", "sess", "cookie", "pin"}

// keyQualifiers name keys of data structures: "key" right after one of
// them, or a part made of one of them and "key" (sortkey), is no secret.
var keyQualifiers = wordSet("public", "primary", "partition", "sort", "cache", "foreign", "unique",
	"composite", "hash", "range", "row", "shard", "routing", "idempotency", "dedup", "deduplication",
	"group", "message", "object", "lookup", "index", "map", "natural", "surrogate", "candidate",
	"sequence", "ordering", "join", "cursor", "translation", "i18n", "label", "attribute", "attr",
	"tag", "field", "column", "dict", "redis", "queue", "stream", "bucket", "cluster", "search",
	"grouping", "clustering", "distribution", "request", "lock", "job", "task", "result")

// englishKeyWords are words that end in key and name no key.
var englishKeyWords = wordSet("monkey", "turkey", "donkey", "hockey", "jockey", "whiskey", "hotkey",
	"turnkey", "lackey", "malarkey")

// metaSuffixes, as the last part of a name, make it name something about
// a secret (its name, type, file, length), not the secret.
var metaSuffixes = wordSet("hint", "name", "names", "type", "size", "length", "len", "bits", "count",
	"format", "alg", "algorithm", "fingerprint", "prefix", "path", "file", "dir", "version", "mode",
	"method", "scheme", "url", "uri", "endpoint", "provider", "enabled", "required", "timeout", "ttl",
	"age", "domain", "expiry", "expires", "lifetime", "field", "column", "pattern", "secure",
	"httponly", "samesite")

func wordSet(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// SecretName reports whether the variable (or attribute) name looks like
// it holds a secret: it contains TOKEN, SECRET, PASSW or CREDENTIAL,
// starts with AUTH, or has KEY as a part by the rule of keys (API_KEY,
// apiKey, OPENAI_APIKEY, KEY alone; not PRIMARY_KEY, KEY_ID, MONKEY,
// KEYBOARD), in any case.
//
// The rule of secret names decides for a variable or an attribute key
// (SecretName) and for a name found before a value in text ([Text]); the
// text rule knows more weak words, because a name in text is matched only
// where a value follows it.
//
// Strong words make a name secret wherever they are in it, in any case:
//
//   - token, secret, passw (password, passwd, passwort) and credential:
//     token, secret and password are keywords of the Gitleaks
//     generic-api-key rule; password, passwd, secret, token and
//     credentials are in the denylist of Sentry's scrubber
//     (sentry_sdk/scrubber.py DEFAULT_DENYLIST, taken from Relay). They
//     cover GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, client_secret,
//     REDIS_PASSWORD, GOOGLE_APPLICATION_CREDENTIALS.
//
// Weak words make it secret only as a whole part of the name, split at
// every byte that is not a letter or digit and at camel case (nameParts):
//
//   - key (api_key, apiKey, x-api-key, access_key, private_key: a
//     Gitleaks generic-api-key keyword, the OTLP headers of vendors set
//     in OTEL_EXPORTER_OTLP_HEADERS=api-key=..., and Sentry's api_key,
//     apikey, privatekey, private_key, x_api_key), also at the end of a
//     part (apikey, accesskey, privatekey, masterkey), but not:
//     key alone in text (the console exporters print {"Key":...}; in a
//     variable's name, KEY alone is secret); a key of a data structure,
//     after public, primary, partition, sort, cache and the other
//     keyQualifiers (primary_key, --primary-key, sortKey, the semantic
//     convention messaging.kafka.message.key); English words that end
//     in key (monkey, turkey, hotkey: englishKeyWords) or start with it
//     (keyboard, keyword, keyspace); and a name about a key rather than
//     the key, whose last part is id or a metaSuffixes word (key_id,
//     X-Request-Key-Hint, api_key_file), except access_key_id, which
//     the OpenTelemetry semantic conventions of url.full redact
//     (AWSAccessKeyId);
//   - in text only: auth and authorization (X-Auth-Token, Sentry's auth
//     and authorization), pwd (Sentry's mysql_pwd), session, sessionid,
//     sessid (Sentry's session, sessionid, PHPSESSID), cookie and
//     set_cookie (Sentry's cookie, set_cookie: a cookie value is a
//     credential), each unless the name's last part is a metaSuffixes
//     word (auth_mode, session_timeout, SESSION_COOKIE_NAME), and pin as
//     the last part (a personal identification number: "pin": 1234,
//     user_pin; not pin_memory).
//
// A variable's name is secret also when it starts with AUTH
// (AUTHORIZATION, AUTH_HEADER), as it was before the parts rule.
func SecretName(name string) bool {
	if isASCII(name) {
		// Nearly every name: decided without a copy, as it is asked once
		// per attribute of every exported span.
		if len(name) >= 4 && strings.EqualFold(name[:4], "AUTH") {
			return true
		}
		for _, w := range strongWords {
			if containsFoldASCII(name, w) {
				return true
			}
		}
		if !containsFoldASCII(name, "key") {
			return false
		}
	}
	return secretNameRule(name, true)
}

// secretTextName reports whether name, found before a value in text, is
// a secret's, by the rule of names above: strong words anywhere, weak
// ones as whole parts (not monkey, author, keyboard, sort_key). A name
// that is key alone is generic (the OTel console exporters print
// {"Key":"service.name"}, a text says "the primary key = id").
func secretTextName(name string) bool {
	if isASCII(name) {
		for _, w := range strongWords {
			if containsFoldASCII(name, w) {
				return true
			}
		}
		weak := false
		for _, w := range weakTextWords {
			if containsFoldASCII(name, w) {
				weak = true
				break
			}
		}
		if !weak {
			return false
		}
	}
	return secretNameRule(name, false)
}

// foldSpecial maps the two letters (?i) also folds into ASCII ones: the
// long s into s and the Kelvin sign into k.
var foldSpecial = strings.NewReplacer("\u017f", "s", "\u212a", "k")

// secretNameRule is the rule of names, for a variable's name (env) or a
// name in text.
func secretNameRule(name string, env bool) bool {
	name = foldSpecial.Replace(name)
	lower := strings.ToLower(name)
	for _, w := range strongWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	if env && strings.HasPrefix(lower, "auth") {
		return true
	}
	parts := nameParts(name)
	last := len(parts) - 1
	meta := last > 0 && metaSuffixes[parts[last]]
	for i, p := range parts {
		if keyPart(parts, i, env) {
			return true
		}
		if env {
			continue
		}
		// The weak words of text, but for a name about the secret.
		weak := false
		switch strings.TrimSuffix(p, "s") {
		case "auth", "authorization", "pwd", "session", "sessionid", "jsessionid", "phpsessid", "sessid",
			"cookie", "setcookie":
			weak = true
		case "pin":
			weak = i == last
		}
		if weak && (i == last || !meta) {
			return true
		}
	}
	return false
}

// keyPart reports whether parts[i] makes the name a key's by the rule of
// keys (see the rule of names).
func keyPart(parts []string, i int, env bool) bool {
	p := parts[i]
	if strings.HasSuffix(p, "keys") {
		p = p[:len(p)-1]
	}
	last := len(parts) - 1
	switch {
	case p == "key":
		if last == 0 {
			return env // KEY alone: a variable's, not a word in text
		}
		if i > 0 && keyQualifiers[parts[i-1]] {
			return false
		}
	case strings.HasSuffix(p, "key"):
		if englishKeyWords[p] || keyQualifiers[strings.TrimSuffix(p, "key")] {
			return false
		}
	default:
		return false
	}
	if i < last {
		end := parts[last]
		access := strings.HasSuffix(p, "accesskey") || (p == "key" && i > 0 && strings.HasSuffix(parts[i-1], "access"))
		if (end == "id" || end == "ids") && !access || metaSuffixes[end] {
			return false
		}
	}
	return true
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

// isASCII reports whether s is ASCII, 8 bytes at a time.
func isASCII(s string) bool {
	for len(s) >= 8 {
		if binary.LittleEndian.Uint64([]byte(s[:8]))&0x8080808080808080 != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s contains w (ASCII, lower case) in
// any ASCII case.
func containsFoldASCII(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
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
