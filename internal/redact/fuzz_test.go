package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/otel-qrun/otel-qrun/internal/redact"
)

// places is the number of placements of FuzzRedact.
const places = 12

// FuzzRedact places a secret in every kind of variable the rule covers and
// checks that it appears in no output: the variable as shown, free text
// quoting it in several ways, and log lines of slog's text and JSON
// handlers.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"Bearer%ZZSECRET123", "PWSECRET999", "p@ss:w/rd", "a b c d", `q"uo\te`, "<&>ünï", "\x00\xff\xfe!"} {
		for place := range places {
			f.Add(uint8(place), s, "extra")
		}
	}
	// The forms of the third hostile pass, each with a secret it holds.
	for place, s := range map[int]string{5: "hunter2-yaml", 6: "dict.secret", 7: "cookie~value", 8: "enc0ded-secret",
		9: "bare!pass*word", 10: "fullwidth_pw", 11: "AuthSchemeLess"} {
		f.Add(uint8(place), s, "extra")
	}
	f.Fuzz(func(t *testing.T, place uint8, secret, other string) {
		var env, shown string
		// The new forms: a value of one word, which its separators and
		// quotes would end.
		if place%places >= 5 && (strings.ContainsAny(secret, "\"'`<>\\&#,;@/%=:{}[]()") ||
			strings.IndexFunc(secret, func(r rune) bool { return r <= ' ' || r == 0x7f || unicode.IsSpace(r) }) >= 0 ||
			norm.NFKC.String(secret) != secret) {
			t.Skip("the value ends here")
		}
		switch place % places {
		case 0:
			env = "APP_SECRET_TOKEN=" + secret
			shown = secret
		case 1:
			if strings.Contains(secret, ",") {
				t.Skip("a comma separates headers")
			}
			env = "OTEL_EXPORTER_OTLP_HEADERS=authorization=" + secret
			shown = secret
		case 2:
			if strings.ContainsAny(secret, "@") || strings.IndexFunc(secret, func(r rune) bool { return r <= ' ' || strings.ContainsRune("\"'`<>\\\x7f", r) }) >= 0 {
				t.Skip("the password ends here")
			}
			env = "OTEL_EXPORTER_OTLP_ENDPOINT=http://user:" + secret + "@host:4317"
			shown = secret
		case 3:
			if strings.ContainsAny(secret, "@") {
				t.Skip("the password ends here")
			}
			env = "REDIS_URL=rediss://:" + secret + "@redis:6380/0 " + other
			shown = secret
		case 4:
			if !utf8.ValidString(secret) {
				t.Skip("JSON holds valid UTF-8 only")
			}
			b, _ := json.Marshal(map[string]any{"workers": 2, "redis": map[string]string{"password": secret}})
			env = "Q_CLUSTER=" + string(b)
			shown = secret
		case 5:
			env = "APP_CONFIG=db:\n  password: " + secret + "\n  user: bob"
			shown = secret
		case 6:
			env = "APP_REPR={'user': 'bob', 'token': '" + secret + "'}"
			shown = secret
		case 7:
			env = "APP_HEADER=Cookie: _ga=1; sid=" + secret + "; theme=dark"
			shown = secret
		case 8:
			env = "APP_CALLBACK=https://h/cb?next=%2Fx%3Fsecret%3D" + secret + "%26n%3D1"
			shown = secret
		case 9:
			env = "APP_BROKER=user:" + secret + "@10.0.0.5:6379/0"
			shown = secret
		case 10:
			env = "APP_NOTE=ｐａｓｓｗｏｒｄ＝" + secret + " ok"
			shown = secret
		case 11:
			env = "APP_CURL=-H Authorization:Bearer " + secret
			shown = secret
		}
		name, value, _ := strings.Cut(env, "=")
		if strings.TrimSpace(shown) != shown || len(shown) < redact.MinSecretLen {
			t.Skip("short or padded: hidden in place, not searched for")
		}
		r := redact.New([]string{env})
		texts := func(s string) []string {
			return []string{
				s, fmt.Sprintf("%q", s), fmt.Sprintf("value=%s, input=%+q", s, s),
				"Post \"http://user:" + s + "@h/v1/traces\": refused",
			}
		}
		render := func(s string) string {
			var out strings.Builder
			if place%places != 4 {
				out.WriteString(r.Env(name, strings.ReplaceAll(value, shown, s)))
			}
			for _, text := range texts(s) {
				out.WriteString("\n" + r.String(text))
			}
			for _, json := range []bool{false, true} {
				var buf bytes.Buffer
				opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}}
				var h slog.Handler = slog.NewTextHandler(&buf, opts)
				if json {
					h = slog.NewJSONHandler(&buf, opts)
				}
				slog.New(redact.NewHandler(h, r)).Warn("msg "+s, "value", s, "error", errors.New(s), "list", []string{s})
				out.WriteString("\n" + buf.String())
			}
			return out.String()
		}
		if strings.Contains(render(redact.Mask), shown) {
			t.Skip("the secret is part of the fixed text")
		}
		if got := render(shown); strings.Contains(got, shown) {
			t.Fatalf("secret %q of %q shown:\n%s", shown, env, got)
		}
	})
}

// FuzzTextForms places a secret value in each form Text masks, between
// other text: the value never shows, the lines around it are kept, and no
// input panics.
func FuzzTextForms(f *testing.F) {
	for i := range textForms {
		for _, s := range []string{"hunter2", "s3cr3t-Value_42", "ÅnÏcode", "1234"} {
			f.Add(uint8(i), s, "tail=1")
		}
	}
	f.Add(uint8(0), "x", "\xff%3D\xef\xbc")
	f.Fuzz(func(t *testing.T, form uint8, secret, other string) {
		in := "lead\n" + fmt.Sprintf(textForms[int(form)%len(textForms)], secret) + " " + other + "\nnext"
		got := redact.Text(in) // never panics, whatever the input
		if !strings.HasPrefix(got, "lead\n") || !strings.HasSuffix(got, "\nnext") {
			t.Fatalf("Text(%q) = %q lost the lines around", in, got)
		}
		if len(secret) < redact.MinSecretLen || strings.IndexFunc(secret, func(r rune) bool {
			return r <= ' ' || strings.ContainsRune("\"'`<>\\&#,;@/%=:{}[]()\x7f", r)
		}) >= 0 || !utf8.ValidString(secret) || norm.NFKC.String(secret) != secret || strings.Contains(other, secret) || strings.Contains(strings.ReplaceAll(textForms[int(form)%len(textForms)], "%s", redact.Mask), secret) {
			t.Skip("not one word of a value")
		}
		if line := strings.Split(got, "\n")[1]; strings.Contains(line, secret) {
			t.Fatalf("Text(%q) = %q shows %q", in, got, secret)
		}
	})
}

// textForms are the forms of FuzzTextForms, %s the secret.
var textForms = []string{
	"password: %s", "  - api_key: %s", "x token:%s y", "api_key : %s", "'secret: %s'",
	`{'password': '%s', 'user': 'bob'}`, `{"password": "%s"}`, `{"pin": %s}`, `("token", 1, {'auth': b'%s'})`,
	"Cookie: a=1; session=%s; b=2", "set-cookie:id=%s; Path=/", "HTTP_COOKIE=_ga=1;sid=%s",
	"Authorization:Bearer %s", "authorization:basic %s", "Proxy-Authorization: Basic %s", "X-Api-Key: %s",
	"GET /cb?secret%%3D%s%%26n%%3D1", "password%%3A%s", "u=https%%3A%%2F%%2Fuser%%3A%s%%40h%%2F",
	"ｐａｓｓｗｏｒｄ＝%s", "password＝%s", "ｔｏｋｅｎ：%s", "𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝=%s", "ⓣⓞⓚⓔⓝ︓%s",
	"redis user:%s@10.0.0.5:6379", "amqp u:%s@host/vhost", "(:%s@localhost)", "db admin:%s@db.example.com",
	"password=%s", "api_key = '%s'", "https://u:%s@h/x", "?token=%s&n=1",
}
