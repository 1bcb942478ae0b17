/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container and pod metadata behind docker:* and the kubelet's k8s:*
 * selectors, fetched on a worker thread, never on the request path.  The
 * deriver asks the cache (meta_cache_selectors); what is not there yet is
 * queued, and when it arrives the ready hook names the containers and pods
 * whose processes must be derived again.  Docker metadata is cached by
 * container id, the kubelet's pod list by pod uid; an entry whose
 * container or pod has no process left is dropped at the next sweep.
 */
#ifndef ATTESTD_META_CACHE_H
#define ATTESTD_META_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include "cgroup.h"
#include "selectors.h"

struct meta_cache;

struct meta_cache_opts {
	const char *docker_socket;    /* Docker Engine API socket; NULL or "": no Docker lookups */
	const char *docker_env_allow; /* "KEY[,KEY...]": env vars that become docker:env */
	const char *kubelet_url;      /* "https://127.0.0.1:10250"; NULL or "": no kubelet */
	const char *kubelet_token_file; /* bearer token, read for every request */
	const char *kubelet_ca_file;	/* CA that signed the kubelet's serving certificate */
	unsigned kubelet_refresh_s; /* re-list pods this often while any has processes; 0: never */
	/* 0: defaults (10 s, 500 ms, 60 s); tests shrink them */
	unsigned sweep_ms;
	unsigned backoff_min_ms, backoff_max_ms;
};

/* Containers and pods whose metadata arrived or changed; sorted, for meta_ready_affects(). */
struct meta_ready {
	char **cids;
	size_t ncids;
	char **pods;
	size_t npods;
};

struct meta_cache_ops {
	void *ctx;
	/* Worker thread, no cache lock held: re-derive the processes r affects. */
	void (*ready)(void *ctx, const struct meta_ready *r);
	/* Worker thread: call meta_cache_mark() for every process's cgroup_info. */
	void (*live)(void *ctx, struct meta_cache *mc);
};

int meta_cache_new(const struct meta_cache_opts *opts, const struct meta_cache_ops *ops,
		   struct meta_cache **ret);
/* Stops the worker (an HTTP request in flight ends within its timeout) and frees. */
void meta_cache_free(struct meta_cache *mc);

/*
 * Appends the cached docker:* and k8s:* selectors for ci's container and
 * pod; queues a fetch for what is not cached.  Never blocks on I/O.  Only
 * ids that cgroup_ids_authoritative() accepts are looked up.
 */
int meta_cache_selectors(struct meta_cache *mc, const struct cgroup_info *ci, struct strv *out);
/* During live(): ci's container and pod still have a process. */
void meta_cache_mark(struct meta_cache *mc, const struct cgroup_info *ci);
/* Whether r names ci's container or pod. */
bool meta_ready_affects(const struct meta_ready *r, const struct cgroup_info *ci);

/* Counters for tests and logs. */
struct meta_cache_stats {
	size_t containers, pods; /* cached now */
	unsigned long docker_requests, kubelet_requests, dropped;
};
void meta_cache_stats(struct meta_cache *mc, struct meta_cache_stats *ret);

#endif
