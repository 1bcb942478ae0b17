/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Docker Engine API client: GET /containers/<id>/json over the engine's
 * unix socket, turned into docker:* selectors as SPIRE's docker workload
 * attestor names them (docker:label:K:V, docker:image_id:ID) plus
 * docker:env:K=V for the keys an allow-list names.
 */
#ifndef ATTESTD_DOCKER_H
#define ATTESTD_DOCKER_H

#include <stddef.h>
#include "selectors.h"

/*
 * Appends the selectors of container id (64 hex digits) to out.  0;
 * -ENOENT if the engine has no such container; -errno with a reason in err
 * if it cannot be asked or its answer makes no sense.
 */
int docker_inspect(const char *socket, const char *id, const struct strv *env_allow,
		   struct strv *out, char *err, size_t errlen);

/* The same from a /containers/<id>/json body (docker_inspect's second half). */
int docker_parse_inspect(const char *json, size_t len, const char *id, const struct strv *env_allow,
			 struct strv *out, char *err, size_t errlen);

#endif
