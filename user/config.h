/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attestd's settings: embedded defaults, then a JSON config file
 * (--config), then flags; flags win.  One table (config.c) declares each
 * setting once, for getopt_long, the file and --help alike.  The config is
 * the only state passed down through the daemon.
 */
#ifndef ATTESTD_CONFIG_H
#define ATTESTD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "log.h"

#define CONFIG_STR 256

struct config {
	char trust_domain[CONFIG_STR];
	char data_dir[PATH_MAX];
	char socket_path[PATH_MAX];
	char admin_socket[PATH_MAX];
	char config_file[PATH_MAX];
	char log_level[16];
	char log_format[16]; /* text or json */
	char metrics_addr[CONFIG_STR];
	char store_url[PATH_MAX];
	char node_name[CONFIG_STR];
	char upstream_ca_cert[PATH_MAX]; /* "": self-signed CA */
	char upstream_ca_key[PATH_MAX];
	uint32_t ringbuf_bytes;
	uint32_t max_procs;
	uint32_t resync_interval; /* seconds between loss checks */
	/* Workload API limits (workload_api.h) */
	uint32_t max_streams_per_uid;
	uint32_t max_connections;
	uint32_t max_connections_per_uid;
	uint32_t max_request_bytes;
	uint32_t call_timeout; /* seconds */
	uint32_t x509_svid_max_ttl; /* seconds; 0: the entries' TTLs */
	uint32_t ca_ttl; /* seconds of each X.509 CA (and JWT key); 0: the CA's default, 24 h */
	/* Container and pod metadata (meta_cache.h); "" turns a source off */
	char docker_socket[PATH_MAX];
	char docker_env_allow[CONFIG_STR * 4]; /* KEY[,KEY...] */
	char kubelet_url[CONFIG_STR];
	char kubelet_token_file[PATH_MAX];
	char kubelet_ca_file[PATH_MAX];
	uint32_t kubelet_refresh; /* seconds */
	/* derived */
	enum log_level level;
};

enum config_result {
	CONFIG_OK = 0,
	CONFIG_EXIT = 1, /* --help or --version printed: exit 0 */
};

/*
 * Fills cfg from defaults, file and argv.  Returns CONFIG_OK, CONFIG_EXIT,
 * or -EINVAL with a one-line reason in err (a usage error: exit 2), or
 * another -errno for a config file that cannot be read (exit 1).
 */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);
/*
 * Defaults, then the JSON config text (len bytes, need not be terminated;
 * name for messages), then the checks config_load makes: what --config
 * does without the flags.  0, or -EINVAL with the reason in err.
 */
int config_parse_json(struct config *cfg, const char *text, size_t len, const char *name,
		      char *err, size_t errlen);
/* Prints the settings as `attestd --help` shows them. */
void config_usage(FILE *out);

#endif
