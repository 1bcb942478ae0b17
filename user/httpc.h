/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTP GET with libcurl, for the Docker Engine API (over its unix
 * socket) and the kubelet (HTTPS, verified against a CA file, bearer
 * token).  The body is capped; no header or token ever reaches a log.
 */
#ifndef ATTESTD_HTTPC_H
#define ATTESTD_HTTPC_H

#include <stddef.h>

struct http_req {
	const char *url;
	const char *unix_socket;  /* connect here instead of the URL's host; NULL: TCP */
	const char *ca_file;	  /* TLS trust anchors; NULL: the system's */
	const char *bearer_token; /* sent as "Authorization: Bearer ..."; NULL: none */
	long timeout_ms;
	size_t max_bytes;
};

struct http_resp {
	long status;
	char *body; /* NUL-terminated, malloc'd */
	size_t len;
};

/* libcurl's global setup, once; safe from any thread. */
void httpc_init(void);
/* 0 and the response (any status), or -errno with a one-line reason in err. */
int http_get(const struct http_req *req, struct http_resp *ret, char *err, size_t errlen);
void http_resp_free(struct http_resp *resp);

#endif
