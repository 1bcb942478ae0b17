// SPDX-License-Identifier: Apache-2.0
/*
 * The trust domain's CA: X.509 CA certificates and JWT signing keys, their
 * files in the data dir, and rotation with overlap (policy in ca.h).
 *
 * A rotation is computed on a copy of the generation lists, the files of a
 * new generation are written, then state.json; only when that rename has
 * reached the disk does the copy replace the live lists.  A crash at any
 * point leaves either the old state or the new one, never half of each;
 * key files that no state names are harmless leftovers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include "ca.h"
#include "cleanup.h"
#include "log.h"
#include "ossl.h"
#include "spiffeid.h"

#define STATE_FILE "state.json"
#define STATE_VERSION 1
#define MAX_FILE (1 << 20)

/* One authority: immutable once made, shared by the lists and by signers. */
struct gen {
	int refcount;
	bool jwt;
	unsigned seq; /* names its files: x509-<seq>.key, jwt-<seq>.key */
	EVP_PKEY *key;
	X509 *cert;	       /* X.509 only */
	STACK_OF(X509) *chain; /* X.509 only: what follows an SVID leaf */
	unsigned char *chain_der;
	size_t chain_der_len;
	char kid[CA_KID_LEN + 1]; /* JWT only */
	char id[48];		  /* serial hex or kid, for logs and ca_status */
	char *td;
	time_t start, not_after;
};

struct slot {
	struct gen *g;
	enum ca_state state;
};

/* The generations of one kind, oldest first. */
struct list {
	struct slot *v;
	size_t n;
};

struct ca {
	pthread_mutex_t lock;
	char *td;
	char *dir;
	int dirfd, lockfd;
	int64_t ttl, jwt_ttl;
	bool upstream;
	EVP_PKEY *up_key;
	X509 *up_cert;
	STACK_OF(X509) *up_chain; /* upstream intermediates SVID chains carry */
	STACK_OF(X509) *up_roots; /* what the bundle holds in upstream mode */
	struct list x509, jwt;
	unsigned next_seq;
};

static inline void json_object_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static const char *const state_names[] = {
	[CA_STATE_NEXT] = "next",
	[CA_STATE_ACTIVE] = "active",
	[CA_STATE_RETIRED] = "retired",
};

const char *ca_state_name(enum ca_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

static struct gen *gen_ref(struct gen *g)
{
	__atomic_add_fetch(&g->refcount, 1, __ATOMIC_RELAXED);
	return g;
}

static void gen_unref(struct gen *g)
{
	if (!g || __atomic_sub_fetch(&g->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	EVP_PKEY_free(g->key);
	X509_free(g->cert);
	if (g->chain)
		sk_X509_pop_free(g->chain, X509_free);
	free(g->chain_der);
	free(g->td);
	free(g);
}

static void gen_unrefp(struct gen **g)
{
	gen_unref(*g);
}

static void list_clear(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		gen_unref(l->v[i].g);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int list_copy(const struct list *from, struct list *to)
{
	to->v = calloc(from->n + 1, sizeof(*to->v));
	if (!to->v)
		return -ENOMEM;
	for (size_t i = 0; i < from->n; i++) {
		to->v[i] = from->v[i];
		gen_ref(to->v[i].g);
	}
	to->n = from->n;
	return 0;
}

/* Appends g, taking the caller's reference. */
static int list_push(struct list *l, struct gen *g, enum ca_state state)
{
	struct slot *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n++] = (struct slot){ g, state };
	return 0;
}

static struct slot *list_find(struct list *l, enum ca_state state)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].state == state)
			return &l->v[i];
	return NULL;
}

static time_t prepare_at(const struct gen *g)
{
	return g->start + (g->not_after - g->start) / 2;
}

static time_t activate_at(const struct gen *g)
{
	return g->start + (g->not_after - g->start) * 5 / 6;
}

/*
 * When next takes over from active: at active's 5/6 mark, but not before
 * next has been published for the L/3 that relying parties are promised
 * (it can be later after downtime), and never after active has expired.
 */
static time_t next_takes_over(const struct gen *active, const struct gen *next)
{
	time_t t = activate_at(active), window = activate_at(active) - prepare_at(active);

	if (next->start + window > t)
		t = next->start + window;
	return t < active->not_after ? t : active->not_after;
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

static bool is_p256(EVP_PKEY *k)
{
	char group[32];

	return EVP_PKEY_is_a(k, "EC") &&
	       EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					      NULL) &&
	       strcmp(group, "prime256v1") == 0;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
	return 0; /* never prompt on a terminal for an encrypted key */
}

/* --- files ---------------------------------------------------------------- */

static int read_at(int dirfd, const char *name, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 4096;
	ssize_t n;

	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	while ((n = read(fd, buf + len, cap - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		len += n;
		if (len == cap) {
			char *nb;

			if (cap >= MAX_FILE)
				return -EFBIG;
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

static int read_path(const char *path, char **ret, size_t *ret_len)
{
	return read_at(AT_FDCWD, path, ret, ret_len);
}

/* Writes name in dirfd so that it is either the old file or all of the new
 * one, also across a crash: temp file, fsync, rename, fsync the directory. */
static int write_atomic(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[NAME_MAX + 1];
	const char *p = data;
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* The directory lock makes this temp name ours; a leftover is stale. */
	(void)unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	while (!r && len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		p += n;
		len -= n;
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

static int mkdir_one(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* <data_dir>/ca/<td>, each level created 0700 when missing. */
static int make_dirs(const char *data_dir, const char *td, char **ret)
{
	_cleanup_free_ char *ca = NULL, *dir = NULL;
	int r;

	if (asprintf(&ca, "%s/ca", data_dir) < 0 || asprintf(&dir, "%s/%s", ca, td) < 0)
		return -ENOMEM;
	if ((r = mkdir_one(data_dir)) || (r = mkdir_one(ca)) || (r = mkdir_one(dir)))
		return r;
	*ret = TAKE_PTR(dir);
	return 0;
}

static int pem_key(EVP_PKEY *key, char **ret, size_t *ret_len)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	if (!bio || !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		return -ENOMEM;
	len = BIO_get_mem_data(bio, &data);
	if (!(*ret = malloc(len)))
		return -ENOMEM;
	memcpy(*ret, data, len);
	*ret_len = len;
	return 0;
}

static int pem_cert(X509 *cert, char **ret, size_t *ret_len)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	if (!bio || !PEM_write_bio_X509(bio, cert))
		return -ENOMEM;
	len = BIO_get_mem_data(bio, &data);
	if (!(*ret = malloc(len)))
		return -ENOMEM;
	memcpy(*ret, data, len);
	*ret_len = len;
	return 0;
}

static int parse_key(const char *buf, size_t len, EVP_PKEY **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(buf, (int)len);

	if (!bio)
		return -ENOMEM;
	*ret = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	ERR_clear_error();
	return *ret ? 0 : -EBADMSG;
}

/* Every certificate in a PEM buffer, in order; none is -EBADMSG. */
static int parse_certs(const char *buf, size_t len, STACK_OF(X509) **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new_mem_buf(buf, (int)len);
	_cleanup_x509_stack_ STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *c;

	if (!bio || !sk)
		return -ENOMEM;
	while ((c = PEM_read_bio_X509(bio, NULL, no_password, NULL))) {
		if (!sk_X509_push(sk, c)) {
			X509_free(c);
			return -ENOMEM;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0)
		return -EBADMSG;
	*ret = TAKE_PTR(sk);
	return 0;
}

/* --- making authorities --------------------------------------------------- */

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	_cleanup_x509_ext_ X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	if (!ext || !X509_add_ext(cert, ext, -1))
		return -EINVAL;
	return 0;
}

/* Our X.509 CA certificate for key: self-signed, or signed by upstream. */
static int make_ca_cert(struct ca *ca, EVP_PKEY *key, time_t start, time_t not_after,
			X509 **ret)
{
	_cleanup_x509_ X509 *cert = X509_new();
	_cleanup_x509_name_ X509_NAME *name = X509_NAME_new();
	_cleanup_free_ char *uri = NULL;
	EVP_PKEY *signer = ca->upstream ? ca->up_key : key;
	const EVP_MD *md = EVP_sha256();
	X509V3_CTX ctx;
	char why[256];
	int r;

	if (!cert || !name || asprintf(&uri, "URI:spiffe://%s", ca->td) < 0)
		return -ENOMEM;
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"attestd",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)ca->td,
					-1, -1, 0))
		return -ENOMEM;
	if (!X509_set_version(cert, X509_VERSION_3) || (r = ossl_rand_serial(cert)) ||
	    !X509_set_subject_name(cert, name) ||
	    !X509_set_issuer_name(cert, ca->upstream ? X509_get_subject_name(ca->up_cert) : name) ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert), start - CA_BACKDATE) ||
	    !ASN1_TIME_set(X509_getm_notAfter(cert), not_after) || !X509_set_pubkey(cert, key))
		return -ENOMEM;
	X509V3_set_ctx(&ctx, ca->upstream ? ca->up_cert : cert, cert, NULL, NULL, 0);
	if ((r = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE")) ||
	    (r = add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
	    (r = add_ext(cert, &ctx, NID_subject_key_identifier, "hash")) ||
	    (r = add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always")) ||
	    (r = add_ext(cert, &ctx, NID_subject_alt_name, uri))) {
		log_error("ca: %s: cannot build CA certificate extensions: %s", ca->td,
			  ossl_err(why, sizeof(why)));
		return r;
	}
	/* EdDSA signs the message itself: no separate digest. */
	if (EVP_PKEY_is_a(signer, "ED25519") || EVP_PKEY_is_a(signer, "ED448"))
		md = NULL;
	if (X509_sign(cert, signer, md) <= 0) {
		log_error("ca: %s: cannot sign CA certificate: %s", ca->td,
			  ossl_err(why, sizeof(why)));
		return -EINVAL;
	}
	*ret = TAKE_PTR(cert);
	return 0;
}

/* The SVID chain of an X.509 generation and its DER form. */
static int gen_set_chain(struct ca *ca, struct gen *g)
{
	size_t off = 0;

	g->chain = sk_X509_new_null();
	if (!g->chain)
		return -ENOMEM;
	if (ca->upstream) {
		if (!sk_X509_push(g->chain, g->cert))
			return -ENOMEM;
		X509_up_ref(g->cert);
		for (int i = 0; i < sk_X509_num(ca->up_chain); i++) {
			X509 *c = sk_X509_value(ca->up_chain, i);

			if (!sk_X509_push(g->chain, c))
				return -ENOMEM;
			X509_up_ref(c);
		}
	}
	for (int i = 0; i < sk_X509_num(g->chain); i++)
		g->chain_der_len += i2d_X509(sk_X509_value(g->chain, i), NULL);
	g->chain_der = malloc(g->chain_der_len + 1);
	if (!g->chain_der)
		return -ENOMEM;
	for (int i = 0; i < sk_X509_num(g->chain); i++) {
		unsigned char *p = g->chain_der + off;

		off += i2d_X509(sk_X509_value(g->chain, i), &p);
	}
	return 0;
}

static struct gen *gen_alloc(struct ca *ca, bool jwt, unsigned seq)
{
	struct gen *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->refcount = 1;
	g->jwt = jwt;
	g->seq = seq;
	g->td = strdup(ca->td);
	if (!g->td) {
		free(g);
		return NULL;
	}
	return g;
}

static void gen_set_serial_id(struct gen *g)
{
	_cleanup_bn_ BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(g->cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	snprintf(g->id, sizeof(g->id), "%s", hex ? hex : "?");
	OPENSSL_free(hex);
}

static int new_kid(char kid[CA_KID_LEN + 1])
{
	unsigned char raw[CA_KID_LEN * 3 / 4];
	_cleanup_free_ char *s = NULL;
	int r;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	if ((r = ossl_b64_encode(raw, sizeof(raw), true, &s)))
		return r;
	snprintf(kid, CA_KID_LEN + 1, "%s", s);
	return 0;
}

/* A fresh generation, its files written (state.json not yet). */
static int gen_create(struct ca *ca, bool jwt, unsigned seq, time_t now, struct gen **ret)
{
	_cleanup_(gen_unrefp) struct gen *g = gen_alloc(ca, jwt, seq);
	_cleanup_free_ char *kpem = NULL, *cpem = NULL;
	size_t klen, clen;
	char name[64], why[256];
	int r;

	if (!g)
		return -ENOMEM;
	g->key = EVP_EC_gen("P-256");
	if (!g->key) {
		log_error("ca: %s: cannot generate a P-256 key: %s", ca->td,
			  ossl_err(why, sizeof(why)));
		return -ENOMEM;
	}
	g->start = now;
	g->not_after = now + (jwt ? ca->jwt_ttl : ca->ttl);
	if (jwt) {
		if ((r = new_kid(g->kid)))
			return r;
		snprintf(g->id, sizeof(g->id), "%s", g->kid);
	} else {
		if (ca->upstream) {
			time_t up_end = asn1_time(X509_get0_notAfter(ca->up_cert));

			if (up_end <= now) {
				log_error("ca: %s: the upstream certificate has expired", ca->td);
				return -EKEYEXPIRED;
			}
			if (up_end < g->not_after) {
				log_warn("ca: %s: CA lifetime capped at the upstream certificate's "
					 "notAfter, %lld s instead of %lld s",
					 ca->td, (long long)(up_end - now), (long long)ca->ttl);
				g->not_after = up_end;
			}
		}
		if ((r = make_ca_cert(ca, g->key, now, g->not_after, &g->cert)) ||
		    (r = gen_set_chain(ca, g)))
			return r;
		gen_set_serial_id(g);
	}
	if ((r = pem_key(g->key, &kpem, &klen)))
		return r;
	snprintf(name, sizeof(name), "%s-%u.key", jwt ? "jwt" : "x509", seq);
	if ((r = write_atomic(ca->dirfd, name, kpem, klen))) {
		log_error("ca: %s/%s: cannot write: %s", ca->dir, name, strerror(-r));
		return r;
	}
	if (!jwt) {
		if ((r = pem_cert(g->cert, &cpem, &clen)))
			return r;
		snprintf(name, sizeof(name), "x509-%u.crt", seq);
		if ((r = write_atomic(ca->dirfd, name, cpem, clen))) {
			log_error("ca: %s/%s: cannot write: %s", ca->dir, name, strerror(-r));
			return r;
		}
	}
	log_info("ca: %s: new %s authority %s valid until %lld", ca->td, jwt ? "JWT" : "X.509",
		 g->id, (long long)g->not_after);
	*ret = TAKE_PTR(g);
	return 0;
}

/* --- state.json ----------------------------------------------------------- */

static int state_add_list(json_object *root, const char *key, const struct list *l)
{
	json_object *arr = json_object_new_array();

	if (!arr || json_object_object_add(root, key, arr)) {
		json_object_put(arr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct gen *g = l->v[i].g;
		json_object *o = json_object_new_object();

		if (!o || json_object_array_add(arr, o)) {
			json_object_put(o);
			return -ENOMEM;
		}
		json_object_object_add(o, "seq", json_object_new_int64(g->seq));
		json_object_object_add(o, "state", json_object_new_string(state_names[l->v[i].state]));
		json_object_object_add(o, "start", json_object_new_int64(g->start));
		if (g->jwt) {
			json_object_object_add(o, "kid", json_object_new_string(g->kid));
			json_object_object_add(o, "not_after", json_object_new_int64(g->not_after));
		}
	}
	return 0;
}

static int state_save(struct ca *ca, const struct list *x509, const struct list *jwt,
		      unsigned next_seq)
{
	_cleanup_json_ json_object *root = json_object_new_object();
	const char *s;
	size_t len;
	int r;

	if (!root)
		return -ENOMEM;
	json_object_object_add(root, "version", json_object_new_int(STATE_VERSION));
	json_object_object_add(root, "trust_domain", json_object_new_string(ca->td));
	json_object_object_add(root, "upstream", json_object_new_boolean(ca->upstream));
	json_object_object_add(root, "next_seq", json_object_new_int64(next_seq));
	if ((r = state_add_list(root, "x509", x509)) || (r = state_add_list(root, "jwt", jwt)))
		return r;
	s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PRETTY, &len);
	if (!s)
		return -ENOMEM;
	if ((r = write_atomic(ca->dirfd, STATE_FILE, s, len)))
		log_error("ca: %s/%s: cannot write: %s", ca->dir, STATE_FILE, strerror(-r));
	return r;
}

static int json_get_int(json_object *o, const char *k, int64_t *ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return -EBADMSG;
	*ret = json_object_get_int64(v);
	return 0;
}

static const char *json_get_str(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Reads and checks one generation's files.  Errors are logged here. */
static int gen_load(struct ca *ca, bool jwt, json_object *o, struct gen **ret,
		    enum ca_state *ret_state)
{
	_cleanup_(gen_unrefp) struct gen *g = NULL;
	_cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
	_cleanup_free_ char *buf = NULL;
	const char *state = json_get_str(o, "state");
	int64_t seq, start, not_after = 0;
	char name[64];
	size_t len;
	int r, s;

	if (json_get_int(o, "seq", &seq) || seq < 0 || seq > UINT_MAX || !state ||
	    json_get_int(o, "start", &start) ||
	    (jwt && (json_get_int(o, "not_after", &not_after) || !json_get_str(o, "kid")))) {
		log_error("ca: %s/%s: malformed %s entry", ca->dir, STATE_FILE, jwt ? "jwt" : "x509");
		return -EBADMSG;
	}
	for (s = 0; s < (int)ARRAY_SIZE(state_names); s++)
		if (strcmp(state, state_names[s]) == 0)
			break;
	if (s == (int)ARRAY_SIZE(state_names)) {
		log_error("ca: %s/%s: unknown state \"%s\"", ca->dir, STATE_FILE, state);
		return -EBADMSG;
	}
	g = gen_alloc(ca, jwt, (unsigned)seq);
	if (!g)
		return -ENOMEM;
	g->start = start;
	snprintf(name, sizeof(name), "%s-%u.key", jwt ? "jwt" : "x509", g->seq);
	if ((r = read_at(ca->dirfd, name, &buf, &len))) {
		log_error("ca: %s/%s: cannot read: %s", ca->dir, name, strerror(-r));
		return r == -ENOENT ? -EBADMSG : r;
	}
	r = parse_key(buf, len, &g->key);
	free(TAKE_PTR(buf));
	if (r) {
		log_error("ca: %s/%s: not a readable private key (corrupt?); refusing to "
			  "replace the CA: restore the file or move %s away",
			  ca->dir, name, ca->dir);
		return r;
	}
	if (!is_p256(g->key)) {
		log_error("ca: %s/%s: not a P-256 key", ca->dir, name);
		return -EBADMSG;
	}
	if (jwt) {
		snprintf(g->kid, sizeof(g->kid), "%s", json_get_str(o, "kid"));
		snprintf(g->id, sizeof(g->id), "%s", g->kid);
		g->not_after = not_after;
	} else {
		snprintf(name, sizeof(name), "x509-%u.crt", g->seq);
		if ((r = read_at(ca->dirfd, name, &buf, &len))) {
			log_error("ca: %s/%s: cannot read: %s", ca->dir, name, strerror(-r));
			return r == -ENOENT ? -EBADMSG : r;
		}
		if ((r = parse_certs(buf, len, &certs))) {
			log_error("ca: %s/%s: not a readable certificate (corrupt?)", ca->dir, name);
			return r;
		}
		g->cert = sk_X509_shift(certs);
		g->not_after = asn1_time(X509_get0_notAfter(g->cert));
		if (EVP_PKEY_eq(g->key, X509_get0_pubkey(g->cert)) != 1) {
			log_error("ca: %s/%s: the private key does not match the certificate",
				  ca->dir, name);
			return -EKEYREJECTED;
		}
		if (ca->upstream ? X509_check_issued(ca->up_cert, g->cert) != X509_V_OK ||
					   X509_verify(g->cert, X509_get0_pubkey(ca->up_cert)) != 1 :
				   X509_self_signed(g->cert, 1) != 1) {
			log_error("ca: %s/%s: %s", ca->dir, name,
				  ca->upstream ? "not signed by the configured upstream certificate" :
						 "not a valid self-signed CA certificate");
			ERR_clear_error();
			return -EKEYREJECTED;
		}
		if ((r = gen_set_chain(ca, g)))
			return r;
		gen_set_serial_id(g);
	}
	*ret_state = (enum ca_state)s;
	*ret = TAKE_PTR(g);
	return 0;
}

static int load_list(struct ca *ca, json_object *root, bool jwt, struct list *l)
{
	const char *key = jwt ? "jwt" : "x509";
	json_object *arr;
	size_t nactive = 0, nnext = 0;
	int r;

	if (!json_object_object_get_ex(root, key, &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		log_error("ca: %s/%s: no \"%s\" list", ca->dir, STATE_FILE, key);
		return -EBADMSG;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct gen *g = NULL;
		enum ca_state st;

		if ((r = gen_load(ca, jwt, json_object_array_get_idx(arr, i), &g, &st)))
			return r;
		if ((r = list_push(l, g, st))) {
			gen_unref(g);
			return r;
		}
		nactive += st == CA_STATE_ACTIVE;
		nnext += st == CA_STATE_NEXT;
		if (g->seq >= ca->next_seq) {
			log_error("ca: %s/%s: next_seq is behind %s-%u", ca->dir, STATE_FILE, key,
				  g->seq);
			return -EBADMSG;
		}
	}
	if (nactive != 1 || nnext > 1) {
		log_error("ca: %s/%s: %zu active and %zu next %s authorities (want 1 and at most 1)",
			  ca->dir, STATE_FILE, nactive, nnext, key);
		return -EBADMSG;
	}
	return 0;
}

static int state_load(struct ca *ca, const char *buf, size_t len)
{
	_cleanup_json_ json_object *root = json_tokener_parse(buf);
	const char *td;
	int64_t version, next_seq;
	json_object *up;
	int r;

	if (!root || !json_object_is_type(root, json_type_object) || strlen(buf) != len ||
	    json_get_int(root, "version", &version) || json_get_int(root, "next_seq", &next_seq) ||
	    next_seq < 0 || next_seq > UINT_MAX || !(td = json_get_str(root, "trust_domain")) ||
	    !json_object_object_get_ex(root, "upstream", &up) ||
	    !json_object_is_type(up, json_type_boolean)) {
		log_error("ca: %s/%s: not a readable CA state file (corrupt?); refusing to "
			  "replace the CA: restore the file or move %s away",
			  ca->dir, STATE_FILE, ca->dir);
		return -EBADMSG;
	}
	if (version != STATE_VERSION) {
		log_error("ca: %s/%s: version %lld, this attestd reads version %d", ca->dir,
			  STATE_FILE, (long long)version, STATE_VERSION);
		return -EBADMSG;
	}
	if (strcmp(td, ca->td) != 0) {
		log_error("ca: %s/%s: holds the CA of trust domain %s, not %s", ca->dir, STATE_FILE,
			  td, ca->td);
		return -EINVAL;
	}
	if (json_object_get_boolean(up) != ca->upstream) {
		log_error("ca: %s: the CA was made %s; it cannot be switched %s in place (move %s "
			  "away to start a new CA)",
			  ca->dir, ca->upstream ? "self-signed" : "under an upstream CA",
			  ca->upstream ? "to upstream mode" : "to self-signed", ca->dir);
		return -EINVAL;
	}
	ca->next_seq = (unsigned)next_seq;
	if ((r = load_list(ca, root, false, &ca->x509)) || (r = load_list(ca, root, true, &ca->jwt)))
		return r;
	return 0;
}

/* Key files with no state.json next to them: a CA we cannot read, not a
 * fresh directory. */
static bool has_key_files(struct ca *ca)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd = dup(ca->dirfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return true; /* cannot tell: err on the side of not overwriting */
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] != '.' && n > 4 && strcmp(de->d_name + n - 4, ".key") == 0)
			return true;
	}
	return false;
}

static int ca_create_files(struct ca *ca, time_t now)
{
	struct gen *x = NULL, *j = NULL;
	int r;

	ca->next_seq = 1;
	if ((r = gen_create(ca, false, ca->next_seq, now, &x)))
		return r;
	if ((r = list_push(&ca->x509, x, CA_STATE_ACTIVE))) {
		gen_unref(x);
		return r;
	}
	ca->next_seq++;
	if ((r = gen_create(ca, true, ca->next_seq, now, &j)))
		return r;
	if ((r = list_push(&ca->jwt, j, CA_STATE_ACTIVE))) {
		gen_unref(j);
		return r;
	}
	ca->next_seq++;
	return state_save(ca, &ca->x509, &ca->jwt, ca->next_seq);
}

/* A first CA.  When that fails half-way, its key files go too: left
 * behind without state.json they would make every later start refuse. */
static int ca_create(struct ca *ca, time_t now)
{
	int r = ca_create_files(ca, now);

	if (r) {
		(void)unlinkat(ca->dirfd, "x509-1.key", 0);
		(void)unlinkat(ca->dirfd, "x509-1.crt", 0);
		(void)unlinkat(ca->dirfd, "jwt-2.key", 0);
	}
	return r;
}

/* --- upstream ------------------------------------------------------------- */

static int load_upstream(struct ca *ca, const char *cert_path, const char *key_path)
{
	_cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	if ((r = read_path(cert_path, &buf, &len))) {
		log_error("ca: upstream certificate %s: cannot read: %s", cert_path, strerror(-r));
		return r;
	}
	if ((r = parse_certs(buf, len, &certs))) {
		log_error("ca: upstream certificate %s: no PEM certificate in it", cert_path);
		return r;
	}
	free(TAKE_PTR(buf));
	if ((r = read_path(key_path, &buf, &len))) {
		log_error("ca: upstream key %s: cannot read: %s", key_path, strerror(-r));
		return r;
	}
	if ((r = parse_key(buf, len, &ca->up_key))) {
		log_error("ca: upstream key %s: not a readable unencrypted PEM private key",
			  key_path);
		return r;
	}
	ca->up_cert = sk_X509_shift(certs);
	if (EVP_PKEY_eq(ca->up_key, X509_get0_pubkey(ca->up_cert)) != 1) {
		log_error("ca: upstream key %s does not match certificate %s", key_path, cert_path);
		return -EKEYREJECTED;
	}
	if (X509_check_ca(ca->up_cert) < 1) {
		log_error("ca: upstream certificate %s is not a CA certificate", cert_path);
		return -EINVAL;
	}
	/* Our CA is a CA below it: pathLenConstraint 0 would make every chain fail. */
	if (X509_get_pathlen(ca->up_cert) == 0) {
		log_error("ca: upstream certificate %s has pathLenConstraint 0 and cannot sign a CA",
			  cert_path);
		return -EINVAL;
	}
	ca->up_chain = sk_X509_new_null();
	ca->up_roots = sk_X509_new_null();
	if (!ca->up_chain || !ca->up_roots)
		return -ENOMEM;
	/* Self-signed certificates are trust anchors (the bundle); the others
	 * are intermediates that SVID chains carry up to them. */
	X509_up_ref(ca->up_cert);
	if (!sk_X509_push(X509_self_signed(ca->up_cert, 0) == 1 ? ca->up_roots : ca->up_chain,
			  ca->up_cert)) {
		X509_free(ca->up_cert);
		return -ENOMEM;
	}
	while (sk_X509_num(certs) > 0) {
		X509 *c = sk_X509_shift(certs);

		if (!sk_X509_push(X509_self_signed(c, 0) == 1 ? ca->up_roots : ca->up_chain, c)) {
			X509_free(c);
			return -ENOMEM;
		}
	}
	/* No self-signed root in the file: its last certificate is the anchor. */
	if (sk_X509_num(ca->up_roots) == 0 && !sk_X509_push(ca->up_roots, sk_X509_pop(ca->up_chain)))
		return -ENOMEM;
	ERR_clear_error();
	return 0;
}

/* --- open / free ---------------------------------------------------------- */

void ca_free(struct ca *ca)
{
	if (!ca)
		return;
	list_clear(&ca->x509);
	list_clear(&ca->jwt);
	EVP_PKEY_free(ca->up_key);
	X509_free(ca->up_cert);
	if (ca->up_chain)
		sk_X509_pop_free(ca->up_chain, X509_free);
	if (ca->up_roots)
		sk_X509_pop_free(ca->up_roots, X509_free);
	if (ca->dirfd >= 0)
		close(ca->dirfd);
	if (ca->lockfd >= 0)
		close(ca->lockfd);
	pthread_mutex_destroy(&ca->lock);
	free(ca->dir);
	free(ca->td);
	free(ca);
}

static void ca_freep(struct ca **ca)
{
	ca_free(*ca);
}

int ca_open(const struct ca_opts *opts, struct ca **ret)
{
	_cleanup_(ca_freep) struct ca *ca = NULL;
	_cleanup_free_ char *buf = NULL;
	time_t now = opts->now ? opts->now : time(NULL);
	char why[256];
	size_t len;
	int r;

	if (!opts->data_dir || !opts->trust_domain ||
	    trust_domain_validate(opts->trust_domain, why, sizeof(why))) {
		log_error("ca: bad trust domain or data dir: %s",
			  opts->trust_domain ? why : "missing");
		return -EINVAL;
	}
	if (opts->ca_ttl < 0 || opts->jwt_key_ttl < 0 ||
	    !opts->upstream_cert != !opts->upstream_key) {
		log_error("ca: %s: bad options (negative TTL, or only one of upstream cert/key)",
			  opts->trust_domain);
		return -EINVAL;
	}
	ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	ca->dirfd = ca->lockfd = -1;
	pthread_mutex_init(&ca->lock, NULL);
	ca->td = strdup(opts->trust_domain);
	if (!ca->td)
		return -ENOMEM;
	ca->ttl = opts->ca_ttl ? opts->ca_ttl : CA_DEFAULT_TTL;
	ca->jwt_ttl = opts->jwt_key_ttl ? opts->jwt_key_ttl : ca->ttl;
	/* Thresholds at 1/2 and 5/6 need a lifetime of a few seconds. */
	if (ca->ttl < 6 || ca->jwt_ttl < 6) {
		log_error("ca: %s: CA and JWT key TTLs must be at least 6 s", ca->td);
		return -EINVAL;
	}
	ca->upstream = opts->upstream_cert != NULL;
	if (ca->upstream && (r = load_upstream(ca, opts->upstream_cert, opts->upstream_key)))
		return r;
	if ((r = make_dirs(opts->data_dir, ca->td, &ca->dir))) {
		log_error("ca: %s/ca/%s: cannot create: %s", opts->data_dir, ca->td, strerror(-r));
		return r;
	}
	ca->dirfd = open(ca->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ca->dirfd < 0) {
		r = -errno;
		log_error("ca: %s: cannot open: %s", ca->dir, strerror(-r));
		return r;
	}
	ca->lockfd = openat(ca->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ca->lockfd < 0 || flock(ca->lockfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		log_error("ca: %s: %s", ca->dir,
			  r == -EBUSY ? "in use by another attestd" : strerror(-r));
		return r;
	}
	r = read_at(ca->dirfd, STATE_FILE, &buf, &len);
	if (r == -ENOENT) {
		if (has_key_files(ca)) {
			log_error("ca: %s: key files but no %s; refusing to replace the CA: restore "
				  "the file or move %s away",
				  ca->dir, STATE_FILE, ca->dir);
			return -EBADMSG;
		}
		if ((r = ca_create(ca, now)))
			return r;
	} else if (r) {
		log_error("ca: %s/%s: cannot read: %s", ca->dir, STATE_FILE, strerror(-r));
		return r;
	} else if ((r = state_load(ca, buf, len))) {
		return r;
	}
	/* Catch up on rotations missed while attestd was down, so that what
	 * ca_open returns can sign at once. */
	if ((r = ca_tick(ca, now, NULL)))
		return r;
	*ret = TAKE_PTR(ca);
	return 0;
}

/* --- rotation ------------------------------------------------------------- */

/* One kind's rotation as of now, on a copy of its list. */
static int rotate(struct ca *ca, struct list *l, bool jwt, time_t now, unsigned *next_seq,
		  unsigned *ev)
{
	const char *kind = jwt ? "JWT key" : "X.509 CA";
	unsigned signer_ev = jwt ? CA_EV_JWT_SIGNER : CA_EV_X509_SIGNER;
	int r;

	/* A few rounds settle any state, even after a long downtime. */
	for (int round = 0; round < 4; round++) {
		struct slot *active = list_find(l, CA_STATE_ACTIVE), *next = list_find(l, CA_STATE_NEXT);
		struct gen *g = NULL;

		if (next && now >= next_takes_over(active->g, next->g)) {
			active->state = CA_STATE_RETIRED;
			next->state = CA_STATE_ACTIVE;
			*ev |= signer_ev;
			log_info("ca: %s: %s %s is active, %s retired", ca->td, kind, next->g->id,
				 active->g->id);
			continue;
		}
		if (now >= active->g->not_after) {
			/* Down across the whole overlap: nothing to hand over to.
			 * list_push may move the slots: active is looked up again. */
			if ((r = gen_create(ca, jwt, *next_seq, now, &g)))
				return r;
			if ((r = list_push(l, g, CA_STATE_ACTIVE))) {
				gen_unref(g);
				return r;
			}
			(*next_seq)++;
			list_find(l, CA_STATE_ACTIVE)->state = CA_STATE_RETIRED;
			*ev |= signer_ev | CA_EV_BUNDLE;
			log_warn("ca: %s: %s expired before its successor was ready; new %s active "
				 "at once",
				 ca->td, kind, g->id);
			continue;
		}
		if (!next && now >= prepare_at(active->g)) {
			bool late = now > activate_at(active->g);

			/* list_push may move the slots: active is not used after it. */
			if ((r = gen_create(ca, jwt, *next_seq, now, &g)))
				return r;
			if ((r = list_push(l, g, CA_STATE_NEXT))) {
				gen_unref(g);
				return r;
			}
			(*next_seq)++;
			*ev |= CA_EV_BUNDLE;
			if (late)
				log_warn("ca: %s: %s %s prepared late, after its predecessor's "
					 "activation time",
					 ca->td, kind, g->id);
			continue;
		}
		break;
	}
	/* Retired authorities leave when the last SVID they signed has expired. */
	for (size_t i = 0; i < l->n;) {
		if (l->v[i].state == CA_STATE_RETIRED && now >= l->v[i].g->not_after) {
			log_info("ca: %s: %s %s expired, removed from the bundle", ca->td, kind,
				 l->v[i].g->id);
			gen_unref(l->v[i].g);
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
			l->n--;
			*ev |= CA_EV_BUNDLE;
			continue;
		}
		i++;
	}
	return 0;
}

/* Removes the files of generations in old that are not in new. */
static void remove_dropped(struct ca *ca, const struct list *old, const struct list *new)
{
	for (size_t i = 0; i < old->n; i++) {
		const struct gen *g = old->v[i].g;
		bool kept = false;
		char name[64];

		for (size_t j = 0; j < new->n && !kept; j++)
			kept = new->v[j].g == g;
		if (kept)
			continue;
		snprintf(name, sizeof(name), "%s-%u.key", g->jwt ? "jwt" : "x509", g->seq);
		(void)unlinkat(ca->dirfd, name, 0);
		if (!g->jwt) {
			snprintf(name, sizeof(name), "x509-%u.crt", g->seq);
			(void)unlinkat(ca->dirfd, name, 0);
		}
	}
}

int ca_tick(struct ca *ca, time_t now, unsigned *ret_events)
{
	struct list x509 = { 0 }, jwt = { 0 };
	unsigned ev = 0, next_seq;
	int r;

	if (!now)
		now = time(NULL);
	pthread_mutex_lock(&ca->lock);
	next_seq = ca->next_seq;
	if ((r = list_copy(&ca->x509, &x509)) || (r = list_copy(&ca->jwt, &jwt)) ||
	    (r = rotate(ca, &x509, false, now, &next_seq, &ev)) ||
	    (r = rotate(ca, &jwt, true, now, &next_seq, &ev)))
		goto out;
	if (ev && (r = state_save(ca, &x509, &jwt, next_seq)))
		goto out;
	if (ev) {
		struct list tmp;

		remove_dropped(ca, &ca->x509, &x509);
		remove_dropped(ca, &ca->jwt, &jwt);
		tmp = ca->x509, ca->x509 = x509, x509 = tmp;
		tmp = ca->jwt, ca->jwt = jwt, jwt = tmp;
		ca->next_seq = next_seq;
	}
out:
	pthread_mutex_unlock(&ca->lock);
	list_clear(&x509);
	list_clear(&jwt);
	if (r)
		log_error("ca: %s: rotation failed, will retry: %s", ca->td, strerror(-r));
	if (ret_events)
		*ret_events = r ? 0 : ev;
	return r;
}

static time_t list_next_event(const struct list *l)
{
	const struct gen *active = NULL, *next = NULL;
	time_t t = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct gen *g = l->v[i].g;

		if (l->v[i].state == CA_STATE_ACTIVE)
			active = g;
		else if (l->v[i].state == CA_STATE_NEXT)
			next = g;
		else if (!t || g->not_after < t)
			t = g->not_after;
	}
	if (active) {
		time_t a = next ? next_takes_over(active, next) : prepare_at(active);

		if (!t || a < t)
			t = a;
	}
	return t;
}

time_t ca_next_event(struct ca *ca)
{
	time_t a, b;

	pthread_mutex_lock(&ca->lock);
	a = list_next_event(&ca->x509);
	b = list_next_event(&ca->jwt);
	pthread_mutex_unlock(&ca->lock);
	return a < b ? a : b;
}

const char *ca_trust_domain(const struct ca *ca)
{
	return ca->td;
}

int64_t ca_refresh_hint(const struct ca *ca)
{
	int64_t ttl = ca->ttl < ca->jwt_ttl ? ca->ttl : ca->jwt_ttl, h = ttl / 12;

	return h > 300 ? 300 : h < 1 ? 1 : h;
}

int ca_x509_signer_get(struct ca *ca, struct ca_x509_signer *ret)
{
	struct slot *s;

	pthread_mutex_lock(&ca->lock);
	s = list_find(&ca->x509, CA_STATE_ACTIVE);
	if (!s) {
		pthread_mutex_unlock(&ca->lock);
		return -ENOENT;
	}
	*ret = (struct ca_x509_signer){
		.key = s->g->key,
		.cert = s->g->cert,
		.chain = s->g->chain,
		.chain_der = s->g->chain_der,
		.chain_der_len = s->g->chain_der_len,
		.not_after = s->g->not_after,
		.trust_domain = s->g->td,
		.ref = gen_ref(s->g),
	};
	pthread_mutex_unlock(&ca->lock);
	return 0;
}

void ca_x509_signer_put(struct ca_x509_signer *s)
{
	gen_unref(s->ref);
	*s = (struct ca_x509_signer){ 0 };
}

int ca_jwt_signer_get(struct ca *ca, struct ca_jwt_signer *ret)
{
	struct slot *s;

	pthread_mutex_lock(&ca->lock);
	s = list_find(&ca->jwt, CA_STATE_ACTIVE);
	if (!s) {
		pthread_mutex_unlock(&ca->lock);
		return -ENOENT;
	}
	*ret = (struct ca_jwt_signer){
		.key = s->g->key,
		.kid = s->g->kid,
		.not_after = s->g->not_after,
		.trust_domain = s->g->td,
		.ref = gen_ref(s->g),
	};
	pthread_mutex_unlock(&ca->lock);
	return 0;
}

void ca_jwt_signer_put(struct ca_jwt_signer *s)
{
	gen_unref(s->ref);
	*s = (struct ca_jwt_signer){ 0 };
}

/* Lock held. */
static int authorities_locked(struct ca *ca, STACK_OF(X509) **ret)
{
	_cleanup_x509_stack_ STACK_OF(X509) *sk = sk_X509_new_null();

	if (!sk)
		return -ENOMEM;
	if (ca->upstream) {
		for (int i = 0; i < sk_X509_num(ca->up_roots); i++) {
			X509 *c = sk_X509_value(ca->up_roots, i);

			if (!sk_X509_push(sk, c))
				return -ENOMEM;
			X509_up_ref(c);
		}
	} else {
		for (size_t i = 0; i < ca->x509.n; i++) {
			if (!sk_X509_push(sk, ca->x509.v[i].g->cert))
				return -ENOMEM;
			X509_up_ref(ca->x509.v[i].g->cert);
		}
	}
	*ret = TAKE_PTR(sk);
	return 0;
}

int ca_x509_authorities(struct ca *ca, STACK_OF(X509) **ret)
{
	int r;

	pthread_mutex_lock(&ca->lock);
	r = authorities_locked(ca, ret);
	pthread_mutex_unlock(&ca->lock);
	return r;
}

int ca_bundle(struct ca *ca, uint64_t sequence, struct bundle **ret)
{
	_cleanup_x509_stack_ STACK_OF(X509) *certs = NULL;
	_cleanup_free_ struct bundle_jwt_key *keys = NULL;
	size_t n;
	int r;

	pthread_mutex_lock(&ca->lock);
	r = authorities_locked(ca, &certs);
	n = ca->jwt.n;
	keys = calloc(n + 1, sizeof(*keys));
	if (!r && !keys)
		r = -ENOMEM;
	for (size_t i = 0; !r && i < n; i++)
		keys[i] = (struct bundle_jwt_key){ ca->jwt.v[i].g->kid, ca->jwt.v[i].g->key };
	/* bundle_new copies out the public keys, so it runs under the lock. */
	if (!r)
		r = bundle_new(ca->td, certs, keys, n, sequence, ca_refresh_hint(ca), ret);
	pthread_mutex_unlock(&ca->lock);
	return r;
}

static void fill_info(const struct list *l, struct ca_authority_info *out, size_t *n)
{
	const struct gen *active = NULL, *next = NULL;

	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].state == CA_STATE_ACTIVE)
			active = l->v[i].g;
		if (l->v[i].state == CA_STATE_NEXT)
			next = l->v[i].g;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct gen *g = l->v[i].g;
		struct ca_authority_info *a = &out[(*n)++];

		*a = (struct ca_authority_info){
			.jwt = g->jwt,
			.state = l->v[i].state,
			.start = g->start,
			.not_after = g->not_after,
			.prepare_at = prepare_at(g),
			.activate_at = g == active && next ? next_takes_over(g, next) : activate_at(g),
		};
		snprintf(a->id, sizeof(a->id), "%s", g->id);
	}
}

int ca_status(struct ca *ca, struct ca_authority_info **ret, size_t *ret_n)
{
	struct ca_authority_info *v;
	size_t n = 0;

	pthread_mutex_lock(&ca->lock);
	v = calloc(ca->x509.n + ca->jwt.n + 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&ca->lock);
		return -ENOMEM;
	}
	fill_info(&ca->x509, v, &n);
	fill_info(&ca->jwt, v, &n);
	pthread_mutex_unlock(&ca->lock);
	*ret = v;
	*ret_n = n;
	return 0;
}
