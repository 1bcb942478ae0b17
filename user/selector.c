// SPDX-License-Identifier: Apache-2.0
/*
 * Selector syntax.  A table maps each type to its keys and each key to a
 * value rule; a new selector type is a new table row, not new code.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "selector.h"

enum value_rule {
	VAL_ANY,
	VAL_DECIMAL, /* an id or inode number: [0-9]+, no leading zero, fits 64 bits */
	VAL_ABS_PATH,
	VAL_HEX64, /* SHA-256 digest or container id, lowercase as printed */
	VAL_KV_COLON, /* K:V, K non-empty */
	VAL_KV_EQUALS, /* K=V, K non-empty */
	VAL_RUNTIME,
};

struct key_def {
	const char *key;
	enum value_rule rule;
};

struct type_def {
	const char *type;
	const struct key_def *keys;
};

static const struct key_def unix_keys[] = {
	{ "uid", VAL_DECIMAL },
	{ "user", VAL_ANY },
	{ "gid", VAL_DECIMAL },
	{ "group", VAL_ANY },
	{ "supplementary_gid", VAL_DECIMAL },
	{ "supplementary_group", VAL_ANY },
	{ "path", VAL_ABS_PATH },
	{ "sha256", VAL_HEX64 },
	{ NULL },
};

static const struct key_def docker_keys[] = {
	{ "label", VAL_KV_COLON },
	{ "image_id", VAL_ANY },
	{ "env", VAL_KV_EQUALS },
	{ NULL },
};

static const struct key_def k8s_keys[] = {
	{ "ns", VAL_ANY },
	{ "sa", VAL_ANY },
	{ "pod-uid", VAL_ANY },
	{ "pod-name", VAL_ANY },
	{ "container-name", VAL_ANY },
	{ "container-image", VAL_ANY },
	{ "pod-label", VAL_KV_COLON },
	{ "node-name", VAL_ANY },
	{ NULL },
};

static const struct key_def systemd_keys[] = {
	{ "id", VAL_ANY },
	{ NULL },
};

static const struct key_def cgroup_keys[] = {
	{ "path", VAL_ABS_PATH },
	{ NULL },
};

static const struct key_def container_keys[] = {
	{ "id", VAL_HEX64 },
	{ "runtime", VAL_RUNTIME },
	{ NULL },
};

static const struct key_def ns_keys[] = {
	{ "pid", VAL_DECIMAL },
	{ "mnt", VAL_DECIMAL },
	{ NULL },
};

static const struct key_def lineage_keys[] = {
	{ "path", VAL_ABS_PATH },
	{ NULL },
};

static const struct type_def types[] = {
	{ "unix", unix_keys },	       { "docker", docker_keys }, { "k8s", k8s_keys },
	{ "systemd", systemd_keys },   { "cgroup", cgroup_keys }, { "container", container_keys },
	{ "ns", ns_keys },	       { "lineage", lineage_keys },
};

static const char *const runtimes[] = { "docker", "containerd", "crio", "podman" };

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

static bool span_eq(const char *p, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(p, word, len) == 0;
}

bool text_is_clean_utf8(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned cp, min;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			need = 1, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			need = 2, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			need = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (len - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and C1 controls would let one text have two spellings. */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += need + 1;
	}
	return true;
}

static int check_value(enum value_rule rule, const char *v, size_t len, char *err, size_t errlen)
{
	const char *sep;

	switch (rule) {
	case VAL_ANY:
		return 0;
	case VAL_DECIMAL:
		if (len > 20 || (len > 1 && v[0] == '0'))
			return fail(err, errlen, "value must be a decimal number without leading zeros");
		for (size_t i = 0; i < len; i++)
			if (v[i] < '0' || v[i] > '9')
				return fail(err, errlen, "value must be a decimal number");
		if (len == 20 && strcmp(v, "18446744073709551615") > 0)
			return fail(err, errlen, "value does not fit in 64 bits");
		return 0;
	case VAL_ABS_PATH:
		if (v[0] != '/')
			return fail(err, errlen, "value must be an absolute path");
		return 0;
	case VAL_HEX64:
		if (len != 64)
			return fail(err, errlen, "value must be 64 lowercase hex digits, got %zu bytes",
				    len);
		for (size_t i = 0; i < len; i++)
			if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
				return fail(err, errlen, "value must be 64 lowercase hex digits");
		return 0;
	case VAL_KV_COLON:
	case VAL_KV_EQUALS:
		sep = memchr(v, rule == VAL_KV_COLON ? ':' : '=', len);
		if (!sep || sep == v)
			return fail(err, errlen, "value must be KEY%cVALUE with a non-empty KEY",
				    rule == VAL_KV_COLON ? ':' : '=');
		return 0;
	case VAL_RUNTIME:
		for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
			if (span_eq(v, len, runtimes[i]))
				return 0;
		return fail(err, errlen, "runtime must be docker, containerd, crio or podman");
	}
	return fail(err, errlen, "internal: unknown value rule");
}

static const struct type_def *find_type(const char *type, size_t len)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (span_eq(type, len, types[i].type))
			return &types[i];
	return NULL;
}

bool selector_type_known(const char *type)
{
	return type && find_type(type, strlen(type));
}

int selector_parse(const char *s, struct selector *ret, char *err, size_t errlen)
{
	const struct type_def *t;
	const struct key_def *k;
	const char *c1, *c2;
	size_t len;

	if (!s || !*s)
		return fail(err, errlen, "selector is empty");
	len = strnlen(s, SELECTOR_MAX_LEN + 1);
	if (len > SELECTOR_MAX_LEN)
		return fail(err, errlen, "selector is longer than %d bytes", SELECTOR_MAX_LEN);
	if (!text_is_clean_utf8(s, len))
		return fail(err, errlen, "selector has a control character or invalid UTF-8");
	c1 = strchr(s, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		return fail(err, errlen, "selector must be type:key:value");
	t = find_type(s, (size_t)(c1 - s));
	if (!t)
		return fail(err, errlen, "unknown selector type \"%.*s\"", (int)(c1 - s) > 32 ? 32 : (int)(c1 - s), s);
	for (k = t->keys; k->key; k++)
		if (span_eq(c1 + 1, (size_t)(c2 - c1 - 1), k->key))
			break;
	if (!k->key)
		return fail(err, errlen, "unknown key \"%.*s\" for selector type %s",
			    (int)(c2 - c1 - 1) > 32 ? 32 : (int)(c2 - c1 - 1), c1 + 1, t->type);
	if (!c2[1])
		return fail(err, errlen, "selector value is empty");
	if (strlen(c2 + 1) > SELECTOR_VALUE_MAX)
		return fail(err, errlen, "selector value is longer than %d bytes", SELECTOR_VALUE_MAX);
	if (check_value(k->rule, c2 + 1, strlen(c2 + 1), err, errlen))
		return -EINVAL;
	if (ret) {
		ret->type = s;
		ret->type_len = (size_t)(c1 - s);
		ret->key = c1 + 1;
		ret->key_len = (size_t)(c2 - c1 - 1);
		ret->value = c2 + 1;
		ret->value_len = strlen(c2 + 1);
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void selector_set_normalize(char **v, size_t *n)
{
	size_t out = 0;

	if (*n < 2)
		return;
	qsort(v, *n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < *n; i++) {
		if (out > 0 && strcmp(v[out - 1], v[i]) == 0) {
			free(v[i]);
			continue;
		}
		v[out++] = v[i];
	}
	*n = out;
}

bool selector_set_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}
