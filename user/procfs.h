/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a process's facts from /proc, for the processes that existed
 * before attestd attached its programs (and for resync after a loss).  The
 * record has the same shape and clocks as the kernel's.
 */
#ifndef ATTESTD_PROCFS_H
#define ATTESTD_PROCFS_H

#include <stdint.h>
#include "tracker.h"

struct procfs {
	const char *proc;    /* "/proc", or a test tree */
	const char *cgroup2; /* cgroup v2 mount, for cgroup ids; NULL to skip */
	const char *v1_controller; /* v1 hierarchy tracked as cgroup_v1; NULL: none */
	const char *v1_mount;	   /* its mount point, for cgroup_v1_id; NULL to skip */
};

/* Fills st for pid. -ENOENT/-ESRCH when it is gone, -EINVAL when unparsable. */
int procfs_read(const struct procfs *fs, uint32_t pid, struct proc_state *st);
/* Calls fn for every readable process, in no order; returns how many or -errno. */
int procfs_scan(const struct procfs *fs, int (*fn)(void *arg, const struct proc_state *st),
		void *arg);
/* Parses the text of /proc/PID/stat: ppid (field 4) and starttime (field 22). */
int procfs_parse_stat(const char *text, uint32_t *ppid, uint64_t *start_ticks);
/* The mount point of the v1 hierarchy holding controller, in buf; NULL if none. */
const char *procfs_v1_mount(const char *controller, char *buf, size_t len);
/* Finds the cgroup v2 mount ("/sys/fs/cgroup" or ".../unified"); NULL if none. */
const char *procfs_cgroup2_mount(void);

#endif
