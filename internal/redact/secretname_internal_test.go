package redact

import "testing"

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"REDIS_PASSWORD": true, "redis_password": true, "Api-Key": true, "github_token": true,
		"client_secret": true, "PASSWD": true, "aws_credentials": true, "Authorization": true,
		"authority": true, "x_auth": false, "messaging.message.id": false, "HOME": false,
		"": false, "KE": false, "tok en": false, "KEY": true, "API_KEY": true, "apiKey": true,
		"OPENAI_APIKEY": true, "AWS_ACCESS_KEY_ID": true, "SSH_KEYS": true, "OTEL_EXPORTER_OTLP_CLIENT_KEY": true,
		// Keys that are no secrets (hostile tester): data-structure keys,
		// identifiers and files of keys, English words.
		"monkey": false, "TURKEY": false, "KEYBOARD_LAYOUT": false, "PRIMARY_KEY": false, "sort_key": false,
		"partition_key": false, "cache_key": false, "public_key": false, "KEY_ID": false, "X-Request-Key-Hint": false,
		"messaging.kafka.message.key": false, "API_KEY_FILE": false, "primaryKey": false, "SORTKEY": false,
		// Not ASCII: the Unicode upper-case rule (ſ is S, K is K).
		"paſſword": true, "api_Key": true, "naïve_token": true, "naïve": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzSecretName: the ASCII fast path of SecretName decides as the whole
// rule does.
func FuzzSecretName(f *testing.F) {
	for _, s := range []string{"REDIS_PASSWORD", "x-api-key", "authority", "tok", "messaging.client.id", "paſſword",
		"PRIMARY_KEY", "key_id", "MONKEY", "AWSAccessKeyId", "apiKeyHint", "KEY"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := SecretName(name), secretNameRule(name, true); got != want {
			t.Fatalf("SecretName(%q) = %v, the whole rule says %v", name, got, want)
		}
	})
}

func BenchmarkSecretName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SecretName("messaging.destination.name")
	}
}
