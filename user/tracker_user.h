/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The user-space half of the kernel tracker: loads and attaches the BPF
 * programs, drains the ring buffer into callbacks, and reads the procs map
 * (the authority on a process's current state) and the loss counters.
 */
#ifndef ATTESTD_TRACKER_USER_H
#define ATTESTD_TRACKER_USER_H

#include <stdint.h>
#include "tracker.h"

struct tracker;

struct tracker_ops {
	void *ctx;
	/* exec, fork or cgroup move: the full new record */
	void (*on_state)(void *ctx, __u32 type, const struct proc_state *st);
	void (*on_exit)(void *ctx, __u32 tgid, __u64 start_ns, __u32 exit_code);
};

struct tracker_opts {
	uint32_t ringbuf_bytes; /* 0: the object's default (4 MiB); a power of two */
	uint32_t max_procs;	/* 0: PROCS_MAX_ENTRIES */
	const char *v1_controller; /* v1 hierarchy to track ("memory"), NULL: none */
};

/*
 * The v1 controller worth tracking on this host: "memory", else "cpu", when
 * mounted as v1 (hybrid or v1 hosts); NULL on a pure v2 host.
 */
const char *tracker_v1_controller(void);

struct tracker_stats {
	uint64_t events;
	uint64_t lost;
	uint64_t map_full;
};

/* Loads and attaches; on failure *err says what the kernel refused. */
int tracker_open(const struct tracker_opts *opts, const struct tracker_ops *ops,
		 struct tracker **ret, char *err, size_t errlen);
void tracker_close(struct tracker *t);
/* Waits up to timeout_ms, runs the callbacks; returns events handled or -errno. */
int tracker_poll(struct tracker *t, int timeout_ms);
/* The ring buffer's epoll fd, for an event loop of one's own. */
int tracker_fd(struct tracker *t);
int tracker_stats(struct tracker *t, struct tracker_stats *out);
/* Reads tgid's record from the kernel map; -ENOENT if none. */
int tracker_lookup(struct tracker *t, uint32_t tgid, struct proc_state *st);
/* Seeds a record learned from /proc unless the kernel already has one. */
int tracker_seed(struct tracker *t, const struct proc_state *st);
/* Deletes tgid's record if it still has start time start_ns. */
int tracker_forget(struct tracker *t, uint32_t tgid, uint64_t start_ns);

/* A BPF program and its link, for health checks (is it attached?) and run-time stats. */
struct tracker_prog {
	const char *name; /* "handle_exec", ... */
	int prog_fd;
	int link_fd; /* -1: not attached */
};
/* Fills up to max; returns how many programs there are. */
size_t tracker_progs(struct tracker *t, struct tracker_prog *out, size_t max);

#endif
