/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registration store: durable CRUD for registration entries behind a
 * backend-neutral interface.  store_open() picks the backend from the URL:
 * SQLite (store_sqlite.c), embedded, one file, the default; or PostgreSQL
 * (store_pg.c), one database that a fleet of nodes shares.  A backend is
 * a file that fills a struct store_ops and a row in store.c's table.
 *
 * Contract for every backend:
 * - every call that returns 0 after a write has made it durable (it
 *   survives kill -9 and, for SQLite, power loss);
 * - writes are atomic: a failed call changes nothing;
 * - hostile strings are data, never SQL (bound parameters only);
 * - the store does not validate entries (entry_validate() is the
 *   caller's job) but always refuses a duplicate registration: two
 *   entries with the same spiffe_id, parent_id and selector set (-EEXIST);
 * - a struct store may be used from several threads; calls are serialized.
 *
 * Errors are 0 or -errno: -ENOENT no such entry, -EEXIST duplicate id or
 * registration, -ESTALE revision mismatch (see store_entry_update), -EBUSY
 * the database stayed locked, -ENOSPC, -EROFS, -EUCLEAN corruption,
 * -ENOTCONN the database server cannot be reached (a networked backend; the
 * call may be retried later; a write whose COMMIT was cut off may or may
 * not have happened), -EIO anything else (the backend logs the detail once).
 */
#ifndef ATTESTD_STORE_H
#define ATTESTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "entry.h"

struct store;

/* What store_entry_list() returns; NULL fields do not filter. */
struct store_filter {
	const char *selector; /* entries that have this selector (exact string) */
	const char *spiffe_id; /* entries with this SPIFFE ID */
};

/*
 * Opens (creating if need be) the store at url: "sqlite://" followed by a
 * file path ("sqlite:///var/lib/attestd/store.db"), or a plain path.  A new database file is created mode
 * 0600 (an existing one is tightened to 0600) and migrated to the current
 * schema in one transaction.  "postgresql://" (or "postgres://") is a libpq
 * connection URI; the database must be reachable at open (-ENOTCONN), and
 * is migrated the same way.  -EPROTONOSUPPORT for a scheme with no
 * backend built in, -EINVAL for a malformed URL, -ENOTSUP for a database
 * written by a newer attestd.
 */
int store_open(const char *url, struct store **ret);
void store_close(struct store *s);

/*
 * Stores e as a new entry.  e is normalized in place (entry_normalize());
 * an empty e->id gets a fresh UUID; on success e->revision is 1 and
 * e->created_at is now, unless the caller set it (an import keeps it).
 * -EEXIST if the id or the registration is already stored, -EINVAL if
 * e->id is set but not a canonical UUID.
 */
int store_entry_create(struct store *s, struct entry *e);

/*
 * Stores n entries in one transaction: all of them or none, each as
 * store_entry_create() would.  On failure *ret_failed (if not NULL) is the
 * index of the entry that failed (n if the commit failed), ids filled in
 * here are cleared again and no revision/created_at is changed.  A
 * duplicate inside the batch fails like a duplicate of a stored entry.
 */
int store_entry_create_batch(struct store *s, struct entry *const *v, size_t n,
			     size_t *ret_failed);

/* The entry with id, newly allocated (entry_free() it); -ENOENT. */
int store_entry_get(struct store *s, const char *id, struct entry **ret);

/*
 * Replaces entry id's contents with e's (spiffe_id, parent_id, selectors,
 * TTLs, dns_names, hint, federates_with); id and created_at are kept and
 * the revision goes up by one.  e is normalized, and on success its id,
 * revision and created_at are the stored ones.  If e->revision is not 0
 * it must equal the stored revision, else -ESTALE: a caller that read,
 * edited and writes back loses no concurrent change.  -ENOENT if id is
 * not stored; -EEXIST if the new contents duplicate another entry.
 */
int store_entry_update(struct store *s, const char *id, struct entry *e);

/* -ENOENT if id is not stored. */
int store_entry_delete(struct store *s, const char *id);

/*
 * The entries that pass filter (NULL: all), sorted by spiffe_id then id,
 * as an array for entries_free().  A selector filter is served by an
 * index, so its cost follows the number of entries with that selector.
 */
int store_entry_list(struct store *s, const struct store_filter *filter, struct entry ***ret,
		     size_t *ret_n);

/*
 * Checks the database: for SQLite, PRAGMA integrity_check is "ok", no
 * foreign key violations, and the selector index agrees with the entries.
 * 0, or -EUCLEAN with the first problem in err.
 */
int store_integrity_check(struct store *s, char *err, size_t errlen);

/*
 * Change notification, for a store that other writers share (PostgreSQL):
 * fn runs on a thread of the store's own with the id of an entry that some
 * writer (this process too) created, updated or deleted, or with NULL when
 * anything may have changed: first once the watch is set up (so a caller
 * that loaded the entries before store_watch() misses nothing), again after
 * every reconnect, and for a burst too big to follow entry by entry.  fn
 * returns 0, or -errno to have a resync (a NULL call) repeated later.
 * -EOPNOTSUPP for a store that only this process writes (SQLite: its
 * writes are all seen in-process); -EBUSY if a watch is already set.
 */
typedef int (*store_change_fn)(void *ctx, const char *id);
int store_watch(struct store *s, store_change_fn fn, void *ctx);
/* Ends the watch: no fn runs after this returns.  Never call it from fn. */
void store_unwatch(struct store *s);
/* Whether store_watch() is supported. */
bool store_can_watch(struct store *s);

/* The store's connection to its database, for logs, health checks and metrics. */
struct store_health {
	bool up; /* the last contact with the database succeeded */
	time_t since; /* when up last changed (0: never) */
	uint64_t outages; /* times it went from up to down */
	uint64_t reconnects; /* connections made again after an outage */
	char error[192]; /* the last connection error, "" if none */
};
/* Fills ret; a store without a server (SQLite) is always up.  0 or -errno. */
int store_health(struct store *s, struct store_health *ret);

/* ---- for backends ---- */

struct store_ops {
	const char *name;
	/* url: as given to store_open(); the embedded default also gets plain paths */
	int (*open)(const char *url, struct store **ret);
	void (*close)(struct store *s);
	int (*create_batch)(struct store *s, struct entry *const *v, size_t n, size_t *ret_failed);
	int (*get)(struct store *s, const char *id, struct entry **ret);
	int (*update)(struct store *s, const char *id, struct entry *e);
	int (*delete)(struct store *s, const char *id);
	int (*list)(struct store *s, const struct store_filter *filter, struct entry ***ret,
		    size_t *ret_n);
	int (*integrity_check)(struct store *s, char *err, size_t errlen);
	/* optional: NULL for a store with no other writers and no server */
	int (*watch)(struct store *s, store_change_fn fn, void *ctx);
	void (*unwatch)(struct store *s);
	int (*health)(struct store *s, struct store_health *ret);
};

/* A backend's store struct begins with this. */
struct store {
	const struct store_ops *ops;
};

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_pg_ops;

#endif
