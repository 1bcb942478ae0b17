// SPDX-License-Identifier: Apache-2.0
/*
 * `bench_spawn N PIDFILE PROGRAM [ARGS...]`: starts N copies of PROGRAM,
 * writes their PIDs to PIDFILE (one a line, then renamed into place, so a
 * reader never sees half a list), prints `spawned N seconds=S` and waits.
 * On SIGTERM or SIGINT it kills its children by PID, reaps them and exits.
 * Each child has PR_SET_PDEATHSIG(SIGKILL), which survives exec, so the
 * children die with the spawner even if it is SIGKILLed.  For the memory
 * and latency benchmarks: a population of live processes that the caller
 * can remove without ever killing anything by name.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
	char tmp[4096];
	sigset_t mask;
	pid_t *pids, self = getpid();
	long n, started = 0;
	double t0;
	FILE *f;
	int sig;

	if (argc < 4 || (n = atol(argv[1])) < 1) {
		fprintf(stderr, "usage: bench_spawn N PIDFILE PROGRAM [ARGS...]\n");
		return 2;
	}
	pids = calloc(n, sizeof(*pids));
	if (!pids)
		return 1;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	t0 = now();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			sigprocmask(SIG_UNBLOCK, &mask, NULL);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != self)
				_exit(1);
			execv(argv[3], argv + 3);
			_exit(127);
		}
		if (pid < 0) {
			fprintf(stderr, "bench_spawn: fork after %ld: %s\n", i, strerror(errno));
			break;
		}
		pids[started++] = pid;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
	f = fopen(tmp, "w");
	if (f) {
		for (long i = 0; i < started; i++)
			fprintf(f, "%d\n", (int)pids[i]);
		if (fclose(f) == 0)
			rename(tmp, argv[2]);
	}
	printf("spawned %ld seconds=%.3f\n", started, now() - t0);
	fflush(stdout);
	if (started == n)
		sigwait(&mask, &sig);
	for (long i = 0; i < started; i++)
		kill(pids[i], SIGKILL);
	for (long i = 0; i < started; i++)
		waitpid(pids[i], NULL, 0);
	return started == n ? 0 : 1;
}
