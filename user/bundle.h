/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trust bundles: the keys that validate the SVIDs of one trust domain, in
 * the shapes the SPIFFE specs and the Workload API want them.
 *
 *   X.509 bundle   the CA certificates, DER-concatenated (FetchX509Bundles,
 *                  FetchX509SVID's bundle field) or PEM (bundle show).
 *   JWT bundle     a JWK Set of the JWT signing keys (FetchJWTBundles).
 *   SPIFFE bundle  one JWK Set holding both, "use" x509-svid / jwt-svid, with
 *                  spiffe_sequence and spiffe_refresh_hint (federation,
 *                  bundle show --format jwks, bundle set --file).
 *
 * A struct bundle is immutable and reference-counted: every encoding is
 * prepared when it is built, so serving one on a Workload API call is a
 * pointer copy.  A struct bundle_set maps trust domain names to bundles
 * (ours and federated ones); it is locked inside, and a lookup hands out a
 * reference, so a bundle replaced by a writer stays alive for a reader.
 */
#ifndef ATTESTD_BUNDLE_H
#define ATTESTD_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct bundle;
struct bundle_set;

/* One JWT-SVID signing key: its kid and public key. */
struct bundle_jwt_key {
	const char *kid;
	EVP_PKEY *key;
};

/*
 * Builds the bundle of trust_domain from its X.509 authorities (may be
 * NULL or empty) and JWT keys (n may be 0).  Certificates are up-ref'd;
 * of each key only the public half is kept, so a private key passed in
 * never travels with a bundle.  Keys must be EC (P-256/384/521), RSA or
 * Ed25519.  Returns 0, -EINVAL (bad trust domain, empty or duplicate kid),
 * -EOPNOTSUPP (key type) or -ENOMEM.
 */
int bundle_new(const char *trust_domain, STACK_OF(X509) *x509_authorities,
	       const struct bundle_jwt_key *jwt_keys, size_t njwt, uint64_t sequence,
	       int64_t refresh_hint, struct bundle **ret);

/*
 * Parses a SPIFFE bundle (a JWK Set, as bundle_spiffe_json writes it or as
 * another SPIFFE implementation publishes it) for trust_domain.  Per the
 * specs, entries of unknown "use" or "kty" and x509-svid entries without
 * x5c are ignored, only the first x5c certificate counts, and jwt-svid
 * entries without kid are ignored.  A malformed document, an undecodable
 * certificate or key, or a duplicate kid is -EINVAL with a reason in err.
 */
int bundle_parse_spiffe(const char *trust_domain, const char *json, size_t len,
			struct bundle **ret, char *err, size_t errlen);

struct bundle *bundle_ref(struct bundle *b);
/* Drops a reference; returns NULL so that callers can write b = bundle_unref(b). */
struct bundle *bundle_unref(struct bundle *b);

const char *bundle_trust_domain(const struct bundle *b);
uint64_t bundle_sequence(const struct bundle *b);
int64_t bundle_refresh_hint(const struct bundle *b);

/* The X.509 authorities; borrowed, valid while the caller holds b. */
int bundle_x509_count(const struct bundle *b);
X509 *bundle_x509_at(const struct bundle *b, int i);
/* The JWT keys; borrowed.  bundle_jwt_find returns NULL for an unknown kid. */
size_t bundle_jwt_count(const struct bundle *b);
const struct bundle_jwt_key *bundle_jwt_at(const struct bundle *b, size_t i);
const struct bundle_jwt_key *bundle_jwt_find(const struct bundle *b, const char *kid);

/* Prepared encodings, borrowed: the X.509 authorities DER-concatenated
 * (len 0 when there are none), the JWT bundle as a JWKS (jwt-svid keys
 * only, no sequence), and the full SPIFFE bundle. */
void bundle_x509_der(const struct bundle *b, const unsigned char **ret, size_t *ret_len);
void bundle_jwks(const struct bundle *b, const char **ret, size_t *ret_len);
void bundle_spiffe_json(const struct bundle *b, const char **ret, size_t *ret_len);

/* The X.509 authorities as PEM, malloc'd (bundle show --format pem). */
int bundle_x509_pem(const struct bundle *b, char **ret);

/* True when a and b hold the same keys and certificates in the same order;
 * sequence and refresh hint do not count.  The caller bumps spiffe_sequence
 * only when this is false. */
bool bundle_same_keys(const struct bundle *a, const struct bundle *b);

int bundle_set_new(struct bundle_set **ret);
struct bundle_set *bundle_set_ref(struct bundle_set *s);
struct bundle_set *bundle_set_unref(struct bundle_set *s);
/* Adds b (taking a new reference) or replaces the bundle of its trust domain. */
int bundle_set_put(struct bundle_set *s, struct bundle *b);
/* Removes the bundle of td; -ENOENT when there is none. */
int bundle_set_remove(struct bundle_set *s, const char *td);
/* A new reference to the bundle of td (the caller unrefs), or NULL. */
struct bundle *bundle_set_get(struct bundle_set *s, const char *td);
/* New references to every bundle, sorted by trust domain; the caller unrefs
 * each and frees the array (FetchX509Bundles / FetchJWTBundles maps). */
int bundle_set_snapshot(struct bundle_set *s, struct bundle ***ret, size_t *ret_n);

#endif
