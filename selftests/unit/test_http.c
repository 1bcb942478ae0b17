// SPDX-License-Identifier: Apache-2.0
/*
 * The metrics HTTP server: GET of the routes, and everything else refused
 * the way http_server.h says: garbage, non-GET, oversized request lines and
 * heads, slow senders, bodies, bare LF, HTTP/2, too many connections; the
 * address forms of --metrics-addr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "http_server.h"
#include "test.h"

static void h_hello(void *arg, struct http_response *r)
{
	r->status = 200;
	r->body = strdup("hello\n");
	r->len = 6;
}

static void h_down(void *arg, struct http_response *r)
{
	r->status = 503;
	r->body = strdup("down\n");
	r->len = 5;
}

static const struct http_route routes[] = {
    {"/metrics", h_hello},
    {"/ready", h_down},
};

static struct http_server *start(unsigned timeout_ms, unsigned max_conns)
{
	struct http_server_opts o = {.addr = "127.0.0.1:0",
				     .routes = routes,
				     .nroutes = 2,
				     .timeout_ms = timeout_ms,
				     .max_conns = max_conns};
	struct http_server *srv = NULL;
	char err[128];

	if (http_server_start(&o, &srv, err, sizeof(err))) {
		test_diag("start: %s", err);
		return NULL;
	}
	return srv;
}

static int dial(struct http_server *srv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(http_server_port(srv))};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Everything the server sends until it closes, or until wait_ms passes. */
static size_t read_all(int fd, char *buf, size_t len, int wait_ms, bool *closed)
{
	size_t n = 0;

	*closed = false;
	while (n < len - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, wait_ms) <= 0)
			break;
		r = read(fd, buf + n, len - 1 - n);
		if (r <= 0) {
			*closed = true;
			break;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

/* Sends req, returns the status code of the answer (0: none) and the whole answer in out. */
static int exchange(struct http_server *srv, const void *req, size_t len, char *out, size_t outlen)
{
	int fd = dial(srv), status = 0;
	bool closed;

	if (fd < 0)
		return -1;
	if (len && write(fd, req, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	read_all(fd, out, outlen, 3000, &closed);
	close(fd);
	if (!closed)
		return -2; /* the server must close after one answer */
	if (sscanf(out, "HTTP/1.1 %d ", &status) != 1)
		return 0;
	return status;
}

static int status_of(struct http_server *srv, const char *req)
{
	static char out[65536];

	return exchange(srv, req, strlen(req), out, sizeof(out));
}

TEST(http_get_routes)
{
	struct http_server *srv = start(0, 0);
	char out[4096];

	ASSERT_NOT_NULL(srv);
	ASSERT_EQ(exchange(srv, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 34, out, sizeof(out)),
		  200);
	if (!strstr(out, "\r\nContent-Length: 6\r\n") ||
	    !strstr(out, "\r\nConnection: close\r\n") || !strstr(out, "\r\n\r\nhello\n")) {
		http_server_stop(srv);
		FAIL("answer: %s", out);
	}
	ASSERT_EQ(status_of(srv, "GET /ready HTTP/1.0\r\n\r\n"), 503);
	ASSERT_EQ(status_of(srv, "GET /metrics?x=1 HTTP/1.0\r\n\r\n"), 200);
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
		  200);
	ASSERT_EQ(status_of(srv, "GET /nothing HTTP/1.0\r\n\r\n"), 404);
	ASSERT_EQ(status_of(srv, "GET /metrics/ HTTP/1.0\r\n\r\n"), 404);
	http_server_stop(srv);
}

TEST(http_refuses_what_is_not_a_plain_get)
{
	struct http_server *srv = start(0, 0);
	static char out[4096];

	ASSERT_NOT_NULL(srv);
	ASSERT_EQ(status_of(srv, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 405);
	ASSERT_EQ(exchange(srv, "HEAD /metrics HTTP/1.0\r\n\r\n", 26, out, sizeof(out)), 405);
	ASSERT_TRUE(strstr(out, "\r\nAllow: GET\r\n") != NULL);
	ASSERT_EQ(status_of(srv, "DELETE /ready HTTP/1.0\r\n\r\n"), 405);
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.1\r\n\r\n"), 400); /* no Host */
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/2.0\r\n\r\n"), 505);
	ASSERT_EQ(status_of(srv, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
	ASSERT_EQ(
	    status_of(srv, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"),
	    400);
	ASSERT_EQ(
	    status_of(srv,
		      "GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    400);
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400);
	ASSERT_EQ(status_of(srv, "GET http://x/metrics HTTP/1.0\r\n\r\n"), 400);
	ASSERT_EQ(status_of(srv, "GET /metrics#f HTTP/1.0\r\n\r\n"), 400);
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.0\n\n"), 400); /* bare LF: at once */
	ASSERT_EQ(status_of(srv, "GET  /metrics HTTP/1.0\r\n\r\n"), 400);
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.0\r\nBad Header: x\r\n\r\n"), 400);
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.0\r\nX: a\x01z\r\n\r\n"), 400);
	ASSERT_EQ(exchange(srv, "GET /me\0trics HTTP/1.0\r\n\r\n", 26, out, sizeof(out)), 400);
	/* Still serving after all that. */
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.0\r\n\r\n"), 200);
	http_server_stop(srv);
}

TEST(http_refuses_garbage)
{
	static const unsigned char tls_hello[] = {0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00,
						  0xa1, 0x03, 0x03, '\r', '\n', '\r', '\n'};
	struct http_server *srv = start(0, 0);
	static char out[4096], junk[512];

	ASSERT_NOT_NULL(srv);
	ASSERT_EQ(exchange(srv, tls_hello, sizeof(tls_hello), out, sizeof(out)), 400);
	srand(42);
	for (int round = 0; round < 50; round++) {
		size_t n = (size_t)(rand() % (int)(sizeof(junk) - 4));
		int st;

		for (size_t i = 0; i < n; i++)
			junk[i] = (char)(rand() % 256);
		memcpy(junk + n, "\r\n\r\n", 4);
		st = exchange(srv, junk, n + 4, out, sizeof(out));
		if (st != 400 && st != 405 && st != 414 && st != 505)
			FAIL("round %d: garbage got status %d", round, st);
	}
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.0\r\n\r\n"), 200);
	http_server_stop(srv);
}

TEST(http_refuses_oversized_requests)
{
	struct http_server *srv = start(0, 0);
	char *req = malloc(HTTP_MAX_HEAD * 2);
	size_t n;

	ASSERT_NOT_NULL(srv);
	ASSERT_NOT_NULL(req);
	/* A request line longer than the limit: 414 without waiting for the rest. */
	n = (size_t)snprintf(req, HTTP_MAX_HEAD * 2, "GET /");
	memset(req + n, 'a', HTTP_MAX_REQUEST_LINE + 10);
	req[n + HTTP_MAX_REQUEST_LINE + 10] = '\0';
	ASSERT_EQ(status_of(srv, req), 414);
	/* A head longer than the limit, in headers of a sane size: 431. */
	n = (size_t)snprintf(req, HTTP_MAX_HEAD * 2, "GET /metrics HTTP/1.0\r\n");
	while (n < HTTP_MAX_HEAD + 100)
		n += (size_t)snprintf(req + n, HTTP_MAX_HEAD * 2 - n, "X-Pad: %064d\r\n", 0);
	ASSERT_EQ(status_of(srv, req), 431);
	/* Just under the line limit is fine. */
	n = (size_t)snprintf(req, HTTP_MAX_HEAD * 2, "GET /metrics?");
	memset(req + n, 'q', HTTP_MAX_REQUEST_LINE - n - 20);
	strcpy(req + HTTP_MAX_REQUEST_LINE - 20, " HTTP/1.0\r\n\r\n");
	ASSERT_EQ(status_of(srv, req), 200);
	free(req);
	http_server_stop(srv);
}

TEST(http_times_out_slow_requests)
{
	struct http_server *srv = start(300, 0);
	struct timespec t0, t1;
	char out[1024];
	bool closed;
	long ms;
	int fd;

	ASSERT_NOT_NULL(srv);
	fd = dial(srv);
	ASSERT_TRUE(fd >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Slowloris: a request line that never ends. */
	ASSERT_EQ(write(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 32), 32);
	read_all(fd, out, sizeof(out), 3000, &closed);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(fd);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ASSERT_TRUE(closed);
	ASSERT_TRUE(strncmp(out, "HTTP/1.1 408 ", 13) == 0);
	ASSERT_TRUE(ms >= 250 && ms < 2000);
	/* An idle connection that sends nothing is closed too. */
	fd = dial(srv);
	ASSERT_TRUE(fd >= 0);
	read_all(fd, out, sizeof(out), 3000, &closed);
	close(fd);
	ASSERT_TRUE(closed);
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.0\r\n\r\n"), 200);
	http_server_stop(srv);
}

TEST(http_limits_connections)
{
	struct http_server *srv = start(2000, 2);
	char out[1024];
	bool closed;
	int a, b, c;

	ASSERT_NOT_NULL(srv);
	a = dial(srv);
	b = dial(srv);
	usleep(100000); /* both accepted and held */
	c = dial(srv);
	ASSERT_TRUE(a >= 0 && b >= 0 && c >= 0);
	read_all(c, out, sizeof(out), 2000, &closed);
	close(c);
	ASSERT_TRUE(closed);
	ASSERT_TRUE(strncmp(out, "HTTP/1.1 503 ", 13) == 0);
	close(a);
	close(b);
	usleep(100000); /* the server notices they are gone */
	ASSERT_EQ(status_of(srv, "GET /metrics HTTP/1.0\r\n\r\n"), 200);
	http_server_stop(srv);
}

TEST(http_parse_addr_forms)
{
	static const struct {
		const char *addr;
		int family;
		const char *host;
		int port;
	} ok[] = {
	    {"9090", AF_INET, "127.0.0.1", 9090},  {":9090", AF_INET, "127.0.0.1", 9090},
	    {"0.0.0.0:1", AF_INET, "0.0.0.0", 1},  {"127.0.0.1:0", AF_INET, "127.0.0.1", 0},
	    {"[::1]:9090", AF_INET6, "::1", 9090},
	};
	static const char *const bad[] = {"",	  "abc",      "::1:9090",   "[::1]9090",
					  "[]:1", "1.2.3.4:", "1.2.3.4:x",  "65536",
					  "-1",	  ":+80",     "[::1]:99999"};
	struct sockaddr_storage ss;
	socklen_t len;
	char err[160], host[64];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int port;

		if (http_parse_addr(ok[i].addr, &ss, &len, err, sizeof(err)))
			FAIL("'%s': %s", ok[i].addr, err);
		ASSERT_EQ(ss.ss_family, ok[i].family);
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (void *)&ss;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
		} else {
			struct sockaddr_in6 *a = (void *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
		}
		ASSERT_STREQ(host, ok[i].host);
		ASSERT_EQ(port, ok[i].port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_parse_addr(bad[i], &ss, &len, err, sizeof(err)) != -EINVAL)
			FAIL("'%s' was accepted", bad[i]);
}

TEST(http_address_in_use)
{
	struct http_server *a = start(0, 0), *b = NULL;
	struct http_server_opts o = {.routes = routes, .nroutes = 2};
	char addr[32], err[160];

	ASSERT_NOT_NULL(a);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", http_server_port(a));
	o.addr = addr;
	ASSERT_ERR(http_server_start(&o, &b, err, sizeof(err)), -EADDRINUSE);
	ASSERT_TRUE(strstr(err, "cannot listen on") != NULL);
	http_server_stop(a);
}
