// SPDX-License-Identifier: Apache-2.0
/*
 * attestctl fetch x509|jwt, validate jwt, bundle show: Workload API calls
 * as the calling process, with their answers printed, as JSON or written
 * to files.  The wire carries DER; PEM is made here, for files and people.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "cleanup.h"
#include "ctl.h"
#include "rpc_client.h"
#include "workload.pb-c.h"
#include "workload_api.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

#define MAX_AUDIENCES 64

struct wctx {
	const char *cmd, *sub;
	const char *socket;
	bool json;
	/* options */
	const char *write_dir;
	const char *audiences[MAX_AUDIENCES];
	size_t naud;
	const char *spiffe_id;
	const char *token;
	const char *format;
	const char *trust_domain;
};

static int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "attestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_ERR;
}

struct wcmd {
	const char *cmd, *sub;
	int (*fn)(struct wctx *w);
	const char *args;
	const char *help;
	const char *options;
};

static int do_fetch_x509(struct wctx *w);
static int do_fetch_jwt(struct wctx *w);
static int do_validate_jwt(struct wctx *w);
static int do_bundle_show(struct wctx *w);

static const struct wcmd wcmds[] = {
    {"fetch", "x509", do_fetch_x509, "[--write DIR]",
     "Fetches this process's X.509-SVIDs over the Workload API and prints their SPIFFE IDs.\n"
     "With --write, writes DIR/svid.N.pem (certificate chain), DIR/svid.N.key (PKCS#8 key,\n"
     "mode 0600) and DIR/bundle.N.pem (the trust domain's CA certificates) for each SVID N.",
     "  --write DIR           write the SVIDs, keys and bundles to DIR\n"},
    {"fetch", "jwt", do_fetch_jwt, "--audience AUD [--audience AUD ...] [--spiffe-id ID]",
     "Fetches JWT-SVIDs for the audience(s): one per identity, or only --spiffe-id's.\n"
     "Prints SPIFFE ID and token, one SVID per line.",
     "  --audience AUD        the token's audience (repeat for more)\n"
     "  --spiffe-id ID        only this identity\n"},
    {"validate", "jwt", do_validate_jwt, "--audience AUD --svid TOKEN",
     "Asks the Workload API to validate a JWT-SVID for an audience; prints its SPIFFE ID and\n"
     "claims.  Exit 1 if it is not valid, with the reason.",
     "  --audience AUD        the audience the token must carry\n"
     "  --svid TOKEN          the token (- reads it from standard input)\n"},
    {"bundle", "show", do_bundle_show, "[--format pem|jwks] [--trust-domain TD]",
     "Prints the trust bundles this process gets: the X.509 CA certificates as PEM (default),\n"
     "or the JWT-SVID keys as JWK Sets.",
     "  --format pem|jwks     X.509 authorities or JWT keys\n"
     "  --trust-domain TD     only this trust domain's bundle\n"},
};

static void usage(FILE *f, const struct wcmd *c)
{
	fprintf(f, "usage: attestctl %s %s %s [--json] [--socket PATH]\n", c->cmd, c->sub, c->args);
}

static void help(const struct wcmd *c)
{
	usage(stdout, c);
	printf(
	    "\n%s\n\n%s"
	    "  --socket PATH         the Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET,\n"
	    "                        else %s)\n"
	    "  --json                print JSON\n"
	    "  --help                this text\n",
	    c->help, c->options, WORKLOAD_DEFAULT_SOCKET);
}

static int usage_error(const struct wcmd *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct wcmd *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "attestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr, c);
	return EXIT_USAGE;
}

static int json_print(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return error("cannot format JSON");
	puts(s);
	return EXIT_OK;
}

/* ---- the socket and the calls ---- */

/* --socket, else SPIFFE_ENDPOINT_SOCKET (unix:///path or unix:/path), else the default. */
static int socket_path(const char *opt, const char **ret)
{
	const char *env = getenv("SPIFFE_ENDPOINT_SOCKET");

	if (opt) {
		*ret = opt;
		return 0;
	}
	if (!env || !*env) {
		*ret = WORKLOAD_DEFAULT_SOCKET;
		return 0;
	}
	if (strncmp(env, "unix://", 7) == 0 && env[7] == '/')
		*ret = env + 7;
	else if (strncmp(env, "unix:", 5) == 0 && env[5] == '/' && env[6] != '/')
		*ret = env + 5;
	else
		return error("SPIFFE_ENDPOINT_SOCKET='%s' is not a unix:///path address", env);
	return 0;
}

static int wl_connect(const struct wctx *w, struct rpc_client **ret)
{
	int r = rpc_client_connect(w->socket, ret);

	if (r)
		return error("cannot reach the Workload API at %s: %s (is attestd running?)",
			     w->socket, strerror(-r));
	r = rpc_client_add_metadata(*ret, WORKLOAD_HEADER, "true");
	if (r) {
		rpc_client_free(*ret);
		return error("out of memory");
	}
	return 0;
}

static const char *code_name(grpc_status_code c)
{
	switch (c) {
	case GRPC_STATUS_INVALID_ARGUMENT:
		return "invalid argument";
	case GRPC_STATUS_PERMISSION_DENIED:
		return "permission denied";
	case GRPC_STATUS_UNAVAILABLE:
		return "unavailable";
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return "resource exhausted";
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return "deadline exceeded";
	case GRPC_STATUS_UNIMPLEMENTED:
		return "unimplemented";
	default:
		return "error";
	}
}

static int status_error(const struct wctx *w, const struct rpc_status *st)
{
	return error("Workload API at %s: %s: %s", w->socket, code_name(st->code),
		     *st->message ? st->message : "no reason given");
}

static int unary(const struct wctx *w, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *type, ProtobufCMessage **ret)
{
	struct rpc_client *c;
	struct rpc_status st;
	int r;

	r = wl_connect(w, &c);
	if (r)
		return r;
	r = rpc_client_call(c, method, req, type, ret, &st);
	rpc_client_free(c);
	if (r)
		return error("call to the Workload API at %s failed: %s", w->socket, strerror(-r));
	return st.code == GRPC_STATUS_OK ? EXIT_OK : status_error(w, &st);
}

struct first {
	const ProtobufCMessageDescriptor *type;
	ProtobufCMessage *msg;
};

static int keep_first(const ProtobufCMessage *msg, void *arg)
{
	struct first *f = arg;
	size_t n = protobuf_c_message_get_packed_size(msg);
	_cleanup_free_ uint8_t *buf = malloc(n ? n : 1);

	/* The message is freed when we return: keep a copy by packing it again. */
	if (buf) {
		protobuf_c_message_pack(msg, buf);
		f->msg = protobuf_c_message_unpack(f->type, NULL, n, buf);
		explicit_bzero(buf, n);
	}
	return 1; /* the first message is all we want: cancel */
}

/* The first message of a stream; the stream is cancelled after it. */
static int stream_first(const struct wctx *w, const char *method, const ProtobufCMessage *req,
			const ProtobufCMessageDescriptor *type, ProtobufCMessage **ret)
{
	struct first f = {.type = type};
	struct rpc_client *c;
	struct rpc_status st;
	int r;

	r = wl_connect(w, &c);
	if (r)
		return r;
	r = rpc_client_stream(c, method, req, type, keep_first, &f, &st);
	rpc_client_free(c);
	if (r)
		return error("call to the Workload API at %s failed: %s", w->socket, strerror(-r));
	if (f.msg) {
		*ret = f.msg;
		return EXIT_OK;
	}
	if (st.code == GRPC_STATUS_OK || st.code == GRPC_STATUS_CANCELLED)
		return error("Workload API at %s: the stream ended without a message", w->socket);
	return status_error(w, &st);
}

/* ---- DER to PEM, files ---- */

/* Splits concatenated DER certificates; a stack of them, or NULL if any does not parse. */
static STACK_OF(X509) * certs_parse(const uint8_t *der, size_t len)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	const unsigned char *p = der, *end = der + len;

	while (sk && p < end) {
		X509 *x = d2i_X509(NULL, &p, end - p);

		if (!x || !sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return NULL;
		}
	}
	return sk;
}

/* PEM of the certificates in der, malloc'd. */
static char *certs_pem(const uint8_t *der, size_t len)
{
	STACK_OF(X509) *sk = certs_parse(der, len);
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	long n;

	if (sk && b && sk_X509_num(sk) > 0) {
		bool ok = true;

		for (int i = 0; i < sk_X509_num(sk); i++)
			ok &= PEM_write_bio_X509(b, sk_X509_value(sk, i)) == 1;
		n = BIO_get_mem_data(b, &p);
		if (ok && n > 0 && (out = malloc((size_t)n + 1))) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return out;
}

/* The PKCS#8 DER key as a "PRIVATE KEY" PEM block, malloc'd. */
static char *key_pem(const uint8_t *der, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL, *p;
	long n;

	if (b && PEM_write_bio(b, "PRIVATE KEY", "", der, (long)len) > 0) {
		n = BIO_get_mem_data(b, &p);
		if (n > 0 && (out = malloc((size_t)n + 1))) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
		}
	}
	if (b) {
		/* The memory BIO held the key: clear it before it is freed. */
		n = BIO_get_mem_data(b, &p);
		if (n > 0)
			explicit_bzero(p, (size_t)n);
		BIO_free(b);
	}
	return out;
}

/* The leaf's notAfter as RFC 3339 UTC. */
static int leaf_expiry(const uint8_t *der, size_t len, char *buf, size_t buflen)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	struct tm tm;
	int ok;

	if (!x)
		return -EINVAL;
	ok = ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
	X509_free(x);
	if (!ok || !strftime(buf, buflen, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -EINVAL;
	return 0;
}

/* Writes data to dir/name with mode, through a temporary file and rename(). */
static int write_file(const char *dir, const char *name, const char *data, mode_t mode)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	size_t len = strlen(data), off = 0;
	int fd;

	if (asprintf(&path, "%s/%s", dir, name) < 0 ||
	    asprintf(&tmp, "%s/.%s.tmp.%d", dir, name, (int)getpid()) < 0)
		return error("out of memory");
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return error("cannot create %s: %s", tmp, strerror(errno));
	/* The mode is the file's whatever the umask says. */
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	error("cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	return EXIT_ERR;
}

/* ---- the commands ---- */

static int do_fetch_x509(struct wctx *w)
{
	X509SVIDRequest req = X509_SVIDREQUEST__INIT;
	X509SVIDResponse *resp = NULL;
	struct json_object *out = NULL, *arr = NULL;
	int r;

	if (w->write_dir && mkdir(w->write_dir, 0755) < 0 && errno != EEXIST)
		return error("cannot create %s: %s", w->write_dir, strerror(errno));
	r = stream_first(w, WORKLOAD_METHOD_FETCH_X509_SVID, &req.base,
			 &x509_svidresponse__descriptor, (ProtobufCMessage **)&resp);
	if (r)
		return r;
	if (!resp->n_svids) {
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return error("Workload API at %s: a response with no SVID", w->socket);
	}
	if (w->json) {
		out = json_object_new_object();
		arr = json_object_new_array();
		json_object_object_add(out, "svids", arr);
	}
	for (size_t i = 0; i < resp->n_svids && r == 0; i++) {
		const X509SVID *s = resp->svids[i];
		char exp[32] = "", name[64];

		if (leaf_expiry(s->x509_svid.data, s->x509_svid.len, exp, sizeof(exp)) < 0) {
			r = error("SVID %zu (%s): the certificate does not parse", i, s->spiffe_id);
			break;
		}
		if (w->write_dir) {
			_cleanup_free_ char *chain = certs_pem(s->x509_svid.data, s->x509_svid.len);
			_cleanup_free_ char *key =
			    key_pem(s->x509_svid_key.data, s->x509_svid_key.len);
			_cleanup_free_ char *bundle = certs_pem(s->bundle.data, s->bundle.len);

			if (!chain || !key || !bundle) {
				if (key)
					explicit_bzero(key, strlen(key));
				r = error("SVID %zu (%s): cannot convert to PEM", i, s->spiffe_id);
				break;
			}
			snprintf(name, sizeof(name), "svid.%zu.pem", i);
			r = write_file(w->write_dir, name, chain, 0644);
			snprintf(name, sizeof(name), "svid.%zu.key", i);
			if (!r)
				r = write_file(w->write_dir, name, key, 0600);
			snprintf(name, sizeof(name), "bundle.%zu.pem", i);
			if (!r)
				r = write_file(w->write_dir, name, bundle, 0644);
			explicit_bzero(key, strlen(key));
			if (r)
				break;
		}
		if (w->json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "spiffe_id",
					       json_object_new_string(s->spiffe_id));
			json_object_object_add(o, "hint", json_object_new_string(s->hint));
			json_object_object_add(o, "expires_at", json_object_new_string(exp));
			json_object_array_add(arr, o);
		} else {
			printf("%s\n", s->spiffe_id);
		}
	}
	if (!r && w->json)
		r = json_print(out);
	json_object_put(out);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

static int do_fetch_jwt(struct wctx *w)
{
	JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
	JWTSVIDResponse *resp = NULL;
	int r;

	if (!w->naud)
		return usage_error(&wcmds[1], "--audience is required");
	req.n_audience = w->naud;
	req.audience = (char **)w->audiences;
	if (w->spiffe_id)
		req.spiffe_id = (char *)w->spiffe_id;
	r = unary(w, WORKLOAD_METHOD_FETCH_JWT_SVID, &req.base, &jwtsvidresponse__descriptor,
		  (ProtobufCMessage **)&resp);
	if (r)
		return r;
	if (w->json) {
		struct json_object *out = json_object_new_object(), *arr = json_object_new_array();

		for (size_t i = 0; i < resp->n_svids; i++) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "spiffe_id",
					       json_object_new_string(resp->svids[i]->spiffe_id));
			json_object_object_add(o, "token",
					       json_object_new_string(resp->svids[i]->svid));
			json_object_object_add(o, "hint",
					       json_object_new_string(resp->svids[i]->hint));
			json_object_array_add(arr, o);
		}
		json_object_object_add(out, "svids", arr);
		r = json_print(out);
		json_object_put(out);
	} else {
		for (size_t i = 0; i < resp->n_svids; i++)
			printf("%s %s\n", resp->svids[i]->spiffe_id, resp->svids[i]->svid);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

static struct json_object *value_json(const Google__Protobuf__Value *v);

static struct json_object *struct_json(const Google__Protobuf__Struct *s)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; s && i < s->n_fields; i++)
		json_object_object_add(o, s->fields[i]->key, value_json(s->fields[i]->value));
	return o;
}

static struct json_object *value_json(const Google__Protobuf__Value *v)
{
	struct json_object *a;
	double d;

	if (!v)
		return NULL;
	switch (v->kind_case) {
	case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
		d = v->number_value;
		/* exp, iat, nbf are integers: print them as such */
		if (d == (double)(int64_t)d && d > -9e15 && d < 9e15)
			return json_object_new_int64((int64_t)d);
		return json_object_new_double(d);
	case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
		return json_object_new_string(v->string_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
		return json_object_new_boolean(v->bool_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
		return struct_json(v->struct_value);
	case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
		a = json_object_new_array();
		for (size_t i = 0; v->list_value && i < v->list_value->n_values; i++)
			json_object_array_add(a, value_json(v->list_value->values[i]));
		return a;
	default:
		return NULL;
	}
}

/* The token from --svid, or from standard input for "-". */
static int read_token(const char *arg, char **ret)
{
	char buf[WORKLOAD_DEFAULT_MAX_REQUEST_BYTES];
	size_t n = 0;

	if (strcmp(arg, "-") != 0) {
		*ret = strdup(arg);
		return *ret ? 0 : error("out of memory");
	}
	while (n < sizeof(buf) - 1) {
		size_t k = fread(buf + n, 1, sizeof(buf) - 1 - n, stdin);

		if (!k)
			break;
		n += k;
	}
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : error("out of memory");
}

static int do_validate_jwt(struct wctx *w)
{
	ValidateJWTSVIDRequest req = VALIDATE_JWTSVIDREQUEST__INIT;
	ValidateJWTSVIDResponse *resp = NULL;
	_cleanup_free_ char *token = NULL;
	struct json_object *claims;
	int r;

	if (w->naud != 1)
		return usage_error(&wcmds[2], "exactly one --audience is required");
	if (!w->token)
		return usage_error(&wcmds[2], "--svid is required");
	r = read_token(w->token, &token);
	if (r)
		return r;
	req.audience = (char *)w->audiences[0];
	req.svid = token;
	r = unary(w, WORKLOAD_METHOD_VALIDATE_JWT_SVID, &req.base,
		  &validate_jwtsvidresponse__descriptor, (ProtobufCMessage **)&resp);
	if (r)
		return r;
	claims = struct_json(resp->claims);
	if (w->json) {
		struct json_object *out = json_object_new_object();

		json_object_object_add(out, "spiffe_id", json_object_new_string(resp->spiffe_id));
		json_object_object_add(out, "claims", claims);
		r = json_print(out);
		json_object_put(out);
	} else {
		printf("%s\n", resp->spiffe_id);
		r = json_print(claims);
		json_object_put(claims);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b); /* struct kv starts with key */
}

static int do_bundle_show(struct wctx *w)
{
	bool jwks = w->format && strcmp(w->format, "jwks") == 0;
	ProtobufCMessage *msg = NULL;
	struct json_object *out = NULL;
	_cleanup_free_ char *want = NULL;
	size_t n, shown = 0;
	/* Both responses are a map<string, bytes>: keys and values in the same shape. */
	struct kv {
		char *key;
		ProtobufCBinaryData *value;
	} *v = NULL;
	int r;

	if (w->format && !jwks && strcmp(w->format, "pem") != 0)
		return usage_error(&wcmds[3], "--format '%s' is neither pem nor jwks", w->format);
	if (w->trust_domain &&
	    asprintf(&want, "%s%s", strncmp(w->trust_domain, "spiffe://", 9) ? "spiffe://" : "",
		     w->trust_domain) < 0)
		return error("out of memory");
	if (jwks) {
		JWTBundlesRequest req = JWTBUNDLES_REQUEST__INIT;
		JWTBundlesResponse *resp;

		r = stream_first(w, WORKLOAD_METHOD_FETCH_JWT_BUNDLES, &req.base,
				 &jwtbundles_response__descriptor, &msg);
		if (r)
			return r;
		resp = (JWTBundlesResponse *)msg;
		n = resp->n_bundles;
		v = calloc(n ? n : 1, sizeof(*v));
		for (size_t i = 0; v && i < n; i++)
			v[i] = (struct kv){resp->bundles[i]->key, &resp->bundles[i]->value};
	} else {
		X509BundlesRequest req = X509_BUNDLES_REQUEST__INIT;
		X509BundlesResponse *resp;

		r = stream_first(w, WORKLOAD_METHOD_FETCH_X509_BUNDLES, &req.base,
				 &x509_bundles_response__descriptor, &msg);
		if (r)
			return r;
		resp = (X509BundlesResponse *)msg;
		n = resp->n_bundles;
		v = calloc(n ? n : 1, sizeof(*v));
		for (size_t i = 0; v && i < n; i++)
			v[i] = (struct kv){resp->bundles[i]->key, &resp->bundles[i]->value};
	}
	if (!v) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return error("out of memory");
	}
	qsort(v, n, sizeof(*v), cmp_key);
	if (w->json || (jwks && !want && n > 1))
		out = json_object_new_object();
	for (size_t i = 0; i < n && r == 0; i++) {
		const ProtobufCBinaryData *b = v[i].value;

		if (want && strcmp(want, v[i].key) != 0)
			continue;
		shown++;
		if (jwks) {
			_cleanup_free_ char *text = strndup((const char *)b->data, b->len);
			struct json_object *j = text ? json_tokener_parse(text) : NULL;

			if (!j) {
				r = error("bundle of %s: not JSON", v[i].key);
				break;
			}
			if (out) {
				json_object_object_add(out, v[i].key, j);
			} else {
				r = json_print(j);
				json_object_put(j);
			}
		} else {
			_cleanup_free_ char *pem = b->len ? certs_pem(b->data, b->len) : strdup("");

			if (!pem) {
				r = error("bundle of %s: the certificates do not parse", v[i].key);
				break;
			}
			if (out)
				json_object_object_add(out, v[i].key, json_object_new_string(pem));
			else
				printf("# %s\n%s", v[i].key, pem);
		}
	}
	if (!r && want && !shown)
		r = error("no bundle for %s", want);
	if (!r && out) {
		if (w->json) {
			struct json_object *wrap = json_object_new_object();

			json_object_object_add(wrap, "bundles", out);
			r = json_print(wrap);
			json_object_put(wrap);
		} else {
			r = json_print(out);
			json_object_put(out);
		}
	} else {
		json_object_put(out);
	}
	free(v);
	protobuf_c_message_free_unpacked(msg, NULL);
	return r;
}

/* ---- options ---- */

enum {
	OPT_JSON = 0x100,
	OPT_SOCKET,
	OPT_ADMIN_SOCKET,
	OPT_WRITE,
	OPT_AUDIENCE,
	OPT_SPIFFE_ID,
	OPT_SVID,
	OPT_FORMAT,
	OPT_TRUST_DOMAIN,
};

int ctl_workload_run(const char *cmd, const char *sub, const struct ctl_env *env, int argc,
		     char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, OPT_JSON},
	    {"socket", required_argument, NULL, OPT_SOCKET},
	    {"admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET},
	    {"help", no_argument, NULL, 'h'},
	    {"write", required_argument, NULL, OPT_WRITE},
	    {"audience", required_argument, NULL, OPT_AUDIENCE},
	    {"spiffe-id", required_argument, NULL, OPT_SPIFFE_ID},
	    {"svid", required_argument, NULL, OPT_SVID},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
	    {},
	};
	/* Which options each command takes, by its index in wcmds. */
	static const char *const takes[] = {"w", "as", "av", "ft"};
	const struct wcmd *c = NULL;
	struct wctx w = {.cmd = cmd, .sub = sub, .json = env && env->json};
	const char *sock = NULL;
	size_t ci = 0;
	int opt;

	for (size_t i = 0; i < ARRAY_SIZE(wcmds); i++)
		if (strcmp(wcmds[i].cmd, cmd) == 0 && sub && strcmp(wcmds[i].sub, sub) == 0) {
			c = &wcmds[i];
			ci = i;
		}
	if (!c) {
		fprintf(stderr, "attestctl: unknown command '%s %s'\n", cmd, sub ? sub : "");
		return EXIT_USAGE;
	}
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		char letter = 0;

		switch (opt) {
		case OPT_JSON:
			w.json = true;
			continue;
		case OPT_SOCKET:
			sock = optarg;
			continue;
		case OPT_ADMIN_SOCKET:
			continue; /* accepted everywhere; these commands do not use it */
		case 'h':
			help(c);
			return EXIT_OK;
		case '?':
			return usage_error(c, "unknown option '%s'", argv[optind - 1]);
		case ':':
			return usage_error(c, "option '%s' needs an argument", argv[optind - 1]);
		case OPT_WRITE:
			letter = 'w';
			w.write_dir = optarg;
			break;
		case OPT_AUDIENCE:
			letter = 'a';
			if (w.naud == MAX_AUDIENCES)
				return usage_error(c, "more than %d audiences", MAX_AUDIENCES);
			if (!*optarg)
				return usage_error(c, "--audience must not be empty");
			w.audiences[w.naud++] = optarg;
			break;
		case OPT_SPIFFE_ID:
			letter = 's';
			w.spiffe_id = optarg;
			break;
		case OPT_SVID:
			letter = 'v';
			w.token = optarg;
			break;
		case OPT_FORMAT:
			letter = 'f';
			w.format = optarg;
			break;
		case OPT_TRUST_DOMAIN:
			letter = 't';
			w.trust_domain = optarg;
			break;
		}
		if (!strchr(takes[ci], letter))
			return usage_error(c, "unexpected option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (socket_path(sock, &w.socket))
		return EXIT_ERR;
	return c->fn(&w);
}
