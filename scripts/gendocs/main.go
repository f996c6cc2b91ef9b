package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/otel-qrun/otel-qrun/cmd"
	"github.com/otel-qrun/otel-qrun/scripts/gendocs/docgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gendocs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the man pages into `DIR` (required)")
	compress := fs.Bool("gzip", false, "write the man pages gzipped (NAME.1.gz)")
	completions := fs.String("completions", "", "also write bash, zsh and fish completions into `DIR`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("usage: gendocs -out DIR [-gzip] [-completions DIR]")
	}
	date, err := docgen.Date(os.Getenv)
	if err != nil {
		return err
	}
	names, err := docgen.WriteMan(cmd.Command(), date, *out, *compress)
	if err != nil {
		return err
	}
	for _, n := range names {
		fmt.Fprintf(stdout, "%s/%s\n", *out, n)
	}
	if *completions != "" {
		names, err := docgen.WriteCompletions(cmd.Command(), *completions)
		if err != nil {
			return err
		}
		for _, n := range names {
			fmt.Fprintf(stdout, "%s/%s\n", *completions, n)
		}
	}
	return nil
}
