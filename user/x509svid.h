/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509-SVID minting (SPIFFE X509-SVID spec): a fresh P-256 key per SVID,
 * and a leaf certificate signed by the trust domain's active CA with
 *
 *   exactly one URI SAN, the SPIFFE ID (plus DNS SANs if asked for)
 *   basicConstraints critical cA=false
 *   keyUsage critical digitalSignature (nothing else)
 *   extKeyUsage serverAuth, clientAuth
 *   a 128-bit random positive serial, subject and authority key ids
 *   notBefore now-10s, notAfter now+ttl capped at the CA's notAfter
 *
 * The result holds DER, as the Workload API sends it; the PEM helpers are
 * for files (attestctl fetch x509 --write).
 */
#ifndef ATTESTD_X509SVID_H
#define ATTESTD_X509SVID_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "ca.h"

/* Seconds notBefore is set in the past, for relying parties whose clock is behind. */
#define X509SVID_BACKDATE 10
#define X509SVID_DEFAULT_TTL 3600
#define X509SVID_MAX_DNS_NAMES 64

struct x509svid {
	char *spiffe_id;
	unsigned char *cert_der; /* the leaf */
	size_t cert_der_len;
	unsigned char *chain_der; /* leaf then intermediates, DER-concatenated: the
				   * Workload API's X509SVID.x509_svid; the root is
				   * never in it */
	size_t chain_der_len;
	unsigned char *key_der; /* PKCS#8 PrivateKeyInfo, unencrypted: X509SVID.x509_svid_key */
	size_t key_der_len;
	time_t not_before;
	time_t expires_at; /* the leaf's notAfter */
};

/*
 * Mints an X.509-SVID for spiffe_id (a workload ID, with a path, in the
 * CA's trust domain) with ndns DNS SANs, valid for ttl seconds from now
 * (0: time(NULL); ttl 0: X509SVID_DEFAULT_TTL) or until the CA expires,
 * whichever is first.  Returns 0, -EINVAL (bad SPIFFE ID, foreign trust
 * domain, bad DNS name, ttl < 0), -ENOENT (no active CA) or -ENOMEM.
 */
int x509svid_mint(struct ca *ca, const char *spiffe_id, const char *const *dns_names,
		  size_t ndns, int64_t ttl, time_t now, struct x509svid **ret);

/* The same with a signer the caller holds (ca_x509_signer_get): a batch
 * mints under one CA without taking the CA lock per SVID, which is also
 * what a benchmark of signing alone wants. */
int x509svid_mint_with(const struct ca_x509_signer *signer, const char *spiffe_id,
		       const char *const *dns_names, size_t ndns, int64_t ttl, time_t now,
		       struct x509svid **ret);

void x509svid_free(struct x509svid *svid);

/* PEM for files, malloc'd: the chain (leaf first) and the key (PKCS#8 "PRIVATE KEY"). */
int x509svid_chain_pem(const struct x509svid *svid, char **ret);
int x509svid_key_pem(const struct x509svid *svid, char **ret);

#endif
