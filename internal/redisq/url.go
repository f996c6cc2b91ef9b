package redisq

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/otel-qrun/otel-qrun/internal/redact"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// PasswordEnv is the environment variable that gives the password when the
// URL has none: REDIS_PASSWORD, as redis-cli's REDISCLI_AUTH and most
// Redis images do.
const PasswordEnv = "REDIS_PASSWORD"

// DefaultPort is the port of a URL without one.
const DefaultPort = 6379

// ErrURL is matched, through errors.Is, by every error of ParseURL.
var ErrURL = errors.New("invalid Redis URL")

// URLError is an error of ParseURL. Its message never holds the URL's
// password, nor any part of the URL that could hold it: it names the part
// that is wrong and how.
type URLError struct {
	// Reason says what is wrong, e.g. `port "99999" is out of range`.
	Reason string
}

// Error returns "invalid Redis URL: " followed by the reason.
func (e *URLError) Error() string { return ErrURL.Error() + ": " + e.Reason }

// Is reports whether target is ErrURL.
func (e *URLError) Is(target error) bool { return target == ErrURL }

func urlErr(format string, a ...any) error { return &URLError{Reason: fmt.Sprintf(format, a...)} }

// URL is a parsed redis:// or rediss:// URL:
//
//	redis://[user[:password]@]host[:port][/db]?stream=NAME[&group=GROUP]
//
// The password is kept unexported: String, GoString and LogValue print the
// URL with the password replaced by "xxxxx" (a URL that still parses: "[" may not stand in user information), so that no %v, %#v or slog
// call prints it.
type URL struct {
	// TLS is true for rediss://.
	TLS bool
	// Host is the host name or IP address (without brackets); "localhost"
	// when the URL has none.
	Host string
	// Port is the TCP port, DefaultPort when the URL has none.
	Port int
	// Username is the ACL user; "" means the default user.
	Username string
	// DB is the database number from the path ("/2"); 0 when absent.
	DB int
	// Stream is the stream's key, from the "stream" parameter (required).
	Stream string
	// Group is the consumer group, from the "group" parameter; "" when
	// absent (a Source then needs one: the launcher uses the cluster name).
	Group string

	password    string
	passwordEnv bool // the password came from PasswordEnv
}

// IsURL reports whether s names a Redis stream rather than a path: it
// starts with "redis://" or "rediss://" (scheme in any case).
func IsURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "redis://") || strings.HasPrefix(l, "rediss://")
}

// ParseURL parses raw, a redis:// or rediss:// URL of the form given at
// URL. getenv looks up PasswordEnv (os.Getenv, or a lookup in the
// environment the launcher was given; nil means no lookup): it gives the
// password when the URL has none.
//
// Rules: user and password are %-escaped as in any URL (a password with
// '@', ':' or '/' must escape them); the path is empty, "/" or "/N" with N
// a database number in 0..2147483647; the query holds "stream" (required,
// non-empty) and "group" (optional, non-empty when given), each at most
// once; any other parameter, a fragment, or an opaque URL
// ("redis:host") is an error. Errors are *URLError values, matching ErrURL;
// none holds the password.
func ParseURL(raw string, getenv func(string) string) (*URL, error) {
	if !IsURL(raw) {
		return nil, urlErr("want a URL that starts with redis:// or rediss://")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the input, password included: give only
		// the part that is wrong.
		return nil, urlErr("it does not parse as a URL (check the %%-escaping of the user, password and host: %s)", urlSyntaxHint(raw))
	}
	if u.Opaque != "" {
		return nil, urlErr("want redis://host, not redis:host")
	}
	if u.Fragment != "" || strings.Contains(u.RawFragment, "@") {
		return nil, urlErr("a fragment (#…) is not allowed; %%-escape a '#' in the password as %%23")
	}
	if strings.ContainsAny(u.RawQuery, "@") || strings.Contains(u.EscapedPath(), "@") {
		// a '?' or '/' in an unescaped password ends the authority early:
		// the rest may be secret, so quote nothing of it.
		return nil, urlErr("'@' after the host: a '/', '?' or '#' in the password must be %%-escaped as %%2F, %%3F, %%23")
	}
	r := &URL{TLS: u.Scheme == "rediss", Host: u.Hostname(), Port: DefaultPort}
	if r.Host == "" {
		r.Host = "localhost"
	}
	if strings.Contains(r.Host, ":") && !strings.HasPrefix(u.Host, "[") {
		return nil, urlErr("an IPv6 address must be in brackets: redis://[::1]:6379")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, urlErr("port %q is out of range (1..65535)", p)
		}
		r.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, urlErr("the port after ':' is empty")
	}
	if u.User != nil {
		r.Username = u.User.Username()
		r.password, _ = u.User.Password()
	}
	if r.password == "" && getenv != nil {
		if p := getenv(PasswordEnv); p != "" {
			r.password, r.passwordEnv = p, true
		}
	}
	switch path := u.EscapedPath(); path {
	case "", "/":
	default:
		n, err := strconv.Atoi(path[1:])
		if err != nil || n < 0 || n > math.MaxInt32 || path[1] == '+' {
			return nil, urlErr("the path %q is not a database number (want /0, /1, …)", truncate(path, 40))
		}
		r.DB = n
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, urlErr("the query does not parse (a bad %%-escape?)")
	}
	for k, v := range q {
		switch k {
		case "stream", "group":
			if len(v) > 1 {
				return nil, urlErr("parameter %q is given %d times", k, len(v))
			}
			if v[0] == "" {
				return nil, urlErr("parameter %q is empty", k)
			}
		default:
			return nil, urlErr("unknown parameter %q (accepted: stream, group)", truncate(k, 40))
		}
	}
	r.Stream, r.Group = q.Get("stream"), q.Get("group")
	if r.Stream == "" {
		return nil, urlErr("the stream parameter is missing (add ?stream=NAME)")
	}
	return r, nil
}

// urlSyntaxHint names, without quoting the input, what url.Parse could not
// read.
func urlSyntaxHint(raw string) string {
	rest := raw[strings.Index(raw, "://")+3:]
	auth := rest
	if i := strings.IndexAny(auth, "/?#"); i >= 0 {
		auth = auth[:i]
		if !strings.Contains(auth, "@") && strings.Contains(rest[i:], "@") {
			return "a '/', '?' or '#' in the password must be %-escaped as %2F, %3F, %23"
		}
	}
	if i := strings.LastIndexByte(auth, '@'); i >= 0 {
		if strings.Contains(auth[:i], "%") {
			return "a % in the user or password that does not start an escape like %40"
		}
		auth = auth[i+1:]
	}
	if strings.ContainsAny(auth, " %<>\"{}|\\^`") {
		return "a character that is not allowed in the host"
	}
	return "a bad %-escape, a bad IPv6 address, or a port that is not a number"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Password returns the password ("" when none). Callers must not print it.
func (u *URL) Password() string { return u.password }

// PasswordFromEnv reports whether the password came from PasswordEnv.
func (u *URL) PasswordFromEnv() bool { return u.passwordEnv }

// Addr returns "host:port".
func (u *URL) Addr() string { return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) }

// String returns the URL with its password, if the URL holds one, replaced
// by "xxxxx": redis://user:xxxxx@host:6379/0?stream=s&group=g. A password
// from PasswordEnv is not shown at all.
func (u URL) String() string {
	var b strings.Builder
	if u.TLS {
		b.WriteString("rediss://")
	} else {
		b.WriteString("redis://")
	}
	if u.Username != "" || (u.password != "" && !u.passwordEnv) {
		b.WriteString(url.PathEscape(u.Username))
		if u.password != "" && !u.passwordEnv {
			b.WriteString(":xxxxx")
		}
		b.WriteByte('@')
	}
	b.WriteString(u.Addr())
	b.WriteString("/" + strconv.Itoa(u.DB))
	q := url.Values{"stream": {u.Stream}}
	if u.Group != "" {
		q.Set("group", u.Group)
	}
	b.WriteString("?" + q.Encode())
	return b.String()
}

// GoString is String, so that %#v does not print the password either.
func (u URL) GoString() string { return u.String() }

// LogValue is String, for log/slog.
func (u URL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// Redact returns s with the user information of any URL in it masked, by
// the one redaction rule of otel-qrun (internal/redact): what config, logs
// and errors print of a Redis URL, parsed or not.
func Redact(s string) string { return redact.Text(s) }

// SameServer reports whether a and b reach the same server, database and
// user, so that one connection pool (and one MULTI or script) serves both.
func SameServer(a, b *URL) bool {
	return a.TLS == b.TLS && a.Host == b.Host && a.Port == b.Port && a.DB == b.DB &&
		a.Username == b.Username && a.password == b.password
}

// options returns the go-redis options for u. Retries are ours (with the
// outage report), so go-redis does not retry; a context's deadline bounds
// every command.
func (u *URL) options() *redis.Options {
	o := &redis.Options{
		Addr:                  u.Addr(),
		Username:              u.Username,
		Password:              u.password,
		DB:                    u.DB,
		Protocol:              2,
		DisableIdentity:       true,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1, // retries are Client.do's
		DialerRetries:         1,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
	if u.TLS {
		o.TLSConfig = &tls.Config{ServerName: u.Host, MinVersion: tls.VersionTLS12}
	}
	return o
}
