/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attestctl's operations commands (user/ctl_ops.c), over the admin API:
 *   healthcheck   exit 0 if attestd is live and ready, else 1 with the reason on one line
 *   explain       for the entries that nearly match a process, the selectors it lacks
 *   watch         identities released, revoked and refused on this node, as they happen
 * attestctl.c dispatches to here from its command table.
 */
#ifndef ATTESTD_CTL_OPS_H
#define ATTESTD_CTL_OPS_H

#include "ctl.h" /* struct ctl_env: what attestctl's top level parsed */

/*
 * Runs CMD ("healthcheck", "explain", "watch"): argv[0] is CMD, the rest
 * its arguments, which also take --json, --admin-socket and --help.
 * Returns the exit status: 0 ok, 1 error or unhealthy (one line on
 * stderr), 2 usage.
 */
int ctl_ops_run(const char *cmd, const struct ctl_env *env, int argc, char **argv);

#endif
