/* feeder N W WORKER: the direct one-in-flight baseline of scripts/bench.
 * Starts W persistent task workers (stdin a pipe, replies on fd 3), sends
 * them N task lines in the launcher's format, one in flight per worker, in
 * a poll(2) loop, and reads every reply. Prints its own CPU time in
 * microseconds ("cpu_us N", RUSAGE_SELF: the workers not included) and
 * exits 0 when every worker exited 0 and every task got a reply. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAXW 256

static int send_task(int fd, long t) {
	char line[128];
	int len = snprintf(line, sizeof line, "{\"id\":\"%ld\",\"payload\":%ld,\"attempt\":1}\n", t, t);
	return write(fd, line, len) == len ? 0 : -1;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: feeder N W WORKER\n");
		return 2;
	}
	long n = atol(argv[1]), next = 0, replies = 0;
	int w = atoi(argv[2]);
	if (w < 1 || w > MAXW)
		return 2;
	int in[MAXW], out[MAXW];
	pid_t pids[MAXW];
	struct pollfd pfd[MAXW];
	char *args[] = {argv[3], NULL};
	for (int i = 0; i < w; i++) {
		int tin[2], rep[2];
		if (pipe2(tin, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
			return perror("pipe"), 1;
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, tin[0], 0);
		posix_spawn_file_actions_adddup2(&fa, rep[1], 3);
		if (posix_spawn(&pids[i], argv[3], &fa, NULL, args, environ) != 0)
			return perror("posix_spawn"), 1;
		posix_spawn_file_actions_destroy(&fa);
		close(tin[0]);
		close(rep[1]);
		in[i] = tin[1];
		out[i] = rep[0];
		pfd[i] = (struct pollfd){.fd = rep[0], .events = POLLIN};
	}
	for (int i = 0; i < w && next < n; i++)
		if (send_task(in[i], next++))
			return perror("write"), 1;
	char buf[4096];
	while (replies < n) {
		if (poll(pfd, w, -1) < 0) {
			if (errno == EINTR)
				continue;
			return perror("poll"), 1;
		}
		for (int i = 0; i < w; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			ssize_t r = read(out[i], buf, sizeof buf);
			if (r <= 0)
				return fprintf(stderr, "worker %d ended early\n", i), 1;
			/* One task in flight: a read holds one whole reply line. */
			for (ssize_t j = 0; j < r; j++) {
				if (buf[j] != '\n')
					continue;
				replies++;
				if (next < n && send_task(in[i], next++))
					return perror("write"), 1;
			}
		}
	}
	int failed = 0, status;
	for (int i = 0; i < w; i++)
		close(in[i]);
	for (int i = 0; i < w; i++)
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("cpu_us %ld\n", (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	return failed;
}
