package launcher

import (
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

// The defaults of envconfig (what a user who sets nothing gets) and of the
// launcher's options (what a library user who passes no option gets) come
// from package qrun; this test holds them together, key by key, so that a
// default changed on one side only, or a new key, fails here.
func TestDefaultsAgreeWithEnvconfig(t *testing.T) {
	// Keys without a launcher option, and why.
	noCounterpart := map[string]string{
		"max_workers":      "a bound of the configuration, not of the launcher",
		"results":          "the launcher takes a writer (WithTasks)",
		"claim_interval":   "a setting of the Redis stream source (internal/redisq)",
		"shutdown_timeout": "the launcher's own telemetry (internal/telemetry), not the launcher",
		"subreaper":        "auto is decided by the command (PID 1); WithSubreaper takes the result",
		"instrument":       "a bootstrap given with WithBootstrap (package instrument)",
		"javaagent":        "a bootstrap given with WithBootstrap (package instrument)",
	}
	// queue_limit's default depends on workers; 2000² is over its bound.
	for _, workers := range []int{1, 3, 2000} {
		t.Run(strconv.Itoa(workers), func(t *testing.T) {
			cfg, err := envconfig.Load(nil, []string{
				"Q_CLUSTER_WORKERS=" + strconv.Itoa(workers), "Q_CLUSTER_MAX_WORKERS=4096",
			})
			if err != nil {
				t.Fatal(err)
			}
			lc := defaults()
			lc.workers = workers
			if err := lc.validate(); err != nil {
				t.Fatal(err)
			}
			task := defaults()
			task.workers = workers
			task.taskIn, task.taskResults = strings.NewReader(""), io.Discard
			if err := task.validate(); err != nil {
				t.Fatal(err)
			}
			counterparts := map[string][2]any{ // key: envconfig's value, the launcher's
				"name":          {cfg.Name, lc.cluster},
				"workers":       {cfg.Workers, lc.workers},
				"restart":       {cfg.Restart, lc.restart},
				"max_restarts":  {cfg.MaxRestarts, lc.maxRestarts},
				"min_uptime":    {cfg.MinUptime, lc.minUptime},
				"stop_signal":   {cfg.StopSignal, lc.stopSignal},
				"stop_grace":    {cfg.StopGrace, lc.stopGrace},
				"timeout":       {cfg.Timeout, lc.taskTimeout},
				"start_timeout": {cfg.StartTimeout, lc.startTimeout},
				"recycle":       {cfg.Recycle, lc.recycle},
				"max_rss":       {cfg.MaxRSS, lc.maxRSS},
				"cpu_affinity":  {cfg.CPUAffinity, lc.cpuAffinity},
				"guard_cycle":   {cfg.GuardCycle, lc.guardCycle},
				"tasks":         {cfg.Tasks == "", lc.taskIn == nil}, // no task mode
				"per_task":      {cfg.PerTask, lc.perTask},
				"max_attempts":  {cfg.MaxAttempts, lc.maxAttempts},
				"prefetch":      {cfg.Prefetch, lc.prefetch},
				"queue_limit":   {cfg.QueueLimit, task.queueLimit},
				"max_line":      {cfg.MaxLine, lc.maxLine},
			}
			for _, k := range envconfig.Keys() {
				pair, ok := counterparts[k.Name]
				if !ok {
					if _, ok := noCounterpart[k.Name]; !ok {
						t.Errorf("key %s: no launcher counterpart in this test and no reason why not", k.Name)
					}
					continue
				}
				delete(counterparts, k.Name)
				if !reflect.DeepEqual(pair[0], pair[1]) {
					t.Errorf("default of %s: envconfig %v (%T), launcher %v (%T)", k.Name, pair[0], pair[0], pair[1], pair[1])
				}
			}
			for name := range counterparts {
				t.Errorf("%s is no key of envconfig", name)
			}
		})
	}
}
