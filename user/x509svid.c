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

/* A DNS SAN: LDH labels, an optional leading "*." wildcard, 253 bytes at most. */
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
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-') ||
		    ++label > 63)
			return false;
	}
	return label > 0;
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

static int pkcs8_der(EVP_PKEY *key, unsigned char **ret, size_t *ret_len)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
	unsigned char *der = NULL;
	int len;

	if (!p8)
		return -ENOMEM;
	len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (len <= 0)
		return -ENOMEM;
	/* Copied to malloc memory so that x509svid_free is plain free(); the
	 * OpenSSL copy is cleansed, since it is key material. */
	*ret = malloc(len);
	if (*ret)
		memcpy(*ret, der, len);
	OPENSSL_clear_free(der, len);
	if (!*ret)
		return -ENOMEM;
	*ret_len = len;
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
	_cleanup_x509_name_ X509_NAME *name = X509_NAME_new();
	_cleanup_gens_ GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	struct spiffeid id;
	time_t not_after;
	int r;

	if (!cert || !name || !gens)
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

	key = EVP_EC_gen("P-256");
	if (!key)
		return -ENOMEM;
	/* The SPIFFE ID is in the SAN; the subject only helps people reading it. */
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"attestd",
					-1, -1, 0) ||
	    (ndns && strlen(dns_names[0]) <= 64 &&
	     !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					 (const unsigned char *)dns_names[0], -1, -1, 0)))
		return -ENOMEM;
	if (!X509_set_version(cert, X509_VERSION_3) || (r = ossl_rand_serial(cert)) ||
	    !X509_set_subject_name(cert, name) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(signer->cert)) ||
	    !ASN1_TIME_set(X509_getm_notBefore(cert), now - X509SVID_BACKDATE) ||
	    !ASN1_TIME_set(X509_getm_notAfter(cert), not_after) || !X509_set_pubkey(cert, key))
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
	if ((r = der_of(cert, &svid->cert_der, &svid->cert_der_len, 0)) ||
	    (r = der_of(cert, &svid->chain_der, &svid->chain_der_len, signer->chain_der_len)) ||
	    (r = pkcs8_der(key, &svid->key_der, &svid->key_der_len)))
		return r;
	memcpy(svid->chain_der + svid->chain_der_len, signer->chain_der, signer->chain_der_len);
	svid->chain_der_len += signer->chain_der_len;
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
