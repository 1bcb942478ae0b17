// SPDX-License-Identifier: Apache-2.0
/*
 * The Docker Engine API client and the metadata cache's Docker side,
 * against a fake engine: a thread serving canned inspect answers on a unix
 * socket, so the real libcurl path (CURLOPT_UNIX_SOCKET_PATH) is tested.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "cgroup.h"
#include "docker.h"
#include "meta_cache.h"
#include "selectors.h"
#include "test.h"

#define ID "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define ID2 "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define IMG "sha256:dcc321a61ce70086f95e985d94e102b76c37622aad362fdbd2665d506871bb5b"

static const char inspect_json[] =
    "{\"Id\":\"" ID "\",\"Image\":\"" IMG "\",\"State\":{\"Pid\":42},"
    "\"Config\":{\"Image\":\"registry.example/web:1.2\","
    "\"Labels\":{\"app\":\"web\",\"tier\":\"front:end\",\"bad\":\"x\\ny\"},"
    "\"Env\":[\"TEAM=blue\",\"SECRET=hunter2\",\"PATH=/bin\",\"TEAMX=no\",\"TEAM\"]}}";

struct engine {
	char dir[64], sock[128];
	int fd;
	pthread_t thread;
	atomic_bool stop;
	atomic_int requests;
};

static void serve_one(struct engine *e, int c)
{
	char req[4096], resp[8192];
	const char *body, *status;
	size_t n = 0;

	while (n < sizeof(req) - 1) {
		ssize_t k = read(c, req + n, sizeof(req) - 1 - n);

		if (k <= 0)
			break;
		n += (size_t)k;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = '\0';
	atomic_fetch_add(&e->requests, 1);
	if (strncmp(req, "GET /containers/" ID "/json ", strlen("GET /containers/" ID "/json ")) ==
	    0) {
		status = "200 OK";
		body = inspect_json;
	} else {
		status = "404 Not Found";
		body = "{\"message\":\"No such container\"}";
	}
	n = (size_t)snprintf(
	    resp, sizeof(resp),
	    "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s",
	    status, strlen(body), body);
	(void)!write(c, resp, n);
}

static void *engine_main(void *arg)
{
	struct engine *e = arg;

	while (!atomic_load(&e->stop)) {
		struct pollfd p = {e->fd, POLLIN, 0};
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		c = accept(e->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(e, c);
		close(c);
	}
	return NULL;
}

static int engine_start(struct engine *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(e, 0, sizeof(*e));
	strcpy(e->dir, "/tmp/attestd-docker-test.XXXXXX");
	if (!mkdtemp(e->dir))
		return -errno;
	snprintf(e->sock, sizeof(e->sock), "%s/docker.sock", e->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->sock);
	e->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (e->fd < 0 || bind(e->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(e->fd, 16) < 0)
		return -errno;
	return -pthread_create(&e->thread, NULL, engine_main, e);
}

static void engine_stop(struct engine *e)
{
	atomic_store(&e->stop, true);
	pthread_join(e->thread, NULL);
	close(e->fd);
	unlink(e->sock);
	rmdir(e->dir);
}

static bool has(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

static bool has_prefix(const struct strv *sv, const char *p)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strncmp(sv->v[i], p, strlen(p)) == 0)
			return true;
	return false;
}

TEST(docker_parse_inspect_selectors)
{
	struct strv allow = {0}, out = {0};
	char err[256];

	ASSERT_OK(strv_push(&allow, "TEAM"));
	ASSERT_OK(docker_parse_inspect(inspect_json, strlen(inspect_json), ID, &allow, &out, err,
				       sizeof(err)));
	for (size_t i = 0; i < out.n; i++)
		test_diag("%s", out.v[i]);
	ASSERT_TRUE(has(&out, "docker:label:app:web"));
	ASSERT_TRUE(has(&out, "docker:label:tier:front:end"));
	ASSERT_TRUE(has(&out, "docker:image_id:" IMG));
	ASSERT_TRUE(has(&out, "docker:image_id:registry.example/web:1.2"));
	ASSERT_TRUE(has(&out, "docker:env:TEAM=blue"));
	/* Only allow-listed keys, exactly: not SECRET, not TEAMX, not a bare "TEAM". */
	ASSERT_FALSE(has_prefix(&out, "docker:env:SECRET"));
	ASSERT_FALSE(has_prefix(&out, "docker:env:TEAMX"));
	ASSERT_FALSE(has_prefix(&out, "docker:env:PATH"));
	/* A label with a newline could never match an entry: left out. */
	ASSERT_FALSE(has_prefix(&out, "docker:label:bad"));
	ASSERT_EQ(out.n, 5);
	strv_free(&out);

	/* No allow-list: no env at all. */
	ASSERT_OK(docker_parse_inspect(inspect_json, strlen(inspect_json), ID, NULL, &out, err,
				       sizeof(err)));
	ASSERT_FALSE(has_prefix(&out, "docker:env:"));
	strv_free(&out);

	/* An answer about another container, or no JSON, is refused. */
	ASSERT_ERR(docker_parse_inspect(inspect_json, strlen(inspect_json), ID2, &allow, &out, err,
					sizeof(err)),
		   -EBADMSG);
	ASSERT_ERR(docker_parse_inspect("<html>", 6, ID, &allow, &out, err, sizeof(err)), -EBADMSG);
	ASSERT_ERR(docker_parse_inspect("[1]", 3, ID, &allow, &out, err, sizeof(err)), -EBADMSG);
	ASSERT_EQ(out.n, 0);
	strv_free(&allow);
}

TEST(docker_inspect_over_unix_socket)
{
	struct engine e;
	struct strv allow = {0}, out = {0};
	char err[256], nosock[160];

	ASSERT_OK(engine_start(&e));
	ASSERT_OK(strv_push(&allow, "TEAM"));
	ASSERT_OK(docker_inspect(e.sock, ID, &allow, &out, err, sizeof(err)));
	ASSERT_TRUE(has(&out, "docker:label:app:web"));
	ASSERT_TRUE(has(&out, "docker:env:TEAM=blue"));
	strv_free(&out);
	ASSERT_ERR(docker_inspect(e.sock, ID2, &allow, &out, err, sizeof(err)), -ENOENT);
	test_diag("404: %s", err);
	ASSERT_EQ(atomic_load(&e.requests), 2);
	snprintf(nosock, sizeof(nosock), "%s/none.sock", e.dir);
	ASSERT_TRUE(docker_inspect(nosock, ID, &allow, &out, err, sizeof(err)) < 0);
	test_diag("no engine: %s", err);
	ASSERT_EQ(out.n, 0);
	strv_free(&allow);
	engine_stop(&e);
}

/* ---- the cache's Docker side ---- */

struct hooks {
	pthread_mutex_t lock;
	int ready_calls;
	bool saw_id;
	bool live_marks; /* mark ID during live() */
	struct cgroup_info ci;
};

static void on_ready(void *ctx, const struct meta_ready *r)
{
	struct hooks *h = ctx;

	pthread_mutex_lock(&h->lock);
	h->ready_calls++;
	h->saw_id |= meta_ready_affects(r, &h->ci);
	pthread_mutex_unlock(&h->lock);
}

static void on_live(void *ctx, struct meta_cache *mc)
{
	struct hooks *h = ctx;
	bool mark;

	pthread_mutex_lock(&h->lock);
	mark = h->live_marks;
	pthread_mutex_unlock(&h->lock);
	if (mark)
		meta_cache_mark(mc, &h->ci);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

TEST(meta_cache_docker_fetch_cache_drop)
{
	struct hooks h = {.lock = PTHREAD_MUTEX_INITIALIZER, .live_marks = true};
	struct meta_cache_opts o = {.docker_env_allow = "TEAM, OTHER", .sweep_ms = 100};
	struct meta_cache_ops ops = {.ctx = &h, .ready = on_ready, .live = on_live};
	struct meta_cache_stats st;
	struct meta_cache *mc;
	struct cgroup_info nested;
	struct strv out = {0};
	struct engine e;
	char err[128];
	bool ready = false;

	ASSERT_OK(engine_start(&e));
	o.docker_socket = e.sock;
	ASSERT_OK(cgroup_parse("/system.slice/docker-" ID ".scope", &h.ci, err, sizeof(err)));
	ASSERT_OK(meta_cache_new(&o, &ops, &mc));

	/* First ask: nothing yet, a fetch queued; the answer comes through ready. */
	ASSERT_OK(meta_cache_selectors(mc, &h.ci, &out));
	ASSERT_EQ(out.n, 0);
	for (int i = 0; i < 200 && !ready; i++) {
		sleep_ms(10);
		pthread_mutex_lock(&h.lock);
		ready = h.saw_id;
		pthread_mutex_unlock(&h.lock);
	}
	ASSERT_TRUE(ready);
	ASSERT_OK(meta_cache_selectors(mc, &h.ci, &out));
	ASSERT_TRUE(has(&out, "docker:label:app:web"));
	ASSERT_TRUE(has(&out, "docker:env:TEAM=blue"));
	strv_free(&out);
	/* Cached: asking again costs no request, across sweeps while it is live. */
	sleep_ms(300);
	ASSERT_OK(meta_cache_selectors(mc, &h.ci, &out));
	ASSERT_TRUE(has(&out, "docker:label:app:web"));
	strv_free(&out);
	meta_cache_stats(mc, &st);
	ASSERT_EQ(st.docker_requests, 1);
	ASSERT_EQ(atomic_load(&e.requests), 1);
	ASSERT_EQ(st.containers, 1);

	/* A nested container is not the host engine's to describe: never asked. */
	ASSERT_OK(cgroup_parse("/docker/" ID2 "/docker/" ID, &nested, err, sizeof(err)));
	ASSERT_OK(meta_cache_selectors(mc, &nested, &out));
	ASSERT_EQ(out.n, 0);

	/* No process left: the next sweep drops it. */
	pthread_mutex_lock(&h.lock);
	h.live_marks = false;
	pthread_mutex_unlock(&h.lock);
	for (int i = 0; i < 100; i++) {
		meta_cache_stats(mc, &st);
		if (!st.containers)
			break;
		sleep_ms(10);
	}
	ASSERT_EQ(st.containers, 0);
	ASSERT_GT(st.dropped, 0);
	ASSERT_EQ(atomic_load(&e.requests), 1);
	meta_cache_free(mc);
	engine_stop(&e);
}

/* An engine that cannot be reached is retried with backoff, not hammered. */
TEST(meta_cache_docker_backoff)
{
	struct hooks h = {.lock = PTHREAD_MUTEX_INITIALIZER, .live_marks = true};
	struct meta_cache_opts o = {.docker_socket = "/nonexistent/attestd-test/docker.sock",
				    .sweep_ms = 5000,
				    .backoff_min_ms = 20,
				    .backoff_max_ms = 200};
	struct meta_cache_ops ops = {.ctx = &h, .ready = on_ready, .live = on_live};
	struct meta_cache_stats st;
	struct meta_cache *mc;
	struct strv out = {0};
	char err[128];

	ASSERT_OK(cgroup_parse("/docker/" ID, &h.ci, err, sizeof(err)));
	ASSERT_OK(meta_cache_new(&o, &ops, &mc));
	ASSERT_OK(meta_cache_selectors(mc, &h.ci, &out));
	sleep_ms(1000);
	meta_cache_stats(mc, &st);
	test_diag("requests in 1 s: %lu", st.docker_requests);
	/* 20, 40, 80, 160, 200, 200, ... ms: about 8 tries in a second, never hundreds. */
	ASSERT_GT(st.docker_requests, 2);
	ASSERT_TRUE(st.docker_requests <= 12);
	ASSERT_EQ(h.ready_calls, 0);
	meta_cache_free(mc);
}

TEST(meta_cache_env_allow_refuses_kv)
{
	struct meta_cache_opts o = {.docker_socket = "/x", .docker_env_allow = "TEAM=blue"};
	struct meta_cache_ops ops = {0};
	struct meta_cache *mc = NULL;

	ASSERT_ERR(meta_cache_new(&o, &ops, &mc), -EINVAL);
}
