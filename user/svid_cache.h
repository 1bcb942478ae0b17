/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The X.509-SVID cache: one SVID per registration entry that a live process
 * matches, minted as soon as such a process appears (so that a Workload API
 * call finds it ready), renewed at half of its life, replaced when the
 * entry changes and dropped when the entry is deleted or no process matches
 * it any more.
 *
 * Demand comes from the process table's `changed` hook: the daemon forwards
 * it to svid_cache_process_changed(), which only queues (the hook runs with
 * the table's write lock held).  The cache's own thread reads the table,
 * keeps a count of live processes per entry, mints what is missing and
 * renews what is due.  An SVID nobody needs is not renewed: it is dropped
 * when it would have been.
 *
 * Readers get reference-counted, immutable snapshots (struct svid_cached):
 * a renewal never changes an SVID a reader holds, it installs a new one and
 * tells the listener (the Workload API, which then pushes it to streams).
 *
 * Locking: the cache never calls into the process table while holding its
 * own lock, so the hook may call svid_cache_process_changed() at any time.
 */
#ifndef ATTESTD_SVID_CACHE_H
#define ATTESTD_SVID_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "entry.h"
#include "x509svid.h"

struct ca;
struct matcher;
struct proctable;
struct svid_cache;

/* An SVID as minted for one entry: never changes; hold a reference while using it. */
struct svid_cached {
	char entry_id[ENTRY_ID_LEN + 1];
	struct entry *entry;   /* the entry as it was when this SVID was minted */
	struct x509svid *x509; /* DER chain and PKCS#8 key, as the Workload API sends them */
	time_t minted_at;
	time_t renew_at; /* half-way between minted_at and the leaf's notAfter */
	uint64_t serial; /* unique per mint in this cache */
	int refs;	 /* private */
};

struct svid_cache_opts {
	/* Cap on every X.509-SVID's lifetime in seconds (0: the entry's TTL). */
	int64_t x509_ttl_max;
	/* Tests: no thread; events and renewals run in svid_cache_run(). */
	bool manual;
};

/* Borrowed: must outlive the cache. */
struct svid_cache_deps {
	struct ca *ca;
	struct matcher *matcher;
	struct proctable *pt;
};

/*
 * Starts the cache and its thread, which first reads every process in the
 * table (so processes that appeared before the cache are served too).
 * 0, -EINVAL, -ENOMEM or -errno of pthread_create.
 */
int svid_cache_new(const struct svid_cache_opts *opts, const struct svid_cache_deps *deps,
		   struct svid_cache **ret);
/* Stops the thread and frees every SVID not held by a reader; NULL is a no-op. */
void svid_cache_free(struct svid_cache *c);

/*
 * Told after an entry's SVID was installed, replaced or dropped (entry_id
 * may no longer exist).  Runs on the cache's thread (or a reader's, after a
 * mint on a miss) without the cache's lock: it may call svid_cache_get, but
 * it should only queue work.  Setting NULL waits for a running call to end.
 */
typedef void (*svid_cache_listener_fn)(void *arg, const char *entry_id);
void svid_cache_set_listener(struct svid_cache *c, svid_cache_listener_fn fn, void *arg);

/*
 * From the process table's changed hook: queues only, never blocks on the
 * table.  If too many events pile up, the thread rereads the whole table.
 */
void svid_cache_process_changed(struct svid_cache *c, uint32_t tgid, uint64_t start_ticks,
				bool gone);
/*
 * For the registry: entry id was created, updated or deleted (in the
 * matcher already).  Its SVID is minted anew or dropped on the cache's
 * thread, and the listener told.
 */
void svid_cache_entry_changed(struct svid_cache *c, const char *id);
/* Mints every cached SVID anew (e.g. after the CA changed) and drops the unneeded. */
void svid_cache_invalidate(struct svid_cache *c);

/*
 * The SVID of entry id, with a reference (svid_cached_unref it).  If none
 * is cached yet and a mint is in progress, waits for it; with mint_on_miss
 * it mints one itself (logged at debug: the cache should have been warm).
 * -ENOENT: no such entry (deleted), or nothing cached and !mint_on_miss;
 * otherwise 0 or the error of x509svid_mint.
 */
int svid_cache_get(struct svid_cache *c, const char *id, bool mint_on_miss,
		   struct svid_cached **ret);
struct svid_cached *svid_cached_ref(struct svid_cached *s);
void svid_cached_unref(struct svid_cached *s);

struct svid_cache_stats {
	size_t entries;	   /* SVIDs cached now */
	size_t demanded;   /* entries some live process matches */
	uint64_t mints;	   /* every mint, renewals included */
	uint64_t renewals; /* mints that replaced an SVID at its renewal time */
	uint64_t misses;   /* mints on the request path (svid_cache_get with mint_on_miss) */
	uint64_t drops;	   /* SVIDs dropped: entry deleted or no longer needed */
	uint64_t failures; /* failed mints */
	uint64_t resyncs;  /* full rereads of the table after the queue overflowed */
};
void svid_cache_stats(struct svid_cache *c, struct svid_cache_stats *ret);

/*
 * Manual mode (tests): handles the queued events and what is due as of now
 * (0: time(NULL)).  Returns how many SVIDs were minted.
 */
int svid_cache_run(struct svid_cache *c, time_t now);
/* The earliest renewal or drop time, or 0 if nothing is cached. */
time_t svid_cache_next_due(struct svid_cache *c);

#endif
