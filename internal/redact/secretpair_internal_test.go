package redact

import (
	"regexp"
	"testing"
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
		"to\u212Aen=x":                       true, // the Kelvin sign folds into k
		"naïve=1":                            true, // not ASCII: left to the expression
		"OTEL_RESOURCE_ATTRIBUTES=a=b,auth=": true,
	} {
		if got := mayHoldSecretPair(s, '='); got != want {
			t.Errorf("mayHoldSecretPair(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzMayHoldSecretPair: the filter never turns away a value that
// secretPair matches.
func FuzzMayHoldSecretPair(f *testing.F) {
	for _, s := range []string{"deploy.token=abc", "a=b", "to\u212Aen=x", "?pwd=1&x=2", "AUTH=", "ke=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if secretPair().MatchString(s) && !mayHoldSecretPair(s, '=') {
			t.Fatalf("secretPair matches %q, but the filter turned it away", s)
		}
		for _, re := range []*regexp.Regexp{secretJSON(), secretHeader()} {
			if re.MatchString(s) && !mayHoldSecretPair(s, ':') {
				t.Fatalf("%s matches %q, but the filter turned it away", re, s)
			}
		}
	})
}
