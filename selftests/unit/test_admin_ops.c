// SPDX-License-Identifier: Apache-2.0
/*
 * The admin API's operations RPCs in-process, over the real rpc server and
 * client: Explain ranks the entries sharing a selector with a process and
 * names what it lacks (and what it has of the same kind); Health reports
 * the probes' verdicts; Watch says WATCHING first, then streams identity
 * events, and unsubscribes when the client goes.  Plus explain_rank and
 * explain_same_kind on their own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "entry.h"
#include "explain.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "proctable.h"
#include "proctable_hooks.h"
#include "registry.h"
#include "rpc_client.h"
#include "telemetry.h"
#include "test.h"

#define PID_W 3333
#define UID_W 4242

struct fx {
	char dir[64];
	char sock[128];
	char url[160];
	struct registry *reg;
	struct proctable *pt;
	struct admin_api *api;
};

static int match_hook(void *ctx, const char *const *sel, size_t n, struct strv *eids,
		      struct strv *ids)
{
	return registry_match(ctx, sel, n, eids, ids);
}

static int fx_start(struct fx *f, struct health *health)
{
	struct registry_opts ro = {.trust_domain = "example.org"};
	struct proctable_hooks hooks = {.match = match_hook};
	struct admin_deps deps = {0};
	struct proc_state st;
	char err[256];
	int r;

	memset(f, 0, sizeof(*f));
	log_setup(LOG_LVL_ERROR, false);
	strcpy(f->dir, "/tmp/attestd-adminops.XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	snprintf(f->sock, sizeof(f->sock), "%s/admin.sock", f->dir);
	snprintf(f->url, sizeof(f->url), "sqlite://%s/store.db", f->dir);
	ro.store_url = f->url;
	r = registry_open(&ro, &f->reg, err, sizeof(err));
	if (r) {
		test_diag("registry_open: %s", err);
		return r;
	}
	r = proctable_new(&f->pt);
	if (r)
		return r;
	hooks.ctx = f->reg;
	proctable_set_hooks(f->pt, &hooks);
	registry_set_proctable(f->reg, f->pt);
	memset(&st, 0, sizeof(st));
	st.tgid = PID_W;
	st.ppid = 1;
	st.start_ns = 7000000000ULL;
	st.uid = st.euid = UID_W;
	st.gid = st.egid = UID_W;
	strcpy(st.comm, "workload");
	strcpy(st.exe, "/usr/bin/workload");
	strcpy(st.cgroup, "/test/w");
	r = proctable_upsert(f->pt, &st);
	if (r)
		return r;
	deps.pt = f->pt;
	deps.registry = f->reg;
	deps.health = health;
	return admin_api_start(f->sock, &deps, &f->api);
}

static void fx_stop(struct fx *f)
{
	char cmd[128];

	admin_api_stop(f->api);
	proctable_free(f->pt);
	registry_close(f->reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	(void)!system(cmd);
}

/* An entry for spiffe://example.org/NAME with the selectors, stored; its id into id. */
static int add_entry(struct fx *f, const char *name, const char *const *sel, size_t n,
		     char id[ENTRY_ID_LEN + 1])
{
	struct entry *e = NULL;
	char sid[128], err[256];
	int r = entry_new(&e);

	snprintf(sid, sizeof(sid), "spiffe://example.org/%s", name);
	if (!r)
		r = entry_set_spiffe_id(e, sid);
	for (size_t i = 0; !r && i < n; i++)
		r = entry_add_selector(e, sel[i]);
	if (!r)
		r = registry_create(f->reg, e, err, sizeof(err));
	if (r)
		test_diag("registry_create %s: %s", name, err);
	else
		snprintf(id, ENTRY_ID_LEN + 1, "%s", e->id);
	entry_free(e);
	return r;
}

static int explain(struct fx *f, int32_t pid, uint32_t limit,
		   Attestd__Admin__V1__ExplainResponse **ret, struct rpc_status *st)
{
	Attestd__Admin__V1__ExplainRequest req = ATTESTD__ADMIN__V1__EXPLAIN_REQUEST__INIT;
	struct rpc_client *c;
	int r = rpc_client_connect(f->sock, &c);

	if (r)
		return r;
	req.pid = pid;
	req.limit = limit;
	*ret = NULL;
	r = rpc_client_call(c, ADMIN_METHOD_EXPLAIN, &req.base,
			    &attestd__admin__v1__explain_response__descriptor,
			    (ProtobufCMessage **)ret, st);
	rpc_client_free(c);
	return r;
}

TEST(admin_explain_names_the_missing_selectors)
{
	static const char *const match[] = {"unix:uid:4242"};
	static const char *const near[] = {"unix:uid:4242", "unix:path:/usr/bin/other"};
	static const char *const far[] = {"unix:uid:1", "unix:gid:9",
					  "unix:path:/usr/bin/workload"};
	static const char *const none[] = {"unix:uid:77"};
	Attestd__Admin__V1__ExplainResponse *e = NULL;
	const Attestd__Admin__V1__MissingSelector *ms;
	char id_match[40], id_near[40], id_far[40], id_none[40];
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_start(&f, NULL));
	ASSERT_OK(add_entry(&f, "far", far, 3, id_far));
	ASSERT_OK(add_entry(&f, "near", near, 2, id_near));
	ASSERT_OK(add_entry(&f, "match", match, 1, id_match));
	ASSERT_OK(add_entry(&f, "none", none, 1, id_none));

	ASSERT_OK(explain(&f, PID_W, 0, &e, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_NOT_NULL(e->process);
	ASSERT_EQ(e->process->pid, PID_W);
	ASSERT_EQ(e->candidates, 3); /* "none" shares nothing: no near miss */
	ASSERT_EQ(e->n_entries, 3);
	ASSERT_STREQ(e->entries[0]->entry->id, id_match);
	ASSERT_EQ(e->entries[0]->n_missing, 0);
	ASSERT_TRUE(e->entries[0]->applies_here);
	ASSERT_STREQ(e->entries[1]->entry->id, id_near);
	ASSERT_EQ(e->entries[1]->n_missing, 1);
	ms = e->entries[1]->missing[0];
	ASSERT_STREQ(ms->selector, "unix:path:/usr/bin/other");
	ASSERT_EQ(ms->n_process_has, 1);
	ASSERT_STREQ(ms->process_has[0], "unix:path:/usr/bin/workload");
	ASSERT_STREQ(e->entries[2]->entry->id, id_far);
	ASSERT_EQ(e->entries[2]->n_missing, 2);
	ASSERT_STREQ(e->entries[2]->missing[0]->selector, "unix:gid:9");
	ASSERT_STREQ(e->entries[2]->missing[0]->process_has[0], "unix:gid:4242");
	ASSERT_STREQ(e->entries[2]->missing[1]->selector, "unix:uid:1");
	protobuf_c_message_free_unpacked(&e->base, NULL);

	ASSERT_OK(explain(&f, PID_W, 1, &e, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(e->n_entries, 1);
	ASSERT_EQ(e->candidates, 3);
	protobuf_c_message_free_unpacked(&e->base, NULL);

	ASSERT_OK(explain(&f, 999999, 0, &e, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_NOT_FOUND);
	ASSERT_OK(explain(&f, 0, 0, &e, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	fx_stop(&f);
}

static int bad_probe(void *arg, char *detail, size_t len)
{
	snprintf(detail, len, "the disk is on fire");
	return -EIO;
}

static int health_call(struct fx *f, Attestd__Admin__V1__HealthResponse **ret,
		       struct rpc_status *st)
{
	Attestd__Admin__V1__HealthRequest req = ATTESTD__ADMIN__V1__HEALTH_REQUEST__INIT;
	struct rpc_client *c;
	int r = rpc_client_connect(f->sock, &c);

	if (r)
		return r;
	*ret = NULL;
	r = rpc_client_call(c, ADMIN_METHOD_HEALTH, &req.base,
			    &attestd__admin__v1__health_response__descriptor,
			    (ProtobufCMessage **)ret, st);
	rpc_client_free(c);
	return r;
}

TEST(admin_health_reports_the_checks)
{
	struct health_opts o = {.manual = true};
	Attestd__Admin__V1__HealthResponse *h = NULL;
	struct health *health = NULL;
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_start(&f, NULL));
	ASSERT_OK(health_call(&f, &h, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_UNAVAILABLE);
	fx_stop(&f);

	ASSERT_OK(health_new(&o, &health));
	ASSERT_OK(health_add(health, "disk", bad_probe, NULL));
	ASSERT_OK(health_start(health));
	ASSERT_OK(fx_start(&f, health));
	ASSERT_OK(health_call(&f, &h, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_TRUE(h->live);
	ASSERT_FALSE(h->ready);
	ASSERT_STREQ(h->reason, "disk: the disk is on fire");
	ASSERT_EQ(h->n_checks, 2);
	ASSERT_STREQ(h->checks[1]->name, "disk");
	ASSERT_FALSE(h->checks[1]->ok);
	protobuf_c_message_free_unpacked(&h->base, NULL);
	fx_stop(&f);
	health_free(health);
}

struct watcher {
	struct fx *f;
	int kinds[4];
	size_t n;
	char spiffe_id[128], exe[128];
	struct rpc_status st;
	int r;
};

static int on_event(const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__IdentityEvent *ev = (const void *)msg;
	struct watcher *w = arg;

	if (w->n < 4)
		w->kinds[w->n] = ev->kind;
	w->n++;
	if (ev->kind == ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__RELEASED) {
		snprintf(w->spiffe_id, sizeof(w->spiffe_id), "%s", ev->spiffe_id);
		snprintf(w->exe, sizeof(w->exe), "%s", ev->exe);
		return 1; /* enough: cancel */
	}
	return 0;
}

static void *watch_thread(void *arg)
{
	Attestd__Admin__V1__WatchRequest req = ATTESTD__ADMIN__V1__WATCH_REQUEST__INIT;
	struct watcher *w = arg;
	struct rpc_client *c;

	w->r = rpc_client_connect(w->f->sock, &c);
	if (w->r)
		return NULL;
	rpc_client_set_timeout(c, 10000);
	w->r =
	    rpc_client_stream(c, ADMIN_METHOD_WATCH, &req.base,
			      &attestd__admin__v1__identity_event__descriptor, on_event, w, &w->st);
	rpc_client_free(c);
	return NULL;
}

static double watchers(void)
{
	return metric_value(metrics_gauge(metrics_default(), "attestd_watchers",
					  "attestctl watch streams open now.", NULL));
}

TEST(admin_watch_streams_identity_events)
{
	struct watcher w = {0};
	pthread_t t;
	struct fx f;
	int i;

	ASSERT_OK(fx_start(&f, NULL));
	w.f = &f;
	ASSERT_OK(pthread_create(&t, NULL, watch_thread, &w));
	for (i = 0; i < 500 && watchers() < 1; i++)
		usleep(10000);
	ASSERT_EQ(watchers(), 1);
	telemetry_identity(&(struct identity_event){.kind = IDENTITY_RELEASED,
						    .pid = 42,
						    .uid = 7,
						    .exe = "/usr/bin/w",
						    .spiffe_id = "spiffe://example.org/w",
						    .entry_id = "e",
						    .svid_type = "x509",
						    .rpc = "/SpiffeWorkloadAPI/FetchX509SVID"});
	pthread_join(t, NULL);
	ASSERT_OK(w.r);
	ASSERT_EQ(w.n, 2);
	ASSERT_EQ(w.kinds[0], ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__WATCHING);
	ASSERT_EQ(w.kinds[1], ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__RELEASED);
	ASSERT_STREQ(w.spiffe_id, "spiffe://example.org/w");
	ASSERT_STREQ(w.exe, "/usr/bin/w");
	/* The client went: the server unsubscribed. */
	for (i = 0; i < 500 && watchers() > 0; i++)
		usleep(10000);
	ASSERT_EQ(watchers(), 0);
	fx_stop(&f);
}

static struct entry *mk(const char *id, const char *sid, const char *const *sel, size_t n)
{
	struct entry *e = NULL;

	if (entry_new(&e))
		return NULL;
	snprintf(e->id, sizeof(e->id), "%s", id);
	entry_set_spiffe_id(e, sid);
	for (size_t i = 0; i < n; i++)
		entry_add_selector(e, sel[i]);
	return e;
}

TEST(explain_rank_and_same_kind)
{
	static const char *const proc[] = {"unix:uid:0", "unix:gid:0", "docker:label:app:web",
					   "docker:label:tier:front", "docker:env:MODE=prod"};
	static const char *const s1[] = {"unix:uid:0", "docker:label:app:db"};
	static const char *const s2[] = {"unix:uid:0"};
	static const char *const s3[] = {"unix:uid:5", "unix:gid:5"};
	static const char *const s4[] = {"unix:uid:0", "docker:env:MODE=dev", "unix:gid:7"};
	struct entry *v[5];
	struct explain_item *items = NULL;
	const char *have[8];
	size_t n = 0, cand = 0;

	v[0] = mk("c", "spiffe://t/b", s1, 2);
	v[1] = mk("a", "spiffe://t/a", s2, 1);
	v[2] = mk("d", "spiffe://t/c", s3, 2); /* shares nothing */
	v[3] = mk("b", "spiffe://t/a", s4, 3);
	v[4] = mk("a", "spiffe://t/a", s2, 1); /* the same entry again */
	ASSERT_OK(explain_rank(proc, 5, v, 5, 10, &items, &n, &cand));
	ASSERT_EQ(cand, 3);
	ASSERT_EQ(n, 3);
	ASSERT_STREQ(items[0].entry->id, "a");
	ASSERT_EQ(items[0].nmissing, 0);
	ASSERT_STREQ(items[1].entry->id, "c");
	ASSERT_EQ(items[1].nmissing, 1);
	ASSERT_STREQ(items[1].missing[0], "docker:label:app:db");
	ASSERT_STREQ(items[2].entry->id, "b");
	ASSERT_EQ(items[2].nmissing, 2);
	/* Labels by name, env by key: not every label, not every env var. */
	ASSERT_EQ(explain_same_kind(proc, 5, "docker:label:app:db", have, 8), 1);
	ASSERT_STREQ(have[0], "docker:label:app:web");
	ASSERT_EQ(explain_same_kind(proc, 5, "docker:env:MODE=dev", have, 8), 1);
	ASSERT_STREQ(have[0], "docker:env:MODE=prod");
	ASSERT_EQ(explain_same_kind(proc, 5, "unix:gid:7", have, 8), 1);
	ASSERT_STREQ(have[0], "unix:gid:0");
	ASSERT_EQ(explain_same_kind(proc, 5, "k8s:ns:x", have, 8), 0);
	explain_items_free(items, n);
}
