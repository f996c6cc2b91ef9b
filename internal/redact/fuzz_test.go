package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otel-qrun/otel-qrun/internal/redact"
)

// FuzzRedact places a secret in every kind of variable the rule covers and
// checks that it appears in no output: the variable as shown, free text
// quoting it in several ways, and log lines of slog's text and JSON
// handlers.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"Bearer%ZZSECRET123", "PWSECRET999", "p@ss:w/rd", "a b c d", `q"uo\te`, "<&>ünï", "\x00\xff\xfe!"} {
		for place := range 5 {
			f.Add(uint8(place), s, "extra")
		}
	}
	f.Fuzz(func(t *testing.T, place uint8, secret, other string) {
		var env, shown string
		switch place % 5 {
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
			if place%5 != 4 {
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
