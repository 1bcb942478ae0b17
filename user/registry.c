// SPDX-License-Identifier: Apache-2.0
/*
 * Registry: the store is the truth, the matcher its index in memory.  A
 * write lock serializes writers so the two never disagree; readers
 * (matching) only take the matcher's own lock.  Changes from other nodes
 * arrive on the store's watcher thread and take the same write lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "log.h"
#include "proctable_hooks.h"
#include "registry.h"
#include "strmap.h"

#define MAX_LISTENERS 4

/* What the matcher holds, for a watched store: a resync must find what is gone. */
struct known {
	uint64_t revision;
	int64_t created_at;
	char id[ENTRY_ID_LEN + 1];
};

struct registry {
	pthread_mutex_t write_lock;
	struct store *store;
	struct matcher *matcher;
	struct proctable *pt;
	char *trust_domain;
	char *node_id; /* NULL: no node scoping */
	size_t node_prefix_len; /* of node_id, up to and including "/attestd/node/" */
	struct strmap *known; /* id -> struct known; only with a store that can be watched */
	struct entry_limits limits;
	struct {
		registry_listener_fn fn;
		void *ctx;
	} listeners[MAX_LISTENERS];
	size_t nlisteners;
};

bool registry_applies(struct registry *r, const struct entry *e)
{
	const char *parent = e->parent_id ? e->parent_id : "";

	if (!r->node_id || strncmp(parent, r->node_id, r->node_prefix_len) != 0)
		return true;
	return strcmp(parent, r->node_id) == 0;
}

/*
 * Adds e to the matcher or replaces the entry with its id; *ret_old gets
 * the replaced one (NULL if e is new here).  Write lock held.
 */
static int index_put(struct registry *r, const struct entry *e, struct entry **ret_old)
{
	struct known *k = NULL, *fresh = NULL;
	int q;

	*ret_old = NULL;
	if (r->known && !(k = strmap_get(r->known, e->id))) {
		fresh = k = calloc(1, sizeof(*k));
		if (!k)
			return -ENOMEM;
		snprintf(k->id, sizeof(k->id), "%s", e->id);
		q = strmap_put(r->known, k->id, k);
		if (q < 0) {
			free(k);
			return q;
		}
	}
	q = matcher_update(r->matcher, e, ret_old);
	if (q == -ENOENT)
		q = matcher_add(r->matcher, e);
	if (q < 0) {
		if (fresh)
			free(strmap_remove(r->known, fresh->id));
		return q;
	}
	if (k) {
		k->revision = e->revision;
		k->created_at = e->created_at;
	}
	return 0;
}

/* Takes entry id out of the matcher; -ENOENT if it was not there.  Write lock held. */
static int index_drop(struct registry *r, const char *id, struct entry **ret_old)
{
	if (r->known)
		free(strmap_remove(r->known, id));
	return matcher_remove(r->matcher, id, ret_old);
}

int registry_open(const struct registry_opts *opts, struct registry **ret, char *err,
		  size_t errlen)
{
	struct registry *r = calloc(1, sizeof(*r));
	struct entry **v = NULL;
	size_t n = 0;
	int q;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->write_lock, NULL);
	r->limits = opts->limits ? *opts->limits : entry_limits_default;
	r->trust_domain = strdup(opts->trust_domain);
	if (!r->trust_domain) {
		q = -ENOMEM;
		goto fail;
	}
	if (opts->node_name && *opts->node_name) {
		if (asprintf(&r->node_id, "spiffe://%s/attestd/node/%s", opts->trust_domain,
			     opts->node_name) < 0) {
			r->node_id = NULL;
			q = -ENOMEM;
			goto fail;
		}
		r->node_prefix_len = strlen(r->node_id) - strlen(opts->node_name);
	}
	q = store_open(opts->store_url, &r->store);
	if (q < 0) {
		snprintf(err, errlen, "cannot open store %s: %s", opts->store_url, strerror(-q));
		goto fail;
	}
	q = matcher_new(&r->matcher);
	if (q == 0 && store_can_watch(r->store))
		q = strmap_new(&r->known);
	if (q == 0)
		q = store_entry_list(r->store, NULL, &v, &n);
	if (q == 0)
		q = matcher_reserve(r->matcher, n);
	if (q == 0 && r->known)
		q = strmap_reserve(r->known, n);
	for (size_t i = 0; q == 0 && i < n; i++) {
		struct entry *old = NULL;

		if (registry_applies(r, v[i]))
			q = index_put(r, v[i], &old);
		entry_free(old);
	}
	entries_free(v, n);
	if (q < 0) {
		snprintf(err, errlen, "cannot load entries from %s: %s", opts->store_url,
			 strerror(-q));
		goto fail;
	}
	*ret = r;
	return 0;
fail:
	registry_close(r);
	return q;
}

void registry_close(struct registry *r)
{
	size_t pos = 0;
	const char *key;
	void *val;

	if (!r)
		return;
	/* The watcher reaches the matcher: it stops first. */
	store_unwatch(r->store);
	matcher_free(r->matcher);
	store_close(r->store);
	while (r->known && strmap_next(r->known, &pos, &key, &val))
		free(val);
	strmap_free(r->known);
	free(r->node_id);
	free(r->trust_domain);
	pthread_mutex_destroy(&r->write_lock);
	free(r);
}

void registry_set_proctable(struct registry *r, struct proctable *pt)
{
	r->pt = pt;
}

int registry_add_listener(struct registry *r, registry_listener_fn fn, void *ctx)
{
	if (r->nlisteners == MAX_LISTENERS)
		return -ENOSPC;
	r->listeners[r->nlisteners].fn = fn;
	r->listeners[r->nlisteners].ctx = ctx;
	r->nlisteners++;
	return 0;
}

struct matcher *registry_matcher(struct registry *r)
{
	return r->matcher;
}

struct store *registry_store(struct registry *r)
{
	return r->store;
}

size_t registry_count(struct registry *r)
{
	return matcher_count(r->matcher);
}

const char *registry_node_id(struct registry *r)
{
	return r->node_id;
}

struct match_out {
	struct strv *eids, *ids;
};

static int collect(const struct entry *e, void *arg)
{
	struct match_out *o = arg;
	int q = strv_push(o->eids, e->id);

	return q ? q : strv_push(o->ids, e->spiffe_id);
}

int registry_match(struct registry *r, const char *const *sel, size_t n, struct strv *entry_ids,
		   struct strv *spiffe_ids)
{
	struct match_out o = { entry_ids, spiffe_ids };
	int q = matcher_match(r->matcher, sel, n, collect, &o);

	return q < 0 ? q : 0;
}

/*
 * Re-evaluates every process.  A single entry could limit this to the
 * processes that matched it before or after, but the whole table costs
 * about a microsecond per process, and one code path is harder to get wrong.
 */
static void reevaluate(struct registry *r)
{
	int q;

	if (!r->pt)
		return;
	q = proctable_rederive(r->pt, NULL, NULL);
	if (q < 0)
		log_error("\"re-evaluating processes after an entry change failed\" error=\"%s\"",
			  strerror(-q));
}

static void notify(struct registry *r, enum registry_change what, const struct entry *e)
{
	for (size_t i = 0; i < r->nlisteners; i++)
		r->listeners[i].fn(r->listeners[i].ctx, what, e);
}

static int check(struct registry *r, const struct entry *e, char *err, size_t errlen)
{
	return entry_validate(e, r->trust_domain, &r->limits, err, errlen);
}

int registry_create(struct registry *r, struct entry *e, char *err, size_t errlen)
{
	struct entry *old = NULL;
	bool here = registry_applies(r, e);
	int q;

	q = check(r, e, err, errlen);
	if (q < 0)
		return q;
	pthread_mutex_lock(&r->write_lock);
	q = store_entry_create(r->store, e);
	if (q == -EEXIST)
		snprintf(err, errlen, "an entry with this SPIFFE ID, parent ID and selectors exists");
	else if (q < 0)
		snprintf(err, errlen, "store: %s", strerror(-q));
	if (q == 0 && here && (q = index_put(r, e, &old)) < 0)
		/* Durable but not matched: say so; a restart loads it. */
		snprintf(err, errlen, "stored but not indexed: %s", strerror(-q));
	pthread_mutex_unlock(&r->write_lock);
	entry_free(old);
	if (q < 0)
		return q;
	log_info("\"entry created\" id=%s spiffe_id=%s selectors=%zu%s", e->id, e->spiffe_id,
		 e->nselectors, here ? "" : " node=other");
	if (!here)
		return 0; /* another node's: nothing here changes */
	reevaluate(r);
	notify(r, REGISTRY_CREATED, e);
	return 0;
}

int registry_create_batch(struct registry *r, struct entry *const *v, size_t n,
			  size_t *ret_failed, char *err, size_t errlen)
{
	size_t failed = 0;
	int q = 0;

	for (size_t i = 0; i < n; i++) {
		char why[256];

		q = check(r, v[i], why, sizeof(why));
		if (q < 0) {
			*ret_failed = i;
			snprintf(err, errlen, "entry %zu: %s", i, why);
			return q;
		}
	}
	pthread_mutex_lock(&r->write_lock);
	q = store_entry_create_batch(r->store, v, n, &failed);
	if (q < 0) {
		*ret_failed = failed;
		snprintf(err, errlen, "entry %zu: %s", failed,
			 q == -EEXIST ? "duplicate of an existing entry" : strerror(-q));
	}
	for (size_t i = 0; q == 0 && i < n; i++) {
		struct entry *old = NULL;
		int a = registry_applies(r, v[i]) ? index_put(r, v[i], &old) : 0;

		entry_free(old);
		if (a < 0) {
			snprintf(err, errlen, "entry %zu stored but not indexed: %s", i,
				 strerror(-a));
			*ret_failed = i;
			q = a;
		}
	}
	pthread_mutex_unlock(&r->write_lock);
	if (q < 0)
		return q;
	log_info("\"entries created\" count=%zu", n);
	reevaluate(r);
	for (size_t i = 0; i < n; i++)
		if (registry_applies(r, v[i]))
			notify(r, REGISTRY_CREATED, v[i]);
	return 0;
}

int registry_update(struct registry *r, const char *id, struct entry *e, char *err,
		    size_t errlen)
{
	enum registry_change what = REGISTRY_UPDATED;
	bool changed_here = true;
	struct entry *old = NULL;
	char idbuf[ENTRY_ID_LEN + 1];
	int q;

	if (!entry_id_valid(id)) {
		snprintf(err, errlen, "not an entry id: '%s'", id);
		return -EINVAL;
	}
	/* A copy: id may be e->id itself, which the writes below overwrite. */
	memcpy(idbuf, id, sizeof(idbuf));
	id = idbuf;
	snprintf(e->id, sizeof(e->id), "%s", id);
	q = check(r, e, err, errlen);
	if (q < 0)
		return q;
	pthread_mutex_lock(&r->write_lock);
	q = store_entry_update(r->store, id, e);
	if (q == -ENOENT)
		snprintf(err, errlen, "no entry %s", id);
	else if (q == -EEXIST)
		snprintf(err, errlen, "an entry with this SPIFFE ID, parent ID and selectors exists");
	else if (q == -ESTALE)
		snprintf(err, errlen, "entry %s changed meanwhile (revision)", id);
	else if (q < 0)
		snprintf(err, errlen, "store: %s", strerror(-q));
	if (q == 0) {
		struct entry *now = NULL;

		/* The store set revision and created_at: index what it holds. */
		q = store_entry_get(r->store, id, &now);
		if (q == 0 && registry_applies(r, now)) {
			q = index_put(r, now, &old);
			what = old ? REGISTRY_UPDATED : REGISTRY_CREATED;
		} else if (q == 0) {
			/* Now another node's: gone from here, if it was here. */
			what = REGISTRY_DELETED;
			changed_here = index_drop(r, id, &old) == 0;
		}
		if (q == 0) {
			e->revision = now->revision;
			e->created_at = now->created_at;
		} else {
			snprintf(err, errlen, "stored but not indexed: %s", strerror(-q));
		}
		entry_free(now);
	}
	pthread_mutex_unlock(&r->write_lock);
	if (q < 0) {
		entry_free(old);
		return q;
	}
	log_info("\"entry updated\" id=%s spiffe_id=%s revision=%lld", id, e->spiffe_id,
		 (long long)e->revision);
	if (changed_here) {
		reevaluate(r);
		notify(r, what, what == REGISTRY_DELETED ? old : e);
	}
	entry_free(old);
	return 0;
}

int registry_delete(struct registry *r, const char *id)
{
	struct entry *old = NULL;
	int q;

	if (!entry_id_valid(id))
		return -EINVAL;
	pthread_mutex_lock(&r->write_lock);
	q = store_entry_delete(r->store, id);
	if (q == 0 && index_drop(r, id, &old) < 0)
		old = NULL;
	pthread_mutex_unlock(&r->write_lock);
	if (q < 0)
		return q;
	log_info("\"entry deleted\" id=%s", id);
	reevaluate(r);
	if (old)
		notify(r, REGISTRY_DELETED, old);
	entry_free(old);
	return 0;
}

/* ---- following the store (fleet mode) ---- */

struct changes {
	struct {
		enum registry_change what;
		struct entry *e;
	} *v;
	size_t n, cap;
	size_t count[3]; /* by enum registry_change */
};

static int changes_add(struct changes *ch, enum registry_change what, struct entry *e)
{
	if (ch->n == ch->cap) {
		size_t cap = ch->cap ? ch->cap * 2 : 8;
		void *v = realloc(ch->v, cap * sizeof(*ch->v));

		if (!v) {
			entry_free(e);
			return -ENOMEM;
		}
		ch->v = v;
		ch->cap = cap;
	}
	ch->v[ch->n].what = what;
	ch->v[ch->n].e = e;
	ch->n++;
	ch->count[what]++;
	return 0;
}

static void changes_free(struct changes *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		entry_free(ch->v[i].e);
	free(ch->v);
}

/*
 * Brings the matcher in line with the stored entry now (NULL: entry id is
 * gone), taking now.  An entry the matcher holds at the same revision is
 * left alone: that is how this node's own writes come back.  Write lock held.
 */
static int apply(struct registry *r, const char *eid, struct entry *now, struct changes *ch)
{
	struct known *k = strmap_get(r->known, eid);
	struct entry *old = NULL;
	char id[ENTRY_ID_LEN + 1];
	int q;

	snprintf(id, sizeof(id), "%s", eid); /* eid may be now->id, freed below */

	if (now && registry_applies(r, now)) {
		if (k && k->revision == now->revision && k->created_at == now->created_at) {
			entry_free(now);
			return 0;
		}
		q = index_put(r, now, &old);
		if (q < 0) {
			entry_free(now);
			return q;
		}
		q = changes_add(ch, old ? REGISTRY_UPDATED : REGISTRY_CREATED, now);
		entry_free(old);
		return q;
	}
	entry_free(now);
	if (!k || index_drop(r, id, &old) < 0)
		return 0;
	return changes_add(ch, REGISTRY_DELETED, old);
}

static int sync_one(struct registry *r, const char *id, struct changes *ch)
{
	struct entry *now = NULL;
	int q = store_entry_get(r->store, id, &now);

	if (q < 0 && q != -ENOENT)
		return q;
	return apply(r, id, q == 0 ? now : NULL, ch);
}

/* Everything the store holds against everything the matcher holds. */
static int sync_all(struct registry *r, struct changes *ch)
{
	struct entry **v = NULL;
	struct strmap *seen = NULL;
	char (*gone)[ENTRY_ID_LEN + 1] = NULL;
	size_t n = 0, ngone = 0, pos = 0;
	const char *key;
	void *val;
	int q;

	q = store_entry_list(r->store, NULL, &v, &n);
	if (q == 0)
		q = strmap_new(&seen);
	if (q == 0)
		q = strmap_reserve(seen, n);
	for (size_t i = 0; q == 0 && i < n; i++)
		if (registry_applies(r, v[i]))
			q = strmap_put(seen, v[i]->id, v[i]);
	if (q == 0 && strmap_count(r->known) &&
	    !(gone = calloc(strmap_count(r->known), sizeof(*gone))))
		q = -ENOMEM;
	while (q == 0 && strmap_next(r->known, &pos, &key, &val))
		if (!strmap_get(seen, key))
			memcpy(gone[ngone++], key, ENTRY_ID_LEN + 1);
	strmap_free(seen);
	for (size_t i = 0; q == 0 && i < ngone; i++)
		q = apply(r, gone[i], NULL, ch);
	for (size_t i = 0; q == 0 && i < n; i++) {
		struct entry *e = TAKE_PTR(v[i]);

		q = apply(r, e->id, e, ch);
	}
	free(gone);
	entries_free(v, n);
	return q;
}

static const char *const change_names[] = { "created", "updated", "deleted" };

/* The store's watcher thread: id changed somewhere, or (NULL) anything may have. */
static int on_store_change(void *ctx, const char *id)
{
	struct registry *r = ctx;
	struct changes ch = { 0 };
	int q;

	pthread_mutex_lock(&r->write_lock);
	q = id ? sync_one(r, id, &ch) : sync_all(r, &ch);
	pthread_mutex_unlock(&r->write_lock);
	if (id && ch.n)
		log_info("\"entry %s in the store\" id=%s spiffe_id=%s", change_names[ch.v[0].what],
			 id, ch.v[0].e->spiffe_id);
	else if (!id && q == 0)
		log_info("\"entries resynced from the store\" created=%zu updated=%zu deleted=%zu "
			 "entries=%zu",
			 ch.count[REGISTRY_CREATED], ch.count[REGISTRY_UPDATED],
			 ch.count[REGISTRY_DELETED], registry_count(r));
	if (ch.n) {
		reevaluate(r);
		for (size_t i = 0; i < ch.n; i++)
			notify(r, ch.v[i].what, ch.v[i].e);
	}
	changes_free(&ch);
	return q;
}

int registry_watch(struct registry *r)
{
	if (!r->known)
		return 0; /* only this process writes the store: every change is seen here */
	return store_watch(r->store, on_store_change, r);
}

void registry_unwatch(struct registry *r)
{
	if (r)
		store_unwatch(r->store);
}
