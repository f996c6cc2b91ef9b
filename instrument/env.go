package instrument

import (
	"slices"
	"strings"
)

// getenv returns the value of the last entry for key, as exec would see it.
func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// withEnv returns a copy of env with key set to value: the last entry for
// key replaced (others for key dropped), or a new entry at the end.
func withEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// withoutEnv returns a copy of env without key.
func withoutEnv(env []string, key string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == key
	})
}

// appendOption appends opt to a space-separated list of options.
func appendOption(list, opt string) string {
	list = strings.TrimRight(list, " \t")
	if list == "" {
		return opt
	}
	return list + " " + opt
}
