// SPDX-License-Identifier: Apache-2.0
/*
 * The SQLite store backend: one database file, WAL journal with
 * synchronous=FULL so that an acknowledged write survives kill -9 and
 * power loss, every statement prepared once with bound parameters.
 *
 * Schema (migration 1, see docs/store.md): entries holds one row per
 * entry with its list fields as JSON arrays, so that reading an entry is
 * one row; entry_selectors is the selector -> entry index that makes
 * filtering by selector an index lookup.  The duplicate rule is a UNIQUE
 * index on (spiffe_id, parent_id, selector_set), selector_set being the
 * SHA-256 of the canonical selector list, so SQLite itself refuses a
 * duplicate, inside a batch as well as across calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include "cleanup.h"
#include "log.h"
#include "store.h"

#define BUSY_TIMEOUT_MS 5000
/*
 * A big batch touches every index page; with SQLite's default 2 MiB page
 * cache it spills and rereads them (6 s instead of 3 s for 100k entries).
 * For the length of such a batch the cache may grow to about 1 KiB per
 * entry (an entry is about 650 bytes on disk), within these bounds.
 */
#define BATCH_CACHE_MIN_ENTRIES 2000
#define BATCH_CACHE_MAX_KIB (256 * 1024)
#define SELECTOR_SET_LEN 32 /* SHA-256 */

/* Each element brings the schema from version i to i + 1, in one transaction with the rest. */
static const char *const migrations[] = {
	"CREATE TABLE entries ("
	"  pk INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  spiffe_id TEXT NOT NULL,"
	"  parent_id TEXT NOT NULL,"
	"  selector_set BLOB NOT NULL,"
	"  selectors TEXT NOT NULL,"
	"  x509_svid_ttl INTEGER NOT NULL,"
	"  jwt_svid_ttl INTEGER NOT NULL,"
	"  dns_names TEXT NOT NULL,"
	"  hint TEXT NOT NULL,"
	"  federates_with TEXT NOT NULL,"
	"  revision INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	/* Also serves lookups by spiffe_id (its prefix): no index of its own for that. */
	"CREATE UNIQUE INDEX entries_registration ON entries (spiffe_id, parent_id, selector_set);"
	"CREATE TABLE entry_selectors ("
	"  selector TEXT NOT NULL,"
	"  entry_pk INTEGER NOT NULL REFERENCES entries (pk) ON DELETE CASCADE,"
	"  PRIMARY KEY (selector, entry_pk)) WITHOUT ROWID;"
	"CREATE INDEX entry_selectors_entry ON entry_selectors (entry_pk);",
};

#define ENTRY_COLS                                                                                 \
	"id, spiffe_id, parent_id, selectors, x509_svid_ttl, jwt_svid_ttl, dns_names, hint, "      \
	"federates_with, revision, created_at"

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_INSERT,
	ST_INSERT_SEL,
	ST_FIND,
	ST_UPDATE,
	ST_DELETE_SELS,
	ST_DELETE,
	ST_GET,
	ST_LIST_ALL,
	ST_LIST_SELECTOR,
	ST_LIST_SPIFFE_ID,
	ST_MAX,
};

static const char *const stmt_sql[ST_MAX] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INSERT] = "INSERT INTO entries (id, spiffe_id, parent_id, selector_set, selectors, "
		      "x509_svid_ttl, jwt_svid_ttl, dns_names, hint, federates_with, revision, "
		      "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_INSERT_SEL] = "INSERT INTO entry_selectors (selector, entry_pk) VALUES (?1, ?2)",
	[ST_FIND] = "SELECT pk, revision, created_at FROM entries WHERE id = ?1",
	[ST_UPDATE] = "UPDATE entries SET spiffe_id = ?2, parent_id = ?3, selector_set = ?4, "
		      "selectors = ?5, x509_svid_ttl = ?6, jwt_svid_ttl = ?7, dns_names = ?8, "
		      "hint = ?9, federates_with = ?10, revision = ?11 WHERE pk = ?1",
	[ST_DELETE_SELS] = "DELETE FROM entry_selectors WHERE entry_pk = ?1",
	[ST_DELETE] = "DELETE FROM entries WHERE pk = ?1",
	[ST_GET] = "SELECT " ENTRY_COLS " FROM entries WHERE id = ?1",
	[ST_LIST_ALL] = "SELECT " ENTRY_COLS " FROM entries ORDER BY spiffe_id, id",
	[ST_LIST_SELECTOR] = "SELECT " ENTRY_COLS " FROM entries WHERE pk IN "
			     "(SELECT entry_pk FROM entry_selectors WHERE selector = ?1) "
			     "ORDER BY spiffe_id, id",
	[ST_LIST_SPIFFE_ID] = "SELECT " ENTRY_COLS " FROM entries WHERE spiffe_id = ?1 ORDER BY id",
};

struct sqlite_store {
	struct store base;
	pthread_mutex_t lock;
	sqlite3 *db;
	EVP_MD_CTX *md;
	sqlite3_stmt *st[ST_MAX];
	long cache_kib; /* the page cache size outside big batches */
};

static struct sqlite_store *to_sq(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* Maps a SQLite result to -errno, logging what the errno cannot say. */
static int sql_err(sqlite3 *db, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		break;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		log_warn("\"store: database is locked\" op=\"%s\" error=\"%s\"", what,
			 db ? sqlite3_errmsg(db) : "");
		return -EBUSY;
	case SQLITE_FULL:
		log_error("\"store: disk full\" op=\"%s\"", what);
		return -ENOSPC;
	case SQLITE_READONLY:
		log_error("\"store: database is read-only\" op=\"%s\"", what);
		return -EROFS;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		log_error("\"store: database is corrupt\" op=\"%s\" error=\"%s\"", what,
			  db ? sqlite3_errmsg(db) : "");
		return -EUCLEAN;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		log_error("\"store: permission denied\" op=\"%s\"", what);
		return -EACCES;
	}
	log_error("\"store: operation failed\" op=\"%s\" error=\"%s\" code=%d", what,
		  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
	return -EIO;
}

/* Steps a statement that returns no rows and resets it for the next use. */
static int run(struct sqlite_store *s, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st = s->st[id];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sql_err(s->db, rc, what);
	return 0;
}

static void done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static int begin(struct sqlite_store *s)
{
	return run(s, ST_BEGIN, "begin transaction");
}

static int commit(struct sqlite_store *s)
{
	int r = run(s, ST_COMMIT, "commit");

	/* A failed COMMIT may leave the transaction open; never leave it so. */
	if (r && !sqlite3_get_autocommit(s->db))
		(void)run(s, ST_ROLLBACK, "rollback");
	return r;
}

static void rollback(struct sqlite_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		(void)run(s, ST_ROLLBACK, "rollback");
}

/* ---- encoding ---- */

static char *strarr_to_json(char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array_ext((int)n);
	char *out = NULL;

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *str = json_object_new_string(v[i] ? v[i] : "");

		if (!str || json_object_array_add(a, str)) {
			json_object_put(str);
			goto out;
		}
	}
	out = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(a);
	return out;
}

/*
 * The registration key's selector part: SHA-256 over the sorted, unique
 * selectors, each prefixed by its length so that no two different lists
 * encode alike.
 */
static int selector_set_hash(struct sqlite_store *s, const struct entry *e,
			     unsigned char out[SELECTOR_SET_LEN])
{
	unsigned int len = 0;

	if (!EVP_DigestInit_ex(s->md, EVP_sha256(), NULL))
		return -EIO;
	for (size_t i = 0; i < e->nselectors; i++) {
		size_t n = strlen(e->selectors[i]);
		unsigned char be[8];

		for (int b = 0; b < 8; b++)
			be[b] = (unsigned char)(n >> (56 - 8 * b));
		if (!EVP_DigestUpdate(s->md, be, sizeof(be)) ||
		    !EVP_DigestUpdate(s->md, e->selectors[i], n))
			return -EIO;
	}
	if (!EVP_DigestFinal_ex(s->md, out, &len) || len != SELECTOR_SET_LEN)
		return -EIO;
	return 0;
}

/* The columns an insert and an update share, bound to their parameter numbers. */
struct row_text {
	char *selectors, *dns_names, *federates_with;
	unsigned char set[SELECTOR_SET_LEN];
};

static void row_text_free(struct row_text *t)
{
	free(t->selectors);
	free(t->dns_names);
	free(t->federates_with);
}

static int row_text_make(struct sqlite_store *s, const struct entry *e, struct row_text *t)
{
	memset(t, 0, sizeof(*t));
	t->selectors = strarr_to_json(e->selectors, e->nselectors);
	t->dns_names = strarr_to_json(e->dns_names, e->ndns_names);
	t->federates_with = strarr_to_json(e->federates_with, e->nfederates_with);
	if (!t->selectors || !t->dns_names || !t->federates_with) {
		row_text_free(t);
		return -ENOMEM;
	}
	return selector_set_hash(s, e, t->set);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* Binds spiffe_id .. federates_with at parameters first .. first + 8. */
static int bind_contents(sqlite3_stmt *st, int first, const struct entry *e,
			 const struct row_text *t)
{
	int rc;

	if ((rc = sqlite3_bind_text(st, first, nz(e->spiffe_id), -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_text(st, first + 1, nz(e->parent_id), -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_blob(st, first + 2, t->set, SELECTOR_SET_LEN, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_text(st, first + 3, t->selectors, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int64(st, first + 4, e->x509_svid_ttl)) ||
	    (rc = sqlite3_bind_int64(st, first + 5, e->jwt_svid_ttl)) ||
	    (rc = sqlite3_bind_text(st, first + 6, t->dns_names, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_text(st, first + 7, nz(e->hint), -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_text(st, first + 8, t->federates_with, -1, SQLITE_STATIC)))
		return rc;
	return SQLITE_OK;
}

static int insert_selectors(struct sqlite_store *s, sqlite3_int64 pk, const struct entry *e)
{
	sqlite3_stmt *st = s->st[ST_INSERT_SEL];
	int rc, r;

	for (size_t i = 0; i < e->nselectors; i++) {
		if ((rc = sqlite3_bind_text(st, 1, e->selectors[i], -1, SQLITE_STATIC)) ||
		    (rc = sqlite3_bind_int64(st, 2, pk))) {
			done(st);
			return sql_err(s->db, rc, "bind selector");
		}
		r = run(s, ST_INSERT_SEL, "insert selector");
		if (r)
			return r;
	}
	return 0;
}

/* ---- decoding ---- */

static int json_to_strarr(const char *text, char ***ret, size_t *ret_n)
{
	struct json_object *a = text ? json_tokener_parse(text) : NULL;
	char **v = NULL;
	size_t n, i;
	int r = -EUCLEAN;

	*ret = NULL;
	*ret_n = 0;
	if (!a || !json_object_is_type(a, json_type_array))
		goto out;
	n = json_object_array_length(a);
	if (n) {
		v = calloc(n, sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		struct json_object *str = json_object_array_get_idx(a, i);

		if (!json_object_is_type(str, json_type_string))
			break;
		v[i] = strdup(json_object_get_string(str));
		if (!v[i]) {
			r = -ENOMEM;
			break;
		}
	}
	if (i == n) {
		*ret = v;
		*ret_n = n;
		v = NULL;
		r = 0;
	}
	if (v) {
		for (size_t k = 0; k < i; k++)
			free(v[k]);
		free(v);
	}
out:
	json_object_put(a);
	return r;
}

static int col_str(sqlite3_stmt *st, int col, char **dst)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	if (!t)
		return -EUCLEAN;
	*dst = strdup((const char *)t);
	return *dst ? 0 : -ENOMEM;
}

/* The current row of a SELECT ENTRY_COLS as a new entry. */
static int row_to_entry(sqlite3_stmt *st, struct entry **ret)
{
	struct entry *e = calloc(1, sizeof(*e));
	const unsigned char *id;
	int r;

	if (!e)
		return -ENOMEM;
	id = sqlite3_column_text(st, 0);
	if (!id || strlen((const char *)id) > ENTRY_ID_LEN) {
		r = -EUCLEAN;
		goto fail;
	}
	memcpy(e->id, id, strlen((const char *)id) + 1);
	if ((r = col_str(st, 1, &e->spiffe_id)) || (r = col_str(st, 2, &e->parent_id)) ||
	    (r = json_to_strarr((const char *)sqlite3_column_text(st, 3), &e->selectors,
				&e->nselectors)) ||
	    (r = json_to_strarr((const char *)sqlite3_column_text(st, 6), &e->dns_names,
				&e->ndns_names)) ||
	    (r = col_str(st, 7, &e->hint)) ||
	    (r = json_to_strarr((const char *)sqlite3_column_text(st, 8), &e->federates_with,
				&e->nfederates_with)))
		goto fail;
	e->x509_svid_ttl = (uint32_t)sqlite3_column_int64(st, 4);
	e->jwt_svid_ttl = (uint32_t)sqlite3_column_int64(st, 5);
	e->revision = (uint64_t)sqlite3_column_int64(st, 9);
	e->created_at = sqlite3_column_int64(st, 10);
	*ret = e;
	return 0;
fail:
	if (r == -EUCLEAN)
		log_error("\"store: unreadable entry row\" id=%s", e->id[0] ? e->id : "?");
	entry_free(e);
	return r;
}

/* ---- operations ---- */

static int insert_one(struct sqlite_store *s, struct entry *e, int64_t now)
{
	sqlite3_stmt *st = s->st[ST_INSERT];
	struct row_text t;
	int rc, r;

	r = row_text_make(s, e, &t);
	if (r)
		return r;
	if ((rc = sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC)) ||
	    (rc = bind_contents(st, 2, e, &t)) || (rc = sqlite3_bind_int64(st, 11, 1)) ||
	    (rc = sqlite3_bind_int64(st, 12, e->created_at ? e->created_at : now))) {
		done(st);
		row_text_free(&t);
		return sql_err(s->db, rc, "bind entry");
	}
	r = run(s, ST_INSERT, "insert entry");
	row_text_free(&t);
	if (r)
		return r;
	return insert_selectors(s, sqlite3_last_insert_rowid(s->db), e);
}

/* Best effort: a cache size that does not take only costs speed. */
static void set_cache_kib(struct sqlite_store *s, long kib)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%ld", kib);
	(void)sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

static int sq_create_batch(struct store *base, struct entry *const *v, size_t n,
			   size_t *ret_failed)
{
	struct sqlite_store *s = to_sq(base);
	_cleanup_free_ bool *gen = calloc(n ? n : 1, sizeof(*gen));
	int64_t now = (int64_t)time(NULL);
	size_t i = 0;
	int r;

	if (!gen)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (n >= BATCH_CACHE_MIN_ENTRIES)
		set_cache_kib(s, n < BATCH_CACHE_MAX_KIB ? (long)n : BATCH_CACHE_MAX_KIB);
	r = begin(s);
	if (r)
		goto out;
	for (; i < n; i++) {
		struct entry *e = v[i];

		entry_normalize(e);
		/* Ids are keys that other APIs take from users: only canonical UUIDs get in. */
		if (e->id[0] && !entry_id_valid(e->id)) {
			r = -EINVAL;
			break;
		}
		if (!e->id[0]) {
			r = entry_id_generate(e->id);
			if (r)
				break;
			gen[i] = true;
		}
		r = insert_one(s, e, now);
		if (r)
			break;
	}
	if (!r)
		r = commit(s);
	else
		rollback(s);
	if (!r) {
		for (size_t k = 0; k < n; k++) {
			v[k]->revision = 1;
			if (!v[k]->created_at)
				v[k]->created_at = now;
		}
	} else {
		/* Nothing was stored: the ids made up here were never real. */
		for (size_t k = 0; k < n && k <= i; k++)
			if (gen[k])
				v[k]->id[0] = '\0';
		if (ret_failed)
			*ret_failed = i < n ? i : n;
	}
out:
	if (n >= BATCH_CACHE_MIN_ENTRIES)
		set_cache_kib(s, s->cache_kib);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int sq_get(struct store *base, const char *id, struct entry **ret)
{
	struct sqlite_store *s = to_sq(base);
	sqlite3_stmt *st = s->st[ST_GET];
	int rc, r;

	pthread_mutex_lock(&s->lock);
	rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = row_to_entry(st, ret);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = sql_err(s->db, rc, "get entry");
	done(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Looks id up inside a transaction: its pk and revision, or -ENOENT. */
static int find(struct sqlite_store *s, const char *id, sqlite3_int64 *pk, uint64_t *rev,
		int64_t *created)
{
	sqlite3_stmt *st = s->st[ST_FIND];
	int rc, r = 0;

	rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*pk = sqlite3_column_int64(st, 0);
		if (rev)
			*rev = (uint64_t)sqlite3_column_int64(st, 1);
		if (created)
			*created = sqlite3_column_int64(st, 2);
	} else if (rc == SQLITE_DONE) {
		r = -ENOENT;
	} else {
		r = sql_err(s->db, rc, "find entry");
	}
	done(st);
	return r;
}

static int sq_update(struct store *base, const char *id, struct entry *e)
{
	struct sqlite_store *s = to_sq(base);
	sqlite3_stmt *st = s->st[ST_UPDATE];
	sqlite3_int64 pk;
	uint64_t rev;
	int64_t created;
	struct row_text t;
	int rc, r;

	entry_normalize(e);
	r = row_text_make(s, e, &t);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	r = begin(s);
	if (r)
		goto out;
	r = find(s, id, &pk, &rev, &created);
	if (!r && e->revision && e->revision != rev)
		r = -ESTALE;
	if (r)
		goto fail;
	if ((rc = sqlite3_bind_int64(st, 1, pk)) || (rc = bind_contents(st, 2, e, &t)) ||
	    (rc = sqlite3_bind_int64(st, 11, (sqlite3_int64)(rev + 1)))) {
		done(st);
		r = sql_err(s->db, rc, "bind entry");
		goto fail;
	}
	if ((r = run(s, ST_UPDATE, "update entry")))
		goto fail;
	if ((rc = sqlite3_bind_int64(s->st[ST_DELETE_SELS], 1, pk))) {
		done(s->st[ST_DELETE_SELS]);
		r = sql_err(s->db, rc, "bind entry");
		goto fail;
	}
	if ((r = run(s, ST_DELETE_SELS, "delete selectors")) ||
	    (r = insert_selectors(s, pk, e)))
		goto fail;
	r = commit(s);
	if (!r) {
		if (id != e->id) /* callers may pass e->id itself: no overlapping copy */
			snprintf(e->id, sizeof(e->id), "%s", id);
		e->revision = rev + 1;
		e->created_at = created;
	}
	goto out;
fail:
	rollback(s);
out:
	pthread_mutex_unlock(&s->lock);
	row_text_free(&t);
	return r;
}

static int sq_delete(struct store *base, const char *id)
{
	struct sqlite_store *s = to_sq(base);
	sqlite3_int64 pk;
	int rc, r;

	pthread_mutex_lock(&s->lock);
	r = begin(s);
	if (r)
		goto out;
	r = find(s, id, &pk, NULL, NULL);
	if (r)
		goto fail;
	/* Selectors first: correct even if foreign keys were ever off. */
	if ((rc = sqlite3_bind_int64(s->st[ST_DELETE_SELS], 1, pk)) ||
	    (rc = sqlite3_bind_int64(s->st[ST_DELETE], 1, pk))) {
		done(s->st[ST_DELETE_SELS]);
		done(s->st[ST_DELETE]);
		r = sql_err(s->db, rc, "bind entry");
		goto fail;
	}
	if ((r = run(s, ST_DELETE_SELS, "delete selectors")) ||
	    (r = run(s, ST_DELETE, "delete entry"))) {
		done(s->st[ST_DELETE]);
		goto fail;
	}
	r = commit(s);
	goto out;
fail:
	rollback(s);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int sq_list(struct store *base, const struct store_filter *f, struct entry ***ret,
		   size_t *ret_n)
{
	struct sqlite_store *s = to_sq(base);
	struct entry **v = NULL, *e;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc = SQLITE_OK, r = 0;

	if (f->selector)
		st = s->st[ST_LIST_SELECTOR];
	else if (f->spiffe_id)
		st = s->st[ST_LIST_SPIFFE_ID];
	else
		st = s->st[ST_LIST_ALL];
	pthread_mutex_lock(&s->lock);
	if (f->selector || f->spiffe_id)
		rc = sqlite3_bind_text(st, 1, f->selector ? f->selector : f->spiffe_id, -1,
				       SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		/* The selector index did the selecting; the SPIFFE ID is a cheap second test. */
		if (f->selector && f->spiffe_id &&
		    strcmp((const char *)sqlite3_column_text(st, 1) ?: "", f->spiffe_id) != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct entry **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		r = row_to_entry(st, &e);
		if (r)
			break;
		v[n++] = e;
	}
	if (!r && rc != SQLITE_DONE)
		r = sql_err(s->db, rc, "list entries");
	done(st);
	pthread_mutex_unlock(&s->lock);
	if (r) {
		entries_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Runs a query whose rows are problems; the first one goes to err. */
static int check_query(struct sqlite_store *s, const char *sql, const char *ok, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc)
		return sql_err(s->db, rc, "integrity check");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);

		if (!ok || !t || strcmp(t, ok) != 0 || sqlite3_step(st) == SQLITE_ROW) {
			if (err && errlen)
				snprintf(err, errlen, "%s: %s", sql, t ? t : "(null)");
			r = -EUCLEAN;
		}
	} else if (rc != SQLITE_DONE) {
		r = sql_err(s->db, rc, "integrity check");
	} else if (ok) {
		if (err && errlen)
			snprintf(err, errlen, "%s: no result", sql);
		r = -EUCLEAN;
	}
	sqlite3_finalize(st);
	return r;
}

static int sq_integrity_check(struct store *base, char *err, size_t errlen)
{
	struct sqlite_store *s = to_sq(base);
	int r;

	pthread_mutex_lock(&s->lock);
	r = check_query(s, "PRAGMA integrity_check", "ok", err, errlen);
	if (!r)
		r = check_query(s, "PRAGMA foreign_key_check", NULL, err, errlen);
	/* The index must list exactly each entry's selectors, or filtering lies. */
	if (!r)
		r = check_query(s,
				"SELECT id FROM entries e WHERE json_array_length(e.selectors) != "
				"(SELECT count(*) FROM entry_selectors x WHERE x.entry_pk = e.pk) "
				"OR EXISTS (SELECT 1 FROM entry_selectors x WHERE x.entry_pk = e.pk "
				"AND x.selector NOT IN (SELECT value FROM json_each(e.selectors)))",
				NULL, err, errlen);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- open / close ---- */

static void sq_close(struct store *base)
{
	struct sqlite_store *s = to_sq(base);

	for (int i = 0; i < ST_MAX; i++)
		sqlite3_finalize(s->st[i]);
	/* Checkpoints and removes the WAL when this is the last connection. */
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_warn("\"store: close failed\" error=\"%s\"", sqlite3_errmsg(s->db));
	EVP_MD_CTX_free(s->md);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/*
 * Creates the database file 0600 before SQLite does (SQLite would use
 * 0644 less umask); the -wal and -shm files SQLite makes later copy the
 * database file's mode.  A symlink or a non-file is refused.
 */
static int prepare_file(const char *path)
{
	static const char *const suffixes[] = { "-wal", "-shm" };
	_cleanup_close_ int fd = -1;
	struct stat stb;
	int err;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = errno; /* logging may change errno */
		log_error("\"store: cannot open database file\" path=%s error=\"%s\"", path,
			  strerror(err));
		return -err;
	}
	if (fstat(fd, &stb) < 0)
		return -errno;
	if (!S_ISREG(stb.st_mode)) {
		log_error("\"store: database is not a regular file\" path=%s", path);
		return -EINVAL;
	}
	if ((stb.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		err = errno;
		log_error("\"store: cannot chmod 0600\" path=%s error=\"%s\"", path, strerror(err));
		return -err;
	}
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		_cleanup_free_ char *side = NULL;

		if (asprintf(&side, "%s%s", path, suffixes[i]) < 0)
			return -ENOMEM;
		if (lstat(side, &stb) == 0 && S_ISREG(stb.st_mode) && (stb.st_mode & 0077))
			(void)chmod(side, 0600);
	}
	return 0;
}

static int pragma(struct sqlite_store *s, const char *sql, const char *want)
{
	sqlite3_stmt *st = NULL;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc)
		return sql_err(s->db, rc, sql);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = sql_err(s->db, rc, sql);
	} else if (want) {
		const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;

		if (!got || strcasecmp(got, want) != 0) {
			log_error("\"store: pragma refused\" sql=\"%s\" got=%s want=%s", sql, got ? got : "nothing",
				  want);
			r = -EIO;
		}
	}
	sqlite3_finalize(st);
	return r;
}

static int exec(struct sqlite_store *s, const char *sql, const char *what)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		log_error("\"store: statement failed\" op=\"%s\" error=\"%s\"", what,
			  msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		switch (rc & 0xff) {
		case SQLITE_BUSY:
		case SQLITE_LOCKED:
			return -EBUSY;
		case SQLITE_FULL:
			return -ENOSPC;
		case SQLITE_READONLY:
			return -EROFS;
		case SQLITE_CORRUPT:
		case SQLITE_NOTADB:
			return -EUCLEAN;
		case SQLITE_NOMEM:
			return -ENOMEM;
		}
		return -EIO;
	}
	return 0;
}

static int migrate(struct sqlite_store *s)
{
	const long latest = (long)ARRAY_SIZE(migrations);
	sqlite3_stmt *st = NULL;
	long version = -1;
	char sql[64];
	int rc, r;

	r = exec(s, "BEGIN IMMEDIATE", "begin migration");
	if (r)
		return r;
	r = exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
		 "create schema_version");
	if (r)
		goto fail;
	rc = sqlite3_prepare_v2(s->db, "SELECT version FROM schema_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = sql_err(s->db, rc, "read schema_version");
		goto fail;
	}
	if (version < 0) {
		r = exec(s, "INSERT INTO schema_version (version) VALUES (0)", "init schema_version");
		if (r)
			goto fail;
		version = 0;
	}
	if (version > latest) {
		log_error("\"store: database schema is newer than this attestd\" version=%ld known=%ld",
			  version, latest);
		r = -ENOTSUP;
		goto fail;
	}
	for (long v = version; v < latest; v++) {
		r = exec(s, migrations[v], "migration");
		if (r)
			goto fail;
	}
	if (version < latest) {
		snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %ld", latest);
		r = exec(s, sql, "update schema_version");
		if (r)
			goto fail;
		log_info("\"store: schema migrated\" from=%ld to=%ld", version, latest);
	}
	return exec(s, "COMMIT", "commit migration");
fail:
	(void)exec(s, "ROLLBACK", "rollback migration");
	return r;
}

/* PRAGMA cache_size in KiB (it is pages when positive). */
static long read_cache_kib(struct sqlite_store *s)
{
	sqlite3_stmt *st = NULL;
	long kib = 2000, v;

	if (sqlite3_prepare_v2(s->db, "PRAGMA cache_size", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		v = (long)sqlite3_column_int64(st, 0);
		kib = v < 0 ? -v : v * 4;
	}
	sqlite3_finalize(st);
	return kib;
}

static int sq_open(const char *url, struct store **ret)
{
	const char *path = url;
	struct sqlite_store *s;
	int rc, r;

	/* design.md builds the URL as "sqlite://" + data dir + "/store.db": the rest is the path. */
	if (strncmp(url, "sqlite://", 9) == 0)
		path = url + 9;
	if (!*path) {
		log_error("\"store: no database path\" url=%s", url);
		return -EINVAL;
	}
	r = prepare_file(path);
	if (r)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &store_sqlite_ops;
	pthread_mutex_init(&s->lock, NULL);
	s->md = EVP_MD_CTX_new();
	if (!s->md) {
		r = -ENOMEM;
		goto fail;
	}
	/* NOMUTEX: s->lock serializes every use of the connection. */
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(s->db, rc, "open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if ((r = pragma(s, "PRAGMA journal_mode = WAL", "wal")) ||
	    (r = pragma(s, "PRAGMA synchronous = FULL", NULL)) ||
	    (r = pragma(s, "PRAGMA foreign_keys = ON", NULL)) ||
	    (r = pragma(s, "PRAGMA trusted_schema = OFF", NULL)) || (r = migrate(s)))
		goto fail;
	s->cache_kib = read_cache_kib(s);
	for (int i = 0; i < ST_MAX; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		if (rc != SQLITE_OK) {
			r = sql_err(s->db, rc, "prepare");
			goto fail;
		}
	}
	*ret = &s->base;
	return 0;
fail:
	sq_close(&s->base);
	return r;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.create_batch = sq_create_batch,
	.get = sq_get,
	.update = sq_update,
	.delete = sq_delete,
	.list = sq_list,
	.integrity_check = sq_integrity_check,
};
