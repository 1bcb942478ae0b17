/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A registration entry: which SPIFFE ID a process gets when it carries all
 * of the entry's selectors.  This header is the entry's shape, its JSON
 * form (design.md, "JSON shapes") and its validation; storage is store.h,
 * matching is matcher.h.
 *
 * Ownership: every string and array in a struct entry belongs to the entry
 * and is freed by entry_free().  spiffe_id, parent_id and hint are never
 * NULL in an entry made here ("" when unset); code here also reads NULL
 * as "" so that a hand-built entry is not a crash.
 */
#ifndef ATTESTD_ENTRY_H
#define ATTESTD_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define ENTRY_ID_LEN 36 /* a UUID v4 in its canonical lowercase 8-4-4-4-12 form */
#define ENTRY_X509_TTL_DEFAULT 3600
#define ENTRY_JWT_TTL_DEFAULT 300
#define ENTRY_HINT_MAX 1024
#define ENTRY_DNS_NAME_MAX 253

struct entry {
	char id[ENTRY_ID_LEN + 1];
	char *spiffe_id;
	char *parent_id; /* "" or the SPIFFE ID of the node/agent this entry hangs under */
	char **selectors; /* "type:key:value", sorted by strcmp and unique (see entry_normalize) */
	size_t nselectors;
	uint32_t x509_svid_ttl; /* seconds; 0 means ENTRY_X509_TTL_DEFAULT */
	uint32_t jwt_svid_ttl; /* seconds; 0 means ENTRY_JWT_TTL_DEFAULT */
	char **dns_names; /* in the order given: the first may become the certificate's CN */
	size_t ndns_names;
	char *hint;
	char **federates_with; /* trust domain names, sorted and unique */
	size_t nfederates_with;
	uint64_t revision; /* 0: never stored; the store sets 1 and adds 1 on every update */
	int64_t created_at; /* unix seconds, set by the store; 0 until then */
};

/* Bounds that entry_validate() enforces; entry_limits_default when NULL is passed. */
struct entry_limits {
	size_t max_selectors;
	size_t max_dns_names;
	size_t max_federates_with;
	uint32_t x509_ttl_min, x509_ttl_max;
	uint32_t jwt_ttl_min, jwt_ttl_max;
};

/* 32 selectors, 32 DNS names, 32 federated trust domains; x509 60 s..30 d, jwt 30 s..1 d. */
extern const struct entry_limits entry_limits_default;

/*
 * A new empty entry with a fresh random id, default TTLs, revision 0.
 * Returns 0, -ENOMEM, or -EIO if the random generator fails.
 */
int entry_new(struct entry **ret);
void entry_free(struct entry *e);
/* A deep copy; 0 or -ENOMEM. */
int entry_dup(const struct entry *e, struct entry **ret);

/* Setters copy their argument (NULL means ""); 0 or -ENOMEM. */
int entry_set_spiffe_id(struct entry *e, const char *spiffe_id);
int entry_set_parent_id(struct entry *e, const char *parent_id);
int entry_set_hint(struct entry *e, const char *hint);
/* Inserts at its sorted place; a selector already present is not added again (returns 0). */
int entry_add_selector(struct entry *e, const char *selector);
/* Append unless already present (returns 0). */
int entry_add_dns_name(struct entry *e, const char *name);
int entry_add_federates_with(struct entry *e, const char *trust_domain);

/*
 * Brings an entry built by hand to canonical form: selectors and
 * federates_with sorted and unique, dns_names unique (first occurrence
 * kept), TTLs of 0 replaced by the defaults.  Allocates nothing.
 */
void entry_normalize(struct entry *e);

/*
 * Two entries describe the same registration (the store refuses the
 * second): same spiffe_id, parent_id and selector set.  Both normalized.
 */
bool entry_same_registration(const struct entry *a, const struct entry *b);

/*
 * Checks e against the SPIFFE ID rules, attestd's own trust domain td and
 * lim (NULL: entry_limits_default).  Returns 0 or -EINVAL with the first
 * problem in err, named by field: "selectors[2]: unknown selector type
 * \"aws\"".  Does not allocate, does not change e.
 */
int entry_validate(const struct entry *e, const char *td, const struct entry_limits *lim,
		   char *err, size_t errlen);

/* UUID v4 from OpenSSL's RAND_bytes into buf; 0 or -EIO. */
int entry_id_generate(char buf[ENTRY_ID_LEN + 1]);
/* True for a canonical lowercase UUID string (any version). */
bool entry_id_valid(const char *id);

/*
 * JSON, in design.md's shape plus "created_at":
 * {"id":"..","spiffe_id":"..","parent_id":"..","selectors":[..],"x509_svid_ttl":3600,
 *  "jwt_svid_ttl":300,"dns_names":[],"hint":"","federates_with":[],"revision":1,"created_at":..}
 * entry_to_json() gives a new json-c object (json_object_put() it);
 * entry_to_json_string() a malloc'd compact string.  0 or -ENOMEM.
 */
int entry_to_json(const struct entry *e, struct json_object **ret);
int entry_to_json_string(const struct entry *e, char **ret);
/* {"entries":[...]} for n entries. */
int entries_to_json_string(struct entry *const *v, size_t n, char **ret);

/*
 * Reads an entry from a JSON object.  Unknown fields are ignored (fields
 * may be added, design.md); a missing id gets a fresh one; missing or 0
 * TTLs become the defaults; the result is normalized.  Wrong types, out of
 * range numbers, strings with NUL bytes: -EINVAL with the field named in
 * err.  The result is not validated: call entry_validate().
 */
int entry_from_json(struct json_object *obj, struct entry **ret, char *err, size_t errlen);
/* The same from text: one JSON object, nothing but whitespace after it. */
int entry_from_json_string(const char *text, struct entry **ret, char *err, size_t errlen);
/*
 * A file's worth: {"entries":[{...},...]}.  On success *ret is an array
 * of *ret_n entries (entries_free() it); on -EINVAL nothing is returned
 * and err names the entry: "entries[3]: selectors: expected an array ...".
 */
int entries_from_json(const char *text, struct entry ***ret, size_t *ret_n, char *err,
		      size_t errlen);
void entries_free(struct entry **v, size_t n);

#endif
