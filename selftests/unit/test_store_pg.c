// SPDX-License-Identifier: Apache-2.0
/*
 * The store contract, run case by case against both backends (SQLite in a
 * temporary directory, PostgreSQL in a private cluster: pg_cluster.h), and
 * what only the PostgreSQL backend has: migrations shared by nodes,
 * integrity checks, change notification, and riding out an outage.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "cleanup.h"
#include "entry.h"
#include "pg_cluster.h"
#include "store.h"

/* ---- helpers ---- */

static void store_closep(struct store **s)
{
	store_close(*s);
}
#define _cleanup_store_ _cleanup_(store_closep)

static void entry_freep(struct entry **e)
{
	entry_free(*e);
}
#define _cleanup_entry_ _cleanup_(entry_freep)

struct list {
	struct entry **v;
	size_t n;
};

static void list_free(struct list *l)
{
	entries_free(l->v, l->n);
	l->v = NULL;
	l->n = 0;
}
#define _cleanup_list_ _cleanup_(list_free)

static void clusterp(struct pg_cluster *c)
{
	pg_cluster_destroy(c);
}
#define _cleanup_cluster_ _cleanup_(clusterp)

static struct entry *mk(const char *spiffe_id, const char *const *sels, size_t n)
{
	struct entry *e;

	if (entry_new(&e))
		return NULL;
	if (entry_set_spiffe_id(e, spiffe_id)) {
		entry_free(e);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (entry_add_selector(e, sels[i])) {
			entry_free(e);
			return NULL;
		}
	}
	return e;
}

#define MK(id, ...)                                                                                \
	mk(id, (const char *const[]){ __VA_ARGS__ },                                                \
	   sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static size_t count_all(struct store *s)
{
	struct list l = { 0 };
	size_t n;

	if (store_entry_list(s, NULL, &l.v, &l.n))
		return (size_t)-1;
	n = l.n;
	list_free(&l);
	return n;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- the cases every backend passes; each gets the URL of a fresh, empty store ---- */

static void case_crud(const char *url)
{
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *a = NULL, *b = NULL, *c = NULL, *got = NULL, *upd = NULL;
	_cleanup_list_ struct list l = { 0 };
	struct store_filter f = { 0 };
	time_t now = time(NULL);

	ASSERT_OK(store_open(url, &s));
	a = MK("spiffe://example.org/web", "unix:uid:1000", "k8s:ns:prod");
	b = MK("spiffe://example.org/db", "unix:uid:1000", "k8s:ns:data");
	c = MK("spiffe://example.org/web", "k8s:ns:staging");
	ASSERT_TRUE(a && b && c);
	ASSERT_OK(entry_add_dns_name(a, "web.example.org"));
	ASSERT_OK(entry_add_dns_name(a, "a.example.org")); /* order kept, not sorted */
	ASSERT_OK(entry_add_federates_with(a, "partner.org"));
	ASSERT_OK(entry_set_hint(a, "frontend"));
	ASSERT_OK(entry_set_parent_id(b, "spiffe://example.org/attestd/node/n1"));
	a->x509_svid_ttl = 7200;
	ASSERT_OK(store_entry_create(s, a));
	ASSERT_OK(store_entry_create(s, b));
	ASSERT_OK(store_entry_create(s, c));
	ASSERT_EQ(a->revision, 1);
	ASSERT_TRUE(a->created_at >= now && a->created_at <= now + 5);
	ASSERT_EQ(a->jwt_svid_ttl, ENTRY_JWT_TTL_DEFAULT);

	ASSERT_OK(store_entry_get(s, a->id, &got));
	ASSERT_STREQ(got->id, a->id);
	ASSERT_STREQ(got->spiffe_id, "spiffe://example.org/web");
	ASSERT_STREQ(got->parent_id, "");
	ASSERT_EQ(got->nselectors, 2);
	ASSERT_STREQ(got->selectors[0], "k8s:ns:prod");
	ASSERT_STREQ(got->selectors[1], "unix:uid:1000");
	ASSERT_EQ(got->x509_svid_ttl, 7200);
	ASSERT_EQ(got->jwt_svid_ttl, 300);
	ASSERT_EQ(got->ndns_names, 2);
	ASSERT_STREQ(got->dns_names[0], "web.example.org");
	ASSERT_STREQ(got->dns_names[1], "a.example.org");
	ASSERT_EQ(got->nfederates_with, 1);
	ASSERT_STREQ(got->federates_with[0], "partner.org");
	ASSERT_STREQ(got->hint, "frontend");
	ASSERT_EQ(got->revision, 1);
	ASSERT_EQ(got->created_at, a->created_at);
	entry_free(TAKE_PTR(got));
	ASSERT_OK(store_entry_get(s, b->id, &got));
	ASSERT_STREQ(got->parent_id, "spiffe://example.org/attestd/node/n1");
	ASSERT_ERR(store_entry_get(s, "00000000-0000-4000-8000-000000000000", &upd), -ENOENT);

	/* Lists: all (sorted by SPIFFE ID), by selector, by SPIFFE ID, by both. */
	ASSERT_OK(store_entry_list(s, NULL, &l.v, &l.n));
	ASSERT_EQ(l.n, 3);
	ASSERT_STREQ(l.v[0]->spiffe_id, "spiffe://example.org/db");
	list_free(&l);
	f.selector = "unix:uid:1000";
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 2);
	ASSERT_STREQ(l.v[0]->id, b->id);
	ASSERT_STREQ(l.v[1]->id, a->id);
	list_free(&l);
	f.spiffe_id = "spiffe://example.org/web";
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 1);
	ASSERT_STREQ(l.v[0]->id, a->id);
	list_free(&l);
	f.selector = NULL;
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 2);
	list_free(&l);
	f.selector = "unix:uid:1"; /* a prefix of a stored selector is not that selector */
	f.spiffe_id = NULL;
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 0);
	list_free(&l);

	/* Update: contents replaced, revision bumped, id and created_at kept. */
	upd = MK("spiffe://example.org/web2", "unix:uid:2000");
	ASSERT_NOT_NULL(upd);
	ASSERT_OK(store_entry_update(s, a->id, upd));
	ASSERT_EQ(upd->revision, 2);
	ASSERT_STREQ(upd->id, a->id);
	ASSERT_EQ(upd->created_at, a->created_at);
	entry_free(TAKE_PTR(got));
	ASSERT_OK(store_entry_get(s, a->id, &got));
	ASSERT_STREQ(got->spiffe_id, "spiffe://example.org/web2");
	ASSERT_EQ(got->nselectors, 1);
	ASSERT_EQ(got->ndns_names, 0);
	ASSERT_EQ(got->revision, 2);
	ASSERT_OK(store_entry_update(s, a->id, got)); /* read-modify-write at the current revision */
	ASSERT_EQ(got->revision, 3);
	got->revision = 2;
	ASSERT_ERR(store_entry_update(s, a->id, got), -ESTALE);
	/* The selector index follows the update. */
	f = (struct store_filter){ .selector = "unix:uid:1000" };
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 1);
	list_free(&l);
	f.selector = "unix:uid:2000";
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 1);
	list_free(&l);
	upd->revision = 0;
	ASSERT_ERR(store_entry_update(s, "00000000-0000-4000-8000-000000000000", upd), -ENOENT);

	ASSERT_OK(store_entry_delete(s, a->id));
	ASSERT_ERR(store_entry_delete(s, a->id), -ENOENT);
	ASSERT_ERR(store_entry_get(s, a->id, &upd), -ENOENT);
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 0);
	ASSERT_EQ(count_all(s), 2);
	ASSERT_OK(store_integrity_check(s, NULL, 0));
}

static void case_duplicates_refused(const char *url)
{
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *a = NULL, *dup = NULL, *other_parent = NULL, *other = NULL,
				     *same_id = NULL;

	ASSERT_OK(store_open(url, &s));
	a = MK("spiffe://example.org/web", "unix:uid:1000", "k8s:ns:prod");
	/* The same set in another order, with a repeat, is the same registration. */
	dup = MK("spiffe://example.org/web", "k8s:ns:prod", "unix:uid:1000", "k8s:ns:prod");
	other_parent = MK("spiffe://example.org/web", "unix:uid:1000", "k8s:ns:prod");
	other = MK("spiffe://example.org/web", "unix:uid:1000");
	ASSERT_TRUE(a && dup && other_parent && other);
	ASSERT_OK(entry_set_parent_id(other_parent, "spiffe://example.org/attestd/node/n1"));
	ASSERT_OK(store_entry_create(s, a));
	ASSERT_ERR(store_entry_create(s, dup), -EEXIST);
	ASSERT_OK(store_entry_create(s, other_parent));
	ASSERT_OK(store_entry_create(s, other));
	ASSERT_OK(entry_dup(other, &same_id));
	ASSERT_OK(entry_set_spiffe_id(same_id, "spiffe://example.org/new"));
	ASSERT_ERR(store_entry_create(s, same_id), -EEXIST);
	/* Updating other into a copy of a is a duplicate; into itself is not. */
	ASSERT_ERR(store_entry_update(s, other->id, dup), -EEXIST);
	ASSERT_OK(store_entry_update(s, other->id, other));
	ASSERT_EQ(count_all(s), 3);
	snprintf(dup->id, sizeof(dup->id), "not-a-uuid");
	ASSERT_ERR(store_entry_create(s, dup), -EINVAL);
	ASSERT_OK(store_integrity_check(s, NULL, 0));
}

static void case_batch_all_or_nothing(const char *url)
{
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *again = NULL;
	struct entry *v[4] = { 0 }, *w[2];
	size_t failed = 99;
	char saved_id[ENTRY_ID_LEN + 1];

	ASSERT_OK(store_open(url, &s));
	v[0] = MK("spiffe://example.org/a", "unix:uid:1");
	v[1] = MK("spiffe://example.org/b", "unix:uid:2");
	v[2] = MK("spiffe://example.org/c", "unix:uid:3");
	v[3] = MK("spiffe://example.org/a", "unix:uid:1"); /* duplicates v[0] */
	again = MK("spiffe://example.org/b", "unix:uid:2");
	if (!(v[0] && v[1] && v[2] && v[3] && again))
		goto out;

	if (store_entry_create_batch(s, v, 4, &failed) != -EEXIST || failed != 3 ||
	    count_all(s) != 0 || v[0]->revision != 0) {
		test_fail_at(__FILE__, __LINE__, "a batch with a duplicate inside stored something");
		goto out;
	}
	/* An entry with an unusable id poisons the batch the same way. */
	memcpy(saved_id, v[1]->id, sizeof(saved_id));
	snprintf(v[1]->id, sizeof(v[1]->id), "../../etc");
	if (store_entry_create_batch(s, v, 3, &failed) != -EINVAL || failed != 1 ||
	    count_all(s) != 0) {
		test_fail_at(__FILE__, __LINE__, "a batch with a bad id stored something");
		goto out;
	}
	memcpy(v[1]->id, saved_id, sizeof(saved_id));
	/* Empty ids are generated, and cleared again when the batch fails. */
	v[2]->id[0] = '\0';
	if (store_entry_create_batch(s, v, 4, &failed) != -EEXIST || v[2]->id[0]) {
		test_fail_at(__FILE__, __LINE__, "a generated id survived a failed batch");
		goto out;
	}
	if (store_entry_create_batch(s, v, 3, &failed) || count_all(s) != 3 ||
	    !entry_id_valid(v[2]->id) || v[2]->revision != 1) {
		test_fail_at(__FILE__, __LINE__, "a good batch was not stored whole");
		goto out;
	}
	/* A batch that duplicates a stored entry writes nothing either. */
	if (entry_set_spiffe_id(v[3], "spiffe://example.org/d"))
		goto out;
	w[0] = v[3];
	w[1] = again;
	if (store_entry_create_batch(s, w, 2, &failed) != -EEXIST || failed != 1 ||
	    count_all(s) != 3) {
		test_fail_at(__FILE__, __LINE__, "a batch duplicating a stored entry stored something");
		goto out;
	}
	if (store_entry_create_batch(s, v, 0, NULL))
		test_fail_at(__FILE__, __LINE__, "an empty batch failed");
out:
	for (int i = 0; i < 4; i++)
		entry_free(v[i]);
}

static void case_hostile_strings(const char *url)
{
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *e = NULL, *got = NULL;
	_cleanup_list_ struct list l = { 0 };
	struct store_filter f = { .selector = "unix:user:x' OR '1'='1" };
	const char *evil = "spiffe://example.org/x'); DROP TABLE entries; --";

	ASSERT_OK(store_open(url, &s));
	e = MK(evil, "unix:user:x' OR '1'='1", "unix:path:/a\"b\\c$1$$");
	ASSERT_NOT_NULL(e);
	ASSERT_OK(entry_set_hint(e, "[\"json\", {\"in\": \"a hint\"}] caf\xc3\xa9 \\u0041 $$ ?"));
	ASSERT_OK(entry_add_dns_name(e, "\"],\"x\":[\""));
	ASSERT_OK(store_entry_create(s, e));
	ASSERT_OK(store_entry_get(s, e->id, &got));
	ASSERT_STREQ(got->spiffe_id, evil);
	ASSERT_STREQ(got->hint, e->hint);
	ASSERT_EQ(got->ndns_names, 1);
	ASSERT_STREQ(got->dns_names[0], "\"],\"x\":[\"");
	ASSERT_STREQ(got->selectors[0], "unix:path:/a\"b\\c$1$$");
	ASSERT_STREQ(got->selectors[1], "unix:user:x' OR '1'='1");
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 1);
	list_free(&l);
	f.selector = "' OR 1=1 --";
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 0);
	ASSERT_ERR(store_entry_get(s, "' OR 1=1 --", &got), -ENOENT);
	ASSERT_ERR(store_entry_delete(s, "' OR 1=1 --"), -ENOENT);
	ASSERT_EQ(count_all(s), 1);
	ASSERT_OK(store_integrity_check(s, NULL, 0));
}

/* strcmp order, whatever the database's collation says. */
static void case_list_order(const char *url)
{
	static const char *const ids[] = { "spiffe://example.org/a", "spiffe://example.org/B",
					   "spiffe://example.org/_x", "spiffe://example.org/a-b",
					   "spiffe://example.org/aa" };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_list_ struct list l = { 0 };

	ASSERT_OK(store_open(url, &s));
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		_cleanup_entry_ struct entry *e = MK(ids[i], "unix:uid:5");

		ASSERT_NOT_NULL(e);
		ASSERT_OK(store_entry_create(s, e));
	}
	ASSERT_OK(store_entry_list(s, NULL, &l.v, &l.n));
	ASSERT_EQ(l.n, ARRAY_SIZE(ids));
	for (size_t i = 1; i < l.n; i++)
		if (strcmp(l.v[i - 1]->spiffe_id, l.v[i]->spiffe_id) >= 0)
			FAIL("not in strcmp order: \"%s\" before \"%s\"", l.v[i - 1]->spiffe_id,
			     l.v[i]->spiffe_id);
}

static void case_reopen_persists(const char *url)
{
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *a = NULL, *got = NULL;
	char err[512] = "";

	ASSERT_OK(store_open(url, &s));
	a = MK("spiffe://example.org/keep", "unix:uid:7", "unix:gid:7");
	ASSERT_NOT_NULL(a);
	ASSERT_OK(store_entry_create(s, a));
	store_close(TAKE_PTR(s));
	ASSERT_OK(store_open(url, &s)); /* migrations run once: opening again changes nothing */
	ASSERT_OK(store_entry_get(s, a->id, &got));
	ASSERT_STREQ(got->spiffe_id, "spiffe://example.org/keep");
	ASSERT_EQ(got->nselectors, 2);
	ASSERT_OK(store_integrity_check(s, err, sizeof(err)));
}

/* Two handles on one store, as two nodes have: compare-and-swap and the duplicate rule hold across them. */
struct racer {
	struct store *s;
	struct entry *e;
	pthread_barrier_t *go;
	int r;
};

static void *racer_main(void *arg)
{
	struct racer *rc = arg;

	pthread_barrier_wait(rc->go);
	rc->r = store_entry_create(rc->s, rc->e);
	return NULL;
}

static void case_two_handles(const char *url)
{
	_cleanup_store_ struct store *a = NULL, *b = NULL;
	_cleanup_entry_ struct entry *e = NULL, *seen_a = NULL, *seen_b = NULL;
	pthread_barrier_t go;
	struct racer rc[2];
	pthread_t th[2];

	ASSERT_OK(store_open(url, &a));
	ASSERT_OK(store_open(url, &b));
	e = MK("spiffe://example.org/shared", "unix:uid:9");
	ASSERT_NOT_NULL(e);
	ASSERT_OK(store_entry_create(a, e));
	ASSERT_OK(store_entry_get(a, e->id, &seen_a));
	ASSERT_OK(store_entry_get(b, e->id, &seen_b));
	ASSERT_OK(store_entry_update(b, e->id, seen_b));
	ASSERT_EQ(seen_b->revision, 2);
	ASSERT_ERR(store_entry_update(a, e->id, seen_a), -ESTALE); /* a read revision 1 */

	/* The same registration from both at once: exactly one gets in. */
	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < 2; i++) {
		rc[i] = (struct racer){ i ? b : a, MK("spiffe://example.org/race", "unix:uid:10"),
					&go, 0 };
		ASSERT_NOT_NULL(rc[i].e);
	}
	for (int i = 0; i < 2; i++)
		ASSERT_OK(pthread_create(&th[i], NULL, racer_main, &rc[i]));
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	entry_free(rc[0].e);
	entry_free(rc[1].e);
	ASSERT_TRUE((rc[0].r == 0 && rc[1].r == -EEXIST) || (rc[0].r == -EEXIST && rc[1].r == 0));
	ASSERT_EQ(count_all(a), 2);
}

struct writer {
	struct store *s;
	int base, r;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char id[64];

	for (int i = 0; i < 25 && !w->r; i++) {
		struct entry *e;

		snprintf(id, sizeof(id), "spiffe://example.org/t%d/%d", w->base, i);
		e = MK(id, "unix:uid:0");
		w->r = e ? store_entry_create(w->s, e) : -ENOMEM;
		entry_free(e);
	}
	return NULL;
}

static void case_threads(const char *url)
{
	_cleanup_store_ struct store *s = NULL;
	struct writer w[4];
	pthread_t th[4];

	ASSERT_OK(store_open(url, &s));
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){ s, i, 0 };
		ASSERT_OK(pthread_create(&th[i], NULL, writer_main, &w[i]));
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		ASSERT_OK(w[i].r);
	ASSERT_EQ(count_all(s), 100);
}

static void case_batch_2k_indexed_filter(const char *url)
{
	enum { N = 2000 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_list_ struct list l = { 0 };
	struct store_filter f = { .selector = "k8s:pod-uid:pod-1234" };
	struct entry **v = calloc(N, sizeof(*v));
	double t0, t1, t2;
	char a[48], b[48], id[64];

	ASSERT_NOT_NULL(v);
	ASSERT_OK(store_open(url, &s));
	for (int i = 0; i < N; i++) {
		snprintf(a, sizeof(a), "k8s:pod-uid:pod-%d", i);
		snprintf(b, sizeof(b), "k8s:ns:ns-%d", i % 50);
		snprintf(id, sizeof(id), "spiffe://example.org/pod/%d", i);
		v[i] = MK(id, a, b, "unix:uid:1000");
		ASSERT_NOT_NULL(v[i]);
	}
	t0 = now_ms();
	ASSERT_OK(store_entry_create_batch(s, v, N, NULL));
	t1 = now_ms();
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	t2 = now_ms();
	entries_free(v, N);
	ASSERT_EQ(l.n, 1);
	ASSERT_STREQ(l.v[0]->spiffe_id, "spiffe://example.org/pod/1234");
	test_diag("%d entries in one batch: %.0f ms; filter by selector: %.2f ms", N, t1 - t0,
		  t2 - t1);
	list_free(&l);
	f.selector = "k8s:ns:ns-7";
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, N / 50);
	ASSERT_OK(store_integrity_check(s, NULL, 0));
}

static const struct {
	const char *name;
	void (*fn)(const char *url);
} cases[] = {
	{ "crud", case_crud },
	{ "duplicates_refused", case_duplicates_refused },
	{ "batch_all_or_nothing", case_batch_all_or_nothing },
	{ "hostile_strings", case_hostile_strings },
	{ "list_order", case_list_order },
	{ "reopen_persists", case_reopen_persists },
	{ "two_handles", case_two_handles },
	{ "threads", case_threads },
	{ "batch_2k_indexed_filter", case_batch_2k_indexed_filter },
};

typedef int (*fresh_fn)(void *arg, char *url, size_t len);

static void run_cases(const char *backend, fresh_fn fresh, void *arg)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char url[256];
		double t0 = now_ms();

		if (fresh(arg, url, sizeof(url)) < 0)
			FAIL("%s: cannot make a fresh store for case %s", backend, cases[i].name);
		cases[i].fn(url);
		if (test_failed())
			FAIL("%s: case %s failed", backend, cases[i].name);
		test_diag("%s: %s ok (%.0f ms)", backend, cases[i].name, now_ms() - t0);
	}
}

struct sqlite_dir {
	char dir[64];
	int n;
};

static int sqlite_fresh(void *arg, char *url, size_t len)
{
	struct sqlite_dir *d = arg;

	snprintf(url, len, "sqlite://%s/store-%d.db", d->dir, ++d->n);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void sqlite_dirp(struct sqlite_dir *d)
{
	if (d->dir[0] && !strstr(d->dir, "XXXXXX"))
		nftw(d->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static int pg_fresh(void *arg, char *url, size_t len)
{
	return pg_cluster_createdb(arg, url, len);
}

/* Starts a private cluster, or says why the test must skip. */
static int cluster_up(struct pg_cluster *c, char *why, size_t len)
{
	int r = pg_cluster_init(c, why, len);

	if (r == -ENOENT)
		return r;
	if (r == 0)
		r = pg_cluster_start(c);
	if (r < 0)
		snprintf(why, len, "cannot start PostgreSQL: %s", strerror(-r));
	return r < 0 ? -EIO : 0;
}

TEST(store_contract_sqlite)
{
	_cleanup_(sqlite_dirp) struct sqlite_dir d = { "/tmp/attestd-contract-XXXXXX", 0 };

	ASSERT_NOT_NULL(mkdtemp(d.dir));
	run_cases("sqlite", sqlite_fresh, &d);
}

TEST(store_contract_pg)
{
	_cleanup_cluster_ struct pg_cluster c = { 0 };
	char why[256];
	int r = cluster_up(&c, why, sizeof(why));

	if (r == -ENOENT)
		SKIP("%s", why);
	if (r < 0)
		FAIL("%s", why);
	run_cases("postgresql", pg_fresh, &c);
}

/* ---- PostgreSQL only ---- */

struct opener {
	const char *url;
	int r;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	struct store *s = NULL;

	o->r = store_open(o->url, &s);
	store_close(s);
	return NULL;
}

TEST(store_pg_schema_and_integrity)
{
	_cleanup_cluster_ struct pg_cluster c = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *e = NULL;
	struct opener o[4];
	pthread_t th[4];
	char url[256], why[256], err[512] = "";
	double t0;
	int r = cluster_up(&c, why, sizeof(why));

	if (r == -ENOENT)
		SKIP("%s", why);
	if (r < 0)
		FAIL("%s", why);
	/* Four nodes start on an empty database at once: one migrates, none fails. */
	ASSERT_OK(pg_cluster_createdb(&c, url, sizeof(url)));
	for (int i = 0; i < 4; i++) {
		o[i] = (struct opener){ url, 1 };
		ASSERT_OK(pthread_create(&th[i], NULL, opener_main, &o[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ASSERT_OK(o[i].r);
	}
	ASSERT_EQ(pg_cluster_sql_long(url, "SELECT version FROM schema_version"), 1);
	ASSERT_EQ(pg_cluster_sql_long(url, "SELECT count(*) FROM schema_version"), 1);

	ASSERT_OK(store_open(url, &s));
	e = MK("spiffe://example.org/keep", "unix:uid:7", "unix:gid:7");
	ASSERT_NOT_NULL(e);
	ASSERT_OK(store_entry_create(s, e));
	ASSERT_OK(store_integrity_check(s, err, sizeof(err)));

	/* Damage behind the store's back: the check notices each kind. */
	ASSERT_OK(pg_cluster_sql(url, "DELETE FROM entry_selectors WHERE selector = 'unix:gid:7'"));
	ASSERT_ERR(store_integrity_check(s, err, sizeof(err)), -EUCLEAN);
	ASSERT_TRUE(strstr(err, "selector index") != NULL);
	ASSERT_OK(pg_cluster_sql(url, "INSERT INTO entry_selectors SELECT 'unix:gid:7', pk FROM entries"));
	ASSERT_OK(store_integrity_check(s, err, sizeof(err)));
	ASSERT_OK(pg_cluster_sql(url, "ALTER TABLE entries DISABLE TRIGGER entries_notify"));
	ASSERT_ERR(store_integrity_check(s, err, sizeof(err)), -EUCLEAN);
	ASSERT_TRUE(strstr(err, "trigger") != NULL);
	ASSERT_OK(pg_cluster_sql(url, "ALTER TABLE entries ENABLE TRIGGER entries_notify"));
	ASSERT_OK(store_integrity_check(s, err, sizeof(err)));
	store_close(TAKE_PTR(s));

	/* A node's role needs no DDL rights on a migrated database (docs/fleet.md's grants). */
	ASSERT_OK(pg_cluster_sql(url, "CREATE ROLE attestd_node LOGIN;"
				      "REVOKE CREATE ON SCHEMA public FROM PUBLIC;"
				      "GRANT SELECT, INSERT, UPDATE, DELETE ON entries, entry_selectors "
				      "TO attestd_node;"
				      "GRANT SELECT ON schema_version TO attestd_node;"
				      "GRANT USAGE ON SEQUENCE entries_pk_seq TO attestd_node"));
	{
		_cleanup_store_ struct store *node = NULL;
		_cleanup_entry_ struct entry *x = MK("spiffe://example.org/by-node", "unix:uid:8");
		char nurl[300];

		ASSERT_NOT_NULL(strstr(url, "user=postgres"));
		snprintf(nurl, sizeof(nurl), "%.*suser=attestd_node", (int)(strstr(url, "user=") - url),
			 url);
		ASSERT_NOT_NULL(x);
		ASSERT_OK(store_open(nurl, &node));
		ASSERT_OK(store_entry_create(node, x));
		ASSERT_OK(store_entry_update(node, x->id, x));
		ASSERT_OK(store_entry_delete(node, x->id));
	}

	/* A schema from a newer attestd is refused, not "migrated". */
	ASSERT_OK(pg_cluster_sql(url, "UPDATE schema_version SET version = 99"));
	ASSERT_ERR(store_open(url, &s), -ENOTSUP);
	ASSERT_EQ(pg_cluster_sql_long(url, "SELECT version FROM schema_version"), 99);

	/* Bad URLs and absent servers: clear errors, quickly. */
	ASSERT_ERR(store_open("postgresql://%zz/db", &s), -EINVAL);
	t0 = now_ms();
	snprintf(url, sizeof(url), "postgresql:///postgres?host=%s/nonexistent", c.dir);
	ASSERT_ERR(store_open(url, &s), -ENOTCONN);
	ASSERT_ERR(store_open("postgres:///nosuchdb?host=/nonexistent-attestd", &s), -ENOTCONN);
	ASSERT_TRUE(now_ms() - t0 < 2000);
	pg_cluster_url(&c, "nosuchdb", url, sizeof(url));
	ASSERT_ERR(store_open(url, &s), -ENOTCONN);
}

/* Records what a watch reports. */
struct recorder {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char (*ids)[ENTRY_ID_LEN + 2]; /* "" for a resync */
	int n, cap;
	int fail; /* return -EIO this many more times */
};

static void recorder_init(struct recorder *rc)
{
	memset(rc, 0, sizeof(*rc));
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->cond, NULL);
	rc->cap = 4096;
	rc->ids = calloc((size_t)rc->cap, sizeof(*rc->ids));
}

static void recorder_fini(struct recorder *rc)
{
	free(rc->ids);
	pthread_mutex_destroy(&rc->lock);
	pthread_cond_destroy(&rc->cond);
}

static int record(void *ctx, const char *id)
{
	struct recorder *rc = ctx;
	int r = 0;

	pthread_mutex_lock(&rc->lock);
	if (rc->n < rc->cap)
		snprintf(rc->ids[rc->n++], sizeof(rc->ids[0]), "%s", id ? id : "");
	if (!id && rc->fail > 0) {
		rc->fail--;
		r = -EIO;
	}
	pthread_cond_broadcast(&rc->cond);
	pthread_mutex_unlock(&rc->lock);
	return r;
}

/* Index of the first event at or after from that is id ("" for a resync), or -1 after ms. */
static int wait_event(struct recorder *rc, int from, const char *id, int ms)
{
	struct timespec dl;
	int found = -1;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rc->lock);
	for (;;) {
		for (int i = from; i < rc->n && found < 0; i++)
			if (strcmp(rc->ids[i], id) == 0)
				found = i;
		if (found >= 0 || pthread_cond_timedwait(&rc->cond, &rc->lock, &dl) != 0)
			break;
	}
	pthread_mutex_unlock(&rc->lock);
	return found;
}

static int events(struct recorder *rc)
{
	int n;

	pthread_mutex_lock(&rc->lock);
	n = rc->n;
	pthread_mutex_unlock(&rc->lock);
	return n;
}

static void recorderp(struct recorder *rc)
{
	recorder_fini(rc);
}

TEST(store_pg_notify)
{
	_cleanup_cluster_ struct pg_cluster c = { 0 };
	_cleanup_store_ struct store *watched = NULL, *writer = NULL, *lite = NULL;
	_cleanup_entry_ struct entry *e = NULL;
	_cleanup_(recorderp) struct recorder rc;
	struct store_health h;
	struct entry *batch[300] = { 0 };
	char url[256], why[256], path[96], id[ENTRY_ID_LEN + 1];
	double t0;
	int mark, ids_seen = 0, r = cluster_up(&c, why, sizeof(why));

	recorder_init(&rc);
	ASSERT_NOT_NULL(rc.ids);
	if (r == -ENOENT)
		SKIP("%s", why);
	if (r < 0)
		FAIL("%s", why);
	ASSERT_OK(pg_cluster_createdb(&c, url, sizeof(url)));
	ASSERT_OK(store_open(url, &watched));
	ASSERT_OK(store_open(url, &writer));
	ASSERT_TRUE(store_can_watch(watched));
	ASSERT_OK(store_watch(watched, record, &rc));
	ASSERT_ERR(store_watch(watched, record, &rc), -EBUSY);
	/* First a resync: whatever was loaded before the watch began may be stale. */
	ASSERT_EQ(wait_event(&rc, 0, "", 2000), 0);

	e = MK("spiffe://example.org/notify", "unix:uid:11");
	ASSERT_NOT_NULL(e);
	t0 = now_ms();
	ASSERT_OK(store_entry_create(writer, e));
	ASSERT_TRUE(wait_event(&rc, 1, e->id, 1000) > 0);
	test_diag("create -> notification: %.1f ms", now_ms() - t0);
	mark = events(&rc);
	ASSERT_OK(store_entry_update(writer, e->id, e));
	ASSERT_TRUE(wait_event(&rc, mark, e->id, 1000) >= mark);
	mark = events(&rc);
	ASSERT_OK(store_entry_delete(writer, e->id));
	ASSERT_TRUE(wait_event(&rc, mark, e->id, 1000) >= mark);

	/* A batch is one burst: followed by a resync, not 300 lookups. */
	for (int i = 0; i < 300; i++) {
		char sid[64];

		snprintf(sid, sizeof(sid), "spiffe://example.org/burst/%d", i);
		batch[i] = MK(sid, "unix:uid:12");
		ASSERT_NOT_NULL(batch[i]);
	}
	mark = events(&rc);
	r = store_entry_create_batch(writer, batch, 300, NULL);
	snprintf(id, sizeof(id), "%s", batch[0]->id);
	for (int i = 0; i < 300; i++)
		entry_free(batch[i]);
	ASSERT_OK(r);
	ASSERT_TRUE(wait_event(&rc, mark, "", 2000) >= mark);
	sleep_ms(100);
	pthread_mutex_lock(&rc.lock);
	for (int i = mark; i < rc.n; i++)
		ids_seen += rc.ids[i][0] != '\0';
	pthread_mutex_unlock(&rc.lock);
	ASSERT_TRUE(ids_seen <= 256);

	/* Writes that bypass attestd are heard too: the trigger is in the database. */
	mark = events(&rc);
	ASSERT_OK(pg_cluster_sql(url, "UPDATE entries SET hint = 'by hand' WHERE spiffe_id = "
				      "'spiffe://example.org/burst/0'"));
	ASSERT_TRUE(wait_event(&rc, mark, id, 1000) >= mark);
	entry_free(TAKE_PTR(e));
	ASSERT_OK(store_entry_get(writer, id, &e));
	ASSERT_STREQ(e->hint, "by hand");
	ASSERT_EQ(e->revision, 2); /* bumped by the database, so nodes comparing revisions see it */
	mark = events(&rc);
	ASSERT_OK(pg_cluster_sql(url, "TRUNCATE entries CASCADE"));
	ASSERT_TRUE(wait_event(&rc, mark, "", 1000) >= mark);

	/* After unwatch, nothing more is reported. */
	store_unwatch(watched);
	store_unwatch(watched);
	mark = events(&rc);
	entry_free(TAKE_PTR(e));
	e = MK("spiffe://example.org/after", "unix:uid:13");
	ASSERT_NOT_NULL(e);
	ASSERT_OK(store_entry_create(writer, e));
	sleep_ms(200);
	ASSERT_EQ(events(&rc), mark);
	ASSERT_OK(store_health(watched, &h));
	ASSERT_TRUE(h.up);

	/* SQLite has no other writers: nothing to watch, always healthy. */
	snprintf(path, sizeof(path), "%s/lite.db", c.dir);
	ASSERT_OK(store_open(path, &lite));
	ASSERT_FALSE(store_can_watch(lite));
	ASSERT_ERR(store_watch(lite, record, &rc), -EOPNOTSUPP);
	ASSERT_OK(store_health(lite, &h));
	ASSERT_TRUE(h.up);
	unlink(path);
}

TEST(store_pg_outage_and_reconnect)
{
	_cleanup_cluster_ struct pg_cluster c = { 0 };
	_cleanup_store_ struct store *s = NULL, *writer = NULL;
	_cleanup_entry_ struct entry *e = NULL, *f = NULL;
	_cleanup_(recorderp) struct recorder rc;
	_cleanup_list_ struct list l = { 0 };
	struct store_health h;
	char url[256], why[256];
	double t0;
	int mark, r = cluster_up(&c, why, sizeof(why));

	recorder_init(&rc);
	ASSERT_NOT_NULL(rc.ids);
	if (r == -ENOENT)
		SKIP("%s", why);
	if (r < 0)
		FAIL("%s", why);
	ASSERT_OK(pg_cluster_createdb(&c, url, sizeof(url)));
	ASSERT_OK(store_open(url, &s));
	e = MK("spiffe://example.org/before", "unix:uid:21");
	ASSERT_NOT_NULL(e);
	ASSERT_OK(store_entry_create(s, e));
	rc.fail = 1; /* the first resync fails: it must be retried */
	ASSERT_OK(store_watch(s, record, &rc));
	ASSERT_EQ(wait_event(&rc, 0, "", 2000), 0);
	ASSERT_EQ(wait_event(&rc, 1, "", 3000), 1);

	/* The database goes away: noticed at once, calls fail fast, nothing hangs. */
	ASSERT_OK(pg_cluster_stop(&c));
	t0 = now_ms();
	do {
		ASSERT_OK(store_health(s, &h));
		if (!h.up)
			break;
		sleep_ms(20);
	} while (now_ms() - t0 < 3000);
	ASSERT_FALSE(h.up);
	test_diag("outage noticed after %.0f ms: %s", now_ms() - t0, h.error);
	ASSERT_EQ(h.outages, 1);
	ASSERT_TRUE(h.error[0] != '\0');
	t0 = now_ms();
	ASSERT_ERR(store_entry_list(s, NULL, &l.v, &l.n), -ENOTCONN);
	ASSERT_ERR(store_entry_get(s, e->id, &f), -ENOTCONN);
	ASSERT_ERR(store_entry_create(s, e), -ENOTCONN);
	ASSERT_TRUE(now_ms() - t0 < 1000);
	sleep_ms(300);

	/* Back: the watcher reconnects, resyncs, and hears changes again. */
	mark = events(&rc);
	ASSERT_OK(pg_cluster_start(&c));
	t0 = now_ms();
	ASSERT_TRUE(wait_event(&rc, mark, "", 8000) >= mark);
	test_diag("resync %.0f ms after the server was back", now_ms() - t0);
	ASSERT_OK(store_health(s, &h));
	ASSERT_TRUE(h.up);
	ASSERT_TRUE(h.reconnects >= 1);
	ASSERT_OK(store_open(url, &writer));
	f = MK("spiffe://example.org/after", "unix:uid:22");
	ASSERT_NOT_NULL(f);
	mark = events(&rc);
	ASSERT_OK(store_entry_create(writer, f));
	ASSERT_TRUE(wait_event(&rc, mark, f->id, 1000) >= mark);
	/* The operations connection is back too (at most one backoff later). */
	t0 = now_ms();
	while ((r = store_entry_list(s, NULL, &l.v, &l.n)) == -ENOTCONN && now_ms() - t0 < 6000)
		sleep_ms(50);
	ASSERT_OK(r);
	ASSERT_EQ(l.n, 2);
}
