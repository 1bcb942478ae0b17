// SPDX-License-Identifier: Apache-2.0
/*
 * The metadata cache and its worker thread.  Lock order: the process
 * table's lock, then this cache's; the worker never holds this lock while
 * it calls the table (ready, live) or the network.  One thread does all
 * the fetching, so a slow engine or kubelet delays metadata, never an
 * exec, a Workload API call or another stage.
 *
 * Docker: an entry per container id, queued when the deriver first asks,
 * inspected once; a transport failure is retried with exponential backoff,
 * "no such container" is remembered.  Kubelet: the last pod list, indexed
 * by pod uid and container id; an unknown pod or container asks for a new
 * list, no sooner than the backoff allows (it doubles while what was
 * asked for stays unknown or the kubelet fails), and while pods with
 * processes exist the list is refreshed every kubelet_refresh_s so label
 * changes arrive.  Every sweep_ms the live hook marks what still has
 * processes; the rest is dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "docker.h"
#include "httpc.h"
#include "kubelet.h"
#include "log.h"
#include "meta_cache.h"
#include "strmap.h"

#define SWEEP_MS 10000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
#define READY_BATCH 64

enum dstate { D_QUEUED, D_FETCHING, D_READY, D_ABSENT, D_RETRY };

struct dentry {
	char id[CGROUP_ID_LEN + 1];
	enum cgroup_runtime rt;
	enum dstate state;
	char **sel;
	size_t nsel;
	uint64_t seen; /* sweep epoch it was last asked for or marked in */
	uint64_t retry_at;
	unsigned backoff;
};

struct want {
	char key[CGROUP_ID_LEN + 1]; /* a pod uid, or a container id of a known pod */
	uint64_t seen;
};

struct meta_cache {
	char *docker_socket; /* NULL: off */
	struct strv env_allow;
	char *kubelet_url, *token_file, *ca_file; /* kubelet_url NULL: off */
	unsigned refresh_ms, sweep_ms, backoff_min, backoff_max;
	struct meta_cache_ops ops;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	uint64_t epoch;
	uint64_t next_sweep;

	struct strmap *docker; /* id -> struct dentry */
	bool docker_failing;

	struct kubelet_pods pods;
	struct strmap *pod_index; /* uid -> struct kubelet_pod (in pods) */
	struct strmap *cid_index; /* container id -> struct kubelet_pod */
	struct strmap *wanted;	  /* key -> struct want */
	uint64_t kube_next, kube_last;
	unsigned kube_backoff;
	bool kube_failing;
	size_t live_pods; /* marked pods with processes, last sweep */

	struct meta_cache_stats stats;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned next_backoff(const struct meta_cache *mc, unsigned cur)
{
	if (!cur)
		return mc->backoff_min;
	return cur >= mc->backoff_max / 2 ? mc->backoff_max : cur * 2;
}

/* ---- ready batches ---- */

struct batch {
	struct strv cids, pods;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool in_sorted(char **v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(*v), cmp_str);
}

bool meta_ready_affects(const struct meta_ready *r, const struct cgroup_info *ci)
{
	return (ci->container_id[0] && in_sorted(r->cids, r->ncids, ci->container_id)) ||
	       (ci->pod_uid[0] && in_sorted(r->pods, r->npods, ci->pod_uid));
}

/* Called with the lock held; drops it around the hook. */
static void flush(struct meta_cache *mc, struct batch *b)
{
	struct meta_ready r;

	if (!b->cids.n && !b->pods.n)
		return;
	strv_sort_unique(&b->cids);
	strv_sort_unique(&b->pods);
	r = (struct meta_ready){b->cids.v, b->cids.n, b->pods.v, b->pods.n};
	pthread_mutex_unlock(&mc->lock);
	if (mc->ops.ready)
		mc->ops.ready(mc->ops.ctx, &r);
	pthread_mutex_lock(&mc->lock);
	strv_free(&b->cids);
	strv_free(&b->pods);
}

/* ---- the deriver's side ---- */

static int push_all(struct strv *out, char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = strv_push(out, v[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Lock held. Returns true if the worker should wake. */
static bool want(struct meta_cache *mc, const char *key, int *r)
{
	struct want *w = strmap_get(mc->wanted, key);

	if (w) {
		w->seen = mc->epoch;
		return false;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		*r = -ENOMEM;
		return false;
	}
	snprintf(w->key, sizeof(w->key), "%s", key);
	w->seen = mc->epoch;
	if (strmap_put(mc->wanted, w->key, w) < 0) {
		free(w);
		*r = -ENOMEM;
		return false;
	}
	return true;
}

static bool docker_asks(const struct meta_cache *mc, const struct cgroup_info *ci)
{
	/* The engine names only its own containers; a containerd/CRI-O/Podman id is not one. */
	return mc->docker_socket && ci->container_id[0] &&
	       (ci->runtime == CGROUP_RT_DOCKER || ci->runtime == CGROUP_RT_UNKNOWN);
}

int meta_cache_selectors(struct meta_cache *mc, const struct cgroup_info *ci, struct strv *out)
{
	bool wake = false;
	int r = 0;

	if (!mc || !cgroup_ids_authoritative(ci))
		return 0;
	pthread_mutex_lock(&mc->lock);
	if (docker_asks(mc, ci)) {
		struct dentry *e = strmap_get(mc->docker, ci->container_id);

		if (!e) {
			e = calloc(1, sizeof(*e));
			if (e) {
				strcpy(e->id, ci->container_id);
				e->rt = ci->runtime;
				e->state = D_QUEUED;
				e->seen = mc->epoch;
				if (strmap_put(mc->docker, e->id, e) < 0) {
					free(e);
					e = NULL;
				}
			}
			if (!e)
				r = -ENOMEM;
			wake = true;
		} else {
			e->seen = mc->epoch;
			if (e->state == D_READY)
				r = push_all(out, e->sel, e->nsel);
		}
	}
	if (r == 0 && mc->kubelet_url && ci->pod_uid[0]) {
		struct kubelet_pod *p = strmap_get(mc->pod_index, ci->pod_uid);

		if (!p) {
			wake |= want(mc, ci->pod_uid, &r);
		} else {
			const struct kubelet_container *c =
			    ci->container_id[0] ? kubelet_pod_container(p, ci->container_id) : NULL;

			r = push_all(out, p->sel, p->nsel);
			if (r == 0 && c)
				r = push_all(out, c->sel, c->nsel);
			else if (r == 0 && ci->container_id[0])
				wake |= want(mc, ci->container_id, &r);
		}
	}
	if (wake)
		pthread_cond_signal(&mc->cond);
	pthread_mutex_unlock(&mc->lock);
	return r;
}

void meta_cache_mark(struct meta_cache *mc, const struct cgroup_info *ci)
{
	if (!mc || !cgroup_ids_authoritative(ci))
		return;
	pthread_mutex_lock(&mc->lock);
	if (ci->container_id[0]) {
		struct dentry *e =
		    mc->docker_socket ? strmap_get(mc->docker, ci->container_id) : NULL;
		struct want *w = strmap_get(mc->wanted, ci->container_id);

		if (e)
			e->seen = mc->epoch;
		if (w)
			w->seen = mc->epoch;
	}
	if (ci->pod_uid[0] && mc->kubelet_url) {
		struct want *w = strmap_get(mc->wanted, ci->pod_uid);

		if (w)
			w->seen = mc->epoch;
		if (strmap_get(mc->pod_index, ci->pod_uid))
			mc->live_pods++;
	}
	pthread_mutex_unlock(&mc->lock);
}

void meta_cache_stats(struct meta_cache *mc, struct meta_cache_stats *ret)
{
	pthread_mutex_lock(&mc->lock);
	*ret = mc->stats;
	ret->containers = strmap_count(mc->docker);
	ret->pods = mc->pods.n;
	pthread_mutex_unlock(&mc->lock);
}

/* ---- the worker: Docker ---- */

static struct dentry *docker_due(struct meta_cache *mc, uint64_t now)
{
	size_t pos = 0;
	const char *k;
	void *v;

	while (strmap_next(mc->docker, &pos, &k, &v)) {
		struct dentry *e = v;

		if (e->state == D_QUEUED || (e->state == D_RETRY && e->retry_at <= now))
			return e;
	}
	return NULL;
}

/* Inspects one container; lock held on entry and exit. */
static void docker_fetch(struct meta_cache *mc, struct dentry *e, struct batch *b)
{
	char id[CGROUP_ID_LEN + 1], err[256] = "";
	struct strv sel = {0};
	int r;

	strcpy(id, e->id);
	e->state = D_FETCHING; /* the sweep leaves it alone */
	pthread_mutex_unlock(&mc->lock);
	r = docker_inspect(mc->docker_socket, id, &mc->env_allow, &sel, err, sizeof(err));
	pthread_mutex_lock(&mc->lock);
	mc->stats.docker_requests++;
	e = strmap_get(mc->docker, id);
	if (!e) {
		strv_free(&sel);
		return;
	}
	if (r == 0) {
		if (mc->docker_failing)
			log_info("\"docker engine answers again\" socket=%s", mc->docker_socket);
		mc->docker_failing = false;
		strv_sort_unique(&sel);
		e->sel = sel.v;
		e->nsel = sel.n;
		e->state = D_READY;
		log_debug("\"docker metadata\" container=%.12s selectors=%zu", id, e->nsel);
		if (strv_push(&b->cids, id) < 0)
			log_warn("\"out of memory; container selectors wait for the next change\"");
		return;
	}
	strv_free(&sel);
	if (r == -ENOENT || e->rt == CGROUP_RT_UNKNOWN) {
		/* Not the engine's container (or no engine for a layout that did not say docker).
		 */
		log_debug("\"no docker metadata\" container=%.12s reason=\"%s\"", id, err);
		e->state = D_ABSENT;
		return;
	}
	if (!mc->docker_failing)
		log_warn("\"cannot ask the docker engine; retrying with backoff\" socket=%s "
			 "error=\"%s\"",
			 mc->docker_socket, err);
	mc->docker_failing = true;
	e->backoff = next_backoff(mc, e->backoff);
	e->retry_at = now_ms() + e->backoff;
	e->state = D_RETRY;
}

/* ---- the worker: kubelet ---- */

static bool same_strs(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static bool same_pod(const struct kubelet_pod *a, const struct kubelet_pod *b)
{
	if (!same_strs(a->sel, a->nsel, b->sel, b->nsel) || a->nctrs != b->nctrs)
		return false;
	for (size_t i = 0; i < a->nctrs; i++) {
		const struct kubelet_container *c = kubelet_pod_container(b, a->ctrs[i].id);

		if (!c || !same_strs(a->ctrs[i].sel, a->ctrs[i].nsel, c->sel, c->nsel))
			return false;
	}
	return true;
}

static int index_pods(struct kubelet_pods *pods, struct strmap **ret_pods, struct strmap **ret_cids)
{
	struct strmap *pi = NULL, *ci = NULL;
	int r;

	if ((r = strmap_new(&pi)) < 0 || (r = strmap_new(&ci)) < 0)
		goto fail;
	for (size_t i = 0; i < pods->n; i++) {
		struct kubelet_pod *p = &pods->v[i];

		r = strmap_put(pi, p->uid, p);
		if (r == -EEXIST)
			continue; /* a uid twice: the first wins */
		if (r < 0)
			goto fail;
		for (size_t j = 0; j < p->nctrs; j++)
			if ((r = strmap_put(ci, p->ctrs[j].id, p)) < 0 && r != -EEXIST)
				goto fail;
	}
	*ret_pods = pi;
	*ret_cids = ci;
	return 0;
fail:
	strmap_free(pi);
	strmap_free(ci);
	return r;
}

/* Lists the pods; lock held on entry and exit. */
static void kube_refresh(struct meta_cache *mc, struct batch *b)
{
	struct kubelet_opts o = {mc->kubelet_url, mc->token_file, mc->ca_file, 10000};
	struct kubelet_pods pods;
	struct strmap *pi = NULL, *ci = NULL;
	char err[512] = "";
	size_t pos = 0;
	const char *k;
	void *v;
	int r;

	pthread_mutex_unlock(&mc->lock);
	r = kubelet_list_pods(&o, &pods, err, sizeof(err));
	if (r == 0 && (r = index_pods(&pods, &pi, &ci)) < 0) {
		snprintf(err, sizeof(err), "cannot index the pod list: %s", strerror(-r));
		kubelet_pods_free(&pods);
	}
	pthread_mutex_lock(&mc->lock);
	mc->stats.kubelet_requests++;
	mc->kube_last = now_ms();
	if (r < 0) {
		if (!mc->kube_failing)
			log_warn("\"cannot list the kubelet's pods; retrying with backoff\" "
				 "error=\"%s\"",
				 err);
		mc->kube_failing = true;
		mc->kube_backoff = next_backoff(mc, mc->kube_backoff);
		mc->kube_next = mc->kube_last + mc->kube_backoff;
		return;
	}
	if (mc->kube_failing)
		log_info("\"kubelet answers again\" pods=%zu", pods.n);
	mc->kube_failing = false;
	/* Pods that are new, changed or gone: their processes are derived again. */
	for (size_t i = 0; i < pods.n; i++) {
		struct kubelet_pod *old = strmap_get(mc->pod_index, pods.v[i].uid);

		if ((!old || !same_pod(old, &pods.v[i])) && strv_push(&b->pods, pods.v[i].uid) < 0)
			break;
	}
	for (size_t i = 0; i < mc->pods.n; i++)
		if (!strmap_get(pi, mc->pods.v[i].uid) &&
		    strv_push(&b->pods, mc->pods.v[i].uid) < 0)
			break;
	strmap_free(mc->pod_index);
	strmap_free(mc->cid_index);
	kubelet_pods_free(&mc->pods);
	mc->pods = pods;
	mc->pod_index = pi;
	mc->cid_index = ci;
	/* What was asked for and is now known is no longer wanted. */
	while (strmap_next(mc->wanted, &pos, &k, &v)) {
		if (strmap_get(pi, k) || strmap_get(ci, k)) {
			free(strmap_remove(mc->wanted, k));
			pos = 0; /* the table changed: start over */
		}
	}
	mc->kube_backoff = strmap_count(mc->wanted) ? next_backoff(mc, mc->kube_backoff) : 0;
	mc->kube_next = mc->kube_last + (mc->kube_backoff ? mc->kube_backoff : mc->backoff_min);
	log_debug("\"kubelet pod list\" pods=%zu still_unknown=%zu", pods.n,
		  strmap_count(mc->wanted));
}

static bool kube_due(const struct meta_cache *mc, uint64_t now)
{
	if (!mc->kubelet_url)
		return false;
	if (strmap_count(mc->wanted) && now >= mc->kube_next)
		return true;
	return mc->refresh_ms && mc->live_pods && now >= mc->kube_last + mc->refresh_ms;
}

/* ---- the worker: sweep ---- */

static void sweep(struct meta_cache *mc)
{
	uint64_t epoch;
	size_t pos = 0;
	const char *k;
	void *v;

	epoch = ++mc->epoch;
	mc->live_pods = 0;
	pthread_mutex_unlock(&mc->lock);
	if (mc->ops.live)
		mc->ops.live(mc->ops.ctx, mc);
	pthread_mutex_lock(&mc->lock);
	while (strmap_next(mc->docker, &pos, &k, &v)) {
		struct dentry *e = v;

		if (e->seen >= epoch || e->state == D_FETCHING)
			continue;
		strmap_remove(mc->docker, k);
		strv_free_array(e->sel, e->nsel);
		free(e);
		mc->stats.dropped++;
		pos = 0;
	}
	pos = 0;
	while (strmap_next(mc->wanted, &pos, &k, &v)) {
		if (((struct want *)v)->seen >= epoch)
			continue;
		free(strmap_remove(mc->wanted, k));
		pos = 0;
	}
}

static void *worker(void *arg)
{
	struct meta_cache *mc = arg;
	struct batch b = {0};

	pthread_mutex_lock(&mc->lock);
	while (!mc->stop) {
		uint64_t now = now_ms(), wake;
		struct dentry *e;
		size_t pos = 0;
		const char *k;
		void *v;
		struct timespec ts;

		if (mc->docker_socket && (e = docker_due(mc, now))) {
			docker_fetch(mc, e, &b);
			if (b.cids.n >= READY_BATCH)
				flush(mc, &b);
			continue;
		}
		flush(mc, &b);
		if (kube_due(mc, now)) {
			kube_refresh(mc, &b);
			flush(mc, &b);
			continue;
		}
		if (now >= mc->next_sweep) {
			sweep(mc);
			mc->next_sweep = now_ms() + mc->sweep_ms;
			continue;
		}
		/* Sleep until the earliest deadline, or a signal. */
		wake = mc->next_sweep;
		while (mc->docker_socket && strmap_next(mc->docker, &pos, &k, &v)) {
			struct dentry *d = v;

			if (d->state == D_RETRY && d->retry_at < wake)
				wake = d->retry_at;
		}
		if (mc->kubelet_url && strmap_count(mc->wanted) && mc->kube_next < wake)
			wake = mc->kube_next;
		if (mc->kubelet_url && mc->refresh_ms && mc->live_pods &&
		    mc->kube_last + mc->refresh_ms < wake)
			wake = mc->kube_last + mc->refresh_ms;
		if (wake <= now)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((wake - now) / 1000);
		ts.tv_nsec += (long)((wake - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&mc->cond, &mc->lock, &ts);
	}
	pthread_mutex_unlock(&mc->lock);
	strv_free(&b.cids);
	strv_free(&b.pods);
	return NULL;
}

/* ---- life ---- */

static int parse_allow(const char *list, struct strv *out)
{
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		while (len && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len) {
			char *s = strndup(p, len);
			int r;

			if (!s)
				return -ENOMEM;
			if (strchr(s, '=')) {
				free(s);
				return -EINVAL;
			}
			r = strv_push(out, s);
			free(s);
			if (r < 0)
				return r;
		}
		p = e ? e + 1 : NULL;
	}
	return 0;
}

static char *dup_opt(const char *s, bool *oom)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	*oom |= !d;
	return d;
}

void meta_cache_free(struct meta_cache *mc)
{
	size_t pos = 0;
	const char *k;
	void *v;

	if (!mc)
		return;
	if (mc->started) {
		pthread_mutex_lock(&mc->lock);
		mc->stop = true;
		pthread_cond_signal(&mc->cond);
		pthread_mutex_unlock(&mc->lock);
		pthread_join(mc->thread, NULL);
	}
	while (mc->docker && strmap_next(mc->docker, &pos, &k, &v)) {
		struct dentry *e = v;

		strv_free_array(e->sel, e->nsel);
		free(e);
	}
	pos = 0;
	while (mc->wanted && strmap_next(mc->wanted, &pos, &k, &v))
		free(v);
	strmap_free(mc->docker);
	strmap_free(mc->wanted);
	strmap_free(mc->pod_index);
	strmap_free(mc->cid_index);
	kubelet_pods_free(&mc->pods);
	strv_free(&mc->env_allow);
	free(mc->docker_socket);
	free(mc->kubelet_url);
	free(mc->token_file);
	free(mc->ca_file);
	pthread_cond_destroy(&mc->cond);
	pthread_mutex_destroy(&mc->lock);
	free(mc);
}

int meta_cache_new(const struct meta_cache_opts *o, const struct meta_cache_ops *ops,
		   struct meta_cache **ret)
{
	struct meta_cache *mc = calloc(1, sizeof(*mc));
	pthread_condattr_t ca;
	bool oom = false;
	int r;

	if (!mc)
		return -ENOMEM;
	pthread_mutex_init(&mc->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mc->cond, &ca);
	pthread_condattr_destroy(&ca);
	mc->ops = *ops;
	mc->docker_socket = dup_opt(o->docker_socket, &oom);
	mc->kubelet_url = dup_opt(o->kubelet_url, &oom);
	mc->token_file = dup_opt(o->kubelet_token_file, &oom);
	mc->ca_file = dup_opt(o->kubelet_ca_file, &oom);
	mc->refresh_ms = o->kubelet_refresh_s * 1000U;
	mc->sweep_ms = o->sweep_ms ? o->sweep_ms : SWEEP_MS;
	mc->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : BACKOFF_MIN_MS;
	mc->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : BACKOFF_MAX_MS;
	if (mc->backoff_max < mc->backoff_min)
		mc->backoff_max = mc->backoff_min;
	mc->epoch = 1;
	mc->next_sweep = now_ms() + mc->sweep_ms;
	r = oom ? -ENOMEM : parse_allow(o->docker_env_allow, &mc->env_allow);
	if (r == 0)
		r = strmap_new(&mc->docker);
	if (r == 0)
		r = strmap_new(&mc->wanted);
	if (r == 0)
		r = strmap_new(&mc->pod_index);
	if (r == 0)
		r = strmap_new(&mc->cid_index);
	if (r < 0) {
		meta_cache_free(mc);
		return r;
	}
	httpc_init(); /* before the thread: libcurl's global state */
	r = -pthread_create(&mc->thread, NULL, worker, mc);
	if (r < 0) {
		meta_cache_free(mc);
		return r;
	}
	mc->started = true;
	*ret = mc;
	return 0;
}
