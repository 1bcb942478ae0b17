// SPDX-License-Identifier: Apache-2.0
/*
 * Liveness and readiness (health.h): a table of probes run on a thread of
 * their own, whose last results a reader copies under a mutex, and
 * attestd's probes of its BPF links, event flow, store, CA and socket.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <openssl/evp.h>
#include "ca.h"
#include "cleanup.h"
#include "entry.h"
#include "health.h"
#include "log.h"
#include "store.h"
#include "tracker_user.h"

struct probe {
	char name[16];
	health_probe_fn fn;
	void *arg;
};

struct health {
	struct health_opts opts;
	struct probe probes[HEALTH_MAX_CHECKS - 1];
	size_t nprobes;

	uint64_t loop_tick_ms; /* atomic */
	uint64_t events;       /* atomic */

	pthread_mutex_t lock; /* the results and the thread's state below */
	pthread_cond_t cond;
	struct health_check results[HEALTH_MAX_CHECKS - 1];
	bool have_results;
	uint64_t finished_ms;
	const char *running; /* the probe running now, NULL between runs */
	uint64_t running_since;
	bool stop;
	bool started;
	pthread_t thread;

	/* attestd's probes' state, owned here */
	void *owned[8];
	size_t nowned;
};

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

int health_new(const struct health_opts *opts, struct health **ret)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	if (opts)
		h->opts = *opts;
	if (!h->opts.interval_ms)
		h->opts.interval_ms = HEALTH_DEFAULT_INTERVAL_MS;
	if (!h->opts.stale_ms)
		h->opts.stale_ms = HEALTH_DEFAULT_STALE_MS;
	if (!h->opts.loop_stall_ms)
		h->opts.loop_stall_ms = HEALTH_DEFAULT_LOOP_STALL_MS;
	if (!h->opts.canary_after_ms)
		h->opts.canary_after_ms = HEALTH_DEFAULT_CANARY_AFTER_MS;
	if (!h->opts.canary_timeout_ms)
		h->opts.canary_timeout_ms = HEALTH_DEFAULT_CANARY_TIMEOUT_MS;
	h->loop_tick_ms = now_ms();
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	*ret = h;
	return 0;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	if (h->started) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	for (size_t i = 0; i < h->nowned; i++)
		free(h->owned[i]);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int health_add(struct health *h, const char *name, health_probe_fn fn, void *arg)
{
	struct probe *p;

	if (h->nprobes == ARRAY_SIZE(h->probes))
		return -ENOSPC;
	p = &h->probes[h->nprobes++];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->fn = fn;
	p->arg = arg;
	return 0;
}

void health_run(struct health *h)
{
	struct health_check res[ARRAY_SIZE(h->results)];

	for (size_t i = 0; i < h->nprobes; i++) {
		struct probe *p = &h->probes[i];

		pthread_mutex_lock(&h->lock);
		h->running = p->name;
		h->running_since = now_ms();
		pthread_mutex_unlock(&h->lock);
		snprintf(res[i].name, sizeof(res[i].name), "%s", p->name);
		res[i].detail[0] = '\0';
		res[i].ok = p->fn(p->arg, res[i].detail, sizeof(res[i].detail)) == 0;
	}
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nprobes; i++) {
		/* One line in the log when a probe changes its verdict, not one per run. */
		if (h->have_results && h->results[i].ok != res[i].ok) {
			if (res[i].ok)
				log_info("\"health: check passes again\" check=%s", res[i].name);
			else
				log_warn(
				    "\"health: check failed; not ready\" check=%s reason=\"%s\"",
				    res[i].name, res[i].detail);
		} else if (!h->have_results && !res[i].ok) {
			log_warn("\"health: check failed; not ready\" check=%s reason=\"%s\"",
				 res[i].name, res[i].detail);
		}
		h->results[i] = res[i];
	}
	h->have_results = true;
	h->finished_ms = now_ms();
	h->running = NULL;
	pthread_mutex_unlock(&h->lock);
}

static void *health_main(void *arg)
{
	struct health *h = arg;
	struct timespec until;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		pthread_mutex_unlock(&h->lock);
		health_run(h);
		pthread_mutex_lock(&h->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += h->opts.interval_ms / 1000;
		until.tv_nsec += (long)(h->opts.interval_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (!h->stop)
			pthread_cond_timedwait(&h->cond, &h->lock, &until);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int health_start(struct health *h)
{
	int r;

	health_run(h);
	if (h->opts.manual)
		return 0;
	r = -pthread_create(&h->thread, NULL, health_main, h);
	if (r == 0)
		h->started = true;
	return r;
}

void health_loop_tick(struct health *h)
{
	if (h)
		__atomic_store_n(&h->loop_tick_ms, now_ms(), __ATOMIC_RELAXED);
}

void health_event(struct health *h)
{
	if (h)
		__atomic_add_fetch(&h->events, 1, __ATOMIC_RELAXED);
}

void health_get(struct health *h, struct health_report *ret)
{
	uint64_t now = now_ms(), tick = __atomic_load_n(&h->loop_tick_ms, __ATOMIC_RELAXED);
	struct health_check *loop = &ret->checks[0];

	memset(ret, 0, sizeof(*ret));
	snprintf(loop->name, sizeof(loop->name), "loop");
	loop->ok = now - tick < h->opts.loop_stall_ms || tick > now;
	if (!loop->ok)
		snprintf(loop->detail, sizeof(loop->detail),
			 "the main loop has not run for %llu s (ring buffer not drained)",
			 (unsigned long long)((now - tick) / 1000));
	else
		snprintf(loop->detail, sizeof(loop->detail), "running");
	ret->live = loop->ok;
	ret->ready = ret->live;
	if (!loop->ok)
		snprintf(ret->reason, sizeof(ret->reason), "loop: %s", loop->detail);
	ret->n = 1;

	pthread_mutex_lock(&h->lock);
	ret->age_ms = h->have_results ? (int64_t)(now - h->finished_ms) : -1;
	for (size_t i = 0; h->have_results && i < h->nprobes; i++) {
		ret->checks[ret->n++] = h->results[i];
		if (!h->results[i].ok && ret->ready) {
			ret->ready = false;
			snprintf(ret->reason, sizeof(ret->reason), "%s: %s", h->results[i].name,
				 h->results[i].detail);
		}
	}
	if (ret->ready && !h->have_results) {
		ret->ready = false;
		snprintf(ret->reason, sizeof(ret->reason), "starting: no health check has run yet");
	} else if (ret->ready && ret->age_ms > (int64_t)h->opts.stale_ms) {
		ret->ready = false;
		if (h->running)
			snprintf(ret->reason, sizeof(ret->reason),
				 "%s: the check has been running for %llu s", h->running,
				 (unsigned long long)((now - h->running_since) / 1000));
		else
			snprintf(ret->reason, sizeof(ret->reason),
				 "health checks have not run for %lld s",
				 (long long)ret->age_ms / 1000);
	}
	pthread_mutex_unlock(&h->lock);
}

/* ---- attestd's probes ---- */

static void *own(struct health *h, size_t size)
{
	void *p;

	if (h->nowned == ARRAY_SIZE(h->owned))
		return NULL;
	p = calloc(1, size);
	if (p)
		h->owned[h->nowned++] = p;
	return p;
}

#define MAX_PROGS 8

struct bpf_probe {
	struct tracker *tracker;
	size_t n;
	struct {
		char name[32];
		uint32_t link_id, prog_id;
	} want[MAX_PROGS];
};

static int bpf_probe(void *arg, char *detail, size_t len)
{
	struct bpf_probe *p = arg;
	struct tracker_prog progs[MAX_PROGS];
	size_t n = tracker_progs(p->tracker, progs, MAX_PROGS);

	if (n != p->n) {
		snprintf(detail, len, "%zu programs loaded, %zu expected", n, p->n);
		return -ENOENT;
	}
	for (size_t i = 0; i < n && i < MAX_PROGS; i++) {
		struct bpf_link_info info = {0};
		__u32 ilen = sizeof(info);

		if (progs[i].link_fd < 0) {
			snprintf(detail, len, "%s is not attached", progs[i].name);
			return -ENOENT;
		}
		if (bpf_obj_get_info_by_fd(progs[i].link_fd, &info, &ilen)) {
			snprintf(detail, len, "%s is detached: its link fd %d is gone (%s)",
				 progs[i].name, progs[i].link_fd, strerror(errno));
			return -ENOENT;
		}
		if (info.id != p->want[i].link_id || info.prog_id != p->want[i].prog_id) {
			snprintf(
			    detail, len,
			    "%s is detached: link fd %d is now link %u of program %u, not link "
			    "%u of program %u",
			    progs[i].name, progs[i].link_fd, info.id, info.prog_id,
			    p->want[i].link_id, p->want[i].prog_id);
			return -ENOENT;
		}
	}
	snprintf(detail, len, "%zu programs attached", n);
	return 0;
}

static int bpf_probe_init(struct bpf_probe *p, struct tracker *t, char *err, size_t len)
{
	struct tracker_prog progs[MAX_PROGS];

	p->tracker = t;
	p->n = tracker_progs(t, progs, MAX_PROGS);
	if (p->n > MAX_PROGS) {
		snprintf(err, len, "%zu programs, more than %d", p->n, MAX_PROGS);
		return -E2BIG;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct bpf_link_info info = {0};
		__u32 ilen = sizeof(info);

		snprintf(p->want[i].name, sizeof(p->want[i].name), "%s", progs[i].name);
		if (progs[i].link_fd < 0 ||
		    bpf_obj_get_info_by_fd(progs[i].link_fd, &info, &ilen)) {
			snprintf(err, len, "%s has no link", progs[i].name);
			return -ENOENT;
		}
		p->want[i].link_id = info.id;
		p->want[i].prog_id = info.prog_id;
	}
	return 0;
}

int health_canary(void)
{
	pid_t pid = vfork();

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return -errno;
	(void)waitpid(pid, NULL, 0);
	return pid;
}

struct events_probe {
	struct health *h;
	uint64_t seen, changed_ms;
	pid_t canary;
	uint64_t canary_ms;
	bool failing;
	char why[160];
};

static int events_probe(void *arg, char *detail, size_t len)
{
	struct events_probe *p = arg;
	uint64_t now = now_ms(), n = __atomic_load_n(&p->h->events, __ATOMIC_RELAXED);
	int r;

	if (n != p->seen) {
		p->seen = n;
		p->changed_ms = now;
		p->canary = 0;
		p->failing = false;
		snprintf(detail, len, "%llu events", (unsigned long long)n);
		return 0;
	}
	if (p->canary && now - p->canary_ms >= p->h->opts.canary_timeout_ms) {
		p->failing = true;
		snprintf(p->why, sizeof(p->why),
			 "no events from the kernel for %llu s: the fork and exit of canary "
			 "process %d were not reported",
			 (unsigned long long)((now - p->changed_ms) / 1000), (int)p->canary);
		p->canary = 0; /* and try again */
	}
	if (!p->canary && now - p->changed_ms >= p->h->opts.canary_after_ms) {
		r = health_canary();
		if (r > 0) {
			p->canary = r;
			p->canary_ms = now;
		} else if (!p->failing) {
			snprintf(detail, len, "idle, and cannot start a canary: %s", strerror(-r));
		}
	}
	if (p->failing) {
		snprintf(detail, len, "%s", p->why);
		return -ETIMEDOUT;
	}
	if (!*detail)
		snprintf(detail, len, "%llu events%s", (unsigned long long)n,
			 p->canary ? ", canary out" : "");
	return 0;
}

/* An id no entry has: a get that finds nothing is a round trip that changes nothing. */
#define PROBE_ID "00000000-0000-4000-8000-000000000000"

struct store_probe {
	struct store *store;
	char path[PATH_MAX]; /* SQLite's file, "" otherwise */
	dev_t dev;
	ino_t ino;
};

static int store_probe(void *arg, char *detail, size_t len)
{
	struct store_probe *p = arg;
	struct store_health sh;
	struct entry *e = NULL;
	struct stat sb;
	int r;

	if (p->path[0]) {
		if (stat(p->path, &sb) < 0) {
			snprintf(detail, len,
				 "database file %s is gone (%s): what attestd writes now is lost "
				 "at the next start",
				 p->path, strerror(errno));
			return -ENOENT;
		}
		if (sb.st_dev != p->dev || sb.st_ino != p->ino) {
			snprintf(
			    detail, len,
			    "database file %s was replaced: attestd still has the old one open",
			    p->path);
			return -ESTALE;
		}
	}
	if (store_health(p->store, &sh) == 0 && !sh.up) {
		snprintf(detail, len, "database unreachable since %lld s: %s",
			 (long long)(time(NULL) - sh.since), sh.error[0] ? sh.error : "no reason");
		return -ENOTCONN;
	}
	r = store_entry_get(p->store, PROBE_ID, &e);
	entry_free(e);
	if (r && r != -ENOENT) {
		snprintf(detail, len, "query failed: %s", strerror(-r));
		return r;
	}
	snprintf(detail, len, "reachable");
	return 0;
}

/* The SQLite file of a store URL, or "" for another backend. */
static void sqlite_path(const char *url, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!url)
		return;
	if (strncmp(url, "sqlite://", 9) == 0)
		snprintf(buf, len, "%s", url + 9);
	else if (!strstr(url, "://"))
		snprintf(buf, len, "%s", url);
}

static int try_sign(EVP_PKEY *key, char *detail, size_t len, const char *what)
{
	static const unsigned char msg[32] = "attestd health check signature";
	unsigned char sig[256];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)) == 1;

	EVP_MD_CTX_free(ctx);
	if (ok)
		return 0;
	snprintf(detail, len, "the %s cannot sign", what);
	return -EKEYREJECTED;
}

static int ca_probe(void *arg, char *detail, size_t len)
{
	struct ca *ca = arg;
	struct ca_x509_signer xs;
	struct ca_jwt_signer js;
	time_t now = time(NULL);
	int r;

	r = ca_x509_signer_get(ca, &xs);
	if (r) {
		snprintf(detail, len, "no active X.509 CA: %s", strerror(-r));
		return r;
	}
	if (xs.not_after <= now) {
		snprintf(detail, len, "the X.509 CA expired %lld s ago",
			 (long long)(now - xs.not_after));
		r = -EKEYEXPIRED;
	}
	if (!r)
		r = try_sign(xs.key, detail, len, "X.509 CA key");
	ca_x509_signer_put(&xs);
	if (r)
		return r;
	r = ca_jwt_signer_get(ca, &js);
	if (r) {
		snprintf(detail, len, "no active JWT key: %s", strerror(-r));
		return r;
	}
	if (js.not_after <= now) {
		snprintf(detail, len, "the JWT key expired %lld s ago",
			 (long long)(now - js.not_after));
		r = -EKEYEXPIRED;
	}
	if (!r)
		r = try_sign(js.key, detail, len, "JWT key");
	if (!r)
		snprintf(detail, len, "X.509 CA and JWT key sign");
	ca_jwt_signer_put(&js);
	return r;
}

struct socket_probe {
	char path[PATH_MAX];
	dev_t dev;
	ino_t ino;
};

static int socket_probe(void *arg, char *detail, size_t len)
{
	struct socket_probe *p = arg;
	struct stat sb;

	if (stat(p->path, &sb) < 0) {
		snprintf(detail, len, "Workload API socket %s is gone: %s", p->path,
			 strerror(errno));
		return -ENOENT;
	}
	if (!S_ISSOCK(sb.st_mode) || sb.st_dev != p->dev || sb.st_ino != p->ino) {
		snprintf(detail, len,
			 "Workload API socket %s was replaced: workloads reach "
			 "something else there",
			 p->path);
		return -ESTALE;
	}
	snprintf(detail, len, "%s", p->path);
	return 0;
}

int health_add_attestd(struct health *h, const struct health_deps *d)
{
	char err[160];
	struct stat sb;
	int r = 0;

	if (d->tracker) {
		struct bpf_probe *bp = own(h, sizeof(*bp));
		struct events_probe *ep = own(h, sizeof(*ep));

		if (!bp || !ep)
			return -ENOMEM;
		r = bpf_probe_init(bp, d->tracker, err, sizeof(err));
		if (r) {
			log_error("\"health: cannot read the BPF links\" error=\"%s\"", err);
			return r;
		}
		ep->h = h;
		ep->seen = __atomic_load_n(&h->events, __ATOMIC_RELAXED);
		ep->changed_ms = now_ms();
		if ((r = health_add(h, "bpf", bpf_probe, bp)) ||
		    (r = health_add(h, "events", events_probe, ep)))
			return r;
	}
	if (d->store) {
		struct store_probe *sp = own(h, sizeof(*sp));

		if (!sp)
			return -ENOMEM;
		sp->store = d->store;
		sqlite_path(d->store_url, sp->path, sizeof(sp->path));
		if (sp->path[0] && stat(sp->path, &sb) == 0) {
			sp->dev = sb.st_dev;
			sp->ino = sb.st_ino;
		} else {
			sp->path[0] = '\0';
		}
		if ((r = health_add(h, "store", store_probe, sp)))
			return r;
	}
	if (d->ca && (r = health_add(h, "ca", ca_probe, d->ca)))
		return r;
	if (d->socket_path) {
		struct socket_probe *kp = own(h, sizeof(*kp));

		if (!kp)
			return -ENOMEM;
		if (stat(d->socket_path, &sb) < 0)
			return -errno;
		snprintf(kp->path, sizeof(kp->path), "%s", d->socket_path);
		kp->dev = sb.st_dev;
		kp->ino = sb.st_ino;
		r = health_add(h, "socket", socket_probe, kp);
	}
	return r;
}
