/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the kernel tests: load the tracker, run a workload, collect
 * what the programs recorded.
 */
#ifndef ATTESTD_TRACKER_FIXTURE_H
#define ATTESTD_TRACKER_FIXTURE_H

#include <sys/types.h>
#include "tracker_user.h"

struct fixture {
	struct tracker *t;
	struct proc_state last_exec; /* last exec event for watch_tgid */
	int nexec, nfork, nexit, ncgroup;
	__u32 watch_tgid;
	__u32 fork_child; /* first fork event whose ppid is watch_tgid */
};

/* Loads the tracker, or SKIPs the test with the reason if unsupported. */
int fixture_open(struct fixture *f);
void fixture_close(struct fixture *f);
/* Drains the ring buffer for ms milliseconds. */
void fixture_drain(struct fixture *f, int ms);
/* Path of a helper program built next to the test binary. */
const char *fixture_helper(const char *name);

#endif
