// SPDX-License-Identifier: Apache-2.0
/* The JSON config file loader (config_parse_json, what --config reads) on arbitrary bytes. */
#include <stdio.h>
#include <string.h>
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[512];

	if (config_parse_json(&cfg, (const char *)data, size, "fuzz.json", err, sizeof(err)) ==
	    0) {
		/* every string setting is terminated within its field */
		if (strnlen(cfg.trust_domain, sizeof(cfg.trust_domain)) == sizeof(cfg.trust_domain) ||
		    strnlen(cfg.socket_path, sizeof(cfg.socket_path)) == sizeof(cfg.socket_path) ||
		    strnlen(cfg.store_url, sizeof(cfg.store_url)) == sizeof(cfg.store_url))
			__builtin_trap();
	} else if (!err[0]) {
		__builtin_trap(); /* a refusal always says why */
	}
	return 0;
}
