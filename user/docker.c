// SPDX-License-Identifier: Apache-2.0
/*
 * The Docker Engine API, as much of it as attestation needs: one inspect
 * per container, when its first process appears (meta_cache.c).  Selector
 * values are checked with selector_parse(): a label with a control
 * character could never match an entry, so it is left out, not mangled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "docker.h"
#include "httpc.h"
#include "log.h"
#include "selector.h"

#define INSPECT_MAX_BYTES (4 << 20)
#define INSPECT_TIMEOUT_MS 5000

/* Pushes s if it is a valid selector; invalid ones are skipped. */
static int push_checked(struct strv *out, char *s)
{
	char why[128];
	int r = 0;

	if (selector_parse(s, NULL, why, sizeof(why)) == 0)
		r = strv_push(out, s);
	else
		log_debug("\"docker selector skipped\" reason=\"%s\"", why);
	free(s);
	return r;
}

static int pushf(struct strv *out, const char *fmt, const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, fmt, a, b) < 0)
		return -ENOMEM;
	return push_checked(out, s);
}

static bool env_allowed(const struct strv *allow, const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!allow || !eq || eq == kv)
		return false;
	for (size_t i = 0; i < allow->n; i++)
		if (strlen(allow->v[i]) == (size_t)(eq - kv) && !memcmp(allow->v[i], kv, eq - kv))
			return true;
	return false;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int docker_parse_inspect(const char *json, size_t len, const char *id, const struct strv *env_allow,
			 struct strv *out, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root, *cfg, *v;
	const char *s, *image = NULL, *cfg_image = NULL;
	int r = 0;

	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "container %.12s: engine answered no JSON object", id);
		r = -EBADMSG;
		goto out;
	}
	/* The engine answers a short id prefix too: insist on the one asked about. */
	s = get_str(root, "Id");
	if (!s || strcmp(s, id) != 0) {
		snprintf(err, errlen, "container %.12s: engine answered for another container", id);
		r = -EBADMSG;
		goto out;
	}
	image = get_str(root, "Image");
	if (json_object_object_get_ex(root, "Config", &cfg) &&
	    json_object_is_type(cfg, json_type_object)) {
		cfg_image = get_str(cfg, "Image");
		if (json_object_object_get_ex(cfg, "Labels", &v) &&
		    json_object_is_type(v, json_type_object)) {
			json_object_object_foreach(v, k, lv)
			{
				if (!json_object_is_type(lv, json_type_string))
					continue;
				if ((r = pushf(out, "docker:label:%s:%s", k,
					       json_object_get_string(lv))) < 0)
					goto out;
			}
		}
		if (json_object_object_get_ex(cfg, "Env", &v) &&
		    json_object_is_type(v, json_type_array)) {
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				struct json_object *e = json_object_array_get_idx(v, i);
				const char *kv = json_object_get_string(e);

				if (!json_object_is_type(e, json_type_string) ||
				    !env_allowed(env_allow, kv))
					continue;
				if ((r = pushf(out, "docker:env:%s%s", kv, "")) < 0)
					goto out;
			}
		}
	}
	/* The image's id (sha256:...), and as SPIRE does, the image the container was made from. */
	if (image && *image && (r = pushf(out, "docker:image_id:%s%s", image, "")) < 0)
		goto out;
	if (cfg_image && *cfg_image && (!image || strcmp(image, cfg_image)) &&
	    (r = pushf(out, "docker:image_id:%s%s", cfg_image, "")) < 0)
		goto out;
out:
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

int docker_inspect(const char *socket, const char *id, const struct strv *env_allow,
		   struct strv *out, char *err, size_t errlen)
{
	char url[160];
	struct http_req req = {
	    .url = url,
	    .unix_socket = socket,
	    .timeout_ms = INSPECT_TIMEOUT_MS,
	    .max_bytes = INSPECT_MAX_BYTES,
	};
	struct http_resp resp;
	int r;

	/* Unversioned: the engine answers in its own API version; the fields used are old. */
	snprintf(url, sizeof(url), "http://localhost/containers/%s/json", id);
	r = http_get(&req, &resp, err, errlen);
	if (r < 0)
		return r;
	if (resp.status == 404) {
		snprintf(err, errlen, "container %.12s: no such container", id);
		r = -ENOENT;
	} else if (resp.status != 200) {
		snprintf(err, errlen, "container %.12s: engine answered HTTP %ld", id, resp.status);
		r = -EIO;
	} else {
		r = docker_parse_inspect(resp.body, resp.len, id, env_allow, out, err, errlen);
	}
	http_resp_free(&resp);
	return r;
}
