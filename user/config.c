// SPDX-License-Identifier: Apache-2.0
/*
 * The settings table and its three sources.  The config file is JSON with
 * the flags' names as keys ({"trust-domain": "example.org"}), parsed by
 * json-c; unknown keys are an error, so a typo never passes silently.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cleanup.h"
#include "config.h"

enum opt_type { OPT_STR, OPT_U32 };

struct opt {
	const char *name;
	enum opt_type type;
	size_t off, size;
	const char *def;
	const char *help;
};

#define STR(field, n, d, h) { n, OPT_STR, offsetof(struct config, field), sizeof(((struct config *)0)->field), d, h }
#define U32(field, n, d, h) { n, OPT_U32, offsetof(struct config, field), sizeof(uint32_t), d, h }

static const struct opt opts[] = {
	STR(trust_domain, "trust-domain", "example.org", "trust domain this node issues for"),
	STR(data_dir, "data-dir", "/var/lib/attestd", "store and CA keys (0600)"),
	STR(socket_path, "socket", "/run/attestd/api.sock", "Workload API socket (mode 0666)"),
	STR(admin_socket, "admin-socket", "/run/attestd/admin.sock", "admin API socket (root only)"),
	STR(config_file, "config", "", "JSON file with these settings; flags win"),
	STR(log_level, "log-level", "info", "error, warn, info or debug"),
	STR(log_format, "log-format", "text", "text (key=value) or json"),
	STR(metrics_addr, "metrics-addr", "",
	    "HOST:PORT (:PORT: loopback) for /metrics, /live, /ready over HTTP (off)"),
	STR(store_url, "store", "",
	    "sqlite:///path (default <data-dir>/store.db) or postgresql://... for a fleet"),
	STR(node_name, "node-name", "", "this node's name (default: hostname)"),
	STR(upstream_ca_cert, "upstream-ca-cert", "",
	    "PEM file: the upstream CA that signs this node's CA (fleet root of trust)"),
	STR(upstream_ca_key, "upstream-ca-key", "", "PEM file: the upstream CA's private key"),
	U32(ringbuf_bytes, "ringbuf-size", "4194304", "BPF ring buffer bytes, a power of two"),
	U32(max_procs, "max-procs", "65536", "processes the kernel map holds"),
	U32(resync_interval, "resync-interval", "1", "seconds between event-loss checks"),
	U32(max_streams_per_uid, "max-streams-per-uid", "64",
	    "Workload API streams one uid may hold open"),
	U32(max_connections, "max-connections", "4096", "Workload API connections open at once"),
	U32(max_connections_per_uid, "max-connections-per-uid", "1024",
	    "Workload API connections of one uid"),
	U32(max_request_bytes, "max-request-bytes", "65536", "largest Workload API request"),
	U32(call_timeout, "call-timeout", "10",
	    "seconds a unary Workload API call may wait for a worker"),
	U32(x509_svid_max_ttl, "x509-svid-max-ttl", "0",
	    "cap on X.509-SVID lifetimes in seconds (0: the entries' TTLs)"),
	U32(ca_ttl, "ca-ttl", "0",
	    "lifetime of each CA generation in seconds, rotated with overlap (0: 24 h; at least 6)"),
	STR(docker_socket, "docker-socket", "/var/run/docker.sock",
	    "Docker Engine API socket for docker:* selectors (\"\": off)"),
	STR(docker_env_allow, "docker-env-allow", "",
	    "KEY[,KEY...]: container env vars that become docker:env:KEY=VALUE"),
	STR(kubelet_url, "kubelet-url", "",
	    "https://HOST:PORT of this node's kubelet for k8s:* metadata (off)"),
	STR(kubelet_token_file, "kubelet-token-file",
	    "/var/run/secrets/kubernetes.io/serviceaccount/token", "bearer token for the kubelet"),
	STR(kubelet_ca_file, "kubelet-ca-file", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
	    "CA that signed the kubelet's serving certificate"),
	U32(kubelet_refresh, "kubelet-refresh", "60",
	    "seconds between pod list refreshes while pods have processes (0: only on new pods)"),
};

static int set_opt(struct config *cfg, const struct opt *o, const char *val, char *err,
		   size_t errlen)
{
	char *p = (char *)cfg + o->off, *end;
	unsigned long long v;

	if (o->type == OPT_STR) {
		if (strlen(val) >= o->size) {
			snprintf(err, errlen, "--%s: value longer than %zu bytes", o->name,
				 o->size - 1);
			return -EINVAL;
		}
		memcpy(p, val, strlen(val) + 1);
		return 0;
	}
	errno = 0;
	v = strtoull(val, &end, 0);
	if (errno || end == val || *end || v > UINT32_MAX || val[0] == '-') {
		snprintf(err, errlen, "--%s: not a number: '%s'", o->name, val);
		return -EINVAL;
	}
	*(uint32_t *)p = (uint32_t)v;
	return 0;
}

/* Applies the settings of a parsed config file; takes root. */
static int load_json(struct config *cfg, json_object *root, const char *path, char *err,
		     size_t errlen)
{
	int r = 0;

	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "config %s: not a JSON object", path);
		json_object_put(root);
		return -EINVAL;
	}
	json_object_object_foreach(root, key, val)
	{
		const struct opt *o = NULL;

		for (size_t i = 0; i < ARRAY_SIZE(opts); i++)
			if (strcmp(opts[i].name, key) == 0)
				o = &opts[i];
		if (!o || strcmp(key, "config") == 0) {
			snprintf(err, errlen, "config %s: unknown setting '%s'", path, key);
			r = -EINVAL;
			break;
		}
		if (json_object_is_type(val, json_type_object) ||
		    json_object_is_type(val, json_type_array)) {
			snprintf(err, errlen, "config %s: '%s' must be a string or number", path,
				 key);
			r = -EINVAL;
			break;
		}
		r = set_opt(cfg, o, json_object_get_string(val), err, errlen);
		if (r < 0)
			break;
	}
	json_object_put(root);
	return r;
}

static int load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	json_object *root = json_object_from_file(path);

	if (!root) {
		snprintf(err, errlen, "cannot read config %s: %s", path, json_util_get_last_err());
		return -EIO;
	}
	return load_json(cfg, root, path, err, errlen);
}

void config_usage(FILE *out)
{
	fprintf(out, "Usage: attestd [OPTION...]\n"
		     "Attests workloads from kernel facts (eBPF) and serves their SPIFFE "
		     "identities over the Workload API.\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s=VALUE", opts[i].name);
		fprintf(out, "  %-28s %s", left, opts[i].help);
		if (opts[i].def[0])
			fprintf(out, " [%s]", opts[i].def);
		fputc('\n', out);
	}
	fprintf(out, "  %-28s %s\n  %-28s %s\n", "-h, --help", "show this help", "--version",
		"print the version");
	fprintf(out, "\nSignals: SIGTERM/SIGINT shut down cleanly.\n");
}

static int finish(struct config *cfg, char *err, size_t errlen)
{
	if (log_level_parse(cfg->log_level, &cfg->level) < 0) {
		snprintf(err, errlen, "--log-level: unknown level '%s' (error, warn, info, debug)",
			 cfg->log_level);
		return -EINVAL;
	}
	if (strcmp(cfg->log_format, "text") && strcmp(cfg->log_format, "json")) {
		snprintf(err, errlen, "--log-format: '%s' is neither text nor json",
			 cfg->log_format);
		return -EINVAL;
	}
	if (cfg->ringbuf_bytes < 4096 || (cfg->ringbuf_bytes & (cfg->ringbuf_bytes - 1))) {
		snprintf(err, errlen, "--ringbuf-size: %u is not a power of two >= 4096",
			 cfg->ringbuf_bytes);
		return -EINVAL;
	}
	if (!cfg->max_procs) {
		snprintf(err, errlen, "--max-procs: must be at least 1");
		return -EINVAL;
	}
	if (!cfg->resync_interval)
		cfg->resync_interval = 1;
	if (!cfg->store_url[0] &&
	    snprintf(cfg->store_url, sizeof(cfg->store_url), "sqlite://%s/store.db",
		     cfg->data_dir) >= (int)sizeof(cfg->store_url)) {
		snprintf(err, errlen, "--data-dir: path too long");
		return -EINVAL;
	}
	if (!cfg->node_name[0] && gethostname(cfg->node_name, sizeof(cfg->node_name) - 1) < 0)
		snprintf(cfg->node_name, sizeof(cfg->node_name), "localhost");
	/* The name is a path segment of the node's SPIFFE ID, spiffe://TD/attestd/node/NAME. */
	if (!strcmp(cfg->node_name, ".") || !strcmp(cfg->node_name, "..") ||
	    strspn(cfg->node_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789._-") != strlen(cfg->node_name)) {
		snprintf(err, errlen, "--node-name: '%s' is not a SPIFFE ID path segment "
				      "(letters, digits, '.', '_', '-')", cfg->node_name);
		return -EINVAL;
	}
	if (cfg->ca_ttl && cfg->ca_ttl < 6) {
		snprintf(err, errlen, "--ca-ttl: %u s is too short (at least 6)", cfg->ca_ttl);
		return -EINVAL;
	}
	if (!cfg->upstream_ca_cert[0] != !cfg->upstream_ca_key[0]) {
		snprintf(err, errlen, "--upstream-ca-cert and --upstream-ca-key go together");
		return -EINVAL;
	}
	return 0;
}

static int set_defaults(struct config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		int r = set_opt(cfg, &opts[i], opts[i].def, err, errlen);

		if (r < 0)
			return r;
	}
	return 0;
}

int config_parse_json(struct config *cfg, const char *text, size_t len, const char *name,
		      char *err, size_t errlen)
{
	json_tokener *tok = json_tokener_new();
	json_object *root;
	int r;

	err[0] = '\0';
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = set_defaults(cfg, err, errlen);
	if (r < 0) {
		json_tokener_free(tok);
		return r;
	}
	root = len <= INT32_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
	/* the whole text, one value: a truncated or trailing document is refused */
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		snprintf(err, errlen, "config %s: not one JSON document", name);
		json_object_put(root);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	r = load_json(cfg, root, name, err, errlen);
	return r < 0 ? r : finish(cfg, err, errlen);
}

int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct option lopts[ARRAY_SIZE(opts) + 3];
	int c, idx, r;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		r = set_opt(cfg, &opts[i], opts[i].def, err, errlen);
		if (r < 0)
			return r;
		lopts[i] = (struct option){ opts[i].name, required_argument, NULL, 0 };
	}
	lopts[ARRAY_SIZE(opts)] = (struct option){ "help", no_argument, NULL, 'h' };
	lopts[ARRAY_SIZE(opts) + 1] = (struct option){ "version", no_argument, NULL, 'V' };
	lopts[ARRAY_SIZE(opts) + 2] = (struct option){ 0 };

	/* First pass: only --config and --help, so the file can sit under the flags. */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		if (c == 'h') {
			config_usage(stdout);
			return CONFIG_EXIT;
		}
		if (c == 'V') {
			printf("attestd 0.1.0\n");
			return CONFIG_EXIT;
		}
		if (c == '?') {
			snprintf(err, errlen, "unknown or incomplete option '%s' (see --help)",
				 argv[optind - 1]);
			return -EINVAL;
		}
		if (c == 0 && strcmp(lopts[idx].name, "config") == 0) {
			r = set_opt(cfg, &opts[idx], optarg, err, errlen);
			if (r < 0)
				return r;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (cfg->config_file[0]) {
		r = load_file(cfg, cfg->config_file, err, errlen);
		if (r < 0)
			return r;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		if (c != 0)
			continue;
		r = set_opt(cfg, &opts[idx], optarg, err, errlen);
		if (r < 0)
			return r;
	}
	return finish(cfg, err, errlen);
}
