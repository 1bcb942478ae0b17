/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A private PostgreSQL cluster for tests: initdb into a temporary
 * directory, a postmaster that listens only on a unix socket in that
 * directory, stopped and restarted by its PID.  As root the server runs as
 * the "postgres" user (PostgreSQL refuses to run as root).
 */
#ifndef ATTESTD_TEST_PG_CLUSTER_H
#define ATTESTD_TEST_PG_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

struct pg_cluster {
	char dir[64]; /* the cluster's directory: data/, the socket, logs */
	char bindir[128];
	uid_t uid;
	gid_t gid;
	pid_t pid; /* the postmaster, 0 when stopped */
	int ndb;
};

/*
 * Finds the server binaries and creates the cluster (about a second).
 * -ENOENT with the reason in why when there is no server to test with:
 * the caller skips.
 */
int pg_cluster_init(struct pg_cluster *c, char *why, size_t len);
/* Starts the postmaster and waits until it accepts connections. */
int pg_cluster_start(struct pg_cluster *c);
/* Fast shutdown by PID; waits for it. */
int pg_cluster_stop(struct pg_cluster *c);
/* Stops the server and removes the directory. */
void pg_cluster_destroy(struct pg_cluster *c);
/* A new empty database; its store URL in url. */
int pg_cluster_createdb(struct pg_cluster *c, char *url, size_t len);
/* The store URL of database db. */
void pg_cluster_url(const struct pg_cluster *c, const char *db, char *url, size_t len);
/* Runs sql (no parameters: test fixtures only) as the superuser in the database of url. */
int pg_cluster_sql(const char *url, const char *sql);
/* The first column of the first row of sql, as a number (-1 on error or no row). */
long pg_cluster_sql_long(const char *url, const char *sql);

#endif
