/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubelet's pod list (GET /pods on its HTTPS port, a service-account
 * bearer token, TLS verified against a CA file), turned into the k8s:*
 * selectors SPIRE's k8s workload attestor names: per pod k8s:ns, k8s:sa,
 * k8s:pod-name, k8s:pod-label:K:V, k8s:node-name; per container
 * k8s:container-name and k8s:container-image (image and image id).
 */
#ifndef ATTESTD_KUBELET_H
#define ATTESTD_KUBELET_H

#include <stddef.h>
#include "cgroup.h"

struct kubelet_container {
	char id[CGROUP_ID_LEN + 1]; /* from "containerd://<id>" and the like */
	char **sel;
	size_t nsel;
};

struct kubelet_pod {
	char uid[CGROUP_POD_UID_MAX + 1];
	char **sel; /* the pod's selectors, sorted */
	size_t nsel;
	struct kubelet_container *ctrs; /* containers that have an id yet (init, ephemeral too) */
	size_t nctrs;
};

struct kubelet_pods {
	struct kubelet_pod *v;
	size_t n;
};

struct kubelet_opts {
	const char *url;	/* "https://127.0.0.1:10250" */
	const char *token_file; /* "" or NULL: no token */
	const char *ca_file;	/* NULL or "": the system's trust store */
	long timeout_ms;
};

/* 0 and the node's pods, or -errno with a reason in err (never the token). */
int kubelet_list_pods(const struct kubelet_opts *o, struct kubelet_pods *ret, char *err,
		      size_t errlen);
/* kubelet_list_pods' second half, from a PodList body. */
int kubelet_parse_pods(const char *json, size_t len, struct kubelet_pods *ret, char *err,
		       size_t errlen);
void kubelet_pods_free(struct kubelet_pods *p);
/* The container of pod p with id, or NULL. */
const struct kubelet_container *kubelet_pod_container(const struct kubelet_pod *p, const char *id);

#endif
