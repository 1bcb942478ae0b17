/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `attestctl explain`: why a process has, or lacks, an identity.  The
 * candidates are the entries that share at least one selector with the
 * process (an entry that shares none is not a near miss, it is about
 * something else); each is ranked by how many of its selectors the process
 * lacks, fewest first, then by SPIFFE ID and id.  An entry lacking none
 * matches.
 */
#ifndef ATTESTD_EXPLAIN_H
#define ATTESTD_EXPLAIN_H

#include <stddef.h>
#include "entry.h"

#define EXPLAIN_DEFAULT_LIMIT 10
#define EXPLAIN_MAX_LIMIT 1000

struct explain_item {
	struct entry *entry; /* owned */
	size_t nmissing;
	const char **missing; /* into entry->selectors, in its order */
};

/*
 * Ranks v[0..nv) for a process with selectors sel[0..n) (any order).
 * Takes every entry in v (v itself stays the caller's): the first `limit`
 * candidates go to *ret, the rest are freed; an id seen twice counts once.
 * *ret_candidates is how many entries shared a selector.  0 or -ENOMEM
 * (then every entry is freed).
 */
int explain_rank(const char *const *sel, size_t n, struct entry **v, size_t nv, size_t limit,
		 struct explain_item **ret, size_t *ret_n, size_t *ret_candidates);
void explain_items_free(struct explain_item *items, size_t n);

/*
 * The process's selectors of the same kind as s, i.e. with the same type
 * and key (and label name, for docker:label, docker:env, k8s:pod-label):
 * unix:uid:0 for unix:uid:1000.  Up to max pointers into sel; the count.
 */
size_t explain_same_kind(const char *const *sel, size_t n, const char *s, const char **out,
			 size_t max);

#endif
