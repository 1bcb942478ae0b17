// SPDX-License-Identifier: Apache-2.0
/*
 * Cgroup path parsing.  The path is read component by component, root
 * first.  A component may claim a container ("docker-<id>.scope", a bare
 * 64-hex id, ...) or a pod ("pod<uid>" under kubepods, "...-pod<uid>.slice"),
 * or be a runtime root ("docker", "kubepods", any ".slice") that, after a
 * container, opens a nested level (docker-in-docker, kind).  One level may
 * hold one container and one pod; a second, different one is an error, so
 * an ambiguous path yields no identity at all.  The innermost container and
 * the nearest enclosing pod win.  docs/containers.md lists the layouts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cgroup.h"

struct span {
	const char *s;
	size_t len;
};

struct container_prefix {
	const char *prefix;
	enum cgroup_runtime rt;
	bool conmon;
};

/* Longest first where one prefix starts another (crio-conmon- before crio-). */
static const struct container_prefix prefixes[] = {
    {"cri-containerd-", CGROUP_RT_CONTAINERD, false},
    {"crio-conmon-", CGROUP_RT_CRIO, true},
    {"crio-", CGROUP_RT_CRIO, false},
    {"libpod-conmon-", CGROUP_RT_PODMAN, true},
    {"libpod-", CGROUP_RT_PODMAN, false},
    {"docker-", CGROUP_RT_DOCKER, false},
};

/* Roots a runtime or the kubelet makes its cgroups under; ".slice" counts too. */
static const char *const runtime_roots[] = {"docker", "kubepods", "kubelet", "libpod_parent"};

/* Unit types systemd puts processes in (slices hold units, never processes of their own). */
static const char *const unit_suffixes[] = {".service", ".scope", ".socket", ".mount", ".swap"};

static const char *const runtime_names[] = {
    [CGROUP_RT_DOCKER] = "docker",
    [CGROUP_RT_CONTAINERD] = "containerd",
    [CGROUP_RT_CRIO] = "crio",
    [CGROUP_RT_PODMAN] = "podman",
};

const char *cgroup_runtime_name(enum cgroup_runtime rt)
{
	if (rt <= CGROUP_RT_UNKNOWN || rt > CGROUP_RT_PODMAN)
		return NULL;
	return runtime_names[rt];
}

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool span_is(struct span c, const char *word)
{
	return c.len == strlen(word) && memcmp(c.s, word, c.len) == 0;
}

static bool span_starts(struct span c, const char *prefix)
{
	size_t n = strlen(prefix);

	return c.len >= n && memcmp(c.s, prefix, n) == 0;
}

static bool span_ends(struct span c, const char *suffix)
{
	size_t n = strlen(suffix);

	return c.len >= n && memcmp(c.s + c.len - n, suffix, n) == 0;
}

static bool is_lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_container_id(const char *s, size_t len)
{
	return len == CGROUP_ID_LEN && is_lower_hex(s, len);
}

/* A pod uid as the kubelet names pods: a lowercase UUID, or 32 hex digits (static pods). */
static bool is_pod_uid(const char *s, size_t len)
{
	static const size_t dash[] = {8, 13, 18, 23};

	if (len == 32)
		return is_lower_hex(s, len);
	if (len != 36)
		return false;
	for (size_t i = 0, d = 0; i < len; i++) {
		if (d < 4 && i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_lower_hex(s + i, 1)) {
			return false;
		}
	}
	return true;
}

/* systemd's unit name alphabet (unit_name_is_valid), a known type, at most one '@'. */
static bool is_unit_name(struct span c)
{
	bool suffix = false;
	int at = 0;

	if (c.len == 0 || c.len > CGROUP_UNIT_MAX)
		return false;
	for (size_t i = 0; i < c.len; i++) {
		char ch = c.s[i];

		if (ch == '@')
			at++;
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == ':' || ch == '-' || ch == '_' ||
			   ch == '.' || ch == '\\'))
			return false;
	}
	for (size_t i = 0; i < sizeof(unit_suffixes) / sizeof(unit_suffixes[0]); i++)
		suffix |= span_ends(c, unit_suffixes[i]) && c.len > strlen(unit_suffixes[i]);
	return suffix && at <= 1 && c.s[0] != '@';
}

/* "user@1000.service": below it, a user's systemd names the cgroups. */
static bool is_user_manager(struct span c)
{
	size_t n = strlen("user@"), end = c.len - strlen(".service");

	if (!span_starts(c, "user@") || !span_ends(c, ".service") || end <= n)
		return false;
	for (size_t i = n; i < end; i++)
		if (c.s[i] < '0' || c.s[i] > '9')
			return false;
	return true;
}

static bool is_runtime_root(struct span c)
{
	if (span_ends(c, ".slice"))
		return true;
	for (size_t i = 0; i < sizeof(runtime_roots) / sizeof(runtime_roots[0]); i++)
		if (span_is(c, runtime_roots[i]))
			return true;
	return false;
}

/* A kubepods root: "kubepods" (cgroupfs) or a slice with a "kubepods" part and no pod. */
static bool is_kube_root(struct span c)
{
	struct span stem;
	const char *p;

	if (span_is(c, "kubepods"))
		return true;
	if (!span_ends(c, ".slice"))
		return false;
	stem = (struct span){c.s, c.len - strlen(".slice")};
	for (p = stem.s; p < stem.s + stem.len;) {
		const char *e = memchr(p, '-', (size_t)(stem.s + stem.len - p));
		struct span part = {p, e ? (size_t)(e - p) : (size_t)(stem.s + stem.len - p)};

		if (span_is(part, "kubepods"))
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

enum claim { CLAIM_NONE, CLAIM_CONTAINER, CLAIM_POD, CLAIM_CONMON, CLAIM_ERROR };

struct parser {
	char *err;
	size_t errlen;
	struct span prev; /* the previous component; .s NULL at the first */
	bool ns_relative;
	bool user_manager_seen;
	/* the current level */
	bool kube, has_cid, has_pod, root_after_cid, kube_after_cid;
	char cid[CGROUP_ID_LEN + 1];
	char pod[CGROUP_POD_UID_MAX + 1];
	/* the claim being made */
	char id[CGROUP_POD_UID_MAX > CGROUP_ID_LEN ? CGROUP_POD_UID_MAX + 1 : CGROUP_ID_LEN + 1];
	enum cgroup_runtime rt;
};

/* "...kubepods[-qos]-pod<uid_>.slice", inside the slice its name says it is in. */
static enum claim pod_slice(struct parser *ps, struct span c)
{
	struct span stem = {c.s, c.len - strlen(".slice")}, raw, parent;
	const char *dash = NULL;
	bool kube = false;

	for (size_t i = 0; i < stem.len; i++)
		if (stem.s[i] == '-')
			dash = stem.s + i;
	if (!dash ||
	    !span_starts((struct span){dash + 1, (size_t)(stem.s + stem.len - dash - 1)}, "pod"))
		return CLAIM_NONE;
	parent = (struct span){stem.s, (size_t)(dash - stem.s)};
	raw = (struct span){dash + 4, (size_t)(stem.s + stem.len - dash - 4)};
	/* The chain above the pod must hold "kubepods", then at most a QoS class. */
	{
		struct span last = parent, up = parent;
		const char *d = memrchr(parent.s, '-', parent.len);

		if (d) {
			last = (struct span){d + 1, (size_t)(parent.s + parent.len - d - 1)};
			up = (struct span){parent.s, (size_t)(d - parent.s)};
		}
		if (span_is(last, "kubepods"))
			kube = true;
		else if (d && (span_is(last, "besteffort") || span_is(last, "burstable"))) {
			const char *d2 = memrchr(up.s, '-', up.len);
			struct span l2 =
			    d2 ? (struct span){d2 + 1, (size_t)(up.s + up.len - d2 - 1)} : up;

			kube = span_is(l2, "kubepods");
		}
	}
	if (!kube || raw.len > CGROUP_POD_UID_MAX)
		return CLAIM_NONE;
	for (size_t i = 0; i < raw.len; i++)
		ps->id[i] = raw.s[i] == '_' ? '-' : raw.s[i];
	ps->id[raw.len] = '\0';
	if (memchr(raw.s, '-', raw.len) || !is_pod_uid(ps->id, raw.len))
		return CLAIM_NONE;
	/* systemd nests a-b-c.slice in a-b.slice: any other parent is no systemd layout. */
	if (ps->prev.s &&
	    !(span_ends(ps->prev, ".slice") && ps->prev.len == parent.len + strlen(".slice") &&
	      memcmp(ps->prev.s, parent.s, parent.len) == 0)) {
		fail(ps->err, ps->errlen, -EINVAL, "pod slice %.*s is not inside %.*s.slice",
		     (int)c.len, c.s, (int)parent.len, parent.s);
		return CLAIM_ERROR;
	}
	return CLAIM_POD;
}

/* What component c claims; the claimed id is left in ps->id, its runtime in ps->rt. */
static enum claim classify(struct parser *ps, struct span c)
{
	ps->rt = CGROUP_RT_UNKNOWN;
	if (is_container_id(c.s, c.len)) {
		memcpy(ps->id, c.s, c.len);
		ps->id[c.len] = '\0';
		if (ps->prev.s && span_is(ps->prev, "docker"))
			ps->rt = CGROUP_RT_DOCKER;
		return CLAIM_CONTAINER;
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct span rest;

		if (!span_starts(c, prefixes[i].prefix))
			continue;
		rest = (struct span){c.s + strlen(prefixes[i].prefix),
				     c.len - strlen(prefixes[i].prefix)};
		if (span_ends(rest, ".scope"))
			rest.len -= strlen(".scope");
		if (!is_container_id(rest.s, rest.len))
			return CLAIM_NONE;
		memcpy(ps->id, rest.s, rest.len);
		ps->id[rest.len] = '\0';
		ps->rt = prefixes[i].rt;
		return prefixes[i].conmon ? CLAIM_CONMON : CLAIM_CONTAINER;
	}
	if (span_ends(c, ".slice"))
		return pod_slice(ps, c);
	/* cgroupfs: pod<uid> under kubepods; where a namespace root hides kubepods, anywhere. */
	if (span_starts(c, "pod") && c.len - 3 <= CGROUP_POD_UID_MAX &&
	    is_pod_uid(c.s + 3, c.len - 3) &&
	    (ps->kube || (ps->root_after_cid && ps->kube_after_cid) ||
	     (ps->ns_relative && !ps->has_cid))) {
		memcpy(ps->id, c.s + 3, c.len - 3);
		ps->id[c.len - 3] = '\0';
		return CLAIM_POD;
	}
	return CLAIM_NONE;
}

/* A new id after a runtime root that followed this level's container: a nested level. */
static void maybe_nest(struct parser *ps, struct cgroup_info *ret)
{
	if (!ps->root_after_cid)
		return;
	ret->nesting++;
	ps->kube = ps->kube_after_cid;
	ps->has_cid = ps->has_pod = ps->root_after_cid = ps->kube_after_cid = false;
}

static int claim_container(struct parser *ps, struct cgroup_info *ret)
{
	maybe_nest(ps, ret);
	if (ps->has_cid) {
		if (strcmp(ps->cid, ps->id) != 0)
			return fail(ps->err, ps->errlen, -EINVAL,
				    "two containers at one level: %s and %s", ps->cid, ps->id);
		if (ret->runtime == CGROUP_RT_UNKNOWN)
			ret->runtime = ps->rt;
		return 0;
	}
	ps->has_cid = true;
	strcpy(ps->cid, ps->id);
	strcpy(ret->container_id, ps->id);
	ret->runtime = ps->rt;
	ret->delegated |= ps->user_manager_seen;
	return 0;
}

static int claim_pod(struct parser *ps, struct cgroup_info *ret)
{
	maybe_nest(ps, ret);
	if (ps->has_cid)
		return fail(ps->err, ps->errlen, -EINVAL, "pod %s inside container %s", ps->id,
			    ps->cid);
	if (ps->has_pod) {
		if (strcmp(ps->pod, ps->id) != 0)
			return fail(ps->err, ps->errlen, -EINVAL,
				    "two pods at one level: %s and %s", ps->pod, ps->id);
		return 0;
	}
	ps->has_pod = true;
	strcpy(ps->pod, ps->id);
	strcpy(ret->pod_uid, ps->id);
	ret->delegated |= ps->user_manager_seen;
	return 0;
}

/* The unit the host's systemd has the path in: the first component below the slices. */
static void find_unit(const char *path, struct cgroup_info *ret)
{
	const char *p = path;

	while (*p == '/') {
		const char *e = strchr(p + 1, '/');
		struct span c = {p + 1, e ? (size_t)(e - p - 1) : strlen(p + 1)};

		if (!c.len)
			return;
		if (!span_ends(c, ".slice")) {
			if (is_unit_name(c)) {
				memcpy(ret->systemd_unit, c.s, c.len);
				ret->systemd_unit[c.len] = '\0';
			}
			return;
		}
		if (!e)
			return;
		p = e;
	}
}

int cgroup_parse(const char *path, struct cgroup_info *ret, char *err, size_t errlen)
{
	struct parser ps = {.err = err, .errlen = errlen};
	size_t len;
	const char *p;
	bool seen_real = false;

	memset(ret, 0, sizeof(*ret));
	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path)
		return fail(err, errlen, -EINVAL, "empty cgroup path");
	len = strnlen(path, CGROUP_PATH_MAX + 1);
	if (len > CGROUP_PATH_MAX)
		return fail(err, errlen, -ENAMETOOLONG, "cgroup path is longer than %d bytes",
			    CGROUP_PATH_MAX);
	if (path[0] != '/')
		return fail(err, errlen, -EINVAL, "cgroup path '%.64s' is not absolute", path);

	for (p = path; *p == '/';) {
		const char *e = strchr(p + 1, '/');
		struct span c = {p + 1, e ? (size_t)(e - p - 1) : strlen(p + 1)};
		enum claim cl;
		int r = 0;

		if (c.len == 0) {
			if (!e) /* "/" itself, or one trailing slash */
				break;
			return fail(err, errlen, -EINVAL, "empty component in cgroup path");
		}
		if (span_is(c, "..")) {
			/* Leading ".." only: a process outside the reader's cgroup namespace. */
			if (seen_real)
				return fail(err, errlen, -EINVAL, "'..' inside cgroup path");
			ps.ns_relative = ret->ns_relative = true;
			p = e ? e : p + 1 + c.len;
			continue;
		}
		if (span_is(c, "."))
			return fail(err, errlen, -EINVAL, "'.' in cgroup path");
		seen_real = true;

		cl = classify(&ps, c);
		if (cl == CLAIM_ERROR)
			return -EINVAL;
		if (cl == CLAIM_CONTAINER)
			r = claim_container(&ps, ret);
		else if (cl == CLAIM_POD)
			r = claim_pod(&ps, ret);
		else if (cl == CLAIM_CONMON)
			ret->conmon = true;
		if (r < 0)
			return r;
		if (cl == CLAIM_NONE) {
			if (is_user_manager(c))
				ps.user_manager_seen = true;
			if (is_runtime_root(c) && ps.has_cid) {
				ps.root_after_cid = true;
				ps.kube_after_cid |= is_kube_root(c);
			} else if (is_kube_root(c)) {
				ps.kube = true;
			}
		}
		ps.prev = c;
		if (!e)
			break;
		p = e;
	}
	if (ret->conmon) {
		/* A runtime's monitor process: not the container's workload, nor the pod's. */
		ret->container_id[0] = ret->pod_uid[0] = '\0';
		ret->runtime = CGROUP_RT_UNKNOWN;
	}
	if (!ret->ns_relative)
		find_unit(path, ret);
	return 0;
}

bool cgroup_ids_authoritative(const struct cgroup_info *ci)
{
	return ci->nesting == 0 && !ci->ns_relative && !ci->delegated && !ci->conmon;
}
