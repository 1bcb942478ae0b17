// SPDX-License-Identifier: Apache-2.0
/*
 * Trust bundles: building one from certificates and keys, its encodings
 * (DER concatenation, PEM, JWKS, SPIFFE bundle), parsing a SPIFFE bundle
 * from a foreign trust domain, and the set of bundles by trust domain.
 * JWK conversion follows RFC 7517/7518; the SPIFFE rules are from the
 * Trust Domain and Bundle, X509-SVID (section 6) and JWT-SVID specs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include "bundle.h"
#include "cleanup.h"
#include "ossl.h"
#include "spiffeid.h"

struct bundle {
	int refcount;
	char *td;
	uint64_t sequence;
	int64_t refresh_hint;
	STACK_OF(X509) *x509;
	struct bundle_jwt_key *jwt; /* kid and key owned here */
	size_t njwt;
	unsigned char *der;
	size_t der_len;
	char *jwks;
	size_t jwks_len;
	char *spiffe;
	size_t spiffe_len;
};

struct bundle_set {
	int refcount;
	pthread_mutex_t lock;
	struct bundle **v; /* sorted by trust domain */
	size_t n, cap;
};

static inline void json_object_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static void bundle_unrefp(struct bundle **b)
{
	if (*b)
		bundle_unref(*b);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* JOSE curve names and OpenSSL group names, with the coordinate size. */
static const struct {
	const char *crv, *group;
	size_t size;
} curves[] = {
	{ "P-256", "prime256v1", 32 },
	{ "P-384", "secp384r1", 48 },
	{ "P-521", "secp521r1", 66 },
};

static int add_str(json_object *o, const char *k, const char *v)
{
	json_object *s = json_object_new_string(v);

	if (!s || json_object_object_add(o, k, s)) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

static int add_b64url(json_object *o, const char *k, const unsigned char *v, size_t len)
{
	_cleanup_free_ char *s = NULL;
	int r = ossl_b64_encode(v, len, true, &s);

	return r ? r : add_str(o, k, s);
}

static int add_bn(json_object *o, const char *k, const BIGNUM *bn, size_t pad)
{
	_cleanup_free_ unsigned char *buf = NULL;
	size_t len = pad ? pad : (size_t)BN_num_bytes(bn);

	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	if (BN_bn2binpad(bn, buf, (int)len) < 0)
		return -EINVAL;
	return add_b64url(o, k, buf, len);
}

/* The public key members of a JWK (kty and its parameters) for k. */
static int jwk_add_key(json_object *o, EVP_PKEY *k)
{
	int r;

	if (EVP_PKEY_is_a(k, "EC")) {
		_cleanup_bn_ BIGNUM *x = NULL, *y = NULL;
		char group[64];

		if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
						    sizeof(group), NULL))
			return -EOPNOTSUPP;
		for (size_t i = 0; i < ARRAY_SIZE(curves); i++) {
			if (strcmp(group, curves[i].group) != 0)
				continue;
			if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
			    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
				return -EINVAL;
			if ((r = add_str(o, "kty", "EC")) || (r = add_str(o, "crv", curves[i].crv)) ||
			    (r = add_bn(o, "x", x, curves[i].size)) ||
			    (r = add_bn(o, "y", y, curves[i].size)))
				return r;
			return 0;
		}
		return -EOPNOTSUPP;
	}
	if (EVP_PKEY_is_a(k, "RSA")) {
		_cleanup_bn_ BIGNUM *n = NULL, *e = NULL;

		if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) ||
		    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e))
			return -EINVAL;
		if ((r = add_str(o, "kty", "RSA")) || (r = add_bn(o, "n", n, 0)) ||
		    (r = add_bn(o, "e", e, 0)))
			return r;
		return 0;
	}
	if (EVP_PKEY_is_a(k, "ED25519")) {
		unsigned char raw[32];
		size_t len = sizeof(raw);

		if (!EVP_PKEY_get_raw_public_key(k, raw, &len))
			return -EINVAL;
		if ((r = add_str(o, "kty", "OKP")) || (r = add_str(o, "crv", "Ed25519")) ||
		    (r = add_b64url(o, "x", raw, len)))
			return r;
		return 0;
	}
	return -EOPNOTSUPP;
}

static int jwk_x509(X509 *cert, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object(), *x5c = json_object_new_array();
	_cleanup_free_ unsigned char *der = NULL;
	_cleanup_free_ char *b64 = NULL;
	json_object *s;
	int len, r;

	if (!o || !x5c)
		return -ENOMEM;
	if ((r = add_str(o, "use", "x509-svid")) || (r = jwk_add_key(o, X509_get0_pubkey(cert))))
		return r;
	len = i2d_X509(cert, NULL);
	if (len <= 0 || !(der = malloc(len)))
		return -ENOMEM;
	{
		unsigned char *p = der;

		i2d_X509(cert, &p);
	}
	if ((r = ossl_b64_encode(der, len, false, &b64)))
		return r;
	s = json_object_new_string(b64);
	if (!s || json_object_array_add(x5c, s)) {
		json_object_put(s);
		return -ENOMEM;
	}
	if (json_object_object_add(o, "x5c", x5c))
		return -ENOMEM;
	x5c = NULL;
	*ret = TAKE_PTR(o);
	return 0;
}

static int jwk_jwt(const struct bundle_jwt_key *k, json_object **ret)
{
	_cleanup_json_ json_object *o = json_object_new_object();
	int r;

	if (!o)
		return -ENOMEM;
	if ((r = add_str(o, "use", "jwt-svid")) || (r = add_str(o, "kid", k->kid)) ||
	    (r = jwk_add_key(o, k->key)))
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

static int json_dup(json_object *o, char **ret, size_t *ret_len)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	if (!s || !(*ret = strndup(s, len)))
		return -ENOMEM;
	*ret_len = len;
	return 0;
}

/* Prepares the DER, JWKS and SPIFFE encodings of a filled-in bundle. */
static int bundle_encode(struct bundle *b)
{
	_cleanup_json_ json_object *spiffe = json_object_new_object(), *keys = json_object_new_array(),
				   *jwks = json_object_new_object(),
				   *jwt_keys = json_object_new_array();
	size_t off = 0;
	int r;

	if (!spiffe || !keys || !jwks || !jwt_keys)
		return -ENOMEM;
	for (int i = 0; i < sk_X509_num(b->x509); i++) {
		int len = i2d_X509(sk_X509_value(b->x509, i), NULL);

		if (len <= 0)
			return -EINVAL;
		b->der_len += len;
	}
	b->der = malloc(b->der_len ? b->der_len : 1);
	if (!b->der)
		return -ENOMEM;
	for (int i = 0; i < sk_X509_num(b->x509); i++) {
		X509 *c = sk_X509_value(b->x509, i);
		unsigned char *p = b->der + off;
		json_object *jwk = NULL;

		off += i2d_X509(c, &p);
		if ((r = jwk_x509(c, &jwk)))
			return r;
		if (json_object_array_add(keys, jwk)) {
			json_object_put(jwk);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < b->njwt; i++) {
		json_object *jwk = NULL, *jwk2 = NULL;

		if ((r = jwk_jwt(&b->jwt[i], &jwk)))
			return r;
		if (json_object_array_add(keys, jwk)) {
			json_object_put(jwk);
			return -ENOMEM;
		}
		if ((r = jwk_jwt(&b->jwt[i], &jwk2)))
			return r;
		if (json_object_array_add(jwt_keys, jwk2)) {
			json_object_put(jwk2);
			return -ENOMEM;
		}
	}
	if (json_object_object_add(spiffe, "keys", keys))
		return -ENOMEM;
	keys = NULL;
	if (json_object_object_add(spiffe, "spiffe_sequence",
				   json_object_new_uint64(b->sequence)))
		return -ENOMEM;
	if (b->refresh_hint > 0 &&
	    json_object_object_add(spiffe, "spiffe_refresh_hint",
				   json_object_new_int64(b->refresh_hint)))
		return -ENOMEM;
	if (json_object_object_add(jwks, "keys", jwt_keys))
		return -ENOMEM;
	jwt_keys = NULL;
	if ((r = json_dup(spiffe, &b->spiffe, &b->spiffe_len)) ||
	    (r = json_dup(jwks, &b->jwks, &b->jwks_len)))
		return r;
	return 0;
}

static struct bundle *bundle_alloc(const char *td, uint64_t sequence, int64_t refresh_hint)
{
	struct bundle *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->refcount = 1;
	b->sequence = sequence;
	b->refresh_hint = refresh_hint;
	b->td = strdup(td);
	b->x509 = sk_X509_new_null();
	if (!b->td || !b->x509)
		return bundle_unref(b);
	return b;
}

/* The public half of k, as a key of its own. */
static int pkey_public(EVP_PKEY *k, EVP_PKEY **ret)
{
	_cleanup_free_ unsigned char *der = NULL;
	const unsigned char *p;
	unsigned char *q;
	int len = i2d_PUBKEY(k, NULL);

	if (len <= 0)
		return -EOPNOTSUPP;
	der = malloc(len);
	if (!der)
		return -ENOMEM;
	q = der;
	i2d_PUBKEY(k, &q);
	p = der;
	*ret = d2i_PUBKEY(NULL, &p, len);
	return *ret ? 0 : -ENOMEM;
}

static int bundle_add_jwt(struct bundle *b, const char *kid, EVP_PKEY *key)
{
	struct bundle_jwt_key *v;
	_cleanup_pkey_ EVP_PKEY *pub = NULL;
	int r;

	if (!kid || !kid[0] || bundle_jwt_find(b, kid))
		return -EINVAL;
	if ((r = pkey_public(key, &pub)))
		return r;
	v = realloc(b->jwt, (b->njwt + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	b->jwt = v;
	v[b->njwt].kid = strdup(kid);
	if (!v[b->njwt].kid)
		return -ENOMEM;
	v[b->njwt++].key = TAKE_PTR(pub);
	return 0;
}

int bundle_new(const char *trust_domain, STACK_OF(X509) *x509_authorities,
	       const struct bundle_jwt_key *jwt_keys, size_t njwt, uint64_t sequence,
	       int64_t refresh_hint, struct bundle **ret)
{
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	int r;

	if (!trust_domain || trust_domain_validate(trust_domain, NULL, 0))
		return -EINVAL;
	b = bundle_alloc(trust_domain, sequence, refresh_hint);
	if (!b)
		return -ENOMEM;
	for (int i = 0; i < sk_X509_num(x509_authorities); i++) {
		X509 *c = sk_X509_value(x509_authorities, i);

		if (!sk_X509_push(b->x509, c))
			return -ENOMEM;
		X509_up_ref(c);
	}
	for (size_t i = 0; i < njwt; i++)
		if ((r = bundle_add_jwt(b, jwt_keys[i].kid, jwt_keys[i].key)))
			return r;
	if ((r = bundle_encode(b)))
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

/* Parses exactly len bytes of JSON (trailing whitespace allowed). */
static int json_parse(const char *s, size_t len, json_object **ret)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;
	size_t end;

	if (!tok)
		return -ENOMEM;
	if (len > INT32_MAX) {
		json_tokener_free(tok);
		return -E2BIG;
	}
	o = json_tokener_parse_ex(tok, s, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	while (end < len && (s[end] == ' ' || s[end] == '\n' || s[end] == '\r' || s[end] == '\t'))
		end++;
	if (end != len) {
		json_object_put(o);
		return -EINVAL;
	}
	*ret = o;
	return 0;
}

static const char *jwk_str(json_object *jwk, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(jwk, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int jwk_b64url(json_object *jwk, const char *k, unsigned char **ret, size_t *ret_len)
{
	const char *s = jwk_str(jwk, k);

	if (!s)
		return -EINVAL;
	return ossl_b64_decode(s, strlen(s), true, ret, ret_len);
}

static int pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **ret)
{
	_cleanup_params_ OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	_cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	_cleanup_pkey_ctx_ EVP_PKEY_CTX *check = NULL;
	_cleanup_pkey_ EVP_PKEY *k = NULL;

	if (!params || !ctx)
		return -ENOMEM;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		return -EINVAL;
	/* A point off the curve would make every signature check meaningless. */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	if (!check || EVP_PKEY_public_check(check) != 1)
		return -EINVAL;
	*ret = TAKE_PTR(k);
	return 0;
}

/* A JWK's public key.  1 when its kty/crv is one we do not know (ignored). */
static int jwk_pkey(json_object *jwk, EVP_PKEY **ret, char *err, size_t errlen)
{
	const char *kty = jwk_str(jwk, "kty"), *crv = jwk_str(jwk, "crv");
	_cleanup_param_bld_ OSSL_PARAM_BLD *bld = NULL;
	_cleanup_free_ unsigned char *x = NULL, *y = NULL, *pt = NULL;
	size_t xlen, ylen;
	int r;

	if (!kty)
		return 1;
	if (strcmp(kty, "EC") == 0) {
		for (size_t i = 0; crv && i < ARRAY_SIZE(curves); i++) {
			if (strcmp(crv, curves[i].crv) != 0)
				continue;
			if (jwk_b64url(jwk, "x", &x, &xlen) || jwk_b64url(jwk, "y", &y, &ylen) ||
			    xlen != curves[i].size || ylen != curves[i].size) {
				seterr(err, errlen, "EC key: x and y must be %zu-byte base64url",
				       curves[i].size);
				return -EINVAL;
			}
			pt = malloc(1 + 2 * xlen);
			bld = OSSL_PARAM_BLD_new();
			if (!pt || !bld)
				return -ENOMEM;
			pt[0] = 0x04; /* uncompressed point, SEC 1 2.3.3 */
			memcpy(pt + 1, x, xlen);
			memcpy(pt + 1 + xlen, y, ylen);
			if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
							     curves[i].group, 0) ||
			    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
							      1 + 2 * xlen))
				return -ENOMEM;
			r = pkey_fromdata("EC", bld, ret);
			if (r == -EINVAL)
				seterr(err, errlen, "EC key: point is not on curve %s", crv);
			return r;
		}
		return 1;
	}
	if (strcmp(kty, "RSA") == 0) {
		_cleanup_bn_ BIGNUM *n = NULL, *e = NULL;

		if (jwk_b64url(jwk, "n", &x, &xlen) || jwk_b64url(jwk, "e", &y, &ylen) || !xlen ||
		    !ylen) {
			seterr(err, errlen, "RSA key: n and e must be base64url");
			return -EINVAL;
		}
		n = BN_bin2bn(x, (int)xlen, NULL);
		e = BN_bin2bn(y, (int)ylen, NULL);
		bld = OSSL_PARAM_BLD_new();
		if (!n || !e || !bld)
			return -ENOMEM;
		if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			return -ENOMEM;
		r = pkey_fromdata("RSA", bld, ret);
		if (r == -EINVAL)
			seterr(err, errlen, "RSA key: not a valid public key");
		return r;
	}
	if (strcmp(kty, "OKP") == 0 && crv && strcmp(crv, "Ed25519") == 0) {
		if (jwk_b64url(jwk, "x", &x, &xlen) || xlen != 32) {
			seterr(err, errlen, "Ed25519 key: x must be 32-byte base64url");
			return -EINVAL;
		}
		*ret = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen);
		return *ret ? 0 : -EINVAL;
	}
	return 1;
}

static int parse_x509_entry(struct bundle *b, json_object *jwk, size_t i, char *err,
			    size_t errlen)
{
	_cleanup_free_ unsigned char *der = NULL;
	const unsigned char *p;
	json_object *x5c, *first;
	const char *s;
	size_t len;
	X509 *c;

	/* X509-SVID 6.2: no or empty x5c means ignore; only the first counts. */
	if (!json_object_object_get_ex(jwk, "x5c", &x5c) ||
	    !json_object_is_type(x5c, json_type_array) || json_object_array_length(x5c) == 0)
		return 0;
	first = json_object_array_get_idx(x5c, 0);
	s = json_object_is_type(first, json_type_string) ? json_object_get_string(first) : NULL;
	if (!s || ossl_b64_decode(s, strlen(s), false, &der, &len)) {
		seterr(err, errlen, "keys[%zu]: x5c[0] is not base64", i);
		return -EINVAL;
	}
	p = der;
	c = d2i_X509(NULL, &p, (long)len);
	if (!c || p != der + len) {
		X509_free(c);
		seterr(err, errlen, "keys[%zu]: x5c[0] is not a DER certificate", i);
		return -EINVAL;
	}
	if (!sk_X509_push(b->x509, c)) {
		X509_free(c);
		return -ENOMEM;
	}
	return 0;
}

static int parse_jwt_entry(struct bundle *b, json_object *jwk, size_t i, char *err,
			   size_t errlen)
{
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	const char *kid = jwk_str(jwk, "kid");
	char why[128] = "";
	int r;

	if (!kid || !kid[0])
		return 0; /* a JWT key without kid cannot be selected: ignored */
	r = jwk_pkey(jwk, &k, why, sizeof(why));
	if (r == 1)
		return 0;
	if (r) {
		seterr(err, errlen, "keys[%zu] (kid %s): %s", i, kid, why[0] ? why : strerror(-r));
		return r;
	}
	if (bundle_jwt_find(b, kid)) {
		seterr(err, errlen, "keys[%zu]: duplicate kid %s", i, kid);
		return -EINVAL;
	}
	return bundle_add_jwt(b, kid, k);
}

int bundle_parse_spiffe(const char *trust_domain, const char *json, size_t len,
			struct bundle **ret, char *err, size_t errlen)
{
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	_cleanup_json_ json_object *root = NULL;
	json_object *keys, *v;
	uint64_t seq = 0;
	int64_t hint = 0;
	int r;

	if (!trust_domain || trust_domain_validate(trust_domain, err, errlen))
		return -EINVAL;
	if (json_parse(json, len, &root) || !json_object_is_type(root, json_type_object)) {
		seterr(err, errlen, "not a JSON object");
		return -EINVAL;
	}
	if (!json_object_object_get_ex(root, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array)) {
		seterr(err, errlen, "no \"keys\" array");
		return -EINVAL;
	}
	if (json_object_object_get_ex(root, "spiffe_sequence", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
			seterr(err, errlen, "spiffe_sequence must be a non-negative integer");
			return -EINVAL;
		}
		seq = json_object_get_uint64(v);
	}
	if (json_object_object_get_ex(root, "spiffe_refresh_hint", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
			seterr(err, errlen, "spiffe_refresh_hint must be a non-negative integer");
			return -EINVAL;
		}
		hint = json_object_get_int64(v);
	}
	b = bundle_alloc(trust_domain, seq, hint);
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < json_object_array_length(keys); i++) {
		json_object *jwk = json_object_array_get_idx(keys, i);
		const char *use;

		if (!json_object_is_type(jwk, json_type_object)) {
			seterr(err, errlen, "keys[%zu] is not an object", i);
			return -EINVAL;
		}
		use = jwk_str(jwk, "use");
		if (!use)
			continue;
		if (strcmp(use, "x509-svid") == 0)
			r = parse_x509_entry(b, jwk, i, err, errlen);
		else if (strcmp(use, "jwt-svid") == 0)
			r = parse_jwt_entry(b, jwk, i, err, errlen);
		else
			r = 0; /* unknown use: ignored, as the bundle spec says */
		if (r)
			return r;
	}
	if ((r = bundle_encode(b)))
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

struct bundle *bundle_ref(struct bundle *b)
{
	if (b)
		__atomic_add_fetch(&b->refcount, 1, __ATOMIC_RELAXED);
	return b;
}

struct bundle *bundle_unref(struct bundle *b)
{
	if (!b || __atomic_sub_fetch(&b->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	for (size_t i = 0; i < b->njwt; i++) {
		free((char *)b->jwt[i].kid);
		EVP_PKEY_free(b->jwt[i].key);
	}
	free(b->jwt);
	if (b->x509)
		sk_X509_pop_free(b->x509, X509_free);
	free(b->td);
	free(b->der);
	free(b->jwks);
	free(b->spiffe);
	free(b);
	return NULL;
}

const char *bundle_trust_domain(const struct bundle *b)
{
	return b->td;
}

uint64_t bundle_sequence(const struct bundle *b)
{
	return b->sequence;
}

int64_t bundle_refresh_hint(const struct bundle *b)
{
	return b->refresh_hint;
}

int bundle_x509_count(const struct bundle *b)
{
	return sk_X509_num(b->x509);
}

X509 *bundle_x509_at(const struct bundle *b, int i)
{
	return sk_X509_value(b->x509, i);
}

size_t bundle_jwt_count(const struct bundle *b)
{
	return b->njwt;
}

const struct bundle_jwt_key *bundle_jwt_at(const struct bundle *b, size_t i)
{
	return i < b->njwt ? &b->jwt[i] : NULL;
}

const struct bundle_jwt_key *bundle_jwt_find(const struct bundle *b, const char *kid)
{
	for (size_t i = 0; kid && i < b->njwt; i++)
		if (strcmp(b->jwt[i].kid, kid) == 0)
			return &b->jwt[i];
	return NULL;
}

void bundle_x509_der(const struct bundle *b, const unsigned char **ret, size_t *ret_len)
{
	*ret = b->der;
	*ret_len = b->der_len;
}

void bundle_jwks(const struct bundle *b, const char **ret, size_t *ret_len)
{
	*ret = b->jwks;
	*ret_len = b->jwks_len;
}

void bundle_spiffe_json(const struct bundle *b, const char **ret, size_t *ret_len)
{
	*ret = b->spiffe;
	*ret_len = b->spiffe_len;
}

int bundle_x509_pem(const struct bundle *b, char **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long len;

	if (!bio)
		return -ENOMEM;
	for (int i = 0; i < sk_X509_num(b->x509); i++)
		if (!PEM_write_bio_X509(bio, sk_X509_value(b->x509, i)))
			return -ENOMEM;
	len = BIO_get_mem_data(bio, &data);
	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;
	if (len > 0)
		memcpy(s, data, len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

bool bundle_same_keys(const struct bundle *a, const struct bundle *b)
{
	return strcmp(a->td, b->td) == 0 && a->der_len == b->der_len &&
	       memcmp(a->der, b->der, a->der_len) == 0 && strcmp(a->jwks, b->jwks) == 0;
}

int bundle_set_new(struct bundle_set **ret)
{
	struct bundle_set *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->refcount = 1;
	pthread_mutex_init(&s->lock, NULL);
	*ret = s;
	return 0;
}

struct bundle_set *bundle_set_ref(struct bundle_set *s)
{
	if (s)
		__atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
	return s;
}

struct bundle_set *bundle_set_unref(struct bundle_set *s)
{
	if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		bundle_unref(s->v[i]);
	free(s->v);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

/* Index of td, or of where it would go; *found says which.  Lock held. */
static size_t set_find(const struct bundle_set *s, const char *td, bool *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid]->td, td);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int bundle_set_put(struct bundle_set *s, struct bundle *b)
{
	bool found;
	size_t i;

	pthread_mutex_lock(&s->lock);
	i = set_find(s, b->td, &found);
	if (found) {
		bundle_unref(s->v[i]);
		s->v[i] = bundle_ref(b);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 4;
		struct bundle **v = realloc(s->v, cap * sizeof(*v));

		if (!v) {
			pthread_mutex_unlock(&s->lock);
			return -ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i] = bundle_ref(b);
	s->n++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int bundle_set_remove(struct bundle_set *s, const char *td)
{
	bool found;
	size_t i;

	pthread_mutex_lock(&s->lock);
	i = set_find(s, td, &found);
	if (!found) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	bundle_unref(s->v[i]);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

struct bundle *bundle_set_get(struct bundle_set *s, const char *td)
{
	struct bundle *b = NULL;
	bool found;
	size_t i;

	pthread_mutex_lock(&s->lock);
	i = set_find(s, td, &found);
	if (found)
		b = bundle_ref(s->v[i]);
	pthread_mutex_unlock(&s->lock);
	return b;
}

int bundle_set_snapshot(struct bundle_set *s, struct bundle ***ret, size_t *ret_n)
{
	struct bundle **v;

	pthread_mutex_lock(&s->lock);
	v = calloc(s->n ? s->n : 1, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++)
		v[i] = bundle_ref(s->v[i]);
	*ret_n = s->n;
	pthread_mutex_unlock(&s->lock);
	*ret = v;
	return 0;
}
