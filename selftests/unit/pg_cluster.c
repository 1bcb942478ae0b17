// SPDX-License-Identifier: Apache-2.0
/*
 * The test PostgreSQL cluster (pg_cluster.h).  Speed over durability:
 * fsync is off, the server listens on no TCP port, authentication is
 * "trust" on its private socket directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "pg_cluster.h"

static int find_bindir(char *out, size_t len)
{
	glob_t g;
	int r = -ENOENT;

	/* Debian: /usr/lib/postgresql/<major>/bin; the newest sorts last. */
	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0 && g.gl_pathc) {
		snprintf(out, len, "%s", g.gl_pathv[g.gl_pathc - 1]);
		*strrchr(out, '/') = '\0';
		r = 0;
	}
	globfree(&g);
	return r;
}

/* Runs argv as the cluster's user with output to log; waits unless ret_pid. */
static int spawn(struct pg_cluster *c, char *const argv[], const char *log, pid_t *ret_pid)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (getuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(c->gid) < 0 || setuid(c->uid) < 0))
			_exit(126);
		/* After the uid change, which would clear it: the server dies with its test. */
		if (ret_pid)
			prctl(PR_SET_PDEATHSIG, SIGQUIT);
		execv(argv[0], argv);
		_exit(127);
	}
	if (ret_pid) {
		*ret_pid = pid;
		return 0;
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static void dump_log(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("# pg: %s", line);
	fclose(f);
}

int pg_cluster_init(struct pg_cluster *c, char *why, size_t len)
{
	char data[128], log[128], bin[192];
	struct passwd *pw;
	int r;

	memset(c, 0, sizeof(*c));
	if (find_bindir(c->bindir, sizeof(c->bindir)) < 0) {
		snprintf(why, len, "no PostgreSQL server (apt-get install postgresql)");
		return -ENOENT;
	}
	c->uid = getuid();
	c->gid = getgid();
	if (c->uid == 0) {
		pw = getpwnam("postgres");
		if (!pw) {
			snprintf(why, len, "running as root and there is no postgres user");
			return -ENOENT;
		}
		c->uid = pw->pw_uid;
		c->gid = pw->pw_gid;
	}
	snprintf(c->dir, sizeof(c->dir), "/tmp/attestd-pg-XXXXXX");
	if (!mkdtemp(c->dir)) {
		c->dir[0] = '\0';
		return -errno;
	}
	if (chown(c->dir, c->uid, c->gid) < 0)
		return -errno;
	snprintf(data, sizeof(data), "%s/data", c->dir);
	snprintf(log, sizeof(log), "%s/initdb.log", c->dir);
	snprintf(bin, sizeof(bin), "%s/initdb", c->bindir);
	{
		char *const argv[] = { bin, "-D", data, "-A", "trust", "-U", "postgres",
				       "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
				       NULL };

		r = spawn(c, argv, log, NULL);
	}
	if (r < 0) {
		dump_log(log);
		snprintf(why, len, "initdb failed (see its log above)");
	}
	return r;
}

void pg_cluster_url(const struct pg_cluster *c, const char *db, char *url, size_t len)
{
	snprintf(url, len, "postgresql:///%s?host=%s&user=postgres", db, c->dir);
}

int pg_cluster_start(struct pg_cluster *c)
{
	char data[128], log[128], bin[192], conninfo[192];
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int r, status;

	if (c->pid)
		return 0;
	snprintf(data, sizeof(data), "%s/data", c->dir);
	snprintf(log, sizeof(log), "%s/server.log", c->dir);
	snprintf(bin, sizeof(bin), "%s/postgres", c->bindir);
	{
		char *const argv[] = { bin, "-D", data, "-k", c->dir, "-c", "listen_addresses=",
				       "-c", "fsync=off", "-c", "full_page_writes=off",
				       "-c", "shared_buffers=16MB", "-c", "max_connections=60", NULL };

		r = spawn(c, argv, log, &c->pid);
	}
	if (r < 0)
		return r;
	snprintf(conninfo, sizeof(conninfo), "host=%s dbname=postgres user=postgres", c->dir);
	for (int i = 0; i < 500; i++) {
		if (PQping(conninfo) == PQPING_OK)
			return 0;
		if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
			c->pid = 0;
			dump_log(log);
			return -EIO;
		}
		nanosleep(&ts, NULL);
	}
	dump_log(log);
	(void)pg_cluster_stop(c);
	return -ETIMEDOUT;
}

int pg_cluster_stop(struct pg_cluster *c)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int status;

	if (!c->pid)
		return 0;
	/* SIGINT: fast shutdown (clients are disconnected), then SIGQUIT, then SIGKILL. */
	kill(c->pid, SIGINT);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
			c->pid = 0;
			return 0;
		}
		if (i == 500)
			kill(c->pid, SIGQUIT);
		nanosleep(&ts, NULL);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &status, 0);
	c->pid = 0;
	return -ETIMEDOUT;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void pg_cluster_destroy(struct pg_cluster *c)
{
	(void)pg_cluster_stop(c);
	if (c->dir[0] && !strstr(c->dir, "XXXXXX"))
		nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	c->dir[0] = '\0';
}

static void quiet(void *arg, const char *message)
{
}

int pg_cluster_sql(const char *url, const char *sql)
{
	PGconn *conn = PQconnectdb(url);
	PGresult *res;
	int r = -EIO;

	if (PQstatus(conn) != CONNECTION_OK) {
		printf("# pg_cluster_sql: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return -ENOTCONN;
	}
	PQsetNoticeProcessor(conn, quiet, NULL);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
		r = 0;
	else
		printf("# pg_cluster_sql: %s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(conn);
	return r;
}

long pg_cluster_sql_long(const char *url, const char *sql)
{
	PGconn *conn = PQconnectdb(url);
	PGresult *res;
	long v = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return -1;
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 &&
	    !PQgetisnull(res, 0, 0))
		v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(conn);
	return v;
}

int pg_cluster_createdb(struct pg_cluster *c, char *url, size_t len)
{
	char admin[256], sql[64], name[32];
	int r;

	snprintf(name, sizeof(name), "t%d", ++c->ndb);
	pg_cluster_url(c, "postgres", admin, sizeof(admin));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	r = pg_cluster_sql(admin, sql);
	if (r == 0)
		pg_cluster_url(c, name, url, len);
	return r;
}
