// SPDX-License-Identifier: Apache-2.0
/*
 * The process table.  A chained hash on tgid; each entry holds the latest
 * kernel record, the lineage inherited at fork, the derived selectors and
 * the SPIFFE IDs they match.  Selectors are derived on every change (exec,
 * fork, cgroup move, digest ready), never on the request path.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "namecache.h"
#include "proctable.h"
#include "proctable_hooks.h"
#include "selectors.h"

#define LINEAGE_MAX 16

struct pentry {
	struct pentry *next;
	struct proc_state st;
	uint64_t ticks;
	char **lineage;
	size_t nlineage;
	char **sel;
	size_t nsel;
	char **ids;
	size_t nids;
	char **eids;
	size_t neids;
	uint64_t generation;
	bool pending; /* facts in, selectors not derived yet (a fresh fork) */
};

/* Forked records waiting for their derivation, oldest first. */
struct pending {
	uint32_t tgid;
	uint64_t ticks;
	uint64_t since_ns; /* CLOCK_MONOTONIC */
};

struct proctable {
	pthread_rwlock_t lock;
	struct pentry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	struct proctable_hooks hooks;
	struct namecache *names;
	struct meta_cache *meta; /* container metadata for the derivers, or NULL */
	struct pending *pend; /* ring of npend_cap */
	size_t pend_head, npend, npend_cap;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint64_t proc_ns_to_ticks(uint64_t ns)
{
	static long hz;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	return ns / (1000000000ULL / (uint64_t)hz);
}

int proctable_new(struct proctable **ret)
{
	struct proctable *pt = calloc(1, sizeof(*pt));

	if (!pt)
		return -ENOMEM;
	pt->nbuckets = 1024;
	pt->buckets = calloc(pt->nbuckets, sizeof(*pt->buckets));
	if (!pt->buckets || namecache_new(&pt->names) < 0) {
		free(pt->buckets);
		free(pt);
		return -ENOMEM;
	}
	pthread_rwlock_init(&pt->lock, NULL);
	*ret = pt;
	return 0;
}

void proctable_set_meta(struct proctable *pt, struct meta_cache *meta)
{
	pthread_rwlock_wrlock(&pt->lock);
	pt->meta = meta;
	pthread_rwlock_unlock(&pt->lock);
}

void proctable_set_hooks(struct proctable *pt, const struct proctable_hooks *hooks)
{
	pthread_rwlock_wrlock(&pt->lock);
	pt->hooks = *hooks;
	pthread_rwlock_unlock(&pt->lock);
}

static void pentry_free(struct pentry *e)
{
	strv_free_array(e->lineage, e->nlineage);
	strv_free_array(e->sel, e->nsel);
	strv_free_array(e->ids, e->nids);
	strv_free_array(e->eids, e->neids);
	free(e);
}

void proctable_free(struct proctable *pt)
{
	if (!pt)
		return;
	for (size_t i = 0; i < pt->nbuckets; i++) {
		struct pentry *e = pt->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			pentry_free(e);
		}
	}
	free(pt->buckets);
	free(pt->pend);
	namecache_free(pt->names);
	pthread_rwlock_destroy(&pt->lock);
	free(pt);
}

static size_t bucket_of(const struct proctable *pt, uint32_t tgid)
{
	return (tgid * 2654435761U) & (pt->nbuckets - 1);
}

static struct pentry **find_slot(struct proctable *pt, uint32_t tgid)
{
	struct pentry **pp = &pt->buckets[bucket_of(pt, tgid)];

	while (*pp && (*pp)->st.tgid != tgid)
		pp = &(*pp)->next;
	return pp;
}

static void grow(struct proctable *pt)
{
	size_t nb = pt->nbuckets * 2;
	struct pentry **b = calloc(nb, sizeof(*b));

	if (!b)
		return; /* chains get longer; still correct */
	for (size_t i = 0; i < pt->nbuckets; i++) {
		struct pentry *e = pt->buckets[i], *next;

		for (; e; e = next) {
			size_t j = (e->st.tgid * 2654435761U) & (nb - 1);

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	free(pt->buckets);
	pt->buckets = b;
	pt->nbuckets = nb;
}

/* The child inherits its parent's lineage plus the parent's own executable. */
static int inherit_lineage(struct proctable *pt, struct pentry *e)
{
	struct pentry *p = *find_slot(pt, e->st.ppid);
	struct strv sv = { 0 };
	int r = 0;

	if (!p || e->st.ppid == e->st.tgid)
		return 0;
	if (e->st.parent_start_ns && p->ticks != proc_ns_to_ticks(e->st.parent_start_ns))
		return 0; /* the parent's PID now names another process */
	if (p->st.exe[0] == '/' &&
	    !(p->st.flags & (PROC_F_EXE_TRUNCATED | PROC_F_EXE_DELETED | PROC_F_NO_EXE)))
		r = strv_push(&sv, p->st.exe);
	for (size_t i = 0; r == 0 && i < p->nlineage && sv.n < LINEAGE_MAX; i++) {
		bool seen = false;

		for (size_t j = 0; j < sv.n; j++)
			seen |= strcmp(sv.v[j], p->lineage[i]) == 0;
		if (!seen)
			r = strv_push(&sv, p->lineage[i]);
	}
	if (r < 0) {
		strv_free(&sv);
		return r;
	}
	e->lineage = sv.v;
	e->nlineage = sv.n;
	return 0;
}

static bool same_strs(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static void notify(struct proctable *pt, const struct pentry *e, bool gone)
{
	if (pt->hooks.changed)
		pt->hooks.changed(pt->hooks.ctx, e->st.tgid, e->ticks, gone);
}

/* Rederives e's selectors and identities. Called with the write lock held. */
static int rederive(struct proctable *pt, struct pentry *e)
{
	char digest[65];
	struct selector_input in = {
		.st = &e->st,
		.lineage = (const char *const *)e->lineage,
		.nlineage = e->nlineage,
		.names = pt->names,
		.meta = pt->meta,
	};
	struct strv sel = { 0 }, ids = { 0 }, eids = { 0 };
	bool changed;
	int r;

	if (pt->hooks.digest && pt->hooks.digest(pt->hooks.ctx, &e->st, digest) == 0)
		in.sha256 = digest;
	r = selectors_derive(&in, &sel);
	if (r < 0)
		return r;
	if (pt->hooks.match) {
		r = pt->hooks.match(pt->hooks.ctx, (const char *const *)sel.v, sel.n, &eids, &ids);
		if (r < 0) {
			strv_free(&sel);
			strv_free(&ids);
			strv_free(&eids);
			return r;
		}
		strv_sort_unique(&ids);
		strv_sort_unique(&eids);
	}
	e->pending = false;
	changed = !same_strs(e->eids, e->neids, eids.v, eids.n);
	strv_free_array(e->sel, e->nsel);
	strv_free_array(e->ids, e->nids);
	strv_free_array(e->eids, e->neids);
	e->sel = sel.v;
	e->nsel = sel.n;
	e->ids = ids.v;
	e->nids = ids.n;
	e->eids = eids.v;
	e->neids = eids.n;
	/* Selectors changed too (exec, setuid): streams re-check on any update. */
	e->generation++;
	if (changed || e->neids)
		notify(pt, e, false);
	return 0;
}

/* Queues e for proctable_derive_pending(); full queue: derive now. */
static int defer(struct proctable *pt, struct pentry *e)
{
	if (pt->npend == pt->npend_cap) {
		size_t cap = pt->npend_cap ? pt->npend_cap * 2 : 256;
		struct pending *v;

		if (cap > 65536)
			return rederive(pt, e);
		v = calloc(cap, sizeof(*v));
		if (!v)
			return rederive(pt, e);
		for (size_t i = 0; i < pt->npend; i++)
			v[i] = pt->pend[(pt->pend_head + i) % pt->npend_cap];
		free(pt->pend);
		pt->pend = v;
		pt->pend_head = 0;
		pt->npend_cap = cap;
	}
	pt->pend[(pt->pend_head + pt->npend) % pt->npend_cap] =
		(struct pending){ e->st.tgid, e->ticks, mono_ns() };
	pt->npend++;
	e->pending = true;
	return 0;
}

int proctable_upsert(struct proctable *pt, const struct proc_state *st)
{
	return proctable_upsert_flags(pt, st, 0);
}

int proctable_upsert_flags(struct proctable *pt, const struct proc_state *st, unsigned flags)
{
	uint64_t ticks = proc_ns_to_ticks(st->start_ns);
	struct pentry **pp, *e;
	bool fresh = false;
	int r;

	pthread_rwlock_wrlock(&pt->lock);
	pp = find_slot(pt, st->tgid);
	e = *pp;
	if (e && e->ticks != ticks) {
		/* Same PID, another process: nothing of the old one survives. */
		*pp = e->next;
		notify(pt, e, true);
		pentry_free(e);
		pt->count--;
		e = NULL;
	}
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_rwlock_unlock(&pt->lock);
			return -ENOMEM;
		}
		fresh = true;
	}
	e->st = *st;
	e->ticks = ticks;
	if (fresh) {
		/* Lineage now: the parent may exec before the deferred derivation. */
		r = inherit_lineage(pt, e);
		if (r == 0)
			r = (flags & PROCTABLE_DEFER) ? defer(pt, e) : rederive(pt, e);
		if (r < 0) {
			pentry_free(e);
			pthread_rwlock_unlock(&pt->lock);
			return r;
		}
		pp = find_slot(pt, st->tgid);
		e->next = *pp;
		*pp = e;
		if (++pt->count > pt->nbuckets)
			grow(pt);
	} else {
		r = rederive(pt, e);
	}
	pthread_rwlock_unlock(&pt->lock);
	return r;
}

int proctable_remove(struct proctable *pt, uint32_t tgid, uint64_t start_ns)
{
	struct pentry **pp, *e;
	int r = -ENOENT;

	pthread_rwlock_wrlock(&pt->lock);
	pp = find_slot(pt, tgid);
	e = *pp;
	if (e && e->ticks == proc_ns_to_ticks(start_ns)) {
		*pp = e->next;
		notify(pt, e, true);
		pentry_free(e);
		pt->count--;
		r = 0;
	}
	pthread_rwlock_unlock(&pt->lock);
	return r;
}

size_t proctable_count(struct proctable *pt)
{
	size_t n;

	pthread_rwlock_rdlock(&pt->lock);
	n = pt->count;
	pthread_rwlock_unlock(&pt->lock);
	return n;
}

static int dup_strs(char **src, size_t n, char ***ret)
{
	char **v;

	*ret = NULL;
	if (!n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(src[i]);
		if (!v[i]) {
			strv_free_array(v, i);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

static int snapshot(const struct pentry *e, struct proc_info **ret)
{
	struct proc_info *pi = calloc(1, sizeof(*pi));

	if (!pi)
		return -ENOMEM;
	pi->st = e->st;
	pi->start_time = e->ticks;
	pi->generation = e->generation;
	if (dup_strs(e->sel, e->nsel, &pi->selectors) < 0 ||
	    dup_strs(e->ids, e->nids, &pi->spiffe_ids) < 0 ||
	    dup_strs(e->eids, e->neids, &pi->entry_ids) < 0) {
		proc_info_free(pi);
		return -ENOMEM;
	}
	pi->nselectors = e->nsel;
	pi->nspiffe_ids = e->nids;
	pi->nentry_ids = e->neids;
	*ret = pi;
	return 0;
}

int proctable_derive_pending(struct proctable *pt, uint64_t min_age_ns)
{
	uint64_t now = mono_ns();
	int n = 0;

	pthread_rwlock_wrlock(&pt->lock);
	while (pt->npend) {
		struct pending *p = &pt->pend[pt->pend_head];
		struct pentry *e;

		if (now - p->since_ns < min_age_ns)
			break;
		e = *find_slot(pt, p->tgid);
		/* exec'd meanwhile (derived then), exited, or a new process: skip */
		if (e && e->ticks == p->ticks && e->pending && rederive(pt, e) == 0)
			n++;
		pt->pend_head = (pt->pend_head + 1) % pt->npend_cap;
		pt->npend--;
	}
	pthread_rwlock_unlock(&pt->lock);
	return n;
}

int proctable_get(struct proctable *pt, uint32_t tgid, uint64_t start_time,
		  struct proc_info **ret)
{
	bool write = false;
	struct pentry *e;
	int r;

	pthread_rwlock_rdlock(&pt->lock);
again:
	e = *find_slot(pt, tgid);
	if (!e) {
		r = -ENOENT;
	} else if (start_time && e->ticks != start_time) {
		r = -ESRCH;
	} else if (e->pending && !write) {
		/* A fork asked before its derivation ran: derive it now. */
		pthread_rwlock_unlock(&pt->lock);
		pthread_rwlock_wrlock(&pt->lock);
		write = true;
		goto again;
	} else {
		r = e->pending ? rederive(pt, e) : 0;
		if (r == 0)
			r = snapshot(e, ret);
	}
	pthread_rwlock_unlock(&pt->lock);
	return r;
}

static int cmp_pi(const void *a, const void *b)
{
	const struct proc_info *x = *(struct proc_info *const *)a, *y = *(struct proc_info *const *)b;

	return x->st.tgid < y->st.tgid ? -1 : x->st.tgid > y->st.tgid;
}

int proctable_list(struct proctable *pt, struct proc_info ***ret, size_t *ret_n)
{
	struct proc_info **list;
	size_t n = 0;
	int r = 0;

	proctable_derive_pending(pt, 0);
	pthread_rwlock_rdlock(&pt->lock);
	list = calloc(pt->count + 1, sizeof(*list));
	if (!list) {
		pthread_rwlock_unlock(&pt->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pt->nbuckets && r == 0; i++)
		for (struct pentry *e = pt->buckets[i]; e && r == 0; e = e->next)
			if ((r = snapshot(e, &list[n])) == 0)
				n++;
	pthread_rwlock_unlock(&pt->lock);
	if (r < 0) {
		proc_info_list_free(list, n);
		return r;
	}
	qsort(list, n, sizeof(*list), cmp_pi);
	*ret = list;
	*ret_n = n;
	return 0;
}

int proctable_rederive(struct proctable *pt, bool (*pred)(void *arg, const struct proc_state *st),
		       void *arg)
{
	int r = 0;

	pthread_rwlock_wrlock(&pt->lock);
	for (size_t i = 0; i < pt->nbuckets; i++)
		for (struct pentry *e = pt->buckets[i]; e; e = e->next)
			if (!pred || pred(arg, &e->st)) {
				int q = rederive(pt, e);

				if (q < 0 && r == 0)
					r = q;
			}
	pthread_rwlock_unlock(&pt->lock);
	return r;
}

int proctable_for_each(struct proctable *pt, void (*fn)(void *arg, const struct proc_state *st,
							uint64_t ticks),
		       void *arg)
{
	pthread_rwlock_rdlock(&pt->lock);
	for (size_t i = 0; i < pt->nbuckets; i++)
		for (struct pentry *e = pt->buckets[i]; e; e = e->next)
			fn(arg, &e->st, e->ticks);
	pthread_rwlock_unlock(&pt->lock);
	return 0;
}

void proc_info_free(struct proc_info *pi)
{
	if (!pi)
		return;
	strv_free_array(pi->selectors, pi->nselectors);
	strv_free_array(pi->spiffe_ids, pi->nspiffe_ids);
	strv_free_array(pi->entry_ids, pi->nentry_ids);
	free(pi);
}

void proc_info_list_free(struct proc_info **list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++)
		proc_info_free(list[i]);
	free(list);
}
