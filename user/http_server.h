/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A deliberately small HTTP/1.1 server for attestd's /metrics, /live and
 * /ready (--metrics-addr): GET only, one request per connection, then
 * Connection: close.  It is strict and bounded, because anything that can
 * reach the port can talk to it:
 *
 *   - the request line is at most HTTP_MAX_REQUEST_LINE bytes (else 414),
 *     the whole head at most HTTP_MAX_HEAD (else 431); CRLF line ends;
 *   - the request must arrive, and the answer leave, within timeout_ms of
 *     the connection's accept (else 408, or just closed);
 *   - at most max_conns connections at once (more: 503 and closed);
 *   - only GET (405 with Allow: GET); HTTP/1.0 or HTTP/1.1 (else 505);
 *     origin-form targets ("/path", a query string is ignored); a request
 *     body, Transfer-Encoding, obs-fold, NUL or control bytes: 400; an
 *     HTTP/1.1 request without Host: 400;
 *   - no keep-alive, no pipelining, no chunked encoding, no TLS.
 *
 * One thread runs a poll() loop over the listening socket and the open
 * connections; handlers run on it, so they must be quick.
 */
#ifndef ATTESTD_HTTP_SERVER_H
#define ATTESTD_HTTP_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

#define HTTP_MAX_REQUEST_LINE 1024
#define HTTP_MAX_HEAD 8192
#define HTTP_DEFAULT_TIMEOUT_MS 5000
#define HTTP_DEFAULT_MAX_CONNS 16

struct http_server;

struct http_response {
	int status;		  /* 200, 503, ... */
	const char *content_type; /* static string; NULL: text/plain; charset=utf-8 */
	char *body;		  /* malloc'd; the server frees it */
	size_t len;
};

/* Runs on the server's thread for a GET of a route's path. */
typedef void (*http_handler_fn)(void *arg, struct http_response *resp);

struct http_route {
	const char *path; /* exact, e.g. "/metrics" */
	http_handler_fn fn;
};

struct http_server_opts {
	const char *addr; /* HOST:PORT, [IPv6]:PORT, :PORT or PORT; no host: 127.0.0.1 */
	const struct http_route *routes; /* must outlive the server */
	size_t nroutes;
	void *arg;	     /* passed to every handler */
	unsigned timeout_ms; /* 0: HTTP_DEFAULT_TIMEOUT_MS */
	unsigned max_conns;  /* 0: HTTP_DEFAULT_MAX_CONNS */
};

/*
 * Parses addr as above into a socket address (a host name is resolved
 * once, here).  0, or -EINVAL with the reason in err.
 */
int http_parse_addr(const char *addr, struct sockaddr_storage *ret, socklen_t *ret_len, char *err,
		    size_t errlen);
/*
 * Binds, listens and starts the thread.  -EINVAL (bad address, reason in
 * err), -EADDRINUSE, or another -errno with err saying what failed.
 */
int http_server_start(const struct http_server_opts *opts, struct http_server **ret, char *err,
		      size_t errlen);
/* Stops the thread and closes every connection; NULL is a no-op. */
void http_server_stop(struct http_server *srv);
/* The port bound (useful after PORT 0), and the address as HOST:PORT for logs. */
int http_server_port(const struct http_server *srv);
const char *http_server_addr(const struct http_server *srv);

#endif
