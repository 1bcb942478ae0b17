/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attestctl's Workload API commands (user/ctl_fetch.c): fetch x509, fetch
 * jwt, validate jwt, bundle show.  They talk to the SPIFFE Workload API
 * as any workload does (docs/workload-api.md), not to the admin socket:
 * the answer is what the calling process itself is entitled to.
 * attestctl.c dispatches to here from its command table.
 */
#ifndef ATTESTD_CTL_H
#define ATTESTD_CTL_H

#include <stdbool.h>

/* What attestctl's top level parsed before the command name. */
struct ctl_env {
	const char *admin_socket;
	bool json;
};

/*
 * Runs "CMD SUB" ("fetch x509", "fetch jwt", "validate jwt", "bundle
 * show"): argv[0] is SUB, the rest its arguments, which also take --json,
 * --socket, --admin-socket (ignored) and --help.  The socket is --socket,
 * else $SPIFFE_ENDPOINT_SOCKET (unix:///path), else /run/attestd/api.sock.
 * Returns the exit status: 0 ok, 1 error (one line on stderr), 2 usage.
 */
int ctl_workload_run(const char *cmd, const char *sub, const struct ctl_env *env, int argc,
		     char **argv);

#endif
