/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How the process table reaches the stages around it without knowing them:
 * the digest cache (for unix:sha256) and the matcher (selectors to SPIFFE
 * IDs).  Both are called with the table's write lock held, so they must not
 * call back into the table.
 */
#ifndef ATTESTD_PROCTABLE_HOOKS_H
#define ATTESTD_PROCTABLE_HOOKS_H

#include <stdbool.h>
#include "proctable.h"
#include "selectors.h"

struct proctable_hooks {
	void *ctx;
	/* 0 and the hex digest of st's executable if known; else -EAGAIN (queued). */
	int (*digest)(void *ctx, const struct proc_state *st, char hex[65]);
	/* Appends the matching entries' ids and SPIFFE IDs (any order, dups ok). */
	int (*match)(void *ctx, const char *const *sel, size_t n, struct strv *entry_ids,
		     struct strv *spiffe_ids);
	/*
	 * A process's matching entries changed, or it exited (gone), or its PID
	 * now names a new process (gone for the old one).  For the Workload API
	 * to update or end its streams; called with the write lock held.
	 */
	void (*changed)(void *ctx, uint32_t tgid, uint64_t start_ticks, bool gone);
};

void proctable_set_hooks(struct proctable *pt, const struct proctable_hooks *hooks);
struct meta_cache;
/* Container and pod metadata the derivers may read (meta_cache.h); NULL: none. */
void proctable_set_meta(struct proctable *pt, struct meta_cache *meta);
/* Rederives the processes pred selects (all when pred is NULL). */
int proctable_rederive(struct proctable *pt, bool (*pred)(void *arg, const struct proc_state *st),
		       void *arg);
/* Calls fn for every process under the read lock; fn must not call the table. */
int proctable_for_each(struct proctable *pt,
		       void (*fn)(void *arg, const struct proc_state *st, uint64_t ticks), void *arg);

#endif
