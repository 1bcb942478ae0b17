// SPDX-License-Identifier: Apache-2.0
/*
 * Liveness and readiness: how probe verdicts, a stalled main loop and
 * probes that stopped running become live/ready and the one-line reason;
 * attestd's store probe against real SQLite faults (the database file
 * removed, replaced), the socket probe, the CA probe with a working and an
 * expired CA.  The BPF and events probes need the kernel:
 * selftests/kernel/test_health_bpf.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "ca.h"
#include "health.h"
#include "log.h"
#include "store.h"
#include "test.h"

static int verdict_a, verdict_b;

/* The probes' verdict changes are logged: not wanted in the TAP stream. */
#define QUIET() log_setup(LOG_LVL_ERROR, false)

static int probe_a(void *arg, char *detail, size_t len)
{
	snprintf(detail, len, "fine");
	return verdict_a;
}

static int probe_b(void *arg, char *detail, size_t len)
{
	if (verdict_b)
		snprintf(detail, len, "broken thing");
	return verdict_b;
}

static const struct health_check *check(const struct health_report *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->checks[i].name, name))
			return &r->checks[i];
	return NULL;
}

TEST(health_probes_make_readiness)
{
	struct health_opts o = {.manual = true};
	struct health_report r;
	struct health *h = NULL;

	QUIET();

	ASSERT_OK(health_new(&o, &h));
	ASSERT_OK(health_add(h, "a", probe_a, NULL));
	ASSERT_OK(health_add(h, "b", probe_b, NULL));
	health_get(h, &r);
	ASSERT_TRUE(r.live);
	ASSERT_FALSE(r.ready); /* nothing has run yet */
	ASSERT_TRUE(strncmp(r.reason, "starting", 8) == 0);
	ASSERT_EQ(r.age_ms, -1);

	verdict_b = -EIO;
	ASSERT_OK(health_start(h));
	health_get(h, &r);
	ASSERT_TRUE(r.live);
	ASSERT_FALSE(r.ready);
	ASSERT_STREQ(r.reason, "b: broken thing");
	ASSERT_EQ(r.n, 3);
	ASSERT_STREQ(r.checks[0].name, "loop");
	ASSERT_TRUE(check(&r, "a")->ok);
	ASSERT_FALSE(check(&r, "b")->ok);
	ASSERT_TRUE(r.age_ms >= 0 && r.age_ms < 1000);

	verdict_b = 0;
	health_run(h);
	health_get(h, &r);
	ASSERT_TRUE(r.live && r.ready);
	ASSERT_STREQ(r.reason, "");
	/* The first failure is the reason, in the order the probes were added. */
	verdict_a = verdict_b = -EIO;
	health_run(h);
	health_get(h, &r);
	ASSERT_STREQ(r.reason, "a: fine");
	verdict_a = verdict_b = 0;
	health_free(h);
}

TEST(health_loop_stall_is_not_live)
{
	struct health_opts o = {.manual = true, .loop_stall_ms = 100};
	struct health_report r;
	struct health *h = NULL;

	QUIET();

	ASSERT_OK(health_new(&o, &h));
	ASSERT_OK(health_start(h));
	health_loop_tick(h);
	health_get(h, &r);
	ASSERT_TRUE(r.live && r.ready);
	usleep(200000);
	health_run(h); /* the probes still run: only the loop is stuck */
	health_get(h, &r);
	ASSERT_FALSE(r.live);
	ASSERT_FALSE(r.ready);
	ASSERT_TRUE(strncmp(r.reason, "loop: the main loop has not run", 31) == 0);
	health_loop_tick(h);
	health_get(h, &r);
	ASSERT_TRUE(r.live && r.ready);
	health_free(h);
}

TEST(health_probes_that_stop_running_are_not_ready)
{
	struct health_opts o = {.manual = true, .stale_ms = 100};
	struct health_report r;
	struct health *h = NULL;

	QUIET();

	ASSERT_OK(health_new(&o, &h));
	ASSERT_OK(health_add(h, "a", probe_a, NULL));
	ASSERT_OK(health_start(h));
	usleep(200000);
	health_loop_tick(h);
	health_get(h, &r);
	ASSERT_TRUE(r.live);
	ASSERT_FALSE(r.ready);
	ASSERT_TRUE(strstr(r.reason, "health checks have not run for") != NULL);
	health_free(h);
}

TEST(health_thread_runs_the_probes)
{
	struct health_opts o = {.interval_ms = 20};
	struct health_report r;
	struct health *h = NULL;

	QUIET();

	verdict_b = -EIO;
	ASSERT_OK(health_new(&o, &h));
	ASSERT_OK(health_add(h, "b", probe_b, NULL));
	ASSERT_OK(health_start(h));
	health_get(h, &r);
	ASSERT_FALSE(r.ready);
	verdict_b = 0;
	for (int i = 0; i < 100 && !r.ready; i++) {
		usleep(10000);
		health_get(h, &r);
	}
	ASSERT_TRUE(r.ready);
	health_free(h);
}

struct tmpdir {
	char path[64];
};

static int tmpdir_make(struct tmpdir *t)
{
	snprintf(t->path, sizeof(t->path), "/tmp/attestd-health.XXXXXX");
	return mkdtemp(t->path) ? 0 : -errno;
}

static void tmpdir_remove(struct tmpdir *t)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path);
	(void)!system(cmd);
}

TEST(health_store_probe_sees_the_file_removed_and_replaced)
{
	struct health_opts o = {.manual = true};
	struct health_report r;
	struct health *h = NULL;
	struct store *s = NULL;
	struct tmpdir t;
	char url[128], db[128], moved[128], cmd[512];
	const struct health_check *c;

	QUIET();

	ASSERT_OK(tmpdir_make(&t));
	snprintf(db, sizeof(db), "%s/store.db", t.path);
	snprintf(moved, sizeof(moved), "%s/moved.db", t.path);
	snprintf(url, sizeof(url), "sqlite://%s", db);
	ASSERT_OK(store_open(url, &s));
	ASSERT_OK(health_new(&o, &h));
	ASSERT_OK(health_add_attestd(h, &(struct health_deps){.store = s, .store_url = url}));
	ASSERT_OK(health_start(h));
	health_get(h, &r);
	c = check(&r, "store");
	ASSERT_NOT_NULL(c);
	ASSERT_TRUE(c->ok && r.ready);

	/* Removed under a running attestd (rm -rf of the data dir, a cleanup job). */
	ASSERT_OK(rename(db, moved) ? -errno : 0);
	health_run(h);
	health_get(h, &r);
	ASSERT_FALSE(r.ready);
	ASSERT_TRUE(strncmp(r.reason, "store: database file ", 21) == 0);
	ASSERT_TRUE(strstr(r.reason, "is gone") != NULL);
	ASSERT_OK(rename(moved, db) ? -errno : 0);
	health_run(h);
	health_get(h, &r);
	ASSERT_TRUE(r.ready);

	/* Replaced: a restore copied over it. */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && mv '%s' '%s'", db, moved, moved, db);
	ASSERT_OK(system(cmd));
	health_run(h);
	health_get(h, &r);
	ASSERT_FALSE(r.ready);
	ASSERT_TRUE(strstr(r.reason, "was replaced") != NULL);

	health_free(h);
	store_close(s);
	tmpdir_remove(&t);
}

static int bind_socket(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

TEST(health_socket_probe_sees_the_socket_go)
{
	struct health_opts o = {.manual = true};
	struct health_report r;
	struct health *h = NULL;
	struct tmpdir t;
	char path[128];
	int fd, fd2;

	QUIET();

	ASSERT_OK(tmpdir_make(&t));
	snprintf(path, sizeof(path), "%s/api.sock", t.path);
	fd = bind_socket(path);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(health_new(&o, &h));
	ASSERT_OK(health_add_attestd(h, &(struct health_deps){.socket_path = path}));
	ASSERT_OK(health_start(h));
	health_get(h, &r);
	ASSERT_TRUE(r.ready);
	unlink(path);
	health_run(h);
	health_get(h, &r);
	ASSERT_FALSE(r.ready);
	ASSERT_TRUE(strncmp(r.reason, "socket: Workload API socket ", 28) == 0);
	ASSERT_TRUE(strstr(r.reason, "is gone") != NULL);
	fd2 = bind_socket(path); /* someone else's, at the same path */
	ASSERT_TRUE(fd2 >= 0);
	health_run(h);
	health_get(h, &r);
	ASSERT_FALSE(r.ready);
	ASSERT_TRUE(strstr(r.reason, "was replaced") != NULL);
	close(fd);
	close(fd2);
	health_free(h);
	tmpdir_remove(&t);
}

TEST(health_ca_probe)
{
	struct health_opts o = {.manual = true};
	struct ca_opts co = {.trust_domain = "example.org"};
	struct health_report r;
	struct health *h = NULL;
	struct ca *ca = NULL, *old = NULL;
	struct tmpdir t, t2;

	QUIET();

	ASSERT_OK(tmpdir_make(&t));
	ASSERT_OK(tmpdir_make(&t2));
	co.data_dir = t.path;
	ASSERT_OK(ca_open(&co, &ca));
	ASSERT_OK(health_new(&o, &h));
	ASSERT_OK(health_add_attestd(h, &(struct health_deps){.ca = ca}));
	ASSERT_OK(health_start(h));
	health_get(h, &r);
	ASSERT_TRUE(r.ready);
	ASSERT_STREQ(check(&r, "ca")->detail, "X.509 CA and JWT key sign");
	health_free(h);

	/* A CA made two hours ago with a one-hour life, never rotated since. */
	co.data_dir = t2.path;
	co.ca_ttl = 3600;
	co.now = time(NULL) - 7200;
	if (ca_open(&co, &old) == 0) {
		ASSERT_OK(health_new(&o, &h));
		ASSERT_OK(health_add_attestd(h, &(struct health_deps){.ca = old}));
		ASSERT_OK(health_start(h));
		health_get(h, &r);
		ASSERT_FALSE(r.ready);
		ASSERT_TRUE(strstr(r.reason, "ca: the X.509 CA expired") != NULL);
		health_free(h);
		ca_free(old);
	} else {
		test_diag("cannot make a CA in the past; expiry not checked");
	}
	ca_free(ca);
	tmpdir_remove(&t);
	tmpdir_remove(&t2);
}

TEST(health_canary_is_reaped)
{
	int pid = health_canary();
	char path[64];

	QUIET();

	ASSERT_TRUE(pid > 0);
	snprintf(path, sizeof(path), "/proc/%d", pid);
	/* Reaped at once: no zombie left behind (unless the pid was reused meanwhile). */
	if (access(path, F_OK) == 0) {
		char stat[64] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "r");
		if (f) {
			(void)!fgets(stat, sizeof(stat), f);
			fclose(f);
		}
		ASSERT_TRUE(strstr(stat, ") Z ") == NULL);
	}
}
