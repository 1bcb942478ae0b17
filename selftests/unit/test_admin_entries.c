// SPDX-License-Identifier: Apache-2.0
/*
 * The admin API's entry RPCs in-process: a real registry on a temporary
 * SQLite file, a real process table with a uid 4242 process, the real
 * rpc server and client over a unix socket.  Create, get, list with
 * filters, update (masks, revisions), delete; invalid input answered
 * INVALID_ARGUMENT with the store unchanged; duplicates ALREADY_EXISTS;
 * batches all or nothing; non-root callers PERMISSION_DENIED; a locked
 * store UNAVAILABLE while other admin calls keep flowing; stopping the
 * API while a batch runs.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sqlite3.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "cleanup.h"
#include "entry.h"
#include "proctable.h"
#include "proctable_hooks.h"
#include "registry.h"
#include "rpc_client.h"
#include "rpc_server.h"
#include "test.h"

#define NOBODY 65534
#define PID_W 3333
#define UID_W 4242

/* ---- fixture ---- */

struct fx {
	char dir[64];
	char sock[128];
	char db[128];
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

static int fx_dirs(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/attestd-entries.XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	if (chmod(f->dir, 0755) < 0) /* the forked nobody caller reaches the socket */
		return -errno;
	snprintf(f->sock, sizeof(f->sock), "%s/admin.sock", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	snprintf(f->url, sizeof(f->url), "sqlite://%s", f->db);
	return 0;
}

/* Registry, process table with one uid 4242 process, admin API. */
static int fx_start(struct fx *f)
{
	struct registry_opts ro = {.store_url = f->url, .trust_domain = "example.org"};
	struct proctable_hooks hooks = {.match = match_hook};
	struct admin_deps deps = {0};
	struct proc_state st;
	char err[256];
	int r;

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
	return admin_api_start(f->sock, &deps, &f->api);
}

static int fx_setup(struct fx *f)
{
	int r = fx_dirs(f);

	return r ? r : fx_start(f);
}

static void fx_stop(struct fx *f)
{
	admin_api_stop(f->api);
	f->api = NULL;
	proctable_free(f->pt);
	f->pt = NULL;
	registry_close(f->reg);
	f->reg = NULL;
}

static void fx_teardown(struct fx *f)
{
	char p[192];

	fx_stop(f);
	(void)unlink(f->db);
	snprintf(p, sizeof(p), "%s-wal", f->db);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->db);
	(void)unlink(p);
	(void)unlink(f->sock);
	(void)rmdir(f->dir);
}

/* ---- calls ---- */

static int ecall_t(struct fx *f, const char *method, const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *resp_type, void *ret, struct rpc_status *st,
		   int timeout_ms)
{
	struct rpc_client *c;
	int r;

	r = rpc_client_connect(f->sock, &c);
	if (r)
		return r;
	rpc_client_set_timeout(c, timeout_ms);
	r = rpc_client_call(c, method, req, resp_type, (ProtobufCMessage **)ret, st);
	rpc_client_free(c);
	return r;
}

static int ecall(struct fx *f, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *resp_type, void *ret, struct rpc_status *st)
{
	return ecall_t(f, method, req, resp_type, ret, st, 20000);
}

static void pb_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* An Entry message pointing at literals. */
static void entry_msg(Attestd__Admin__V1__Entry *m, const char *spiffe_id, char **sel, size_t n)
{
	attestd__admin__v1__entry__init(m);
	m->spiffe_id = (char *)spiffe_id;
	m->selectors = sel;
	m->n_selectors = n;
}

static int create(struct fx *f, Attestd__Admin__V1__Entry *m, Attestd__Admin__V1__Entry **ret,
		  struct rpc_status *st)
{
	Attestd__Admin__V1__CreateEntryRequest req = ATTESTD__ADMIN__V1__CREATE_ENTRY_REQUEST__INIT;

	req.entry = m;
	*ret = NULL;
	return ecall(f, ADMIN_METHOD_CREATE_ENTRY, &req.base,
		     &attestd__admin__v1__entry__descriptor, ret, st);
}

/* Creates spiffe_id on one selector; its id into id (if not NULL); 0 or -EPROTO. */
static int create_simple(struct fx *f, const char *spiffe_id, const char *selector,
			 char id[ENTRY_ID_LEN + 1])
{
	Attestd__Admin__V1__Entry m, *resp;
	char *sel[] = {(char *)selector};
	struct rpc_status st;
	int r;

	entry_msg(&m, spiffe_id, sel, 1);
	r = create(f, &m, &resp, &st);
	if (r)
		return r;
	if (st.code != GRPC_STATUS_OK) {
		test_diag("create %s: status %d %s", spiffe_id, st.code, st.message);
		return -EPROTO;
	}
	if (id)
		snprintf(id, ENTRY_ID_LEN + 1, "%s", resp->id);
	pb_free(resp);
	return 0;
}

static int get(struct fx *f, const char *id, Attestd__Admin__V1__Entry **ret, struct rpc_status *st)
{
	Attestd__Admin__V1__GetEntryRequest req = ATTESTD__ADMIN__V1__GET_ENTRY_REQUEST__INIT;

	req.id = (char *)id;
	*ret = NULL;
	return ecall(f, ADMIN_METHOD_GET_ENTRY, &req.base, &attestd__admin__v1__entry__descriptor,
		     ret, st);
}

static int list(struct fx *f, char **sel, size_t nsel, const char *spiffe_id,
		Attestd__Admin__V1__ListEntriesResponse **ret, struct rpc_status *st)
{
	Attestd__Admin__V1__ListEntriesRequest req = ATTESTD__ADMIN__V1__LIST_ENTRIES_REQUEST__INIT;

	req.selectors = sel;
	req.n_selectors = nsel;
	if (spiffe_id)
		req.spiffe_id = (char *)spiffe_id;
	*ret = NULL;
	return ecall(f, ADMIN_METHOD_LIST_ENTRIES, &req.base,
		     &attestd__admin__v1__list_entries_response__descriptor, ret, st);
}

/* How many entries ListEntries returns, or -1. */
static long count_entries(struct fx *f)
{
	Attestd__Admin__V1__ListEntriesResponse *resp;
	struct rpc_status st;
	long n;

	if (list(f, NULL, 0, NULL, &resp, &st) || st.code != GRPC_STATUS_OK)
		return -1;
	n = (long)resp->n_entries;
	pb_free(resp);
	return n;
}

static int update(struct fx *f, const char *id, Attestd__Admin__V1__Entry *m, char **mask,
		  size_t nmask, uint64_t revision, Attestd__Admin__V1__Entry **ret,
		  struct rpc_status *st)
{
	Attestd__Admin__V1__UpdateEntryRequest req = ATTESTD__ADMIN__V1__UPDATE_ENTRY_REQUEST__INIT;

	req.id = (char *)id;
	req.entry = m;
	req.mask = mask;
	req.n_mask = nmask;
	req.revision = revision;
	*ret = NULL;
	return ecall(f, ADMIN_METHOD_UPDATE_ENTRY, &req.base,
		     &attestd__admin__v1__entry__descriptor, ret, st);
}

static int delete (struct fx *f, const char *id, struct rpc_status *st)
{
	Attestd__Admin__V1__DeleteEntryRequest req = ATTESTD__ADMIN__V1__DELETE_ENTRY_REQUEST__INIT;
	Attestd__Admin__V1__DeleteEntryResponse *resp = NULL;
	int r;

	req.id = (char *)id;
	r = ecall(f, ADMIN_METHOD_DELETE_ENTRY, &req.base,
		  &attestd__admin__v1__delete_entry_response__descriptor, &resp, st);
	pb_free(resp);
	return r;
}

/* The SPIFFE IDs Attest lists for the uid 4242 process, joined by ','; "" for none. */
static int attested_ids(struct fx *f, char *buf, size_t len)
{
	Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
	Attestd__Admin__V1__ProcessInfo *pi = NULL;
	struct rpc_status st;
	int r;

	req.pid = PID_W;
	r = ecall(f, ADMIN_METHOD_ATTEST, &req.base, &attestd__admin__v1__process_info__descriptor,
		  &pi, &st);
	if (r)
		return r;
	if (st.code != GRPC_STATUS_OK)
		return -EPROTO;
	buf[0] = '\0';
	for (size_t i = 0; i < pi->n_spiffe_ids; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? "," : "",
			 pi->spiffe_ids[i]);
	pb_free(pi);
	return 0;
}

/* ---- create, get, list ---- */

TEST(admin_entry_create_get)
{
	char *sel[] = {"unix:uid:4242", "k8s:ns:prod", "unix:uid:4242"};
	char *dns[] = {"b.example.org", "a.example.org", "b.example.org"};
	Attestd__Admin__V1__Entry m, *c = NULL, *g = NULL;
	struct rpc_status st;
	char ids[256];
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	ASSERT_OK(attested_ids(&f, ids, sizeof(ids)));
	ASSERT_STREQ(ids, "");
	entry_msg(&m, "spiffe://example.org/web", sel, 3);
	m.dns_names = dns;
	m.n_dns_names = 3;
	m.hint = "web";
	ASSERT_OK(create(&f, &m, &c, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_TRUE(entry_id_valid(c->id));
	ASSERT_STREQ(c->spiffe_id, "spiffe://example.org/web");
	/* Stored canonical: selectors sorted and unique, DNS names in order without repeats. */
	ASSERT_EQ(c->n_selectors, 2);
	ASSERT_STREQ(c->selectors[0], "k8s:ns:prod");
	ASSERT_STREQ(c->selectors[1], "unix:uid:4242");
	ASSERT_EQ(c->n_dns_names, 2);
	ASSERT_STREQ(c->dns_names[0], "b.example.org");
	ASSERT_STREQ(c->dns_names[1], "a.example.org");
	ASSERT_EQ(c->x509_svid_ttl, ENTRY_X509_TTL_DEFAULT);
	ASSERT_EQ(c->jwt_svid_ttl, ENTRY_JWT_TTL_DEFAULT);
	ASSERT_EQ(c->revision, 1);
	ASSERT_GT(c->created_at, 0);

	ASSERT_OK(get(&f, c->id, &g, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_STREQ(g->id, c->id);
	ASSERT_STREQ(g->hint, "web");
	ASSERT_EQ(g->n_selectors, 2);
	ASSERT_EQ(g->revision, 1);
	ASSERT_EQ(g->created_at, c->created_at);
	pb_free(g);

	/* The process has k8s:ns:prod? No: the entry does not match it yet. */
	ASSERT_OK(attested_ids(&f, ids, sizeof(ids)));
	ASSERT_STREQ(ids, "");
	ASSERT_OK(create_simple(&f, "spiffe://example.org/w4242", "unix:uid:4242", NULL));
	/* Matched at once: the registry re-evaluated the process table. */
	ASSERT_OK(attested_ids(&f, ids, sizeof(ids)));
	ASSERT_STREQ(ids, "spiffe://example.org/w4242");
	ASSERT_EQ(registry_count(f.reg), 2);
	pb_free(c);
	fx_teardown(&f);
}

TEST(admin_entry_create_keeps_a_given_id)
{
	char *sel[] = {"unix:uid:1"};
	Attestd__Admin__V1__Entry m, *c = NULL;
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	entry_msg(&m, "spiffe://example.org/x", sel, 1);
	m.id = "0b9ee0a8-4a7e-4b3f-9a51-0c8c6f7f2a10";
	m.created_at = 1700000000;
	m.revision = 77; /* ignored */
	ASSERT_OK(create(&f, &m, &c, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_STREQ(c->id, "0b9ee0a8-4a7e-4b3f-9a51-0c8c6f7f2a10");
	ASSERT_EQ(c->created_at, 1700000000);
	ASSERT_EQ(c->revision, 1);
	pb_free(c);
	fx_teardown(&f);
}

TEST(admin_entry_list_filters)
{
	char *web_sel[] = {"k8s:ns:prod", "unix:uid:1000"};
	char *both[] = {"unix:uid:1000", "k8s:ns:prod"};
	char *one[] = {"unix:uid:1000"};
	char *none[] = {"unix:uid:1000", "k8s:ns:dev"};
	char *nothing[] = {"unix:uid:99"};
	Attestd__Admin__V1__ListEntriesResponse *resp = NULL;
	Attestd__Admin__V1__Entry m, *c = NULL;
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	entry_msg(&m, "spiffe://example.org/web", web_sel, 2);
	ASSERT_OK(create(&f, &m, &c, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	pb_free(c);
	ASSERT_OK(create_simple(&f, "spiffe://example.org/api", "unix:uid:1000", NULL));
	ASSERT_OK(create_simple(&f, "spiffe://example.org/web", "unix:uid:2000", NULL));
	ASSERT_OK(create_simple(&f, "spiffe://example.org/db", "unix:uid:3000", NULL));

	ASSERT_OK(list(&f, NULL, 0, NULL, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(resp->n_entries, 4);
	/* Sorted by SPIFFE ID. */
	ASSERT_STREQ(resp->entries[0]->spiffe_id, "spiffe://example.org/api");
	ASSERT_STREQ(resp->entries[1]->spiffe_id, "spiffe://example.org/db");
	ASSERT_STREQ(resp->entries[3]->spiffe_id, "spiffe://example.org/web");
	pb_free(resp);

	ASSERT_OK(list(&f, one, 1, NULL, &resp, &st));
	ASSERT_EQ(resp->n_entries, 2);
	pb_free(resp);
	ASSERT_OK(list(&f, both, 2, NULL, &resp, &st));
	ASSERT_EQ(resp->n_entries, 1);
	ASSERT_STREQ(resp->entries[0]->spiffe_id, "spiffe://example.org/web");
	pb_free(resp);
	ASSERT_OK(list(&f, none, 2, NULL, &resp, &st));
	ASSERT_EQ(resp->n_entries, 0);
	pb_free(resp);
	ASSERT_OK(list(&f, NULL, 0, "spiffe://example.org/web", &resp, &st));
	ASSERT_EQ(resp->n_entries, 2);
	pb_free(resp);
	ASSERT_OK(list(&f, one, 1, "spiffe://example.org/web", &resp, &st));
	ASSERT_EQ(resp->n_entries, 1);
	ASSERT_EQ(resp->entries[0]->n_selectors, 2);
	pb_free(resp);
	ASSERT_OK(list(&f, nothing, 1, NULL, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(resp->n_entries, 0);
	pb_free(resp);
	/* A hostile filter is data, not SQL. */
	{
		char *evil[] = {"unix:uid:1000' OR '1'='1"};

		ASSERT_OK(list(&f, evil, 1, "x' OR 1=1 --", &resp, &st));
		ASSERT_EQ(st.code, GRPC_STATUS_OK);
		ASSERT_EQ(resp->n_entries, 0);
		pb_free(resp);
	}
	fx_teardown(&f);
}

/* ---- update ---- */

TEST(admin_entry_update_mask_and_revision)
{
	char *sel_uid1[] = {"unix:uid:1"};
	char *mask_hint[] = {"hint"};
	char *mask_sel[] = {"selectors", "x509_svid_ttl"};
	char *mask_bad[] = {"hint", "revision"};
	Attestd__Admin__V1__Entry m, *u = NULL, *g = NULL;
	char id[ENTRY_ID_LEN + 1], ids[256];
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	ASSERT_OK(create_simple(&f, "spiffe://example.org/w", "unix:uid:4242", id));
	ASSERT_OK(attested_ids(&f, ids, sizeof(ids)));
	ASSERT_STREQ(ids, "spiffe://example.org/w");

	/* Only the hint: everything else stays. */
	attestd__admin__v1__entry__init(&m);
	m.hint = "new hint";
	ASSERT_OK(update(&f, id, &m, mask_hint, 1, 0, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_STREQ(u->id, id);
	ASSERT_STREQ(u->hint, "new hint");
	ASSERT_STREQ(u->spiffe_id, "spiffe://example.org/w");
	ASSERT_EQ(u->n_selectors, 1);
	ASSERT_STREQ(u->selectors[0], "unix:uid:4242");
	ASSERT_EQ(u->revision, 2);
	pb_free(u);

	/* Selectors and a TTL: the process no longer matches. */
	attestd__admin__v1__entry__init(&m);
	m.selectors = sel_uid1;
	m.n_selectors = 1;
	m.x509_svid_ttl = 7200;
	ASSERT_OK(update(&f, id, &m, mask_sel, 2, 0, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(u->revision, 3);
	ASSERT_EQ(u->x509_svid_ttl, 7200);
	ASSERT_STREQ(u->hint, "new hint");
	pb_free(u);
	ASSERT_OK(attested_ids(&f, ids, sizeof(ids)));
	ASSERT_STREQ(ids, "");

	/* Compare and swap: a stale revision is ABORTED and changes nothing. */
	attestd__admin__v1__entry__init(&m);
	m.hint = "lost";
	ASSERT_OK(update(&f, id, &m, mask_hint, 1, 2, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_ABORTED);
	ASSERT_OK(update(&f, id, &m, mask_hint, 1, 3, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(u->revision, 4);
	pb_free(u);

	/* No mask: every field is replaced (the hint empties, the TTL goes back to default). */
	entry_msg(&m, "spiffe://example.org/w2", sel_uid1, 1);
	ASSERT_OK(update(&f, id, &m, NULL, 0, 0, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_STREQ(u->spiffe_id, "spiffe://example.org/w2");
	ASSERT_STREQ(u->hint, "");
	ASSERT_EQ(u->x509_svid_ttl, ENTRY_X509_TTL_DEFAULT);
	ASSERT_EQ(u->revision, 5);
	pb_free(u);

	/* Refused: an unknown mask field, an invalid value, an unknown id, a non-id. */
	ASSERT_OK(update(&f, id, &m, mask_bad, 2, 0, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_TRUE(strstr(st.message, "revision") != NULL);
	attestd__admin__v1__entry__init(&m);
	m.spiffe_id = "spiffe://Example.org/x";
	{
		char *mask_id[] = {"spiffe_id"};

		ASSERT_OK(update(&f, id, &m, mask_id, 1, 0, &u, &st));
		ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
		ASSERT_STREQ(st.message, "spiffe_id: trust domain must be lowercase");
		ASSERT_OK(update(&f, "0b9ee0a8-4a7e-4b3f-9a51-0c8c6f7f2a10", &m, mask_hint, 1, 0,
				 &u, &st));
		ASSERT_EQ(st.code, GRPC_STATUS_NOT_FOUND);
		ASSERT_OK(update(&f, "../../etc", &m, mask_hint, 1, 0, &u, &st));
		ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	}
	/* The refusals changed nothing. */
	ASSERT_OK(get(&f, id, &g, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(g->revision, 5);
	ASSERT_STREQ(g->spiffe_id, "spiffe://example.org/w2");
	pb_free(g);
	fx_teardown(&f);
}

TEST(admin_entry_update_without_entry_message)
{
	char *mask_hint[] = {"hint"};
	Attestd__Admin__V1__Entry *u = NULL;
	char id[ENTRY_ID_LEN + 1];
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	ASSERT_OK(create_simple(&f, "spiffe://example.org/w", "unix:uid:4242", id));
	/* Clearing a field: an absent message reads as all defaults. */
	ASSERT_OK(update(&f, id, NULL, mask_hint, 1, 0, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_STREQ(u->hint, "");
	ASSERT_STREQ(u->spiffe_id, "spiffe://example.org/w");
	pb_free(u);
	/* Without a mask that would empty the selectors: refused. */
	ASSERT_OK(update(&f, id, NULL, NULL, 0, 0, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	fx_teardown(&f);
}

/* ---- delete ---- */

TEST(admin_entry_delete)
{
	Attestd__Admin__V1__Entry *g = NULL;
	char id[ENTRY_ID_LEN + 1], ids[256];
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	ASSERT_OK(create_simple(&f, "spiffe://example.org/w", "unix:uid:4242", id));
	ASSERT_OK(attested_ids(&f, ids, sizeof(ids)));
	ASSERT_STREQ(ids, "spiffe://example.org/w");
	ASSERT_OK(delete (&f, id, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_OK(attested_ids(&f, ids, sizeof(ids)));
	ASSERT_STREQ(ids, "");
	ASSERT_OK(get(&f, id, &g, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_NOT_FOUND);
	ASSERT_OK(delete (&f, id, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_NOT_FOUND);
	ASSERT_OK(delete (&f, "not-an-id", &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_OK(get(&f, "", &g, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_EQ(registry_count(f.reg), 0);
	fx_teardown(&f);
}

/* ---- refusals ---- */

struct bad_case {
	const char *name;
	const char *spiffe_id;
	const char *selector; /* NULL: no selectors */
	const char *id;
	uint64_t x509_ttl;
	const char *dns;
	size_t ndns;	  /* copies of dns */
	const char *want; /* substring of the status message */
};

static const struct bad_case bad_cases[] = {
    {"uppercase trust domain", "spiffe://Example.org/x", "unix:uid:1", NULL, 0, NULL, 0,
     "spiffe_id: trust domain must be lowercase"},
    {"other trust domain", "spiffe://other.org/x", "unix:uid:1", NULL, 0, NULL, 0,
     "not in trust domain example.org"},
    {"no path", "spiffe://example.org", "unix:uid:1", NULL, 0, NULL, 0, "needs a path"},
    {"empty SPIFFE ID", "", "unix:uid:1", NULL, 0, NULL, 0, "spiffe_id:"},
    {"no selectors", "spiffe://example.org/x", NULL, NULL, 0, NULL, 0, "at least one selector"},
    {"unknown selector type", "spiffe://example.org/x", "aws:iid:1", NULL, 0, NULL, 0,
     "selectors[0]:"},
    {"uid with a leading zero", "spiffe://example.org/x", "unix:uid:0100", NULL, 0, NULL, 0,
     "selectors[0]:"},
    {"x509 ttl too short", "spiffe://example.org/x", "unix:uid:1", NULL, 10, NULL, 0,
     "x509_svid_ttl"},
    {"x509 ttl beyond 32 bits", "spiffe://example.org/x", "unix:uid:1", NULL, (1ULL << 32) + 3600,
     NULL, 0, "x509_svid_ttl"},
    {"id not a UUID", "spiffe://example.org/x", "unix:uid:1", "1234", 0, NULL, 0, "id:"},
    {"id too long", "spiffe://example.org/x", "unix:uid:1",
     "0b9ee0a8-4a7e-4b3f-9a51-0c8c6f7f2a10-and-more", 0, NULL, 0, "id:"},
    {"uppercase id", "spiffe://example.org/x", "unix:uid:1", "0B9EE0A8-4A7E-4B3F-9A51-0C8C6F7F2A10",
     0, NULL, 0, "id:"},
    {"bad DNS name", "spiffe://example.org/x", "unix:uid:1", NULL, 0, "-bad-.example.org", 1,
     "dns_names"},
    {"too many DNS names", "spiffe://example.org/x", "unix:uid:1", NULL, 0, NULL, 33, "dns_names"},
    {"more list items than a message may hold", "spiffe://example.org/x", "unix:uid:1", NULL, 0,
     NULL, ADMIN_MAX_LIST_ITEMS + 1, "dns_names"},
};

TEST(admin_entry_invalid_refused_store_unchanged)
{
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	ASSERT_OK(create_simple(&f, "spiffe://example.org/keep", "unix:uid:7", NULL));
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *b = &bad_cases[i];
		char *sel[] = {(char *)b->selector};
		Attestd__Admin__V1__Entry m, *c = NULL;
		char **dns = NULL;
		char names[ADMIN_MAX_LIST_ITEMS + 1][16];

		entry_msg(&m, b->spiffe_id, sel, b->selector ? 1 : 0);
		if (b->id)
			m.id = (char *)b->id;
		m.x509_svid_ttl = b->x509_ttl;
		if (b->ndns) {
			dns = calloc(b->ndns, sizeof(*dns));
			ASSERT_NOT_NULL(dns);
			for (size_t k = 0; k < b->ndns; k++) {
				snprintf(names[k], sizeof(names[k]), "h%zu.example.org", k);
				dns[k] = b->dns ? (char *)b->dns : names[k];
			}
			m.dns_names = dns;
			m.n_dns_names = b->ndns;
		}
		ASSERT_OK(create(&f, &m, &c, &st));
		free(dns);
		if (st.code != GRPC_STATUS_INVALID_ARGUMENT || !strstr(st.message, b->want)) {
			pb_free(c);
			FAIL("%s: got status %d \"%s\", expected INVALID_ARGUMENT with \"%s\"",
			     b->name, st.code, st.message, b->want);
		}
	}
	/* A missing entry message. */
	{
		Attestd__Admin__V1__CreateEntryRequest req =
		    ATTESTD__ADMIN__V1__CREATE_ENTRY_REQUEST__INIT;
		Attestd__Admin__V1__Entry *c = NULL;

		ASSERT_OK(ecall(&f, ADMIN_METHOD_CREATE_ENTRY, &req.base,
				&attestd__admin__v1__entry__descriptor, &c, &st));
		ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
		ASSERT_STREQ(st.message, "entry is missing");
	}
	ASSERT_EQ(count_entries(&f), 1);
	ASSERT_EQ(registry_count(f.reg), 1);
	fx_teardown(&f);
}

TEST(admin_entry_garbage_request_invalid_argument)
{
	/* A length-delimited field 1 whose length runs past the end. */
	static const unsigned char garbage[] = {0x0a, 0x7f, 0x01};
	static const char *methods[] = {
	    ADMIN_METHOD_CREATE_ENTRY, ADMIN_METHOD_CREATE_ENTRIES, ADMIN_METHOD_GET_ENTRY,
	    ADMIN_METHOD_UPDATE_ENTRY, ADMIN_METHOD_DELETE_ENTRY,   ADMIN_METHOD_LIST_ENTRIES,
	};
	struct rpc_client *c;
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		ASSERT_OK(rpc_client_connect(f.sock, &c));
		ASSERT_OK(rpc_client_call_raw(c, methods[i], garbage, sizeof(garbage), &st));
		rpc_client_free(c);
		if (st.code != GRPC_STATUS_INVALID_ARGUMENT)
			FAIL("%s: status %d, expected INVALID_ARGUMENT", methods[i], st.code);
	}
	ASSERT_EQ(count_entries(&f), 0);
	fx_teardown(&f);
}

TEST(admin_entry_duplicate_already_exists)
{
	char *sel[] = {"unix:uid:5", "k8s:ns:a"};
	char *sel_rev[] = {"k8s:ns:a", "unix:uid:5", "k8s:ns:a"};
	Attestd__Admin__V1__Entry m, *c = NULL, *u = NULL;
	char id[ENTRY_ID_LEN + 1], id2[ENTRY_ID_LEN + 1];
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_setup(&f));
	entry_msg(&m, "spiffe://example.org/d", sel, 2);
	ASSERT_OK(create(&f, &m, &c, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	snprintf(id, sizeof(id), "%s", c->id);
	pb_free(c);
	/* The same selector set spelled differently is the same registration. */
	entry_msg(&m, "spiffe://example.org/d", sel_rev, 3);
	ASSERT_OK(create(&f, &m, &c, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_ALREADY_EXISTS);
	/* The same id. */
	entry_msg(&m, "spiffe://example.org/other", sel, 2);
	m.id = id;
	ASSERT_OK(create(&f, &m, &c, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_ALREADY_EXISTS);
	ASSERT_TRUE(strstr(st.message, id) != NULL);
	/* An update that would make a duplicate. */
	ASSERT_OK(create_simple(&f, "spiffe://example.org/d", "unix:uid:6", id2));
	entry_msg(&m, "spiffe://example.org/d", sel, 2);
	ASSERT_OK(update(&f, id2, &m, NULL, 0, 0, &u, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_ALREADY_EXISTS);
	ASSERT_EQ(count_entries(&f), 2);
	fx_teardown(&f);
}

/* ---- batches ---- */

struct batch {
	size_t n;
	Attestd__Admin__V1__Entry *ms, **ptrs;
	char (*ids)[48];
	char (*uids)[32];
	char **sels;
};

static int batch_make(struct batch *b, size_t n, const char *prefix)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	b->ms = calloc(n, sizeof(*b->ms));
	b->ptrs = calloc(n, sizeof(*b->ptrs));
	b->ids = calloc(n, sizeof(*b->ids));
	b->uids = calloc(n, sizeof(*b->uids));
	b->sels = calloc(n, sizeof(*b->sels));
	if (!b->ms || !b->ptrs || !b->ids || !b->uids || !b->sels)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		snprintf(b->ids[i], sizeof(b->ids[i]), "spiffe://example.org/%s/%zu", prefix, i);
		snprintf(b->uids[i], sizeof(b->uids[i]), "unix:uid:%zu", 10000 + i);
		b->sels[i] = b->uids[i];
		entry_msg(&b->ms[i], b->ids[i], &b->sels[i], 1);
		b->ptrs[i] = &b->ms[i];
	}
	return 0;
}

static void batch_free(struct batch *b)
{
	free(b->ms);
	free(b->ptrs);
	free(b->ids);
	free(b->uids);
	free(b->sels);
}

static int create_batch(struct fx *f, struct batch *b,
			Attestd__Admin__V1__CreateEntriesResponse **ret, struct rpc_status *st)
{
	Attestd__Admin__V1__CreateEntriesRequest req =
	    ATTESTD__ADMIN__V1__CREATE_ENTRIES_REQUEST__INIT;

	req.entries = b->ptrs;
	req.n_entries = b->n;
	*ret = NULL;
	return ecall_t(f, ADMIN_METHOD_CREATE_ENTRIES, &req.base,
		       &attestd__admin__v1__create_entries_response__descriptor, ret, st, 120000);
}

TEST(admin_entries_batch_all_or_nothing)
{
	Attestd__Admin__V1__CreateEntriesResponse *resp = NULL;
	struct rpc_status st;
	struct batch b;
	struct fx f;
	char bad_uid[] = "unix:uid:-1";
	char *keep;

	ASSERT_OK(fx_setup(&f));
	ASSERT_OK(create_simple(&f, "spiffe://example.org/pre", "unix:uid:99", NULL));
	ASSERT_OK(batch_make(&b, 1000, "b"));

	/* One invalid entry in the middle: none is stored, and the message names it. */
	keep = b.sels[500];
	b.sels[500] = bad_uid;
	ASSERT_OK(create_batch(&f, &b, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_TRUE(strncmp(st.message, "entry 500: selectors[0]:", 24) == 0);
	ASSERT_EQ(count_entries(&f), 1);
	b.sels[500] = keep;

	/* A duplicate inside the batch. */
	b.ms[700].spiffe_id = b.ids[10];
	b.sels[700] = b.uids[10];
	ASSERT_OK(create_batch(&f, &b, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_ALREADY_EXISTS);
	ASSERT_TRUE(strstr(st.message, "entry 700") != NULL);
	ASSERT_EQ(count_entries(&f), 1);
	b.ms[700].spiffe_id = b.ids[700];
	b.sels[700] = b.uids[700];

	/* A duplicate of a stored entry. */
	b.ms[999].spiffe_id = "spiffe://example.org/pre";
	b.sels[999] = "unix:uid:99";
	ASSERT_OK(create_batch(&f, &b, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_ALREADY_EXISTS);
	ASSERT_EQ(count_entries(&f), 1);
	b.ms[999].spiffe_id = b.ids[999];
	b.sels[999] = b.uids[999];

	/* All good: all stored, answered in order with ids and revision 1. */
	ASSERT_OK(create_batch(&f, &b, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(resp->n_entries, 1000);
	for (size_t i = 0; i < resp->n_entries; i++) {
		if (strcmp(resp->entries[i]->spiffe_id, b.ids[i]) != 0 ||
		    !entry_id_valid(resp->entries[i]->id) || resp->entries[i]->revision != 1)
			FAIL("entry %zu: %s %s rev %llu", i, resp->entries[i]->spiffe_id,
			     resp->entries[i]->id, (unsigned long long)resp->entries[i]->revision);
		if (i && strcmp(resp->entries[i]->id, resp->entries[i - 1]->id) == 0)
			FAIL("entries %zu and %zu share an id", i - 1, i);
	}
	pb_free(resp);
	ASSERT_EQ(count_entries(&f), 1001);
	ASSERT_EQ(registry_count(f.reg), 1001);

	/* An empty batch is a no-op. */
	b.n = 0;
	ASSERT_OK(create_batch(&f, &b, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(resp->n_entries, 0);
	pb_free(resp);
	batch_free(&b);
	fx_teardown(&f);
}

/* ---- who may call ---- */

#define CHILD_NOCALL 102

/* A caller forked before gRPC runs here; once released it becomes nobody and calls CreateEntry. */
static pid_t nobody_creator(const char *sock, int *ret_go)
{
	int p[2];
	pid_t pid;
	char b;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(p[0]);
		*ret_go = p[1];
		return pid;
	}
	close(p[1]);
	if (read(p[0], &b, 1) != 1)
		_exit(CHILD_NOCALL);
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(CHILD_NOCALL);
	{
		Attestd__Admin__V1__CreateEntryRequest req =
		    ATTESTD__ADMIN__V1__CREATE_ENTRY_REQUEST__INIT;
		Attestd__Admin__V1__Entry m;
		char *sel[] = {"unix:uid:65534"};
		struct rpc_client *c;
		struct rpc_status st;
		int r;

		entry_msg(&m, "spiffe://example.org/nobody", sel, 1);
		req.entry = &m;
		if (rpc_client_connect(sock, &c))
			_exit(CHILD_NOCALL);
		r = rpc_client_call(c, ADMIN_METHOD_CREATE_ENTRY, &req.base, NULL, NULL, &st);
		rpc_client_free(c);
		_exit(r ? CHILD_NOCALL : (int)st.code);
	}
}

TEST(admin_entry_non_root_permission_denied)
{
	struct fx f;
	int go, status;
	pid_t child;

	if (geteuid() != 0)
		SKIP("needs root to switch to uid %d", NOBODY);
	ASSERT_OK(fx_dirs(&f));
	child = nobody_creator(f.sock, &go);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(fx_start(&f));
	/* Past the socket's mode, the peer uid check still refuses. */
	ASSERT_OK(chmod(f.sock, 0666) ? -errno : 0);
	ASSERT_EQ(write(go, "x", 1), 1);
	close(go);
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), GRPC_STATUS_PERMISSION_DENIED);
	ASSERT_EQ(count_entries(&f), 0);
	fx_teardown(&f);
}

TEST(admin_entry_no_registry_unavailable)
{
	Attestd__Admin__V1__ListEntriesResponse *resp = NULL;
	struct admin_deps deps = {0};
	struct rpc_status st;
	struct fx f;

	ASSERT_OK(fx_dirs(&f));
	ASSERT_OK(proctable_new(&f.pt));
	deps.pt = f.pt;
	ASSERT_OK(admin_api_start(f.sock, &deps, &f.api));
	ASSERT_OK(list(&f, NULL, 0, NULL, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_UNAVAILABLE);
	fx_teardown(&f);
}

/* ---- a busy store, a stop during a batch ---- */

struct bg {
	struct fx *f;
	struct batch *b; /* NULL: one CreateEntry */
	struct rpc_status st;
	int r;
	int done; /* atomic */
};

static void *bg_create(void *arg)
{
	struct bg *g = arg;

	if (g->b) {
		Attestd__Admin__V1__CreateEntriesResponse *resp = NULL;

		g->r = create_batch(g->f, g->b, &resp, &g->st);
		pb_free(resp);
	} else {
		Attestd__Admin__V1__Entry m, *c = NULL;
		char *sel[] = {"unix:uid:8"};

		entry_msg(&m, "spiffe://example.org/busy", sel, 1);
		g->r = create(g->f, &m, &c, &g->st);
		pb_free(c);
	}
	__atomic_store_n(&g->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST(admin_entry_locked_store_unavailable_and_attest_flows)
{
	struct bg g = {0};
	sqlite3 *db = NULL;
	char ids[256];
	pthread_t th;
	struct fx f;
	int attested = 0;

	ASSERT_OK(fx_setup(&f));
	/* Another writer holds the database: the store's busy timeout (5 s) runs out. */
	ASSERT_EQ(sqlite3_open(f.db, &db), SQLITE_OK);
	ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	g.f = &f;
	ASSERT_OK(-pthread_create(&th, NULL, bg_create, &g));
	/* Meanwhile the worker waits on the store, and Attest is answered. */
	for (int i = 0; i < 20 && !__atomic_load_n(&g.done, __ATOMIC_ACQUIRE); i++) {
		if (attested_ids(&f, ids, sizeof(ids)) == 0)
			attested++;
		poll(NULL, 0, 50);
	}
	pthread_join(th, NULL);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	ASSERT_EQ(attested, 20);
	ASSERT_OK(g.r);
	ASSERT_EQ(g.st.code, GRPC_STATUS_UNAVAILABLE);
	ASSERT_EQ(count_entries(&f), 0);
	/* And once the lock is gone, writes go through. */
	ASSERT_OK(create_simple(&f, "spiffe://example.org/busy", "unix:uid:8", NULL));
	ASSERT_EQ(count_entries(&f), 1);
	fx_teardown(&f);
}

TEST(admin_entry_stop_during_batch)
{
	struct registry_opts ro = {0};
	struct registry *reg = NULL;
	struct batch b;
	struct bg g = {0};
	char err[256];
	pthread_t th;
	struct fx f;
	size_t n;

	ASSERT_OK(fx_setup(&f));
	ASSERT_OK(batch_make(&b, 20000, "stop"));
	g.f = &f;
	g.b = &b;
	ASSERT_OK(-pthread_create(&th, NULL, bg_create, &g));
	poll(NULL, 0, 100);
	/* Stops while the batch is sent, queued or stored: whichever, no crash, no half batch. */
	fx_stop(&f);
	pthread_join(th, NULL);
	ro.store_url = f.url;
	ro.trust_domain = "example.org";
	ASSERT_OK(registry_open(&ro, &reg, err, sizeof(err)));
	n = registry_count(reg);
	registry_close(reg);
	test_diag("stop during a batch: call status %d, %zu entries stored", g.st.code, n);
	ASSERT_TRUE(n == 0 || n == 20000);
	if (g.st.code == GRPC_STATUS_OK)
		ASSERT_EQ(n, 20000);
	batch_free(&b);
	fx_teardown(&f);
}
