package redact

import (
	"strings"
	"testing"
)

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"REDIS_PASSWORD": true, "redis_password": true, "Api-Key": true, "github_token": true,
		"client_secret": true, "PASSWD": true, "aws_credentials": true, "Authorization": true,
		"authority": true, "x_auth": false, "messaging.message.id": false, "HOME": false,
		"": false, "KE": false, "monkey": true, "tok en": false,
		// Not ASCII: the Unicode upper-case rule (ſ is S, K is K).
		"paſſword": true, "api_Key": true, "naïve_token": true, "naïve": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzSecretName: the ASCII fast path of SecretName decides as the rule
// does on the upper-case name.
func FuzzSecretName(f *testing.F) {
	for _, s := range []string{"REDIS_PASSWORD", "x-api-key", "authority", "tok", "messaging.client.id", "paſſword"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := SecretName(name), secretNameUpper(strings.ToUpper(name)); got != want {
			t.Fatalf("SecretName(%q) = %v, the upper-case rule says %v", name, got, want)
		}
	})
}

func BenchmarkSecretName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SecretName("messaging.destination.name")
	}
}
