/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The executable digest cache behind unix:sha256.  Digests are computed by
 * a worker thread, never on the request path, and cached by the file's
 * (dev, inode, ctime, size): a rewritten binary has a new ctime.
 */
#ifndef ATTESTD_HASHER_H
#define ATTESTD_HASHER_H

#include "tracker.h"

struct hasher;

/* done() runs on the worker thread after a digest for st's exe is cached. */
int hasher_new(void (*done)(void *ctx, const struct proc_state *st), void *ctx,
	       struct hasher **ret);
void hasher_free(struct hasher *h);
/* 0 and the hex digest if cached; -EAGAIN after queueing it; -ENOENT if no exe. */
int hasher_get(struct hasher *h, const struct proc_state *st, char hex[65]);
/* Same file identity as the cache uses. */
bool hasher_same_file(const struct proc_state *a, const struct proc_state *b);
/* Hashes the file open at fd into hex (exposed for tests and the baseline). */
int hasher_digest_fd(int fd, char hex[65]);

#endif
