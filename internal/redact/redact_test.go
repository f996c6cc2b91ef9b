package redact_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/redact"
)

func TestValue(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc,x-team=ops", "authorization=[REDACTED],x-team=[REDACTED]"},
		{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%ZZSECRET123", "authorization=[REDACTED]"},
		{"otel_exporter_otlp_metrics_headers", "Bearer SECRET", "[REDACTED]"},
		{"OTEL_EXPORTER_OTLP_LOGS_HEADERS", "bad name=x, ok=y,,", "[REDACTED], ok=[REDACTED],,"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:PWSECRET999@127.0.0.1:4317", "http://[REDACTED]@127.0.0.1:4317"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ht tp://user:PW@x", "ht tp://[REDACTED]@x"},
		{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://us er:p/a#s?s@h/v1", "http://[REDACTED]@h/v1"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318", "http://localhost:4318"},
		{"REDIS_URL", "redis://default:hunter22@redis:6379/0", "redis://[REDACTED]@redis:6379/0"},
		{"QRUN_RESULTS", "rediss://:hunter22@redis:6380", "rediss://[REDACTED]@redis:6380"},
		{"BROKER", "redis://redis:6379/0?password=hunter22&db=1", "redis://redis:6379/0?password=[REDACTED]&db=1"},
		{"HTTPS_PROXY", "http://TOKEN123@proxy:3128", "http://[REDACTED]@proxy:3128"},
		{"CACHE", "user:hunter22@redis:6379", "[REDACTED]@redis:6379"},
		{"MAILTO", "ops@example.com", "ops@example.com"},
		{"OTEL_RESOURCE_ATTRIBUTES", "team=mail,deploy.token=abc,x=1", "team=mail,deploy.token=[REDACTED],x=1"},
		{"JAVA_TOOL_OPTIONS", "-Dapi.key=abc -Xmx1g", "-Dapi.key=[REDACTED] -Xmx1g"},
		{"REDIS_PASSWORD", "x", "[REDACTED]"},
		{"GITHUB_TOKEN", "ghp_abc", "[REDACTED]"},
		{"AWS_SECRET_ACCESS_KEY", "abc", "[REDACTED]"},
		{"DB_PASSWD", "abc", "[REDACTED]"},
		{"GOOGLE_APPLICATION_CREDENTIALS", "/k.json", "[REDACTED]"},
		{"AUTHORIZATION", "Basic abc", "[REDACTED]"},
		{"auth_header", "abc", "[REDACTED]"},
		{"API_KEY", "", ""},
		{"OAUTH", "kept: AUTH only counts at the start", "kept: AUTH only counts at the start"},
		{"PATH", "/usr/bin:/bin", "/usr/bin:/bin"},
	} {
		if got := redact.Value(tc.name, tc.value); got != tc.want {
			t.Errorf("Value(%q, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Post "http://u:pw@h:4318/v1/traces": refused`, `Post "http://[REDACTED]@h:4318/v1/traces": refused`},
		{`parse "ht tp://user:PWSECRET999@127.0.0.1:4317": bad`, `parse "ht tp://[REDACTED]@127.0.0.1:4317": bad`},
		{"a redis://x:y@h b rediss://p@q c", "a redis://[REDACTED]@h b rediss://[REDACTED]@q c"},
		{"http://h/x?api_key=abc&n=1 ", "http://h/x?api_key=[REDACTED]&n=1 "},
		{"no url here", "no url here"},
		{"level=WARN msg=x password=hunter2 n=1", "level=WARN msg=x password=[REDACTED] n=1"},
		{"://@", "://[REDACTED]@"},
		// Spaces around "=", JSON members, header lines (hostile tester).
		{"password = hunter2 next", "password = [REDACTED] next"},
		{"db_PASSWORD\t=\thunter2", "db_PASSWORD\t=\t[REDACTED]"},
		{`{"password":"hun\"ter2","user":"bob"}`, `{"password":"[REDACTED]","user":"bob"}`},
		{`{"api_key" : "k1", "Auth_Token":"t2"}`, `{"api_key" : "[REDACTED]", "Auth_Token":"[REDACTED]"}`},
		{`curl -H 'X-Api-Key: abc123' http://h`, `curl -H 'X-Api-Key: [REDACTED]' http://h`},
		{"Authorization: Bearer abc.def\nnext", "Authorization: [REDACTED]\nnext"},
		{`-H "proxy-authorization: Basic dXNlcg=="`, `-H "proxy-authorization: [REDACTED]"`},
		{"invalid key: the value", "invalid key: the value"},                         // prose, not a header
		{`{"Key":"service.name","Value":"x"}`, `{"Key":"service.name","Value":"x"}`}, // a generic name
		// Quoted values whole (logfmt, shell; second hostile pass).
		{`password="hunter 2" n=1`, `password=[REDACTED] n=1`},
		{`db_password='s3cr3t' x`, `db_password=[REDACTED] x`},
		{`TOKEN =  "quoted value here"`, `TOKEN =  [REDACTED]`},
		{`token="unterminated`, `token=[REDACTED]`},
		// Weak words only as a whole part of the name: no over-masking.
		{`{"author": "alice", "authority": "ca1", "keyboard": "us", "monkey": "banana", "sort_key": "name"}`,
			`{"author": "alice", "authority": "ca1", "keyboard": "us", "monkey": "banana", "sort_key": "name"}`},
		{"the primary key = id, hotkey = F5, author=alice", "the primary key = id, hotkey = F5, author=alice"},
		{`{"apiKey":"k1","AUTH_TOKEN":"t2","x-auth":"a3","accesskey":"k4"}`,
			`{"apiKey":"[REDACTED]","AUTH_TOKEN":"[REDACTED]","x-auth":"[REDACTED]","accesskey":"[REDACTED]"}`},
		{"to\u212Aen=kelvin pa\u017f\u017fword=longs", "to\u212Aen=[REDACTED] pa\u017f\u017fword=[REDACTED]"},
		{"open /etc/ssl/private.key: permission denied", "open /etc/ssl/private.key: permission denied"},
	} {
		if got := redact.Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTextForms: each kind of secret form the third hostile pass found
// shown in clear, and the names it found masked that hold no secret.
func TestTextForms(t *testing.T) {
	for _, tc := range []struct{ kind, in, want string }{
		// 1. YAML and colon forms.
		{"yaml", "password: hunter2", "password: [REDACTED]"},
		{"yaml", "db:\n  password: correct horse battery\n  user: bob", "db:\n  password: [REDACTED]\n  user: bob"},
		{"yaml", "- api_key: k1k1 # rotated", "- api_key: [REDACTED]"},
		{"yaml", `  token: "quoted value" `, `  token: "[REDACTED]" `},
		{"colon", "token:abc", "token:[REDACTED]"},
		{"colon", "api_key : xyz", "api_key : [REDACTED]"},
		{"colon", "level=INFO msg=connect password: hunter2 user=bob", "level=INFO msg=connect password: [REDACTED] user=bob"},
		{"colon", "x (token:abc, n:1)", "x (token:[REDACTED], n:1)"},
		{"colon", `sh -c 'password: hunter 2' next`, `sh -c 'password: [REDACTED]' next`},
		{"colon", "open private.key: permission denied", "open private.key: permission denied"},
		{"colon", `parse "ht tp://h:1/token": bad port`, `parse "ht tp://h:1/token": bad port`},
		// 2. Python dicts: single- and double-quoted keys with a colon.
		{"dict", `{'password': 'hunter2', 'user': 'bob'}`, `{'password': '[REDACTED]', 'user': 'bob'}`},
		{"dict", `{"api_key": 'k1', 'token': "t2"}`, `{"api_key": '[REDACTED]', 'token': "[REDACTED]"}`},
		{"dict", `{'password': None, 'secret': b'x\'y'}`, `{'password': [REDACTED], 'secret': b'[REDACTED]'}`},
		// 3. Cookie and Set-Cookie: every cookie value.
		{"cookie", "Cookie: session=abc; csrftoken=def; _ga=GA1.2", "Cookie: session=[REDACTED]; csrftoken=[REDACTED]; _ga=[REDACTED]"},
		{"cookie", "set-cookie:id=abc; Path=/; Secure; HttpOnly", "set-cookie:id=[REDACTED]; Path=/; Secure; HttpOnly"},
		{"cookie", `curl -H "Cookie: a=1; b" http://h`, `curl -H "Cookie: a=[REDACTED]; [REDACTED]" http://h`},
		{"cookie", "HTTP_COOKIE=sid=abc;_ga=x n=1", "HTTP_COOKIE=sid=[REDACTED];_ga=[REDACTED] n=1"},
		{"cookie", `{"cookie": "sid=abc"}`, `{"cookie": "[REDACTED]"}`},
		// 4. Authorization without a space, any case, Proxy-Authorization.
		{"authorization", "Authorization:Bearer abc", "Authorization:[REDACTED]"},
		{"authorization", "authorization:basic dXNlcjpwdw==", "authorization:[REDACTED]"},
		{"authorization", "Proxy-Authorization:Basic dXNlcg== next\nline", "Proxy-Authorization:[REDACTED]\nline"},
		{"authorization", "authorization=Bearer abc user=bob token: Basic dXNl n=1", "authorization=[REDACTED] user=bob token: [REDACTED] n=1"},
		{"authorization", "auth=basic user=bob", "auth=[REDACTED] user=bob"},
		{"dict", "Connection(password=b'x y', user='bob')", "Connection(password=[REDACTED], user='bob')"},
		// 5. JSON numbers and literals.
		{"json number", `{"pin": 1234, "password": 12345678, "n": 1}`, `{"pin": [REDACTED], "password": [REDACTED], "n": 1}`},
		{"json literal", `{"token":true,"secret":null,"x":false}`, `{"token":[REDACTED],"secret":[REDACTED],"x":false}`},
		{"json number", `{"api_key":-1.5e3}`, `{"api_key":[REDACTED]}`},
		// 6. %-encoded separators.
		{"encoded", "GET /cb?next=%2Fx%3Fsecret%3Dabc%26n%3D1", "GET /cb?next=%2Fx%3Fsecret%3D[REDACTED]%26n%3D1"},
		{"encoded", "password%3dhunter2 ok", "password%3d[REDACTED] ok"},
		{"encoded", "q=token%3Acorrect%20horse&n=1", "q=token%3A[REDACTED]&n=1"}, // an encoded space is in the value
		{"encoded", "u=https%3A%2F%2Fuser%3Apw%40h%2Fx", "u=https%3A%2F%2F[REDACTED]%40h%2Fx"},
		{"encoded", "100%3Dfull, 50%", "100%3Dfull, 50%"},
		{"encoded", "next=%252Fx%253Fpassword%253Dhunter2%2526n%253D1 50%25", "next=%252Fx%253Fpassword%253D[REDACTED]%2526n%253D1 50%25"},
		// 7. Fullwidth forms, the original bytes masked.
		{"fullwidth", "ｐａｓｓｗｏｒｄ＝x y", "ｐａｓｓｗｏｒｄ＝[REDACTED] y"},
		{"fullwidth", "password＝hunter2 y", "password＝[REDACTED] y"},
		{"fullwidth", "ｔｏｋｅｎ：ａｂｃ　next", "ｔｏｋｅｎ：[REDACTED]　next"},
		{"fullwidth", "全角 ｋｅｙｂｏａｒｄ＝ｕｓ", "全角 ｋｅｙｂｏａｒｄ＝ｕｓ"},
		{"compatibility", "𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝=x1 ⓣⓞⓚⓔⓝ︓x2 api_key﹕x3 café=crème", "𝐩𝐚𝐬𝐬𝐰𝐨𝐫𝐝=[REDACTED] ⓣⓞⓚⓔⓝ︓[REDACTED] api_key﹕[REDACTED] café=crème"},
		{"compatibility", "ｔｏｋｅｎ＝ｓｅｃｒｅｔ値 中文=值", "ｔｏｋｅｎ＝[REDACTED] 中文=值"},
		{"invisible", "pass\u00adword=x1 to\u200bken: x2 \ufeffapi_key=x3 ok", "pass\u00adword=[REDACTED] to\u200bken: [REDACTED] \ufeffapi_key=[REDACTED] ok"},
		// 8. USER:PASSWORD@host without a scheme.
		{"bare userinfo", "redis user:hunter2@10.0.0.5:6379 ok", "redis [REDACTED]@10.0.0.5:6379 ok"},
		{"bare userinfo", "amqp user:pw@host/vhost", "amqp [REDACTED]@host/vhost"},
		{"bare userinfo", "connect(:p@ss@localhost)", "connect([REDACTED]@localhost)"},
		{"bare userinfo", "-u 'admin:s3cr3t@db.example.com'", "-u '[REDACTED]@db.example.com'"},
		{"bare userinfo", "at [u:p@[::1]:6379]", "at [[REDACTED]@[::1]:6379]"},
		{"prose", "a:b@c and x:y@z are no hosts", "a:b@c and x:y@z are no hosts"},
		{"prose", "mailto:ops@example.com, git@github.com:org/repo.git", "mailto:ops@example.com, git@github.com:org/repo.git"},
		{"prose", "image nginx:1.25@sha256:0123abcd pulled", "image nginx:1.25@sha256:0123abcd pulled"},
		{"prose", "at 12:00@room.5, ratio 3:4@x.y", "at 12:00@room.5, ratio 3:4@x.y"},
		{"bare userinfo", "broker u:p@rabbit.svc.cluster.local:5672", "broker [REDACTED]@rabbit.svc.cluster.local:5672"},
		// Names that hold no secret (over-masking).
		{"not secret", "X-Request-Key-Hint: abc", "X-Request-Key-Hint: abc"},
		{"not secret", "sort_key=name primary_key=id partition_key=p cache_key=c public_key=ssh-ed25519", "sort_key=name primary_key=id partition_key=p cache_key=c public_key=ssh-ed25519"},
		{"not secret", `{"key_id": "k1", "keyboard": "us", "turkey": "t", "monkey": "m"}`, `{"key_id": "k1", "keyboard": "us", "turkey": "t", "monkey": "m"}`},
		{"not secret", "--primary-key=pk messaging.kafka.message.key=k auth_mode=basic", "--primary-key=pk messaging.kafka.message.key=k auth_mode=basic"},
		// Names that do.
		{"secret", "apikey=a1 access_key=a2 secret_key=a3 private_key=a4 x-api-key=a5", "apikey=[REDACTED] access_key=[REDACTED] secret_key=[REDACTED] private_key=[REDACTED] x-api-key=[REDACTED]"},
		{"secret", "client_secret=b1 GH_TOKEN=b2 DB_PASSWORD=b3 passwd=b4 pwd=b5 auth=b6", "client_secret=[REDACTED] GH_TOKEN=[REDACTED] DB_PASSWORD=[REDACTED] passwd=[REDACTED] pwd=[REDACTED] auth=[REDACTED]"},
		{"secret", "credential=c1 credentials=c2 session=c3 sessionid=c4 AWSAccessKeyId=c5", "credential=[REDACTED] credentials=[REDACTED] session=[REDACTED] sessionid=[REDACTED] AWSAccessKeyId=[REDACTED]"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			if got := redact.Text(tc.in); got != tc.want {
				t.Errorf("Text(%q)\n = %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// environ holds one secret in every placement the rule covers.
var environ = []string{
	"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%ZZSECRET123",
	"OTEL_EXPORTER_OTLP_TRACES_HEADERS=api-key=TRACEKEY456,junkENTRY789",
	"OTEL_EXPORTER_OTLP_ENDPOINT=http://user:PWSECRET999@127.0.0.1:4317",
	"REDIS_URL=rediss://:REDISPW777@redis:6380/0",
	"REDIS_PASSWORD=REDISPW888",
	"MY_APP_TOKEN=apptoken-111",
	`Q_CLUSTER={"name":"x","redis":{"host":"h","password":"QCPW222"},"broker":"redis://u:QCURL333@h"}`,
	"SHORT_KEY=ab",
	"PATH=/usr/bin",
}

var secrets = []string{
	"ZZSECRET123", "TRACEKEY456", "junkENTRY789", "PWSECRET999", "REDISPW777",
	"REDISPW888", "apptoken-111", "QCPW222", "QCURL333",
}

func TestRedactorString(t *testing.T) {
	r := redact.New(environ)
	for _, s := range secrets {
		for _, text := range []string{
			"plain " + s + " text",
			`"value"="Bearer%` + s + `"`,
			"quoted " + strings.Trim(`"`+s+`"`, ""),
			"decoded Bearer " + s,
		} {
			if got := r.String(text); strings.Contains(got, s) {
				t.Errorf("String(%q) = %q holds %q", text, got, s)
			}
		}
	}
	if got := r.String("ab and /usr/bin stay"); got != "ab and /usr/bin stay" {
		t.Errorf("short and plain values are masked: %q", got)
	}
	var nilR *redact.Redactor
	if got := nilR.String("http://a:b@c"); got != "http://[REDACTED]@c" {
		t.Errorf("nil Redactor: %q", got)
	}
}

func TestRedactorEnviron(t *testing.T) {
	r := redact.New(environ)
	out := strings.Join(r.Environ(environ), "\n")
	for _, s := range append(secrets, "ab") {
		if strings.Contains(out, "="+s) || strings.Contains(out, s+"\n") || strings.Contains(out, secrets[0]) {
			t.Errorf("Environ shows %q:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "PATH=/usr/bin") || !strings.Contains(out, "SHORT_KEY=[REDACTED]") {
		t.Errorf("Environ:\n%s", out)
	}
}

// TestRedactorOverlap checks that masking one secret never brings another
// to light.
func TestRedactorOverlap(t *testing.T) {
	r := &redact.Redactor{}
	r.Add("abcdD]xy", "D]xyz")
	for _, in := range []string{"abcdD]xyz", "xxabcdD]xyzz"} {
		got := r.String(in)
		for _, s := range []string{"abcdD]xy", "D]xyz"} {
			if strings.Contains(got, s) {
				t.Errorf("String(%q) = %q holds %q", in, got, s)
			}
		}
	}
}

func TestHandler(t *testing.T) {
	r := redact.New(environ)
	for _, kind := range []string{"text", "json"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if kind == "json" {
			h = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(redact.NewHandler(h, r)).With("endpoint", "http://user:PWSECRET999@h")
		log.WithGroup("g").Info("escape header value ZZSECRET123",
			"value", "Bearer%ZZSECRET123", "error", errors.New("bad apptoken-111"),
			"input", []string{"QCPW222"}, "password", 1234, "token", "short",
			"cookie", "sid=C00KIE5", "session", "S3SS10N", "pin", 43210, "line", "password: hunter2z",
			slog.Group("inner", "v", "REDISPW888"))
		out := buf.String()
		for _, s := range append(secrets, "1234", "short", "C00KIE5", "S3SS10N", "43210", "hunter2z") {
			if strings.Contains(out, s) {
				t.Errorf("%s handler output holds %q:\n%s", kind, s, out)
			}
		}
		if !strings.Contains(out, "escape header value") {
			t.Errorf("%s handler lost the message:\n%s", kind, out)
		}
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := redact.NewWriter(&buf, redact.New(environ))
	line := []byte(`{"Value":"Bearer%ZZSECRET123","url":"http://user:PWSECRET999@h"}` + "\n")
	n, err := w.Write(line)
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if strings.Contains(buf.String(), "SECRET") {
		t.Errorf("writer output: %s", buf.String())
	}
}

func BenchmarkRedactorString(b *testing.B) {
	r := redact.New(environ)
	for _, in := range []string{"process emails", "redis://[REDACTED]@h:6379/0 failed", "value=Bearer%ZZSECRET123",
		// A clean log line with separators, a candidate one, one with secrets.
		`time=2026-11-30T03:28:10.123Z level=INFO msg="worker started" component=launcher worker=3 pid=4242`,
		`time=2026-11-30T03:28:10.123Z level=WARN msg="refresh token: expired" user=bob`,
		`{"password": 12345678, "user": "bob", "Cookie": "sid=abc; theme=dark"} u:pw@10.0.0.5:6379`} {
		b.Run(in, func(b *testing.B) {
			for b.Loop() {
				_ = r.String(in)
			}
		})
	}
}

// BenchmarkNew: a redactor made from this process's environment, as the
// launcher makes one at every start.
func BenchmarkNew(b *testing.B) {
	env := os.Environ()
	b.ReportAllocs()
	for b.Loop() {
		redact.New(env)
	}
}

func TestArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"cmd", "--password", "hunter2", "--user", "bob"}, []string{"cmd", "--password", redact.Mask, "--user", "bob"}},
		{[]string{"cmd", "-api-key", "k1", "--db-token", "t2"}, []string{"cmd", "-api-key", redact.Mask, "--db-token", redact.Mask}},
		{[]string{"cmd", "--password=x", "next"}, []string{"cmd", "--password=x", "next"}}, // Text's
		{[]string{"cmd", "--keyboard", "us", "--author", "me"}, []string{"cmd", "--keyboard", "us", "--author", "me"}},
		{[]string{"cmd", "--primary-key", "pk", "--sort-key", "name", "--key-id", "k1"}, []string{"cmd", "--primary-key", "pk", "--sort-key", "name", "--key-id", "k1"}},
		{[]string{"cmd", "--password:", "x", "--session", "s1"}, []string{"cmd", "--password:", redact.Mask, "--session", redact.Mask}},
		{[]string{"--password"}, []string{"--password"}},
		{nil, nil},
	} {
		got := redact.Args(tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Args(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzArgs: Args keeps argv's length and every argument but those after
// a flag, which it masks whole or keeps.
func FuzzArgs(f *testing.F) {
	f.Add("cmd\x00--password\x00hunter2\x00-x")
	f.Add("--token\x00\x00--api-key")
	f.Fuzz(func(t *testing.T, joined string) {
		argv := strings.Split(joined, "\x00")
		got := redact.Args(argv)
		if len(got) != len(argv) {
			t.Fatalf("Args(%q) = %q: %d arguments, want %d", argv, got, len(got), len(argv))
		}
		for i := range argv {
			if got[i] == argv[i] {
				continue
			}
			if got[i] != redact.Mask || i == 0 || !strings.HasPrefix(argv[i-1], "-") {
				t.Fatalf("Args(%q) = %q: argument %d changed", argv, got, i)
			}
		}
	})
}

// TestArgSecretsForms: the values of the forms of the third hostile pass
// found in arguments are hidden where they show up again.
func TestArgSecretsForms(t *testing.T) {
	args := []string{"cmd", "password: hunter2a", "redis u:pw2pw2@10.0.0.5:6379", "Cookie: sid=c00kie9; Path=/",
		"{'token': 'tok3n3'}", "cb?secret%3Denc0d3d", "ｐａｓｓｗｏｒｄ＝fullw1dth", `{"pin": 98765}`, "Authorization:Bearer b3ar3r"}
	r := redact.New(nil)
	r.Add(redact.ArgSecrets(args)...)
	for _, s := range []string{"hunter2a", "pw2pw2", "c00kie9", "tok3n3", "enc0d3d", "fullw1dth", "98765", "b3ar3r"} {
		if got := r.String("again: " + s + "."); got != "again: [REDACTED]." {
			t.Errorf("a redactor with the secrets of %q shows %q", args, got)
		}
	}
	if got := r.String("Path=/ bearer u 10.0.0.5"); got != "Path=/ bearer u 10.0.0.5" {
		t.Errorf("a redactor with the secrets of %q masks %q", args, got)
	}
}

func TestArgSecrets(t *testing.T) {
	got := redact.ArgSecrets([]string{"cmd", "--password", "hunter2", `{"api_key":"k2k2"}`, "X-Api-Key: h3h3", "http://u:p4p4@h", "author=al", "plain"})
	for _, want := range []string{"hunter2", "k2k2", "h3h3", "u:p4p4", "p4p4"} {
		if !slices.Contains(got, want) {
			t.Errorf("ArgSecrets misses %q: %q", want, got)
		}
	}
	for _, not := range []string{"al", "plain", "cmd", "--password"} {
		if slices.Contains(got, not) {
			t.Errorf("ArgSecrets holds %q: %q", not, got)
		}
	}
	r := redact.New(nil)
	r.Add(got...)
	if s := r.String("again: hunter2 k2k2 h3h3 p4p4"); s != "again: [REDACTED] [REDACTED] [REDACTED] [REDACTED]" {
		t.Errorf("a redactor with them shows %q", s)
	}
}
