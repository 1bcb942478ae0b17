// SPDX-License-Identifier: Apache-2.0
/*
 * attestd's own kernel-only selectors: the cgroup v2 path, the pid and
 * mount namespaces, and the lineage of executables above the process.
 */
#include "selectors.h"

int selectors_kernel(const struct selector_input *in, struct strv *out)
{
	const struct proc_state *st = in->st;
	int r;

	if (st->cgroup[0] == '/' && !(st->flags & PROC_F_CGROUP_TRUNCATED) &&
	    (r = strv_pushf(out, "cgroup:path:%s", st->cgroup)) < 0)
		return r;
	if (st->pidns_ino && (r = strv_pushf(out, "ns:pid:%u", st->pidns_ino)) < 0)
		return r;
	if (st->mntns_ino && (r = strv_pushf(out, "ns:mnt:%u", st->mntns_ino)) < 0)
		return r;
	for (size_t i = 0; i < in->nlineage; i++)
		if ((r = strv_pushf(out, "lineage:path:%s", in->lineage[i])) < 0)
			return r;
	return 0;
}
