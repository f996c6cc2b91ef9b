package launcher

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/propagation"

	"github.com/otel-qrun/otel-qrun/propagate"
	"github.com/otel-qrun/otel-qrun/qrun"
)

const (
	envResourceAttrs  = "OTEL_RESOURCE_ATTRIBUTES"
	envMetricsExp     = "OTEL_METRICS_EXPORTER"
	envPrometheusPort = "OTEL_EXPORTER_PROMETHEUS_PORT"

	// AttrInstanceID and AttrWorkerIndex are the resource attributes the
	// launcher adds to each worker's OTEL_RESOURCE_ATTRIBUTES.
	AttrInstanceID  = "service.instance.id"
	AttrWorkerIndex = "qrun.worker.index"

	defaultPrometheusPort = 9464
)

// WorkerIdentity is what makes one worker process distinct.
type WorkerIdentity struct {
	Cluster    string
	Index      int
	Workers    int
	InstanceID string
}

// WorkerEnv returns a copy of environ changed as docs/protocol.md section 4 says for the
// worker with identity id: the trace context of ctx injected with p (stale
// carrier fields removed first; with a nil p the inherited carrier passes
// through untouched), service.instance.id and qrun.worker.index merged into
// OTEL_RESOURCE_ATTRIBUTES, a per-worker Prometheus port when that exporter
// is selected, and the QRUN_* variables. Each variable appears once (the
// last entry of a name in environ is the one kept, as with os/exec); the
// variables the launcher sets come after the inherited ones. environ itself
// is never modified.
func WorkerEnv(ctx context.Context, p propagation.TextMapPropagator, environ []string, id WorkerIdentity) []string {
	return newEnvTemplate(p, environ, false, nil).build(ctx, p, id, nil, nil)
}

// envTemplate is the part of the processes' environment that is the same
// at every start of a run: environ without duplicates and without the
// variables each start sets. A start copies it and appends its own
// variables (build), so that the work of WorkerEnv is done once per run
// and kind of start, not once per process; it matters in per-task mode,
// where every task is a start.
type envTemplate struct {
	strip    bool     // every carrier variable was removed (see newEnvTemplate)
	names    []string // the names of the extra variables of the starts it serves
	base     []string // environ without the variables a start sets
	attrs    []string // the user's OTEL_RESOURCE_ATTRIBUTES entries that are kept
	promBase int      // the Prometheus exporter's base port; 0 when it is not selected
}

// newEnvTemplate prepares the environments of processes started from
// environ with extra variables of the given names (QRUN_TASK_ID, say,
// whose inherited values are removed so that the start's is the only
// one). With p, or with strip (a task's own carrier replaces the inherited
// one), every carrier variable is removed (propagate.StripCarriers and the
// fields of p).
func newEnvTemplate(p propagation.TextMapPropagator, environ []string, strip bool, names []string) *envTemplate {
	env := dedupEnv(environ)
	if p != nil {
		env = propagate.StripEnv(p, propagate.StripCarriers(env))
	} else if strip {
		env = propagate.StripCarriers(env)
	}
	t := &envTemplate{strip: strip, names: slices.Clone(names)}
	t.attrs = keptResourceAttrs(getenv(env, envResourceAttrs))
	if exporterSelected(getenv(env, envMetricsExp), "prometheus") {
		t.promBase = defaultPrometheusPort
		if v, err := strconv.Atoi(getenv(env, envPrometheusPort)); err == nil && v > 0 {
			t.promBase = v
		}
	}
	set := map[string]bool{envResourceAttrs: true, qrun.EnvCluster: true, qrun.EnvWorkerIndex: true, qrun.EnvWorkers: true}
	if t.promBase > 0 {
		set[envPrometheusPort] = true
	}
	for _, n := range names {
		set[n] = true
	}
	t.base = slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return set[k]
	})
	return t
}

// serves reports whether t is the template of starts with carrier
// stripping strip and the extra variables extra.
func (t *envTemplate) serves(strip bool, extra []string) bool {
	if t.strip != strip || len(t.names) != len(extra) {
		return false
	}
	for i, kv := range extra {
		if k, _, _ := strings.Cut(kv, "="); k != t.names[i] {
			return false
		}
	}
	return true
}

// build returns the environment of one process with identity id: the
// template, the carrier of ctx injected with p (when p is not nil), the
// launcher's variables, then carrier (a task's own carrier, passed on
// without a propagator) and extra, whose names are the template's.
func (t *envTemplate) build(ctx context.Context, p propagation.TextMapPropagator, id WorkerIdentity, carrier, extra []string) []string {
	env := make([]string, len(t.base), len(t.base)+10+len(carrier)+len(extra))
	copy(env, t.base)
	if p != nil {
		env = propagate.AppendEnv(ctx, p, env)
	}
	env = append(env, envResourceAttrs+"="+joinResourceAttrs(t.attrs, id))
	if t.promBase > 0 {
		env = append(env, envPrometheusPort+"="+strconv.Itoa(t.promBase+1+id.Index))
	}
	env = append(env,
		qrun.EnvCluster+"="+id.Cluster,
		qrun.EnvWorkerIndex+"="+strconv.Itoa(id.Index),
		qrun.EnvWorkers+"="+strconv.Itoa(id.Workers))
	if len(carrier) > 0 {
		// A task carrier may name any variable: the last entry wins.
		env = dedupEnv(append(env, carrier...))
	}
	return append(env, extra...)
}

// dedupEnv keeps the last entry of each variable, as os/exec does, so that
// the worker sees the value getenv reports here (libc getenv takes the
// first). An entry without '=' names no variable (getenv skips it): it is
// kept, and hides nothing. The result is a new slice.
func dedupEnv(env []string) []string {
	seen := make(map[string]bool, len(env))
	out := make([]string, 0, len(env))
	for i := len(env) - 1; i >= 0; i-- {
		k, _, ok := strings.Cut(env[i], "=")
		if ok && seen[k] {
			continue
		}
		if ok {
			seen[k] = true
		}
		out = append(out, env[i])
	}
	slices.Reverse(out)
	return out
}

// keptResourceAttrs returns the user's OTEL_RESOURCE_ATTRIBUTES entries
// verbatim, except the two keys the launcher owns.
func keptResourceAttrs(user string) []string {
	var kept []string
	for _, item := range strings.Split(user, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, _, _ := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if dk, err := url.PathUnescape(k); err == nil {
			k = dk
		}
		if k == AttrInstanceID || k == AttrWorkerIndex {
			continue
		}
		kept = append(kept, item)
	}
	return kept
}

// joinResourceAttrs is the OTEL_RESOURCE_ATTRIBUTES of the process with
// identity id: the kept entries, then the launcher's two.
func joinResourceAttrs(kept []string, id WorkerIdentity) string {
	var b strings.Builder
	for _, item := range kept {
		b.WriteString(item)
		b.WriteByte(',')
	}
	b.WriteString(AttrInstanceID + "=")
	b.WriteString(url.PathEscape(id.InstanceID))
	b.WriteString("," + AttrWorkerIndex + "=")
	b.WriteString(strconv.Itoa(id.Index))
	return b.String()
}

func exporterSelected(list, name string) bool {
	for _, e := range strings.Split(list, ",") {
		if strings.TrimSpace(e) == name {
			return true
		}
	}
	return false
}

// getenv returns the value of the last entry for key, as exec would see it.
func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}
