package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"

	"github.com/otel-qrun/otel-qrun/envconfig"
	"github.com/otel-qrun/otel-qrun/instrument"
	"github.com/otel-qrun/otel-qrun/internal/redact"
	"github.com/otel-qrun/otel-qrun/internal/telemetry"
	"github.com/otel-qrun/otel-qrun/launcher"
	"github.com/otel-qrun/otel-qrun/propagate"
	"github.com/otel-qrun/otel-qrun/qrun"
)

type configOptions struct {
	f           *factory
	showSecrets bool
}

func newConfigCmd(f *factory) *cobra.Command {
	o := &configOptions{f: f}
	c := &cobra.Command{
		Use:   "config [flags] [--] [COMMAND...]",
		Short: "Print the resolved configuration and each worker's environment, secrets redacted",
		Long: `Print every configuration key with its value and where the value came from
(flag, env, Q_CLUSTER, file or default), the command workers would run, the
zero-code bootstrap of --instrument (what was found and the command workers
execute), and for each worker the changes otel-qrun makes to its
environment.

Secrets are shown as [REDACTED]: the header values of every
OTEL_EXPORTER_OTLP_[SIGNAL_]HEADERS variable, user information in any URL
(every endpoint variable, Redis URLs, proxies), secret-looking query parameters, and the
values of variables whose names contain TOKEN, SECRET, PASSWORD, PASSWD,
KEY or CREDENTIAL or start with AUTH, wherever they appear. --show-secrets
prints them in clear, for debugging on a private terminal only.

It exits as the run would where it can tell before starting anything: 2
for a configuration error, 127 when the command is not found, 126 when it
cannot be executed (after printing everything), else 0.`,
		Example: `  Q_CLUSTER='{"workers":2}' otel-qrun config -- python manage.py qcluster`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return o.run(c, args)
		},
	}
	c.Flags().SetInterspersed(false)
	envconfig.AddFlags(c.Flags())
	c.Flags().BoolVar(&o.showSecrets, "show-secrets", false,
		"print secrets in clear instead of [REDACTED] (never in CI logs or shared terminals)")
	return silence(c)
}

func (o *configOptions) run(c *cobra.Command, args []string) error {
	environ := o.f.Environ()
	cfg, err := loadConfig(c, environ, o.f.IO.ErrOut)
	if err != nil {
		return err
	}
	// The whole output is built first and masked at once, so that a secret
	// is hidden wherever it shows up (a value, a path, an argument).
	var buf bytes.Buffer
	show := func(name, value string) string { return redact.Value(name, value) }
	if o.showSecrets {
		show = func(_, value string) string { return value }
		fmt.Fprintln(o.f.IO.ErrOut, "otel-qrun: warning: --show-secrets: secrets are printed in clear")
	}
	lookErr, err := o.write(c, &buf, cfg, args, environ, show)
	if err != nil {
		return err
	}
	text := buf.Bytes()
	if !o.showSecrets {
		// A secret found in an argument is hidden where it shows up
		// again too (another argument, a worker's environment).
		red := redact.New(environ)
		red.Add(redact.ArgSecrets(args)...)
		text = red.Bytes(text)
	}
	if _, err := o.f.IO.Out.Write(text); err != nil {
		return err
	}
	if lookErr != nil {
		// What the run would end with (126, 127), as a check before a
		// deploy: the output above says why.
		return &exitError{code: exitCode(lookErr)}
	}
	return nil
}

// write prints the configuration on out; show gives the value of an
// environment variable as it may be shown. lookErr is why the command
// cannot be run (not found, not executable), which the output shows too.
func (o *configOptions) write(c *cobra.Command, out io.Writer, cfg *envconfig.Config, args, environ []string,
	show func(name, value string) string,
) (lookErr, err error) {
	errOut := o.f.IO.ErrOut
	if lookupEnv(environ, "OTEL_SERVICE_NAME") == "" {
		fmt.Fprintln(errOut, "otel-qrun: warning: OTEL_SERVICE_NAME is not set; workers report as unknown_service")
	}
	var prop propagation.TextMapPropagator
	if !telemetry.SDKDisabled(environ) {
		prop = autoprop.NewTextMapPropagator()
	}

	fmt.Fprintln(out, "# configuration (precedence: flag, env, Q_CLUSTER, file, default)")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, k := range envconfig.Keys() {
		// Masked before the table is aligned (a Redis URL in tasks).
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, show(k.Name, cfg.Value(k.Name)), cfg.Sources[k.Name])
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}

	fmt.Fprintln(out, "\n# OpenTelemetry environment (passed to every worker's own SDK)")
	var otelVars []string
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			otelVars = append(otelVars, k+"="+show(k, v))
		}
	}
	sort.Strings(otelVars)
	if len(otelVars) == 0 {
		fmt.Fprintln(out, "(none: the SDK defaults apply, OTLP over http/protobuf to localhost:4318)")
	}
	for _, v := range otelVars {
		fmt.Fprintln(out, v)
	}

	fmt.Fprintln(out, "\n# command")
	path := ""
	showArgs := redact.Args // --password VALUE
	if o.showSecrets {
		showArgs = func(argv []string) []string { return argv }
	}
	// Each argument a shell word: one with spaces or quotes shows as one,
	// and a masked value ends at its quote (a header line's value would
	// run on over the next arguments).
	shown := quoteArgs(showArgs(args))
	if len(args) == 0 {
		fmt.Fprintln(out, "(none given)")
	} else {
		p, err := launcher.LookPath(args[0], lookupEnv(environ, "PATH"))
		if err != nil {
			lookErr = err
			fmt.Fprintf(out, "%s\n  error: %v\n", shown, err)
		} else {
			path = p
			fmt.Fprintf(out, "%s (%s)\n", shown, path)
		}
	}
	writeSupervision(out)
	plan := writeBootstrap(c.Context(), out, cfg, args, environ, path, showArgs)
	defer plan.Close()
	for i := 0; i < cfg.Workers; i++ {
		fmt.Fprintf(out, "\n# worker %d environment (changes from the launcher's own)\n", i)
		env := launcher.WorkerEnv(context.Background(), prop, environ, launcher.WorkerIdentity{
			Cluster: cfg.Name, Index: i, Workers: cfg.Workers, InstanceID: "UNIQUE-PER-PROCESS",
		})
		_, _, env = plan.Apply(path, args, env)
		// Each carrier variable once: set at each start, never a value here.
		writeEnvDiff(out, withoutVars(environ, carrierVars(prop)), env, show)
		if prop != nil {
			writeCarrierVars(out, carrierVars(prop))
		} else {
			fmt.Fprintln(out, "  (OTEL_SDK_DISABLED=true: inherited TRACEPARENT, TRACESTATE and BAGGAGE pass through unchanged)")
		}
	}
	return lookErr, nil
}

// writeBootstrap prints the zero-code bootstrap of the instrument key: what
// was found, the command workers execute and any problem. It returns the
// plan to apply to each worker's environment: one that changes nothing when
// there is no bootstrap or it cannot be applied.
func writeBootstrap(ctx context.Context, out io.Writer, cfg *envconfig.Config, args, environ []string, path string,
	showArgs func([]string) []string,
) *instrument.Plan {
	none, _ := instrument.Prepare(ctx, instrument.Config{Mode: instrument.None}) // cannot fail
	if cfg.Instrument == qrun.InstrumentNone || path == "" {
		return none
	}
	fmt.Fprintf(out, "\n# bootstrap (instrument=%s)\n", cfg.Instrument)
	plan, err := prepareBootstrap(ctx, cfg, args, environ, true)
	if err != nil {
		fmt.Fprintf(out, "error: %v\n", err)
		return none
	}
	for _, n := range plan.Notes() {
		fmt.Fprintln(out, n)
	}
	for _, w := range plan.Warnings() {
		fmt.Fprintln(out, "warning: "+w)
	}
	if p, argv, _ := plan.Apply(path, args, environ); p != path || !slices.Equal(argv, args) {
		fmt.Fprintf(out, "exec: %s\n", quoteArgs(showArgs(argv)))
	}
	return plan
}

// quoteArgs joins argv as words of a POSIX shell (propagate.ShellQuote).
func quoteArgs(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = propagate.ShellQuote(a)
	}
	return strings.Join(words, " ")
}

// writeEnvDiff prints the variables that differ between before and after:
// "+" added or changed, "-" removed, values as show gives them.
func writeEnvDiff(w io.Writer, before, after []string, show func(name, value string) string) {
	b, a := envMap(before), envMap(after)
	var lines []string
	for k, v := range a {
		if old, ok := b[k]; !ok || old != v {
			lines = append(lines, "+ "+k+"="+show(k, v))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			lines = append(lines, "- "+k)
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
