// SPDX-License-Identifier: Apache-2.0
/*
 * Tests of JWT-SVIDs (user/jwtsvid.c): the shape of minted tokens, their
 * signature checked by python3-cryptography, and a table of forged and
 * broken tokens that validation must refuse, each with its reason.  Tokens
 * are forged here with OpenSSL directly, so that "signed but wrong" (no
 * exp, no aud, nbf ahead) is tested apart from "not signed".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include "bundle.h"
#include "ca.h"
#include "cleanup.h"
#include "jwtsvid.h"
#include "ossl.h"
#include "test.h"

#define TD "example.org"
#define ID "spiffe://" TD "/web"
#define PY "/usr/bin/python3"

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
	char tmpl[] = "/tmp/attestd-test-jwt-XXXXXX";

	return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}

/* A CA, its bundle in a set, and the active JWT key, for one test. */
struct fixture {
	char *dir;
	struct ca *ca;
	struct bundle_set *set;
	struct ca_jwt_signer signer;
};

static void fixture_done(struct fixture *f)
{
	if (f->signer.ref)
		ca_jwt_signer_put(&f->signer);
	bundle_set_unref(f->set);
	ca_free(f->ca);
	rmrf(&f->dir);
}
#define _cleanup_fixture_ _cleanup_(fixture_done)

static int fixture_init(struct fixture *f, time_t now, int64_t jwt_ttl)
{
	struct ca_opts o = { .trust_domain = TD, .now = now, .jwt_key_ttl = jwt_ttl };
	struct bundle *b = NULL;
	int r;

	*f = (struct fixture){ 0 };
	f->dir = make_tmpdir();
	if (!f->dir)
		return -errno;
	o.data_dir = f->dir;
	if ((r = ca_open(&o, &f->ca)) || (r = bundle_set_new(&f->set)) ||
	    (r = ca_bundle(f->ca, 1, &b)))
		return r;
	r = bundle_set_put(f->set, b);
	bundle_unref(b);
	if (r)
		return r;
	return ca_jwt_signer_get(f->ca, &f->signer);
}

static char *b64url(const void *p, size_t n)
{
	char *s = NULL;

	return ossl_b64_encode(p, n, true, &s) ? NULL : s;
}

static char *b64url_str(const char *s)
{
	return b64url(s, strlen(s));
}

/* A JWS signature by key for alg over input, as JOSE wants it. */
static int jws_sign(EVP_PKEY *key, const char *alg, const char *input, unsigned char *out,
		    size_t *outlen)
{
	_cleanup_md_ctx_ EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const char *mdname = strstr(alg, "384") ? "SHA384" : strstr(alg, "512") ? "SHA512" : "SHA256";
	unsigned char der[1024];
	size_t derlen = sizeof(der);

	if (EVP_DigestSignInit_ex(md, &pctx, mdname, NULL, NULL, key, NULL) != 1)
		return -EINVAL;
	if (alg[0] == 'P' && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
			      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		return -EINVAL;
	if (EVP_DigestSign(md, der, &derlen, (const unsigned char *)input, strlen(input)) != 1)
		return -EINVAL;
	if (alg[0] == 'E') {
		const unsigned char *p = der;
		_cleanup_ecdsa_sig_ ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
		size_t half = strstr(alg, "384") ? 48 : strstr(alg, "512") ? 66 : 32;
		const BIGNUM *r, *s;

		if (!sig)
			return -EINVAL;
		ECDSA_SIG_get0(sig, &r, &s);
		BN_bn2binpad(r, out, (int)half);
		BN_bn2binpad(s, out + half, (int)half);
		*outlen = 2 * half;
		return 0;
	}
	memcpy(out, der, derlen);
	*outlen = derlen;
	return 0;
}

/* header.payload.signature from JSON texts; key NULL leaves the signature
 * as sig_text (for "none", junk and the like). */
static char *forge(const char *header, const char *payload, EVP_PKEY *key, const char *alg,
		   const char *sig_text)
{
	_cleanup_free_ char *h = b64url_str(header), *p = b64url_str(payload), *input = NULL,
			    *s = NULL;
	unsigned char sig[1024];
	size_t siglen;
	char *tok;

	if (!h || !p || asprintf(&input, "%s.%s", h, p) < 0)
		return NULL;
	if (key) {
		if (jws_sign(key, alg, input, sig, &siglen) || !(s = b64url(sig, siglen)))
			return NULL;
	}
	return asprintf(&tok, "%s.%s", input, key ? s : sig_text) < 0 ? NULL : tok;
}

static char *header_for(const char *alg, const char *kid)
{
	char *h;

	return asprintf(&h, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg, kid) < 0 ? NULL :
												  h;
}

static char *claims_for(const char *sub, const char *aud, long long exp)
{
	char *c;

	return asprintf(&c, "{\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld}", sub, aud, exp) < 0 ?
		       NULL :
		       c;
}

static json_object *decode_part(const char *tok, int part)
{
	const char *p = tok, *end;
	_cleanup_free_ unsigned char *raw = NULL;
	_cleanup_free_ char *text = NULL;
	size_t n;

	for (int i = 0; i < part; i++)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	if (!end)
		end = p + strlen(p);
	if (ossl_b64_decode(p, end - p, true, &raw, &n) || !(text = strndup((char *)raw, n)))
		return NULL;
	return json_tokener_parse(text);
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(jwt_valid_token_passes)
{
	_cleanup_fixture_ struct fixture f;
	_cleanup_free_ char *tok = NULL;
	struct jwtsvid_claims *c = NULL;
	const char *aud[] = { "spiffe://" TD "/db" };
	const char *reason = "unset";
	time_t now = time(NULL);

	ASSERT_OK(fixture_init(&f, 0, 0));
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 1, 60, now, &tok));
	ASSERT_OK(jwtsvid_validate(f.set, tok, aud[0], now + 1, &c, &reason));
	ASSERT_TRUE(reason == NULL);
	ASSERT_STREQ(c->spiffe_id, ID);
	ASSERT_EQ(c->naudiences, 1);
	ASSERT_STREQ(c->audiences[0], aud[0]);
	ASSERT_EQ(c->exp, now + 60);
	ASSERT_EQ(c->iat, now);
	ASSERT_STREQ(c->kid, f.signer.kid);
	ASSERT_STREQ(c->alg, "ES256");
	ASSERT_TRUE(strstr(c->json, "\"sub\":\"" ID "\"") != NULL);
	jwtsvid_claims_free(c);
	/* The last second before exp is still valid; exp itself is not. */
	ASSERT_OK(jwtsvid_validate(f.set, tok, aud[0], now + 59, NULL, NULL));
	ASSERT_ERR(jwtsvid_validate(f.set, tok, aud[0], now + 60, NULL, &reason), -EKEYEXPIRED);
	ASSERT_STREQ(reason, "token has expired");
}

TEST(jwt_header_and_claims_shape)
{
	_cleanup_fixture_ struct fixture f;
	_cleanup_free_ char *one = NULL, *two = NULL;
	_cleanup_free_ unsigned char *sig = NULL;
	json_object *h, *c, *v;
	const char *aud[] = { "a", "b" };
	const char *s;
	time_t now = time(NULL);
	size_t siglen;
	int keys = 0;

	ASSERT_OK(fixture_init(&f, 0, 0));
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 1, 0, now, &one));
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 2, 0, now, &two));

	h = decode_part(one, 0);
	ASSERT_NOT_NULL(h);
	json_object_object_foreach(h, k, val)
	{
		(void)k;
		(void)val;
		keys++;
	}
	ASSERT_EQ(keys, 3);
	ASSERT_TRUE(json_object_object_get_ex(h, "alg", &v));
	ASSERT_STREQ(json_object_get_string(v), "ES256");
	ASSERT_TRUE(json_object_object_get_ex(h, "typ", &v));
	ASSERT_STREQ(json_object_get_string(v), "JWT");
	ASSERT_TRUE(json_object_object_get_ex(h, "kid", &v));
	ASSERT_STREQ(json_object_get_string(v), f.signer.kid);
	json_object_put(h);

	c = decode_part(one, 1);
	ASSERT_NOT_NULL(c);
	ASSERT_TRUE(json_object_object_get_ex(c, "sub", &v));
	ASSERT_STREQ(json_object_get_string(v), ID);
	ASSERT_TRUE(json_object_object_get_ex(c, "aud", &v));
	ASSERT_TRUE(json_object_is_type(v, json_type_string)); /* one audience: a string */
	ASSERT_STREQ(json_object_get_string(v), "a");
	ASSERT_TRUE(json_object_object_get_ex(c, "exp", &v));
	ASSERT_EQ(json_object_get_int64(v), now + JWTSVID_DEFAULT_TTL);
	ASSERT_TRUE(json_object_object_get_ex(c, "iat", &v));
	ASSERT_EQ(json_object_get_int64(v), now);
	json_object_put(c);

	c = decode_part(two, 1);
	ASSERT_NOT_NULL(c);
	ASSERT_TRUE(json_object_object_get_ex(c, "aud", &v));
	ASSERT_TRUE(json_object_is_type(v, json_type_array)); /* two: an array */
	ASSERT_EQ(json_object_array_length(v), 2);
	ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(v, 1)), "b");
	json_object_put(c);

	/* r||s, 64 bytes, base64url without padding. */
	s = strrchr(one, '.') + 1;
	ASSERT_TRUE(strchr(s, '=') == NULL && strchr(s, '+') == NULL && strchr(s, '/') == NULL);
	ASSERT_OK(ossl_b64_decode(s, strlen(s), true, &sig, &siglen));
	ASSERT_EQ(siglen, 64);
	ASSERT_OK(jwtsvid_validate(f.set, two, "b", now, NULL, NULL));
}

/* The signature as another implementation reads it: python3-cryptography
 * verifies r||s with the public key taken from our JWKS. */
TEST(jwt_signature_verifies_with_python_cryptography)
{
	_cleanup_fixture_ struct fixture f;
	_cleanup_free_ char *tok = NULL, *cmd = NULL;
	struct bundle *b;
	const char *aud[] = { "x" }, *jwks;
	size_t len;
	static const char script[] =
		"import base64,json,sys\n"
		"from cryptography.hazmat.primitives import hashes\n"
		"from cryptography.hazmat.primitives.asymmetric import ec, utils\n"
		"d=lambda s: base64.urlsafe_b64decode(s+'='*(-len(s)%4))\n"
		"tok,jwks=sys.argv[1],json.loads(sys.argv[2])\n"
		"h,p,s=tok.split('.')\n"
		"kid=json.loads(d(h))['kid']\n"
		"k=[k for k in jwks['keys'] if k['kid']==kid][0]\n"
		"pub=ec.EllipticCurvePublicNumbers(int.from_bytes(d(k['x']),'big'),"
		"int.from_bytes(d(k['y']),'big'),ec.SECP256R1()).public_key()\n"
		"sig=d(s); assert len(sig)==64\n"
		"der=utils.encode_dss_signature(int.from_bytes(sig[:32],'big'),int.from_bytes(sig[32:],'big'))\n"
		"pub.verify(der,(h+'.'+p).encode(),ec.ECDSA(hashes.SHA256()))\n";

	if (run(PY " -c 'import cryptography' 2>/dev/null") != 0)
		SKIP(PY " has no python3-cryptography");
	ASSERT_OK(fixture_init(&f, 0, 0));
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 1, 60, 0, &tok));
	b = bundle_set_get(f.set, TD);
	ASSERT_NOT_NULL(b);
	bundle_jwks(b, &jwks, &len);
	ASSERT_TRUE(asprintf(&cmd, PY " -c \"$S\" '%s' '%s'", tok, jwks) > 0);
	setenv("S", script, 1);
	int r = run(cmd);

	bundle_unref(b);
	ASSERT_EQ(r, 0);
}

struct bad_case {
	const char *name;
	char *token;
	const char *audience;
	int err;
	const char *reason;
};

TEST(jwt_refusals_each_with_reason)
{
	_cleanup_fixture_ struct fixture f;
	_cleanup_pkey_ EVP_PKEY *stranger = EVP_EC_gen("P-256");
	_cleanup_free_ char *good = NULL, *expired = NULL, *hdr = NULL, *hdr_other_kid = NULL,
			    *claims = NULL, *tampered_sig = NULL, *tampered_payload = NULL,
			    *hdr_b64 = NULL, *tmp = NULL, *payload2 = NULL;
	char *sig_part;
	const char *aud[] = { "db" };
	time_t now = time(NULL);
	long long exp = now + 60;
	EVP_PKEY *k;
	struct bad_case cases[32];
	size_t n = 0;

	ASSERT_OK(fixture_init(&f, 0, 0));
	k = f.signer.key;
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 1, 60, now, &good));
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 1, 60, now - 1000, &expired));
	ASSERT_OK(jwtsvid_validate(f.set, good, "db", now, NULL, NULL));
	hdr = header_for("ES256", f.signer.kid);
	hdr_other_kid = header_for("ES256", "no-such-kid");
	claims = claims_for(ID, "db", exp);

	/* The good token with one signature character changed in the middle. */
	tampered_sig = strdup(good);
	sig_part = strrchr(tampered_sig, '.') + 10;
	*sig_part = *sig_part == 'A' ? 'B' : 'A';
	/* The good token's signature on another payload. */
	payload2 = b64url_str("{\"sub\":\"spiffe://" TD "/admin\",\"aud\":\"db\",\"exp\":9999999999}");
	hdr_b64 = strndup(good, strchr(good, '.') - good);
	ASSERT_TRUE(asprintf(&tampered_payload, "%s.%s%s", hdr_b64, payload2, strrchr(good, '.')) >
		    0);

#define CASE(n_, tok_, aud_, err_, reason_)                                                        \
	cases[n++] = (struct bad_case){ n_, tok_, aud_, err_, reason_ }
	CASE("expired", strdup(expired), "db", -EKEYEXPIRED, "token has expired");
	CASE("wrong audience", strdup(good), "other", -EACCES, "audience does not match");
	CASE("unknown kid", forge(hdr_other_kid, claims, k, "ES256", NULL), "db", -ENOKEY,
	     "kid is not in the JWT bundle of the trust domain of sub");
	CASE("alg none", forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL, NULL, ""), "db",
	     -EOPNOTSUPP, "alg none is not allowed");
	CASE("alg HS256",
	     forge("{\"alg\":\"HS256\",\"kid\":\"x\",\"typ\":\"JWT\"}", claims, NULL, NULL,
		   "c2VjcmV0c2lnbmF0dXJl"),
	     "db", -EOPNOTSUPP, "HMAC algs are not allowed");
	CASE("alg EdDSA", forge("{\"alg\":\"EdDSA\",\"kid\":\"x\"}", claims, NULL, NULL, "AAAA"),
	     "db", -EOPNOTSUPP, "alg is not one JWT-SVID allows");
	CASE("tampered payload", strdup(tampered_payload), "db", -EKEYREJECTED,
	     "signature is invalid");
	CASE("tampered signature", strdup(tampered_sig), "db", -EKEYREJECTED,
	     "signature is invalid");
	CASE("signed by a stranger", forge(hdr, claims, stranger, "ES256", NULL), "db",
	     -EKEYREJECTED, "signature is invalid");
	CASE("2 parts", strndup(good, strrchr(good, '.') - good), "db", -EBADMSG,
	     "token has fewer than 3 parts");
	tmp = NULL;
	ASSERT_TRUE(asprintf(&tmp, "%s.AAAA", good) > 0);
	CASE("4 parts", TAKE_PTR(tmp), "db", -EBADMSG, "token has more than 3 parts");
	CASE("garbage", strdup("this is not a token"), "db", -EBADMSG,
	     "token has fewer than 3 parts");
	CASE("garbage parts", strdup("a.b.c"), "db", -EBADMSG,
	     "header is not a base64url JSON object");
	CASE("empty", strdup(""), "db", -EBADMSG, "token is empty");
	CASE("typ", forge("{\"alg\":\"ES256\",\"kid\":\"x\",\"typ\":\"JWS\"}", claims, k, "ES256",
			  NULL),
	     "db", -EBADMSG, "typ must be JWT or JOSE");
	CASE("jku header",
	     forge("{\"alg\":\"ES256\",\"kid\":\"x\",\"jku\":\"https://evil\"}", claims, k,
		   "ES256", NULL),
	     "db", -EOPNOTSUPP, "header has a parameter JWT-SVID does not allow");
	CASE("no kid", forge("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", claims, k, "ES256", NULL),
	     "db", -EBADMSG, "header has no kid");
	tmp = claims_for("spiffe://other.org/web", "db", exp);
	CASE("foreign trust domain", forge(hdr, tmp, k, "ES256", NULL), "db", -ENOKEY,
	     "no bundle for the trust domain of sub");
	free(TAKE_PTR(tmp));
	tmp = claims_for("https://" TD "/web", "db", exp);
	CASE("sub not a SPIFFE ID", forge(hdr, tmp, k, "ES256", NULL), "db", -EBADMSG,
	     "sub claim is not a SPIFFE ID of a workload");
	free(TAKE_PTR(tmp));
	CASE("no sub", forge(hdr, "{\"aud\":\"db\",\"exp\":9999999999}", k, "ES256", NULL), "db",
	     -EBADMSG, "sub claim is missing");
	CASE("signed, no exp", forge(hdr, "{\"sub\":\"" ID "\",\"aud\":\"db\"}", k, "ES256", NULL),
	     "db", -EBADMSG, "exp claim is missing");
	CASE("signed, no aud",
	     forge(hdr, "{\"sub\":\"" ID "\",\"exp\":9999999999}", k, "ES256", NULL), "db",
	     -EBADMSG, "aud claim is missing");
	CASE("signed, empty aud",
	     forge(hdr, "{\"sub\":\"" ID "\",\"aud\":[],\"exp\":9999999999}", k, "ES256", NULL),
	     "db", -EBADMSG, "aud claim is not a string or a non-empty array of strings");
	CASE("signed, nbf ahead",
	     forge(hdr, "{\"sub\":\"" ID "\",\"aud\":\"db\",\"exp\":9999999999,\"nbf\":9999999000}",
		   k, "ES256", NULL),
	     "db", -EKEYEXPIRED, "token is not valid yet");
	tmp = header_for("ES384", f.signer.kid);
	CASE("ES384 with a P-256 key", forge(tmp, claims, k, "ES256", NULL), "db", -EKEYREJECTED,
	     "key type does not fit alg");
	free(TAKE_PTR(tmp));
	CASE("short signature", forge(hdr, claims, NULL, NULL, "AAAA"), "db", -EBADMSG,
	     "signature has the wrong length for alg");
	CASE("signature not base64url", forge(hdr, claims, NULL, NULL, "AA+/"), "db", -EBADMSG,
	     "signature is not base64url");
	CASE("no audience asked", strdup(good), "", -EINVAL, "no audience to validate against");
#undef CASE

	for (size_t i = 0; i < n; i++) {
		struct jwtsvid_claims *c = NULL;
		const char *reason = NULL;
		int r;

		if (!cases[i].token)
			FAIL("%s: could not build the token", cases[i].name);
		r = jwtsvid_validate(f.set, cases[i].token, cases[i].audience, now, &c, &reason);
		if (r != cases[i].err || !reason || strcmp(reason, cases[i].reason) != 0 || c) {
			FAIL("%s: got %d \"%s\", expected %d \"%s\"", cases[i].name, r,
			     reason ? reason : "(null)", cases[i].err, cases[i].reason);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(cases[i].token);
	/* Forged the same way but right: the forging helpers are not the reason. */
	tmp = forge(hdr, claims, k, "ES256", NULL);
	ASSERT_OK(jwtsvid_validate(f.set, tmp, "db", now, NULL, NULL));
}

/* Validation is not only for our ES256: keys of a federated trust domain
 * may be RSA or other curves (the JWT-SVID allow-list). */
TEST(jwt_other_allowed_algs_verify)
{
	_cleanup_fixture_ struct fixture f;
	_cleanup_pkey_ EVP_PKEY *rsa = EVP_RSA_gen(2048), *p384 = EVP_EC_gen("P-384"),
				*p521 = EVP_EC_gen("P-521"), *rsa1k = EVP_RSA_gen(1024);
	struct bundle_jwt_key keys[] = { { "rsa", rsa }, { "p384", p384 }, { "p521", p521 },
					 { "rsa1k", rsa1k } };
	struct bundle *b = NULL;
	static const struct {
		const char *alg, *kid;
		int err;
	} cases[] = {
		{ "RS256", "rsa", 0 },	   { "RS384", "rsa", 0 },   { "RS512", "rsa", 0 },
		{ "PS256", "rsa", 0 },	   { "PS384", "rsa", 0 },   { "PS512", "rsa", 0 },
		{ "ES384", "p384", 0 },	   { "ES512", "p521", 0 },  { "ES256", "rsa", -EKEYREJECTED },
		{ "RS256", "p384", -EKEYREJECTED }, { "RS256", "rsa1k", -EKEYREJECTED },
	};
	time_t now = time(NULL);

	ASSERT_TRUE(rsa && p384 && p521 && rsa1k);
	ASSERT_OK(fixture_init(&f, 0, 0));
	ASSERT_OK(bundle_new("other.org", NULL, keys, ARRAY_SIZE(keys), 1, 0, &b));
	ASSERT_OK(bundle_set_put(f.set, b));
	bundle_unref(b);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *h = header_for(cases[i].alg, cases[i].kid),
				    *c = claims_for("spiffe://other.org/x", "db", now + 60), *tok = NULL;
		EVP_PKEY *k = NULL;
		const char *reason = NULL;
		int r;

		for (size_t j = 0; j < ARRAY_SIZE(keys); j++)
			if (strcmp(keys[j].kid, cases[i].kid) == 0)
				k = keys[j].key;
		/* A mismatched alg is signed with the alg that fits the key. */
		tok = forge(h, c, k,
			    cases[i].err ? (EVP_PKEY_is_a(k, "RSA") ? "RS256" : "ES384") :
					   cases[i].alg,
			    NULL);
		ASSERT_NOT_NULL(tok);
		r = jwtsvid_validate(f.set, tok, "db", now, NULL, &reason);
		if (r != cases[i].err)
			FAIL("%s with %s: got %d (%s), expected %d", cases[i].alg, cases[i].kid, r,
			     reason ? reason : "ok", cases[i].err);
	}
}

TEST(jwt_mint_rejects_bad_input)
{
	_cleanup_fixture_ struct fixture f;
	char *tok = NULL;
	const char *aud[] = { "db" }, *empty[] = { "" };

	ASSERT_OK(fixture_init(&f, 0, 0));
	ASSERT_ERR(jwtsvid_mint(f.ca, "spiffe://" TD, aud, 1, 60, 0, &tok), -EINVAL);
	ASSERT_ERR(jwtsvid_mint(f.ca, "spiffe://other.org/a", aud, 1, 60, 0, &tok), -EINVAL);
	ASSERT_ERR(jwtsvid_mint(f.ca, "spiffe://" TD "/a/", aud, 1, 60, 0, &tok), -EINVAL);
	ASSERT_ERR(jwtsvid_mint(f.ca, ID, aud, 0, 60, 0, &tok), -EINVAL);
	ASSERT_ERR(jwtsvid_mint(f.ca, ID, empty, 1, 60, 0, &tok), -EINVAL);
	ASSERT_ERR(jwtsvid_mint(f.ca, ID, aud, 1, -5, 0, &tok), -EINVAL);
	ASSERT_TRUE(tok == NULL);
}

TEST(jwt_exp_capped_at_key_and_rotation)
{
	_cleanup_fixture_ struct fixture f;
	_cleanup_free_ char *old = NULL, *new = NULL;
	struct jwtsvid_claims *c = NULL;
	struct bundle *b = NULL;
	const char *aud[] = { "db" }, *reason;
	time_t t0 = time(NULL);

	ASSERT_OK(fixture_init(&f, t0, 60));
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 1, 3600, t0 + 40, &old));
	ASSERT_OK(jwtsvid_validate(f.set, old, "db", t0 + 41, &c, NULL));
	ASSERT_EQ(c->exp, t0 + 60); /* capped at the key's end of life */
	jwtsvid_claims_free(TAKE_PTR(c));

	/* Rotate: the new key signs, the old one is still in the bundle. */
	ASSERT_OK(ca_tick(f.ca, t0 + 30, NULL));
	ASSERT_OK(ca_tick(f.ca, t0 + 50, NULL));
	ASSERT_OK(ca_bundle(f.ca, 2, &b));
	ASSERT_OK(bundle_set_put(f.set, b));
	b = bundle_unref(b);
	ASSERT_OK(jwtsvid_mint(f.ca, ID, aud, 1, 30, t0 + 50, &new));
	ASSERT_OK(jwtsvid_validate(f.set, old, "db", t0 + 55, NULL, NULL));
	ASSERT_OK(jwtsvid_validate(f.set, new, "db", t0 + 55, &c, NULL));
	ASSERT_TRUE(strcmp(c->kid, f.signer.kid) != 0);
	jwtsvid_claims_free(TAKE_PTR(c));

	/* The old key leaves the bundle when its last token has expired. */
	ASSERT_OK(ca_tick(f.ca, t0 + 60, NULL));
	ASSERT_OK(ca_bundle(f.ca, 3, &b));
	ASSERT_OK(bundle_set_put(f.set, b));
	b = bundle_unref(b);
	ASSERT_ERR(jwtsvid_validate(f.set, old, "db", t0 + 59, NULL, &reason), -ENOKEY);
	ASSERT_OK(jwtsvid_validate(f.set, new, "db", t0 + 61, NULL, NULL));
}

TEST(jwt_mint_and_validate_rate)
{
	_cleanup_fixture_ struct fixture f;
	const char *aud[] = { "db" };
	struct timespec a, b;
	double mint_s, val_s;
	int n = 0, m = 0;

	ASSERT_OK(fixture_init(&f, 0, 0));
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		char *tok;

		ASSERT_OK(jwtsvid_mint_with(&f.signer, ID, aud, 1, 60, 0, &tok));
		free(tok);
		n++;
		clock_gettime(CLOCK_MONOTONIC, &b);
		mint_s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	} while (mint_s < 0.2);
	{
		_cleanup_free_ char *tok = NULL;

		ASSERT_OK(jwtsvid_mint_with(&f.signer, ID, aud, 1, 60, 0, &tok));
		clock_gettime(CLOCK_MONOTONIC, &a);
		do {
			ASSERT_OK(jwtsvid_validate(f.set, tok, "db", 0, NULL, NULL));
			m++;
			clock_gettime(CLOCK_MONOTONIC, &b);
			val_s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
		} while (val_s < 0.2);
	}
	test_diag("JWT-SVID: %.0f mints/s, %.0f validations/s on one thread", n / mint_s,
		  m / val_s);
	ASSERT_GT(n, 10);
}
