/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The syntax of one selector string, "type:key:value", as registration
 * entries carry it.  This is validation of what an operator typed, not
 * derivation from a process (that is selectors.h).  Known types and keys
 * are the table in design.md; each key has a value rule, so that an entry
 * that could never match (container:id:ABC, unix:uid:root) is refused at
 * registration instead of silently matching nothing.
 */
#ifndef ATTESTD_SELECTOR_H
#define ATTESTD_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

/* Bounds: a value may be a full path (PATH_MAX); type and key are short. */
#define SELECTOR_VALUE_MAX 4096
#define SELECTOR_MAX_LEN (SELECTOR_VALUE_MAX + 64)

/* Views into the parsed string, not copies and not NUL-terminated (except value). */
struct selector {
	const char *type;
	size_t type_len;
	const char *key;
	size_t key_len;
	const char *value; /* to the end of the string: may itself contain ':' */
	size_t value_len;
};

/*
 * Parses and checks s: a known type, a key known for that type, a non-empty
 * value that satisfies the key's rule, valid UTF-8 without control
 * characters, at most SELECTOR_MAX_LEN bytes.  ret may be NULL.  Returns 0
 * or -EINVAL with a reason in err.
 *
 * Value rules: uid/gid/ns inode numbers are decimal without leading zeros;
 * paths (unix:path, cgroup:path, lineage:path) are absolute; unix:sha256
 * and container:id are 64 lowercase hex digits; docker:label and
 * k8s:pod-label are K:V and docker:env is K=V with K non-empty;
 * container:runtime is docker, containerd, crio or podman.
 */
int selector_parse(const char *s, struct selector *ret, char *err, size_t errlen);

/* True when type is one of the known selector types ("unix", "k8s", ...). */
bool selector_type_known(const char *type);

/*
 * Sorts v[0..*n) by strcmp and removes duplicates, freeing them; *n
 * shrinks.  The canonical form of an entry's selector set.
 */
void selector_set_normalize(char **v, size_t *n);

/* True when the two sets, each sorted and duplicate-free, are equal. */
bool selector_set_equal(char *const *a, size_t na, char *const *b, size_t nb);

/* True when text is valid UTF-8 with no C0 control characters or DEL. */
bool text_is_clean_utf8(const char *text, size_t len);

#endif
