// SPDX-License-Identifier: Apache-2.0
/*
 * Tests of trust bundles (user/bundle.c): the SPIFFE bundle and JWKS shapes
 * read back with json-c, DER and PEM encodings, parsing foreign bundles by
 * the specs' ignore/refuse rules, bundle sets, and the base64 codecs of
 * user/ossl.h that the JWKs are written with.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include "bundle.h"
#include "ca.h"
#include "cleanup.h"
#include "ossl.h"
#include "test.h"

#define TD "example.org"

static void rmrf(char **dir)
{
	char cmd[512];

	if (!*dir)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", *dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", *dir);
	free(*dir);
}
#define _cleanup_tmpdir_ _cleanup_(rmrf)

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/attestd-test-bundle-XXXXXX";

	return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}

static void ca_freep(struct ca **ca)
{
	ca_free(*ca);
}
#define _cleanup_ca_ _cleanup_(ca_freep)

static void bundle_unrefp(struct bundle **b)
{
	bundle_unref(*b);
}
#define _cleanup_bundle_ _cleanup_(bundle_unrefp)

static void bundle_set_unrefp(struct bundle_set **s)
{
	bundle_set_unref(*s);
}

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The EC point of k as the JWK x and y should carry it. */
static int point_xy(EVP_PKEY *k, unsigned char x[32], unsigned char y[32])
{
	unsigned char pt[65];
	size_t len;

	if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
					     &len) ||
	    len != 65 || pt[0] != 4)
		return -EINVAL;
	memcpy(x, pt + 1, 32);
	memcpy(y, pt + 33, 32);
	return 0;
}

static int b64url_is(const char *s, const unsigned char *want, size_t n)
{
	_cleanup_free_ unsigned char *raw = NULL;
	size_t len;

	return s && ossl_b64_decode(s, strlen(s), true, &raw, &len) == 0 && len == n &&
	       memcmp(raw, want, n) == 0;
}

static int ca_and_bundle(const char *dir, uint64_t seq, struct ca **ca, struct bundle **b)
{
	struct ca_opts o = { .data_dir = dir, .trust_domain = TD };
	int r = ca_open(&o, ca);

	return r ? r : ca_bundle(*ca, seq, b);
}

TEST(bundle_spiffe_bundle_shape)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_bundle_ struct bundle *b = NULL;
	_cleanup_json_ json_object *root = NULL;
	struct ca_x509_signer xs;
	struct ca_jwt_signer js;
	json_object *keys, *v;
	const char *json;
	size_t len;
	int nx = 0, nj = 0;

	ASSERT_OK(ca_and_bundle(dir, 7, &ca, &b));
	bundle_spiffe_json(b, &json, &len);
	ASSERT_EQ(strlen(json), len);
	root = json_tokener_parse(json);
	ASSERT_NOT_NULL(root);
	ASSERT_TRUE(json_object_object_get_ex(root, "spiffe_sequence", &v));
	ASSERT_EQ(json_object_get_int64(v), 7);
	ASSERT_TRUE(json_object_object_get_ex(root, "spiffe_refresh_hint", &v));
	ASSERT_EQ(json_object_get_int64(v), ca_refresh_hint(ca));
	ASSERT_TRUE(json_object_object_get_ex(root, "keys", &keys));
	ASSERT_TRUE(json_object_is_type(keys, json_type_array));
	ASSERT_EQ(json_object_array_length(keys), 2);
	ASSERT_OK(ca_x509_signer_get(ca, &xs));
	ASSERT_OK(ca_jwt_signer_get(ca, &js));
	for (size_t i = 0; i < json_object_array_length(keys); i++) {
		json_object *k = json_object_array_get_idx(keys, i), *x5c;
		const char *use = jstr(k, "use");
		unsigned char x[32], y[32];
		bool ok;

		ASSERT_NOT_NULL(use);
		ASSERT_STREQ(jstr(k, "kty"), "EC");
		ASSERT_STREQ(jstr(k, "crv"), "P-256");
		ASSERT_EQ(strlen(jstr(k, "x")), 43); /* 32 bytes, unpadded base64url */
		ASSERT_EQ(strlen(jstr(k, "y")), 43);
		if (strcmp(use, "x509-svid") == 0) {
			_cleanup_free_ unsigned char *der = NULL;
			_cleanup_(OPENSSL_freep) unsigned char *want = NULL;
			size_t dlen;
			int wlen = i2d_X509(xs.cert, &want);

			nx++;
			/* X509-SVID 6.1: no kid; x5c exactly one standard-base64 DER. */
			ASSERT_FALSE(json_object_object_get_ex(k, "kid", NULL));
			ASSERT_TRUE(json_object_object_get_ex(k, "x5c", &x5c));
			ASSERT_EQ(json_object_array_length(x5c), 1);
			v = json_object_array_get_idx(x5c, 0);
			ASSERT_OK(ossl_b64_decode(json_object_get_string(v),
						  strlen(json_object_get_string(v)), false, &der,
						  &dlen));
			ASSERT_EQ(dlen, wlen);
			ASSERT_TRUE(memcmp(der, want, dlen) == 0);
			ASSERT_OK(point_xy(X509_get0_pubkey(xs.cert), x, y));
		} else if (strcmp(use, "jwt-svid") == 0) {
			nj++;
			ASSERT_STREQ(jstr(k, "kid"), js.kid);
			ASSERT_FALSE(json_object_object_get_ex(k, "x5c", NULL));
			ASSERT_OK(point_xy(js.key, x, y));
		} else {
			FAIL("unexpected use %s", use);
		}
		ok = b64url_is(jstr(k, "x"), x, 32) && b64url_is(jstr(k, "y"), y, 32);
		ASSERT_TRUE(ok);
		/* Public keys only. */
		ASSERT_FALSE(json_object_object_get_ex(k, "d", NULL));
	}
	ca_x509_signer_put(&xs);
	ca_jwt_signer_put(&js);
	ASSERT_EQ(nx, 1);
	ASSERT_EQ(nj, 1);
	ASSERT_TRUE(strstr(json, "\\/") == NULL); /* no escaped slashes in x5c */
}

TEST(bundle_jwks_for_fetch_jwt_bundles)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_bundle_ struct bundle *b = NULL;
	_cleanup_json_ json_object *root = NULL;
	json_object *keys, *k;
	const char *json;
	size_t len;
	int n = 0;

	ASSERT_OK(ca_and_bundle(dir, 3, &ca, &b));
	bundle_jwks(b, &json, &len);
	root = json_tokener_parse(json);
	ASSERT_NOT_NULL(root);
	json_object_object_foreach(root, key, val)
	{
		(void)val;
		if (strcmp(key, "keys") != 0)
			FAIL("JWKS has member %s", key);
		n++;
	}
	ASSERT_EQ(n, 1);
	ASSERT_TRUE(json_object_object_get_ex(root, "keys", &keys));
	ASSERT_EQ(json_object_array_length(keys), 1);
	k = json_object_array_get_idx(keys, 0);
	ASSERT_STREQ(jstr(k, "use"), "jwt-svid");
	ASSERT_STREQ(jstr(k, "kty"), "EC");
	ASSERT_STREQ(jstr(k, "crv"), "P-256");
	ASSERT_NOT_NULL(jstr(k, "kid"));
	ASSERT_NOT_NULL(jstr(k, "x"));
	ASSERT_NOT_NULL(jstr(k, "y"));
}

TEST(bundle_roundtrip_through_spiffe_json)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_bundle_ struct bundle *b = NULL, *back = NULL;
	const char *json;
	size_t len;
	char err[256] = "";

	ASSERT_OK(ca_and_bundle(dir, 42, &ca, &b));
	/* Rotate once so that the bundle holds two of each. */
	ASSERT_OK(ca_tick(ca, time(NULL) + CA_DEFAULT_TTL / 2 + 1, NULL));
	bundle_unref(TAKE_PTR(b));
	ASSERT_OK(ca_bundle(ca, 42, &b));
	ASSERT_EQ(bundle_x509_count(b), 2);
	ASSERT_EQ(bundle_jwt_count(b), 2);
	bundle_spiffe_json(b, &json, &len);
	ASSERT_OK(bundle_parse_spiffe("example.org", json, len, &back, err, sizeof(err)));
	ASSERT_TRUE(bundle_same_keys(b, back));
	ASSERT_EQ(bundle_sequence(back), 42);
	ASSERT_EQ(bundle_refresh_hint(back), bundle_refresh_hint(b));
	ASSERT_STREQ(bundle_trust_domain(back), TD);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(X509_cmp(bundle_x509_at(b, i), bundle_x509_at(back, i)), 0);
	for (size_t i = 0; i < 2; i++) {
		ASSERT_STREQ(bundle_jwt_at(back, i)->kid, bundle_jwt_at(b, i)->kid);
		ASSERT_EQ(EVP_PKEY_eq(bundle_jwt_at(back, i)->key, bundle_jwt_at(b, i)->key), 1);
	}
	/* Another bundle of the same keys with another sequence: same keys. */
	{
		_cleanup_bundle_ struct bundle *c = NULL;

		ASSERT_OK(ca_bundle(ca, 43, &c));
		ASSERT_TRUE(bundle_same_keys(b, c));
		ASSERT_OK(ca_tick(ca, time(NULL) + CA_DEFAULT_TTL + 1, NULL));
		bundle_unref(TAKE_PTR(c));
		ASSERT_OK(ca_bundle(ca, 44, &c));
		ASSERT_FALSE(bundle_same_keys(b, c));
	}
}

TEST(bundle_holds_no_private_keys)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_bundle_ struct bundle *b = NULL;
	_cleanup_bn_ BIGNUM *priv = NULL;

	ASSERT_OK(ca_and_bundle(dir, 1, &ca, &b));
	ASSERT_EQ(bundle_jwt_count(b), 1);
	ASSERT_FALSE(EVP_PKEY_get_bn_param(bundle_jwt_at(b, 0)->key, OSSL_PKEY_PARAM_PRIV_KEY,
					   &priv));
	ERR_clear_error();
}

TEST(bundle_x509_der_and_pem)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_bundle_ struct bundle *b = NULL;
	_cleanup_free_ char *pem = NULL;
	_cleanup_bio_ BIO *bio = NULL;
	const unsigned char *der, *p, *end;
	size_t len;
	int n = 0;
	X509 *c;

	ASSERT_OK(ca_and_bundle(dir, 1, &ca, &b));
	ASSERT_OK(ca_tick(ca, time(NULL) + CA_DEFAULT_TTL / 2 + 1, NULL));
	bundle_unref(TAKE_PTR(b));
	ASSERT_OK(ca_bundle(ca, 2, &b));
	ASSERT_EQ(bundle_x509_count(b), 2);

	bundle_x509_der(b, &der, &len);
	for (p = der, end = der + len; p < end; n++) {
		c = d2i_X509(NULL, &p, end - p);
		ASSERT_NOT_NULL(c);
		ASSERT_EQ(X509_cmp(c, bundle_x509_at(b, n)), 0);
		X509_free(c);
	}
	ASSERT_EQ(n, 2);
	ASSERT_TRUE(p == end);

	ASSERT_OK(bundle_x509_pem(b, &pem));
	bio = BIO_new_mem_buf(pem, -1);
	for (n = 0; (c = PEM_read_bio_X509(bio, NULL, NULL, NULL)); n++)
		X509_free(c);
	ERR_clear_error();
	ASSERT_EQ(n, 2);

	/* No authorities: empty DER, empty PEM, still a valid bundle. */
	{
		_cleanup_bundle_ struct bundle *e = NULL;
		_cleanup_free_ char *epem = NULL;

		ASSERT_OK(bundle_new("empty.org", NULL, NULL, 0, 0, 0, &e));
		bundle_x509_der(e, &der, &len);
		ASSERT_EQ(len, 0);
		ASSERT_OK(bundle_x509_pem(e, &epem));
		ASSERT_STREQ(epem, "");
	}
}

/* The JWK x and y members of an EC P-256 key. */
static int jwk_xy(EVP_PKEY *key, char **x, char **y)
{
	unsigned char xb[32], yb[32];

	if (point_xy(key, xb, yb) || ossl_b64_encode(xb, 32, true, x) ||
	    ossl_b64_encode(yb, 32, true, y))
		return -EINVAL;
	return 0;
}

/* A SPIFFE bundle as another implementation might publish it, built from
 * our own certificate and key so that the interesting parts are valid. */
static char *foreign_json(X509 *cert, EVP_PKEY *key, const char *extra_keys)
{
	_cleanup_(OPENSSL_freep) unsigned char *der = NULL;
	_cleanup_free_ char *x5c = NULL, *x = NULL, *y = NULL;
	unsigned char xb[32], yb[32];
	int len = i2d_X509(cert, &der);
	char *out;

	if (len <= 0 || ossl_b64_encode(der, len, false, &x5c) || point_xy(key, xb, yb) ||
	    ossl_b64_encode(xb, 32, true, &x) || ossl_b64_encode(yb, 32, true, &y))
		return NULL;
	if (asprintf(&out,
		     "{\"spiffe_sequence\":9,\"keys\":["
		     "{\"use\":\"x509-svid\",\"kty\":\"EC\",\"crv\":\"P-256\",\"x5c\":[\"%s\",\"%s\"]},"
		     "{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k1\",\"x\":\"%s\",\"y\":\"%s\"}"
		     "%s]}\n",
		     x5c, x5c, x, y, extra_keys) < 0)
		return NULL;
	return out;
}

TEST(bundle_parse_foreign_ignores_what_the_spec_says_to)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_bundle_ struct bundle *b = NULL;
	_cleanup_free_ char *json = NULL;
	struct ca_x509_signer xs;
	struct ca_jwt_signer js;
	char err[256] = "";

	ASSERT_OK(ca_and_bundle(dir, 1, &ca, &b));
	bundle_unref(TAKE_PTR(b));
	ASSERT_OK(ca_x509_signer_get(ca, &xs));
	ASSERT_OK(ca_jwt_signer_get(ca, &js));
	json = foreign_json(
		xs.cert, js.key,
		",{\"use\":\"wit-svid\",\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"w\"}"	  /* unknown use */
		",{\"use\":\"jwt-svid\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"u\",\"x\":\"AA\"}" /* unknown kty/crv */
		",{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}" /* no kid */
		",{\"use\":\"x509-svid\",\"kty\":\"EC\"}"					  /* no x5c */
		",{\"use\":\"x509-svid\",\"x5c\":[]}"						  /* empty x5c */
		",{\"kty\":\"EC\"}");								  /* no use */
	ca_x509_signer_put(&xs);
	ASSERT_NOT_NULL(json);
	ASSERT_OK(bundle_parse_spiffe("other.org", json, strlen(json), &b, err, sizeof(err)));
	ASSERT_STREQ(bundle_trust_domain(b), "other.org");
	ASSERT_EQ(bundle_sequence(b), 9);
	ASSERT_EQ(bundle_refresh_hint(b), 0);
	ASSERT_EQ(bundle_x509_count(b), 1); /* only the first of x5c counts */
	ASSERT_EQ(bundle_jwt_count(b), 1);
	ASSERT_NOT_NULL(bundle_jwt_find(b, "k1"));
	ASSERT_EQ(EVP_PKEY_eq(bundle_jwt_find(b, "k1")->key, js.key), 1);
	ASSERT_TRUE(bundle_jwt_find(b, "w") == NULL);
	ca_jwt_signer_put(&js);
}

TEST(bundle_parse_refuses_malformed)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_bundle_ struct bundle *b = NULL;
	_cleanup_free_ char *dup_kid = NULL, *off_curve = NULL;
	struct ca_x509_signer xs;
	struct ca_jwt_signer js;
	char err[256];
	static const char x_ok[] = "\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"";

	ASSERT_OK(ca_and_bundle(dir, 1, &ca, &b));
	bundle_unref(TAKE_PTR(b));
	ASSERT_OK(ca_x509_signer_get(ca, &xs));
	ASSERT_OK(ca_jwt_signer_get(ca, &js));
	{
		_cleanup_free_ char *x = NULL, *y = NULL, *extra = NULL;

		ASSERT_OK(jwk_xy(js.key, &x, &y));
		ASSERT_TRUE(asprintf(&extra,
				     ",{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
				     "\"kid\":\"k1\",\"x\":\"%s\",\"y\":\"%s\"}",
				     x, y) > 0);
		dup_kid = foreign_json(xs.cert, js.key, extra);
	}
	ASSERT_TRUE(asprintf(&off_curve,
			     "{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\","
			     "\"kid\":\"k\",%s,\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}]}",
			     x_ok) > 0);
	ca_x509_signer_put(&xs);
	ca_jwt_signer_put(&js);
	{
		static const char *const bad[] = {
			"",
			"not json",
			"[]",
			"{}",
			"{\"keys\":{}}",
			"{\"keys\":[1]}",
			"{\"keys\":[]} trailing",
			"{\"keys\":[],\"spiffe_sequence\":-1}",
			"{\"keys\":[],\"spiffe_sequence\":\"1\"}",
			"{\"keys\":[{\"use\":\"x509-svid\",\"x5c\":[\"%%%%\"]}]}",
			"{\"keys\":[{\"use\":\"x509-svid\",\"x5c\":[\"AAAA\"]}]}",
			"{\"keys\":[{\"use\":\"jwt-svid\",\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"k\","
			"\"x\":\"AA\",\"y\":\"AA\"}]}",
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			int r;

			err[0] = '\0';
			r = bundle_parse_spiffe("other.org", bad[i], strlen(bad[i]), &b, err,
						sizeof(err));
			if (r != -EINVAL || !err[0])
				FAIL("%s: got %d \"%s\", expected -EINVAL with a reason", bad[i], r,
				     err);
		}
	}
	err[0] = '\0';
	ASSERT_ERR(bundle_parse_spiffe("other.org", dup_kid, strlen(dup_kid), &b, err, sizeof(err)),
		   -EINVAL);
	test_diag("duplicate kid: %s", err);
	ASSERT_TRUE(strstr(err, "duplicate kid") != NULL);
	err[0] = '\0';
	ASSERT_ERR(bundle_parse_spiffe("other.org", off_curve, strlen(off_curve), &b, err,
				       sizeof(err)),
		   -EINVAL);
	test_diag("off-curve point: %s", err);
	ASSERT_ERR(bundle_parse_spiffe("Other.org", "{\"keys\":[]}", 11, &b, err, sizeof(err)),
		   -EINVAL);
	ASSERT_OK(bundle_parse_spiffe("other.org", "{\"keys\":[]}", 11, &b, err, sizeof(err)));
}

TEST(bundle_new_refuses_bad_input)
{
	_cleanup_pkey_ EVP_PKEY *k = EVP_EC_gen("P-256");
	_cleanup_bundle_ struct bundle *b = NULL;
	struct bundle_jwt_key dup[] = { { "a", k }, { "a", k } }, nokid[] = { { "", k } };

	ASSERT_ERR(bundle_new("example.org", NULL, dup, 2, 0, 0, &b), -EINVAL);
	ASSERT_ERR(bundle_new("example.org", NULL, nokid, 1, 0, 0, &b), -EINVAL);
	ASSERT_ERR(bundle_new("spiffe://example.org", NULL, NULL, 0, 0, 0, &b), -EINVAL);
	ASSERT_OK(bundle_new("example.org", NULL, dup, 1, 0, 0, &b));
}

TEST(bundle_set_put_get_replace_remove)
{
	_cleanup_(bundle_set_unrefp) struct bundle_set *s = NULL;
	_cleanup_bundle_ struct bundle *a = NULL, *b = NULL, *a2 = NULL, *got = NULL;
	struct bundle **snap = NULL;
	size_t n;

	ASSERT_OK(bundle_set_new(&s));
	ASSERT_OK(bundle_new("b.org", NULL, NULL, 0, 1, 0, &b));
	ASSERT_OK(bundle_new("a.org", NULL, NULL, 0, 1, 0, &a));
	ASSERT_OK(bundle_new("a.org", NULL, NULL, 0, 2, 0, &a2));
	ASSERT_OK(bundle_set_put(s, b));
	ASSERT_OK(bundle_set_put(s, a));
	got = bundle_set_get(s, "a.org");
	ASSERT_TRUE(got == a);
	/* Replacing a does not free the reference a reader holds. */
	ASSERT_OK(bundle_set_put(s, a2));
	bundle_unref(TAKE_PTR(a));
	ASSERT_EQ(bundle_sequence(got), 1);
	bundle_unref(TAKE_PTR(got));
	got = bundle_set_get(s, "a.org");
	ASSERT_EQ(bundle_sequence(got), 2);
	ASSERT_TRUE(bundle_set_get(s, "c.org") == NULL);

	ASSERT_OK(bundle_set_snapshot(s, &snap, &n));
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(bundle_trust_domain(snap[0]), "a.org");
	ASSERT_STREQ(bundle_trust_domain(snap[1]), "b.org");
	for (size_t i = 0; i < n; i++)
		bundle_unref(snap[i]);
	free(snap);

	ASSERT_OK(bundle_set_remove(s, "b.org"));
	ASSERT_ERR(bundle_set_remove(s, "b.org"), -ENOENT);
	ASSERT_TRUE(bundle_set_get(s, "b.org") == NULL);
}

TEST(bundle_base64_codec)
{
	static const struct {
		const char *raw, *std, *url;
	} vec[] = {
		/* RFC 4648 section 10, plus bytes that differ between the alphabets */
		{ "", "", "" },		      { "f", "Zg==", "Zg" },
		{ "fo", "Zm8=", "Zm8" },      { "foo", "Zm9v", "Zm9v" },
		{ "foob", "Zm9vYg==", "Zm9vYg" }, { "fooba", "Zm9vYmE=", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy", "Zm9vYmFy" }, { "\xfb\xff\xbf", "+/+/", "-_-_" },
	};
	static const char *const bad_url[] = { "Zg=", "Zg==", "Z", "Zh", "+/+/", "Zm9v YmFy",
					       "Zm9\n" };
	static const char *const bad_std[] = { "Zg", "Zg=", "Zh==", "-_-_", "Z===", "Zg=a", "=Zg=" };

	for (size_t i = 0; i < ARRAY_SIZE(vec); i++) {
		_cleanup_free_ char *s = NULL, *u = NULL;
		_cleanup_free_ unsigned char *d1 = NULL, *d2 = NULL;
		size_t n = strlen(vec[i].raw), l1, l2;

		ASSERT_OK(ossl_b64_encode(vec[i].raw, n, false, &s));
		ASSERT_OK(ossl_b64_encode(vec[i].raw, n, true, &u));
		ASSERT_STREQ(s, vec[i].std);
		ASSERT_STREQ(u, vec[i].url);
		ASSERT_OK(ossl_b64_decode(vec[i].std, strlen(vec[i].std), false, &d1, &l1));
		ASSERT_OK(ossl_b64_decode(vec[i].url, strlen(vec[i].url), true, &d2, &l2));
		ASSERT_EQ(l1, n);
		ASSERT_EQ(l2, n);
		ASSERT_TRUE(memcmp(d1, vec[i].raw, n) == 0 && memcmp(d2, vec[i].raw, n) == 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_url); i++) {
		unsigned char *d = NULL;
		size_t l;

		if (ossl_b64_decode(bad_url[i], strlen(bad_url[i]), true, &d, &l) != -EINVAL) {
			free(d);
			FAIL("base64url \"%s\" accepted", bad_url[i]);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_std); i++) {
		unsigned char *d = NULL;
		size_t l;

		if (ossl_b64_decode(bad_std[i], strlen(bad_std[i]), false, &d, &l) != -EINVAL) {
			free(d);
			FAIL("base64 \"%s\" accepted", bad_std[i]);
		}
	}
}
