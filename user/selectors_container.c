// SPDX-License-Identifier: Apache-2.0
/*
 * container:id, container:runtime, k8s:pod-uid and systemd:id from the
 * kernel's cgroup path (cgroup.c), plus what the runtime and the kubelet
 * know about that container and pod (meta_cache.c).  A path that cannot be
 * read without ambiguity yields none of these, never a guess.
 */
#include <string.h>
#include "cgroup.h"
#include "log.h"
#include "meta_cache.h"
#include "selectors.h"
#include "selectors_container.h"

const char *selectors_container_cgroup(const struct proc_state *st)
{
	bool v2_root = st->cgroup[0] == '\0' || strcmp(st->cgroup, "/") == 0;

	if (!v2_root)
		return st->flags & PROC_F_CGROUP_TRUNCATED ? NULL : st->cgroup;
	if (st->cgroup_v1[0] == '/' && !(st->flags & PROC_F_CGROUP_V1_TRUNCATED))
		return st->cgroup_v1;
	return NULL;
}

int selectors_container_push(const struct cgroup_info *ci, struct strv *out)
{
	const char *rt = cgroup_runtime_name(ci->runtime);
	int r;

	if (ci->container_id[0]) {
		if ((r = strv_pushf(out, "container:id:%s", ci->container_id)) < 0)
			return r;
		if (rt && (r = strv_pushf(out, "container:runtime:%s", rt)) < 0)
			return r;
	}
	if (ci->pod_uid[0] && (r = strv_pushf(out, "k8s:pod-uid:%s", ci->pod_uid)) < 0)
		return r;
	if (ci->systemd_unit[0] && (r = strv_pushf(out, "systemd:id:%s", ci->systemd_unit)) < 0)
		return r;
	return 0;
}

int selectors_container(const struct selector_input *in, struct strv *out)
{
	const char *path = selectors_container_cgroup(in->st);
	struct meta_cache *mc = in->meta;
	struct cgroup_info ci;
	char err[160];
	int r;

	if (!path)
		return 0;
	if (cgroup_parse(path, &ci, err, sizeof(err)) < 0) {
		/* Not the whole derivation's failure: the process keeps its other selectors. */
		log_debug("\"no container selectors\" pid=%u reason=\"%s\"", in->st->tgid, err);
		return 0;
	}
	r = selectors_container_push(&ci, out);
	if (r == 0 && mc)
		r = meta_cache_selectors(mc, &ci, out);
	return r;
}
