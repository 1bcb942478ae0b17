/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bringing the process table up to date from /proc and the kernel map:
 * once at start (processes older than attestd) and after the ring buffer
 * lost events.
 */
#ifndef ATTESTD_BOOTSTRAP_H
#define ATTESTD_BOOTSTRAP_H

#include "procfs.h"
#include "proctable.h"
#include "tracker_user.h"

struct sync_stats {
	int seen;    /* live processes found in /proc */
	int from_map; /* of which the kernel map already had an exact record */
	int removed; /* table entries whose process was gone */
};

/*
 * Makes pt (and the kernel map, when t is not NULL) hold every live process
 * in fs->proc, parents before children so lineage links up, and drops
 * entries for processes that are gone.
 */
int bootstrap_sync(const struct procfs *fs, struct tracker *t, struct proctable *pt,
		   struct sync_stats *stats);

#endif
