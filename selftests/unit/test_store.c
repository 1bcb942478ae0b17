// SPDX-License-Identifier: Apache-2.0
/*
 * The registration store on SQLite: CRUD, the duplicate rule, batches that
 * are all or nothing, persistence across reopen and kill -9, file modes,
 * integrity checking, migrations refusing a newer schema, hostile strings.
 * Each test works in its own temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "cleanup.h"
#include "entry.h"
#include "store.h"

struct tmp {
	char dir[64];
	char db[128];
};

static int tmp_make(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/attestd-store-XXXXXX");
	if (!mkdtemp(t->dir))
		return -errno;
	snprintf(t->db, sizeof(t->db), "%s/store.db", t->dir);
	return 0;
}

static void tmp_cleanup(struct tmp *t)
{
	char p[160];

	if (!t->dir[0] || strchr(t->dir, 'X'))
		return;
	for (const char *sfx = ""; sfx; sfx = !*sfx ? "-wal" : strcmp(sfx, "-wal") == 0 ? "-shm" : NULL) {
		snprintf(p, sizeof(p), "%s%s", t->db, sfx);
		unlink(p);
	}
	rmdir(t->dir);
}
#define _cleanup_tmp_ _cleanup_(tmp_cleanup)

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

TEST(store_open_urls_and_modes)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *e = NULL;
	char url[160], wal[160];
	struct stat st;
	int fd;

	ASSERT_OK(tmp_make(&t));
	umask(0); /* the store must not rely on the caller's umask */
	snprintf(url, sizeof(url), "sqlite://%s", t.db);
	ASSERT_OK(store_open(url, &s));
	ASSERT_OK(stat(t.db, &st));
	ASSERT_EQ(st.st_mode & 07777, 0600);
	e = MK("spiffe://example.org/a", "unix:uid:0");
	ASSERT_NOT_NULL(e);
	ASSERT_OK(store_entry_create(s, e));
	snprintf(wal, sizeof(wal), "%s-wal", t.db);
	ASSERT_OK(stat(wal, &st)); /* WAL mode is on */
	ASSERT_EQ(st.st_mode & 07777, 0600);
	store_close(TAKE_PTR(s));

	/* A plain path opens the same store; a looser mode is tightened. */
	ASSERT_OK(chmod(t.db, 0644));
	ASSERT_OK(store_open(t.db, &s));
	ASSERT_OK(stat(t.db, &st));
	ASSERT_EQ(st.st_mode & 07777, 0600);
	ASSERT_EQ(count_all(s), 1);
	store_close(TAKE_PTR(s));

	ASSERT_ERR(store_open("sqlite://", &s), -EINVAL);
	/* "sqlite://" + a relative data dir is a relative path, as design.md builds it. */
	ASSERT_OK(chdir(t.dir));
	ASSERT_OK(store_open("sqlite://store.db", &s));
	ASSERT_EQ(count_all(s), 1);
	store_close(TAKE_PTR(s));
	ASSERT_ERR(store_open("mysql://db.example.org/attestd", &s), -EPROTONOSUPPORT);
	ASSERT_ERR(store_open("", &s), -EINVAL);
	ASSERT_ERR(store_open(NULL, &s), -EINVAL);
	snprintf(url, sizeof(url), "sqlite://%s/missing-dir/store.db", t.dir);
	ASSERT_ERR(store_open(url, &s), -ENOENT);
	/* A symlink in place of the database is refused. */
	snprintf(url, sizeof(url), "%s/link.db", t.dir);
	ASSERT_OK(symlink(t.db, url));
	ASSERT_ERR(store_open(url, &s), -ELOOP);
	unlink(url);
	/* Not a database: refused, not clobbered. */
	snprintf(url, sizeof(url), "%s/junk.db", t.dir);
	fd = open(url, O_WRONLY | O_CREAT, 0600);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(write(fd, "this is not an SQLite database, just some bytes......", 53), 53);
	close(fd);
	ASSERT_ERR(store_open(url, &s), -EUCLEAN);
	unlink(url);
}

TEST(store_crud)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *a = NULL, *b = NULL, *c = NULL, *got = NULL, *upd = NULL;
	_cleanup_list_ struct list l = { 0 };
	struct store_filter f = { 0 };
	time_t now = time(NULL);

	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(store_open(t.db, &s));
	a = MK("spiffe://example.org/web", "unix:uid:1000", "k8s:ns:prod");
	b = MK("spiffe://example.org/db", "unix:uid:1000", "k8s:ns:data");
	c = MK("spiffe://example.org/web", "k8s:ns:staging");
	ASSERT_TRUE(a && b && c);
	ASSERT_OK(entry_add_dns_name(a, "web.example.org"));
	ASSERT_OK(entry_add_federates_with(a, "partner.org"));
	ASSERT_OK(entry_set_hint(a, "frontend"));
	a->x509_svid_ttl = 7200;
	a->jwt_svid_ttl = 0; /* 0 is the default */
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
	ASSERT_EQ(got->ndns_names, 1);
	ASSERT_STREQ(got->dns_names[0], "web.example.org");
	ASSERT_EQ(got->nfederates_with, 1);
	ASSERT_STREQ(got->federates_with[0], "partner.org");
	ASSERT_STREQ(got->hint, "frontend");
	ASSERT_EQ(got->revision, 1);
	ASSERT_EQ(got->created_at, a->created_at);
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
	entry_free(got);
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

TEST(store_duplicates_refused)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *a = NULL, *dup = NULL, *other_parent = NULL, *other = NULL,
				     *same_id = NULL;

	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(store_open(t.db, &s));
	a = MK("spiffe://example.org/web", "unix:uid:1000", "k8s:ns:prod");
	/* The same set in another order, with a repeat, is the same registration. */
	dup = MK("spiffe://example.org/web", "k8s:ns:prod", "unix:uid:1000", "k8s:ns:prod");
	other_parent = MK("spiffe://example.org/web", "unix:uid:1000", "k8s:ns:prod");
	other = MK("spiffe://example.org/web", "unix:uid:1000");
	ASSERT_TRUE(a && dup && other_parent && other);
	ASSERT_OK(entry_set_parent_id(other_parent, "spiffe://example.org/node/1"));
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
}

TEST(store_batch_all_or_nothing)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	struct entry *v[4] = { 0 };
	size_t failed = 99;
	char saved_id[ENTRY_ID_LEN + 1];

	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(store_open(t.db, &s));
	v[0] = MK("spiffe://example.org/a", "unix:uid:1");
	v[1] = MK("spiffe://example.org/b", "unix:uid:2");
	v[2] = MK("spiffe://example.org/c", "unix:uid:3");
	v[3] = MK("spiffe://example.org/a", "unix:uid:1"); /* duplicates v[0] */
	ASSERT_TRUE(v[0] && v[1] && v[2] && v[3]);

	ASSERT_ERR(store_entry_create_batch(s, v, 4, &failed), -EEXIST);
	ASSERT_EQ(failed, 3);
	ASSERT_EQ(count_all(s), 0);
	ASSERT_EQ(v[0]->revision, 0);

	/* An entry with an unusable id poisons the batch the same way. */
	memcpy(saved_id, v[1]->id, sizeof(saved_id));
	snprintf(v[1]->id, sizeof(v[1]->id), "../../etc");
	ASSERT_ERR(store_entry_create_batch(s, v, 3, &failed), -EINVAL);
	ASSERT_EQ(failed, 1);
	ASSERT_EQ(count_all(s), 0);
	memcpy(v[1]->id, saved_id, sizeof(saved_id));

	/* Empty ids are generated, and cleared again when the batch fails. */
	v[2]->id[0] = '\0';
	ASSERT_ERR(store_entry_create_batch(s, v, 4, &failed), -EEXIST);
	ASSERT_STREQ(v[2]->id, "");

	ASSERT_OK(store_entry_create_batch(s, v, 3, &failed));
	ASSERT_EQ(count_all(s), 3);
	ASSERT_TRUE(entry_id_valid(v[2]->id));
	ASSERT_EQ(v[2]->revision, 1);
	/* A batch that duplicates a stored entry writes nothing either. */
	ASSERT_OK(entry_set_spiffe_id(v[3], "spiffe://example.org/d"));
	ASSERT_OK(entry_set_spiffe_id(v[0], "spiffe://example.org/a"));
	{
		struct entry *w[2] = { v[3], NULL };
		_cleanup_entry_ struct entry *again = MK("spiffe://example.org/b", "unix:uid:2");

		ASSERT_NOT_NULL(again);
		w[1] = again;
		ASSERT_ERR(store_entry_create_batch(s, w, 2, &failed), -EEXIST);
		ASSERT_EQ(failed, 1);
		ASSERT_EQ(count_all(s), 3);
	}
	ASSERT_OK(store_entry_create_batch(s, v, 0, NULL));
	for (int i = 0; i < 4; i++)
		entry_free(v[i]);
}

TEST(store_reopen_persists_and_integrity)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *a = NULL, *got = NULL;
	char err[512] = "";
	sqlite3 *db;

	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(store_open(t.db, &s));
	a = MK("spiffe://example.org/keep", "unix:uid:7", "unix:gid:7");
	ASSERT_NOT_NULL(a);
	ASSERT_OK(store_entry_create(s, a));
	ASSERT_OK(store_integrity_check(s, err, sizeof(err)));
	store_close(TAKE_PTR(s));

	ASSERT_OK(store_open(t.db, &s));
	ASSERT_OK(store_entry_get(s, a->id, &got));
	ASSERT_STREQ(got->spiffe_id, "spiffe://example.org/keep");
	ASSERT_EQ(got->nselectors, 2);
	ASSERT_OK(store_integrity_check(s, err, sizeof(err)));
	store_close(TAKE_PTR(s));

	/* Damage the selector index behind the store's back: the check notices. */
	ASSERT_EQ(sqlite3_open(t.db, &db), SQLITE_OK);
	ASSERT_EQ(sqlite3_exec(db, "DELETE FROM entry_selectors WHERE selector = 'unix:gid:7'",
			       NULL, NULL, NULL),
		  SQLITE_OK);
	sqlite3_close(db);
	ASSERT_OK(store_open(t.db, &s));
	ASSERT_ERR(store_integrity_check(s, err, sizeof(err)), -EUCLEAN);
	ASSERT_TRUE(strstr(err, "SELECT id FROM entries") != NULL);
	store_close(TAKE_PTR(s));

	/* A schema from a newer attestd is refused, not "migrated". */
	ASSERT_EQ(sqlite3_open(t.db, &db), SQLITE_OK);
	ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL),
		  SQLITE_OK);
	sqlite3_close(db);
	ASSERT_ERR(store_open(t.db, &s), -ENOTSUP);
}

TEST(store_survives_kill_9)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *got = NULL;
	char id[ENTRY_ID_LEN + 1] = "";
	int pfd[2], status;
	pid_t pid;

	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(pipe(pfd));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct store *cs;
		struct entry *e = MK("spiffe://example.org/durable", "unix:uid:42");

		close(pfd[0]);
		if (!e || store_open(t.db, &cs) || store_entry_create(cs, e))
			_exit(1);
		/* Acknowledged: tell the parent, then wait to be killed with the store open. */
		if (write(pfd[1], e->id, ENTRY_ID_LEN) != ENTRY_ID_LEN)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(read(pfd[0], id, ENTRY_ID_LEN), ENTRY_ID_LEN);
	close(pfd[0]);
	kill(pid, SIGKILL);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status));

	ASSERT_OK(store_open(t.db, &s));
	ASSERT_OK(store_entry_get(s, id, &got));
	ASSERT_STREQ(got->spiffe_id, "spiffe://example.org/durable");
	ASSERT_OK(store_integrity_check(s, NULL, 0));
}

TEST(store_hostile_strings_are_data)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_entry_ struct entry *e = NULL, *got = NULL;
	_cleanup_list_ struct list l = { 0 };
	struct store_filter f = { .selector = "unix:user:x' OR '1'='1" };
	const char *evil = "spiffe://example.org/x'); DROP TABLE entries; --";

	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(store_open(t.db, &s));
	e = MK(evil, "unix:user:x' OR '1'='1", "unix:path:/a\"b\\c");
	ASSERT_NOT_NULL(e);
	ASSERT_OK(entry_set_hint(e, "[\"json\", {\"in\": \"a hint\"}] caf\xc3\xa9"));
	ASSERT_OK(entry_add_dns_name(e, "\"],\"x\":[\""));
	ASSERT_OK(store_entry_create(s, e));
	ASSERT_OK(store_entry_get(s, e->id, &got));
	ASSERT_STREQ(got->spiffe_id, evil);
	ASSERT_STREQ(got->hint, e->hint);
	ASSERT_EQ(got->ndns_names, 1);
	ASSERT_STREQ(got->dns_names[0], "\"],\"x\":[\"");
	ASSERT_STREQ(got->selectors[1], "unix:user:x' OR '1'='1");
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 1);
	list_free(&l);
	f.selector = "' OR 1=1 --";
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, 0);
	ASSERT_ERR(store_entry_get(s, "' OR 1=1 --", &got), -ENOENT);
	ASSERT_EQ(count_all(s), 1);
}

struct writer {
	struct store *s;
	int base, r;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char id[64];

	for (int i = 0; i < 50 && !w->r; i++) {
		struct entry *e;

		snprintf(id, sizeof(id), "spiffe://example.org/t%d/%d", w->base, i);
		e = MK(id, "unix:uid:0");
		w->r = e ? store_entry_create(w->s, e) : -ENOMEM;
		entry_free(e);
	}
	return NULL;
}

TEST(store_threads)
{
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	struct writer w[4];
	pthread_t th[4];

	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(store_open(t.db, &s));
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){ s, i, 0 };
		ASSERT_OK(pthread_create(&th[i], NULL, writer_main, &w[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ASSERT_OK(w[i].r);
	}
	ASSERT_EQ(count_all(s), 200);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

TEST(store_batch_10k_and_indexed_filter)
{
	enum { N = 10000 };
	_cleanup_tmp_ struct tmp t = { 0 };
	_cleanup_store_ struct store *s = NULL;
	_cleanup_list_ struct list l = { 0 };
	struct store_filter f = { .selector = "k8s:pod-uid:pod-1234" };
	struct entry **v = calloc(N, sizeof(*v));
	double t0, t1, t2;
	char a[48], b[48], id[64];

	ASSERT_NOT_NULL(v);
	ASSERT_OK(tmp_make(&t));
	ASSERT_OK(store_open(t.db, &s));
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
	ASSERT_EQ(l.n, 1);
	ASSERT_STREQ(l.v[0]->spiffe_id, "spiffe://example.org/pod/1234");
	test_diag("store: %d entries in one batch: %.0f ms; filter by selector: %.2f ms", N,
		  t1 - t0, t2 - t1);
	list_free(&l);
	f.selector = "k8s:ns:ns-7";
	ASSERT_OK(store_entry_list(s, &f, &l.v, &l.n));
	ASSERT_EQ(l.n, N / 50);
	entries_free(v, N);
}
