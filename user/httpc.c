// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP GET over libcurl.  A handle per request: metadata fetches are rare
 * (a new container, a new pod), so reuse would buy nothing worth its state.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "httpc.h"

struct sink {
	char *buf;
	size_t len, cap, max;
	bool over;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void httpc_init(void)
{
	pthread_once(&once, global_init);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (s->len + len > s->max) {
		s->over = true;
		return 0; /* aborts the transfer */
	}
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		char *b;

		while (cap < s->len + len + 1)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	s->buf[s->len] = '\0';
	return len;
}

int http_get(const struct http_req *req, struct http_resp *ret, char *err, size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct sink s = {.max = req->max_bytes ? req->max_bytes : 16 << 20};
	char *auth = NULL;
	CURLcode cc;
	CURL *c;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	httpc_init();
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "cannot start an HTTP request");
		return -ENOMEM;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->unix_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req->unix_socket);
	if (req->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (req->bearer_token) {
		if (asprintf(&auth, "Authorization: Bearer %s", req->bearer_token) < 0) {
			auth = NULL;
			r = -ENOMEM;
			goto out;
		}
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		/* Over a unix socket, curl's "localhost port 80" would name the wrong place. */
		const char *where = req->unix_socket ? req->unix_socket : req->url;

		if (s.over)
			snprintf(err, errlen, "%s: response larger than %zu bytes", where, s.max);
		else if (req->unix_socket && cc == CURLE_COULDNT_CONNECT)
			snprintf(err, errlen, "%s: cannot connect", where);
		else
			snprintf(err, errlen, "%s: %s", where,
				 ebuf[0] ? ebuf : curl_easy_strerror(cc));
		r = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
		    : cc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
		    : s.over			   ? -EFBIG
		    : (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
		       cc == CURLE_SSL_CONNECT_ERROR)
			? -EPROTO
			: -EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status);
	ret->body = s.buf ? s.buf : strdup("");
	ret->len = s.len;
	s.buf = NULL;
	if (!ret->body)
		r = -ENOMEM;
out:
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	/* curl copied the header: wipe its copy too. */
	for (struct curl_slist *h = hdrs; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(s.buf);
	return r;
}

void http_resp_free(struct http_resp *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
