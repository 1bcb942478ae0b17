// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE ID parsing.  One pass over the string with a reason for every
 * refusal, because the reason is what an operator sees from attestctl.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "spiffeid.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool td_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool path_char(char c)
{
	return td_char(c) || (c >= 'A' && c <= 'Z');
}

/* The reason a character is refused, for the characters people actually try. */
static const char *bad_char_reason(char c, bool in_td)
{
	switch (c) {
	case '%':
		return "percent-encoding is not allowed";
	case '?':
		return "a query is not allowed";
	case '#':
		return "a fragment is not allowed";
	case ':':
		return in_td ? "a port is not allowed" : NULL;
	case '@':
		return in_td ? "userinfo is not allowed" : NULL;
	}
	if (in_td && c >= 'A' && c <= 'Z')
		return "trust domain must be lowercase";
	return NULL;
}

static int check_td(const char *td, size_t len, char *err, size_t errlen)
{
	const char *why;

	if (len == 0)
		return fail(err, errlen, "trust domain is missing");
	if (len > TRUST_DOMAIN_MAX_LEN)
		return fail(err, errlen, "trust domain is longer than %d bytes", TRUST_DOMAIN_MAX_LEN);
	for (size_t i = 0; i < len; i++) {
		if (td_char(td[i]))
			continue;
		why = bad_char_reason(td[i], true);
		if (why)
			return fail(err, errlen, "%s", why);
		return fail(err, errlen,
			    "trust domain has a character outside [a-z0-9._-] at offset %zu", i);
	}
	return 0;
}

static int check_path(const char *p, size_t len, char *err, size_t errlen)
{
	size_t i = 0, seg_start, seg_len;
	const char *why;

	/* Here p[0] == '/': the caller split at the first '/'. */
	while (i < len) {
		seg_start = ++i; /* skip '/' */
		while (i < len && p[i] != '/') {
			if (!path_char(p[i])) {
				why = bad_char_reason(p[i], false);
				if (why)
					return fail(err, errlen, "%s", why);
				return fail(err, errlen,
					    "path has a character outside [a-zA-Z0-9._-] at offset %zu",
					    i);
			}
			i++;
		}
		seg_len = i - seg_start;
		if (seg_len == 0)
			return fail(err, errlen, i == len ? "path must not end with '/'" :
							    "path has an empty segment");
		if ((seg_len == 1 && p[seg_start] == '.') ||
		    (seg_len == 2 && p[seg_start] == '.' && p[seg_start + 1] == '.'))
			return fail(err, errlen, "path segments must not be '.' or '..'");
	}
	return 0;
}

int spiffeid_parse(const char *id, struct spiffeid *ret, char *err, size_t errlen)
{
	const size_t scheme_len = sizeof(SPIFFEID_SCHEME) - 1;
	const char *td, *slash;
	size_t len, td_len;
	int r;

	if (!id || !*id)
		return fail(err, errlen, "SPIFFE ID is empty");
	len = strnlen(id, SPIFFEID_MAX_LEN + 1);
	if (len > SPIFFEID_MAX_LEN)
		return fail(err, errlen, "SPIFFE ID is longer than %d bytes", SPIFFEID_MAX_LEN);
	if (strncmp(id, SPIFFEID_SCHEME, scheme_len) != 0)
		return fail(err, errlen, "scheme must be \"spiffe://\"");
	td = id + scheme_len;
	slash = strchr(td, '/');
	td_len = slash ? (size_t)(slash - td) : len - scheme_len;
	r = check_td(td, td_len, err, errlen);
	if (r)
		return r;
	if (slash) {
		r = check_path(slash, len - (size_t)(slash - id), err, errlen);
		if (r)
			return r;
	}
	if (ret) {
		ret->td = td;
		ret->td_len = td_len;
		ret->path = td + td_len;
		ret->path_len = len - scheme_len - td_len;
	}
	return 0;
}

int trust_domain_validate(const char *td, char *err, size_t errlen)
{
	if (!td)
		return fail(err, errlen, "trust domain is missing");
	if (strstr(td, "://"))
		return fail(err, errlen, "expected a trust domain name, not a URI");
	return check_td(td, strnlen(td, TRUST_DOMAIN_MAX_LEN + 1), err, errlen);
}

bool spiffeid_in_trust_domain(const struct spiffeid *id, const char *td)
{
	return td && strlen(td) == id->td_len && memcmp(id->td, td, id->td_len) == 0;
}
