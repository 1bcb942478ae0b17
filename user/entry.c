// SPDX-License-Identifier: Apache-2.0
/*
 * Registration entries: construction, canonical form, validation and the
 * JSON form that attestctl prints and entry files hold.  JSON input is
 * treated as hostile: every field is type- and range-checked and the first
 * problem is reported by name.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include "cleanup.h"
#include "entry.h"
#include "selector.h"
#include "spiffeid.h"

/* Bounds on the parser itself: an entry is about 3 levels deep. */
#define JSON_MAX_DEPTH 16

const struct entry_limits entry_limits_default = {
	.max_selectors = 32,
	.max_dns_names = 32,
	.max_federates_with = 32,
	.x509_ttl_min = 60,
	.x509_ttl_max = 30 * 24 * 3600,
	.jwt_ttl_min = 30,
	.jwt_ttl_max = 24 * 3600,
};

static inline const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

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

static void strarr_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int strarr_dup(char *const *v, size_t n, char ***ret)
{
	char **out;

	*ret = NULL;
	if (n == 0)
		return 0;
	out = calloc(n, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(v[i]);
		if (!out[i]) {
			strarr_free(out, i);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}

/* Inserts a copy of s at position pos of (*v, *n). */
static int strarr_insert(char ***v, size_t *n, size_t pos, const char *s)
{
	char **grown, *copy;

	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	grown = realloc(*v, (*n + 1) * sizeof(**v));
	if (!grown) {
		free(copy);
		return -ENOMEM;
	}
	memmove(grown + pos + 1, grown + pos, (*n - pos) * sizeof(*grown));
	grown[pos] = copy;
	*v = grown;
	(*n)++;
	return 0;
}

static bool strarr_contains(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

int entry_id_generate(char buf[ENTRY_ID_LEN + 1])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	snprintf(buf, ENTRY_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return 0;
}

bool entry_id_valid(const char *id)
{
	if (!id || strlen(id) != ENTRY_ID_LEN)
		return false;
	for (int i = 0; i < ENTRY_ID_LEN; i++) {
		char c = id[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return false;
		}
	}
	return true;
}

static int set_str(char **field, const char *s)
{
	char *copy = strdup(str_or_empty(s));

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

int entry_new(struct entry **ret)
{
	struct entry *e;
	int r;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->x509_svid_ttl = ENTRY_X509_TTL_DEFAULT;
	e->jwt_svid_ttl = ENTRY_JWT_TTL_DEFAULT;
	r = entry_id_generate(e->id);
	if (!r)
		r = set_str(&e->spiffe_id, "");
	if (!r)
		r = set_str(&e->parent_id, "");
	if (!r)
		r = set_str(&e->hint, "");
	if (r) {
		entry_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->spiffe_id);
	free(e->parent_id);
	free(e->hint);
	strarr_free(e->selectors, e->nselectors);
	strarr_free(e->dns_names, e->ndns_names);
	strarr_free(e->federates_with, e->nfederates_with);
	free(e);
}

int entry_dup(const struct entry *e, struct entry **ret)
{
	struct entry *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	memcpy(d->id, e->id, sizeof(d->id));
	d->x509_svid_ttl = e->x509_svid_ttl;
	d->jwt_svid_ttl = e->jwt_svid_ttl;
	d->revision = e->revision;
	d->created_at = e->created_at;
	r = set_str(&d->spiffe_id, e->spiffe_id);
	if (!r)
		r = set_str(&d->parent_id, e->parent_id);
	if (!r)
		r = set_str(&d->hint, e->hint);
	if (!r && !(r = strarr_dup(e->selectors, e->nselectors, &d->selectors)))
		d->nselectors = e->nselectors;
	if (!r && !(r = strarr_dup(e->dns_names, e->ndns_names, &d->dns_names)))
		d->ndns_names = e->ndns_names;
	if (!r && !(r = strarr_dup(e->federates_with, e->nfederates_with, &d->federates_with)))
		d->nfederates_with = e->nfederates_with;
	if (r) {
		entry_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

int entry_set_spiffe_id(struct entry *e, const char *spiffe_id)
{
	return set_str(&e->spiffe_id, spiffe_id);
}

int entry_set_parent_id(struct entry *e, const char *parent_id)
{
	return set_str(&e->parent_id, parent_id);
}

int entry_set_hint(struct entry *e, const char *hint)
{
	return set_str(&e->hint, hint);
}

int entry_add_selector(struct entry *e, const char *selector)
{
	size_t lo = 0, hi = e->nselectors;

	/* Binary search for the insertion point keeps the set sorted without a re-sort. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(e->selectors[mid], selector);

		if (c == 0)
			return 0;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return strarr_insert(&e->selectors, &e->nselectors, lo, selector);
}

int entry_add_dns_name(struct entry *e, const char *name)
{
	if (strarr_contains(e->dns_names, e->ndns_names, name))
		return 0;
	return strarr_insert(&e->dns_names, &e->ndns_names, e->ndns_names, name);
}

int entry_add_federates_with(struct entry *e, const char *trust_domain)
{
	if (strarr_contains(e->federates_with, e->nfederates_with, trust_domain))
		return 0;
	return strarr_insert(&e->federates_with, &e->nfederates_with, e->nfederates_with,
			     trust_domain);
}

/* Removes later duplicates, keeping the first of each. */
static void strarr_unique_stable(char **v, size_t *n)
{
	size_t out = 0;

	for (size_t i = 0; i < *n; i++) {
		if (strarr_contains(v, out, v[i])) {
			free(v[i]);
			continue;
		}
		v[out++] = v[i];
	}
	*n = out;
}

void entry_normalize(struct entry *e)
{
	selector_set_normalize(e->selectors, &e->nselectors);
	selector_set_normalize(e->federates_with, &e->nfederates_with);
	strarr_unique_stable(e->dns_names, &e->ndns_names);
	if (!e->x509_svid_ttl)
		e->x509_svid_ttl = ENTRY_X509_TTL_DEFAULT;
	if (!e->jwt_svid_ttl)
		e->jwt_svid_ttl = ENTRY_JWT_TTL_DEFAULT;
}

bool entry_same_registration(const struct entry *a, const struct entry *b)
{
	return strcmp(str_or_empty(a->spiffe_id), str_or_empty(b->spiffe_id)) == 0 &&
	       strcmp(str_or_empty(a->parent_id), str_or_empty(b->parent_id)) == 0 &&
	       selector_set_equal(a->selectors, a->nselectors, b->selectors, b->nselectors);
}

/* ---- validation ---- */

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* RFC 1123 host name, optionally with a leading "*." wildcard label, no trailing dot. */
static int check_dns_name(const char *name, char *err, size_t errlen)
{
	size_t len = strnlen(name, ENTRY_DNS_NAME_MAX + 1), i = 0;

	if (len == 0)
		return fail(err, errlen, "DNS name is empty");
	if (len > ENTRY_DNS_NAME_MAX)
		return fail(err, errlen, "DNS name is longer than %d bytes", ENTRY_DNS_NAME_MAX);
	if (name[0] == '*') {
		if (name[1] != '.' || !name[2])
			return fail(err, errlen, "a wildcard must be a whole first label (\"*.\")");
		i = 2;
	}
	while (i < len) {
		size_t start = i;

		while (i < len && name[i] != '.') {
			if (!label_char(name[i]))
				return fail(err, errlen, "DNS name has a character outside [a-zA-Z0-9-]");
			i++;
		}
		if (i == start)
			return fail(err, errlen, "DNS name has an empty label");
		if (i - start > 63)
			return fail(err, errlen, "DNS label is longer than 63 bytes");
		if (name[start] == '-' || name[i - 1] == '-')
			return fail(err, errlen, "DNS label must not start or end with '-'");
		if (i < len && ++i == len)
			return fail(err, errlen, "DNS name must not end with '.'");
	}
	return 0;
}

/* A federated trust domain, as a bare name or SPIRE's "spiffe://td" spelling. */
static int check_federated(const char *fed, const char *td, char *err, size_t errlen)
{
	const char *name = fed;
	char why[128];

	if (strncmp(fed, SPIFFEID_SCHEME, strlen(SPIFFEID_SCHEME)) == 0)
		name = fed + strlen(SPIFFEID_SCHEME);
	if (trust_domain_validate(name, why, sizeof(why)))
		return fail(err, errlen, "%s", why);
	if (strcmp(name, td) == 0)
		return fail(err, errlen, "an entry cannot federate with its own trust domain");
	return 0;
}

static int check_ttl(const char *field, uint32_t ttl, uint32_t min, uint32_t max, char *err,
		     size_t errlen)
{
	if (ttl != 0 && (ttl < min || ttl > max))
		return fail(err, errlen, "%s: %u s is outside %u..%u s", field, ttl, min, max);
	return 0;
}

int entry_validate(const struct entry *e, const char *td, const struct entry_limits *lim,
		   char *err, size_t errlen)
{
	struct spiffeid id;
	char why[256];
	size_t len;

	if (!lim)
		lim = &entry_limits_default;
	if (trust_domain_validate(td, why, sizeof(why)))
		return fail(err, errlen, "attestd's trust domain: %s", why);
	if (e->id[0] && !entry_id_valid(e->id))
		return fail(err, errlen, "id: not a lowercase UUID");

	if (spiffeid_parse(e->spiffe_id, &id, why, sizeof(why)))
		return fail(err, errlen, "spiffe_id: %s", why);
	if (id.path_len == 0)
		return fail(err, errlen, "spiffe_id: a workload's SPIFFE ID needs a path");
	if (!spiffeid_in_trust_domain(&id, td))
		return fail(err, errlen, "spiffe_id: not in trust domain %s", td);

	if (e->parent_id && e->parent_id[0]) {
		if (spiffeid_parse(e->parent_id, &id, why, sizeof(why)))
			return fail(err, errlen, "parent_id: %s", why);
		if (!spiffeid_in_trust_domain(&id, td))
			return fail(err, errlen, "parent_id: not in trust domain %s", td);
	}

	if (e->nselectors == 0)
		return fail(err, errlen, "selectors: at least one selector is required");
	if (e->nselectors > lim->max_selectors)
		return fail(err, errlen, "selectors: %zu is more than the limit of %zu", e->nselectors,
			    lim->max_selectors);
	for (size_t i = 0; i < e->nselectors; i++)
		if (selector_parse(e->selectors[i], NULL, why, sizeof(why)))
			return fail(err, errlen, "selectors[%zu]: %s", i, why);

	if (check_ttl("x509_svid_ttl", e->x509_svid_ttl, lim->x509_ttl_min, lim->x509_ttl_max, err,
		      errlen) ||
	    check_ttl("jwt_svid_ttl", e->jwt_svid_ttl, lim->jwt_ttl_min, lim->jwt_ttl_max, err,
		      errlen))
		return -EINVAL;

	if (e->ndns_names > lim->max_dns_names)
		return fail(err, errlen, "dns_names: %zu is more than the limit of %zu", e->ndns_names,
			    lim->max_dns_names);
	for (size_t i = 0; i < e->ndns_names; i++)
		if (check_dns_name(str_or_empty(e->dns_names[i]), why, sizeof(why)))
			return fail(err, errlen, "dns_names[%zu]: %s", i, why);

	len = strlen(str_or_empty(e->hint));
	if (len > ENTRY_HINT_MAX)
		return fail(err, errlen, "hint: longer than %d bytes", ENTRY_HINT_MAX);
	if (!text_is_clean_utf8(str_or_empty(e->hint), len))
		return fail(err, errlen, "hint: control character or invalid UTF-8");

	if (e->nfederates_with > lim->max_federates_with)
		return fail(err, errlen, "federates_with: %zu is more than the limit of %zu",
			    e->nfederates_with, lim->max_federates_with);
	for (size_t i = 0; i < e->nfederates_with; i++)
		if (check_federated(str_or_empty(e->federates_with[i]), td, why, sizeof(why)))
			return fail(err, errlen, "federates_with[%zu]: %s", i, why);
	return 0;
}

/* ---- JSON out ---- */

static int add_str(struct json_object *o, const char *key, const char *val)
{
	struct json_object *s = json_object_new_string(str_or_empty(val));

	if (!s || json_object_object_add(o, key, s)) {
		json_object_put(s);
		return -ENOMEM;
	}
	return 0;
}

static int add_int(struct json_object *o, const char *key, int64_t val)
{
	struct json_object *i = json_object_new_int64(val);

	if (!i || json_object_object_add(o, key, i)) {
		json_object_put(i);
		return -ENOMEM;
	}
	return 0;
}

static int add_strarr(struct json_object *o, const char *key, char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array_ext((int)n);

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_new_string(v[i]);

		if (!s || json_object_array_add(a, s)) {
			json_object_put(s);
			json_object_put(a);
			return -ENOMEM;
		}
	}
	if (json_object_object_add(o, key, a)) {
		json_object_put(a);
		return -ENOMEM;
	}
	return 0;
}

int entry_to_json(const struct entry *e, struct json_object **ret)
{
	struct json_object *o = json_object_new_object();
	int r;

	if (!o)
		return -ENOMEM;
	/* The order of design.md's shape, for people reading the output. */
	if ((r = add_str(o, "id", e->id)) || (r = add_str(o, "spiffe_id", e->spiffe_id)) ||
	    (r = add_str(o, "parent_id", e->parent_id)) ||
	    (r = add_strarr(o, "selectors", e->selectors, e->nselectors)) ||
	    (r = add_int(o, "x509_svid_ttl", e->x509_svid_ttl)) ||
	    (r = add_int(o, "jwt_svid_ttl", e->jwt_svid_ttl)) ||
	    (r = add_strarr(o, "dns_names", e->dns_names, e->ndns_names)) ||
	    (r = add_str(o, "hint", e->hint)) ||
	    (r = add_strarr(o, "federates_with", e->federates_with, e->nfederates_with)) ||
	    (r = add_int(o, "revision", (int64_t)e->revision)) ||
	    (r = add_int(o, "created_at", e->created_at))) {
		json_object_put(o);
		return r;
	}
	*ret = o;
	return 0;
}

static int json_to_malloc_string(struct json_object *o, char **ret)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);

	*ret = s ? strdup(s) : NULL;
	return *ret ? 0 : -ENOMEM;
}

int entry_to_json_string(const struct entry *e, char **ret)
{
	struct json_object *o;
	int r;

	r = entry_to_json(e, &o);
	if (r)
		return r;
	r = json_to_malloc_string(o, ret);
	json_object_put(o);
	return r;
}

int entries_to_json_string(struct entry *const *v, size_t n, char **ret)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array_ext((int)n);
	int r = -ENOMEM;

	if (!o || !a || json_object_object_add(o, "entries", a)) {
		json_object_put(a);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *eo;

		r = entry_to_json(v[i], &eo);
		if (r)
			goto out;
		if (json_object_array_add(a, eo)) {
			json_object_put(eo);
			r = -ENOMEM;
			goto out;
		}
	}
	r = json_to_malloc_string(o, ret);
out:
	json_object_put(o);
	return r;
}

/* ---- JSON in ---- */

static const char *json_type_word(struct json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

/* A JSON string with no NUL bytes inside it (a C string would silently cut it short). */
static int get_cstr(struct json_object *v, const char *field, const char **ret, char *err,
		    size_t errlen)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return fail(err, errlen, "%s: expected a string, got %s", field, json_type_word(v));
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return fail(err, errlen, "%s: string contains a NUL byte", field);
	*ret = s;
	return 0;
}

static int read_str(struct json_object *obj, const char *field, char **dst, char *err,
		    size_t errlen)
{
	struct json_object *v;
	const char *s;
	int r;

	if (!json_object_object_get_ex(obj, field, &v))
		return 0;
	r = get_cstr(v, field, &s, err, errlen);
	if (r)
		return r;
	return set_str(dst, s);
}

static int read_strarr(struct json_object *obj, const char *field, char ***dst, size_t *ndst,
		       char *err, size_t errlen)
{
	char name[64];
	struct json_object *v;
	size_t n;
	int r;

	if (!json_object_object_get_ex(obj, field, &v))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return fail(err, errlen, "%s: expected an array of strings, got %s", field,
			    json_type_word(v));
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		const char *s;

		snprintf(name, sizeof(name), "%s[%zu]", field, i);
		r = get_cstr(json_object_array_get_idx(v, i), name, &s, err, errlen);
		if (r)
			return r;
		r = strarr_insert(dst, ndst, *ndst, s);
		if (r)
			return r;
	}
	return 0;
}

static int read_uint(struct json_object *obj, const char *field, uint64_t max, uint64_t *dst,
		     char *err, size_t errlen)
{
	struct json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(obj, field, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(err, errlen, "%s: expected an integer, got %s", field, json_type_word(v));
	/*
	 * json-c saturates at INT64_MIN/MAX; a value it holds as a uint64 above
	 * INT64_MAX reads as INT64_MAX, so look at the unsigned reading too.
	 */
	i = json_object_get_int64(v);
	if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
		return fail(err, errlen, "%s: %llu is outside 0..%llu", field,
			    (unsigned long long)json_object_get_uint64(v), (unsigned long long)max);
	if (i < 0 || (uint64_t)i > max)
		return fail(err, errlen, "%s: %lld is outside 0..%llu", field, (long long)i,
			    (unsigned long long)max);
	*dst = (uint64_t)i;
	return 0;
}

int entry_from_json(struct json_object *obj, struct entry **ret, char *err, size_t errlen)
{
	struct entry *e = NULL;
	struct json_object *v;
	uint64_t x509 = 0, jwt = 0, rev = 0, created = 0;
	const char *id;
	int r;

	if (!json_object_is_type(obj, json_type_object))
		return fail(err, errlen, "expected an object, got %s", json_type_word(obj));
	r = entry_new(&e);
	if (r)
		return r;
	if (json_object_object_get_ex(obj, "id", &v)) {
		r = get_cstr(v, "id", &id, err, errlen);
		if (r)
			goto out;
		if (id[0] && !entry_id_valid(id)) {
			r = fail(err, errlen, "id: not a lowercase UUID");
			goto out;
		}
		if (id[0])
			memcpy(e->id, id, sizeof(e->id));
	}
	if ((r = read_str(obj, "spiffe_id", &e->spiffe_id, err, errlen)) ||
	    (r = read_str(obj, "parent_id", &e->parent_id, err, errlen)) ||
	    (r = read_str(obj, "hint", &e->hint, err, errlen)) ||
	    (r = read_strarr(obj, "selectors", &e->selectors, &e->nselectors, err, errlen)) ||
	    (r = read_strarr(obj, "dns_names", &e->dns_names, &e->ndns_names, err, errlen)) ||
	    (r = read_strarr(obj, "federates_with", &e->federates_with, &e->nfederates_with, err,
			     errlen)) ||
	    (r = read_uint(obj, "x509_svid_ttl", UINT32_MAX, &x509, err, errlen)) ||
	    (r = read_uint(obj, "jwt_svid_ttl", UINT32_MAX, &jwt, err, errlen)) ||
	    (r = read_uint(obj, "revision", INT64_MAX, &rev, err, errlen)) ||
	    (r = read_uint(obj, "created_at", INT64_MAX, &created, err, errlen)))
		goto out;
	e->x509_svid_ttl = (uint32_t)x509;
	e->jwt_svid_ttl = (uint32_t)jwt;
	e->revision = rev;
	e->created_at = (int64_t)created;
	entry_normalize(e);
	*ret = e;
	return 0;
out:
	entry_free(e);
	return r;
}

/* Parses exactly one JSON value from text; trailing non-space is an error. */
static int parse_json_text(const char *text, struct json_object **ret, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t len, end;

	if (!text)
		return fail(err, errlen, "no JSON text");
	len = strlen(text);
	if (len > INT32_MAX)
		return fail(err, errlen, "JSON text is too large");
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* The terminating NUL goes in too: it ends a top-level number or literal. */
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		json_object_put(o);
		return fail(err, errlen, "JSON text ends early");
	}
	if (jerr != json_tokener_success) {
		json_object_put(o);
		return fail(err, errlen, "invalid JSON at offset %zu: %s", end,
			    json_tokener_error_desc(jerr));
	}
	for (; end < len && text[end]; end++) {
		if (!strchr(" \t\r\n", text[end])) {
			json_object_put(o);
			return fail(err, errlen, "invalid JSON: data after the value at offset %zu",
				    end);
		}
	}
	*ret = o;
	return 0;
}

int entry_from_json_string(const char *text, struct entry **ret, char *err, size_t errlen)
{
	struct json_object *o;
	int r;

	r = parse_json_text(text, &o, err, errlen);
	if (r)
		return r;
	r = entry_from_json(o, ret, err, errlen);
	json_object_put(o);
	return r;
}

void entries_free(struct entry **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		entry_free(v[i]);
	free(v);
}

int entries_from_json(const char *text, struct entry ***ret, size_t *ret_n, char *err,
		      size_t errlen)
{
	struct json_object *o = NULL, *a;
	struct entry **v = NULL;
	size_t n = 0, len;
	char why[256];
	int r;

	r = parse_json_text(text, &o, err, errlen);
	if (r)
		return r;
	if (!json_object_is_type(o, json_type_object)) {
		r = fail(err, errlen, "expected an object {\"entries\":[...]}, got %s",
			 json_type_word(o));
		goto out;
	}
	if (!json_object_object_get_ex(o, "entries", &a)) {
		r = fail(err, errlen, "entries: missing");
		goto out;
	}
	if (!json_object_is_type(a, json_type_array)) {
		r = fail(err, errlen, "entries: expected an array, got %s", json_type_word(a));
		goto out;
	}
	len = json_object_array_length(a);
	v = calloc(len ? len : 1, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	for (; n < len; n++) {
		why[0] = '\0';
		r = entry_from_json(json_object_array_get_idx(a, n), &v[n], why, sizeof(why));
		if (r) {
			if (r == -EINVAL)
				fail(err, errlen, "entries[%zu]: %s", n, why);
			goto out;
		}
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
out:
	entries_free(v, n);
	json_object_put(o);
	return r;
}
