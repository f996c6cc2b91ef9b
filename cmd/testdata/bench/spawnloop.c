/* spawnloop N P PATH: runs PATH N times with posix_spawn, at most P at a
 * time, and waits for every child: the plainest way to start processes,
 * the per-task baseline of scripts/bench. Exits 1 when a child failed. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: spawnloop N P PATH\n");
		return 2;
	}
	long n = atol(argv[1]), p = atol(argv[2]), running = 0, started = 0;
	char *args[] = {argv[3], NULL};
	int failed = 0, status;
	while (started < n || running > 0) {
		while (started < n && running < p) {
			pid_t pid;
			if (posix_spawn(&pid, argv[3], NULL, NULL, args, environ) != 0) {
				perror("posix_spawn");
				return 1;
			}
			started++;
			running++;
		}
		if (wait(&status) < 0) {
			perror("wait");
			return 1;
		}
		running--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	return failed;
}
