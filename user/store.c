// SPDX-License-Identifier: Apache-2.0
/*
 * The store's front: picks a backend by URL scheme and forwards.  The
 * backend table is the one place a new backend is named.
 */
#include <errno.h>
#include <string.h>
#include "store.h"

static const struct {
	const char *scheme; /* including "://" */
	const struct store_ops *ops;
} backends[] = {
	{ "sqlite://", &store_sqlite_ops },
	{ "postgresql://", &store_pg_ops },
	{ "postgres://", &store_pg_ops },
};

int store_open(const char *url, struct store **ret)
{
	const char *sep;

	if (!url || !*url)
		return -EINVAL;
	sep = strstr(url, "://");
	/* No scheme: a path, and paths mean the embedded default. */
	if (!sep)
		return store_sqlite_ops.open(url, ret);
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t len = strlen(backends[i].scheme);

		if (strncmp(url, backends[i].scheme, len) == 0)
			return backends[i].ops->open(url, ret);
	}
	return -EPROTONOSUPPORT;
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

int store_entry_create(struct store *s, struct entry *e)
{
	return s->ops->create_batch(s, &e, 1, NULL);
}

int store_entry_create_batch(struct store *s, struct entry *const *v, size_t n,
			     size_t *ret_failed)
{
	return s->ops->create_batch(s, v, n, ret_failed);
}

int store_entry_get(struct store *s, const char *id, struct entry **ret)
{
	if (!id)
		return -EINVAL;
	return s->ops->get(s, id, ret);
}

int store_entry_update(struct store *s, const char *id, struct entry *e)
{
	if (!id)
		return -EINVAL;
	return s->ops->update(s, id, e);
}

int store_entry_delete(struct store *s, const char *id)
{
	if (!id)
		return -EINVAL;
	return s->ops->delete(s, id);
}

int store_entry_list(struct store *s, const struct store_filter *filter, struct entry ***ret,
		     size_t *ret_n)
{
	static const struct store_filter none;

	return s->ops->list(s, filter ? filter : &none, ret, ret_n);
}

int store_integrity_check(struct store *s, char *err, size_t errlen)
{
	return s->ops->integrity_check(s, err, errlen);
}

int store_watch(struct store *s, store_change_fn fn, void *ctx)
{
	if (!fn)
		return -EINVAL;
	if (!s->ops->watch)
		return -EOPNOTSUPP;
	return s->ops->watch(s, fn, ctx);
}

void store_unwatch(struct store *s)
{
	if (s && s->ops->unwatch)
		s->ops->unwatch(s);
}

bool store_can_watch(struct store *s)
{
	return s->ops->watch != NULL;
}

int store_health(struct store *s, struct store_health *ret)
{
	if (!s->ops->health) {
		*ret = (struct store_health){ .up = true };
		return 0;
	}
	return s->ops->health(s, ret);
}
