/* SPDX-License-Identifier: Apache-2.0 */
/*
 * container:*, k8s:pod-uid and systemd:id from the cgroup path, and the
 * docker:* and k8s:* metadata the runtime and the kubelet add to them
 * (meta_cache.h).  The deriver itself is selectors_container() in
 * selectors.h; this is what attestctl and attestd need besides it.
 */
#ifndef ATTESTD_SELECTORS_CONTAINER_H
#define ATTESTD_SELECTORS_CONTAINER_H

#include <stddef.h>
#include "cgroup.h"
#include "selectors.h"

struct meta_cache;

/*
 * The cgroup path the container selectors read for st: the v2 path,
 * unless it is the v2 root (hybrid hosts, where processes stay there),
 * then the tracked v1 one.  NULL when the path to read was truncated.
 */
const char *selectors_container_cgroup(const struct proc_state *st);

/* The kernel-only selectors ci yields (container:id, container:runtime, k8s:pod-uid, systemd:id).
 */
int selectors_container_push(const struct cgroup_info *ci, struct strv *out);


#endif
