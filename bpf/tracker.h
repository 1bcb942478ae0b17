/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the tracker's BPF programs and attestd share: the state record kept
 * per thread group in the procs map, and the events on the ring buffer.
 * Fixed-width types only; both sides are built from this one header.
 */
#ifndef ATTESTD_TRACKER_H
#define ATTESTD_TRACKER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TASK_COMM_LEN 16
#define EXE_PATH_LEN 512
#define CGROUP_PATH_LEN 512
#define MAX_GROUPS 32
/* Dentries (and mount crossings) walked to build a path before giving up. */
#define PATH_MAX_DEPTH 48
#define CGROUP_MAX_DEPTH 32
#define PROCS_MAX_ENTRIES 65536

/* proc_state.flags */
#define PROC_F_EXE_TRUNCATED (1U << 0)	  /* exe path did not fit or walk ran out */
#define PROC_F_CGROUP_TRUNCATED (1U << 1) /* cgroup path did not fit */
#define PROC_F_GROUPS_TRUNCATED (1U << 2) /* more than MAX_GROUPS groups */
#define PROC_F_FROM_PROCFS (1U << 3)	  /* written by user space at bootstrap */
#define PROC_F_NO_EXE (1U << 4)		  /* kernel thread or no mm */
#define PROC_F_EXE_DELETED (1U << 5)	  /* the file was unlinked: its path names nothing */
#define PROC_F_CGROUP_V1_TRUNCATED (1U << 6) /* cgroup_v1 path did not fit */

enum event_type {
	EV_EXEC = 1,
	EV_FORK = 2,
	EV_EXIT = 3,
	EV_CGROUP = 4,
};

struct proc_state {
	__u32 tgid;
	__u32 ppid;	     /* real parent's tgid at fork */
	__u64 start_ns;	     /* start_boottime of the leader: /proc stat field 22, in ns */
	__u64 parent_start_ns;
	__u32 uid, gid, euid, egid;
	__u32 ngroups; /* real count, may exceed MAX_GROUPS */
	__u32 flags;
	__u32 groups[MAX_GROUPS];
	__u64 exe_dev; /* kernel dev_t (MKDEV major<<20|minor) */
	__u64 exe_ino;
	__u64 exe_ctime_ns;
	__u64 exe_size;
	__u64 cgroup_id; /* cgroup v2 kernfs id, as bpf_get_current_cgroup_id() */
	__u64 cgroup_v1_id; /* kernfs id in the tracked v1 hierarchy, 0 if none */
	__u32 pidns_ino;
	__u32 mntns_ino;
	char comm[TASK_COMM_LEN];
	char exe[EXE_PATH_LEN];
	char cgroup[CGROUP_PATH_LEN];
	/*
	 * The path in one v1 hierarchy (memory, else cpu), for hybrid and v1
	 * hosts where every process sits at the v2 root; "" when not tracked.
	 */
	char cgroup_v1[CGROUP_PATH_LEN];
};

struct event {
	__u32 type;
	__u32 pad;
	struct proc_state state;
};

struct exit_event {
	__u32 type;
	__u32 tgid;
	__u64 start_ns;
	__u32 exit_code;
	__u32 pad;
};

/* stats map slots (per-CPU counters, summed by user space) */
enum tracker_stat {
	STAT_EVENTS_LOST,  /* ring buffer full: event could not be reserved */
	STAT_MAP_FULL,	   /* procs map update failed */
	STAT_EVENTS,	   /* events sent */
	STAT_NR,
};

#endif
