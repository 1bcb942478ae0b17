// SPDX-License-Identifier: Apache-2.0
/*
 * Near-miss ranking for `attestctl explain` (explain.h).  A process has a
 * few dozen selectors and the candidates come from the store's selector
 * index, so plain loops over the process's selectors are enough.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "explain.h"

static bool has(const char *const *sel, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(sel[i], s))
			return true;
	return false;
}

static int cmp_item(const void *a, const void *b)
{
	const struct explain_item *x = a, *y = b;
	int c;

	if (x->nmissing != y->nmissing)
		return x->nmissing < y->nmissing ? -1 : 1;
	c = strcmp(x->entry->spiffe_id ? x->entry->spiffe_id : "",
		   y->entry->spiffe_id ? y->entry->spiffe_id : "");
	return c ? c : strcmp(x->entry->id, y->entry->id);
}

static int cmp_entry_id(const void *a, const void *b)
{
	return strcmp((*(struct entry *const *)a)->id, (*(struct entry *const *)b)->id);
}

void explain_items_free(struct explain_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++) {
		entry_free(items[i].entry);
		free(items[i].missing);
	}
	free(items);
}

int explain_rank(const char *const *sel, size_t n, struct entry **v, size_t nv, size_t limit,
		 struct explain_item **ret, size_t *ret_n, size_t *ret_candidates)
{
	struct explain_item *items = calloc(nv ? nv : 1, sizeof(*items));
	char prev[ENTRY_ID_LEN + 1] = "";
	size_t k = 0;

	*ret = NULL;
	*ret_n = 0;
	*ret_candidates = 0;
	if (!items) {
		for (size_t i = 0; i < nv; i++)
			entry_free(v[i]);
		return -ENOMEM;
	}
	/* One entry may come from several selector lookups: keep one copy. */
	qsort(v, nv, sizeof(*v), cmp_entry_id);
	for (size_t i = 0; i < nv; i++) {
		struct entry *e = v[i];
		size_t shared = 0;

		if (i && !strcmp(prev, e->id)) {
			entry_free(e);
			continue;
		}
		snprintf(prev, sizeof(prev), "%s", e->id);
		items[k].missing = calloc(e->nselectors ? e->nselectors : 1, sizeof(char *));
		if (!items[k].missing) {
			entry_free(e);
			for (size_t j = i + 1; j < nv; j++)
				entry_free(v[j]);
			explain_items_free(items, k);
			return -ENOMEM;
		}
		for (size_t s = 0; s < e->nselectors; s++) {
			if (has(sel, n, e->selectors[s]))
				shared++;
			else
				items[k].missing[items[k].nmissing++] = e->selectors[s];
		}
		if (!shared) {
			free(items[k].missing);
			items[k].missing = NULL;
			items[k].nmissing = 0;
			entry_free(e);
			continue;
		}
		items[k++].entry = e;
	}
	qsort(items, k, sizeof(*items), cmp_item);
	*ret_candidates = k;
	if (k > limit) {
		for (size_t i = limit; i < k; i++) {
			entry_free(items[i].entry);
			free(items[i].missing);
		}
		k = limit;
	}
	*ret = items;
	*ret_n = k;
	return 0;
}

/* The part of s that names its kind: "type:key:", or "type:key:name:" / "docker:env:NAME=". */
static size_t kind_len(const char *s)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *c3;
	size_t tk;

	if (!c2)
		return c1 ? (size_t)(c1 - s) + 1 : strlen(s);
	tk = (size_t)(c2 - s) + 1;
	if (!strncmp(s, "docker:label:", tk) || !strncmp(s, "k8s:pod-label:", tk)) {
		c3 = strchr(c2 + 1, ':');
		return c3 ? (size_t)(c3 - s) + 1 : tk;
	}
	if (!strncmp(s, "docker:env:", tk)) {
		c3 = strchr(c2 + 1, '=');
		return c3 ? (size_t)(c3 - s) + 1 : tk;
	}
	return tk;
}

size_t explain_same_kind(const char *const *sel, size_t n, const char *s, const char **out,
			 size_t max)
{
	size_t len = kind_len(s), k = 0;

	for (size_t i = 0; i < n && k < max; i++)
		if (!strncmp(sel[i], s, len) && strlen(sel[i]) >= len && strcmp(sel[i], s))
			out[k++] = sel[i];
	return k;
}
