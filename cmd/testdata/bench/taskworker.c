/* taskworker: a persistent otel-qrun task worker that costs next to
 * nothing, for scripts/bench. It reads task lines on stdin and answers
 * each with {"id":ID,"ok":true} on file descriptor 3, one write per reply,
 * as the protocol asks. IDs are copied as their JSON text (the benchmark's
 * ids need no escapes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
	char *line = NULL, out[512];
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		char *id = strstr(line, "\"id\":\"");
		if (id == NULL)
			continue;
		id += 5;
		char *end = strchr(id + 1, '"');
		if (end == NULL || end - id + 1 > 400)
			continue;
		int len = snprintf(out, sizeof out, "{\"id\":%.*s,\"ok\":true}\n", (int)(end - id + 1), id);
		for (char *p = out; len > 0;) {
			ssize_t w = write(3, p, len);
			if (w < 0)
				return 1;
			p += w;
			len -= w;
		}
	}
	return 0;
}
