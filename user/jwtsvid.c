// SPDX-License-Identifier: Apache-2.0
/*
 * JWT-SVID minting and validation (rules and their order in jwtsvid.h).
 * JSON is json-c's; base64url and signatures are OpenSSL's.  ECDSA
 * signatures are converted between JOSE's fixed-width r||s and the DER
 * ECDSA-Sig-Value OpenSSL signs and verifies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include "cleanup.h"
#include "jwtsvid.h"
#include "ossl.h"
#include "spiffeid.h"

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

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The JWT-SVID allow-list (spec 2.1: RFC 7518 3.3, 3.4, 3.5). */
enum key_kind { KIND_RSA, KIND_RSA_PSS, KIND_EC };
static const struct jws_alg {
	const char *name;
	const char *md;
	enum key_kind kind;
	const char *group; /* EC only */
	size_t half;	   /* EC only: bytes of r and of s */
} jws_algs[] = {
	{ "RS256", "SHA256", KIND_RSA },
	{ "RS384", "SHA384", KIND_RSA },
	{ "RS512", "SHA512", KIND_RSA },
	{ "ES256", "SHA256", KIND_EC, "prime256v1", 32 },
	{ "ES384", "SHA384", KIND_EC, "secp384r1", 48 },
	{ "ES512", "SHA512", KIND_EC, "secp521r1", 66 },
	{ "PS256", "SHA256", KIND_RSA_PSS },
	{ "PS384", "SHA384", KIND_RSA_PSS },
	{ "PS512", "SHA512", KIND_RSA_PSS },
};

static int b64url(const void *data, size_t len, char **ret)
{
	return ossl_b64_encode(data, len, true, ret);
}

static int json_str(json_object *o, char **ret)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &len);

	if (!s || !(*ret = strndup(s, len)))
		return -ENOMEM;
	return 0;
}

static int add(json_object *o, const char *k, json_object *v)
{
	if (!v || json_object_object_add(o, k, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* DER ECDSA-Sig-Value to JOSE r||s, each left-padded to half bytes. */
static int ecdsa_der_to_jose(const unsigned char *der, size_t len, size_t half,
			     unsigned char *out)
{
	const unsigned char *p = der;
	_cleanup_ecdsa_sig_ ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;

	if (!sig)
		return -EINVAL;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, out, (int)half) < 0 || BN_bn2binpad(s, out + half, (int)half) < 0)
		return -EINVAL;
	return 0;
}

/* JOSE r||s to DER, for EVP_DigestVerify. */
static int ecdsa_jose_to_der(const unsigned char *rs, size_t half, unsigned char **ret,
			     int *ret_len)
{
	_cleanup_ecdsa_sig_ ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(rs, (int)half, NULL), *s = BN_bin2bn(rs + half, (int)half, NULL);

	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		BN_free(r);
		BN_free(s);
		return -ENOMEM;
	}
	*ret = NULL;
	*ret_len = i2d_ECDSA_SIG(sig, ret);
	return *ret_len > 0 ? 0 : -ENOMEM;
}

int jwtsvid_mint_with(const struct ca_jwt_signer *signer, const char *spiffe_id,
		      const char *const *audiences, size_t naud, int64_t ttl, time_t now,
		      char **ret_token)
{
	_cleanup_json_ json_object *hdr = json_object_new_object(), *claims = json_object_new_object();
	_cleanup_free_ char *hjson = NULL, *cjson = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL,
			    *input = NULL;
	_cleanup_md_ctx_ EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[80], rs[64];
	size_t derlen = sizeof(der);
	struct spiffeid id;
	int64_t exp;
	char *token;
	int r;

	if (!hdr || !claims || !md)
		return -ENOMEM;
	if (!now)
		now = time(NULL);
	if (!ttl)
		ttl = JWTSVID_DEFAULT_TTL;
	if (ttl < 0 || naud == 0 || naud > JWTSVID_MAX_AUDIENCES ||
	    spiffeid_parse(spiffe_id, &id, NULL, 0) || id.path_len == 0 ||
	    !spiffeid_in_trust_domain(&id, signer->trust_domain))
		return -EINVAL;
	for (size_t i = 0; i < naud; i++)
		if (!audiences[i] || !audiences[i][0])
			return -EINVAL;
	exp = ttl > signer->not_after - now ? signer->not_after : now + ttl;
	if (exp <= now)
		return -EKEYEXPIRED;

	if ((r = add(hdr, "alg", json_object_new_string("ES256"))) ||
	    (r = add(hdr, "kid", json_object_new_string(signer->kid))) ||
	    (r = add(hdr, "typ", json_object_new_string("JWT"))) ||
	    (r = add(claims, "sub", json_object_new_string(spiffe_id))))
		return r;
	if (naud == 1) {
		r = add(claims, "aud", json_object_new_string(audiences[0]));
	} else {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; arr && i < naud; i++) {
			if (json_object_array_add(arr, json_object_new_string(audiences[i]))) {
				json_object_put(arr);
				arr = NULL;
			}
		}
		r = add(claims, "aud", arr);
	}
	if (r || (r = add(claims, "exp", json_object_new_int64(exp))) ||
	    (r = add(claims, "iat", json_object_new_int64(now))))
		return r;
	if ((r = json_str(hdr, &hjson)) || (r = json_str(claims, &cjson)) ||
	    (r = b64url(hjson, strlen(hjson), &h64)) || (r = b64url(cjson, strlen(cjson), &c64)))
		return r;
	if (asprintf(&input, "%s.%s", h64, c64) < 0)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signer->key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
		return -EINVAL;
	if ((r = ecdsa_der_to_jose(der, derlen, 32, rs)) || (r = b64url(rs, sizeof(rs), &s64)))
		return r;
	if (asprintf(&token, "%s.%s", input, s64) < 0)
		return -ENOMEM;
	*ret_token = token;
	return 0;
}

int jwtsvid_mint(struct ca *ca, const char *spiffe_id, const char *const *audiences,
		 size_t naud, int64_t ttl, time_t now, char **ret_token)
{
	struct ca_jwt_signer s;
	int r = ca_jwt_signer_get(ca, &s);

	if (r)
		return r;
	r = jwtsvid_mint_with(&s, spiffe_id, audiences, naud, ttl, now, ret_token);
	ca_jwt_signer_put(&s);
	return r;
}

void jwtsvid_claims_free(struct jwtsvid_claims *c)
{
	if (!c)
		return;
	free(c->spiffe_id);
	for (size_t i = 0; i < c->naudiences; i++)
		free(c->audiences[i]);
	free(c->audiences);
	free(c->kid);
	free(c->alg);
	free(c->json);
	free(c);
}

static void jwtsvid_claims_freep(struct jwtsvid_claims **c)
{
	jwtsvid_claims_free(*c);
}

/* A base64url part that must hold one JSON object. */
static int decode_json(const char *s, size_t len, json_object **ret, char **ret_text)
{
	_cleanup_free_ unsigned char *raw = NULL;
	struct json_tokener *tok;
	json_object *o;
	size_t n;

	if (ossl_b64_decode(s, len, true, &raw, &n) || n == 0 || memchr(raw, 0, n))
		return -EBADMSG;
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, (const char *)raw, (int)n);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != n || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	if (ret_text && !(*ret_text = strndup((const char *)raw, n))) {
		json_object_put(o);
		return -ENOMEM;
	}
	*ret = o;
	return 0;
}

static const char *get_str(json_object *o, const char *k, bool *present)
{
	json_object *v;

	*present = json_object_object_get_ex(o, k, &v);
	if (!*present || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* A NumericDate (RFC 7519 2): a JSON number, integer or not. */
static int get_time(json_object *o, const char *k, int64_t *ret, bool *present)
{
	json_object *v;

	*present = json_object_object_get_ex(o, k, &v);
	if (!*present)
		return -ENOENT;
	if (json_object_is_type(v, json_type_int)) {
		*ret = json_object_get_int64(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		if (!(d > -9.2e18 && d < 9.2e18))
			return -EBADMSG;
		*ret = (int64_t)d;
		return 0;
	}
	return -EBADMSG;
}

static bool key_fits(EVP_PKEY *k, const struct jws_alg *a)
{
	char group[32];

	if (a->kind == KIND_EC)
		return EVP_PKEY_is_a(k, "EC") &&
		       EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
						      sizeof(group), NULL) &&
		       strcmp(group, a->group) == 0;
	/* RFC 7518 3.3 and 3.5: RSA keys of 2048 bits or more. */
	return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
}

static int verify(EVP_PKEY *k, const struct jws_alg *a, const char *input, size_t inlen,
		  const unsigned char *sig, size_t siglen, const char **reason)
{
	_cleanup_md_ctx_ EVP_MD_CTX *md = EVP_MD_CTX_new();
	_cleanup_ossl_free_ unsigned char *der = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int derlen, r;

	if (!md)
		return -ENOMEM;
	if (a->kind == KIND_EC) {
		if (siglen != 2 * a->half) {
			*reason = "signature has the wrong length for alg";
			return -EBADMSG;
		}
		if ((r = ecdsa_jose_to_der(sig, a->half, &der, &derlen)))
			return r;
		sig = der;
		siglen = derlen;
	}
	if (EVP_DigestVerifyInit_ex(md, &pctx, a->md, NULL, NULL, k, NULL) != 1)
		return -ENOMEM;
	if (a->kind == KIND_RSA_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		return -ENOMEM;
	r = EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input, inlen);
	ERR_clear_error();
	if (r != 1) {
		*reason = "signature is invalid";
		return -EKEYREJECTED;
	}
	return 0;
}

static int check_header(json_object *hdr, const struct jws_alg **ret_alg, const char **ret_kid,
			const char **reason)
{
	const char *alg, *typ, *kid;
	bool present;

	alg = get_str(hdr, "alg", &present);
	if (!alg) {
		*reason = "header has no alg";
		return -EBADMSG;
	}
	if (strcmp(alg, "none") == 0) {
		*reason = "alg none is not allowed";
		return -EOPNOTSUPP;
	}
	if (alg[0] == 'H' && alg[1] == 'S') {
		*reason = "HMAC algs are not allowed";
		return -EOPNOTSUPP;
	}
	*ret_alg = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(jws_algs); i++)
		if (strcmp(alg, jws_algs[i].name) == 0)
			*ret_alg = &jws_algs[i];
	if (!*ret_alg) {
		*reason = "alg is not one JWT-SVID allows";
		return -EOPNOTSUPP;
	}
	typ = get_str(hdr, "typ", &present);
	if (present && (!typ || (strcmp(typ, "JWT") != 0 && strcmp(typ, "JOSE") != 0))) {
		*reason = "typ must be JWT or JOSE";
		return -EBADMSG;
	}
	json_object_object_foreach(hdr, k, v)
	{
		(void)v;
		if (strcmp(k, "alg") != 0 && strcmp(k, "kid") != 0 && strcmp(k, "typ") != 0) {
			*reason = "header has a parameter JWT-SVID does not allow";
			return -EOPNOTSUPP;
		}
	}
	kid = get_str(hdr, "kid", &present);
	if (!kid || !kid[0]) {
		*reason = "header has no kid";
		return -EBADMSG;
	}
	*ret_kid = kid;
	return 0;
}

/* aud as a list: a string or a non-empty array of strings. */
static int get_audiences(json_object *claims, struct jwtsvid_claims *c, const char **reason)
{
	json_object *aud;
	size_t n;

	if (!json_object_object_get_ex(claims, "aud", &aud)) {
		*reason = "aud claim is missing";
		return -EBADMSG;
	}
	if (json_object_is_type(aud, json_type_string)) {
		c->audiences = calloc(1, sizeof(char *));
		if (!c->audiences || !(c->audiences[0] = strdup(json_object_get_string(aud))))
			return -ENOMEM;
		c->naudiences = 1;
		return 0;
	}
	if (!json_object_is_type(aud, json_type_array) || (n = json_object_array_length(aud)) == 0) {
		*reason = "aud claim is not a string or a non-empty array of strings";
		return -EBADMSG;
	}
	c->audiences = calloc(n, sizeof(char *));
	if (!c->audiences)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(aud, i);

		if (!json_object_is_type(v, json_type_string)) {
			*reason = "aud claim is not a string or a non-empty array of strings";
			return -EBADMSG;
		}
		if (!(c->audiences[i] = strdup(json_object_get_string(v))))
			return -ENOMEM;
		c->naudiences++;
	}
	return 0;
}

static int validate(struct bundle_set *bundles, const char *token, const char *audience,
		    time_t now, struct jwtsvid_claims **ret, const char **reason)
{
	_cleanup_(jwtsvid_claims_freep) struct jwtsvid_claims *c = NULL;
	_cleanup_json_ json_object *hdr = NULL, *claims = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	_cleanup_free_ unsigned char *sig = NULL;
	_cleanup_free_ char *td = NULL;
	const struct bundle_jwt_key *key;
	const struct jws_alg *alg;
	const char *dot1, *dot2, *sub, *kid;
	struct spiffeid id;
	size_t len, siglen;
	int64_t exp, nbf;
	bool present, found = false;
	int r;

	*reason = "internal error";
	if (!audience || !audience[0]) {
		*reason = "no audience to validate against";
		return -EINVAL;
	}
	len = token ? strnlen(token, JWTSVID_MAX_LEN + 1) : 0;
	if (len == 0 || len > JWTSVID_MAX_LEN) {
		*reason = len ? "token is too long" : "token is empty";
		return -EBADMSG;
	}
	/* Compact serialization: exactly three parts (RFC 7515 7.1). */
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (!dot2) {
		*reason = "token has fewer than 3 parts";
		return -EBADMSG;
	}
	if (strchr(dot2 + 1, '.')) {
		*reason = "token has more than 3 parts";
		return -EBADMSG;
	}
	if ((r = decode_json(token, dot1 - token, &hdr, NULL))) {
		*reason = "header is not a base64url JSON object";
		return r;
	}
	if ((r = check_header(hdr, &alg, &kid, reason)))
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if ((r = decode_json(dot1 + 1, dot2 - dot1 - 1, &claims, &c->json))) {
		*reason = "payload is not a base64url JSON object";
		return r;
	}
	if (ossl_b64_decode(dot2 + 1, strlen(dot2 + 1), true, &sig, &siglen) || siglen == 0) {
		*reason = "signature is not base64url";
		return -EBADMSG;
	}

	/* The key: by kid, in the bundle of the trust domain sub names. */
	sub = get_str(claims, "sub", &present);
	if (!sub) {
		*reason = present ? "sub claim is not a string" : "sub claim is missing";
		return -EBADMSG;
	}
	if (spiffeid_parse(sub, &id, NULL, 0) || id.path_len == 0) {
		*reason = "sub claim is not a SPIFFE ID of a workload";
		return -EBADMSG;
	}
	td = strndup(id.td, id.td_len);
	if (!td)
		return -ENOMEM;
	b = bundle_set_get(bundles, td);
	if (!b) {
		*reason = "no bundle for the trust domain of sub";
		return -ENOKEY;
	}
	key = bundle_jwt_find(b, kid);
	if (!key) {
		*reason = "kid is not in the JWT bundle of the trust domain of sub";
		return -ENOKEY;
	}
	if (!key_fits(key->key, alg)) {
		*reason = "key type does not fit alg";
		return -EKEYREJECTED;
	}
	if ((r = verify(key->key, alg, token, dot2 - token, sig, siglen, reason)))
		return r;

	/* Signed by the trust domain: now what it says. */
	if ((r = get_time(claims, "exp", &exp, &present))) {
		*reason = present ? "exp claim is not a number" : "exp claim is missing";
		return -EBADMSG;
	}
	if (exp <= now) {
		*reason = "token has expired";
		return -EKEYEXPIRED;
	}
	r = get_time(claims, "nbf", &nbf, &present);
	if (present && r) {
		*reason = "nbf claim is not a number";
		return -EBADMSG;
	}
	if (present && nbf > now) {
		*reason = "token is not valid yet";
		return -EKEYEXPIRED;
	}
	if ((r = get_audiences(claims, c, reason)))
		return r;
	for (size_t i = 0; i < c->naudiences && !found; i++)
		found = strcmp(c->audiences[i], audience) == 0;
	if (!found) {
		*reason = "audience does not match";
		return -EACCES;
	}
	if (get_time(claims, "iat", &c->iat, &present))
		c->iat = 0;
	c->exp = exp;
	c->spiffe_id = strdup(sub);
	c->kid = strdup(kid);
	c->alg = strdup(alg->name);
	if (!c->spiffe_id || !c->kid || !c->alg)
		return -ENOMEM;
	if (ret)
		*ret = TAKE_PTR(c);
	*reason = NULL;
	return 0;
}

int jwtsvid_validate(struct bundle_set *bundles, const char *token, const char *audience,
		     time_t now, struct jwtsvid_claims **ret, const char **ret_reason)
{
	const char *reason;
	int r = validate(bundles, token, audience, now ? now : time(NULL), ret, &reason);

	if (ret_reason)
		*ret_reason = reason;
	return r;
}
