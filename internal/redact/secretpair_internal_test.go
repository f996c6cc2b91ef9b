package redact

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
)

func TestMayHoldSecretPair(t *testing.T) {
	for s, want := range map[string]bool{
		"":                                   false,
		"/usr/bin:/bin":                      false, // no "="
		"token":                              false,
		"a=b,c=d":                            false, // no secret word
		"deploy.token=abc":                   true,
		"https://h/?PassWord=x":              true,
		"API_KEY=1":                          true,
		"x=1;Credentials=y":                  true,
		"service.name=api,host.name=web":     false,
		"to\u212Aen=x":                       true,  // the Kelvin sign folds into k
		"naïve=1":                            false, // no secret word, folded or not
		"ｐａｓｓｗｏｒｄ＝1":                         true,  // fullwidth, folded
		"OTEL_RESOURCE_ATTRIBUTES=a=b,auth=": true,
		"Cookie=a=b":                         true,
		"sessionid=x":                        true,
		"pin=1":                              true,
	} {
		f, _ := fold(s)
		if got := mayHoldSecretPair(f).eq; got != want {
			t.Errorf("mayHoldSecretPair(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzMayHoldSecretPair: the filter never turns away a folded value that
// one of the expressions of its separator matches.
func FuzzMayHoldSecretPair(f *testing.F) {
	for _, s := range []string{"deploy.token=abc", "a=b", "to\u212Aen=x", "?pwd=1&x=2", "AUTH=", "ke=y",
		"password: x", "{'pin': 1}", "Cookie: a=b", "Authorization:Bearer x", "se\u017f\u017fion=1",
		`{"to'ken": 1}`, `{'to"ken': 1}`, "u:p@h.example", "a:\vb@h.x", "x-auth-token : y", `"token value" : 1`,
		"  - password: x", "-password: x", "a\n\t- \tpwd:x", "'token:x'", "x.y-token: z", "(auth:x)", "Authorization:x", "x/cookie: a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s, _ = fold(s) // as Text matches it
		c := mayHoldSecretPair(s)
		for _, e := range []struct {
			re   *regexp.Regexp
			pass bool
		}{
			{secretPair().re, c.eq}, {cookieHeader(), containsFoldASCII(s, "cookie")},
			{secretQuotedKey().re, c.quoted}, {secretQuotedBare().re, c.quoted},
			{secretColon().re, c.colon}, {secretLine().re, c.line}, {secretHeader().re, c.header},
			{bareUserinfo().re, mayHoldBareUserinfo(s)},
		} {
			if e.re.MatchString(s) && !e.pass {
				t.Fatalf("%s matches %q, but the filter turned it away (%+v)", e.re, s, c)
			}
		}
	})
}

func TestSecretTextName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "db_password": true, "PGPASSWORD": true, "passwd": true, "api_key": true,
		"apiKey": true, "X-Api-Key": true, "x-auth-token": true, "auth": true, "Authorization": true,
		"deploy.token": true, "accesskey": true, "pwd": true, "client_secret": true, "credentials": true,
		"key": false, "Key": false, "author": false, "authority": false, "keyboard": false,
		"monkey": false, "hotkey": false, "keys": false, "": false, "service.name": false,
		"to\u212Aen": true, "pa\u017f\u017fword": true,
		// Names that hold no secret (hostile tester): keys of data
		// structures, identifiers and hints of keys, English words.
		"X-Request-Key-Hint": false, "sort_key": false, "--primary-key": false, "primary-key": false, "key_id": false,
		"keyId": false, "public_key": false, "turkey": false, "primary_key": false, "partition_key": false,
		"cache_key": false, "api_key_file": false, "AUTH_MODE": false, "session_timeout": false,
		"SESSION_COOKIE_NAME": false, "pin_memory": false, "spinner": false,
		// Names that do.
		"apikey": true, "access_key": true, "secret_key": true, "private_key": true, "x-api-key": true,
		"AWSAccessKeyId": true, "access_key_id": true, "MY_TOKEN": true, "DB_PASSWORD": true, "credential": true,
		"session": true, "sessionid": true, "PHPSESSID": true, "session_id": true, "cookie": true, "Set-Cookie": true,
		"pin": true, "user_pin": true, "auth_header": true, "passwort": true,
	} {
		if got := secretTextName(name); got != want {
			t.Errorf("secretTextName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzSecretTextName: nameParts never panics and keeps every letter and
// digit of the name, in order.
func FuzzSecretTextName(f *testing.F) {
	for _, s := range []string{"apiKey", "X-Api-Key", "AUTH_TOKEN", "pa\u017f\u017fword", "\xff\xfe", "a__b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		_ = secretTextName(name)
		var kept, want []rune
		for _, p := range nameParts(name) {
			kept = append(kept, []rune(p)...)
		}
		for _, r := range strings.ToLower(name) {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				want = append(want, r)
			}
		}
		if string(kept) != string(want) {
			t.Fatalf("nameParts(%q) = %q: the letters and digits %q, want %q", name, nameParts(name), string(kept), string(want))
		}
	})
}
