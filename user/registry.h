/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry: registration entries as the rest of attestd sees them.
 * Writes go to the store first (durable before acknowledged), then to the
 * in-memory matcher, then every tracked process is re-evaluated so the
 * identities it holds follow the entries at once.  Listeners (the SVID
 * cache) hear which entry changed.
 */
#ifndef ATTESTD_REGISTRY_H
#define ATTESTD_REGISTRY_H

#include <stddef.h>
#include "entry.h"
#include "matcher.h"
#include "proctable.h"
#include "selectors.h"
#include "store.h"

struct registry;

struct registry_opts {
	const char *store_url;
	const char *trust_domain;
	const struct entry_limits *limits; /* NULL: entry_limits_default */
};

enum registry_change {
	REGISTRY_CREATED,
	REGISTRY_UPDATED,
	REGISTRY_DELETED,
};

/* Called after a write is durable and matched; e is the new entry (the old one on delete). */
typedef void (*registry_listener_fn)(void *ctx, enum registry_change what, const struct entry *e);

/* Opens the store and loads every entry into the matcher. */
int registry_open(const struct registry_opts *opts, struct registry **ret, char *err,
		  size_t errlen);
void registry_close(struct registry *r);
/* The process table to re-evaluate after a change; may be set after open. */
void registry_set_proctable(struct registry *r, struct proctable *pt);
int registry_add_listener(struct registry *r, registry_listener_fn fn, void *ctx);

struct matcher *registry_matcher(struct registry *r);
struct store *registry_store(struct registry *r);
size_t registry_count(struct registry *r);

/* For the process table's match hook: appends matching entry ids and SPIFFE IDs. */
int registry_match(struct registry *r, const char *const *sel, size_t n, struct strv *entry_ids,
		   struct strv *spiffe_ids);

/*
 * Validates (err says why: -EINVAL), refuses duplicates (-EEXIST), stores
 * durably, matches.  e is normalized in place and gets its id, revision
 * and created_at.
 */
int registry_create(struct registry *r, struct entry *e, char *err, size_t errlen);
/* All or nothing; *ret_failed is the index of the entry that was refused. */
int registry_create_batch(struct registry *r, struct entry *const *v, size_t n,
			  size_t *ret_failed, char *err, size_t errlen);
/* Replaces entry id's fields with e's (e->id is set to id); bumps its revision. */
int registry_update(struct registry *r, const char *id, struct entry *e, char *err,
		    size_t errlen);
int registry_delete(struct registry *r, const char *id);

#endif
