/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process table: attestd's mirror of the kernel's procs map, keyed by
 * (tgid, start time) so that a PID reused by a new process never returns
 * the old process's facts.  Each entry carries the selectors derived from
 * its facts.  Thread-safe: the tracker writes, the APIs read snapshots.
 */
#ifndef ATTESTD_PROCTABLE_H
#define ATTESTD_PROCTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "tracker.h"

struct proctable;

/* A copy of one process's facts and selectors, owned by the caller. */
struct proc_info {
	struct proc_state st;
	uint64_t start_time; /* clock ticks since boot: /proc/PID/stat field 22 */
	size_t nselectors;
	char **selectors; /* sorted, "type:key:value" */
	size_t nspiffe_ids;
	char **spiffe_ids; /* the SPIFFE IDs of matching entries, sorted */
	size_t nentry_ids;
	char **entry_ids; /* the ids of matching entries, sorted */
	uint64_t generation; /* bumped whenever this process's identities change */
};

int proctable_new(struct proctable **ret);
void proctable_free(struct proctable *pt);

/*
 * Inserts or replaces the record for st->tgid.  A record with a different
 * start time is a new process under a reused PID: the old one is dropped.
 * Selectors are derived here (see selectors.h).
 */
int proctable_upsert(struct proctable *pt, const struct proc_state *st);
/*
 * With PROCTABLE_DEFER the facts go in now and the selectors are derived
 * later by proctable_derive_pending() (or by the next change, or a lookup):
 * most forks exec at once, and deriving the fork's copy would be wasted.
 */
#define PROCTABLE_DEFER (1U << 0)
int proctable_upsert_flags(struct proctable *pt, const struct proc_state *st, unsigned flags);
/* Derives deferred records queued at least min_age_ns ago; returns how many. */
int proctable_derive_pending(struct proctable *pt, uint64_t min_age_ns);
/* Removes tgid if its start time is start_ns; -ENOENT otherwise. */
int proctable_remove(struct proctable *pt, uint32_t tgid, uint64_t start_ns);
size_t proctable_count(struct proctable *pt);

/*
 * Snapshot of tgid.  start_time (ticks) must match unless it is 0; a
 * mismatch is -ESRCH (the PID now names another process), an unknown tgid
 * -ENOENT.
 */
int proctable_get(struct proctable *pt, uint32_t tgid, uint64_t start_time,
		  struct proc_info **ret);
/* Snapshot of every process, sorted by tgid. */
int proctable_list(struct proctable *pt, struct proc_info ***ret, size_t *ret_n);

void proc_info_free(struct proc_info *pi);
void proc_info_list_free(struct proc_info **list, size_t n);

/* ns <-> /proc/PID/stat ticks, as the kernel's nsec_to_clock_t(). */
uint64_t proc_ns_to_ticks(uint64_t ns);

#endif
