package instrument

import (
	"context"
	_ "embed" // the per-task preload
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otel-qrun/otel-qrun/qrun"
)

//go:embed preload.cjs
var nodePreload []byte

// NodePreload returns the source of the preload that per-task Node.js
// processes require after the register: it runs the main module inside the
// context extracted from TRACEPARENT, TRACESTATE and BAGGAGE.
func NodePreload() []byte { return slices.Clone(nodePreload) }

// nodePreloadName is the file name of the preload in its private directory.
// The .cjs extension keeps it CommonJS whatever package.json is near.
const nodePreloadName = "preload.cjs"

// nodeCheckTimeout bounds the run of node that resolves the modules.
const nodeCheckTimeout = 30 * time.Second

// nodeCheckScript resolves the modules of %s (a JSON array) the way
// --require does, from the working directory, and prints a JSON object of
// their paths ("" when not found). The API may also come from beside the
// register, where pnpm puts peer dependencies.
const nodeCheckScript = `'use strict';
const want = %s, api = %q, register = %q, out = {};
for (const m of want) { try { out[m] = require.resolve(m); } catch (e) { out[m] = ''; } }
if (want.includes(api) && !out[api] && out[register]) {
  try { out[api] = require('module').createRequire(out[register]).resolve(api); } catch (e) {}
}
process.stdout.write(JSON.stringify(out));
`

// nodeDefaultDetectors are the resource detectors of workers whose
// environment names none: the register's default, all, also probes the
// metadata services of four clouds, which off-cloud costs every worker a
// timeout and a GCP MetadataLookupWarning. env comes last, as in all, so
// that OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME win.
const nodeDefaultDetectors = "container,host,os,process,env"

// prepareNode checks, by running node once, that the register (and, for
// per-task processes, the API) resolve from the working directory, and
// writes the per-task preload.
func (p *Plan) prepareNode(ctx context.Context, cfg Config) error {
	have := nodePreloads(splitNodeOptions(getenv(cfg.Environ, envNodeOptions)))
	have = append(have, nodeArgvPreloads(cfg.Argv)...)
	registered := slices.ContainsFunc(have, isNodeRegister)

	// The preload needs the API, which may come from beside the register.
	want := []string{NodeRegister, NodeAPI}
	paths := map[string]string{}
	if len(want) > 0 {
		node, err := p.interpreterOf(cfg, Node, "node")
		if err != nil {
			return err
		}
		if paths, err = p.resolveNode(ctx, node, slices.Compact(want), cfg.Environ); err != nil {
			return err
		}
		p.node = node
	}
	if registered {
		p.note("node: already bootstrapped (NODE_OPTIONS or the command requires the register): not added again")
	} else {
		if paths[NodeRegister] == "" {
			return fmt.Errorf("%w: %s cannot resolve %s from %s; install it there: %s",
				ErrUnavailable, p.node, NodeRegister, p.dir, NodeInstall)
		}
		p.requires = append(p.requires, NodeRegister)
		p.note("node: NODE_OPTIONS += --require %s (%s)", NodeRegister, paths[NodeRegister])
	}

	if !cfg.PerTask {
		p.note("node: long-lived workers: the register does not read TRACEPARENT, so their spans start new traces")
	}
	switch {
	case paths[NodeAPI] == "" && cfg.PerTask:
		return fmt.Errorf("%w: %s cannot resolve %s from %s, which per-task processes need to continue the task's trace; install it there: %s",
			ErrUnavailable, p.node, NodeAPI, p.dir, NodeInstall)
	case paths[NodeAPI] == "":
		p.warn("node: %s cannot resolve %s from %s: without otel-qrun's preload a worker under the register does not exit on SIGTERM (it is killed after stop_grace); install it there: %s",
			p.node, NodeAPI, p.dir, NodeInstall)
	default:
		preload := filepath.Join(os.TempDir(), "otel-qrun-node-XXXXXX", nodePreloadName)
		if !cfg.DryRun {
			var err error
			if preload, err = p.writePreload(); err != nil {
				return err
			}
		}
		p.requires = append(p.requires, preload)
		p.nodePreload = true
		what := fmt.Sprintf("which makes a worker with no SIGTERM handler of its own exit on SIGTERM after flushing the SDK (bounded by %s=%s)",
			qrun.EnvShutdownTimeout, secondsText(p.shutdown))
		if cfg.PerTask {
			what += ", and runs each task's main module in the context of TRACEPARENT"
		}
		p.note("node: NODE_OPTIONS += --require %s, %s (written at start, removed at exit)", preload, what)
	}

	switch list := getenv(cfg.Environ, envNodeDetectors); {
	case list == "" && !registered: // a register of the user's keeps its defaults
		p.nodeDetectors = nodeDefaultDetectors
		p.note("node: %s=%s: no cloud metadata probes (set it, to all for instance, to have them)", envNodeDetectors, nodeDefaultDetectors)
	case !slices.ContainsFunc(strings.Split(list, ","), func(n string) bool { n = strings.TrimSpace(n); return n == "env" || n == "all" }):
		p.warn("%s=%s lacks env: the Node SDK then ignores OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, so each worker's identity (service.instance.id, qrun.worker.index), its service.name and every other attribute set there are lost; add env to the list",
			envNodeDetectors, list)
	}
	return nil
}

// resolveNode runs node once in the working directory to resolve modules.
// NODE_OPTIONS is left out, so that no preload of the user runs.
func (p *Plan) resolveNode(ctx context.Context, node string, modules []string, environ []string) (map[string]string, error) {
	list, _ := json.Marshal(modules) // strings always marshal
	return p.runCheck(ctx, nodeCheckTimeout, withoutEnv(environ, envNodeOptions), "the Node.js modules",
		node, "-e", fmt.Sprintf(nodeCheckScript, list, NodeAPI, NodeRegister))
}

// writePreload writes the per-task preload to a new private directory,
// which Close removes.
func (p *Plan) writePreload() (string, error) {
	dir, err := os.MkdirTemp("", "otel-qrun-node-")
	if err != nil {
		return "", fmt.Errorf("node per-task preload: %w", err)
	}
	p.preloadDir = dir
	path := filepath.Join(dir, nodePreloadName)
	if err := os.WriteFile(path, nodePreload, 0o600); err != nil {
		return "", fmt.Errorf("node per-task preload: %w", err)
	}
	return path, nil
}

// applyNode appends a --require for each of the plan's modules that the
// worker's NODE_OPTIONS or command line does not preload yet.
func (p *Plan) applyNode(argv, env []string) []string {
	opts := getenv(env, envNodeOptions)
	have := nodePreloads(splitNodeOptions(opts))
	have = append(have, nodeArgvPreloads(argv)...)
	changed, register := false, false
	for _, r := range p.requires {
		if slices.Contains(have, r) || (r == NodeRegister && slices.ContainsFunc(have, isNodeRegister)) {
			continue
		}
		opts = appendOption(opts, "--require "+nodeQuote(r))
		changed, register = true, register || r == NodeRegister
	}
	if changed {
		env = withEnv(env, envNodeOptions, opts)
	}
	if p.nodePreload { // the preload bounds its flush by it
		env = withEnv(env, qrun.EnvShutdownTimeout, secondsText(p.shutdown))
	}
	// Only a register added here gets the detectors; one of the user's
	// keeps its defaults.
	if register && p.nodeDetectors != "" && getenv(env, envNodeDetectors) == "" {
		env = withEnv(env, envNodeDetectors, p.nodeDetectors)
	}
	return env
}

// isNodeRegister reports whether a preloaded module is the register, by
// its package name or a path into the package.
func isNodeRegister(spec string) bool {
	if spec == NodeRegister {
		return true
	}
	s := filepath.ToSlash(spec)
	base := s[strings.LastIndexByte(s, '/')+1:]
	return strings.Contains(s, "auto-instrumentations-node/") && (base == "register" || base == "register.js")
}

// nodePreloads returns the modules that node options preload with
// --require, -r or --import.
func nodePreloads(opts []string) []string {
	var mods []string
	for i := 0; i < len(opts); i++ {
		switch o := opts[i]; {
		case o == "-r" || o == "--require" || o == "--import":
			if i+1 < len(opts) {
				mods = append(mods, opts[i+1])
				i++
			}
		case strings.HasPrefix(o, "--require="), strings.HasPrefix(o, "--import="):
			_, v, _ := strings.Cut(o, "=")
			mods = append(mods, v)
		}
	}
	return mods
}

// nodeArgvPreloads returns the modules that a node command line preloads
// before its script.
func nodeArgvPreloads(argv []string) []string {
	if len(argv) < 2 {
		return nil
	}
	opts := argv[1:]
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		if o == "--" || !strings.HasPrefix(o, "-") {
			opts = opts[:i]
			break
		}
		if o == "-r" || o == "--require" || o == "--import" {
			i++ // its value
		}
	}
	return nodePreloads(opts)
}

// splitNodeOptions splits NODE_OPTIONS the way node does: on spaces, with
// double-quoted strings in which a backslash escapes the next character.
func splitNodeOptions(s string) []string {
	var out []string
	var cur strings.Builder
	inString, started := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inString && i+1 < len(s):
			i++
			c = s[i]
		case c == ' ' && !inString:
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
			continue
		case c == '"':
			inString = !inString
			started = true
			continue
		}
		cur.WriteByte(c)
		started = true
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}

// nodeQuote quotes s for NODE_OPTIONS when it holds a space, a quote or a
// backslash.
func nodeQuote(s string) string {
	if !strings.ContainsAny(s, " \"\\") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
