// SPDX-License-Identifier: Apache-2.0
/*
 * Registration entries: construction and canonical form, the JSON shape
 * design.md fixes, hostile JSON, and validation (a table of entries that
 * differ from a good one in one field).
 */
#include <errno.h>
#include <stdlib.h>
#include <json-c/json.h>
#include "test.h"
#include "cleanup.h"
#include "entry.h"

#define TD "example.org"
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void entry_freep(struct entry **e)
{
	entry_free(*e);
}
#define _cleanup_entry_ _cleanup_(entry_freep)

TEST(entry_new_defaults)
{
	_cleanup_entry_ struct entry *a = NULL, *b = NULL;

	ASSERT_OK(entry_new(&a));
	ASSERT_OK(entry_new(&b));
	ASSERT_TRUE(entry_id_valid(a->id));
	ASSERT_EQ(a->id[14], '4'); /* version 4 */
	ASSERT_TRUE(strchr("89ab", a->id[19]) != NULL); /* RFC 4122 variant */
	ASSERT_TRUE(strcmp(a->id, b->id) != 0);
	ASSERT_STREQ(a->spiffe_id, "");
	ASSERT_STREQ(a->parent_id, "");
	ASSERT_STREQ(a->hint, "");
	ASSERT_EQ(a->x509_svid_ttl, 3600);
	ASSERT_EQ(a->jwt_svid_ttl, 300);
	ASSERT_EQ(a->revision, 0);
	ASSERT_EQ(a->nselectors, 0);
}

TEST(entry_id_valid_forms)
{
	ASSERT_TRUE(entry_id_valid("9eebccd2-12bf-40a6-b262-65fe0487d453"));
	ASSERT_FALSE(entry_id_valid("9EEBCCD2-12BF-40A6-B262-65FE0487D453"));
	ASSERT_FALSE(entry_id_valid("9eebccd2-12bf-40a6-b262-65fe0487d45"));
	ASSERT_FALSE(entry_id_valid("9eebccd2-12bf-40a6-b262-65fe0487d4533"));
	ASSERT_FALSE(entry_id_valid("9eebccd2x12bf-40a6-b262-65fe0487d453"));
	ASSERT_FALSE(entry_id_valid("9eebccd2-12bf-40a6-b262-65fe0487d45g"));
	ASSERT_FALSE(entry_id_valid("../../../../etc/passwd-aaaaaaaaaaaaa"));
	ASSERT_FALSE(entry_id_valid(""));
	ASSERT_FALSE(entry_id_valid(NULL));
}

TEST(entry_setters_keep_selectors_sorted_unique)
{
	_cleanup_entry_ struct entry *e = NULL, *d = NULL;
	const char *want[] = { "cgroup:path:/a", "k8s:ns:x", "unix:gid:0", "unix:uid:0" };

	ASSERT_OK(entry_new(&e));
	ASSERT_OK(entry_add_selector(e, "unix:uid:0"));
	ASSERT_OK(entry_add_selector(e, "k8s:ns:x"));
	ASSERT_OK(entry_add_selector(e, "unix:uid:0"));
	ASSERT_OK(entry_add_selector(e, "unix:gid:0"));
	ASSERT_OK(entry_add_selector(e, "cgroup:path:/a"));
	ASSERT_OK(entry_add_selector(e, "k8s:ns:x"));
	ASSERT_EQ(e->nselectors, 4);
	for (size_t i = 0; i < 4; i++)
		ASSERT_STREQ(e->selectors[i], want[i]);

	ASSERT_OK(entry_add_dns_name(e, "b.example.org"));
	ASSERT_OK(entry_add_dns_name(e, "a.example.org"));
	ASSERT_OK(entry_add_dns_name(e, "b.example.org"));
	ASSERT_EQ(e->ndns_names, 2);
	ASSERT_STREQ(e->dns_names[0], "b.example.org"); /* order kept: the first may be the CN */
	ASSERT_OK(entry_add_federates_with(e, "other.org"));
	ASSERT_OK(entry_add_federates_with(e, "other.org"));
	ASSERT_EQ(e->nfederates_with, 1);
	ASSERT_OK(entry_set_spiffe_id(e, "spiffe://" TD "/x"));
	ASSERT_OK(entry_set_hint(e, NULL));
	ASSERT_STREQ(e->hint, "");

	ASSERT_OK(entry_dup(e, &d));
	ASSERT_TRUE(d->selectors != e->selectors);
	ASSERT_STREQ(d->id, e->id);
	ASSERT_STREQ(d->spiffe_id, e->spiffe_id);
	ASSERT_EQ(d->nselectors, 4);
	ASSERT_STREQ(d->selectors[3], "unix:uid:0");
	ASSERT_STREQ(d->dns_names[1], "a.example.org");
	ASSERT_STREQ(d->federates_with[0], "other.org");
	ASSERT_TRUE(entry_same_registration(e, d));
	ASSERT_OK(entry_set_parent_id(d, "spiffe://" TD "/node"));
	ASSERT_FALSE(entry_same_registration(e, d));
}

TEST(entry_json_exact_shape)
{
	_cleanup_entry_ struct entry *e = NULL;
	_cleanup_free_ char *s = NULL;

	ASSERT_OK(entry_new(&e));
	memcpy(e->id, "9eebccd2-12bf-40a6-b262-65fe0487d453", ENTRY_ID_LEN + 1);
	ASSERT_OK(entry_set_spiffe_id(e, "spiffe://example.org/x"));
	ASSERT_OK(entry_add_selector(e, "unix:uid:1000"));
	e->revision = 1;
	ASSERT_OK(entry_to_json_string(e, &s));
	ASSERT_STREQ(s, "{\"id\":\"9eebccd2-12bf-40a6-b262-65fe0487d453\","
			"\"spiffe_id\":\"spiffe://example.org/x\",\"parent_id\":\"\","
			"\"selectors\":[\"unix:uid:1000\"],\"x509_svid_ttl\":3600,"
			"\"jwt_svid_ttl\":300,\"dns_names\":[],\"hint\":\"\","
			"\"federates_with\":[],\"revision\":1,\"created_at\":0}");
}

TEST(entry_json_round_trip)
{
	_cleanup_entry_ struct entry *e = NULL, *back = NULL;
	_cleanup_free_ char *s = NULL, *s2 = NULL, *list = NULL;
	struct entry **v = NULL;
	size_t n = 0;
	char err[256];

	ASSERT_OK(entry_new(&e));
	ASSERT_OK(entry_set_spiffe_id(e, "spiffe://example.org/ns/prod/sa/web"));
	ASSERT_OK(entry_set_parent_id(e, "spiffe://example.org/node/n1"));
	ASSERT_OK(entry_set_hint(e, "web \"frontend\" caf\xc3\xa9 \\ /"));
	ASSERT_OK(entry_add_selector(e, "unix:path:/usr/bin/web"));
	ASSERT_OK(entry_add_selector(e, "k8s:pod-label:app:web"));
	ASSERT_OK(entry_add_dns_name(e, "web.example.org"));
	ASSERT_OK(entry_add_federates_with(e, "partner.org"));
	e->x509_svid_ttl = 7200;
	e->jwt_svid_ttl = 60;
	e->revision = 7;
	e->created_at = 1700000000;

	ASSERT_OK(entry_to_json_string(e, &s));
	ASSERT_OK(entry_from_json_string(s, &back, err, sizeof(err)));
	ASSERT_STREQ(back->id, e->id);
	ASSERT_STREQ(back->spiffe_id, e->spiffe_id);
	ASSERT_STREQ(back->parent_id, e->parent_id);
	ASSERT_STREQ(back->hint, e->hint);
	ASSERT_EQ(back->nselectors, 2);
	ASSERT_STREQ(back->selectors[0], "k8s:pod-label:app:web");
	ASSERT_STREQ(back->selectors[1], "unix:path:/usr/bin/web");
	ASSERT_EQ(back->ndns_names, 1);
	ASSERT_STREQ(back->dns_names[0], "web.example.org");
	ASSERT_EQ(back->nfederates_with, 1);
	ASSERT_EQ(back->x509_svid_ttl, 7200);
	ASSERT_EQ(back->jwt_svid_ttl, 60);
	ASSERT_EQ(back->revision, 7);
	ASSERT_EQ(back->created_at, 1700000000);
	ASSERT_OK(entry_to_json_string(back, &s2));
	ASSERT_STREQ(s2, s);

	ASSERT_OK(entries_to_json_string((struct entry *const[]){ e, back }, 2, &list));
	ASSERT_TRUE(strncmp(list, "{\"entries\":[{", 13) == 0);
	ASSERT_OK(entries_from_json(list, &v, &n, err, sizeof(err)));
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(v[1]->hint, e->hint);
	entries_free(v, n);
}

TEST(entry_json_defaults_and_unknown_fields)
{
	_cleanup_entry_ struct entry *e = NULL;
	char err[256];

	ASSERT_OK(entry_from_json_string(
		"  {\"spiffe_id\":\"spiffe://example.org/x\",\"selectors\":[\"unix:uid:0\","
		"\"unix:uid:0\",\"k8s:ns:a\"],\"x509_svid_ttl\":0,\"future_field\":{\"a\":[1]}}\n",
		&e, err, sizeof(err)));
	ASSERT_TRUE(entry_id_valid(e->id));
	ASSERT_EQ(e->x509_svid_ttl, 3600);
	ASSERT_EQ(e->jwt_svid_ttl, 300);
	ASSERT_EQ(e->nselectors, 2);
	ASSERT_STREQ(e->selectors[0], "k8s:ns:a");
	ASSERT_STREQ(e->parent_id, "");
	ASSERT_OK(entry_validate(e, TD, NULL, err, sizeof(err)));
}

struct bad_json {
	const char *text;
	const char *why;
};

static const struct bad_json bad_json_cases[] = {
	{ "", "end of data" },
	{ "{", "invalid JSON" },
	{ "not json", "invalid JSON" },
	{ "[]", "expected an object" },
	{ "null", "expected an object" },
	{ "\"str\"", "expected an object" },
	{ "{} {}", "invalid JSON" },
	{ "{}x", "invalid JSON" },
	{ "{'id':'x'}", "invalid JSON" },
	{ "{\"spiffe_id\":1}", "spiffe_id: expected a string" },
	{ "{\"spiffe_id\":null}", "spiffe_id: expected a string" },
	{ "{\"spiffe_id\":\"a\\u0000b\"}", "spiffe_id: string contains a NUL" },
	{ "{\"selectors\":\"unix:uid:0\"}", "selectors: expected an array" },
	{ "{\"selectors\":{}}", "selectors: expected an array" },
	{ "{\"selectors\":[1]}", "selectors[0]: expected a string" },
	{ "{\"selectors\":[\"unix:uid:0\",[\"x\"]]}", "selectors[1]: expected a string" },
	{ "{\"selectors\":[\"unix:\\u0000uid:0\"]}", "selectors[0]: string contains a NUL" },
	{ "{\"dns_names\":[null]}", "dns_names[0]: expected a string" },
	{ "{\"federates_with\":true}", "federates_with: expected an array" },
	{ "{\"x509_svid_ttl\":\"3600\"}", "x509_svid_ttl: expected an integer" },
	{ "{\"x509_svid_ttl\":3600.5}", "x509_svid_ttl: expected an integer" },
	{ "{\"x509_svid_ttl\":-1}", "x509_svid_ttl: -1 is outside" },
	{ "{\"x509_svid_ttl\":4294967296}", "x509_svid_ttl: 4294967296 is outside" },
	{ "{\"jwt_svid_ttl\":99999999999999999999999}", "jwt_svid_ttl" },
	{ "{\"jwt_svid_ttl\":true}", "jwt_svid_ttl: expected an integer" },
	{ "{\"revision\":-5}", "revision: -5 is outside" },
	{ "{\"revision\":18446744073709551615}", "revision: 18446744073709551615 is outside" },
	{ "{\"revision\":9223372036854775808}", "revision: 9223372036854775808 is outside" },
	{ "{\"created_at\":[]}", "created_at: expected an integer" },
	{ "{\"id\":\"not-a-uuid\"}", "id: not a lowercase UUID" },
	{ "{\"id\":5}", "id: expected a string" },
	{ "{\"hint\":\"\xff\xfe\"}", "invalid JSON" },
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]"
	  "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	  "invalid JSON" },
};

TEST(entry_json_hostile)
{
	char err[256];

	for (size_t i = 0; i < sizeof(bad_json_cases) / sizeof(bad_json_cases[0]); i++) {
		const struct bad_json *c = &bad_json_cases[i];
		struct entry *e = NULL;
		int r;

		err[0] = '\0';
		r = entry_from_json_string(c->text, &e, err, sizeof(err));
		if (r != -EINVAL) {
			entry_free(e);
			FAIL("%s: got %d, expected -EINVAL (%s)", c->text, r, c->why);
		}
		if (!strstr(err, c->why))
			FAIL("%s: reason \"%s\", expected it to say \"%s\"", c->text, err, c->why);
	}
	ASSERT_ERR(entry_from_json_string(NULL, NULL, err, sizeof(err)), -EINVAL);
}

TEST(entries_json_file)
{
	struct entry **v = NULL;
	size_t n = 99;
	char err[256];

	ASSERT_OK(entries_from_json("{\"entries\":[]}", &v, &n, err, sizeof(err)));
	ASSERT_EQ(n, 0);
	entries_free(v, n);

	ASSERT_OK(entries_from_json("{\"entries\":[{\"spiffe_id\":\"spiffe://example.org/a\"},"
				    "{\"spiffe_id\":\"spiffe://example.org/b\"}]}",
				    &v, &n, err, sizeof(err)));
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(v[1]->spiffe_id, "spiffe://example.org/b");
	entries_free(v, n);

	v = NULL;
	ASSERT_ERR(entries_from_json("{\"entries\":[{},{},{\"selectors\":7}]}", &v, &n, err,
				     sizeof(err)),
		   -EINVAL);
	ASSERT_TRUE(v == NULL);
	ASSERT_STREQ(err, "entries[2]: selectors: expected an array of strings, got int");
	ASSERT_ERR(entries_from_json("{\"entries\":{}}", &v, &n, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "entries: expected an array") != NULL);
	ASSERT_ERR(entries_from_json("{}", &v, &n, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "entries: missing") != NULL);
	ASSERT_ERR(entries_from_json("[{}]", &v, &n, err, sizeof(err)), -EINVAL);
	ASSERT_ERR(entries_from_json("{\"entries\":[1]}", &v, &n, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "entries[0]: expected an object") != NULL);
}

/* ---- validation: one good entry, then one change per case ---- */

enum field { F_SPIFFE, F_PARENT, F_SEL, F_X509, F_JWT, F_DNS, F_HINT, F_FED, F_ID, F_NOSEL };

struct val_case {
	enum field field;
	const char *s;
	uint32_t ttl;
	const char *why; /* NULL: valid */
};

static const struct val_case val_cases[] = {
	{ F_SPIFFE, "spiffe://example.org/a/b", 0, NULL },
	{ F_SPIFFE, "spiffe://example.org", 0, "spiffe_id: a workload's SPIFFE ID needs a path" },
	{ F_SPIFFE, "spiffe://other.org/x", 0, "spiffe_id: not in trust domain example.org" },
	{ F_SPIFFE, "spiffe://example.org.evil/x", 0, "spiffe_id: not in trust domain" },
	{ F_SPIFFE, "spiffe://example.org/x/", 0, "spiffe_id: path must not end with '/'" },
	{ F_SPIFFE, "", 0, "spiffe_id: SPIFFE ID is empty" },
	{ F_PARENT, "", 0, NULL },
	{ F_PARENT, "spiffe://example.org", 0, NULL },
	{ F_PARENT, "spiffe://example.org/spire/agent/x", 0, NULL },
	{ F_PARENT, "spiffe://other.org/agent", 0, "parent_id: not in trust domain" },
	{ F_PARENT, "node-1", 0, "parent_id: scheme" },
	{ F_SEL, "unix:uid:1000", 0, NULL },
	{ F_SEL, "aws:iid:1", 0, "selectors[0]: unknown selector type" },
	{ F_SEL, "unix:uid:x", 0, "selectors[2]: value must be a decimal" },
	{ F_SEL, "container:id:" HEX64, 0, NULL },
	{ F_NOSEL, NULL, 0, "selectors: at least one selector is required" },
	{ F_X509, NULL, 0, NULL },
	{ F_X509, NULL, 60, NULL },
	{ F_X509, NULL, 2592000, NULL },
	{ F_X509, NULL, 59, "x509_svid_ttl: 59 s is outside 60..2592000 s" },
	{ F_X509, NULL, 2592001, "x509_svid_ttl" },
	{ F_JWT, NULL, 30, NULL },
	{ F_JWT, NULL, 86400, NULL },
	{ F_JWT, NULL, 29, "jwt_svid_ttl: 29 s is outside 30..86400 s" },
	{ F_JWT, NULL, 86401, "jwt_svid_ttl" },
	{ F_DNS, "web.example.org", 0, NULL },
	{ F_DNS, "*.example.org", 0, NULL },
	{ F_DNS, "Web-1.Example.org", 0, NULL },
	{ F_DNS, "localhost", 0, NULL },
	{ F_DNS, "", 0, "dns_names[0]: DNS name is empty" },
	{ F_DNS, "web..example.org", 0, "empty label" },
	{ F_DNS, "web.example.org.", 0, "must not end with '.'" },
	{ F_DNS, "-web.example.org", 0, "must not start or end with '-'" },
	{ F_DNS, "web-.example.org", 0, "must not start or end with '-'" },
	{ F_DNS, "web_1.example.org", 0, "outside [a-zA-Z0-9-]" },
	{ F_DNS, "a.*.example.org", 0, "outside [a-zA-Z0-9-]" },
	{ F_DNS, "*", 0, "wildcard" },
	{ F_DNS, "*x.example.org", 0, "wildcard" },
	{ F_DNS, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org", 0,
	  "longer than 63" },
	{ F_HINT, "frontend", 0, NULL },
	{ F_HINT, "a\nb", 0, "hint: control character" },
	{ F_FED, "partner.org", 0, NULL },
	{ F_FED, "spiffe://partner.org", 0, NULL },
	{ F_FED, "example.org", 0, "federates_with[0]: an entry cannot federate with its own" },
	{ F_FED, "Partner.org", 0, "federates_with[0]: trust domain must be lowercase" },
	{ F_FED, "spiffe://partner.org/x", 0, "federates_with[0]" },
	{ F_ID, "9eebccd2-12bf-40a6-b262-65fe0487d453", 0, NULL },
	{ F_ID, "", 0, NULL },
	{ F_ID, "9EEBCCD2-12BF-40A6-B262-65FE0487D453", 0, "id: not a lowercase UUID" },
};

static int good_entry(struct entry **ret)
{
	struct entry *e;
	int r;

	r = entry_new(&e);
	if (r)
		return r;
	if ((r = entry_set_spiffe_id(e, "spiffe://" TD "/web")) ||
	    (r = entry_add_selector(e, "k8s:ns:prod")) ||
	    (r = entry_add_selector(e, "unix:uid:1000"))) {
		entry_free(e);
		return r;
	}
	*ret = e;
	return 0;
}

static int apply_case(struct entry *e, const struct val_case *c)
{
	/* Selectors are inserted sorted: "aws:..." lands at index 0, "unix:uid:x" at 2. */
	switch (c->field) {
	case F_SPIFFE:
		return entry_set_spiffe_id(e, c->s);
	case F_PARENT:
		return entry_set_parent_id(e, c->s);
	case F_SEL:
		return entry_add_selector(e, c->s);
	case F_NOSEL:
		for (size_t i = 0; i < e->nselectors; i++)
			free(e->selectors[i]);
		e->nselectors = 0;
		return 0;
	case F_X509:
		e->x509_svid_ttl = c->ttl;
		return 0;
	case F_JWT:
		e->jwt_svid_ttl = c->ttl;
		return 0;
	case F_DNS:
		return entry_add_dns_name(e, c->s);
	case F_HINT:
		return entry_set_hint(e, c->s);
	case F_FED:
		return entry_add_federates_with(e, c->s);
	case F_ID:
		snprintf(e->id, sizeof(e->id), "%s", c->s);
		return 0;
	}
	return -EINVAL;
}

TEST(entry_validate_table)
{
	char err[256];

	for (size_t i = 0; i < sizeof(val_cases) / sizeof(val_cases[0]); i++) {
		const struct val_case *c = &val_cases[i];
		_cleanup_entry_ struct entry *e = NULL;
		int r;

		ASSERT_OK(good_entry(&e));
		ASSERT_OK(apply_case(e, c));
		err[0] = '\0';
		r = entry_validate(e, TD, NULL, err, sizeof(err));
		if (!c->why && r)
			FAIL("case %zu (%s/%u): refused: %s", i, c->s ? c->s : "", c->ttl, err);
		if (c->why && r != -EINVAL)
			FAIL("case %zu (%s/%u): got %d, expected -EINVAL (%s)", i, c->s ? c->s : "",
			     c->ttl, r, c->why);
		if (c->why && !strstr(err, c->why))
			FAIL("case %zu (%s/%u): reason \"%s\", expected \"%s\"", i, c->s ? c->s : "",
			     c->ttl, err, c->why);
	}
}

TEST(entry_validate_limits)
{
	_cleanup_entry_ struct entry *e = NULL;
	struct entry_limits lim = entry_limits_default;
	_cleanup_free_ char *hint = calloc(1, ENTRY_HINT_MAX + 2);
	char sel[64], err[256];

	ASSERT_OK(good_entry(&e));
	ASSERT_NOT_NULL(hint);
	/* 32 selectors pass the default limit, 33 do not; a configured 2 refuses 3. */
	for (int i = e->nselectors; i < 32; i++) {
		snprintf(sel, sizeof(sel), "unix:supplementary_gid:%d", i);
		ASSERT_OK(entry_add_selector(e, sel));
	}
	ASSERT_EQ(e->nselectors, 32);
	ASSERT_OK(entry_validate(e, TD, NULL, err, sizeof(err)));
	ASSERT_OK(entry_add_selector(e, "unix:gid:5"));
	ASSERT_ERR(entry_validate(e, TD, NULL, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "selectors: 33 is more than the limit of 32");
	lim.max_selectors = 40;
	ASSERT_OK(entry_validate(e, TD, &lim, err, sizeof(err)));
	lim.max_selectors = 2;
	ASSERT_ERR(entry_validate(e, TD, &lim, err, sizeof(err)), -EINVAL);

	memset(hint, 'h', ENTRY_HINT_MAX);
	ASSERT_OK(entry_set_hint(e, hint));
	ASSERT_OK(entry_validate(e, TD, NULL, err, sizeof(err)) == -EINVAL ? 0 : -1);
	ASSERT_TRUE(strstr(err, "selectors") != NULL); /* still the selector count first */
	lim.max_selectors = 64;
	ASSERT_OK(entry_validate(e, TD, &lim, err, sizeof(err)));
	hint[ENTRY_HINT_MAX] = 'h';
	ASSERT_OK(entry_set_hint(e, hint));
	ASSERT_ERR(entry_validate(e, TD, &lim, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "hint: longer than 1024 bytes");

	ASSERT_ERR(entry_validate(e, "Bad TD", &lim, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "attestd's trust domain") != NULL);
	ASSERT_ERR(entry_validate(e, NULL, &lim, NULL, 0), -EINVAL);
}

TEST(entry_normalize_resolves_defaults)
{
	_cleanup_entry_ struct entry *e = NULL;

	ASSERT_OK(good_entry(&e));
	e->x509_svid_ttl = 0;
	e->jwt_svid_ttl = 0;
	ASSERT_OK(entry_add_federates_with(e, "b.org"));
	ASSERT_OK(entry_add_federates_with(e, "a.org"));
	entry_normalize(e);
	ASSERT_EQ(e->x509_svid_ttl, ENTRY_X509_TTL_DEFAULT);
	ASSERT_EQ(e->jwt_svid_ttl, ENTRY_JWT_TTL_DEFAULT);
	ASSERT_STREQ(e->federates_with[0], "a.org");
}
