/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry: registration entries as the rest of attestd sees them.
 * Writes go to the store first (durable before acknowledged), then to the
 * in-memory matcher, then every tracked process is re-evaluated so the
 * identities it holds follow the entries at once.  Listeners (the SVID
 * cache) hear which entry changed.
 *
 * Fleet mode: with a node name, this node's ID is
 * spiffe://<trust domain>/attestd/node/<name>, and an entry whose parent_id
 * is some node's ID applies only on that node: it is stored from any node
 * but matched only there.  Every other entry (an empty parent_id, or one
 * that names no node) applies everywhere.  With a store that other nodes
 * write too (PostgreSQL), registry_watch() follows their changes into the
 * matcher, and a full resync after every reconnect catches up on what was
 * missed; while the database is away, the entries loaded stay in force.
 */
#ifndef ATTESTD_REGISTRY_H
#define ATTESTD_REGISTRY_H

#include <stdbool.h>
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
	const char *node_name; /* NULL or "": no node scoping, every entry applies */
};

enum registry_change {
	REGISTRY_CREATED,
	REGISTRY_UPDATED,
	REGISTRY_DELETED,
};

/*
 * Called after a write is durable and matched; e is the new entry (the old one on delete).
 * The events are this node's view: an entry that stops applying here is DELETED, one that
 * starts to is CREATED, one for another node is not reported.  Changes other nodes make
 * are reported from the store's watcher thread.
 */
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
/* This node's SPIFFE ID, or NULL without a node name. */
const char *registry_node_id(struct registry *r);
/* Whether e applies on this node (see above). */
bool registry_applies(struct registry *r, const struct entry *e);

/*
 * Follows the changes other writers make to the store (store_watch()):
 * each one is matched and the processes re-evaluated within about a
 * second; a reconnect is followed by a full resync.  0 for a store only
 * this process writes (SQLite: nothing to follow).  Call it once the
 * listeners are added, and registry_unwatch() before tearing down what
 * they or the process table reach.
 */
int registry_watch(struct registry *r);
void registry_unwatch(struct registry *r);

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
