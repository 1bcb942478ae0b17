// SPDX-License-Identifier: Apache-2.0
/*
 * attestd's metrics, identity events and endpoints (telemetry.h).  Every
 * metric name attestd exports is declared in families_init(), with its
 * help text: docs/operations-metrics.md lists the same table.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "cleanup.h"
#include "health.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "proctable.h"
#include "registry.h"
#include "store.h"
#include "svid_cache.h"
#include "telemetry.h"
#include "tracker_user.h"
#include "workload_api.h"

#define ATTESTD_VERSION "0.1.0"

static struct {
	struct metric *build, *live, *ready, *check;
	struct metric *wl_calls, *wl_latency, *wl_streams;
	struct metric *admin_calls, *admin_latency;
	struct metric *attest, *resyncs, *store_errors, *store_up, *store_outages;
	struct metric *released, *revoked, *refused, *watchers;
	struct metric *minted, *renewed, *mint_failures, *cached;
	struct metric *entries, *processes;
	struct metric *rb_events, *rb_lost, *map_full;
	struct metric *bpf_enabled, *bpf_seconds, *bpf_runs, *bpf_misses;
} M;

static pthread_once_t families_once = PTHREAD_ONCE_INIT;

static void families_init(void)
{
	struct metrics *m = metrics_default();
	const double *lb = metrics_latency_buckets;
	size_t nlb = metrics_latency_nbuckets;

	M.build = metrics_gauge(m, "attestd_build_info", "attestd's version; always 1.", "version");
	M.live =
	    metrics_gauge(m, "attestd_live", "1 when attestd is live (GET /live is 200).", NULL);
	M.ready =
	    metrics_gauge(m, "attestd_ready", "1 when attestd is ready (GET /ready is 200).", NULL);
	M.check = metrics_gauge(m, "attestd_health_check_ok",
				"1 when the health check passed at its last run, else 0.", "check");
	M.wl_calls =
	    metrics_counter(m, "attestd_workload_api_calls_total",
			    "Workload API calls that ended, by method and status.", "rpc,code");
	M.wl_latency = metrics_histogram(
	    m, "attestd_workload_api_latency_seconds",
	    "Workload API: from a call's arrival to its answer (unary) or first message (streams).",
	    "rpc", lb, nlb);
	M.wl_streams = metrics_gauge(m, "attestd_workload_api_streams",
				     "Workload API streams open now.", NULL);
	M.admin_calls =
	    metrics_counter(m, "attestd_admin_api_calls_total",
			    "Admin API calls that ended, by method and status.", "rpc,code");
	M.admin_latency = metrics_histogram(
	    m, "attestd_admin_api_latency_seconds",
	    "Admin API calls run on the admin worker (entries, explain): from arrival to answer.",
	    "rpc", lb, nlb);
	M.attest = metrics_counter(
	    m, "attestd_attestations_total",
	    "Derivations of a process's identities (exec, cgroup move, entry change), by result.",
	    "result");
	M.resyncs = metrics_counter(
	    m, "attestd_resyncs_total",
	    "Process table resyncs from /proc and the kernel map, by reason.", "reason");
	M.store_errors =
	    metrics_counter(m, "attestd_store_errors_total",
			    "Registration store calls that failed, by operation.", "op");
	M.store_up =
	    metrics_gauge(m, "attestd_store_up",
			  "1 when the store's last contact with its database succeeded.", NULL);
	M.store_outages = metrics_counter(m, "attestd_store_outages_total",
					  "Times the store's database connection went down.", NULL);
	M.released = metrics_counter(m, "attestd_identities_released_total",
				     "Identities released to processes, by SVID type.", "type");
	M.revoked =
	    metrics_counter(m, "attestd_identities_revoked_total",
			    "Identities taken back from processes with an open stream.", NULL);
	M.refused = metrics_counter(m, "attestd_identities_refused_total",
				    "Workload API calls refused an identity, by status.", "code");
	M.watchers =
	    metrics_gauge(m, "attestd_watchers", "attestctl watch streams open now.", NULL);
	M.minted = metrics_counter(m, "attestd_svids_minted_total",
				   "SVIDs minted, renewals included, by type.", "type");
	M.renewed = metrics_counter(m, "attestd_svids_renewed_total",
				    "X.509-SVIDs minted again at half of their life.", NULL);
	M.mint_failures = metrics_counter(m, "attestd_svid_mint_failures_total",
					  "X.509-SVID mints that failed.", NULL);
	M.cached = metrics_gauge(m, "attestd_svids_cached", "X.509-SVIDs in the SVID cache.", NULL);
	M.entries = metrics_gauge(m, "attestd_entries",
				  "Registration entries in force on this node.", NULL);
	M.processes =
	    metrics_gauge(m, "attestd_tracked_processes", "Processes in the process table.", NULL);
	M.rb_events = metrics_counter(m, "attestd_ringbuf_events_total",
				      "Events the BPF programs put on the ring buffer.", NULL);
	M.rb_lost = metrics_counter(m, "attestd_ringbuf_lost_events_total",
				    "Events lost because the ring buffer was full.", NULL);
	M.map_full = metrics_counter(m, "attestd_procs_map_full_total",
				     "Processes the kernel's procs map had no room for.", NULL);
	M.bpf_enabled = metrics_gauge(
	    m, "attestd_bpf_stats_enabled",
	    "1 when kernel.bpf_stats_enabled is on and the run-time series are exported.", NULL);
	M.bpf_seconds =
	    metrics_counter(m, "attestd_bpf_prog_run_seconds_total",
			    "Time the kernel spent in each BPF program (bpf_stats).", "prog");
	M.bpf_runs = metrics_counter(m, "attestd_bpf_prog_runs_total",
				     "Runs of each BPF program (bpf_stats).", "prog");
	M.bpf_misses =
	    metrics_counter(m, "attestd_bpf_prog_recursion_misses_total",
			    "Runs of each BPF program the kernel skipped (recursion).", "prog");

	metric_set(M.build, 1, ATTESTD_VERSION);
	/* The series worth seeing at 0 before anything happened. */
	metric_add(M.attest, 0, "matched");
	metric_add(M.attest, 0, "unmatched");
	metric_add(M.released, 0, "x509");
	metric_add(M.released, 0, "jwt");
	metric_add(M.minted, 0, "x509");
	metric_add(M.minted, 0, "jwt");
	metric_add(M.refused, 0, "PERMISSION_DENIED");
}

static void families(void)
{
	pthread_once(&families_once, families_init);
}

/* ---- names ---- */

const char *telemetry_code_name(grpc_status_code code)
{
	static const char *const names[] = {
	    "OK",
	    "CANCELLED",
	    "UNKNOWN",
	    "INVALID_ARGUMENT",
	    "DEADLINE_EXCEEDED",
	    "NOT_FOUND",
	    "ALREADY_EXISTS",
	    "PERMISSION_DENIED",
	    "RESOURCE_EXHAUSTED",
	    "FAILED_PRECONDITION",
	    "ABORTED",
	    "OUT_OF_RANGE",
	    "UNIMPLEMENTED",
	    "INTERNAL",
	    "UNAVAILABLE",
	    "DATA_LOSS",
	    "UNAUTHENTICATED",
	};

	if ((unsigned)code < ARRAY_SIZE(names))
		return names[code];
	return "UNKNOWN";
}

const char *telemetry_rpc_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : path ? path : "";
}

/* ---- counters ---- */

void telemetry_workload_call(const char *path, grpc_status_code code)
{
	families();
	metric_inc(M.wl_calls, telemetry_rpc_name(path), telemetry_code_name(code));
}

void telemetry_workload_latency(const char *path, double seconds)
{
	families();
	metric_observe(M.wl_latency, seconds, telemetry_rpc_name(path));
}

void telemetry_admin_call(const char *path, grpc_status_code code)
{
	families();
	metric_inc(M.admin_calls, telemetry_rpc_name(path), telemetry_code_name(code));
}

void telemetry_admin_latency(const char *path, double seconds)
{
	families();
	metric_observe(M.admin_latency, seconds, telemetry_rpc_name(path));
}

void telemetry_attestation(enum telemetry_attest result)
{
	static const char *const names[] = {"matched", "unmatched", "error"};

	families();
	metric_inc(M.attest, names[result]);
}

void telemetry_resync(const char *reason)
{
	families();
	metric_inc(M.resyncs, reason);
}

void telemetry_store_error(const char *op)
{
	families();
	metric_inc(M.store_errors, op);
}

void telemetry_jwt_minted(void)
{
	families();
	metric_inc(M.minted, "jwt");
}

/* ---- identity events: the log line ---- */

struct bucket {
	double tokens;
	uint64_t last_ms;
	unsigned suppressed;
	bool primed;
};

static pthread_mutex_t buckets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket buckets[3];

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* A token for a line of kind k; false: leave it out (it is counted for the next). */
static bool may_log(enum identity_kind k, unsigned *ret_suppressed)
{
	struct bucket *b = &buckets[k];
	uint64_t now = mono_ms();
	bool ok;

	pthread_mutex_lock(&buckets_lock);
	if (!b->primed) {
		b->tokens = TELEMETRY_LOG_BURST;
		b->last_ms = now;
		b->primed = true;
	}
	b->tokens += (double)(now - b->last_ms) * TELEMETRY_LOG_RATE / 1000.0;
	if (b->tokens > TELEMETRY_LOG_BURST)
		b->tokens = TELEMETRY_LOG_BURST;
	b->last_ms = now;
	ok = b->tokens >= 1;
	if (ok) {
		b->tokens -= 1;
		*ret_suppressed = b->suppressed;
		b->suppressed = 0;
	} else {
		b->suppressed++;
	}
	pthread_mutex_unlock(&buckets_lock);
	return ok;
}

static void log_identity(const struct identity_event *ev)
{
	static const char *const msgs[] = {"identity released", "identity revoked",
					   "identity refused"};
	char pid[16], uid[16], sup[16];
	unsigned suppressed = 0;
	struct log_kv kv[10];
	size_t n = 0;

	if (!log_enabled(LOG_LVL_INFO) || !may_log(ev->kind, &suppressed))
		return;
	snprintf(pid, sizeof(pid), "%d", (int)ev->pid);
	snprintf(uid, sizeof(uid), "%u", (unsigned)ev->uid);
	snprintf(sup, sizeof(sup), "%u", suppressed);
	kv[n++] = (struct log_kv){"pid", pid};
	kv[n++] = (struct log_kv){"uid", uid};
	kv[n++] = (struct log_kv){"exe", ev->exe};
	kv[n++] = (struct log_kv){"spiffe_id", ev->spiffe_id};
	kv[n++] = (struct log_kv){"entry", ev->entry_id};
	kv[n++] = (struct log_kv){"type", ev->svid_type};
	kv[n++] = (struct log_kv){"rpc", ev->rpc ? telemetry_rpc_name(ev->rpc) : NULL};
	if (ev->kind == IDENTITY_REFUSED)
		kv[n++] = (struct log_kv){"code", telemetry_code_name(ev->code)};
	kv[n++] = (struct log_kv){"reason", ev->reason};
	if (suppressed)
		kv[n++] = (struct log_kv){"suppressed", sup};
	log_kv(LOG_LVL_INFO, msgs[ev->kind], kv, n);
}

/* ---- identity events: watchers ---- */

struct watcher {
	struct watcher *next;
	int id;
	identity_watch_fn fn;
	void *arg;
};

static pthread_rwlock_t watchers_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct watcher *watchers;
static int watcher_ids;
static unsigned nwatchers;

int telemetry_watch(identity_watch_fn fn, void *arg)
{
	struct watcher *w = calloc(1, sizeof(*w));
	int id;

	if (!w)
		return -ENOMEM;
	families();
	w->fn = fn;
	w->arg = arg;
	pthread_rwlock_wrlock(&watchers_lock);
	id = w->id = ++watcher_ids;
	w->next = watchers;
	watchers = w;
	metric_set(M.watchers, ++nwatchers);
	pthread_rwlock_unlock(&watchers_lock);
	return id;
}

void telemetry_unwatch(int id)
{
	struct watcher **pp, *w = NULL;

	pthread_rwlock_wrlock(&watchers_lock);
	for (pp = &watchers; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			w = *pp;
			*pp = w->next;
			metric_set(M.watchers, --nwatchers);
			break;
		}
	pthread_rwlock_unlock(&watchers_lock);
	free(w);
}

void telemetry_identity(const struct identity_event *in)
{
	struct identity_event ev = *in;
	struct timespec now;

	families();
	clock_gettime(CLOCK_REALTIME, &now);
	ev.time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	switch (ev.kind) {
	case IDENTITY_RELEASED:
		metric_inc(M.released, ev.svid_type ? ev.svid_type : "x509");
		break;
	case IDENTITY_REVOKED:
		metric_inc(M.revoked);
		break;
	case IDENTITY_REFUSED:
		metric_inc(M.refused, telemetry_code_name(ev.code));
		break;
	}
	log_identity(&ev);
	pthread_rwlock_rdlock(&watchers_lock);
	for (struct watcher *w = watchers; w; w = w->next)
		w->fn(w->arg, &ev);
	pthread_rwlock_unlock(&watchers_lock);
}

/* ---- identity events: what a stream holds ---- */

struct identity_held {
	size_t n;
	char **eids, **sids; /* parallel */
	char *exe;
};

static void held_clear(struct identity_held *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->eids[i]);
		free(h->sids[i]);
	}
	free(h->eids);
	free(h->sids);
	h->eids = h->sids = NULL;
	h->n = 0;
}

static bool refs_have(const struct identity_ref *refs, size_t n, const char *eid)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(refs[i].entry_id, eid))
			return true;
	return false;
}

static bool held_has(const struct identity_held *h, const char *eid)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strcmp(h->eids[i], eid))
			return true;
	return false;
}

void telemetry_stream_held(struct identity_held **heldp, const struct identity_event *base,
			   const struct identity_ref *refs, size_t n)
{
	struct identity_held *h = *heldp, nw = {0};
	struct identity_event ev = *base;

	if (!h) {
		h = *heldp = calloc(1, sizeof(*h));
		if (!h)
			return;
	}
	if (base->exe && (!h->exe || strcmp(h->exe, base->exe))) {
		free(h->exe);
		h->exe = strdup(base->exe);
	}
	ev.exe = h->exe;
	ev.svid_type = "x509";
	for (size_t i = 0; i < n; i++) {
		if (held_has(h, refs[i].entry_id))
			continue;
		ev.kind = IDENTITY_RELEASED;
		ev.entry_id = refs[i].entry_id;
		ev.spiffe_id = refs[i].spiffe_id;
		ev.reason = NULL;
		telemetry_identity(&ev);
	}
	for (size_t i = 0; i < h->n; i++) {
		if (refs_have(refs, n, h->eids[i]))
			continue;
		ev.kind = IDENTITY_REVOKED;
		ev.entry_id = h->eids[i];
		ev.spiffe_id = h->sids[i];
		ev.reason = base->reason ? base->reason : "the entry no longer matches the process";
		telemetry_identity(&ev);
	}
	nw.eids = calloc(n ? n : 1, sizeof(*nw.eids));
	nw.sids = calloc(n ? n : 1, sizeof(*nw.sids));
	for (size_t i = 0; nw.eids && nw.sids && i < n; i++) {
		nw.eids[i] = strdup(refs[i].entry_id);
		nw.sids[i] = strdup(refs[i].spiffe_id);
		nw.n = i + 1;
		if (!nw.eids[i] || !nw.sids[i])
			break;
	}
	held_clear(h);
	if (!nw.eids || !nw.sids || nw.n != n) {
		held_clear(&nw);
		free(nw.eids);
		free(nw.sids);
		return; /* out of memory: the next message logs as new */
	}
	h->eids = nw.eids;
	h->sids = nw.sids;
	h->n = nw.n;
}

void telemetry_stream_end(struct identity_held **heldp, const struct identity_event *base,
			  bool revoke)
{
	struct identity_held *h = *heldp;
	struct identity_event ev = *base;

	if (!h)
		return;
	ev.exe = base->exe ? base->exe : h->exe;
	ev.svid_type = "x509";
	ev.kind = IDENTITY_REVOKED;
	for (size_t i = 0; revoke && i < h->n; i++) {
		ev.entry_id = h->eids[i];
		ev.spiffe_id = h->sids[i];
		telemetry_identity(&ev);
	}
	held_clear(h);
	free(h->exe);
	free(h);
	*heldp = NULL;
}

/* ---- scrape time ---- */

static struct telemetry_sources sources;
static bool collecting;

static bool bpf_stats_on(void)
{
	char c = '0';
	int fd = open("/proc/sys/kernel/bpf_stats_enabled", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	return c == '1';
}

static void collect_bpf(struct tracker *t)
{
	struct tracker_prog progs[8];
	size_t n = tracker_progs(t, progs, ARRAY_SIZE(progs));
	bool on = bpf_stats_on();

	metric_set(M.bpf_enabled, on);
	if (!on)
		return; /* the kernel's numbers stand still: do not export them as live */
	for (size_t i = 0; i < n && i < ARRAY_SIZE(progs); i++) {
		struct bpf_prog_info info = {0};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(progs[i].prog_fd, &info, &len))
			continue;
		metric_set(M.bpf_seconds, (double)info.run_time_ns / 1e9, progs[i].name);
		metric_set(M.bpf_runs, (double)info.run_cnt, progs[i].name);
		metric_set(M.bpf_misses, (double)info.recursion_misses, progs[i].name);
	}
}

static void collect(void *arg)
{
	struct telemetry_sources *s = arg;

	if (s->pt)
		metric_set(M.processes, (double)proctable_count(s->pt));
	if (s->registry) {
		struct store_health sh;

		metric_set(M.entries, (double)registry_count(s->registry));
		if (store_health(registry_store(s->registry), &sh) == 0) {
			metric_set(M.store_up, sh.up);
			metric_set(M.store_outages, (double)sh.outages);
		}
	}
	if (s->tracker) {
		struct tracker_stats ts;

		if (tracker_stats(s->tracker, &ts) == 0) {
			metric_set(M.rb_events, (double)ts.events);
			metric_set(M.rb_lost, (double)ts.lost);
			metric_set(M.map_full, (double)ts.map_full);
		}
		collect_bpf(s->tracker);
	}
	if (s->cache) {
		struct svid_cache_stats cs;

		svid_cache_stats(s->cache, &cs);
		metric_set(M.minted, (double)cs.mints, "x509");
		metric_set(M.renewed, (double)cs.renewals);
		metric_set(M.mint_failures, (double)cs.failures);
		metric_set(M.cached, (double)cs.entries);
	}
	if (s->wl) {
		struct workload_stats ws;

		workload_api_stats(s->wl, &ws);
		metric_set(M.wl_streams, (double)ws.streams);
	}
	if (s->health) {
		struct health_report hr;

		health_get(s->health, &hr);
		metric_set(M.live, hr.live);
		metric_set(M.ready, hr.ready);
		for (size_t i = 0; i < hr.n; i++)
			metric_set(M.check, hr.checks[i].ok, hr.checks[i].name);
	}
}

int telemetry_start(const struct telemetry_sources *src)
{
	int r;

	families();
	if (collecting)
		return -EBUSY;
	sources = *src;
	r = metrics_add_collector(metrics_default(), collect, &sources);
	collecting = r == 0;
	return r;
}

void telemetry_stop(void)
{
	if (!collecting)
		return;
	metrics_remove_collector(metrics_default(), collect, &sources);
	memset(&sources, 0, sizeof(sources));
	collecting = false;
}

/* ---- endpoints ---- */

static void h_metrics(void *arg, struct http_response *resp)
{
	char *text = NULL;
	size_t len = 0;

	families();
	if (metrics_render(metrics_default(), &text, &len)) {
		resp->status = 500;
		resp->body = strdup("out of memory\n");
		resp->len = resp->body ? strlen(resp->body) : 0;
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	resp->body = text;
	resp->len = len;
}

/* "ready" or "not ready: why", then a line per check. */
static void health_text(struct health *h, bool ready_probe, struct http_response *resp)
{
	struct health_report hr;
	bool ok;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	if (!h) {
		resp->status = 200;
		resp->body = strdup(ready_probe ? "ready\n" : "live\n");
		resp->len = resp->body ? strlen(resp->body) : 0;
		return;
	}
	health_get(h, &hr);
	ok = ready_probe ? hr.ready : hr.live;
	f = open_memstream(&body, &len);
	if (!f) {
		resp->status = 500;
		return;
	}
	if (ok)
		fprintf(f, "%s\n", ready_probe ? "ready" : "live");
	else
		fprintf(f, "not %s: %s\n", ready_probe ? "ready" : "live", hr.reason);
	for (size_t i = 0; ready_probe && i < hr.n; i++)
		fprintf(f, "%s %s %s\n", hr.checks[i].name, hr.checks[i].ok ? "ok" : "FAIL",
			hr.checks[i].detail);
	fclose(f);
	resp->status = ok ? 200 : 503;
	resp->body = body;
	resp->len = len;
}

static void h_live(void *arg, struct http_response *resp)
{
	health_text(arg, false, resp);
}

static void h_ready(void *arg, struct http_response *resp)
{
	health_text(arg, true, resp);
}

static const struct http_route routes[] = {
    {"/metrics", h_metrics},
    {"/live", h_live},
    {"/ready", h_ready},
};

int telemetry_serve(const char *addr, struct health *health, struct http_server **ret, char *err,
		    size_t errlen)
{
	struct http_server_opts o = {
	    .addr = addr, .routes = routes, .nroutes = ARRAY_SIZE(routes), .arg = health};

	families();
	return http_server_start(&o, ret, err, errlen);
}
