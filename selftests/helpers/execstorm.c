// SPDX-License-Identifier: Apache-2.0
/*
 * `execstorm SECONDS WORKERS [PROGRAM]`: fork+exec PROGRAM (default
 * /bin/true) as fast as WORKERS processes can, for SECONDS, then print
 * `execs=N seconds=S rate=R` on stdout.  For the exec benchmark and the
 * event-loss checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10, t0, t1;
	int workers = argc > 2 ? atoi(argv[2]) : 2;
	const char *prog = argc > 3 ? argv[3] : "/bin/true";
	unsigned long *counts, total = 0;

	counts = mmap(NULL, sizeof(*counts) * workers, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED || workers < 1)
		return 1;
	t0 = now();
	for (int w = 0; w < workers; w++) {
		if (fork() == 0) {
			unsigned long n = 0;

			while (now() - t0 < secs) {
				pid_t pid = fork();

				if (pid == 0) {
					execl(prog, prog, (char *)NULL);
					_exit(127);
				}
				if (pid > 0 && waitpid(pid, NULL, 0) == pid)
					n++;
			}
			counts[w] = n;
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	t1 = now();
	for (int w = 0; w < workers; w++)
		total += counts[w];
	printf("execs=%lu seconds=%.2f rate=%.0f\n", total, t1 - t0, total / (t1 - t0));
	return 0;
}
