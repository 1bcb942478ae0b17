// SPDX-License-Identifier: Apache-2.0
/*
 * The metrics and health HTTP server (http_server.h): a poll() loop, a
 * fixed table of connections, each a small state machine
 *
 *   READ   until the head ends (CRLF CRLF), a limit is passed or time is up
 *   WRITE  the whole response, non-blocking
 *   DRAIN  after shutdown(SHUT_WR), read and drop what the client still
 *          sends until it closes (so our close does not reset the
 *          connection under the response), briefly
 *
 * and closed after that.  Nothing is parsed beyond what a GET needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>
#include "cleanup.h"
#include "http_server.h"
#include "log.h"

/* How long a client may keep sending after its answer, and how much. */
#define DRAIN_MS 500
#define DRAIN_MAX 65536

enum conn_state { C_FREE, C_READ, C_WRITE, C_DRAIN };

struct conn {
	enum conn_state state;
	int fd;
	uint64_t deadline; /* ms, CLOCK_MONOTONIC */
	size_t len;	   /* bytes in head */
	char *out;
	size_t out_len, out_off;
	size_t drained;
	char head[HTTP_MAX_HEAD];
};

struct http_server {
	struct http_server_opts opts;
	int lfd, efd;
	int port;
	char addr[80];
	pthread_t thread;
	struct conn *conns;
};

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* ---- addresses ---- */

static int fail(char *err, size_t errlen, int r, const char *fmt, const char *arg)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, arg);
	return r;
}

int http_parse_addr(const char *addr, struct sockaddr_storage *ret, socklen_t *ret_len, char *err,
		    size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char host[256] = "127.0.0.1";
	const char *port, *colon = strrchr(addr, ':');
	char *end;
	long p;
	int r;

	if (!*addr)
		return fail(err, errlen, -EINVAL, "'%s': empty address", addr);
	if (!colon) {
		port = addr; /* PORT alone */
	} else if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (!close || close[1] != ':' || close == addr + 1 ||
		    (size_t)(close - addr - 1) >= sizeof(host))
			return fail(err, errlen, -EINVAL, "'%s': expected [IPv6]:PORT", addr);
		memcpy(host, addr + 1, (size_t)(close - addr - 1));
		host[close - addr - 1] = '\0';
		port = close + 2;
		hints.ai_flags |= AI_NUMERICHOST;
		hints.ai_family = AF_INET6;
	} else {
		if (memchr(addr, ':', (size_t)(colon - addr)))
			return fail(err, errlen, -EINVAL,
				    "'%s': an IPv6 address goes in brackets: [::1]:PORT", addr);
		if ((size_t)(colon - addr) >= sizeof(host))
			return fail(err, errlen, -EINVAL, "'%s': host name too long", addr);
		if (colon != addr) {
			memcpy(host, addr, (size_t)(colon - addr));
			host[colon - addr] = '\0';
		}
		port = colon + 1;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (!*port || *end || errno || p < 0 || p > 65535 || *port < '0' || *port > '9')
		return fail(err, errlen, -EINVAL, "'%s': the port must be a number 0..65535", addr);
	r = getaddrinfo(host, port, &hints, &res);
	if (r || !res) {
		if (err && errlen)
			snprintf(err, errlen, "'%s': cannot resolve %s: %s", addr, host,
				 gai_strerror(r));
		return -EINVAL;
	}
	memcpy(ret, res->ai_addr, res->ai_addrlen);
	*ret_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* ---- responses ---- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* Sets c's output to a whole response (head and body); body is consumed. */
static void respond(struct conn *c, int status, const char *type, char *body, size_t len)
{
	char hdr[512];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "Cache-Control: no-store\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "%s"
		     "Connection: close\r\n\r\n",
		     status, reason_phrase(status), type ? type : "text/plain; charset=utf-8", len,
		     status == 405 ? "Allow: GET\r\n" : "");
	free(c->out);
	c->out = malloc((size_t)n + len);
	c->out_off = 0;
	c->out_len = 0;
	if (c->out) {
		memcpy(c->out, hdr, (size_t)n);
		if (len)
			memcpy(c->out + n, body, len);
		c->out_len = (size_t)n + len;
	}
	free(body);
	c->state = C_WRITE;
}

static void respond_text(struct conn *c, int status, const char *text)
{
	char *body = strdup(text);

	respond(c, status, NULL, body, body ? strlen(body) : 0);
}

/* ---- parsing ---- */

static bool is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", ch);
}

static bool ieq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && !strncasecmp(a, b, alen);
}

static int refuse(const char **why, const char *msg, int status)
{
	*why = msg;
	return status;
}

/*
 * Checks the complete head in c->head[0..len): 0 and the path (query cut
 * off) in target, or an HTTP status and why.
 */
static int parse(struct conn *c, char target[HTTP_MAX_REQUEST_LINE], const char **why)
{
	char *p = c->head, *end = c->head + c->len, *eol, *sp1, *sp2;
	bool http11, host = false;
	size_t tlen;

	if (memchr(c->head, '\0', c->len))
		return refuse(why, "NUL byte in request", 400);
	eol = strstr(p, "\r\n");
	/* method SP target SP version */
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1)
		return refuse(why, "malformed request line", 400);
	for (char *q = p; q < sp1; q++)
		if (!is_tchar(*q))
			return refuse(why, "malformed method", 400);
	for (char *q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return refuse(why, "malformed request target", 400);
	if ((size_t)(eol - sp2 - 1) != 8 || strncmp(sp2 + 1, "HTTP/", 5))
		return refuse(why, "malformed HTTP version", 400);
	if (strncmp(sp2 + 1, "HTTP/1.", 7) || (sp2[8] != '0' && sp2[8] != '1'))
		return refuse(why, "only HTTP/1.0 and HTTP/1.1", 505);
	http11 = sp2[8] == '1';

	/* header fields: name ":" OWS value OWS CRLF, up to the empty line */
	for (p = eol + 2; p < end;) {
		char *colon, *v;
		size_t nlen;

		eol = strstr(p, "\r\n");
		if (!eol)
			return refuse(why, "malformed header", 400);
		if (eol == p)
			break;
		if (*p == ' ' || *p == '\t')
			return refuse(why, "obsolete line folding", 400);
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return refuse(why, "malformed header", 400);
		for (char *q = p; q < colon; q++)
			if (!is_tchar(*q))
				return refuse(why, "malformed header name", 400);
		for (char *q = colon + 1; q < eol; q++)
			if (((unsigned char)*q < ' ' && *q != '\t') || *q == 0x7f)
				return refuse(why, "control byte in header", 400);
		nlen = (size_t)(colon - p);
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		if (ieq(p, nlen, "host"))
			host = true;
		if (ieq(p, nlen, "transfer-encoding"))
			return refuse(why, "no request body is accepted", 400);
		if (ieq(p, nlen, "content-length") &&
		    !(v < eol && *v == '0' && strspn(v + 1, " \t") == (size_t)(eol - v - 1)))
			return refuse(why, "no request body is accepted", 400);
		p = eol + 2;
	}
	if (http11 && !host)
		return refuse(why, "HTTP/1.1 request without Host", 400);
	if (!(sp1 - c->head == 3 && !memcmp(c->head, "GET", 3)))
		return refuse(why, "only GET", 405);
	tlen = (size_t)(sp2 - sp1 - 1);
	if (sp1[1] != '/' || memchr(sp1 + 1, '#', tlen))
		return refuse(why, "the target must be a path", 400);
	memcpy(target, sp1 + 1, tlen);
	target[tlen] = '\0';
	target[strcspn(target, "?")] = '\0';
	return 0;
}

/* The head is complete: answer it. */
static void handle(struct http_server *srv, struct conn *c)
{
	char target[HTTP_MAX_REQUEST_LINE], msg[64];
	const char *why = "";
	int status = parse(c, target, &why);

	if (status) {
		snprintf(msg, sizeof(msg), "%s\n", why);
		respond_text(c, status, msg);
		return;
	}
	for (size_t i = 0; i < srv->opts.nroutes; i++) {
		const struct http_route *rt = &srv->opts.routes[i];
		struct http_response resp = {.status = 500};

		if (strcmp(rt->path, target))
			continue;
		rt->fn(srv->opts.arg, &resp);
		respond(c, resp.status, resp.content_type, resp.body, resp.len);
		return;
	}
	respond_text(c, 404, "not found\n");
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->state = C_FREE;
}

static void conn_read(struct http_server *srv, struct conn *c)
{
	ssize_t n = read(c->fd, c->head + c->len, sizeof(c->head) - 1 - c->len);
	char *eol, *end;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c); /* the client left, or its connection broke */
		return;
	}
	/* Lines end in CRLF: a bare LF is refused at once rather than waited out. */
	for (size_t i = c->len; i < c->len + (size_t)n; i++)
		if (c->head[i] == '\n' && (i == 0 || c->head[i - 1] != '\r')) {
			respond_text(c, 400, "lines must end in CRLF\n");
			return;
		}
	c->len += (size_t)n;
	c->head[c->len] = '\0';
	eol = memmem(c->head, c->len, "\r\n", 2);
	if ((eol && eol - c->head > HTTP_MAX_REQUEST_LINE) ||
	    (!eol && c->len > HTTP_MAX_REQUEST_LINE)) {
		respond_text(c, 414, "request line too long\n");
		return;
	}
	end = memmem(c->head, c->len, "\r\n\r\n", 4);
	if (end) {
		c->len = (size_t)(end - c->head) + 4;
		c->head[c->len] = '\0';
		handle(srv, c);
		return;
	}
	if (c->len >= sizeof(c->head) - 1)
		respond_text(c, 431, "request head too large\n");
}

static void conn_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = C_DRAIN;
	c->drained = 0;
	if (c->deadline > now_ms() + DRAIN_MS)
		c->deadline = now_ms() + DRAIN_MS;
}

static void conn_drain(struct conn *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	c->drained += n > 0 ? (size_t)n : 0;
	if (n <= 0 || c->drained > DRAIN_MAX)
		conn_close(c);
}

/* Takes one connection off the queue; false when there was none. */
static bool accept_one(struct http_server *srv, uint64_t now)
{
	int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c = NULL;

	if (fd < 0)
		return false;
	for (unsigned i = 0; i < srv->opts.max_conns && !c; i++)
		if (srv->conns[i].state == C_FREE)
			c = &srv->conns[i];
	if (!c) {
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
					   "Content-Length: 0\r\nConnection: close\r\n\r\n";

		(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return true;
	}
	c->fd = fd;
	c->len = 0;
	c->state = C_READ;
	c->deadline = now + srv->opts.timeout_ms;
	return true;
}

static void *serve(void *arg)
{
	struct http_server *srv = arg;
	unsigned max = srv->opts.max_conns;
	struct pollfd *pfd = calloc(max + 2, sizeof(*pfd));
	struct conn **map = calloc(max, sizeof(*map));

	if (!pfd || !map) {
		log_error("\"metrics: out of memory; not serving\"");
		free(pfd);
		free(map);
		return NULL;
	}
	for (;;) {
		uint64_t now = now_ms(), next = now + 1000;
		size_t n = 2;
		int r;

		pfd[0] = (struct pollfd){.fd = srv->efd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = srv->lfd, .events = POLLIN};
		for (unsigned i = 0; i < max; i++) {
			struct conn *c = &srv->conns[i];

			if (c->state == C_FREE)
				continue;
			if (now >= c->deadline) {
				if (c->state == C_READ) {
					/* Too slow sending its request: a 408, and a moment to send
					 * it. */
					respond_text(c, 408, "request timeout\n");
					c->deadline = now + DRAIN_MS;
					conn_write(c);
				} else {
					conn_close(c);
				}
				if (c->state == C_FREE)
					continue;
			}
			if (c->deadline < next)
				next = c->deadline;
			pfd[n] = (struct pollfd){.fd = c->fd,
						 .events = c->state == C_WRITE ? POLLOUT : POLLIN};
			map[n - 2] = c;
			n++;
		}
		r = poll(pfd, n, (int)(next > now ? next - now : 0));
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (pfd[0].revents)
			break;
		for (size_t i = 2; i < n; i++) {
			struct conn *c = map[i - 2];

			if (!pfd[i].revents)
				continue;
			if (c->state == C_READ)
				conn_read(srv, c);
			if (c->state == C_WRITE)
				conn_write(c);
			else if (c->state == C_DRAIN &&
				 (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				conn_drain(c);
		}
		if (pfd[1].revents & POLLIN)
			for (int k = 0; k < 16 && accept_one(srv, now_ms()); k++)
				;
	}
	free(pfd);
	free(map);
	return NULL;
}

int http_server_start(const struct http_server_opts *opts, struct http_server **ret, char *err,
		      size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct http_server *srv;
	char host[INET6_ADDRSTRLEN] = "?";
	int one = 1, r;

	r = http_parse_addr(opts->addr, &ss, &sslen, err, errlen);
	if (r < 0)
		return r;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return fail(err, errlen, -ENOMEM, "%s", "out of memory");
	srv->opts = *opts;
	if (!srv->opts.timeout_ms)
		srv->opts.timeout_ms = HTTP_DEFAULT_TIMEOUT_MS;
	if (!srv->opts.max_conns)
		srv->opts.max_conns = HTTP_DEFAULT_MAX_CONNS;
	srv->efd = -1;
	srv->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	srv->conns = calloc(srv->opts.max_conns, sizeof(*srv->conns));
	if (srv->lfd < 0 || !srv->conns) {
		r = srv->lfd < 0 ? -errno : -ENOMEM;
		fail(err, errlen, r, "cannot open a socket for %s", opts->addr);
		goto fail;
	}
	for (unsigned i = 0; i < srv->opts.max_conns; i++)
		srv->conns[i].fd = -1;
	setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->lfd, (struct sockaddr *)&ss, sslen) < 0 || listen(srv->lfd, 64) < 0) {
		r = -errno;
		if (err && errlen)
			snprintf(err, errlen, "cannot listen on %s: %s", opts->addr, strerror(-r));
		goto fail;
	}
	sslen = sizeof(ss);
	getsockname(srv->lfd, (struct sockaddr *)&ss, &sslen);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		srv->port = ntohs(a->sin6_port);
		snprintf(srv->addr, sizeof(srv->addr), "[%s]:%d", host, srv->port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		srv->port = ntohs(a->sin_port);
		snprintf(srv->addr, sizeof(srv->addr), "%s:%d", host, srv->port);
	}
	srv->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->efd < 0) {
		r = -errno;
		fail(err, errlen, r, "%s", "cannot make an eventfd");
		goto fail;
	}
	r = -pthread_create(&srv->thread, NULL, serve, srv);
	if (r) {
		fail(err, errlen, r, "%s", "cannot start the metrics thread");
		goto fail;
	}
	*ret = srv;
	return 0;
fail:
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->efd >= 0)
		close(srv->efd);
	free(srv->conns);
	free(srv);
	return r;
}

void http_server_stop(struct http_server *srv)
{
	uint64_t one = 1;

	if (!srv)
		return;
	(void)!write(srv->efd, &one, sizeof(one));
	pthread_join(srv->thread, NULL);
	for (unsigned i = 0; i < srv->opts.max_conns; i++)
		if (srv->conns[i].state != C_FREE)
			conn_close(&srv->conns[i]);
	close(srv->lfd);
	close(srv->efd);
	free(srv->conns);
	free(srv);
}

int http_server_port(const struct http_server *srv)
{
	return srv->port;
}

const char *http_server_addr(const struct http_server *srv)
{
	return srv->addr;
}
