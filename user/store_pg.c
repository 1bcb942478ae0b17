// SPDX-License-Identifier: Apache-2.0
/*
 * The PostgreSQL store backend, for a fleet: every node's attestd opens the
 * same database (a libpq URI, "postgresql://user@db.example.org/attestd"),
 * and each one hears of every change through LISTEN/NOTIFY.
 *
 * Same contract and semantics as store_sqlite.c (docs/store.md): the same
 * tables (entries, and entry_selectors as the selector index), the same
 * duplicate rule as a UNIQUE index on (spiffe_id, parent_id, selector_set),
 * batches in one transaction, revision + 1 per update, only prepared
 * statements with bound parameters for data.  Migrations are an array run
 * in one transaction under an advisory lock, so two nodes starting at once
 * do not both migrate.  List fields are jsonb.
 *
 * Change notification: a trigger on entries sends NOTIFY attestd_entries
 * with the entry's id for every row written (and "*" on TRUNCATE), so
 * writes that do not come from attestd (a restore, a hand fix) are heard
 * too (and a BEFORE UPDATE trigger bumps the revision of a hand edit that
 * did not, so that nodes comparing revisions take it).  A watcher thread
 * holds a second connection that LISTENs; after
 * every (re)connect it asks its caller for a full resync, and a burst of
 * more than NOTIFY_BURST ids becomes one resync too.  The watcher's
 * connection is also the health probe: when it breaks, the outage is
 * logged, the watcher reconnects with jittered exponential backoff, and the
 * caller keeps serving what it has.
 *
 * The operations connection is serialized by a mutex like SQLite's.  It is
 * checked before each call (a closed socket is noticed without sending
 * anything) and reopened lazily, at most once per backoff interval, so an
 * outage costs a caller one quick -ENOTCONN, not a connect timeout each.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include "cleanup.h"
#include "log.h"
#include "store.h"

#define SELECTOR_SET_LEN 32 /* SHA-256 */
#define CHANNEL "attestd_entries"
#define MIGRATION_LOCK 0x61747465 /* pg_advisory_xact_lock key: "atte" */
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define IDLE_PING_MS 10000 /* a quiet LISTEN connection is pinged this often */
#define NOTIFY_BURST 256 /* more ids than this in one go: resync instead */
#define PIPELINE_CHUNK 256 /* INSERTs of a batch per round trip */
#define NOTIFY_COALESCE_MS 20 /* a burst's notifications are gathered this long */
#define OUTAGE_REPEAT_S 60 /* "still unreachable" is logged this often */

/* Each element brings the schema from version i to i + 1, in one transaction with the rest. */
static const char *const migrations[] = {
	"CREATE TABLE entries ("
	"  pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  id text NOT NULL UNIQUE,"
	"  spiffe_id text NOT NULL,"
	"  parent_id text NOT NULL,"
	"  selector_set bytea NOT NULL,"
	"  selectors jsonb NOT NULL,"
	"  x509_svid_ttl bigint NOT NULL,"
	"  jwt_svid_ttl bigint NOT NULL,"
	"  dns_names jsonb NOT NULL,"
	"  hint text NOT NULL,"
	"  federates_with jsonb NOT NULL,"
	"  revision bigint NOT NULL,"
	"  created_at bigint NOT NULL);"
	/* Also serves lookups by spiffe_id (its prefix). */
	"CREATE UNIQUE INDEX entries_registration ON entries (spiffe_id, parent_id, selector_set);"
	"CREATE TABLE entry_selectors ("
	"  selector text NOT NULL,"
	"  entry_pk bigint NOT NULL REFERENCES entries (pk) ON DELETE CASCADE,"
	"  PRIMARY KEY (selector, entry_pk));"
	"CREATE INDEX entry_selectors_entry ON entry_selectors (entry_pk);"
	"CREATE FUNCTION attestd_entries_notify() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  IF TG_OP = 'TRUNCATE' THEN PERFORM pg_notify('" CHANNEL "', '*');"
	"  ELSIF TG_OP = 'DELETE' THEN PERFORM pg_notify('" CHANNEL "', OLD.id);"
	"  ELSE PERFORM pg_notify('" CHANNEL "', NEW.id);"
	"  END IF;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER entries_notify AFTER INSERT OR UPDATE OR DELETE ON entries"
	"  FOR EACH ROW EXECUTE FUNCTION attestd_entries_notify();"
	"CREATE TRIGGER entries_notify_truncate AFTER TRUNCATE ON entries"
	"  FOR EACH STATEMENT EXECUTE FUNCTION attestd_entries_notify();"
	/* A hand edit that leaves the revision alone still bumps it, so nodes see a change. */
	"CREATE FUNCTION attestd_entries_revision() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  IF NEW.revision <= OLD.revision THEN NEW.revision := OLD.revision + 1; END IF;"
	"  RETURN NEW;"
	" END $$;"
	"CREATE TRIGGER entries_revision BEFORE UPDATE ON entries"
	"  FOR EACH ROW EXECUTE FUNCTION attestd_entries_revision();",
};

#define ENTRY_COLS                                                                                 \
	"id, spiffe_id, parent_id, selectors::text, x509_svid_ttl, jwt_svid_ttl, "                 \
	"dns_names::text, hint, federates_with::text, revision, created_at"
/* strcmp order, whatever the database's collation: the contract is "sorted by spiffe_id then id". */
#define ORDER " ORDER BY spiffe_id COLLATE \"C\", id COLLATE \"C\""

enum stmt_id {
	ST_INSERT,
	ST_FIND,
	ST_UPDATE,
	ST_DELETE_SELS,
	ST_INSERT_SELS,
	ST_DELETE,
	ST_GET,
	ST_LIST_ALL,
	ST_LIST_SELECTOR,
	ST_LIST_SPIFFE_ID,
	ST_LIST_BOTH,
	ST_MAX,
};

static const char *const stmt_sql[ST_MAX] = {
	/* The row and its selector index in one round trip. */
	[ST_INSERT] = "WITH e AS (INSERT INTO entries (id, spiffe_id, parent_id, selector_set, "
		      "selectors, x509_svid_ttl, jwt_svid_ttl, dns_names, hint, federates_with, "
		      "revision, created_at) VALUES ($1, $2, $3, decode($4, 'hex'), $5::jsonb, "
		      "$6::bigint, $7::bigint, $8::jsonb, $9, $10::jsonb, 1, $11::bigint) "
		      "RETURNING pk, selectors) "
		      "INSERT INTO entry_selectors (selector, entry_pk) "
		      "SELECT jsonb_array_elements_text(e.selectors), e.pk FROM e",
	/* The row lock makes the revision check and the update one step across nodes. */
	[ST_FIND] = "SELECT pk, revision, created_at FROM entries WHERE id = $1 FOR UPDATE",
	[ST_UPDATE] = "UPDATE entries SET spiffe_id = $2, parent_id = $3, "
		      "selector_set = decode($4, 'hex'), selectors = $5::jsonb, "
		      "x509_svid_ttl = $6::bigint, jwt_svid_ttl = $7::bigint, dns_names = $8::jsonb, "
		      "hint = $9, federates_with = $10::jsonb, revision = $11::bigint "
		      "WHERE pk = $1::bigint",
	[ST_DELETE_SELS] = "DELETE FROM entry_selectors WHERE entry_pk = $1::bigint",
	[ST_INSERT_SELS] = "INSERT INTO entry_selectors (selector, entry_pk) "
			   "SELECT jsonb_array_elements_text($2::jsonb), $1::bigint",
	/* entry_selectors rows go with it (ON DELETE CASCADE). */
	[ST_DELETE] = "DELETE FROM entries WHERE id = $1",
	[ST_GET] = "SELECT " ENTRY_COLS " FROM entries WHERE id = $1",
	[ST_LIST_ALL] = "SELECT " ENTRY_COLS " FROM entries" ORDER,
	[ST_LIST_SELECTOR] = "SELECT " ENTRY_COLS " FROM entries WHERE pk IN "
			     "(SELECT entry_pk FROM entry_selectors WHERE selector = $1)" ORDER,
	[ST_LIST_SPIFFE_ID] = "SELECT " ENTRY_COLS " FROM entries WHERE spiffe_id = $1" ORDER,
	[ST_LIST_BOTH] = "SELECT " ENTRY_COLS " FROM entries WHERE pk IN "
			 "(SELECT entry_pk FROM entry_selectors WHERE selector = $1) "
			 "AND spiffe_id = $2" ORDER,
};

struct pg_store {
	struct store base;
	pthread_mutex_t lock; /* serializes conn and the fields below it */
	PGconn *conn; /* operations; NULL while the database is away */
	bool conn_fatal; /* the server said FATAL on conn: it is closing */
	bool listen_fatal; /* the same for the watcher's connection */
	char *url; /* as given: it may hold a password, so it is never logged */
	char where[256]; /* host, port, database and user, for logs */
	EVP_MD_CTX *md;
	int64_t retry_at_ms; /* no reconnect of conn before this (CLOCK_MONOTONIC) */
	unsigned backoff_ms;
	unsigned seed; /* jitter */

	/* the watcher */
	pthread_mutex_t watch_lock; /* store_watch/unwatch against each other */
	pthread_t thread;
	bool watching;
	int stop_fd; /* eventfd: the watcher ends when it is readable */
	store_change_fn fn;
	void *ctx;

	pthread_mutex_t health_lock;
	struct store_health health;
	time_t down_logged; /* when "unreachable" was last logged */
};

static struct pg_store *to_pg(struct store *s)
{
	return (struct pg_store *)s;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq's messages end in a newline and may span lines; logs want one line. */
static void one_line(char *dst, size_t len, const char *msg)
{
	size_t n = 0;

	for (const char *p = msg ? msg : ""; *p && n + 1 < len; p++) {
		char ch = *p == '"' ? '\'' : (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;

		if (ch == ' ' && (n == 0 || dst[n - 1] == ' '))
			continue;
		dst[n++] = ch;
	}
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/* ---- health ---- */

static void health_down(struct pg_store *s, const char *why)
{
	time_t now = time(NULL);
	char msg[sizeof(s->health.error)];

	one_line(msg, sizeof(msg), why);
	pthread_mutex_lock(&s->health_lock);
	snprintf(s->health.error, sizeof(s->health.error), "%s", msg);
	if (s->health.up || !s->health.since) {
		bool was_up = s->health.up;

		s->health.up = false;
		s->health.since = now;
		if (was_up)
			s->health.outages++;
		s->down_logged = now;
		pthread_mutex_unlock(&s->health_lock);
		log_error("\"store: database unreachable; serving the entries already loaded, "
			  "reconnecting\" where=\"%s\" error=\"%s\"",
			  s->where, msg);
		return;
	}
	if (now - s->down_logged >= OUTAGE_REPEAT_S) {
		long long down = (long long)(now - s->health.since);

		s->down_logged = now;
		pthread_mutex_unlock(&s->health_lock);
		log_warn("\"store: database still unreachable\" where=\"%s\" down_for_s=%lld "
			 "error=\"%s\"",
			 s->where, down, msg);
		return;
	}
	pthread_mutex_unlock(&s->health_lock);
}

static void health_up(struct pg_store *s)
{
	time_t now = time(NULL);
	bool was_down;
	long long down;

	pthread_mutex_lock(&s->health_lock);
	was_down = !s->health.up && s->health.since;
	down = (long long)(now - s->health.since);
	if (!s->health.up) {
		s->health.up = true;
		s->health.since = now;
		if (was_down)
			s->health.reconnects++;
	}
	pthread_mutex_unlock(&s->health_lock);
	if (was_down)
		log_info("\"store: database reachable again\" where=\"%s\" down_for_s=%lld", s->where,
			 down);
}

static int pg_health(struct store *base, struct store_health *ret)
{
	struct pg_store *s = to_pg(base);

	pthread_mutex_lock(&s->health_lock);
	*ret = s->health;
	pthread_mutex_unlock(&s->health_lock);
	return 0;
}

/* ---- errors ---- */

/*
 * Maps a failed result to -errno by its SQLSTATE, logging what the errno
 * cannot say.  A broken connection is dropped here, so the next call
 * reconnects.  Caller holds s->lock.
 */
static int pg_err(struct pg_store *s, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : NULL;
	char line[512];

	if (!msg || !*msg)
		msg = s->conn ? PQerrorMessage(s->conn) : "no connection";
	one_line(line, sizeof(line), msg);
	if (!s->conn || PQstatus(s->conn) == CONNECTION_BAD ||
	    (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
		       strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0))) {
		health_down(s, line);
		PQfinish(s->conn);
		s->conn = NULL;
		s->retry_at_ms = 0; /* the first retry may come at once; later ones back off */
		return -ENOTCONN;
	}
	if (!state)
		state = "";
	if (strcmp(state, "23505") == 0) /* unique_violation */
		return -EEXIST;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
		log_warn("\"store: database busy\" op=\"%s\" error=\"%s\"", what, line);
		return -EBUSY;
	}
	if (strcmp(state, "53100") == 0) {
		log_error("\"store: disk full\" op=\"%s\" where=\"%s\"", what, s->where);
		return -ENOSPC;
	}
	if (strcmp(state, "53200") == 0)
		return -ENOMEM;
	if (strcmp(state, "25006") == 0) {
		log_error("\"store: database is read-only (a standby?)\" op=\"%s\" where=\"%s\"", what,
			  s->where);
		return -EROFS;
	}
	if (strcmp(state, "42501") == 0 || strncmp(state, "28", 2) == 0) {
		log_error("\"store: permission denied\" op=\"%s\" error=\"%s\"", what, line);
		return -EACCES;
	}
	if (strncmp(state, "XX", 2) == 0) {
		log_error("\"store: database is corrupt\" op=\"%s\" error=\"%s\"", what, line);
		return -EUCLEAN;
	}
	if (strncmp(state, "22", 2) == 0) /* data exception: e.g. not UTF-8 */
		return -EINVAL;
	log_error("\"store: operation failed\" op=\"%s\" sqlstate=%s error=\"%s\"", what, state,
		  line);
	return -EIO;
}

/* Checks a result: 0 if it is what was asked for, else pg_err().  Clears nothing. */
static int res_check(struct pg_store *s, const PGresult *res, const char *what)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return 0;
	return pg_err(s, res, what);
}

/* A statement with no parameters and no rows (BEGIN, COMMIT, DDL). */
static int exec_simple(struct pg_store *s, PGconn *c, const char *sql, const char *what)
{
	PGresult *res = PQexec(c, sql);
	int r = res_check(s, res, what);

	PQclear(res);
	return r;
}

/* ---- connections ---- */

static void rollback(struct pg_store *s);

/*
 * Server notices go to the log, not stderr.  A FATAL that arrives on an idle
 * connection (the server shutting down) is a notice too: it marks the
 * connection dead at once, before a write is sent into a closing socket.
 */
static void on_notice(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	bool *fatal = arg;
	char line[256];

	if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
		*fatal = true;
	one_line(line, sizeof(line), PQresultErrorMessage(res));
	log_debug("\"store: server notice\" message=\"%s\"", line);
}

static PGconn *dial(struct pg_store *s, bool *fatal, char *err, size_t errlen)
{
	/*
	 * Defaults first: fields of the URL override them (libpq processes the
	 * arrays in order and the URL is expanded where dbname stands).
	 */
	static const char *const keys[] = {
		"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "tcp_user_timeout", "fallback_application_name",
		"client_encoding", "dbname", NULL,
	};
	const char *vals[] = { "5", "1", "10", "5", "3", "15000", "attestd", "UTF8", s->url, NULL };
	PGconn *c = PQconnectdbParams(keys, vals, 1);

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		one_line(err, errlen, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	*fatal = false;
	PQsetNoticeReceiver(c, on_notice, fatal);
	return c;
}

static int prepare_all(struct pg_store *s)
{
	for (int i = 0; i < ST_MAX; i++) {
		char name[16];
		PGresult *res;
		int r;

		snprintf(name, sizeof(name), "attestd_%d", i);
		res = PQprepare(s->conn, name, stmt_sql[i], 0, NULL);
		r = res_check(s, res, "prepare");
		PQclear(res);
		if (r)
			return r;
	}
	return 0;
}

/*
 * Makes sure s->conn is usable, reconnecting if the backoff allows;
 * *ret_fresh says whether it did.  Caller holds s->lock.  0 or -ENOTCONN
 * (or pg_err's value).
 */
static int ensure_conn(struct pg_store *s, bool *ret_fresh)
{
	char err[sizeof(s->health.error)];
	int64_t now = now_ms();
	int r;

	*ret_fresh = false;
	/* Reads what the server sent meanwhile: a closed socket shows up here, not mid-write. */
	if (s->conn && PQconsumeInput(s->conn) && PQstatus(s->conn) == CONNECTION_OK &&
	    !s->conn_fatal) {
		rollback(s); /* never left open, but never inherited either */
		if (s->conn && PQtransactionStatus(s->conn) == PQTRANS_IDLE)
			return 0;
	}
	if (s->conn) {
		one_line(err, sizeof(err), PQerrorMessage(s->conn));
		health_down(s, err[0] ? err : "connection lost");
		PQfinish(s->conn);
		s->conn = NULL;
	}
	if (now < s->retry_at_ms)
		return -ENOTCONN;
	s->conn = dial(s, &s->conn_fatal, err, sizeof(err));
	if (!s->conn) {
		health_down(s, err);
		s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (s->backoff_ms > BACKOFF_MAX_MS)
			s->backoff_ms = BACKOFF_MAX_MS;
		s->retry_at_ms = now + s->backoff_ms;
		return -ENOTCONN;
	}
	r = prepare_all(s);
	if (r) {
		PQfinish(s->conn);
		s->conn = NULL;
		return r;
	}
	s->backoff_ms = 0;
	s->retry_at_ms = 0;
	*ret_fresh = true;
	health_up(s);
	return 0;
}

static int begin(struct pg_store *s);

/*
 * A connection that died while idle (a server restart, a terminated
 * backend) is often found out only by its next statement.  Nothing has
 * happened then, so a transaction's BEGIN, and any read, is tried once
 * more on a fresh connection.
 */
static int open_tx(struct pg_store *s)
{
	bool fresh;
	int r = ensure_conn(s, &fresh);

	if (!r)
		r = begin(s);
	if (r == -ENOTCONN && !fresh && !(r = ensure_conn(s, &fresh)))
		r = begin(s);
	return r;
}

static int select_entries(struct pg_store *s, enum stmt_id id, int nparams,
			  const char *const *params, struct entry ***ret, size_t *ret_n);

static int read_entries(struct pg_store *s, enum stmt_id id, int nparams,
			const char *const *params, struct entry ***ret, size_t *ret_n)
{
	bool fresh;
	int r = ensure_conn(s, &fresh);

	if (!r)
		r = select_entries(s, id, nparams, params, ret, ret_n);
	if (r == -ENOTCONN && !fresh && !(r = ensure_conn(s, &fresh)))
		r = select_entries(s, id, nparams, params, ret, ret_n);
	return r;
}

/* A prepared statement with text parameters. */
static PGresult *run(struct pg_store *s, enum stmt_id id, int n, const char *const *params)
{
	char name[16];

	snprintf(name, sizeof(name), "attestd_%d", (int)id);
	return PQexecPrepared(s->conn, name, n, params, NULL, NULL, 0);
}

static int run_cmd(struct pg_store *s, enum stmt_id id, int n, const char *const *params,
		   const char *what, long *ret_rows)
{
	PGresult *res = run(s, id, n, params);
	int r = res_check(s, res, what);

	if (!r && ret_rows)
		*ret_rows = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return r;
}

static int begin(struct pg_store *s)
{
	return exec_simple(s, s->conn, "BEGIN", "begin transaction");
}

static int commit(struct pg_store *s)
{
	int r = exec_simple(s, s->conn, "COMMIT", "commit");

	if (r && s->conn && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		(void)exec_simple(s, s->conn, "ROLLBACK", "rollback");
	return r;
}

static void rollback(struct pg_store *s)
{
	if (s->conn && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		(void)exec_simple(s, s->conn, "ROLLBACK", "rollback");
}

/* ---- encoding (the same forms as store_sqlite.c) ---- */

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

/* SHA-256 over the sorted selectors, each prefixed by its length (as in store_sqlite.c), in hex. */
static int selector_set_hex(struct pg_store *s, const struct entry *e,
			    char out[2 * SELECTOR_SET_LEN + 1])
{
	unsigned char md[SELECTOR_SET_LEN];
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
	if (!EVP_DigestFinal_ex(s->md, md, &len) || len != SELECTOR_SET_LEN)
		return -EIO;
	for (int i = 0; i < SELECTOR_SET_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* An entry's contents as the text parameters $2..$10 of ST_INSERT and ST_UPDATE. */
struct row_params {
	char *selectors, *dns_names, *federates_with;
	char set[2 * SELECTOR_SET_LEN + 1];
	char x509[24], jwt[24];
};

static void row_params_free(struct row_params *p)
{
	free(p->selectors);
	free(p->dns_names);
	free(p->federates_with);
}

static int row_params_make(struct pg_store *s, const struct entry *e, struct row_params *p)
{
	memset(p, 0, sizeof(*p));
	p->selectors = strarr_to_json(e->selectors, e->nselectors);
	p->dns_names = strarr_to_json(e->dns_names, e->ndns_names);
	p->federates_with = strarr_to_json(e->federates_with, e->nfederates_with);
	if (!p->selectors || !p->dns_names || !p->federates_with) {
		row_params_free(p);
		return -ENOMEM;
	}
	snprintf(p->x509, sizeof(p->x509), "%u", e->x509_svid_ttl);
	snprintf(p->jwt, sizeof(p->jwt), "%u", e->jwt_svid_ttl);
	return selector_set_hex(s, e, p->set);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/* Fills v[first..first+8] with spiffe_id .. federates_with. */
static void fill_contents(const char **v, int first, const struct entry *e,
			  const struct row_params *p)
{
	v[first] = nz(e->spiffe_id);
	v[first + 1] = nz(e->parent_id);
	v[first + 2] = p->set;
	v[first + 3] = p->selectors;
	v[first + 4] = p->x509;
	v[first + 5] = p->jwt;
	v[first + 6] = p->dns_names;
	v[first + 7] = nz(e->hint);
	v[first + 8] = p->federates_with;
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

static int col_str(const PGresult *res, int row, int col, char **dst)
{
	if (PQgetisnull(res, row, col))
		return -EUCLEAN;
	*dst = strdup(PQgetvalue(res, row, col));
	return *dst ? 0 : -ENOMEM;
}

static int col_i64(const PGresult *res, int row, int col, int64_t *dst)
{
	const char *t = PQgetvalue(res, row, col);
	char *end;

	if (PQgetisnull(res, row, col) || !*t)
		return -EUCLEAN;
	errno = 0;
	*dst = strtoll(t, &end, 10);
	return errno || *end ? -EUCLEAN : 0;
}

/* Row `row` of a SELECT ENTRY_COLS as a new entry. */
static int row_to_entry(const PGresult *res, int row, struct entry **ret)
{
	struct entry *e = calloc(1, sizeof(*e));
	const char *id = PQgetvalue(res, row, 0);
	int64_t x509, jwt, rev;
	int r;

	if (!e)
		return -ENOMEM;
	if (strlen(id) > ENTRY_ID_LEN) {
		r = -EUCLEAN;
		goto fail;
	}
	memcpy(e->id, id, strlen(id) + 1);
	if ((r = col_str(res, row, 1, &e->spiffe_id)) || (r = col_str(res, row, 2, &e->parent_id)) ||
	    (r = json_to_strarr(PQgetvalue(res, row, 3), &e->selectors, &e->nselectors)) ||
	    (r = json_to_strarr(PQgetvalue(res, row, 6), &e->dns_names, &e->ndns_names)) ||
	    (r = col_str(res, row, 7, &e->hint)) ||
	    (r = json_to_strarr(PQgetvalue(res, row, 8), &e->federates_with,
				&e->nfederates_with)) ||
	    (r = col_i64(res, row, 4, &x509)) || (r = col_i64(res, row, 5, &jwt)) ||
	    (r = col_i64(res, row, 9, &rev)) || (r = col_i64(res, row, 10, &e->created_at)))
		goto fail;
	e->x509_svid_ttl = (uint32_t)x509;
	e->jwt_svid_ttl = (uint32_t)jwt;
	e->revision = (uint64_t)rev;
	*ret = e;
	return 0;
fail:
	if (r == -EUCLEAN)
		log_error("\"store: unreadable entry row\" id=%s", e->id[0] ? e->id : "?");
	entry_free(e);
	return r;
}

/* ---- operations ---- */

/* Queues e's INSERT in the pipeline (libpq copies the parameters). */
static int send_insert(struct pg_store *s, struct entry *e, int64_t now)
{
	struct row_params p;
	const char *v[11];
	char created[24], name[16];
	int r, ok;

	r = row_params_make(s, e, &p);
	if (r)
		return r;
	snprintf(created, sizeof(created), "%lld", (long long)(e->created_at ? e->created_at : now));
	snprintf(name, sizeof(name), "attestd_%d", (int)ST_INSERT);
	v[0] = e->id;
	fill_contents(v, 1, e, &p);
	v[10] = created;
	ok = PQsendQueryPrepared(s->conn, name, 11, v, NULL, NULL, 0);
	row_params_free(&p);
	return ok ? 0 : pg_err(s, NULL, "queue insert");
}

/*
 * Reads the results of the count INSERTs queued since the last sync, and
 * the sync's.  0, or the first failure's error with its place in *ret_at
 * (the server skips the rest of the chunk after it).
 */
static int read_chunk(struct pg_store *s, size_t count, size_t *ret_at)
{
	PGresult *res;
	int r = 0;

	for (size_t k = 0; k < count; k++) {
		bool any = false;

		/* A query's results end with a NULL. */
		while (s->conn && (res = PQgetResult(s->conn))) {
			ExecStatusType st = PQresultStatus(res);

			any = true;
			if (!r && st != PGRES_COMMAND_OK && st != PGRES_PIPELINE_ABORTED) {
				r = pg_err(s, res, "insert entry");
				*ret_at = k;
			}
			PQclear(res);
		}
		if (!any || !s->conn || PQstatus(s->conn) != CONNECTION_OK) {
			*ret_at = r ? *ret_at : k;
			return r ? r : pg_err(s, NULL, "insert entries");
		}
	}
	res = PQgetResult(s->conn);
	if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		if (!r)
			r = pg_err(s, res, "pipeline sync");
		*ret_at = count;
	}
	PQclear(res);
	return r;
}

/*
 * The INSERTs of a batch go out PIPELINE_CHUNK at a time in libpq's
 * pipeline mode: one round trip per chunk, not per entry, and each
 * chunk's answers are small enough never to block the server while we send.
 */
static int insert_all(struct pg_store *s, struct entry *const *v, size_t n, int64_t now,
		      bool *gen, size_t *ret_at)
{
	size_t i = 0, at = 0;
	int r = 0;

	if (!PQenterPipelineMode(s->conn)) {
		*ret_at = 0;
		return pg_err(s, NULL, "enter pipeline mode");
	}
	while (!r && i < n) {
		size_t start = i, end = i + PIPELINE_CHUNK < n ? i + PIPELINE_CHUNK : n;

		for (; !r && i < end; i++) {
			struct entry *e = v[i];

			entry_normalize(e);
			/* Ids are keys that other APIs take from users: only canonical UUIDs get in. */
			if (e->id[0] && !entry_id_valid(e->id)) {
				r = -EINVAL;
			} else if (!e->id[0]) {
				r = entry_id_generate(e->id);
				gen[i] = r == 0;
			}
			if (!r)
				r = send_insert(s, e, now);
			if (r)
				at = i;
		}
		/* What was queued is synced and read even after a local refusal. */
		if (s->conn && (PQpipelineSync(s->conn) != 1)) {
			if (!r) {
				r = pg_err(s, NULL, "pipeline sync");
				at = start;
			}
		} else if (s->conn) {
			size_t k = 0;
			int q = read_chunk(s, (r ? at : i) - start, &k);

			if (q && (!r || start + k < at)) {
				r = q;
				at = start + k;
			}
		}
	}
	if (s->conn && !PQexitPipelineMode(s->conn)) {
		/* Results left unread: the connection's state is unknown, so it goes (and the
		 * transaction with it, which commits nothing). */
		log_warn("\"store: pipeline left unfinished; reconnecting\" where=\"%s\"", s->where);
		PQfinish(s->conn);
		s->conn = NULL;
		if (!r) {
			r = -EIO;
			at = n;
		}
	}
	*ret_at = at;
	return r;
}

static int pg_create_batch(struct store *base, struct entry *const *v, size_t n,
			   size_t *ret_failed)
{
	struct pg_store *s = to_pg(base);
	_cleanup_free_ bool *gen = calloc(n ? n : 1, sizeof(*gen));
	int64_t now = (int64_t)time(NULL);
	size_t i = 0;
	int r;

	if (!gen)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	r = open_tx(s);
	if (r) {
		i = n;
		goto out;
	}
	r = insert_all(s, v, n, now, gen, &i);
	if (!r) {
		i = n;
		r = commit(s);
	} else {
		rollback(s);
	}
out:
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
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Runs a SELECT ENTRY_COLS and decodes every row. */
static int select_entries(struct pg_store *s, enum stmt_id id, int nparams,
			  const char *const *params, struct entry ***ret, size_t *ret_n)
{
	PGresult *res;
	struct entry **v = NULL;
	int rows, r;

	*ret = NULL;
	*ret_n = 0;
	res = run(s, id, nparams, params);
	r = res_check(s, res, "select entries");
	if (r) {
		PQclear(res);
		return r;
	}
	rows = PQntuples(res);
	if (rows) {
		v = calloc((size_t)rows, sizeof(*v));
		if (!v) {
			PQclear(res);
			return -ENOMEM;
		}
	}
	for (int i = 0; i < rows; i++) {
		r = row_to_entry(res, i, &v[i]);
		if (r) {
			entries_free(v, (size_t)i);
			PQclear(res);
			return r;
		}
	}
	PQclear(res);
	*ret = v;
	*ret_n = (size_t)rows;
	return 0;
}

static int pg_get(struct store *base, const char *id, struct entry **ret)
{
	struct pg_store *s = to_pg(base);
	struct entry **v = NULL;
	size_t n = 0;
	int r;

	pthread_mutex_lock(&s->lock);
	r = read_entries(s, ST_GET, 1, &id, &v, &n);
	pthread_mutex_unlock(&s->lock);
	if (r)
		return r;
	if (n == 0) {
		free(v);
		return -ENOENT;
	}
	*ret = v[0]; /* ids are unique: n is 1 */
	for (size_t i = 1; i < n; i++)
		entry_free(v[i]);
	free(v);
	return 0;
}

/* Locks entry id's row inside a transaction: its pk, revision and created_at, or -ENOENT. */
static int find(struct pg_store *s, const char *id, char pk[24], uint64_t *rev, int64_t *created)
{
	PGresult *res = run(s, ST_FIND, 1, &id);
	int64_t v;
	int r = res_check(s, res, "find entry");

	if (!r && PQntuples(res) == 0)
		r = -ENOENT;
	if (!r) {
		snprintf(pk, 24, "%s", PQgetvalue(res, 0, 0));
		r = col_i64(res, 0, 1, &v);
		*rev = (uint64_t)v;
		if (!r)
			r = col_i64(res, 0, 2, created);
	}
	PQclear(res);
	return r;
}

static int pg_update(struct store *base, const char *id, struct entry *e)
{
	struct pg_store *s = to_pg(base);
	struct row_params p;
	const char *v[11];
	char pk[24], next[24];
	uint64_t rev = 0;
	int64_t created = 0;
	int r;

	entry_normalize(e);
	r = row_params_make(s, e, &p);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	r = open_tx(s);
	if (r)
		goto out;
	r = find(s, id, pk, &rev, &created);
	if (!r && e->revision && e->revision != rev)
		r = -ESTALE;
	if (r)
		goto fail;
	snprintf(next, sizeof(next), "%llu", (unsigned long long)(rev + 1));
	v[0] = pk;
	fill_contents(v, 1, e, &p);
	v[10] = next;
	if ((r = run_cmd(s, ST_UPDATE, 11, v, "update entry", NULL)) ||
	    (r = run_cmd(s, ST_DELETE_SELS, 1, v, "delete selectors", NULL)))
		goto fail;
	v[1] = p.selectors;
	if ((r = run_cmd(s, ST_INSERT_SELS, 2, v, "insert selectors", NULL)))
		goto fail;
	r = commit(s);
	if (!r) {
		if (id != e->id) /* callers may pass e->id itself */
			snprintf(e->id, sizeof(e->id), "%s", id);
		e->revision = rev + 1;
		e->created_at = created;
	}
	goto out;
fail:
	rollback(s);
out:
	pthread_mutex_unlock(&s->lock);
	row_params_free(&p);
	return r;
}

static int pg_delete(struct store *base, const char *id)
{
	struct pg_store *s = to_pg(base);
	long rows = 0;
	int r;

	pthread_mutex_lock(&s->lock);
	/* In a transaction of its own, so that a dead connection is found out before the DELETE. */
	r = open_tx(s);
	if (!r)
		r = run_cmd(s, ST_DELETE, 1, &id, "delete entry", &rows);
	if (!r && rows == 0)
		r = -ENOENT;
	if (!r)
		r = commit(s);
	else
		rollback(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int pg_list(struct store *base, const struct store_filter *f, struct entry ***ret,
		   size_t *ret_n)
{
	struct pg_store *s = to_pg(base);
	const char *v[2] = { f->selector, f->spiffe_id };
	enum stmt_id st = ST_LIST_ALL;
	int n = 0, r;

	if (f->selector && f->spiffe_id) {
		st = ST_LIST_BOTH;
		n = 2;
	} else if (f->selector) {
		st = ST_LIST_SELECTOR;
		n = 1;
	} else if (f->spiffe_id) {
		st = ST_LIST_SPIFFE_ID;
		v[0] = f->spiffe_id;
		n = 1;
	}
	pthread_mutex_lock(&s->lock);
	r = read_entries(s, st, n, v, ret, ret_n);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Runs a query whose rows are problems; the first one goes to err. */
static int check_query(struct pg_store *s, const char *sql, const char *what, char *err,
		       size_t errlen)
{
	PGresult *res = PQexecParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	int r = res_check(s, res, what);

	if (!r && PQntuples(res) > 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", what, PQgetvalue(res, 0, 0));
		r = -EUCLEAN;
	}
	PQclear(res);
	return r;
}

static int pg_integrity_check(struct store *base, char *err, size_t errlen)
{
	struct pg_store *s = to_pg(base);
	char sql[128];
	int r;

	snprintf(sql, sizeof(sql),
		 "SELECT 'version ' || version FROM schema_version WHERE version != %zu",
		 ARRAY_SIZE(migrations));
	pthread_mutex_lock(&s->lock);
	r = open_tx(s); /* one snapshot for the three checks */
	if (!r)
		r = check_query(s, sql, "schema version", err, errlen);
	/* The index must list exactly each entry's selectors, or filtering lies. */
	if (!r)
		r = check_query(s,
				"SELECT id FROM entries e WHERE jsonb_array_length(e.selectors) != "
				"(SELECT count(*) FROM entry_selectors x WHERE x.entry_pk = e.pk) "
				"OR EXISTS (SELECT 1 FROM entry_selectors x WHERE x.entry_pk = e.pk "
				"AND NOT e.selectors ? x.selector) LIMIT 1",
				"selector index disagrees with entry", err, errlen);
	/* Without the trigger, other nodes would never hear of a change. */
	if (!r)
		r = check_query(s,
				"SELECT 'entries_notify' WHERE NOT EXISTS (SELECT 1 FROM pg_trigger "
				"WHERE tgrelid = 'entries'::regclass AND tgname = 'entries_notify' "
				"AND tgenabled IN ('O', 'A'))",
				"change notification trigger missing or disabled", err, errlen);
	rollback(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- the watcher ---- */

static unsigned jitter(struct pg_store *s, unsigned ms)
{
	/* 75..125 %: a fleet that lost its database does not come back in lockstep. */
	return ms * 3 / 4 + (unsigned)rand_r(&s->seed) % (ms / 2 + 1);
}

/* Waits up to ms for fd (or -1: nothing) or the stop signal; true if told to stop. */
static bool wait_for(struct pg_store *s, int fd, int ms, bool *ret_readable)
{
	struct pollfd p[2] = { { s->stop_fd, POLLIN, 0 }, { fd, POLLIN, 0 } };
	int n;

	do
		n = poll(p, fd >= 0 ? 2 : 1, ms);
	while (n < 0 && errno == EINTR);
	if (ret_readable)
		*ret_readable = n > 0 && fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR));
	return n > 0 && (p[0].revents & POLLIN);
}

static PGconn *listen_connect(struct pg_store *s)
{
	char err[sizeof(s->health.error)];
	PGconn *c = dial(s, &s->listen_fatal, err, sizeof(err));
	PGresult *res;

	if (!c) {
		health_down(s, err);
		return NULL;
	}
	res = PQexec(c, "LISTEN " CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		one_line(err, sizeof(err), PQresultErrorMessage(res));
		health_down(s, err);
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

struct idset {
	char (*v)[ENTRY_ID_LEN + 1];
	size_t n;
	bool all; /* "*", an unknown payload, or more than NOTIFY_BURST */
};

static void idset_add(struct idset *set, const char *id)
{
	if (set->all)
		return;
	if (strcmp(id, "*") == 0 || strlen(id) > ENTRY_ID_LEN || set->n == NOTIFY_BURST) {
		set->all = true;
		return;
	}
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i], id) == 0)
			return;
	memcpy(set->v[set->n++], id, strlen(id) + 1);
}

/* Moves the notifications libpq has parsed into set. */
static void drain(PGconn *c, struct idset *set)
{
	PGnotify *nt;

	while ((nt = PQnotifies(c))) {
		if (strcmp(nt->relname, CHANNEL) == 0)
			idset_add(set, nt->extra ? nt->extra : "*");
		PQfreemem(nt);
	}
}

/* false if the connection broke (its error is in the health record). */
static bool consume(struct pg_store *s, PGconn *c)
{
	char err[sizeof(s->health.error)];

	if (PQconsumeInput(c) && PQstatus(c) == CONNECTION_OK && !s->listen_fatal)
		return true;
	one_line(err, sizeof(err), PQerrorMessage(c));
	health_down(s, err[0] ? err : "connection lost");
	return false;
}

/* A round trip on a quiet connection, to find a half-open one that keepalives have not. */
static bool ping(struct pg_store *s, PGconn *c)
{
	PGresult *res = PQexec(c, "SELECT 1");
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	char err[sizeof(s->health.error)];

	if (!ok) {
		one_line(err, sizeof(err), PQerrorMessage(c));
		health_down(s, err[0] ? err : "ping failed");
	}
	PQclear(res);
	return ok;
}

static void *watch_main(void *arg)
{
	struct pg_store *s = arg;
	struct idset set = { .v = calloc(NOTIFY_BURST, sizeof(*set.v)) };
	unsigned backoff = BACKOFF_MIN_MS, resync_backoff = BACKOFF_MIN_MS;
	bool resync = true, readable;
	PGconn *c = NULL;

	if (!set.v) {
		log_error("\"store: change watcher out of memory; other nodes' changes arrive only "
			  "after a restart\"");
		return NULL;
	}
	for (;;) {
		if (!c) {
			c = listen_connect(s);
			if (!c) {
				if (wait_for(s, -1, (int)jitter(s, backoff), NULL))
					break;
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			health_up(s);
			backoff = BACKOFF_MIN_MS;
			resync = true; /* whatever happened while we were away */
		}
		if (resync) {
			int r = s->fn(s->ctx, NULL);

			if (r < 0 && resync_backoff == BACKOFF_MIN_MS)
				log_warn("\"store: resync failed; retrying\" error=\"%s\"", strerror(-r));
			if (r < 0 && resync_backoff < BACKOFF_MAX_MS)
				resync_backoff *= 2;
			if (r == 0)
				resync_backoff = BACKOFF_MIN_MS;
			resync = r < 0;
		}
		if (wait_for(s, PQsocket(c), resync ? (int)jitter(s, resync_backoff) : IDLE_PING_MS,
			     &readable))
			break;
		if (!readable) {
			if (!resync && !ping(s, c)) {
				PQfinish(c);
				c = NULL;
			}
			continue;
		}
		set.n = 0;
		set.all = false;
		if (!consume(s, c)) {
			PQfinish(c);
			c = NULL;
			continue;
		}
		drain(c, &set);
		/* Gather the rest of a burst (a batch sends one per entry) before acting. */
		while (!set.all && set.n && !wait_for(s, PQsocket(c), NOTIFY_COALESCE_MS, &readable) &&
		       readable && consume(s, c))
			drain(c, &set);
		if (PQstatus(c) != CONNECTION_OK || s->listen_fatal) {
			PQfinish(c);
			c = NULL;
			continue;
		}
		if (set.all) {
			resync = true;
			continue;
		}
		for (size_t i = 0; i < set.n && !resync; i++)
			if (s->fn(s->ctx, set.v[i]) < 0)
				resync = true; /* a change we could not apply: catch up wholesale */
	}
	PQfinish(c);
	free(set.v);
	return NULL;
}

static int pg_watch(struct store *base, store_change_fn fn, void *ctx)
{
	struct pg_store *s = to_pg(base);
	int r = 0;

	pthread_mutex_lock(&s->watch_lock);
	if (s->watching) {
		r = -EBUSY;
		goto out;
	}
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0) {
		r = -errno;
		goto out;
	}
	s->fn = fn;
	s->ctx = ctx;
	r = -pthread_create(&s->thread, NULL, watch_main, s);
	if (r) {
		close(s->stop_fd);
		s->stop_fd = -1;
		goto out;
	}
	s->watching = true;
out:
	pthread_mutex_unlock(&s->watch_lock);
	return r;
}

static void pg_unwatch(struct store *base)
{
	struct pg_store *s = to_pg(base);
	uint64_t one = 1;

	pthread_mutex_lock(&s->watch_lock);
	if (s->watching) {
		(void)!write(s->stop_fd, &one, sizeof(one));
		pthread_join(s->thread, NULL);
		close(s->stop_fd);
		s->stop_fd = -1;
		s->watching = false;
	}
	pthread_mutex_unlock(&s->watch_lock);
}

/* ---- open / close ---- */

static void pg_close(struct store *base)
{
	struct pg_store *s = to_pg(base);

	pg_unwatch(base);
	PQfinish(s->conn);
	EVP_MD_CTX_free(s->md);
	if (s->url)
		explicit_bzero(s->url, strlen(s->url));
	free(s->url);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->watch_lock);
	pthread_mutex_destroy(&s->health_lock);
	free(s);
}

/* "host=db port=5432 dbname=attestd user=attestd": what a log may show of the URL. */
static int describe(const char *url, char *out, size_t len)
{
	static const char *const shown[] = { "host", "hostaddr", "port", "dbname", "user" };
	PQconninfoOption *opts;
	char *err = NULL;
	size_t n = 0;

	opts = PQconninfoParse(url, &err);
	if (!opts) {
		char line[256];

		one_line(line, sizeof(line), err ? err : "out of memory");
		log_error("\"store: malformed PostgreSQL URL\" error=\"%s\"", line);
		PQfreemem(err);
		return err ? -EINVAL : -ENOMEM;
	}
	out[0] = '\0';
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		for (size_t i = 0; i < ARRAY_SIZE(shown); i++) {
			if (strcmp(o->keyword, shown[i]) || !o->val || !*o->val || n >= len)
				continue;
			n += (size_t)snprintf(out + n, len - n, "%s%s=%s", n ? " " : "", o->keyword,
					      o->val);
		}
	}
	PQconninfoFree(opts);
	if (!out[0])
		snprintf(out, len, "(libpq defaults)");
	for (char *p = out; *p; p++)
		if (*p == '"')
			*p = '\'';
	return 0;
}

static int migrate(struct pg_store *s)
{
	const long latest = (long)ARRAY_SIZE(migrations);
	char lock_sql[64], ver[24];
	const char *param[1] = { ver };
	PGresult *res;
	long version = -1;
	int r;

	snprintf(lock_sql, sizeof(lock_sql), "SELECT pg_advisory_xact_lock(%d)", MIGRATION_LOCK);
	if ((r = begin(s)) || (r = exec_simple(s, s->conn, lock_sql, "migration lock")))
		goto fail;
	/* Looked up first: a role with no CREATE right may run a migrated database. */
	res = PQexec(s->conn, "SELECT to_regclass('schema_version') IS NULL");
	r = res_check(s, res, "find schema_version");
	if (!r && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		r = exec_simple(s, s->conn, "CREATE TABLE schema_version (version integer NOT NULL)",
				"create schema_version");
	PQclear(res);
	if (r)
		goto fail;
	res = PQexec(s->conn, "SELECT version FROM schema_version");
	r = res_check(s, res, "read schema_version");
	if (!r && PQntuples(res) > 0)
		version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (r)
		goto fail;
	if (version < 0) {
		r = exec_simple(s, s->conn, "INSERT INTO schema_version (version) VALUES (0)",
				"init schema_version");
		if (r)
			goto fail;
		version = 0;
	}
	if (version > latest) {
		log_error("\"store: database schema is newer than this attestd\" version=%ld known=%ld "
			  "where=\"%s\"",
			  version, latest, s->where);
		r = -ENOTSUP;
		goto fail;
	}
	for (long v = version; v < latest; v++) {
		r = exec_simple(s, s->conn, migrations[v], "migration");
		if (r)
			goto fail;
	}
	if (version < latest) {
		snprintf(ver, sizeof(ver), "%ld", latest);
		res = PQexecParams(s->conn, "UPDATE schema_version SET version = $1::integer", 1, NULL,
				   param, NULL, NULL, 0);
		r = res_check(s, res, "update schema_version");
		PQclear(res);
		if (r)
			goto fail;
	}
	r = commit(s);
	if (!r && version < latest)
		log_info("\"store: schema migrated\" from=%ld to=%ld where=\"%s\"", version, latest,
			 s->where);
	return r;
fail:
	rollback(s);
	return r;
}

static int pg_open(const char *url, struct store **ret)
{
	char err[sizeof(((struct store_health *)0)->error)];
	struct pg_store *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &store_pg_ops;
	s->stop_fd = -1;
	s->seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->watch_lock, NULL);
	pthread_mutex_init(&s->health_lock, NULL);
	s->url = strdup(url);
	s->md = EVP_MD_CTX_new();
	if (!s->url || !s->md) {
		r = -ENOMEM;
		goto fail;
	}
	r = describe(url, s->where, sizeof(s->where));
	if (r)
		goto fail;
	s->conn = dial(s, &s->conn_fatal, err, sizeof(err));
	if (!s->conn) {
		log_error("\"store: cannot connect to PostgreSQL\" where=\"%s\" error=\"%s\"", s->where,
			  err);
		r = -ENOTCONN;
		goto fail;
	}
	if (PQserverVersion(s->conn) < 110000) {
		log_error("\"store: PostgreSQL 11 or later is needed\" where=\"%s\" version=%d",
			  s->where, PQserverVersion(s->conn));
		r = -ENOTSUP;
		goto fail;
	}
	if ((r = migrate(s)) || (r = prepare_all(s)))
		goto fail;
	s->health.up = true;
	s->health.since = time(NULL);
	log_info("\"store: connected to PostgreSQL\" where=\"%s\" server_version=%d", s->where,
		 PQserverVersion(s->conn));
	*ret = &s->base;
	return 0;
fail:
	pg_close(&s->base);
	return r;
}

const struct store_ops store_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.create_batch = pg_create_batch,
	.get = pg_get,
	.update = pg_update,
	.delete = pg_delete,
	.list = pg_list,
	.integrity_check = pg_integrity_check,
	.watch = pg_watch,
	.unwatch = pg_unwatch,
	.health = pg_health,
};
