// SPDX-License-Identifier: Apache-2.0
/*
 * Runs the tests registered with TEST() and prints TAP.  Arguments are
 * substrings; only tests whose name contains one of them run.  Each test
 * runs in a forked child so that a crash fails one test, not the run.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test.h"

#define MAX_TESTS 512
/* A test that runs longer than this has hung: it fails (SIGALRM), the run goes on. */
#define TEST_TIMEOUT_S 300

struct test_entry {
	const char *name;
	test_fn fn;
};

struct test_state {
	struct test_entry tests[MAX_TESTS];
	int ntests;
	bool failed;
	bool skipped;
	char skip_reason[256];
};

static struct test_state state;

void test_register(const char *name, test_fn fn)
{
	if (state.ntests >= MAX_TESTS) {
		fprintf(stderr, "harness: too many tests, %s dropped\n", name);
		abort();
	}
	state.tests[state.ntests++] = (struct test_entry){ name, fn };
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	state.failed = true;
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(state.skip_reason, sizeof(state.skip_reason), fmt, ap);
	va_end(ap);
	state.skipped = true;
}

void test_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

bool test_failed(void)
{
	return state.failed;
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

/* 0 pass, 1 fail, 2 skip; the skip reason comes back over a pipe. */
static int run_one(const struct test_entry *t, char *reason, size_t len)
{
	int pfd[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(pfd))
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		/* Its own process group, so whatever it forks and leaves behind can be killed. */
		setpgid(0, 0);
		alarm(TEST_TIMEOUT_S);
		close(pfd[0]);
		t->fn();
		fflush(stdout);
		if (state.skipped && !state.failed) {
			if (write(pfd[1], state.skip_reason, strlen(state.skip_reason)) < 0)
				_exit(1);
			_exit(2);
		}
		_exit(state.failed ? 1 : 0);
	}
	close(pfd[1]);
	/* Wait for the test, not for EOF: a leaked grandchild may hold the pipe open. */
	if (waitpid(pid, &status, 0) < 0) {
		close(pfd[0]);
		return 1;
	}
	kill(-pid, SIGKILL);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	n = read(pfd[0], reason, len - 1);
	reason[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	if (WIFSIGNALED(status)) {
		printf("# killed by signal %d\n", WTERMSIG(status));
		return 1;
	}
	return WEXITSTATUS(status) > 2 ? 1 : WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	int n = 0, pass = 0, fail = 0, skip = 0;
	char reason[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < state.ntests; i++)
		n += selected(state.tests[i].name, argc, argv);
	printf("TAP version 13\n1..%d\n", n);
	n = 0;
	for (int i = 0; i < state.ntests; i++) {
		const struct test_entry *t = &state.tests[i];

		if (!selected(t->name, argc, argv))
			continue;
		n++;
		switch (run_one(t, reason, sizeof(reason))) {
		case 0:
			printf("ok %d - %s\n", n, t->name);
			pass++;
			break;
		case 2:
			printf("ok %d - %s # SKIP %s\n", n, t->name, reason);
			skip++;
			break;
		default:
			printf("not ok %d - %s\n", n, t->name);
			fail++;
		}
	}
	printf("# %d passed, %d failed, %d skipped\n", pass, fail, skip);
	return fail ? 1 : 0;
}
