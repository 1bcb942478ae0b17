// SPDX-License-Identifier: Apache-2.0
/*
 * Sync from /proc.  Where the kernel map already holds a record with the
 * same start time, it wins: it is exact (the path the kernel ran, not a
 * readlink) and may be newer than what /proc said a moment ago.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bootstrap.h"
#include "log.h"
#include "proctable_hooks.h"

struct collect {
	struct proc_state *v;
	size_t n, cap;
};

static int collect_one(void *arg, const struct proc_state *st)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct proc_state *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *st;
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct proc_state *x = a, *y = b;

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->tgid < y->tgid ? -1 : x->tgid > y->tgid;
}

struct stale {
	const struct procfs *fs;
	struct { uint32_t tgid; uint64_t ns; } *v;
	size_t n, cap;
};

/* Collects table entries whose process is gone or whose PID was reused. */
static void find_stale(void *arg, const struct proc_state *st, uint64_t ticks)
{
	struct stale *s = arg;
	struct proc_state now;

	if (procfs_read(s->fs, st->tgid, &now) == 0 && proc_ns_to_ticks(now.start_ns) == ticks)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *v = realloc(s->v, cap * sizeof(*s->v));

		if (!v)
			return; /* next sync gets it */
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].tgid = st->tgid;
	s->v[s->n].ns = st->start_ns;
	s->n++;
}

int bootstrap_sync(const struct procfs *fs, struct tracker *t, struct proctable *pt,
		   struct sync_stats *stats)
{
	struct collect c = { 0 };
	struct stale s = { .fs = fs };
	struct proc_state *kst;
	int r;

	memset(stats, 0, sizeof(*stats));
	r = procfs_scan(fs, collect_one, &c);
	if (r < 0) {
		free(c.v);
		return r;
	}
	kst = malloc(sizeof(*kst));
	if (!kst) {
		free(c.v);
		return -ENOMEM;
	}
	qsort(c.v, c.n, sizeof(*c.v), by_start);
	for (size_t i = 0; i < c.n; i++) {
		const struct proc_state *st = &c.v[i];

		if (t && tracker_lookup(t, st->tgid, kst) == 0 &&
		    proc_ns_to_ticks(kst->start_ns) == proc_ns_to_ticks(st->start_ns)) {
			st = kst;
			stats->from_map++;
		} else if (t) {
			r = tracker_seed(t, st);
			if (r < 0 && r != -EEXIST)
				log_warn("\"cannot seed kernel map\" pid=%u error=\"%s\"", st->tgid,
					 strerror(-r));
		}
		r = proctable_upsert(pt, st);
		if (r < 0) {
			log_warn("\"cannot add process\" pid=%u error=\"%s\"", st->tgid,
				 strerror(-r));
			continue;
		}
		stats->seen++;
	}
	free(kst);
	free(c.v);

	/* A process may have exited between the scan and the seed: drop it again. */
	proctable_for_each(pt, find_stale, &s);
	for (size_t i = 0; i < s.n; i++) {
		if (t)
			tracker_forget(t, s.v[i].tgid, s.v[i].ns);
		if (proctable_remove(pt, s.v[i].tgid, s.v[i].ns) == 0)
			stats->removed++;
	}
	free(s.v);
	return 0;
}
