// SPDX-License-Identifier: Apache-2.0
/*
 * The kubelet client.  One GET of /pods lists every pod on the node, so a
 * refresh answers for all of them at once; meta_cache.c decides when.  The
 * token is read from its file for every request (projected tokens rotate)
 * and wiped after; it never reaches a log or an error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cleanup.h"
#include "httpc.h"
#include "kubelet.h"
#include "log.h"
#include "selector.h"
#include "selectors.h"

#define PODS_MAX_BYTES (64 << 20)
#define TOKEN_MAX 65536

static struct json_object *get(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* Pushes "k8s:<key>:<a><b>" if it is a valid selector and a is non-empty. */
static int push(struct strv *out, const char *key, const char *a, const char *sep, const char *b)
{
	char *s, why[128];
	int r = 0;

	if (!a || !*a)
		return 0;
	if (asprintf(&s, "k8s:%s:%s%s%s", key, a, sep ? sep : "", b ? b : "") < 0)
		return -ENOMEM;
	if (selector_parse(s, NULL, why, sizeof(why)) == 0)
		r = strv_push(out, s);
	else
		log_debug("\"k8s selector skipped\" reason=\"%s\"", why);
	free(s);
	return r;
}

/* "containerd://<64 hex>", "cri-o://...", "docker://...": the id, or false. */
static bool container_id(const char *s, char id[CGROUP_ID_LEN + 1])
{
	const char *p = s ? strstr(s, "://") : NULL;

	if (!p || strlen(p + 3) != CGROUP_ID_LEN)
		return false;
	for (const char *q = p + 3; *q; q++)
		if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
			return false;
	memcpy(id, p + 3, CGROUP_ID_LEN + 1);
	return true;
}

static bool valid_uid(const char *s)
{
	struct cgroup_info ci;
	char path[64];

	/* The same rule the cgroup path is read with. */
	if (!s || strlen(s) > CGROUP_POD_UID_MAX)
		return false;
	snprintf(path, sizeof(path), "/kubepods/pod%s", s);
	return cgroup_parse(path, &ci, NULL, 0) == 0 && strcmp(ci.pod_uid, s) == 0;
}

static int add_statuses(struct kubelet_pod *pod, struct json_object *statuses)
{
	size_t n = statuses ? json_object_array_length(statuses) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *cs = json_object_array_get_idx(statuses, i);
		struct kubelet_container *c, *v;
		struct strv sel = {0};
		const char *image, *image_id;
		char id[CGROUP_ID_LEN + 1];
		int r;

		if (!json_object_is_type(cs, json_type_object) ||
		    !container_id(get_str(cs, "containerID"), id))
			continue; /* not started yet: no id to match a cgroup with */
		image = get_str(cs, "image");
		image_id = get_str(cs, "imageID");
		if ((r = push(&sel, "container-name", get_str(cs, "name"), NULL, NULL)) < 0 ||
		    (r = push(&sel, "container-image", image, NULL, NULL)) < 0 ||
		    (image_id && image && strcmp(image, image_id) &&
		     (r = push(&sel, "container-image", image_id, NULL, NULL)) < 0)) {
			strv_free(&sel);
			return r;
		}
		v = realloc(pod->ctrs, (pod->nctrs + 1) * sizeof(*v));
		if (!v) {
			strv_free(&sel);
			return -ENOMEM;
		}
		pod->ctrs = v;
		c = &pod->ctrs[pod->nctrs++];
		memcpy(c->id, id, sizeof(c->id));
		strv_sort_unique(&sel);
		c->sel = sel.v;
		c->nsel = sel.n;
	}
	return 0;
}

static void pod_free(struct kubelet_pod *p)
{
	strv_free_array(p->sel, p->nsel);
	for (size_t i = 0; i < p->nctrs; i++)
		strv_free_array(p->ctrs[i].sel, p->ctrs[i].nsel);
	free(p->ctrs);
}

static int parse_pod(struct json_object *item, struct kubelet_pod *pod)
{
	struct json_object *md = get(item, "metadata", json_type_object);
	struct json_object *spec = get(item, "spec", json_type_object);
	struct json_object *status = get(item, "status", json_type_object);
	struct json_object *labels = get(md, "labels", json_type_object);
	const char *uid = get_str(md, "uid");
	static const char *const lists[] = {"containerStatuses", "initContainerStatuses",
					    "ephemeralContainerStatuses"};
	struct strv sel = {0};
	int r;

	memset(pod, 0, sizeof(*pod));
	if (!valid_uid(uid))
		return -EINVAL;
	strcpy(pod->uid, uid);
	if ((r = push(&sel, "ns", get_str(md, "namespace"), NULL, NULL)) < 0 ||
	    (r = push(&sel, "pod-name", get_str(md, "name"), NULL, NULL)) < 0 ||
	    (r = push(&sel, "sa", get_str(spec, "serviceAccountName"), NULL, NULL)) < 0 ||
	    (r = push(&sel, "node-name", get_str(spec, "nodeName"), NULL, NULL)) < 0)
		goto fail;
	if (labels) {
		json_object_object_foreach(labels, k, v)
		{
			if (json_object_is_type(v, json_type_string) &&
			    (r = push(&sel, "pod-label", k, ":", json_object_get_string(v))) < 0)
				goto fail;
		}
	}
	strv_sort_unique(&sel);
	pod->sel = sel.v;
	pod->nsel = sel.n;
	sel = (struct strv){0};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if ((r = add_statuses(pod, get(status, lists[i], json_type_array))) < 0)
			goto fail;
	return 0;
fail:
	strv_free(&sel);
	pod_free(pod);
	return r;
}

int kubelet_parse_pods(const char *json, size_t len, struct kubelet_pods *ret, char *err,
		       size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root, *items;
	struct kubelet_pods pods = {0};
	size_t n;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(err, errlen, "kubelet pod list: not JSON (%s)",
			 json_tokener_error_desc(json_tokener_get_error(tok)));
		r = -EBADMSG;
		goto out;
	}
	items = json_object_is_type(root, json_type_object) ? get(root, "items", json_type_array)
							    : NULL;
	if (!items) {
		snprintf(err, errlen, "kubelet pod list: no \"items\" array");
		r = -EBADMSG;
		goto out;
	}
	n = json_object_array_length(items);
	pods.v = calloc(n ? n : 1, sizeof(*pods.v));
	if (!pods.v) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(items, i);

		if (!json_object_is_type(it, json_type_object))
			continue;
		r = parse_pod(it, &pods.v[pods.n]);
		if (r == -EINVAL) { /* no usable uid: skip this pod */
			r = 0;
			continue;
		}
		if (r < 0)
			goto out;
		pods.n++;
	}
	*ret = pods;
	pods = (struct kubelet_pods){0};
out:
	kubelet_pods_free(&pods);
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

void kubelet_pods_free(struct kubelet_pods *p)
{
	for (size_t i = 0; i < p->n; i++)
		pod_free(&p->v[i]);
	free(p->v);
	*p = (struct kubelet_pods){0};
}

const struct kubelet_container *kubelet_pod_container(const struct kubelet_pod *p, const char *id)
{
	for (size_t i = 0; i < p->nctrs; i++)
		if (strcmp(p->ctrs[i].id, id) == 0)
			return &p->ctrs[i];
	return NULL;
}

/* The token file's content less trailing whitespace; malloc'd, wipe before free. */
static int read_token(const char *path, char **ret, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n;
	size_t len = 0;

	if (fd < 0) {
		snprintf(err, errlen, "cannot read token file %s: %s", path, strerror(errno));
		return -errno;
	}
	buf = malloc(TOKEN_MAX + 1);
	if (!buf)
		return -ENOMEM;
	while ((n = read(fd, buf + len, TOKEN_MAX - len)) > 0)
		len += (size_t)n;
	if (n < 0 || len == TOKEN_MAX) {
		int e = n < 0 ? errno : EFBIG;

		explicit_bzero(buf, len);
		free(buf);
		snprintf(err, errlen, "cannot read token file %s: %s", path, strerror(e));
		return -e;
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
		       buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	if (!len || strpbrk(buf, "\r\n")) {
		explicit_bzero(buf, len);
		free(buf);
		snprintf(err, errlen, "token file %s: empty or more than one line", path);
		return -EINVAL;
	}
	*ret = buf;
	return 0;
}

int kubelet_list_pods(const struct kubelet_opts *o, struct kubelet_pods *ret, char *err,
		      size_t errlen)
{
	_cleanup_free_ char *url = NULL;
	char *token = NULL;
	struct http_req req = {
	    .ca_file = o->ca_file && *o->ca_file ? o->ca_file : NULL,
	    .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000,
	    .max_bytes = PODS_MAX_BYTES,
	};
	struct http_resp resp;
	size_t ulen = strlen(o->url);
	int r;

	memset(ret, 0, sizeof(*ret));
	/* A bearer token over plain HTTP would be readable by anyone on the path. */
	if (strncmp(o->url, "https://", 8) != 0) {
		snprintf(err, errlen, "kubelet url %s: must be https://", o->url);
		return -EINVAL;
	}
	while (ulen && o->url[ulen - 1] == '/')
		ulen--;
	if (asprintf(&url, "%.*s/pods", (int)ulen, o->url) < 0) {
		url = NULL;
		return -ENOMEM;
	}
	if (o->token_file && *o->token_file) {
		r = read_token(o->token_file, &token, err, errlen);
		if (r < 0)
			return r;
	}
	req.url = url;
	req.bearer_token = token;
	r = http_get(&req, &resp, err, errlen);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (r < 0)
		return r;
	if (resp.status != 200) {
		snprintf(err, errlen, "%s: kubelet answered HTTP %ld", url, resp.status);
		r = resp.status == 401 || resp.status == 403 ? -EACCES : -EIO;
	} else {
		r = kubelet_parse_pods(resp.body, resp.len, ret, err, errlen);
	}
	http_resp_free(&resp);
	return r;
}
