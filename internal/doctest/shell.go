package doctest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// shellToken is a word (quotes removed) or an operator of a shell snippet.
type shellToken struct {
	text string
	op   bool
}

// shellTokens splits a shell snippet into words and operators, well enough
// to find the arguments of the commands in documentation: quotes and
// backslashes are removed, "#" starts a comment, newlines are ";". The text
// of every $(...) and <(...) is returned in nested, to be checked as a
// snippet of its own.
func shellTokens(s string) (toks []shellToken, nested []string, err error) {
	var word strings.Builder
	inWord := false
	emit := func() {
		if inWord {
			toks = append(toks, shellToken{text: word.String()})
		}
		word.Reset()
		inWord = false
	}
	// subst reads a $( or <( substitution starting at s[i] == '(' and
	// returns the index of its closing parenthesis.
	subst := func(i int) (int, error) {
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '\'':
				k := strings.IndexByte(s[j+1:], '\'')
				if k < 0 {
					return 0, errors.New("unterminated ' in $(...)")
				}
				j += k + 1
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					nested = append(nested, s[i+1:j])
					return j, nil
				}
			}
		}
		return 0, errors.New("unterminated $(...)")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
				continue
			}
			if i+1 < len(s) {
				word.WriteByte(s[i+1])
				i++
			}
			inWord = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, nil, errors.New("unterminated '")
			}
			word.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(s) {
					return nil, nil, errors.New(`unterminated "`)
				}
				if s[i] == '"' {
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					if s[i+1] != '\n' {
						word.WriteByte(s[i+1])
					}
					i++
					continue
				}
				if s[i] == '$' && i+1 < len(s) && s[i+1] == '(' {
					j, err := subst(i + 1)
					if err != nil {
						return nil, nil, err
					}
					word.WriteString(s[i : j+1])
					i = j
					continue
				}
				word.WriteByte(s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			j, err := subst(i + 1)
			if err != nil {
				return nil, nil, err
			}
			word.WriteString(s[i : j+1])
			i = j
			inWord = true
		case c == '#' && !inWord:
			for i < len(s) && s[i] != '\n' {
				i++
			}
			i--
		case c == ' ' || c == '\t':
			emit()
		case c == '\n':
			emit()
			toks = append(toks, shellToken{text: ";", op: true})
		case strings.IndexByte("|&;()<>", c) >= 0:
			if c == '<' && i+1 < len(s) && s[i+1] == '(' {
				emit()
				j, err := subst(i + 1)
				if err != nil {
					return nil, nil, err
				}
				toks = append(toks, shellToken{text: "<(...)"})
				i = j
				continue
			}
			// A word of digits right before a redirection is its fd.
			if (c == '<' || c == '>') && inWord && isDigits(word.String()) {
				word.Reset()
				inWord = false
			}
			emit()
			op := string(c)
			for i+1 < len(s) && strings.IndexByte("|&;<>", s[i+1]) >= 0 && len(op) < 2 && (s[i+1] == c || c == '>' && s[i+1] == '&' || c == '<' && s[i+1] == '&') {
				i++
				op += string(s[i])
			}
			toks = append(toks, shellToken{text: op, op: true})
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	emit()
	return toks, nested, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

var assignmentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// commandPrefixes are words that may come before the command name.
var commandPrefixes = map[string]bool{
	"{": true, "!": true, "then": true, "do": true, "else": true, "if": true,
	"while": true, "until": true, "time": true, "exec": true, "env": true,
	"sudo": true, "nohup": true, "command": true,
}

// Invocations returns the argument lists of every otel-qrun command
// in a shell snippet ("go run ." counts as otel-qrun), including those in
// command substitutions.
func Invocations(snippet string) ([][]string, error) {
	toks, nested, err := shellTokens(snippet)
	if err != nil {
		return nil, err
	}
	var out [][]string
	var cmd []string
	redirect := false
	flush := func() {
		words := cmd
		cmd = nil
		for len(words) > 0 && (assignmentRE.MatchString(words[0]) || commandPrefixes[words[0]]) {
			words = words[1:]
		}
		switch {
		case len(words) == 0:
		case words[0] == "otel-qrun" || strings.HasSuffix(words[0], "/otel-qrun"):
			out = append(out, words[1:])
		case len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == ".":
			out = append(out, words[3:])
		}
		// The script of a shell in the command line (a worker's sh -c '...').
		for i := 0; i+2 < len(words); i++ {
			if (words[i] == "sh" || words[i] == "bash") && words[i+1] == "-c" {
				nested = append(nested, words[i+2])
			}
		}
	}
	for _, t := range toks {
		switch {
		case t.op && (strings.HasPrefix(t.text, "<") || strings.HasPrefix(t.text, ">")):
			redirect = true
		case t.op:
			flush()
		case redirect:
			redirect = false // the redirection's target is no argument
		default:
			cmd = append(cmd, t.text)
		}
	}
	flush()
	for _, n := range nested {
		inner, err := Invocations(n)
		if err != nil {
			return nil, err
		}
		out = append(out, inner...)
	}
	return out, nil
}

// CheckCommandLines calls check with the arguments of every otel-qrun
// command line of a shell snippet (see Invocations) and joins its errors,
// each prefixed with the command line. check parses the arguments against
// the command tree without running anything (cmd's checkInvocation). An
// unreadable snippet (an unterminated quote) is an error too.
func CheckCommandLines(snippet string, check func(args []string) error) error {
	invs, err := Invocations(snippet)
	if err != nil {
		return fmt.Errorf("cannot read the shell snippet: %w", err)
	}
	var errs []error
	for _, args := range invs {
		if err := check(args); err != nil {
			errs = append(errs, fmt.Errorf("otel-qrun %s: %w", strings.Join(args, " "), err))
		}
	}
	return errors.Join(errs...)
}
