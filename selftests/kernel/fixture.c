// SPDX-License-Identifier: Apache-2.0
/* Kernel test fixture: loads the real tracker on the running kernel. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "probe.h"
#include "test.h"
#include "tracker_fixture.h"

static void on_state(void *ctx, __u32 type, const struct proc_state *st)
{
	struct fixture *f = ctx;

	if (type == EV_FORK) {
		f->nfork++;
		if (f->watch_tgid && st->ppid == f->watch_tgid && !f->fork_child)
			f->fork_child = st->tgid;
	}
	if (st->tgid != f->watch_tgid)
		return;
	if (type == EV_EXEC) {
		f->nexec++;
		f->last_exec = *st;
	} else if (type == EV_CGROUP) {
		f->ncgroup++;
		f->last_exec.cgroup_id = st->cgroup_id;
		memcpy(f->last_exec.cgroup, st->cgroup, sizeof(st->cgroup));
	}
}

static void on_exit_ev(void *ctx, __u32 tgid, __u64 start_ns, __u32 code)
{
	struct fixture *f = ctx;

	if (tgid == f->watch_tgid)
		f->nexit++;
}

int fixture_open(struct fixture *f)
{
	struct tracker_ops ops = { .ctx = f, .on_state = on_state, .on_exit = on_exit_ev };
	struct tracker_opts opts = { .v1_controller = tracker_v1_controller() };
	struct probe_result pr;
	char why[256];
	int r;

	memset(f, 0, sizeof(*f));
	probe_run(&pr);
	if (probe_check(&pr, why, sizeof(why)) < 0) {
		test_skip("%s", why);
		return -ENOTSUP;
	}
	r = tracker_open(&opts, &ops, &f->t, why, sizeof(why));
	if (r < 0)
		test_fail_at(__FILE__, __LINE__, "tracker_open: %s", why);
	return r;
}

void fixture_close(struct fixture *f)
{
	tracker_close(f->t);
	f->t = NULL;
}

void fixture_drain(struct fixture *f, int ms)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (;;) {
		tracker_poll(f->t, 20);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= ms)
			break;
	}
}

const char *fixture_helper(const char *name)
{
	static char path[PATH_MAX + 64];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return name;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(path, sizeof(path), "%s/%s", self, name);
	return path;
}
