package envconfig_test

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/otel-qrun/otel-qrun/envconfig"
)

func ExampleLoad() {
	fs := pflag.NewFlagSet("otel-qrun", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	envconfig.AddFlags(fs)
	_ = fs.Parse([]string{"--workers", "4", "python", "manage.py", "qcluster"})

	environ := []string{
		"Q_CLUSTER_TIMEOUT=90",
		`Q_CLUSTER={"name": "emails", "workers": 2, "orm": "default", "retry": 120}`,
	}
	c, err := envconfig.Load(fs, environ)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, key := range []string{"name", "workers", "timeout", "queue_limit", "stop_signal"} {
		fmt.Printf("%s=%s (%s)\n", key, c.Value(key), c.Sources[key])
	}
	fmt.Println(fs.Args())
	// Output:
	// name=emails (Q_CLUSTER)
	// workers=4 (flag)
	// timeout=1m30s (env)
	// queue_limit=16 (default)
	// stop_signal=TERM (default)
	// [python manage.py qcluster]
}

func ExampleLoad_invalid() {
	_, err := envconfig.Load(nil, []string{"Q_CLUSTER_WORKERS=-2"})
	fmt.Println(errors.Is(err, envconfig.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// invalid value "-2" for workers (from Q_CLUSTER_WORKERS): must be an integer from 1 to max_workers (1024 unless raised, at most 65536)
}

func ExampleParseDuration() {
	for _, s := range []string{"60", "0.5", "1m30s", "-1"} {
		d, err := envconfig.ParseDuration(s)
		fmt.Println(d, err)
	}
	// Output:
	// 1m0s <nil>
	// 500ms <nil>
	// 1m30s <nil>
	// 0s invalid duration "-1": must not be negative
}
