/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attestctl selectors --cgroup PATH: the container, k8s and systemd
 * selectors a cgroup path yields, offline (no attestd needed).
 */
#ifndef ATTESTD_CTL_SELECTORS_H
#define ATTESTD_CTL_SELECTORS_H

#include <stdbool.h>

/*
 * argv[0] is "selectors"; takes --cgroup PATH, --json, --help (and
 * --admin-socket, ignored).  Returns the exit status: 0, 1 for a path that
 * cannot be read (one line on stderr), 2 for usage.
 */
int ctl_selectors_run(bool json, int argc, char **argv);

#endif
