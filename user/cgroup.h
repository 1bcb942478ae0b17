/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cgroup path parsing: what the kernel's cgroup path of a process says
 * about the container, pod and systemd unit it runs in, for every layout
 * Docker, containerd, CRI-O, Podman and the kubelet make (docs/containers.md).
 * Pure string work, no I/O: the selector deriver and `attestctl selectors`
 * share it.
 */
#ifndef ATTESTD_CGROUP_H
#define ATTESTD_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

/* The longest path accepted; the kernel's records are shorter. */
#define CGROUP_PATH_MAX 4096
#define CGROUP_ID_LEN 64      /* container ids: 64 lowercase hex digits */
#define CGROUP_POD_UID_MAX 36 /* a UUID; static pods have 32 hex digits */
#define CGROUP_UNIT_MAX 255   /* systemd's UNIT_NAME_MAX less the NUL */

enum cgroup_runtime {
	CGROUP_RT_UNKNOWN = 0, /* an id whose layout does not say (kubepods cgroupfs) */
	CGROUP_RT_DOCKER,
	CGROUP_RT_CONTAINERD,
	CGROUP_RT_CRIO,
	CGROUP_RT_PODMAN,
};

struct cgroup_info {
	/* The innermost container: the workload. "" if the path is no container. */
	char container_id[CGROUP_ID_LEN + 1];
	enum cgroup_runtime runtime;
	/* The nearest enclosing pod, with '-' (systemd slices spell it '_'). "" if none. */
	char pod_uid[CGROUP_POD_UID_MAX + 1];
	/* The host systemd's unit for the path ("nginx.service"); "" if none. */
	char systemd_unit[CGROUP_UNIT_MAX + 1];
	/* Container runtimes nested in containers (docker-in-docker, kind): 0 when not nested. */
	unsigned nesting;
	/* The path began with "/..": it is relative to a cgroup namespace root. */
	bool ns_relative;
	/* A component below a systemd user manager (user@UID.service): user-named cgroups. */
	bool delegated;
	/* A runtime's monitor (crio-conmon-, libpod-conmon-), not its container. */
	bool conmon;
};

/*
 * Parses path ("/kubepods/burstable/pod<uid>/<id>", ...) into ret.  A path
 * that names no container is fine (ret empty).  -EINVAL with a one-line
 * reason in err for a path that is no kernel cgroup path ("..", "." or an
 * empty component inside it, not absolute) or that names two different
 * containers or pods at one level; -ENAMETOOLONG for an overlong one.
 */
int cgroup_parse(const char *path, struct cgroup_info *ret, char *err, size_t errlen);

/*
 * Whether a runtime's or orchestrator's word about ci's ids may be asked
 * for and trusted: only the host's runtime can name a top-level container,
 * while a nested runtime, a user's delegated subtree or an unknown
 * namespace root could name its cgroup after somebody else's container.
 */
bool cgroup_ids_authoritative(const struct cgroup_info *ci);

/* "docker", "containerd", "crio", "podman"; NULL for CGROUP_RT_UNKNOWN. */
const char *cgroup_runtime_name(enum cgroup_runtime rt);

#endif
