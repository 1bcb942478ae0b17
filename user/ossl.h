/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenSSL glue for the identity files (ca, x509svid, jwtsvid, bundle):
 * cleanup helpers for OpenSSL objects in the manner of cleanup.h, the
 * base64 and base64url codecs (EVP_EncodeBlock/EVP_DecodeBlock plus the
 * alphabet mapping of RFC 4648 section 5), the OpenSSL error queue as one
 * log-friendly string, and the 128-bit random serial all our certificates
 * carry.  Everything is static inline so that each user pays for what it
 * calls and this header needs no .c file.
 */
#ifndef ATTESTD_OSSL_H
#define ATTESTD_OSSL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "cleanup.h"

#define DEFINE_OSSL_CLEANUP(type, fn)                                                              \
	static inline void fn##p(type **p)                                                         \
	{                                                                                          \
		if (*p)                                                                            \
			fn(*p);                                                                    \
	}

DEFINE_OSSL_CLEANUP(EVP_PKEY, EVP_PKEY_free)
DEFINE_OSSL_CLEANUP(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
DEFINE_OSSL_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
DEFINE_OSSL_CLEANUP(X509, X509_free)
DEFINE_OSSL_CLEANUP(X509_NAME, X509_NAME_free)
DEFINE_OSSL_CLEANUP(X509_EXTENSION, X509_EXTENSION_free)
DEFINE_OSSL_CLEANUP(X509_STORE, X509_STORE_free)
DEFINE_OSSL_CLEANUP(X509_STORE_CTX, X509_STORE_CTX_free)
DEFINE_OSSL_CLEANUP(BIO, BIO_free_all)
DEFINE_OSSL_CLEANUP(BIGNUM, BN_free)
DEFINE_OSSL_CLEANUP(ECDSA_SIG, ECDSA_SIG_free)
DEFINE_OSSL_CLEANUP(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free)
DEFINE_OSSL_CLEANUP(ASN1_INTEGER, ASN1_INTEGER_free)
DEFINE_OSSL_CLEANUP(GENERAL_NAMES, GENERAL_NAMES_free)
DEFINE_OSSL_CLEANUP(AUTHORITY_KEYID, AUTHORITY_KEYID_free)
DEFINE_OSSL_CLEANUP(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
DEFINE_OSSL_CLEANUP(OSSL_PARAM, OSSL_PARAM_free)

static inline void OPENSSL_freep(void *p)
{
	OPENSSL_free(*(void **)p);
}

/* A stack owns its certificates: pop_free, not sk_X509_free. */
static inline void sk_X509_pop_freep(STACK_OF(X509) **p)
{
	if (*p)
		sk_X509_pop_free(*p, X509_free);
}

#define _cleanup_pkey_ _cleanup_(EVP_PKEY_freep)
#define _cleanup_pkey_ctx_ _cleanup_(EVP_PKEY_CTX_freep)
#define _cleanup_md_ctx_ _cleanup_(EVP_MD_CTX_freep)
#define _cleanup_x509_ _cleanup_(X509_freep)
#define _cleanup_x509_name_ _cleanup_(X509_NAME_freep)
#define _cleanup_x509_ext_ _cleanup_(X509_EXTENSION_freep)
#define _cleanup_x509_store_ _cleanup_(X509_STORE_freep)
#define _cleanup_x509_store_ctx_ _cleanup_(X509_STORE_CTX_freep)
#define _cleanup_x509_stack_ _cleanup_(sk_X509_pop_freep)
#define _cleanup_bio_ _cleanup_(BIO_free_allp)
#define _cleanup_bn_ _cleanup_(BN_freep)
#define _cleanup_ecdsa_sig_ _cleanup_(ECDSA_SIG_freep)
#define _cleanup_asn1_octet_ _cleanup_(ASN1_OCTET_STRING_freep)
#define _cleanup_asn1_int_ _cleanup_(ASN1_INTEGER_freep)
#define _cleanup_gens_ _cleanup_(GENERAL_NAMES_freep)
#define _cleanup_akid_ _cleanup_(AUTHORITY_KEYID_freep)
#define _cleanup_param_bld_ _cleanup_(OSSL_PARAM_BLD_freep)
#define _cleanup_params_ _cleanup_(OSSL_PARAM_freep)
#define _cleanup_ossl_free_ _cleanup_(OPENSSL_freep)

/*
 * Empties this thread's OpenSSL error queue into buf as "reason; reason"
 * so that one log line says why a call failed, and the next call does not
 * inherit stale errors.  Returns buf ("no OpenSSL error" when empty).
 */
static inline const char *ossl_err(char *buf, size_t len)
{
	unsigned long e;
	size_t n = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (n + 3 < len)
			n += snprintf(buf + n, len - n, "%s%s", n ? "; " : "", one);
	}
	if (!buf[0])
		snprintf(buf, len, "no OpenSSL error");
	return buf;
}

/*
 * Encodes len bytes as base64 (RFC 4648 section 4, padded) or, with url,
 * base64url without padding (section 5, as JOSE wants).  *ret is a
 * NUL-terminated malloc'd string.  Returns 0 or -ENOMEM.
 */
static inline int ossl_b64_encode(const void *data, size_t len, bool url, char **ret)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	char *out;
	int n;

	if (len > (size_t)INT32_MAX / 2)
		return -E2BIG;
	out = malloc(cap);
	if (!out)
		return -ENOMEM;
	n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	if (url) {
		while (n > 0 && out[n - 1] == '=')
			n--;
		out[n] = '\0';
		for (int i = 0; i < n; i++) {
			if (out[i] == '+')
				out[i] = '-';
			else if (out[i] == '/')
				out[i] = '_';
		}
	}
	*ret = out;
	return 0;
}

/*
 * Decodes exactly len characters of base64 (padded, url false) or
 * base64url (unpadded, url true) into a malloc'd buffer.  Strict: any
 * character outside the alphabet, wrong padding or a non-canonical
 * encoding (non-zero trailing bits) is -EINVAL, so that one value has
 * one spelling and a tampered token cannot decode to the same bytes.
 */
static inline int ossl_b64_decode(const char *in, size_t len, bool url, unsigned char **ret,
				  size_t *ret_len)
{
	_cleanup_free_ char *tmp = NULL, *again = NULL;
	_cleanup_free_ unsigned char *out = NULL;
	size_t padded, pad = 0;
	int n, r;

	if (len > (size_t)INT32_MAX / 2)
		return -E2BIG;
	if (url) {
		if (len % 4 == 1)
			return -EINVAL;
		padded = (len + 3) / 4 * 4;
	} else {
		if (len % 4)
			return -EINVAL;
		padded = len;
	}
	tmp = malloc(padded + 1);
	out = malloc(padded / 4 * 3 + 1);
	if (!tmp || !out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			tmp[i] = c;
		else if (url && c == '-')
			tmp[i] = '+';
		else if (url && c == '_')
			tmp[i] = '/';
		else if (!url && (c == '+' || c == '/'))
			tmp[i] = c;
		else if (!url && c == '=' && i >= len - 2)
			tmp[i] = c;
		else
			return -EINVAL;
	}
	/* '=' only at the end: "a=b=" passed the loop above but is not base64. */
	if (!url && len >= 2 && tmp[len - 2] == '=' && tmp[len - 1] != '=')
		return -EINVAL;
	for (size_t i = len; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	for (size_t i = padded; i > 0 && tmp[i - 1] == '='; i--)
		pad++;
	if (pad > 2)
		return -EINVAL;
	n = padded ? EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded) : 0;
	if (n < 0 || (size_t)n < pad)
		return -EINVAL;
	n -= (int)pad;
	/* EVP_DecodeBlock ignores trailing bits; re-encoding catches them. */
	r = ossl_b64_encode(out, (size_t)n, url, &again);
	if (r)
		return r;
	if (strlen(again) != len || memcmp(again, in, len) != 0)
		return -EINVAL;
	*ret = TAKE_PTR(out);
	*ret_len = (size_t)n;
	return 0;
}

/*
 * Sets a random serial: 128 bits from the CSPRNG with the top bit clear,
 * so the DER INTEGER is positive (RFC 5280 4.1.2.2) and at most 16 bytes,
 * and never zero.
 */
static inline int ossl_rand_serial(X509 *cert)
{
	unsigned char raw[16];
	_cleanup_bn_ BIGNUM *bn = NULL;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	raw[0] &= 0x7f;
	raw[15] |= 0x01;
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		return -ENOMEM;
	return 0;
}

#endif
