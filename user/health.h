/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Liveness and readiness: what /live, /ready and `attestctl healthcheck`
 * answer.
 *
 * Live: the main loop (which drains the ring buffer) went round within
 * loop_stall_ms.  Nothing else: a live but unready attestd should be left
 * to recover, not restarted.
 *
 * Ready: live, and every readiness probe passed when the probes last ran,
 * and they ran recently (a probe stuck on a dead database is itself a
 * failure).  The probes run on a thread of their own every interval_ms, so
 * a caller never waits on one; attestd's are (health_add_attestd):
 *
 *   bpf     every tracker program still has its link, and each link fd
 *           still names the link made at attach (bpf_obj_get_info_by_fd:
 *           same link id, same program).  A link closed or replaced under
 *           attestd is a detached program.
 *   events  events keep arriving from the kernel.  When none came for
 *           canary_after_ms, attestd makes some: a canary child (vfork,
 *           then _exit at once) whose fork and exit the tracker must
 *           report within canary_timeout_ms.  This catches what the link
 *           check cannot: programs that are attached but whose events
 *           never reach user space.
 *   store   the registration store answers a query (a get of an id that
 *           does not exist), its connection is up (PostgreSQL), and for
 *           SQLite the database file is still the one attestd opened: a
 *           file removed or replaced under a running attestd means every
 *           later write goes to a file nobody will open again.
 *   ca      the active X.509 CA and JWT key exist, have not expired, and
 *           sign (a trial signature).
 *   socket  the Workload API socket file is still there and still ours
 *           (same device and inode), so workloads can connect.
 */
#ifndef ATTESTD_HEALTH_H
#define ATTESTD_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_MAX_CHECKS 12
#define HEALTH_DEFAULT_INTERVAL_MS 1000
#define HEALTH_DEFAULT_STALE_MS 15000
#define HEALTH_DEFAULT_LOOP_STALL_MS 30000
#define HEALTH_DEFAULT_CANARY_AFTER_MS 3000
#define HEALTH_DEFAULT_CANARY_TIMEOUT_MS 2000

struct health;
struct tracker;
struct store;
struct ca;

/* 0 when healthy; else -errno, and what is wrong in detail (one line). */
typedef int (*health_probe_fn)(void *arg, char *detail, size_t len);

/* 0 in a field: its HEALTH_DEFAULT_*. */
struct health_opts {
	unsigned interval_ms;
	unsigned stale_ms;
	unsigned loop_stall_ms;
	unsigned canary_after_ms;
	unsigned canary_timeout_ms;
	bool manual; /* tests: no thread, health_run() runs the probes */
};

struct health_check {
	char name[16];
	bool ok;
	char detail[200]; /* why it failed, or a note ("idle 2 s") */
};

struct health_report {
	bool live, ready;
	/* "" when live and ready; else "<check>: <detail>" of the first failure */
	char reason[256];
	size_t n;
	struct health_check checks[HEALTH_MAX_CHECKS]; /* "loop" first, then the probes */
	int64_t age_ms; /* since the probes last finished; -1: never yet */
};

int health_new(const struct health_opts *opts, struct health **ret);
/* Stops the thread; NULL is a no-op.  The probes' arguments must outlive this. */
void health_free(struct health *h);
/*
 * A readiness probe, run in the order added; before health_start().
 * -ENOSPC past HEALTH_MAX_CHECKS - 1 probes.
 */
int health_add(struct health *h, const char *name, health_probe_fn fn, void *arg);
/* Runs the probes once, then every interval_ms on a thread (unless manual). */
int health_start(struct health *h);
/* Runs the probes now, on this thread (manual mode). */
void health_run(struct health *h);
void health_get(struct health *h, struct health_report *ret);

/* From the main loop, every time round: what liveness is. */
void health_loop_tick(struct health *h);
/* From the tracker's callbacks, for every event: what the events probe watches. NULL-safe. */
void health_event(struct health *h);

/* What attestd's probes look at; borrowed, must outlive the health. NULL members are skipped. */
struct health_deps {
	struct tracker *tracker;
	struct store *store;
	const char *store_url; /* for SQLite, the file to watch */
	struct ca *ca;
	const char *socket_path; /* the Workload API's */
};
/*
 * Adds the bpf, events, store, ca and socket probes (see above), taking
 * what they compare against later (link ids, file identities) now.
 */
int health_add_attestd(struct health *h, const struct health_deps *deps);

/* For tests: the canary, as the events probe makes it.  Its pid, or -errno. */
int health_canary(void);

#endif
