package envconfig

import (
	"strconv"

	"github.com/spf13/pflag"
)

// Names of the flags that are not keys.
const (
	flagConfig  = "config"
	flagVerbose = "verbose"
)

// AddFlags registers on fs one flag per key (--name, --workers, --restart,
// --max-restarts, ...), the hidden alias --cluster-name, and the flags
// --config FILE and --verbose, which are not keys. Load reads them after
// fs has been parsed.
//
// Key flags other than --per-task keep their argument as text, and Load
// decodes it like a value from any other layer, so a bad argument is
// reported by Load. --per-task is a boolean (--per-task alone means true)
// that accepts the spellings of the other layers and rejects others at
// parse time, with an error wrapping ErrInvalid. --subreaper alone means
// true; like a boolean it takes an argument only as --subreaper=false,
// never as a separate word.
func AddFlags(fs *pflag.FlagSet) {
	for _, s := range specs() {
		if s.typ == "bool" {
			fs.VarPF(new(boolValue), s.Flag[2:], "", s.Usage).NoOptDefVal = "true"
			continue
		}
		fs.Var(&textValue{text: s.Default, typ: s.typ}, s.Flag[2:], s.Usage)
		for _, alias := range s.Aliases {
			name := flagName(alias)[2:]
			fs.Var(&textValue{typ: s.typ}, name, "the same as "+s.Flag)
			_ = fs.MarkHidden(name) // cannot fail: the flag was just added
		}
	}
	fs.Lookup("subreaper").NoOptDefVal = "true"
	fs.String(flagConfig, "", "read settings from `FILE` (YAML, JSON or TOML, by extension)")
	fs.Bool(flagVerbose, false, "log more detail to stderr")
}

// textValue is a flag value kept as the text given; typ names its kind in
// help. Its type must not be one that viper converts itself (int, bool,
// slices), so that viper hands the text over unchanged.
type textValue struct{ text, typ string }

func (v *textValue) String() string     { return v.text }
func (v *textValue) Set(s string) error { v.text = s; return nil }
func (v *textValue) Type() string       { return v.typ }

// boolValue is a boolean flag that accepts the same spellings as the other
// layers (true, 1, yes, on and their opposites).
type boolValue bool

func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Type() string     { return "bool" }
func (v *boolValue) IsBoolFlag() bool { return true }

func (v *boolValue) Set(s string) error {
	sw, ok := toSwitch(s)
	if !ok || sw == SwitchAuto {
		return invalidf("must be true or false (or 1, 0, yes, no, on, off)")
	}
	*v = boolValue(sw == SwitchOn)
	return nil
}
