package envconfig

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/viper"
)

// unknownKeys returns one warning per key of the config file (its top-level
// keys as v read them, path naming the file) and per Q_CLUSTER_<KEY>
// variable of env that names no key nor alias, as systemd warns of an
// "Unknown key name": a typo would otherwise leave the key at its default
// without a word. The shared Q_CLUSTER JSON is not checked: other programs
// keep their keys there. Names only are printed, never a value.
func unknownKeys(v *viper.Viper, path string, env map[string]string) []string {
	known := make(map[string]bool)
	var names []string
	for _, s := range specs() {
		for _, n := range append([]string{s.Name}, s.Aliases...) {
			known[n] = true
			names = append(names, n)
		}
	}
	var out []string
	if v != nil && path != "" {
		var keys []string
		for _, k := range topKeys(v) {
			if !known[strings.ToLower(k)] {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, fmt.Sprintf("%s: unknown key %q", path, k)+suggest(strings.ToLower(k), names, func(n string) string { return n }))
		}
	}
	var vars []string
	for name := range env {
		if rest, ok := strings.CutPrefix(name, qclusterVar+"_"); ok && !known[strings.ToLower(rest)] {
			vars = append(vars, name)
		}
	}
	slices.Sort(vars)
	for _, name := range vars {
		key := strings.ToLower(strings.TrimPrefix(name, qclusterVar+"_"))
		out = append(out, fmt.Sprintf("environment: unknown variable %q", name)+suggest(key, names, envName))
	}
	return out
}

// suggest is ` (did you mean "x"?)` naming show(n) for the name n closest
// to key, when one is within an edit distance of 2 (the lowest distance,
// then the first in the design's order, wins); else "".
func suggest(key string, names []string, show func(string) string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(key, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", show(best))
}

// editDistance is the Levenshtein distance between a and b, in runes
// (bytes of invalid UTF-8 count one each). Keys are short: a and b longer
// than 64 runes are not compared (a large distance is returned).
func editDistance(a, b string) int {
	if utf8.RuneCountInString(a) > 64 || utf8.RuneCountInString(b) > 64 {
		return 1 << 20
	}
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// topKeys is the top-level keys of the config file read into v, null
// values included (AllSettings leaves them out).
func topKeys(v *viper.Viper) []string {
	seen := make(map[string]bool)
	var out []string
	for _, k := range v.AllKeys() {
		top, _, _ := strings.Cut(k, ".")
		if !seen[top] {
			seen[top] = true
			out = append(out, top)
		}
	}
	return out
}
