// SPDX-License-Identifier: Apache-2.0
/*
 * SPIFFE ID syntax: a table of IDs the SPIFFE-ID standard accepts and
 * refuses, each refusal with the words its reason must contain.
 */
#include <errno.h>
#include <stdlib.h>
#include "test.h"
#include "spiffeid.h"

struct id_case {
	const char *id;
	const char *why; /* NULL: valid; else a substring of the reason */
};

static const struct id_case id_cases[] = {
	{ "spiffe://example.org", NULL },
	{ "spiffe://example.org/workload", NULL },
	{ "spiffe://example.org/ns/prod/sa/web", NULL },
	{ "spiffe://staging.example.com/payments/mysql", NULL },
	{ "spiffe://td/a-b_c.d/A.Z/0-9", NULL },
	{ "spiffe://k8s-west.example.com/ns/staging/sa/default", NULL },
	{ "spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453", NULL },
	{ "spiffe://a_b-c.d/x", NULL },
	{ "spiffe://1.2.3.4/x", NULL },
	{ "spiffe://td/...", NULL },
	{ "spiffe://td/.a/..b", NULL },
	{ "", "empty" },
	{ "spiffe://", "trust domain is missing" },
	{ "spiffe:///path", "trust domain is missing" },
	{ "http://example.org/x", "scheme" },
	{ "SPIFFE://example.org/x", "scheme" },
	{ "spiffe:/example.org/x", "scheme" },
	{ "spiffe//example.org/x", "scheme" },
	{ "example.org/x", "scheme" },
	{ "spiffe://Example.org/x", "lowercase" },
	{ "spiffe://example.org:8080/x", "port" },
	{ "spiffe://example.org:/x", "port" },
	{ "spiffe://user@example.org/x", "userinfo" },
	{ "spiffe://user:pw@example.org/x", "port" },
	{ "spiffe://example.org/x?query=1", "query" },
	{ "spiffe://example.org?q", "query" },
	{ "spiffe://example.org/x#frag", "fragment" },
	{ "spiffe://example.org#frag", "fragment" },
	{ "spiffe://example.org/", "end with '/'" },
	{ "spiffe://example.org/x/", "end with '/'" },
	{ "spiffe://example.org//x", "empty segment" },
	{ "spiffe://example.org/a//b", "empty segment" },
	{ "spiffe://example.org/.", "'.' or '..'" },
	{ "spiffe://example.org/..", "'.' or '..'" },
	{ "spiffe://example.org/a/./b", "'.' or '..'" },
	{ "spiffe://example.org/a/../b", "'.' or '..'" },
	{ "spiffe://example.org/a%20b", "percent" },
	{ "spiffe://exa%6dple.org/x", "percent" },
	{ "spiffe://example.org/a b", "outside [a-zA-Z0-9._-]" },
	{ "spiffe://example.org/a+b", "outside [a-zA-Z0-9._-]" },
	{ "spiffe://example.org/caf\xc3\xa9", "outside [a-zA-Z0-9._-]" },
	{ "spiffe://exa mple.org/x", "outside [a-z0-9._-]" },
	{ "spiffe://example.org/a\nb", "outside [a-zA-Z0-9._-]" },
	{ "spiffe://[::1]/x", "outside [a-z0-9._-]" },
};

TEST(spiffeid_table)
{
	char err[256];

	ASSERT_GT(sizeof(id_cases) / sizeof(id_cases[0]), 25);
	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		const struct id_case *c = &id_cases[i];
		int r;

		err[0] = '\0';
		r = spiffeid_parse(c->id, NULL, err, sizeof(err));
		if (!c->why && r != 0)
			FAIL("\"%s\": refused (%s), expected valid", c->id, err);
		if (c->why && r != -EINVAL)
			FAIL("\"%s\": got %d, expected -EINVAL (%s)", c->id, r, c->why);
		if (c->why && !strstr(err, c->why))
			FAIL("\"%s\": reason \"%s\", expected it to say \"%s\"", c->id, err, c->why);
	}
}

TEST(spiffeid_null_and_lengths)
{
	char buf[SPIFFEID_MAX_LEN + 2], td[TRUST_DOMAIN_MAX_LEN + 2];
	size_t n;

	ASSERT_ERR(spiffeid_parse(NULL, NULL, NULL, 0), -EINVAL);

	/* 2048 bytes exactly is allowed, 2049 is not. */
	n = (size_t)snprintf(buf, sizeof(buf), "spiffe://example.org/");
	memset(buf + n, 'a', SPIFFEID_MAX_LEN - n);
	buf[SPIFFEID_MAX_LEN] = '\0';
	ASSERT_OK(spiffeid_parse(buf, NULL, NULL, 0));
	buf[SPIFFEID_MAX_LEN] = 'a';
	buf[SPIFFEID_MAX_LEN + 1] = '\0';
	ASSERT_ERR(spiffeid_parse(buf, NULL, NULL, 0), -EINVAL);

	/* A 255-byte trust domain is allowed, 256 is not. */
	memset(td, 'a', TRUST_DOMAIN_MAX_LEN);
	td[TRUST_DOMAIN_MAX_LEN] = '\0';
	ASSERT_OK(trust_domain_validate(td, NULL, 0));
	snprintf(buf, sizeof(buf), "spiffe://%s/x", td);
	ASSERT_OK(spiffeid_parse(buf, NULL, NULL, 0));
	td[TRUST_DOMAIN_MAX_LEN] = 'a';
	td[TRUST_DOMAIN_MAX_LEN + 1] = '\0';
	ASSERT_ERR(trust_domain_validate(td, NULL, 0), -EINVAL);
	snprintf(buf, sizeof(buf), "spiffe://%s/x", td);
	ASSERT_ERR(spiffeid_parse(buf, NULL, NULL, 0), -EINVAL);
}

TEST(spiffeid_split)
{
	struct spiffeid id;

	ASSERT_OK(spiffeid_parse("spiffe://example.org/ns/web", &id, NULL, 0));
	ASSERT_EQ(id.td_len, strlen("example.org"));
	ASSERT_TRUE(memcmp(id.td, "example.org", id.td_len) == 0);
	ASSERT_STREQ(id.path, "/ns/web");
	ASSERT_EQ(id.path_len, strlen("/ns/web"));
	ASSERT_TRUE(spiffeid_in_trust_domain(&id, "example.org"));
	ASSERT_FALSE(spiffeid_in_trust_domain(&id, "example.or"));
	ASSERT_FALSE(spiffeid_in_trust_domain(&id, "example.org.evil"));
	ASSERT_FALSE(spiffeid_in_trust_domain(&id, NULL));

	ASSERT_OK(spiffeid_parse("spiffe://example.org", &id, NULL, 0));
	ASSERT_EQ(id.path_len, 0);
	ASSERT_STREQ(id.path, "");
}

TEST(trust_domain_names)
{
	static const struct id_case cases[] = {
		{ "example.org", NULL },
		{ "a", NULL },
		{ "my_td-1.example", NULL },
		{ "", "missing" },
		{ "Example.org", "lowercase" },
		{ "example.org:443", "port" },
		{ "spiffe://example.org", "not a URI" },
		{ "example.org/x", "outside" },
	};
	char err[128];

	ASSERT_ERR(trust_domain_validate(NULL, err, sizeof(err)), -EINVAL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = trust_domain_validate(cases[i].id, err, sizeof(err));

		if (!cases[i].why && r)
			FAIL("\"%s\": refused (%s)", cases[i].id, err);
		if (cases[i].why && (r != -EINVAL || !strstr(err, cases[i].why)))
			FAIL("\"%s\": got %d \"%s\", expected -EINVAL \"%s\"", cases[i].id, r, err,
			     cases[i].why);
	}
}
