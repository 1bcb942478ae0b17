// SPDX-License-Identifier: Apache-2.0
/*
 * Registry: the store is the truth, the matcher its index in memory.  A
 * write lock serializes writers so the two never disagree; readers
 * (matching) only take the matcher's own lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "proctable_hooks.h"
#include "registry.h"

#define MAX_LISTENERS 4

struct registry {
	pthread_mutex_t write_lock;
	struct store *store;
	struct matcher *matcher;
	struct proctable *pt;
	char *trust_domain;
	struct entry_limits limits;
	struct {
		registry_listener_fn fn;
		void *ctx;
	} listeners[MAX_LISTENERS];
	size_t nlisteners;
};

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
	q = store_open(opts->store_url, &r->store);
	if (q < 0) {
		snprintf(err, errlen, "cannot open store %s: %s", opts->store_url, strerror(-q));
		goto fail;
	}
	q = matcher_new(&r->matcher);
	if (q == 0)
		q = store_entry_list(r->store, NULL, &v, &n);
	if (q == 0)
		q = matcher_reserve(r->matcher, n);
	for (size_t i = 0; q == 0 && i < n; i++)
		q = matcher_add(r->matcher, v[i]);
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
	if (!r)
		return;
	matcher_free(r->matcher);
	store_close(r->store);
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
	if (q == 0 && (q = matcher_add(r->matcher, e)) < 0)
		/* Durable but not matched: say so; a restart loads it. */
		snprintf(err, errlen, "stored but not indexed: %s", strerror(-q));
	pthread_mutex_unlock(&r->write_lock);
	if (q < 0)
		return q;
	log_info("\"entry created\" id=%s spiffe_id=%s selectors=%zu", e->id, e->spiffe_id,
		 e->nselectors);
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
		int a = matcher_add(r->matcher, v[i]);

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
		notify(r, REGISTRY_CREATED, v[i]);
	return 0;
}

int registry_update(struct registry *r, const char *id, struct entry *e, char *err,
		    size_t errlen)
{
	struct entry *old = NULL;
	int q;

	if (!entry_id_valid(id)) {
		snprintf(err, errlen, "not an entry id: '%s'", id);
		return -EINVAL;
	}
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
		if (q == 0)
			q = matcher_update(r->matcher, now, &old);
		if (q == 0) {
			e->revision = now->revision;
			e->created_at = now->created_at;
		} else {
			snprintf(err, errlen, "stored but not indexed: %s", strerror(-q));
		}
		entry_free(now);
	}
	pthread_mutex_unlock(&r->write_lock);
	entry_free(old);
	if (q < 0)
		return q;
	log_info("\"entry updated\" id=%s spiffe_id=%s revision=%lld", id, e->spiffe_id,
		 (long long)e->revision);
	reevaluate(r);
	notify(r, REGISTRY_UPDATED, e);
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
	if (q == 0 && matcher_remove(r->matcher, id, &old) < 0)
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
