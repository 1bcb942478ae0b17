/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The matcher: which registration entries a process's selectors satisfy.
 * An entry matches when every one of its selectors is among the
 * process's (design.md, "Selectors"); an entry with no selectors matches
 * nothing, never everything.
 *
 * Cost: each entry is indexed once, under one of its own selectors (its
 * "anchor": the one with the fewest entries already anchored there when
 * it was added).  A match looks up each process selector in a hash table
 * and checks the entries anchored there, so it costs in proportion to the
 * process's selectors and the entries anchored under them, never to the
 * number of entries; selectors shared by many entries (unix:uid:0) are
 * rarely anchors.  Each entry is visited at most once per match, so
 * duplicated process selectors count once.  Matching allocates nothing.
 *
 * Threads: every function here may be called from any thread.  An
 * internal rwlock lets matches run in parallel; add/remove/update take it
 * exclusively.  Callbacks run under the read lock: they must not call
 * back into the matcher's writers.
 */
#ifndef ATTESTD_MATCHER_H
#define ATTESTD_MATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include "entry.h"

struct matcher;

/*
 * Called for each matching entry; e is the matcher's copy, valid only
 * during the call.  Return 0 to go on, or a negative errno to stop.
 */
typedef int (*matcher_fn)(const struct entry *e, void *arg);

/* 0 or -ENOMEM. */
int matcher_new(struct matcher **ret);
void matcher_free(struct matcher *m);
size_t matcher_count(struct matcher *m);
/* Room for n entries in the id index, to load a store at start without rehashing. */
int matcher_reserve(struct matcher *m, size_t n);

/*
 * Adds a copy of e (normalized; e itself is not changed).  -EEXIST if an
 * entry with e->id is present, -EINVAL if e has no selectors or no id,
 * -ENOMEM.  On error the matcher is unchanged.
 */
int matcher_add(struct matcher *m, const struct entry *e);
/*
 * Removes entry id.  With ret_old, the removed entry is handed to the
 * caller (entry_free() it) so it can find the processes that matched it.
 * -ENOENT if id is unknown.
 */
int matcher_remove(struct matcher *m, const char *id, struct entry **ret_old);
/*
 * Replaces the entry with e->id by a copy of e; ret_old as for remove.
 * -ENOENT if absent, -EINVAL/-ENOMEM as for add; on error nothing changes.
 */
int matcher_update(struct matcher *m, const struct entry *e, struct entry **ret_old);
/* A copy of entry id (entry_free() it), or -ENOENT. */
int matcher_get(struct matcher *m, const char *id, struct entry **ret);

/*
 * Calls fn for every entry that selectors[0..n) satisfy, each entry once,
 * in no particular order (fn may be NULL, to count).  Returns the number of matches, or fn's
 * negative value if it stopped the walk.  Sorted input (by strcmp, as the
 * process table keeps it) takes the fast path; any order is correct.
 */
int matcher_match(struct matcher *m, const char *const *selectors, size_t n, matcher_fn fn,
		  void *arg);

/*
 * The SPIFFE IDs of the matching entries, sorted and unique (two entries
 * may grant the same ID), as a malloc'd array of malloc'd strings.
 * 0 or -ENOMEM; *ret is NULL when *ret_n is 0.
 */
int matcher_match_spiffe_ids(struct matcher *m, const char *const *selectors, size_t n,
			     char ***ret, size_t *ret_n);

/*
 * Whether entry e matches a process with selectors[0..n), without any
 * index: for re-evaluating the processes an added, changed or removed
 * entry may affect (call it with the old and the new entry and compare).
 * Any order on both sides; false for an entry with no selectors.
 */
bool matcher_entry_matches(const struct entry *e, const char *const *selectors, size_t n);

#endif
