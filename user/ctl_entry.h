/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attestctl's registration entry commands: entry create, list, show,
 * update, delete (design.md, "attestctl"), over the admin API's entry
 * RPCs.  attestctl.c dispatches to here from its command table.
 */
#ifndef ATTESTD_CTL_ENTRY_H
#define ATTESTD_CTL_ENTRY_H

#include "ctl.h" /* struct ctl_env: what attestctl's top level parsed */

/*
 * Runs "entry SUB": argv[0] is SUB ("create", "list", "show", "update",
 * "delete"), the rest its arguments, which also take --json,
 * --admin-socket and --help.  Returns the exit status: 0 ok, 1 error (one
 * line on stderr), 2 usage.
 */
int ctl_entry_run(const char *sub, const struct ctl_env *env, int argc, char **argv);

#endif
