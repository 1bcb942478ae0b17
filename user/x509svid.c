// SPDX-License-Identifier: Apache-2.0
/*
 * X.509-SVID minting: key generation, the leaf certificate and its
 * encodings.  The extensions every leaf shares are built once and copied
 * into each certificate, since parsing their text form per SVID would be
 * a measurable part of a mint.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include "cleanup.h"
#include "ossl.h"
#include "spiffeid.h"
#include "x509svid.h"

static struct {
	pthread_once_t once;
	X509_EXTENSION *bc, *ku, *eku;
	bool ok;
} leaf_exts = { PTHREAD_ONCE_INIT };

static void leaf_exts_init(void)
{
	leaf_exts.bc = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:FALSE");
	leaf_exts.ku = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,digitalSignature");
	leaf_exts.eku = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, "serverAuth,clientAuth");
	leaf_exts.ok = leaf_exts.bc && leaf_exts.ku && leaf_exts.eku;
}

/* A DNS SAN: LDH labels (no '-' at either end), an optional leading "*."
 * wildcard, 253 bytes at most. */
static bool dns_name_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0, label = 0;

	if (len == 0 || len > 253)
		return false;
	if (s[0] == '*' && s[1] == '.')
		s += 2;
	for (; *s; s++) {
		char c = *s;

		if (c == '.') {
			if (label == 0 || s[-1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0)) ||
		    ++label > 63)
			return false;
	}
	return label > 0 && s[-1] != '-';
}

static int push_name(GENERAL_NAMES *gens, int type, const char *v)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	if (!gn || !s || !ASN1_STRING_set(s, v, (int)strlen(v))) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return -ENOMEM;
	}
	GENERAL_NAME_set0_value(gn, type, s);
	if (!sk_GENERAL_NAME_push(gens, gn)) {
		GENERAL_NAME_free(gn);
		return -ENOMEM;
	}
	return 0;
}

static int add_key_ids(X509 *cert, X509 *issuer)
{
	_cleanup_asn1_octet_ ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	_cleanup_akid_ AUTHORITY_KEYID *akid = NULL;
	const ASN1_OCTET_STRING *issuer_ski = X509_get0_subject_key_id(issuer);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	/* RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
	if (!ski || !X509_pubkey_digest(cert, EVP_sha1(), md, &mdlen) ||
	    !ASN1_OCTET_STRING_set(ski, md, (int)mdlen) ||
	    X509_add1_ext_i2d(cert, NID_subject_key_identifier, ski, 0, X509V3_ADD_APPEND) != 1)
		return -ENOMEM;
	if (!issuer_ski)
		return 0;
	akid = AUTHORITY_KEYID_new();
	if (!akid || !(akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski)) ||
	    X509_add1_ext_i2d(cert, NID_authority_key_identifier, akid, 0, X509V3_ADD_APPEND) != 1)
		return -ENOMEM;
	return 0;
}

static int der_of(X509 *cert, unsigned char **ret, size_t *ret_len, size_t extra)
{
	int len = i2d_X509(cert, NULL);
	unsigned char *p;

	if (len <= 0)
		return -EINVAL;
	*ret = malloc(len + extra);
	if (!*ret)
		return -ENOMEM;
	p = *ret;
	i2d_X509(cert, &p);
	*ret_len = len;
	return 0;
}

/*
 * The PKCS#8 PrivateKeyInfo (RFC 5208) of a P-256 key, wrapping an RFC 5915
 * ECPrivateKey with the public key and without the (redundant) parameters:
 * exactly what EVP_PKEY2PKCS8 produces, which a test checks byte for byte.
 * It is laid out here because in OpenSSL 3.0 EVP_PKEY2PKCS8 goes through
 * OSSL_ENCODER_CTX_new_for_pkey, whose provider search costs more than
 * generating the key and signing the certificate together.
 */
static const unsigned char p256_pkcs8_head[] = {
	0x30, 0x81, 0x87,				 /* PrivateKeyInfo, 135 bytes */
	0x02, 0x01, 0x00,				 /* version 0 */
	0x30, 0x13,					 /* AlgorithmIdentifier */
	0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, /* id-ecPublicKey */
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, /* prime256v1 */
	0x04, 0x6d,					 /* OCTET STRING, 109 bytes */
	0x30, 0x6b,					 /* ECPrivateKey, 107 bytes */
	0x02, 0x01, 0x01,				 /* version 1 */
	0x04, 0x20,					 /* privateKey, 32 bytes */
};
static const unsigned char p256_pkcs8_mid[] = {
	0xa1, 0x44,	  /* [1] publicKey */
	0x03, 0x42, 0x00, /* BIT STRING, 66 bytes, no unused bits */
};
#define P256_PKCS8_LEN (sizeof(p256_pkcs8_head) + 32 + sizeof(p256_pkcs8_mid) + 65)

static int pkcs8_der(EVP_PKEY *key, const unsigned char pub[65], unsigned char **ret,
		     size_t *ret_len)
{
	_cleanup_bn_ BIGNUM *priv = NULL;
	unsigned char *der, *p;

	if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv))
		return -EINVAL;
	der = malloc(P256_PKCS8_LEN);
	if (!der) {
		BN_clear(priv);
		return -ENOMEM;
	}
	p = der;
	memcpy(p, p256_pkcs8_head, sizeof(p256_pkcs8_head));
	p += sizeof(p256_pkcs8_head);
	if (BN_bn2binpad(priv, p, 32) != 32) {
		BN_clear(priv);
		OPENSSL_cleanse(der, P256_PKCS8_LEN);
		free(der);
		return -EINVAL;
	}
	BN_clear(priv);
	p += 32;
	memcpy(p, p256_pkcs8_mid, sizeof(p256_pkcs8_mid));
	p += sizeof(p256_pkcs8_mid);
	memcpy(p, pub, 65);
	*ret = der;
	*ret_len = P256_PKCS8_LEN;
	return 0;
}

/*
 * A P-256 key from this thread's key generation context: the context
 * holds the curve, so each key costs the scalar multiplication and not
 * the curve set-up that EVP_EC_gen repeats every time.
 */
static pthread_key_t keygen_key;
static pthread_once_t keygen_once = PTHREAD_ONCE_INIT;

static void keygen_ctx_free(void *p)
{
	EVP_PKEY_CTX_free(p);
}

static void keygen_init(void)
{
	if (pthread_key_create(&keygen_key, keygen_ctx_free))
		abort();
}

static EVP_PKEY *p256_generate(void)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *k = NULL;

	pthread_once(&keygen_once, keygen_init);
	ctx = pthread_getspecific(keygen_key);
	if (!ctx) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
			OSSL_PARAM_END,
		};

		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_params(ctx, params) <= 0 ||
		    pthread_setspecific(keygen_key, ctx)) {
			EVP_PKEY_CTX_free(ctx);
			return NULL;
		}
	}
	if (EVP_PKEY_generate(ctx, &k) <= 0)
		return NULL;
	return k;
}

/*
 * Sets the certificate's SubjectPublicKeyInfo from the encoded point.
 * X509_set_pubkey would do the same through an encoder and a decoder,
 * which in OpenSSL 3.0 costs several times a signature.
 */
static int set_p256_pubkey(X509 *cert, const unsigned char pub[65])
{
	unsigned char *penc = OPENSSL_memdup(pub, 65);

	if (!penc)
		return -ENOMEM;
	if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
				    V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), penc, 65)) {
		OPENSSL_free(penc);
		return -ENOMEM;
	}
	return 0;
}

void x509svid_free(struct x509svid *svid)
{
	if (!svid)
		return;
	free(svid->spiffe_id);
	free(svid->cert_der);
	free(svid->chain_der);
	if (svid->key_der)
		OPENSSL_cleanse(svid->key_der, svid->key_der_len);
	free(svid->key_der);
	free(svid);
}

static void x509svid_freep(struct x509svid **s)
{
	x509svid_free(*s);
}

int x509svid_mint_with(const struct ca_x509_signer *signer, const char *spiffe_id,
		       const char *const *dns_names, size_t ndns, int64_t ttl, time_t now,
		       struct x509svid **ret)
{
	_cleanup_(x509svid_freep) struct x509svid *svid = NULL;
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_x509_ X509 *cert = X509_new();
	_cleanup_gens_ GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	unsigned char pub[65]; /* the uncompressed point, 04 || x || y */
	size_t publen;
	struct spiffeid id;
	time_t not_after;
	X509_NAME *name;
	int r;

	if (!cert || !gens)
		return -ENOMEM;
	if (!now)
		now = time(NULL);
	if (!ttl)
		ttl = X509SVID_DEFAULT_TTL;
	if (ttl < 0 || ndns > X509SVID_MAX_DNS_NAMES ||
	    spiffeid_parse(spiffe_id, &id, NULL, 0) || id.path_len == 0 ||
	    !spiffeid_in_trust_domain(&id, signer->trust_domain))
		return -EINVAL;
	for (size_t i = 0; i < ndns; i++)
		if (!dns_name_ok(dns_names[i]))
			return -EINVAL;
	not_after = ttl > signer->not_after - now ? signer->not_after : now + ttl;
	if (not_after <= now)
		return -EKEYEXPIRED;
	pthread_once(&leaf_exts.once, leaf_exts_init);
	if (!leaf_exts.ok)
		return -ENOMEM;

	key = p256_generate();
	if (!key || !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub,
						     sizeof(pub), &publen) ||
	    publen != sizeof(pub))
		return -ENOMEM;
	/* The SPIFFE ID is in the SAN; the subject only helps people reading it.
	 * Filled in place: X509_set_subject_name would copy it once more. */
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"attestd",
					-1, -1, 0) ||
	    (ndns && strlen(dns_names[0]) <= 64 &&
	     !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					 (const unsigned char *)dns_names[0], -1, -1, 0)))
		return -ENOMEM;
	if (!X509_set_version(cert, X509_VERSION_3) || (r = ossl_rand_serial(cert)) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(signer->cert)) ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert), now - X509SVID_BACKDATE) ||
	    !ASN1_TIME_set(X509_getm_notAfter(cert), not_after) ||
	    (r = set_p256_pubkey(cert, pub)))
		return -ENOMEM;
	if ((r = push_name(gens, GEN_URI, spiffe_id)))
		return r;
	for (size_t i = 0; i < ndns; i++)
		if ((r = push_name(gens, GEN_DNS, dns_names[i])))
			return r;
	if (!X509_add_ext(cert, leaf_exts.bc, -1) || !X509_add_ext(cert, leaf_exts.ku, -1) ||
	    !X509_add_ext(cert, leaf_exts.eku, -1) ||
	    X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) != 1 ||
	    (r = add_key_ids(cert, signer->cert)))
		return -ENOMEM;
	if (X509_sign(cert, signer->key, EVP_sha256()) <= 0)
		return -EINVAL;

	svid = calloc(1, sizeof(*svid));
	if (!svid || !(svid->spiffe_id = strdup(spiffe_id)))
		return -ENOMEM;
	/* Encoded once: the chain is the leaf followed by the CA's prepared chain. */
	if ((r = der_of(cert, &svid->chain_der, &svid->cert_der_len, signer->chain_der_len)) ||
	    (r = pkcs8_der(key, pub, &svid->key_der, &svid->key_der_len)))
		return r;
	svid->cert_der = malloc(svid->cert_der_len);
	if (!svid->cert_der)
		return -ENOMEM;
	memcpy(svid->cert_der, svid->chain_der, svid->cert_der_len);
	memcpy(svid->chain_der + svid->cert_der_len, signer->chain_der, signer->chain_der_len);
	svid->chain_der_len = svid->cert_der_len + signer->chain_der_len;
	svid->not_before = now - X509SVID_BACKDATE;
	svid->expires_at = not_after;
	*ret = TAKE_PTR(svid);
	return 0;
}

int x509svid_mint(struct ca *ca, const char *spiffe_id, const char *const *dns_names,
		  size_t ndns, int64_t ttl, time_t now, struct x509svid **ret)
{
	struct ca_x509_signer s;
	int r = ca_x509_signer_get(ca, &s);

	if (r)
		return r;
	r = x509svid_mint_with(&s, spiffe_id, dns_names, ndns, ttl, now, ret);
	ca_x509_signer_put(&s);
	return r;
}

static int bio_string(BIO *bio, char **ret)
{
	char *data, *s;
	long len = BIO_get_mem_data(bio, &data);

	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;
	if (len > 0)
		memcpy(s, data, len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

int x509svid_chain_pem(const struct x509svid *svid, char **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	const unsigned char *p = svid->chain_der, *end = p + svid->chain_der_len;

	if (!bio)
		return -ENOMEM;
	while (p < end) {
		_cleanup_x509_ X509 *c = d2i_X509(NULL, &p, end - p);

		if (!c)
			return -EINVAL;
		if (!PEM_write_bio_X509(bio, c))
			return -ENOMEM;
	}
	return bio_string(bio, ret);
}

int x509svid_key_pem(const struct x509svid *svid, char **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_secmem());
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	const unsigned char *p = svid->key_der;
	int r;

	if (!bio)
		return -ENOMEM;
	key = d2i_AutoPrivateKey(NULL, &p, (long)svid->key_der_len);
	if (!key)
		return -EINVAL;
	if (!PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		return -ENOMEM;
	r = bio_string(bio, ret);
	return r;
}
