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
// is selected, and the QRUN_* variables. environ itself is never modified.
func WorkerEnv(ctx context.Context, p propagation.TextMapPropagator, environ []string, id WorkerIdentity) []string {
	env := make([]string, len(environ))
	copy(env, environ)
	if p != nil {
		env = propagate.InjectEnv(ctx, p, env)
	}
	env = setenv(env, envResourceAttrs, mergeResourceAttrs(getenv(env, envResourceAttrs), id))
	if exporterSelected(getenv(env, envMetricsExp), "prometheus") {
		base := defaultPrometheusPort
		if v, err := strconv.Atoi(getenv(env, envPrometheusPort)); err == nil && v > 0 {
			base = v
		}
		env = setenv(env, envPrometheusPort, strconv.Itoa(base+1+id.Index))
	}
	env = setenv(env, qrun.EnvCluster, id.Cluster)
	env = setenv(env, qrun.EnvWorkerIndex, strconv.Itoa(id.Index))
	env = setenv(env, qrun.EnvWorkers, strconv.Itoa(id.Workers))
	return dedupEnv(env)
}

// dedupEnv keeps the last entry of each variable, as os/exec does, so that
// the worker sees the value getenv reports here (libc getenv takes the first).
func dedupEnv(env []string) []string {
	seen := make(map[string]bool, len(env))
	out := make([]string, 0, len(env))
	for i := len(env) - 1; i >= 0; i-- {
		k, _, _ := strings.Cut(env[i], "=")
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, env[i])
	}
	slices.Reverse(out)
	return out
}

// mergeResourceAttrs keeps the user's OTEL_RESOURCE_ATTRIBUTES entries
// verbatim, except the two keys the launcher owns, and appends those.
func mergeResourceAttrs(user string, id WorkerIdentity) string {
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
	kept = append(kept,
		AttrInstanceID+"="+url.PathEscape(id.InstanceID),
		AttrWorkerIndex+"="+strconv.Itoa(id.Index))
	return strings.Join(kept, ",")
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

// setenv sets key in env, replacing the first entry and dropping duplicates.
func setenv(env []string, key, value string) []string {
	entry := key + "=" + value
	out := env[:0]
	set := false
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			if set {
				continue
			}
			kv, set = entry, true
		}
		out = append(out, kv)
	}
	if !set {
		out = append(out, entry)
	}
	return out
}
