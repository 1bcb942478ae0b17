// SPDX-License-Identifier: Apache-2.0
/*
 * The X.509-SVID cache (what and why in svid_cache.h).
 *
 * State, all under c->lock:
 *   slots   entry id -> struct slot: the current SVID, how many live
 *           processes match the entry (demand), whether a mint is running
 *   procs   (tgid, start) -> the entry ids that process matched when we
 *           last read it, so that an exit or a change moves demand
 *   queue   events from the hook and the registry, handled by the thread
 *   todo    slots to look at on the next run (so a run costs what changed,
 *           not the number of entries; a full scan happens when something
 *           is due)
 * Mints run without the lock; a slot being minted is never freed, and a
 * reader that finds one waits for it rather than minting twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "log.h"
#include "matcher.h"
#include "proctable.h"
#include "selectors.h"
#include "strmap.h"
#include "svid_cache.h"

/* Process events queued before the thread gives up and rereads the table. */
#define QUEUE_MAX 65536
/* Seconds before a failed mint is tried again. */
#define RETRY_SECS 5
/* How long a reader waits for a mint in progress. */
#define MINT_WAIT_SECS 10

enum ev_kind { EV_PROC, EV_ENTRY };

struct ev {
	enum ev_kind kind;
	bool gone;
	uint32_t tgid;
	uint64_t ticks;
	char id[ENTRY_ID_LEN + 1];
};

struct slot {
	char id[ENTRY_ID_LEN + 1]; /* the strmap key */
	struct svid_cached *cur;
	unsigned demand;
	bool minting;
	bool dirty;	 /* the entry changed: mint anew (or drop) */
	bool queued;	 /* on the todo list */
	time_t renew_at; /* of cur, or later after a failed renewal */
	time_t retry_at; /* no mint before this, after a failure */
};

struct pdem {
	struct pdem *next;
	uint32_t tgid;
	uint64_t ticks;
	char **eids;
	size_t n;
};

struct svid_cache {
	struct svid_cache_opts opts;
	struct svid_cache_deps deps;

	pthread_mutex_t lock;  /* everything below, except the listener */
	pthread_cond_t wake;   /* the thread: events or stop */
	pthread_cond_t minted; /* readers waiting for a mint */
	struct strmap *slots;
	struct pdem **procs;
	size_t nbuckets, nprocs;
	struct ev *queue;
	size_t nqueue, capqueue;
	struct slot **todo;
	size_t ntodo, captodo;
	bool resync, recheck, invalidate, stop;
	time_t next_due;
	uint64_t serial;
	struct svid_cache_stats stats;

	pthread_mutex_t listener_lock;
	svid_cache_listener_fn listener;
	void *listener_arg;

	pthread_t thread;
	bool thread_started;
};

/* ---- snapshots ---- */

struct svid_cached *svid_cached_ref(struct svid_cached *s)
{
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void svid_cached_unref(struct svid_cached *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	x509svid_free(s->x509);
	entry_free(s->entry);
	free(s);
}

static void notify(struct svid_cache *c, const char *id)
{
	pthread_mutex_lock(&c->listener_lock);
	if (c->listener)
		c->listener(c->listener_arg, id);
	pthread_mutex_unlock(&c->listener_lock);
}

void svid_cache_set_listener(struct svid_cache *c, svid_cache_listener_fn fn, void *arg)
{
	pthread_mutex_lock(&c->listener_lock);
	c->listener = fn;
	c->listener_arg = arg;
	pthread_mutex_unlock(&c->listener_lock);
}

/* ---- slots and demand, under c->lock ---- */

static void todo_add(struct svid_cache *c, struct slot *s)
{
	if (s->queued)
		return;
	if (c->ntodo == c->captodo) {
		size_t n = c->captodo ? 2 * c->captodo : 64;
		struct slot **t = realloc(c->todo, n * sizeof(*t));

		if (!t) {
			c->recheck = true; /* a full scan finds it */
			return;
		}
		c->todo = t;
		c->captodo = n;
	}
	s->queued = true;
	c->todo[c->ntodo++] = s;
}

static struct slot *slot_get(struct svid_cache *c, const char *id, bool create)
{
	struct slot *s = strmap_get(c->slots, id);

	if (s || !create)
		return s;
	if (strlen(id) > ENTRY_ID_LEN)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	strcpy(s->id, id);
	if (strmap_put(c->slots, s->id, s) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void demand_add(struct svid_cache *c, char **eids, size_t n, int delta)
{
	for (size_t i = 0; i < n; i++) {
		struct slot *s = slot_get(c, eids[i], delta > 0);

		if (!s)
			continue;
		if (delta > 0 && s->demand++ == 0)
			todo_add(c, s);
		else if (delta < 0 && s->demand > 0 && --s->demand == 0)
			todo_add(c, s);
	}
}

static size_t bucket(const struct svid_cache *c, uint32_t tgid)
{
	return (tgid * 2654435761U) & (c->nbuckets - 1);
}

static struct pdem **pdem_find(struct svid_cache *c, uint32_t tgid)
{
	struct pdem **pp = &c->procs[bucket(c, tgid)];

	while (*pp && (*pp)->tgid != tgid)
		pp = &(*pp)->next;
	return pp;
}

static void pdem_free(struct pdem *p)
{
	strv_free_array(p->eids, p->n);
	free(p);
}

static void pdem_grow(struct svid_cache *c)
{
	size_t nb = c->nbuckets * 2;
	struct pdem **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct pdem *p = c->procs[i], *next;

		for (; p; p = next) {
			size_t j = (p->tgid * 2654435761U) & (nb - 1);

			next = p->next;
			p->next = b[j];
			b[j] = p;
		}
	}
	free(c->procs);
	c->procs = b;
	c->nbuckets = nb;
}

static void proc_gone(struct svid_cache *c, uint32_t tgid, uint64_t ticks)
{
	struct pdem **pp = pdem_find(c, tgid), *p = *pp;

	if (!p || (ticks && p->ticks != ticks))
		return;
	*pp = p->next;
	c->nprocs--;
	demand_add(c, p->eids, p->n, -1);
	pdem_free(p);
}

/* Takes eids (an array of n strings) whatever happens. */
static void proc_set(struct svid_cache *c, uint32_t tgid, uint64_t ticks, char **eids, size_t n)
{
	struct pdem **pp = pdem_find(c, tgid), *p = *pp;

	if (p && p->ticks != ticks) {
		proc_gone(c, tgid, p->ticks);
		p = NULL;
	}
	if (!n) {
		strv_free_array(eids, n);
		if (p)
			proc_gone(c, tgid, ticks);
		return;
	}
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			strv_free_array(eids, n);
			c->resync = true; /* demand is unknown now: reread everything */
			return;
		}
		p->tgid = tgid;
		p->ticks = ticks;
		pp = pdem_find(c, tgid);
		p->next = *pp;
		*pp = p;
		if (++c->nprocs > c->nbuckets)
			pdem_grow(c);
	}
	/* New demand first, so an entry in both lists never drops to 0. */
	demand_add(c, eids, n, +1);
	demand_add(c, p->eids, p->n, -1);
	strv_free_array(p->eids, p->n);
	p->eids = eids;
	p->n = n;
}

static void procs_clear(struct svid_cache *c)
{
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct pdem *p = c->procs[i], *next;

		for (; p; p = next) {
			next = p->next;
			pdem_free(p);
		}
		c->procs[i] = NULL;
	}
	c->nprocs = 0;
}

/* ---- queue ---- */

static int queue_push(struct svid_cache *c, const struct ev *e)
{
	if (c->nqueue >= QUEUE_MAX)
		return -ENOSPC;
	if (c->nqueue == c->capqueue) {
		size_t n = c->capqueue ? 2 * c->capqueue : 256;
		struct ev *q = realloc(c->queue, n * sizeof(*q));

		if (!q)
			return -ENOMEM;
		c->queue = q;
		c->capqueue = n;
	}
	c->queue[c->nqueue++] = *e;
	return 0;
}

void svid_cache_process_changed(struct svid_cache *c, uint32_t tgid, uint64_t start_ticks,
				bool gone)
{
	struct ev e = {.kind = EV_PROC, .gone = gone, .tgid = tgid, .ticks = start_ticks};

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	/* Exits of processes that never matched anything are most of them: skip those. */
	if (!gone || *pdem_find(c, tgid)) {
		if (queue_push(c, &e) < 0 && !c->resync) {
			c->resync = true;
			log_warn("\"svid cache: event queue full; rereading the process table\" "
				 "queued=%zu",
				 c->nqueue);
		}
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->lock);
}

void svid_cache_entry_changed(struct svid_cache *c, const char *id)
{
	struct ev e = {.kind = EV_ENTRY};

	if (!c || !id || strlen(id) > ENTRY_ID_LEN)
		return;
	strcpy(e.id, id);
	pthread_mutex_lock(&c->lock);
	if (queue_push(c, &e) < 0)
		c->recheck = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

void svid_cache_invalidate(struct svid_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->invalidate = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

/* ---- minting ---- */

static int64_t ttl_of(const struct svid_cache *c, const struct entry *e)
{
	int64_t ttl = e->x509_svid_ttl ? e->x509_svid_ttl : ENTRY_X509_TTL_DEFAULT;

	if (c->opts.x509_ttl_max > 0 && ttl > c->opts.x509_ttl_max)
		ttl = c->opts.x509_ttl_max;
	return ttl;
}

/* A new snapshot of entry id as of now; -ENOENT if the entry is gone. */
static int mint(struct svid_cache *c, const char *id, time_t now, struct svid_cached **ret)
{
	struct svid_cached *s;
	struct entry *e = NULL;
	int r;

	r = matcher_get(c->deps.matcher, id, &e);
	if (r)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		entry_free(e);
		return -ENOMEM;
	}
	r = x509svid_mint(c->deps.ca, e->spiffe_id, (const char *const *)e->dns_names,
			  e->ndns_names, ttl_of(c, e), now, &s->x509);
	if (r) {
		log_warn(
		    "\"svid cache: cannot mint X.509-SVID\" entry=%s spiffe_id=%s error=\"%s\"", id,
		    e->spiffe_id, strerror(-r));
		entry_free(e);
		free(s);
		return r;
	}
	snprintf(s->entry_id, sizeof(s->entry_id), "%s", id);
	s->entry = e;
	s->minted_at = now;
	if (s->x509->expires_at > now)
		s->renew_at = now + (s->x509->expires_at - now) / 2;
	else
		s->renew_at = now + 1;
	if (s->renew_at <= now)
		s->renew_at = now + 1;
	s->refs = 1;
	*ret = s;
	return 0;
}

static void due_lower(struct svid_cache *c, time_t t)
{
	if (t && (!c->next_due || t < c->next_due))
		c->next_due = t;
}

/* Installs s (may be NULL: drop) in slot id after a mint; under c->lock. */
static void install_locked(struct svid_cache *c, struct slot *sl, struct svid_cached *s,
			   struct svid_cached **old)
{
	*old = sl->cur;
	sl->cur = s;
	sl->minting = false;
	sl->renew_at = s ? s->renew_at : 0;
	due_lower(c, sl->renew_at);
	c->serial++;
	if (s)
		s->serial = c->serial;
	pthread_cond_broadcast(&c->minted);
}

int svid_cache_get(struct svid_cache *c, const char *id, bool mint_on_miss,
		   struct svid_cached **ret)
{
	struct svid_cached *s = NULL, *old = NULL;
	struct timespec until;
	struct slot *sl;
	int r;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += MINT_WAIT_SECS;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		sl = slot_get(c, id, false);
		if (sl && sl->cur) {
			*ret = svid_cached_ref(sl->cur);
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		if (!sl || !sl->minting)
			break;
		if (pthread_cond_timedwait(&c->minted, &c->lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&c->lock);
			return -ETIMEDOUT;
		}
	}
	if (!mint_on_miss || !(sl = slot_get(c, id, true))) {
		pthread_mutex_unlock(&c->lock);
		return mint_on_miss ? -ENOMEM : -ENOENT;
	}
	sl->minting = true;
	sl->dirty = false;
	pthread_mutex_unlock(&c->lock);

	r = mint(c, id, time(NULL), &s);
	log_debug("\"svid cache: miss, minted on the request path\" entry=%s result=\"%s\"", id,
		  r ? strerror(-r) : "ok");

	pthread_mutex_lock(&c->lock);
	if (r) {
		sl->minting = false;
		if (r != -ENOENT) {
			c->stats.failures++;
			sl->retry_at = time(NULL) + RETRY_SECS;
		}
		todo_add(c, sl); /* let the thread collect the slot */
		pthread_cond_broadcast(&c->minted);
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	c->stats.mints++;
	c->stats.misses++;
	install_locked(c, sl, s, &old);
	todo_add(c, sl);
	*ret = svid_cached_ref(s);
	pthread_mutex_unlock(&c->lock);
	svid_cached_unref(old);
	notify(c, id);
	return 0;
}

/* ---- the thread's work ---- */

struct job {
	struct slot *sl;
	bool renewal;
	bool drop; /* no mint: drop what is cached */
};

/* Reads the table's view of one process; the table lock only, never ours. */
static void handle_proc_event(struct svid_cache *c, const struct ev *e)
{
	struct proc_info *pi = NULL;
	int r = -ENOENT;

	if (!e->gone)
		r = proctable_get(c->deps.pt, e->tgid, e->ticks, &pi);
	pthread_mutex_lock(&c->lock);
	if (r) {
		proc_gone(c, e->tgid, e->ticks);
	} else {
		proc_set(c, e->tgid, e->ticks, pi->entry_ids, pi->nentry_ids);
		pi->entry_ids = NULL;
		pi->nentry_ids = 0;
	}
	pthread_mutex_unlock(&c->lock);
	proc_info_free(pi);
}

static void resync(struct svid_cache *c)
{
	struct proc_info **list = NULL;
	size_t n = 0;
	struct slot *sl;
	const char *key;
	void *val;
	size_t pos = 0;
	int r;

	r = proctable_list(c->deps.pt, &list, &n);
	pthread_mutex_lock(&c->lock);
	if (r) {
		log_error("\"svid cache: cannot read the process table\" error=\"%s\"",
			  strerror(-r));
		c->resync = true; /* next run tries again */
		pthread_mutex_unlock(&c->lock);
		return;
	}
	procs_clear(c);
	while (strmap_next(c->slots, &pos, &key, &val)) {
		sl = val;
		sl->demand = 0;
	}
	c->recheck = true;
	for (size_t i = 0; i < n; i++) {
		proc_set(c, list[i]->st.tgid, list[i]->start_time, list[i]->entry_ids,
			 list[i]->nentry_ids);
		list[i]->entry_ids = NULL;
		list[i]->nentry_ids = 0;
	}
	pthread_mutex_unlock(&c->lock);
	proc_info_list_free(list, n);
}

/* What to do with one slot as of now; under c->lock.  Returns true if a job was added. */
static bool plan_slot(struct svid_cache *c, struct slot *sl, time_t now, struct job *jobs,
		      size_t *njobs)
{
	struct job *j = &jobs[*njobs];

	if (sl->minting)
		return false;
	if (sl->cur && sl->dirty) {
		*j = (struct job){.sl = sl, .drop = !sl->demand};
	} else if (sl->cur && sl->renew_at <= now) {
		*j = (struct job){.sl = sl, .renewal = true, .drop = !sl->demand};
	} else if (!sl->cur && sl->demand && sl->retry_at <= now) {
		*j = (struct job){.sl = sl};
	} else {
		if (sl->cur)
			due_lower(c, sl->renew_at);
		else if (sl->demand)
			due_lower(c, sl->retry_at);
		return false;
	}
	sl->dirty = false;
	if (!j->drop)
		sl->minting = true;
	(*njobs)++;
	return true;
}

/* Frees slots with nothing cached and no demand; under c->lock. */
static void collect(struct svid_cache *c, struct slot *sl)
{
	if (sl->cur || sl->demand || sl->minting || sl->queued)
		return;
	strmap_remove(c->slots, sl->id);
	free(sl);
}

static int run_once(struct svid_cache *c, time_t now)
{
	struct ev *q;
	size_t nq;
	bool full, invalidate;
	struct job *jobs = NULL;
	size_t njobs = 0, cap;
	int minted = 0;

	pthread_mutex_lock(&c->lock);
	q = c->queue;
	nq = c->nqueue;
	c->queue = NULL;
	c->nqueue = c->capqueue = 0;
	if (c->resync) {
		c->resync = false;
		pthread_mutex_unlock(&c->lock);
		free(q); /* the table is the truth: the events are in it */
		q = NULL;
		nq = 0;
		resync(c);
		pthread_mutex_lock(&c->lock);
		c->stats.resyncs++;
	}
	pthread_mutex_unlock(&c->lock);

	for (size_t i = 0; i < nq; i++) {
		if (q[i].kind == EV_PROC) {
			handle_proc_event(c, &q[i]);
			continue;
		}
		pthread_mutex_lock(&c->lock);
		{
			struct slot *sl = slot_get(c, q[i].id, false);

			if (sl) {
				sl->dirty = true;
				todo_add(c, sl);
			}
		}
		pthread_mutex_unlock(&c->lock);
	}
	free(q);

	pthread_mutex_lock(&c->lock);
	invalidate = c->invalidate;
	full = c->recheck || invalidate || (c->next_due && now >= c->next_due);
	c->recheck = c->invalidate = false;
	cap = full ? strmap_count(c->slots) : c->ntodo;
	jobs = calloc(cap ? cap : 1, sizeof(*jobs));
	if (!jobs) {
		c->recheck = true;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (full) {
		const char *key;
		void *val;
		size_t pos = 0;

		c->next_due = 0;
		while (strmap_next(c->slots, &pos, &key, &val)) {
			struct slot *sl = val;

			if (invalidate && sl->cur)
				sl->dirty = true;
			plan_slot(c, sl, now, jobs, &njobs);
		}
	} else {
		for (size_t i = 0; i < c->ntodo && njobs < cap; i++)
			plan_slot(c, c->todo[i], now, jobs, &njobs);
	}
	/* Unqueue and collect what needs nothing (the jobs' slots are minting or kept). */
	for (size_t i = 0; i < c->ntodo; i++)
		c->todo[i]->queued = false;
	for (size_t i = 0; i < c->ntodo; i++)
		collect(c, c->todo[i]);
	c->ntodo = 0;
	pthread_mutex_unlock(&c->lock);

	for (size_t i = 0; i < njobs; i++) {
		struct slot *sl = jobs[i].sl;
		struct svid_cached *s = NULL, *old = NULL;
		char id[ENTRY_ID_LEN + 1];
		int r = 0;

		memcpy(id, sl->id, sizeof(id)); /* sl may be freed once we unlock below */
		if (!jobs[i].drop)
			r = mint(c, id, now, &s);
		pthread_mutex_lock(&c->lock);
		if (jobs[i].drop || r == -ENOENT) {
			install_locked(c, sl, NULL, &old);
			if (old)
				c->stats.drops++;
			/* Demand for an entry the matcher lacks (deleted, and the
			 * processes not yet rederived): do not ask again at once. */
			sl->retry_at = now + RETRY_SECS;
			if (sl->demand)
				due_lower(c, sl->retry_at);
		} else if (r) {
			/* Keep serving the old SVID while it lasts; retry soon. */
			sl->minting = false;
			sl->retry_at = now + RETRY_SECS;
			if (sl->cur && sl->renew_at < sl->retry_at)
				sl->renew_at = sl->retry_at;
			due_lower(c, sl->retry_at);
			c->stats.failures++;
			pthread_cond_broadcast(&c->minted);
		} else {
			install_locked(c, sl, s, &old);
			c->stats.mints++;
			if (jobs[i].renewal)
				c->stats.renewals++;
			minted++;
		}
		collect(c, sl);
		pthread_mutex_unlock(&c->lock);
		if (old || s)
			notify(c, id);
		svid_cached_unref(old);
	}
	free(jobs);
	return minted;
}

int svid_cache_run(struct svid_cache *c, time_t now)
{
	return run_once(c, now ? now : time(NULL));
}

time_t svid_cache_next_due(struct svid_cache *c)
{
	time_t t;

	pthread_mutex_lock(&c->lock);
	t = c->next_due;
	pthread_mutex_unlock(&c->lock);
	return t;
}

static bool has_work(const struct svid_cache *c, time_t now)
{
	return c->nqueue || c->ntodo || c->resync || c->recheck || c->invalidate ||
	       (c->next_due && now >= c->next_due);
}

static void *cache_thread(void *arg)
{
	struct svid_cache *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		time_t now = time(NULL);

		if (!has_work(c, now)) {
			if (c->next_due) {
				struct timespec ts = {.tv_sec = c->next_due};

				pthread_cond_timedwait(&c->wake, &c->lock, &ts);
			} else {
				pthread_cond_wait(&c->wake, &c->lock);
			}
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		run_once(c, now);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void svid_cache_stats(struct svid_cache *c, struct svid_cache_stats *ret)
{
	const char *key;
	void *val;
	size_t pos = 0;

	pthread_mutex_lock(&c->lock);
	*ret = c->stats;
	ret->entries = ret->demanded = 0;
	while (strmap_next(c->slots, &pos, &key, &val)) {
		const struct slot *sl = val;

		ret->entries += !!sl->cur;
		ret->demanded += !!sl->demand;
	}
	pthread_mutex_unlock(&c->lock);
}

int svid_cache_new(const struct svid_cache_opts *opts, const struct svid_cache_deps *deps,
		   struct svid_cache **ret)
{
	struct svid_cache *c;
	pthread_condattr_t ca;
	int r;

	if (!deps || !deps->ca || !deps->matcher || !deps->pt)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (opts)
		c->opts = *opts;
	c->deps = *deps;
	c->nbuckets = 1024;
	c->procs = calloc(c->nbuckets, sizeof(*c->procs));
	r = strmap_new(&c->slots);
	if (r || !c->procs) {
		strmap_free(c->slots);
		free(c->procs);
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->listener_lock, NULL);
	/* CLOCK_REALTIME: the thread sleeps until a wall-clock renewal time. */
	pthread_condattr_init(&ca);
	pthread_cond_init(&c->wake, &ca);
	pthread_cond_init(&c->minted, &ca);
	pthread_condattr_destroy(&ca);
	c->resync = true; /* the first run reads the whole table */
	if (!c->opts.manual) {
		r = -pthread_create(&c->thread, NULL, cache_thread, c);
		if (r) {
			svid_cache_free(c);
			return r;
		}
		c->thread_started = true;
	}
	*ret = c;
	return 0;
}

void svid_cache_free(struct svid_cache *c)
{
	const char *key;
	void *val;
	size_t pos = 0;

	if (!c)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	while (strmap_next(c->slots, &pos, &key, &val)) {
		struct slot *sl = val;

		svid_cached_unref(sl->cur);
		free(sl);
	}
	strmap_free(c->slots);
	procs_clear(c);
	free(c->procs);
	free(c->queue);
	free(c->todo);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->minted);
	pthread_mutex_destroy(&c->listener_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
