// Package keeper is the process side of the launcher's keeper: the
// launcher's executable run again (with [Env] set to "1") as a small process
// that outlives a launcher killed with SIGKILL and then kills what the
// launcher's workers left. The launcher side (starting it, the pipe) is in
// package launcher; README, Process trees, describes both.
//
// The keeper runs during package initialization: this package's init runs
// [Main] and exits when [Env] is "1". It imports only the standard library,
// so Go initializes it before most other packages of a program: a keeper
// started by otel-qrun skips the initialization of the OpenTelemetry SDK,
// gRPC, protobuf registries, Prometheus, cobra and viper, which is most of
// what it costs to start (a short run waits for its keeper at exit). Any program that links package launcher, and so this
// package, runs as the keeper when started with [Env]=1.
//
// Protocol, one line each on the keeper's stdin (a pipe from the launcher):
//
//	cgroup DIR   the cgroup of the launcher's Run, parent of the workers' cgroups
//	mark ID      processes whose environment holds ID are a worker's tree (/proc mode)
//	unmark ID    that tree is gone
//	fork         a fork is under way: continue the launcher's child stopped before its exec
//	forked       the fork returned
//	done         the launcher ended cleanly: exit without killing anything
//
// A child the launcher forks is stopped short of its exec by a stop signal
// (^Z) that reaches it between the fork and the exec, and Go's
// syscall.ForkExec waits for that exec (vfork) holding its thread and its
// scheduler slot: with GOMAXPROCS=1 no goroutine of the launcher runs again,
// and nothing would ever continue the child. While a fork is under way for
// longer than [Stall], the keeper, another process, continues the
// launcher's newest child if it is stopped and still runs the launcher's
// executable (so it has not executed its program yet), and checks again at
// that interval until "forked".
//
// When the pipe ends without "done" (the launcher died), the keeper kills
// every process in the cgroup tree (cgroup.kill) and removes the cgroups,
// and kills every process carrying a marked ID, then exits 0.
package keeper
