package redisq

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		raw  string
		env  map[string]string
		want URL
		pw   string
	}{
		{raw: "redis://localhost/0?stream=s", want: URL{Host: "localhost", Port: 6379, Stream: "s"}},
		{raw: "redis://h:7000?stream=s&group=g", want: URL{Host: "h", Port: 7000, Stream: "s", Group: "g"}},
		{raw: "redis://?stream=s", want: URL{Host: "localhost", Port: 6379, Stream: "s"}},
		{raw: "REDIS://h/3?stream=s", want: URL{Host: "h", Port: 6379, DB: 3, Stream: "s"}},
		{raw: "rediss://u:p%40ss@h:1/15?group=g&stream=a%2Fb", want: URL{TLS: true, Host: "h", Port: 1, DB: 15, Username: "u", Stream: "a/b", Group: "g"}, pw: "p@ss"},
		{raw: "redis://:secret@[::1]:6380/?stream=s", want: URL{Host: "::1", Port: 6380, Stream: "s"}, pw: "secret"},
		{raw: "redis://u@h?stream=s", env: map[string]string{PasswordEnv: "fromenv"}, want: URL{Host: "h", Port: 6379, Username: "u", Stream: "s"}, pw: "fromenv"},
		{raw: "redis://:inurl@h?stream=s", env: map[string]string{PasswordEnv: "fromenv"}, want: URL{Host: "h", Port: 6379, Stream: "s"}, pw: "inurl"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			u, err := ParseURL(tc.raw, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if u.Password() != tc.pw {
				t.Errorf("password %q, want %q", u.Password(), tc.pw)
			}
			got := *u
			got.password, got.passwordEnv = "", false
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			back, err := ParseURL(u.String(), nil)
			if err != nil || back.Stream != u.Stream || back.Group != u.Group || back.Addr() != u.Addr() || back.DB != u.DB || back.TLS != u.TLS {
				t.Errorf("String() = %q does not parse back: %v", u.String(), err)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"", "want a URL that starts with redis://"},
		{"/tmp/tasks", "want a URL that starts with redis://"},
		{"http://h?stream=s", "want a URL that starts with redis://"},
		{"redis://h", "stream parameter is missing"},
		{"redis://h?stream=", `parameter "stream" is empty`},
		{"redis://h?stream=a&stream=b", `parameter "stream" is given 2 times`},
		{"redis://h?stream=s&group=", `parameter "group" is empty`},
		{"redis://h?stream=s&strem=x", `unknown parameter "strem"`},
		{"redis://h:0?stream=s", `port "0" is out of range`},
		{"redis://h:99999?stream=s", `port "99999" is out of range`},
		{"redis://h:?stream=s", "the port after ':' is empty"},
		{"redis://h/x?stream=s", `the path "/x" is not a database number`},
		{"redis://h/-1?stream=s", `the path "/-1" is not a database number`},
		{"redis://h/+1?stream=s", `the path "/+1" is not a database number`},
		{"redis://h/1/2?stream=s", `the path "/1/2" is not a database number`},
		{"redis://h/99999999999?stream=s", "is not a database number"},
		{"redis://h?stream=s#frag", "a fragment"},
		{"redis://:se#cret@h?stream=s", "must be %-escaped as %2F, %3F, %23"},
		{"redis://:se/cret@h?stream=s", "must be %-escaped as %2F, %3F, %23"},
		{"redis://:se?cret@h?stream=s", "must be %-escaped as %2F, %3F, %23"},
		{"redis://u:se/cret@h:1?stream=s", "must be %-escaped as %2F, %3F, %23"},
		{"redis://h/?stream=s&u=a@b", "'@' after the host"},
		{"redis://:se%zzcret@h?stream=s", "does not parse as a URL"},
		{"redis://:secret@h:port?stream=s", "does not parse as a URL"},
		{"redis://h?stream=%zz", "the query does not parse"},
		{"redis://::1?stream=s", "must be in brackets"},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			_, err := ParseURL(tc.raw, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrURL) {
				t.Fatalf("ParseURL(%q) = %v, want an ErrURL with %q", tc.raw, err, tc.want)
			}
			for _, secret := range []string{"secret", "cret", "se#", "zzc"} {
				if strings.Contains(tc.raw, secret) && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds part of the password %q", err, secret)
				}
			}
		})
	}
}

// TestURLNeverPrintsPassword: every way of printing a URL hides the password.
func TestURLNeverPrintsPassword(t *testing.T) {
	u, err := ParseURL("redis://user:topsecret@h:1/2?stream=s&group=g", nil)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "url", u, "val", *u)
	for _, s := range []string{u.String(), fmt.Sprint(u), fmt.Sprintf("%v %+v %#v %s", u, u, u, *u), fmt.Sprintf("%+v %#v", *u, *u), logged.String()} {
		if strings.Contains(s, "topsecret") {
			t.Errorf("printed the password: %s", s)
		}
		if !strings.Contains(s, "user:xxxxx@h:1") {
			t.Errorf("printed %q, want user:xxxxx@h:1 in it", s)
		}
	}
	if got := Redact("redis://user:topsecret@h:1/2?stream=s"); got != "redis://[REDACTED]@h:1/2?stream=s" {
		t.Errorf("Redact = %q, want the user information masked", got)
	}
	if got := Redact("redis://u:top/se?cret@h?stream=s"); strings.Contains(got, "top") || strings.Contains(got, "cret") {
		t.Errorf("Redact of an unparsable URL = %q", got)
	}
	if got := Redact("./tasks.txt"); got != "./tasks.txt" {
		t.Errorf("Redact of a path = %q", got)
	}
	env, _ := ParseURL("redis://h?stream=s", func(string) string { return "envsecret" })
	if strings.Contains(env.String(), "xxxxx") || env.Password() != "envsecret" || !env.PasswordFromEnv() {
		t.Errorf("URL with the password from the environment prints %q", env)
	}
}

// FuzzParseURL: whatever the input, no error and no printed form holds the
// password, and a URL that parses prints as one that parses to the same.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"h?stream=s", "h:1/2?stream=s&group=g", "[::1]:6379?stream=s", "h:x", "h/%zz?stream=s", "h?stream=%zz", "h?stream=s#x", "h?stream=s&x=1"} {
		f.Add("user", "pw", s)
	}
	f.Fuzz(func(t *testing.T, user, pw, rest string) {
		pass := "SECRET" + pw
		if strings.Contains(user+rest, "SECRET") {
			return
		}
		raw := "redis://" + user + ":" + pass + "@" + rest
		u, err := ParseURL(raw, nil)
		if err != nil {
			if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error %q holds the password", err)
			}
			if strings.Contains(Redact(raw), "SECRET") {
				t.Fatalf("Redact(%q) = %q holds the password", raw, Redact(raw))
			}
			return
		}
		for _, s := range []string{u.String(), fmt.Sprintf("%v %+v %#v", u, *u, u), Redact(raw)} {
			if strings.Contains(s, "SECRET") {
				t.Fatalf("%q printed as %q", raw, s)
			}
		}
		back, err := ParseURL(u.String(), nil)
		if err != nil {
			t.Fatalf("String() = %q does not parse: %v", u.String(), err)
		}
		if back.Stream != u.Stream || back.Group != u.Group || back.Host != u.Host || back.Port != u.Port || back.DB != u.DB || back.Username != u.Username {
			t.Fatalf("%q → %q parses to %+v, want %+v", raw, u.String(), back, u)
		}
	})
}
