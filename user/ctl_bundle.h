/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attestctl's federation commands (user/ctl_bundle.c): bundle set, bundle
 * list, bundle delete, over the admin API's SetBundle, ListBundles and
 * DeleteBundle.  ("bundle show" is a Workload API command, ctl.h.)
 */
#ifndef ATTESTD_CTL_BUNDLE_H
#define ATTESTD_CTL_BUNDLE_H

#include "ctl.h" /* struct ctl_env: what attestctl's top level parsed */

/*
 * Runs "bundle SUB": argv[0] is SUB ("set", "list", "delete"), the rest its
 * arguments, which also take --json, --admin-socket and --help.  Returns
 * the exit status: 0 ok, 1 error (one line on stderr), 2 usage.
 */
int ctl_bundle_run(const char *sub, const struct ctl_env *env, int argc, char **argv);

#endif
