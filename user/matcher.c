// SPDX-License-Identifier: Apache-2.0
/*
 * The matcher's index: id -> entry, and anchor selector -> the entries
 * anchored there ("postings").  Each entry sits in exactly one posting
 * list, so a match visits an entry at most once and needs no per-entry
 * hit counters, which keeps matching read-only and lets matches share a
 * read lock.  The price is a subset check per visited entry: a merge of
 * two sorted lists, O(entry selectors + process selectors).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "matcher.h"
#include "strmap.h"

struct posting;

struct mentry {
	struct entry *e;
	struct posting *anchor;
	size_t anchor_pos; /* index in anchor->v, for O(1) removal */
};

struct posting {
	char *selector; /* the key in by_selector */
	struct mentry **v;
	size_t n, cap;
};

struct matcher {
	pthread_rwlock_t lock;
	struct strmap *by_id; /* entry id -> struct mentry */
	struct strmap *by_selector; /* anchor selector -> struct posting */
};

static bool is_sorted(const char *const *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) > 0)
			return false;
	return true;
}

static bool contains(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* need[0..k) all among have[0..n); sorted says both are sorted. */
static bool subset(char *const *need, size_t k, const char *const *have, size_t n, bool sorted)
{
	size_t j = 0;

	if (k == 0)
		return false;
	if (!sorted) {
		for (size_t i = 0; i < k; i++)
			if (!contains(have, n, need[i]))
				return false;
		return true;
	}
	for (size_t i = 0; i < k; i++) {
		int c = 1;

		while (j < n && (c = strcmp(have[j], need[i])) < 0)
			j++;
		if (j == n || c != 0)
			return false;
	}
	return true;
}

bool matcher_entry_matches(const struct entry *e, const char *const *selectors, size_t n)
{
	bool sorted = is_sorted((const char *const *)e->selectors, e->nselectors) &&
		      is_sorted(selectors, n);

	return subset(e->selectors, e->nselectors, selectors, n, sorted);
}

int matcher_new(struct matcher **ret)
{
	struct matcher *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = pthread_rwlock_init(&m->lock, NULL);
	if (r) {
		free(m);
		return -r;
	}
	if ((r = strmap_new(&m->by_id)) || (r = strmap_new(&m->by_selector))) {
		matcher_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

static void posting_free(struct posting *p)
{
	free(p->selector);
	free(p->v);
	free(p);
}

void matcher_free(struct matcher *m)
{
	size_t pos = 0;
	void *v;

	if (!m)
		return;
	if (m->by_id) {
		while (strmap_next(m->by_id, &pos, NULL, &v)) {
			entry_free(((struct mentry *)v)->e);
			free(v);
		}
		strmap_free(m->by_id);
	}
	if (m->by_selector) {
		pos = 0;
		while (strmap_next(m->by_selector, &pos, NULL, &v))
			posting_free(v);
		strmap_free(m->by_selector);
	}
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

size_t matcher_count(struct matcher *m)
{
	size_t n;

	pthread_rwlock_rdlock(&m->lock);
	n = strmap_count(m->by_id);
	pthread_rwlock_unlock(&m->lock);
	return n;
}

int matcher_reserve(struct matcher *m, size_t n)
{
	int r;

	pthread_rwlock_wrlock(&m->lock);
	r = strmap_reserve(m->by_id, n);
	if (!r)
		r = strmap_reserve(m->by_selector, n);
	pthread_rwlock_unlock(&m->lock);
	return r;
}

/*
 * Picks e's anchor and makes sure its posting has room for one more, so
 * that linking cannot fail afterwards.  Creates the posting if needed.
 */
static int prepare_anchor(struct matcher *m, const struct entry *e, struct posting **ret)
{
	struct posting *best = NULL, *p;
	const char *best_sel = NULL;
	int r;

	for (size_t i = 0; i < e->nselectors; i++) {
		p = strmap_get(m->by_selector, e->selectors[i]);
		if (!p) {
			best = NULL;
			best_sel = e->selectors[i];
			break; /* nobody anchored here yet: as good as it gets */
		}
		if (!best || p->n < best->n) {
			best = p;
			best_sel = e->selectors[i];
		}
	}
	if (!best) {
		best = calloc(1, sizeof(*best));
		if (!best)
			return -ENOMEM;
		best->selector = strdup(best_sel);
		if (!best->selector) {
			free(best);
			return -ENOMEM;
		}
		r = strmap_put(m->by_selector, best->selector, best);
		if (r) {
			posting_free(best);
			return r;
		}
	}
	if (best->n == best->cap) {
		size_t cap = best->cap ? best->cap * 2 : 2;
		struct mentry **v = realloc(best->v, cap * sizeof(*v));

		if (!v) {
			if (best->n == 0) {
				strmap_remove(m->by_selector, best->selector);
				posting_free(best);
			}
			return -ENOMEM;
		}
		best->v = v;
		best->cap = cap;
	}
	*ret = best;
	return 0;
}

static void link_anchor(struct mentry *me, struct posting *p)
{
	me->anchor = p;
	me->anchor_pos = p->n;
	p->v[p->n++] = me;
}

static void unlink_anchor(struct matcher *m, struct mentry *me)
{
	struct posting *p = me->anchor;
	struct mentry *last = p->v[--p->n];

	/* Swap with the last so removal is O(1); the moved one learns its new place. */
	p->v[me->anchor_pos] = last;
	last->anchor_pos = me->anchor_pos;
	me->anchor = NULL;
	if (p->n == 0) {
		strmap_remove(m->by_selector, p->selector);
		posting_free(p);
	}
}

static int mentry_new(const struct entry *e, struct mentry **ret)
{
	struct mentry *me;
	int r;

	if (!e->id[0] || e->nselectors == 0)
		return -EINVAL;
	me = calloc(1, sizeof(*me));
	if (!me)
		return -ENOMEM;
	r = entry_dup(e, &me->e);
	if (r) {
		free(me);
		return r;
	}
	/* The subset check's merge relies on sorted, unique selectors. */
	entry_normalize(me->e);
	*ret = me;
	return 0;
}

static void mentry_free(struct mentry *me)
{
	if (!me)
		return;
	entry_free(me->e);
	free(me);
}

int matcher_add(struct matcher *m, const struct entry *e)
{
	struct mentry *me;
	struct posting *p;
	int r;

	r = mentry_new(e, &me);
	if (r)
		return r;
	pthread_rwlock_wrlock(&m->lock);
	if (strmap_get(m->by_id, me->e->id)) {
		r = -EEXIST;
		goto fail;
	}
	/* Room in by_id first: once the anchor is linked nothing may fail. */
	r = strmap_reserve(m->by_id, strmap_count(m->by_id) + 1);
	if (r)
		goto fail;
	r = prepare_anchor(m, me->e, &p);
	if (r)
		goto fail;
	link_anchor(me, p);
	r = strmap_put(m->by_id, me->e->id, me);
	pthread_rwlock_unlock(&m->lock);
	return r;
fail:
	pthread_rwlock_unlock(&m->lock);
	mentry_free(me);
	return r;
}

static void hand_over(struct mentry *old, struct entry **ret_old)
{
	if (ret_old) {
		*ret_old = old->e;
		old->e = NULL;
	}
	mentry_free(old);
}

int matcher_remove(struct matcher *m, const char *id, struct entry **ret_old)
{
	struct mentry *old;

	pthread_rwlock_wrlock(&m->lock);
	old = strmap_remove(m->by_id, id);
	if (old)
		unlink_anchor(m, old);
	pthread_rwlock_unlock(&m->lock);
	if (!old)
		return -ENOENT;
	hand_over(old, ret_old);
	return 0;
}

int matcher_update(struct matcher *m, const struct entry *e, struct entry **ret_old)
{
	struct mentry *me, *old;
	struct posting *p;
	int r;

	r = mentry_new(e, &me);
	if (r)
		return r;
	pthread_rwlock_wrlock(&m->lock);
	old = strmap_get(m->by_id, me->e->id);
	if (!old) {
		r = -ENOENT;
		goto fail;
	}
	r = prepare_anchor(m, me->e, &p);
	if (r)
		goto fail;
	/*
	 * From here nothing fails.  p has room for me; linking me before
	 * unlinking old keeps p alive when old was its only member.  by_id's
	 * key must change (it points into the old entry), and putting it back
	 * into the slot count just given up cannot need a rehash.
	 */
	link_anchor(me, p);
	unlink_anchor(m, old);
	strmap_remove(m->by_id, old->e->id);
	r = strmap_put(m->by_id, me->e->id, me);
	pthread_rwlock_unlock(&m->lock);
	hand_over(old, ret_old);
	return r;
fail:
	pthread_rwlock_unlock(&m->lock);
	mentry_free(me);
	return r;
}

int matcher_get(struct matcher *m, const char *id, struct entry **ret)
{
	struct mentry *me;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&m->lock);
	me = strmap_get(m->by_id, id);
	if (me)
		r = entry_dup(me->e, ret);
	pthread_rwlock_unlock(&m->lock);
	return r;
}

int matcher_match(struct matcher *m, const char *const *selectors, size_t n, matcher_fn fn,
		  void *arg)
{
	bool sorted = is_sorted(selectors, n);
	int count = 0, r;

	pthread_rwlock_rdlock(&m->lock);
	for (size_t i = 0; i < n; i++) {
		struct posting *p = strmap_get(m->by_selector, selectors[i]);

		if (!p)
			continue;
		/* A repeated selector would visit its posting twice. */
		if (sorted ? i > 0 && strcmp(selectors[i - 1], selectors[i]) == 0 :
			     contains(selectors, i, selectors[i]))
			continue;
		for (size_t j = 0; j < p->n; j++) {
			const struct entry *e = p->v[j]->e;

			if (!subset(e->selectors, e->nselectors, selectors, n, sorted))
				continue;
			count++;
			if (fn && (r = fn(e, arg)) != 0) {
				count = r < 0 ? r : count;
				goto out;
			}
		}
	}
out:
	pthread_rwlock_unlock(&m->lock);
	return count;
}

struct idlist {
	char **v;
	size_t n, cap;
};

static int collect_id(const struct entry *e, void *arg)
{
	struct idlist *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(e->spiffe_id);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int matcher_match_spiffe_ids(struct matcher *m, const char *const *selectors, size_t n,
			     char ***ret, size_t *ret_n)
{
	struct idlist l = { 0 };
	size_t out = 0;
	int r;

	r = matcher_match(m, selectors, n, collect_id, &l);
	if (r < 0) {
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		return r;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	for (size_t i = 0; i < l.n; i++) {
		if (out && strcmp(l.v[out - 1], l.v[i]) == 0) {
			free(l.v[i]);
			continue;
		}
		l.v[out++] = l.v[i];
	}
	*ret = out ? l.v : NULL;
	if (!out)
		free(l.v);
	*ret_n = out;
	return 0;
}
