/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPIFFE ID and trust domain name syntax, per the SPIFFE-ID standard
 * (spiffe/spiffe standards/SPIFFE-ID.md) as go-spiffe reads it: stricter
 * than RFC 3986 so that one identity has exactly one spelling and a string
 * compare is an identity compare.
 *
 *   spiffe://<trust domain>[/<segment>]*
 *   trust domain: [a-z0-9._-], 1..255 bytes (no userinfo, no port)
 *   segment:      [a-zA-Z0-9._-], not empty, not "." or ".."
 *   no trailing '/', no percent-encoding, no query, no fragment,
 *   at most 2048 bytes in all.
 */
#ifndef ATTESTD_SPIFFEID_H
#define ATTESTD_SPIFFEID_H

#include <stdbool.h>
#include <stddef.h>

#define SPIFFEID_SCHEME "spiffe://"
#define SPIFFEID_MAX_LEN 2048
#define TRUST_DOMAIN_MAX_LEN 255

/* A parsed SPIFFE ID: views into the string that was parsed, not copies. */
struct spiffeid {
	const char *td; /* trust domain name, td_len bytes, not NUL-terminated */
	size_t td_len;
	const char *path; /* "" for the root ID, else "/a/b" to the end of the string */
	size_t path_len;
};

/*
 * Checks id and, when ret is not NULL, splits it.  Returns 0, or -EINVAL
 * with a reason in err (if errlen > 0), e.g. "trust domain must be
 * lowercase".  The root ID "spiffe://td" is valid here; callers that need
 * a workload ID test path_len > 0.
 */
int spiffeid_parse(const char *id, struct spiffeid *ret, char *err, size_t errlen);

/* Checks a bare trust domain name ("example.org"); 0 or -EINVAL with a reason. */
int trust_domain_validate(const char *td, char *err, size_t errlen);

/* True when id's trust domain is exactly td (trust domain names are compared bytewise). */
bool spiffeid_in_trust_domain(const struct spiffeid *id, const char *td);

#endif
