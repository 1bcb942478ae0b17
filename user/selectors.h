/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Selector derivation: from a process's kernel facts to the selector
 * strings entries match on ("unix:uid:1000", "cgroup:path:/x", ...).
 * Each selector type is one deriver in a table (selectors.c); a new type is
 * a new file and a new row.
 */
#ifndef ATTESTD_SELECTORS_H
#define ATTESTD_SELECTORS_H

#include <stddef.h>
#include "tracker.h"

struct meta_cache;

/* What a deriver may look at besides the kernel record. */
struct selector_input {
	const struct proc_state *st;
	const char *sha256; /* hex digest of the executable, or NULL while unknown */
	const char *const *lineage; /* exe paths of ancestors, nearest first */
	size_t nlineage;
	/* container and pod metadata (meta_cache.h); NULL: none */
	struct meta_cache *meta;
	/* user and group names; NULL: ask NSS directly */
	struct namecache *names;
};

/* A growing list of strings; selectors_derive() sorts and dedupes it. */
struct strv {
	char **v;
	size_t n, cap;
};

int strv_push(struct strv *sv, const char *s);
int strv_pushf(struct strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_sort_unique(struct strv *sv);
void strv_free(struct strv *sv);
/* Frees an array of n strings and the array. */
void strv_free_array(char **v, size_t n);

struct selector_deriver {
	const char *type;
	int (*derive)(const struct selector_input *in, struct strv *out);
};

/* Derivers, one per file. */
int selectors_unix(const struct selector_input *in, struct strv *out);
int selectors_kernel(const struct selector_input *in, struct strv *out);
int selectors_container(const struct selector_input *in, struct strv *out);

/* Runs every deriver; out is sorted and unique. Returns 0 or -errno. */
int selectors_derive(const struct selector_input *in, struct strv *out);

#endif
