/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWT-SVIDs (SPIFFE JWT-SVID spec): minting with the trust domain's JWT
 * key, and validation against the JWT bundles of a bundle set.
 *
 * Minted tokens are JWS compact serialization with the protected header
 * {"alg":"ES256","kid":"<kid>","typ":"JWT"} and the claims sub, aud (a
 * string for one audience, else an array), exp and iat.  The signature is
 * the 64-byte r||s of RFC 7518 3.4, base64url without padding.
 *
 * Validation, in this order, each failure with its own reason:
 *   compact form, exactly three parts; header alg in the JWT-SVID allow-list
 *   (RS/ES/PS 256/384/512; "none" and HS* refused before anything else is
 *   looked at); typ, if present, JWT or JOSE; no header parameter besides
 *   alg, kid and typ (the spec forbids others, and jku/jwk/x5u/crit are
 *   ways to pick the key from the token); kid present; sub a SPIFFE ID;
 *   a bundle for its trust domain; kid in that bundle; the key's type
 *   the alg's; the signature; exp present and in the future; nbf, if
 *   present, not in the future; aud present and holding the audience.
 * No leeway is applied to exp or nbf.  kid is required although the spec
 * makes it optional: without it a validator has to try keys, and attestd,
 * SPIRE and go-spiffe all set it.
 */
#ifndef ATTESTD_JWTSVID_H
#define ATTESTD_JWTSVID_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "bundle.h"
#include "ca.h"

#define JWTSVID_DEFAULT_TTL 300
/* Longer tokens are refused before they are decoded. */
#define JWTSVID_MAX_LEN (64 * 1024)
#define JWTSVID_MAX_AUDIENCES 64

/*
 * Mints a JWT-SVID for spiffe_id (a workload ID in the CA's trust domain)
 * for naud audiences (at least one), valid for ttl seconds from now (0:
 * time(NULL); ttl 0: JWTSVID_DEFAULT_TTL), capped at the JWT key's end of
 * life.  *ret_token is malloc'd.  Returns 0, -EINVAL (bad SPIFFE ID,
 * foreign trust domain, no or empty audience, ttl < 0), -EKEYEXPIRED (the
 * key has expired: no ca_tick ran), -ENOENT or -ENOMEM.
 */
int jwtsvid_mint(struct ca *ca, const char *spiffe_id, const char *const *audiences,
		 size_t naud, int64_t ttl, time_t now, char **ret_token);
/* The same with a signer the caller holds (ca_jwt_signer_get). */
int jwtsvid_mint_with(const struct ca_jwt_signer *signer, const char *spiffe_id,
		      const char *const *audiences, size_t naud, int64_t ttl, time_t now,
		      char **ret_token);

/* What a valid token says. */
struct jwtsvid_claims {
	char *spiffe_id; /* sub */
	char **audiences;
	size_t naudiences;
	int64_t exp;
	int64_t iat; /* 0 when absent */
	char *kid;
	char *alg;
	char *json; /* the claims object as the token carries it, for
		     * ValidateJWTSVIDResponse.claims */
};

/*
 * Validates token for audience as of now (0: time(NULL)) against the JWT
 * keys in bundles.  On success returns 0 and, if ret is not NULL, the
 * claims (free with jwtsvid_claims_free).  On failure *ret_reason (if not
 * NULL) is a static string saying which check failed, and the result is
 *   -EBADMSG      malformed: parts, base64url, JSON, claim types
 *   -EOPNOTSUPP   alg refused or not in the allow-list, header not allowed
 *   -ENOKEY       no bundle for the trust domain, kid not in it
 *   -EKEYREJECTED key type does not fit alg, signature invalid
 *   -EKEYEXPIRED  expired, or not yet valid
 *   -EACCES       audience not in aud
 *   -EINVAL       no audience given
 */
int jwtsvid_validate(struct bundle_set *bundles, const char *token, const char *audience,
		     time_t now, struct jwtsvid_claims **ret, const char **ret_reason);

void jwtsvid_claims_free(struct jwtsvid_claims *c);

#endif
