// SPDX-License-Identifier: Apache-2.0
/*
 * Selector syntax: a table of selector strings from design.md's table and
 * the ways operators get them wrong, plus set normalization.
 */
#include <errno.h>
#include <stdlib.h>
#include "test.h"
#include "cleanup.h"
#include "selector.h"

struct sel_case {
	const char *s;
	const char *why; /* NULL: valid; else a substring of the reason */
};

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct sel_case sel_cases[] = {
	{ "unix:uid:0", NULL },
	{ "unix:uid:1000", NULL },
	{ "unix:user:www-data", NULL },
	{ "unix:gid:4294967295", NULL },
	{ "unix:group:adm", NULL },
	{ "unix:supplementary_gid:27", NULL },
	{ "unix:supplementary_group:sudo", NULL },
	{ "unix:path:/usr/bin/python3", NULL },
	{ "unix:sha256:" HEX64, NULL },
	{ "docker:label:com.example.app:web", NULL },
	{ "docker:label:k:", NULL },
	{ "docker:image_id:sha256:" HEX64, NULL },
	{ "docker:env:ENV=prod", NULL },
	{ "k8s:ns:default", NULL },
	{ "k8s:sa:web", NULL },
	{ "k8s:pod-uid:9eebccd2-12bf-40a6-b262-65fe0487d453", NULL },
	{ "k8s:pod-name:web-0", NULL },
	{ "k8s:container-name:app", NULL },
	{ "k8s:container-image:docker.io/library/nginx:1.25", NULL },
	{ "k8s:pod-label:app:web", NULL },
	{ "k8s:node-name:node-1", NULL },
	{ "systemd:id:nginx.service", NULL },
	{ "cgroup:path:/system.slice/nginx.service", NULL },
	{ "container:id:" HEX64, NULL },
	{ "container:runtime:containerd", NULL },
	{ "container:runtime:podman", NULL },
	{ "ns:pid:4026531836", NULL },
	{ "ns:mnt:4026531841", NULL },
	{ "lineage:path:/usr/sbin/sshd", NULL },
	{ "unix:user:caf\xc3\xa9", NULL },
	{ "unix:user:with space", NULL },
	{ "", "empty" },
	{ "unix", "type:key:value" },
	{ "unix:uid", "type:key:value" },
	{ "unix:uid:", "value is empty" },
	{ "aws:iid:x", "unknown selector type" },
	{ "Unix:uid:0", "unknown selector type" },
	{ ":uid:0", "unknown selector type" },
	{ "unix:pid:1", "unknown key" },
	{ "unix::0", "unknown key" },
	{ "k8s:namespace:default", "unknown key" },
	{ "unix:uid:root", "decimal" },
	{ "unix:uid:-1", "decimal" },
	{ "unix:uid:007", "leading zeros" },
	{ "unix:uid:18446744073709551616", "64 bits" },
	{ "unix:uid:123456789012345678901", "leading zeros" },
	{ "ns:pid:abc", "decimal" },
	{ "unix:path:usr/bin/x", "absolute" },
	{ "cgroup:path:system.slice", "absolute" },
	{ "lineage:path:sshd", "absolute" },
	{ "unix:sha256:ABCDEF", "64 lowercase hex" },
	{ "unix:sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
	  "64 lowercase hex" },
	{ "container:id:abc123", "64 lowercase hex" },
	{ "container:runtime:lxc", "runtime must be" },
	{ "docker:label:novalue", "KEY:VALUE" },
	{ "docker:label::v", "KEY:VALUE" },
	{ "k8s:pod-label:app", "KEY:VALUE" },
	{ "docker:env:ENV", "KEY=VALUE" },
	{ "docker:env:=x", "KEY=VALUE" },
	{ "unix:user:a\nb", "control character" },
	{ "unix:user:a\tb", "control character" },
	{ "unix:user:a\x7f", "control character" },
	{ "unix:user:\xc3", "invalid UTF-8" },
	{ "unix:user:\xc0\xaf", "invalid UTF-8" },
	{ "unix:user:\xed\xa0\x80", "invalid UTF-8" },
	{ "unix:user:\xc2\x85", "invalid UTF-8" },
};

TEST(selector_table)
{
	char err[256];

	for (size_t i = 0; i < sizeof(sel_cases) / sizeof(sel_cases[0]); i++) {
		const struct sel_case *c = &sel_cases[i];
		int r;

		err[0] = '\0';
		r = selector_parse(c->s, NULL, err, sizeof(err));
		if (!c->why && r != 0)
			FAIL("\"%s\": refused (%s), expected valid", c->s, err);
		if (c->why && r != -EINVAL)
			FAIL("\"%s\": got %d, expected -EINVAL (%s)", c->s, r, c->why);
		if (c->why && !strstr(err, c->why))
			FAIL("\"%s\": reason \"%s\", expected it to say \"%s\"", c->s, err, c->why);
	}
}

TEST(selector_split)
{
	struct selector sel;

	ASSERT_OK(selector_parse("docker:label:com.example:a:b", &sel, NULL, 0));
	ASSERT_EQ(sel.type_len, 6);
	ASSERT_TRUE(memcmp(sel.type, "docker", 6) == 0);
	ASSERT_EQ(sel.key_len, 5);
	ASSERT_TRUE(memcmp(sel.key, "label", 5) == 0);
	ASSERT_STREQ(sel.value, "com.example:a:b");
	ASSERT_EQ(sel.value_len, strlen("com.example:a:b"));
	ASSERT_ERR(selector_parse(NULL, &sel, NULL, 0), -EINVAL);
	ASSERT_TRUE(selector_type_known("lineage"));
	ASSERT_FALSE(selector_type_known("lineagex"));
	ASSERT_FALSE(selector_type_known(NULL));
}

TEST(selector_length_bound)
{
	_cleanup_free_ char *s = malloc(SELECTOR_MAX_LEN + 16);
	size_t n;

	ASSERT_NOT_NULL(s);
	n = (size_t)sprintf(s, "unix:path:/");
	memset(s + n, 'a', SELECTOR_VALUE_MAX - 1);
	s[n + SELECTOR_VALUE_MAX - 1] = '\0';
	ASSERT_OK(selector_parse(s, NULL, NULL, 0));
	s[n + SELECTOR_VALUE_MAX - 1] = 'a';
	s[n + SELECTOR_VALUE_MAX] = '\0';
	ASSERT_ERR(selector_parse(s, NULL, NULL, 0), -EINVAL);
	memset(s, 'a', SELECTOR_MAX_LEN + 8);
	memcpy(s, "unix:user:", 10);
	s[SELECTOR_MAX_LEN + 8] = '\0';
	ASSERT_ERR(selector_parse(s, NULL, NULL, 0), -EINVAL);
}

TEST(selector_set_normalize_sorts_and_dedups)
{
	const char *in[] = { "unix:uid:0", "k8s:ns:a", "unix:uid:0", "cgroup:path:/x", "k8s:ns:a",
			     "unix:uid:0" };
	const char *want[] = { "cgroup:path:/x", "k8s:ns:a", "unix:uid:0" };
	char *v[6];
	size_t n = 6;

	for (size_t i = 0; i < n; i++)
		v[i] = strdup(in[i]);
	selector_set_normalize(v, &n);
	ASSERT_EQ(n, 3);
	for (size_t i = 0; i < n; i++)
		ASSERT_STREQ(v[i], want[i]);
	ASSERT_TRUE(selector_set_equal(v, n, (char *const *)want, 3));
	ASSERT_FALSE(selector_set_equal(v, n, (char *const *)want, 2));
	ASSERT_FALSE(selector_set_equal(v, 2, (char *const *)want + 1, 2));
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}
