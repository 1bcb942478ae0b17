// SPDX-License-Identifier: Apache-2.0
/*
 * A workload for the kernel tests: `sleeper [NTHREADS [THREAD_MS]]` starts
 * NTHREADS threads that live THREAD_MS milliseconds (forever if 0), then
 * waits to be killed.  Static, so it runs in a VM's initramfs too.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *thread_main(void *arg)
{
	long ms = (long)arg;

	if (!ms)
		for (;;)
			pause();
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	long ms = argc > 2 ? atol(argv[2]) : 0;
	pthread_t t;

	for (int i = 0; i < n; i++)
		if (pthread_create(&t, NULL, thread_main, (void *)ms) == 0)
			pthread_detach(t);
	for (;;)
		pause();
}
