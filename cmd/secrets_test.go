package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/otel-qrun/otel-qrun/internal/otlptest"
)

// placement is one way a secret reaches otel-qrun: env entries holding it
// and the secret bytes that must never be printed or exported. A secret
// written "part:" is a part of another (a user name, what follows a "/" in
// a password): never shown either, but not quoted alone on the command line.
type placement struct {
	name    string
	env     []string
	secrets []string
	// spans is false when the placement breaks the trace export itself.
	spans bool
}

func placements(recv *otlptest.Receiver, refused string) []placement {
	host := strings.TrimPrefix(recv.Endpoint(), "http://")
	return []placement{
		{"headers, malformed", []string{"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%ZZSECRET123"},
			[]string{"ZZSECRET123"}, true},
		{"traces headers", []string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS=x-api-key=TRACEHDR456,bad-entry-TRACEHDR457"},
			[]string{"TRACEHDR456", "bad-entry-TRACEHDR457", "part:TRACEHDR457"}, true},
		{"metrics headers", []string{"OTEL_EXPORTER_OTLP_METRICS_HEADERS=api-key=METRICHDR458"},
			[]string{"METRICHDR458"}, true},
		{"logs headers", []string{"OTEL_EXPORTER_OTLP_LOGS_HEADERS=api-key=LOGHDR459"},
			[]string{"LOGHDR459"}, true},
		{"endpoint with user info", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://epuser:PWSECRET999@" + host},
			[]string{"PWSECRET999", "part:epuser"}, true},
		{"traces endpoint with user info", []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://tuser:TRACEPW-61@" + host + "/v1/traces"},
			[]string{"TRACEPW-61", "part:tuser"}, true},
		{"metrics endpoint with user info, export fails", []string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=" +
			strings.Replace(refused, "http://", "http://muser:METRICPW-62@", 1) + "/v1/metrics"},
			[]string{"METRICPW-62", "part:muser"}, true},
		{"logs endpoint with user info", []string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=https://luser:LOGPW-63@logs.example:4318"},
			[]string{"LOGPW-63", "part:luser"}, true},
		{"unparsable traces endpoint", []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=ht tp://buser:BADURLPW-64@" + host},
			[]string{"BADURLPW-64", "part:buser"}, false},
		{"endpoint password with a slash", []string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://suser:SLASH/PW-65@" + host},
			[]string{"SLASH/PW-65", "part:PW-65", "part:suser"}, true},
		{"application token, reused in a resource attribute", []string{"MY_APP_TOKEN=APPTOK-42", "OTEL_RESOURCE_ATTRIBUTES=note=uses APPTOK-42"},
			[]string{"APPTOK-42"}, true},
		{"secret-named resource attribute", []string{"OTEL_RESOURCE_ATTRIBUTES=deploy.token=RESTOK-66,team=mail"},
			[]string{"RESTOK-66"}, true},
		{"Redis URL and password", []string{"REDIS_URL=rediss://:REDISURLPW-67@redis:6380/0", "REDIS_PASSWORD=REDISPW-68"},
			[]string{"REDISURLPW-67", "REDISPW-68"}, true},
		{"proxy with a token", []string{"HTTPS_PROXY=http://PROXYTOK-69@proxy.invalid:3128", "NO_PROXY=127.0.0.1,localhost"},
			[]string{"PROXYTOK-69"}, true},
		{"secret in Q_CLUSTER", []string{`Q_CLUSTER={"workers":1,"redis":{"password":"QCPW-70"},"broker":"redis://u:QCURL-71@h"}`},
			[]string{"QCPW-70", "QCURL-71"}, true},
		{"other secret-looking names", []string{"DB_PASSWD=PASSWD-72", "GOOGLE_APPLICATION_CREDENTIALS=CRED-73", "AUTHORIZATION=Basic AUTH-74", "AWS_SECRET_ACCESS_KEY=AWSKEY-75"},
			[]string{"PASSWD-72", "CRED-73", "AUTH-74", "AWSKEY-75"}, true},
		{"cookie header in OTLP headers", []string{"OTEL_EXPORTER_OTLP_HEADERS=Cookie=session=COOKIEHDR-76; csrftoken=COOKIEHDR-77"},
			[]string{"COOKIEHDR-76", "COOKIEHDR-77"}, true},
		// The forms of the third hostile pass, in variables whose names
		// say nothing: YAML, a Python dict, a Cookie header, a JSON
		// number, %-encoded and fullwidth separators, user:password@host
		// without a scheme, Authorization without a space, and a resource
		// attribute the SDK %-decodes into "password: ...".
		{"text forms in other variables", []string{
			"APP_CONFIG=db:\n  password: YAMLPW-78\n  user: bob", "APP_REPR={'user': 'bob', 'token': 'DICTTOK-79'}",
			"APP_HEADER=Cookie: theme=dark; sid=COOKIE-80", `APP_JSON={"pin": 98765081}`,
			"APP_CALLBACK=https://h/cb?next=%2Fx%3Fsecret%3DENCSEC-82%26n%3D1", "APP_NOTE=ｐａｓｓｗｏｒｄ＝FULLW-83 ok",
			"APP_BROKER=amqp user:BAREPW-84@mq.example/vhost", "APP_CURL=-H Authorization:Bearer AUTHNS-85",
			"OTEL_RESOURCE_ATTRIBUTES=app.config=password%3A%20RESPW-86"},
			[]string{"YAMLPW-78", "DICTTOK-79", "COOKIE-80", "98765081", "ENCSEC-82", "FULLW-83", "BAREPW-84", "AUTHNS-85", "RESPW-86"}, true},
	}
}

// TestNoSecretAnywhere runs every placement through `otel-qrun config`, a
// --verbose run with the SDK logging at debug, an export that fails and
// the spans received over the wire: no secret byte shows anywhere.
func TestNoSecretAnywhere(t *testing.T) {
	recv := otlptest.NewHTTP(t)
	refused := otlptest.Refused(t)
	for _, p := range placements(recv, refused) {
		t.Run(p.name, func(t *testing.T) {
			check := func(where, out string) {
				t.Helper()
				for _, s := range p.secrets {
					if strings.Contains(out, strings.TrimPrefix(s, "part:")) {
						t.Errorf("%s shows %q:\n%s", where, s, out)
					}
				}
			}

			// The command line quotes the secrets (not the user names), so
			// that the command config prints holds them too.
			var quoted []string
			for _, s := range p.secrets {
				if !strings.HasPrefix(s, "part:") {
					quoted = append(quoted, s)
				}
			}
			env := append(helperEnv("exit", "OTEL_SERVICE_NAME=secrets-"+p.name), p.env...)
			r := runQrun(t, env, "config", "--workers", "2", "--", "sh", "-c", "true "+strings.Join(quoted, " "))
			if r.code != 0 {
				t.Fatalf("config: exit %d: %s", r.code, r.stderr)
			}
			check("config", r.stdout+r.stderr)
			if !strings.Contains(r.stdout, "[REDACTED]") {
				t.Errorf("config redacts nothing:\n%s", r.stdout)
			}
			shown := runQrun(t, env, "config", "--show-secrets", "--", "sh", "-c", "true "+strings.Join(quoted, " "))
			if shown.code != 0 || !strings.Contains(shown.stderr, "--show-secrets") || !strings.Contains(shown.stdout, quoted[0]) {
				t.Errorf("config --show-secrets: exit %d, stderr %q, stdout:\n%s", shown.code, shown.stderr, shown.stdout)
			}

			before := len(recv.Spans())
			env = append(workerEnvWithout(helperEnv("exit", "OTEL_SERVICE_NAME=secrets-run"), "OTEL_"),
				append(recv.Env(), "OTEL_LOG_LEVEL=debug", "Q_CLUSTER_SHUTDOWN_TIMEOUT=60")...)
			env = append(env, p.env...)
			r = runQrun(t, env, append([]string{"--verbose", "--name", "secrets", "--", os.Args[0]}, quoted...)...)
			if r.code != 0 {
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			}
			check("--verbose stderr", r.stderr)
			if !strings.Contains(r.stderr, "level=DEBUG") {
				t.Errorf("--verbose logged nothing at debug:\n%s", r.stderr)
			}
			if p.name == "metrics endpoint with user info, export fails" && !strings.Contains(r.stderr, "metric export failed") {
				t.Errorf("no export failure reported:\n%s", r.stderr)
			}
			if p.spans {
				// The run has ended: the launcher flushed its spans before
				// exiting (a generous shutdown_timeout for a loaded machine).
				spans := recv.Spans()[before:]
				if len(spans) == 0 {
					t.Fatalf("no span received; stderr:\n%s", r.stderr)
				}
				check("exported spans", otlptest.DumpSpans(spans)+fmt.Sprint(spans))
			}
		})
	}
}

// TestConfigMasksTextForms: config prints a command whose arguments hold
// the forms of the third hostile pass with their values masked, and the
// arguments whose names only look secret in clear.
func TestConfigMasksTextForms(t *testing.T) {
	t.Parallel()
	env := []string{"PATH=" + os.Getenv("PATH"), "OTEL_SDK_DISABLED=true"}
	r := runQrun(t, env, "config", "--", "echo", "--password:", "hunter2x", "password: yaml2x", "token:colon2x",
		`{'password': 'dict2x'}`, "Cookie: a=cookie2x; b=c", `{"pin": 12345678}`, "secret%3Denc2x",
		"ｐａｓｓｗｏｒｄ＝full2x", "redis", "u:bare2x@10.0.0.5:6379", "Authorization:Bearer auth2x",
		"--primary-key", "pk1", "sort_key=name", "X-Request-Key-Hint: hint1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `echo --password: '[REDACTED]' 'password: [REDACTED]' token:[REDACTED] '{'\''password'\'': '\''[REDACTED]'\''}' ` +
		`'Cookie: a=[REDACTED]; b=[REDACTED]' '{"pin": [REDACTED]}' secret%3D[REDACTED] ` +
		`'ｐａｓｓｗｏｒｄ＝[REDACTED]' redis [REDACTED]@10.0.0.5:6379 'Authorization:[REDACTED]' ` +
		`--primary-key pk1 sort_key=name 'X-Request-Key-Hint: hint1'`
	for _, secret := range []string{"hunter2x", "yaml2x", "colon2x", "dict2x", "cookie2x", "12345678", "enc2x", "full2x", "bare2x", "auth2x"} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("config output shows %q", secret)
		}
	}
	if !strings.Contains(r.stdout, want) {
		t.Errorf("config output:\n%s\nwant the command as\n%s", r.stdout, want)
	}
}

// workerEnvWithout drops the entries whose names start with prefix.
func workerEnvWithout(env []string, prefix string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// TestSameErrorFromEverySource gives one invalid value through every
// source: the same exit status 2 and the same message but for the source
// it names.
func TestSameErrorFromEverySource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	from := regexp.MustCompile(` \(from [^)]*\)`)
	for _, tc := range []struct{ key, value string }{
		{"workers", "1e18"}, {"workers", "4.5"}, {"workers", "100000"}, {"max_line", "1e12"},
		{"queue_limit", "0"}, {"guard_cycle", "0.0001"}, {"timeout", "1e18"}, {"stop_grace", "-1"},
	} {
		flag := "--" + strings.ReplaceAll(tc.key, "_", "-")
		sources := []struct {
			name string
			env  []string
			args []string
		}{
			{"flag", nil, []string{flag, tc.value}},
			{"env", []string{"Q_CLUSTER_" + strings.ToUpper(tc.key) + "=" + tc.value}, nil},
			{"Q_CLUSTER", []string{fmt.Sprintf(`Q_CLUSTER={"%s":%s}`, tc.key, tc.value)}, nil},
			{"yaml file", nil, []string{"--config", write(tc.key+".yaml", fmt.Sprintf("%s: %s\n", tc.key, tc.value))}},
			{"json file", nil, []string{"--config", write(tc.key+".json", fmt.Sprintf(`{"%s": %s}`, tc.key, tc.value))}},
		}
		want := ""
		for _, src := range sources {
			for _, sub := range [][]string{nil, {"config"}} {
				args := append(append(append([]string(nil), sub...), src.args...), "--", "true")
				r := runQrun(t, append([]string{"PATH=" + os.Getenv("PATH")}, src.env...), args...)
				msg := from.ReplaceAllString(strings.TrimSpace(r.stderr), "")
				if r.code != 2 || r.stdout != "" {
					t.Errorf("%s=%s from %s (%q): exit %d, stdout %q; want 2 and nothing", tc.key, tc.value, src.name, sub, r.code, r.stdout)
				}
				if want == "" {
					want = msg
					if !strings.Contains(want, fmt.Sprintf("invalid value %q for %s: must be ", tc.value, tc.key)) {
						t.Errorf("%s=%s: message %q", tc.key, tc.value, want)
					}
				} else if msg != want {
					t.Errorf("%s=%s from %s (%q): message\n  %s\nwant\n  %s", tc.key, tc.value, src.name, sub, msg, want)
				}
			}
		}
	}
}

// TestConfigFileNotRegular checks that --config naming a FIFO, a directory
// or a device fails at once with exit 2, for the run and for config.
func TestConfigFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "q.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", dev); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "d.toml")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "not a regular file: it is a named pipe (FIFO)"},
		{dev, "not a regular file: it is a character device"},
		{sub, "not a regular file: it is a directory"},
	} {
		for _, args := range [][]string{{"--config", tc.path, "true"}, {"config", "--config", tc.path}} {
			r := runQrun(t, []string{"PATH=" + os.Getenv("PATH")}, args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%q: exit %d, stderr %q; want 2 and %q", args, r.code, r.stderr, tc.want)
			}
		}
	}
}

// TestErrorMessagesRedacted checks the last exit: an error message that
// quotes a secret (a bad flag value, a bad key value, a bad OTEL_* value)
// is printed masked.
func TestErrorMessagesRedacted(t *testing.T) {
	base := []string{"PATH=" + os.Getenv("PATH"), "REDIS_PASSWORD=ERRPW-80"}
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"--workers", "ERRPW-80", "true"}},
		{nil, []string{"--restart", "redis://u:ERRPW-81@h", "true"}},
		{nil, []string{"--per-task=ERRPW-80", "true"}},
		{[]string{`Q_CLUSTER={"stop_signal":"ERRPW-80"}`}, []string{"true"}},
		{[]string{"OTEL_TRACES_EXPORTER=http://u:ERRPW-82@h"}, []string{"true"}},
		{[]string{"OTEL_PROPAGATORS=ERRPW-80"}, []string{"enqueue", "x"}},
	} {
		r := runQrun(t, append(append([]string(nil), base...), tc.env...), tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, "[REDACTED]") {
			t.Errorf("%q %q: exit %d, stderr %q; want 2 and a masked value", tc.env, tc.args, r.code, r.stderr)
		}
		for _, s := range []string{"ERRPW-80", "ERRPW-81", "ERRPW-82"} {
			if strings.Contains(r.stderr+r.stdout, s) {
				t.Errorf("%q %q shows %q: %s", tc.env, tc.args, s, r.stderr)
			}
		}
	}
}

// TestConsoleExporterRedacted checks the console exporters, which write
// the launcher's spans and metrics to stderr.
func TestConsoleExporterRedacted(t *testing.T) {
	env := append(workerEnvWithout(helperEnv("exit"), "OTEL_"),
		"OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console",
		"MY_APP_TOKEN=CONSOLETOK-90", "OTEL_RESOURCE_ATTRIBUTES=note=CONSOLETOK-90,deploy.token=CONSOLETOK-91",
		"OTEL_SERVICE_NAME=svc-CONSOLETOK-90")
	r := runQrun(t, env, "--name", "q-CONSOLETOK-90", "--", os.Args[0])
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "qrun.worker.index") || !strings.Contains(r.stderr, "[REDACTED]") {
		t.Errorf("no span, or nothing masked, on stderr:\n%s", r.stderr)
	}
	for _, s := range []string{"CONSOLETOK-90", "CONSOLETOK-91"} {
		if strings.Contains(r.stderr, s) {
			t.Errorf("console output shows %q:\n%s", s, r.stderr)
		}
	}
}
