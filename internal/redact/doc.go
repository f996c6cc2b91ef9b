// Package redact hides credentials in everything otel-qrun prints: the
// output of `otel-qrun config`, log lines (its own and the OpenTelemetry Go
// SDK's), error messages, and the attributes of the spans and resources it
// exports.
//
// One rule decides what is secret, whatever the output:
//
//   - the values of every OTEL_EXPORTER_OTLP_*HEADERS variable (each
//     header's value; an entry that is not name=value is hidden whole);
//   - user information in any URL, in any variable or text
//     (scheme://USER:PASSWORD@host, scheme://TOKEN@host, and
//     USER:PASSWORD@host without a scheme: a whole variable's value, or
//     in text before a host-like tail): every *_ENDPOINT, Redis URLs such
//     as redis://user:pass@host and rediss://:pass@host, proxies;
//   - in any variable or text ([Text]), the values that follow a name
//     that looks secret in name=value pairs, query parameters, name:
//     value (YAML lines, token:abc), JSON members and Python dict entries
//     (any value), HTTP header lines (Authorization:Bearer ...), and every
//     cookie's value in Cookie and Set-Cookie headers; also %-encoded
//     (secret%3D...) and in fullwidth forms;
//   - the values of variables whose names look secret ([SecretName]):
//     names containing TOKEN, SECRET, PASSW or CREDENTIAL, starting with
//     AUTH, or with KEY as a part (API_KEY, KEY; not PRIMARY_KEY, KEY_ID,
//     MONKEY), in any case (REDIS_PASSWORD, AWS_SECRET_ACCESS_KEY,
//     AUTHORIZATION). The rule of names, its words and where each comes
//     from are written in the documentation of SecretName.
//
// Values are hidden also when malformed (a header with a bad %-escape, a URL
// that does not parse), because what decides is where a value is, not
// whether it parses.
//
// [Value] applies the rule to one variable. A [Redactor] built with [New]
// from the environment also knows every secret value found there, so that
// free text (a log line, an error message, an attribute) is cleaned of
// those values wherever they appear, also in their quoted, JSON-escaped and
// %-decoded forms. [NewHandler] and [NewWriter] apply a Redactor to slog
// records and to written text.
package redact
