// SPDX-License-Identifier: Apache-2.0
/*
 * The table of selector derivers and the string list they fill.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "selectors.h"

static const struct selector_deriver derivers[] = {
	{ "unix", selectors_unix },
	{ "kernel", selectors_kernel },
	{ "container", selectors_container },
};

int strv_push(struct strv *sv, const char *s)
{
	char *dup;

	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		sv->v = v;
		sv->cap = cap;
	}
	dup = strdup(s);
	if (!dup)
		return -ENOMEM;
	sv->v[sv->n++] = dup;
	return 0;
}

int strv_pushf(struct strv *sv, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) {
		s = NULL;
		return -ENOMEM;
	}
	return strv_push(sv, s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort_unique(struct strv *sv)
{
	size_t w = 0;

	if (sv->n < 2)
		return;
	qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
	for (size_t r = 1; r < sv->n; r++) {
		if (strcmp(sv->v[w], sv->v[r]) == 0)
			free(sv->v[r]);
		else
			sv->v[++w] = sv->v[r];
	}
	sv->n = w + 1;
}

void strv_free_array(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void strv_free(struct strv *sv)
{
	strv_free_array(sv->v, sv->n);
	*sv = (struct strv){ 0 };
}

int selectors_derive(const struct selector_input *in, struct strv *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(derivers); i++) {
		int r = derivers[i].derive(in, out);

		if (r < 0) {
			strv_free(out);
			return r;
		}
	}
	strv_sort_unique(out);
	return 0;
}
