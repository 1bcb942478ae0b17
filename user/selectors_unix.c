// SPDX-License-Identifier: Apache-2.0
/*
 * unix:* selectors, as SPIRE's unix workload attestor names them: the
 * effective uid and gid (with names resolved through NSS), supplementary
 * groups, the executable the kernel ran and its digest.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>
#include "namecache.h"
#include "selectors.h"

#define NSS_BUF 16384

static int push_user(const struct selector_input *in, struct strv *out, __u32 uid)
{
	struct passwd pw, *res = NULL;
	const char *name = NULL;
	char buf[NSS_BUF];

	if (in->names)
		name = namecache_user(in->names, uid);
	else if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		name = res->pw_name;
	return name ? strv_pushf(out, "unix:user:%s", name) : 0;
}

static int push_group(const struct selector_input *in, struct strv *out, const char *key,
		      __u32 gid)
{
	struct group gr, *res = NULL;
	const char *name = NULL;
	char buf[NSS_BUF];

	if (in->names)
		name = namecache_group(in->names, gid);
	else if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res)
		name = res->gr_name;
	return name ? strv_pushf(out, "unix:%s:%s", key, name) : 0;
}

int selectors_unix(const struct selector_input *in, struct strv *out)
{
	const struct proc_state *st = in->st;
	__u32 n = st->ngroups < MAX_GROUPS ? st->ngroups : MAX_GROUPS;
	int r;

	if ((r = strv_pushf(out, "unix:uid:%u", st->euid)) < 0 ||
	    (r = push_user(in, out, st->euid)) < 0 ||
	    (r = strv_pushf(out, "unix:gid:%u", st->egid)) < 0 ||
	    (r = push_group(in, out, "group", st->egid)) < 0)
		return r;
	for (__u32 i = 0; i < n; i++) {
		if ((r = strv_pushf(out, "unix:supplementary_gid:%u", st->groups[i])) < 0 ||
		    (r = push_group(in, out, "supplementary_group", st->groups[i])) < 0)
			return r;
	}
	/* A truncated path names some other file: better no selector than a wrong one. */
	if (st->exe[0] == '/' && !(st->flags & (PROC_F_EXE_TRUNCATED | PROC_F_NO_EXE | PROC_F_EXE_DELETED))) {
		if ((r = strv_pushf(out, "unix:path:%s", st->exe)) < 0)
			return r;
		if (in->sha256 && (r = strv_pushf(out, "unix:sha256:%s", in->sha256)) < 0)
			return r;
	}
	return 0;
}
