/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User and group names by id, for unix:user and unix:group selectors.
 * An NSS lookup parses /etc/passwd or asks a daemon every time; an exec
 * storm would pay it for every process.  Names are cached and the cache
 * is dropped when /etc/passwd or /etc/group changes (checked at most once
 * a second), so a renamed user is seen within a second.
 */
#ifndef ATTESTD_NAMECACHE_H
#define ATTESTD_NAMECACHE_H

#include <stdint.h>

struct namecache;

int namecache_new(struct namecache **ret);
void namecache_free(struct namecache *nc);
/* The name of uid (or gid), or NULL if it has none; valid until the next call. */
const char *namecache_user(struct namecache *nc, uint32_t uid);
const char *namecache_group(struct namecache *nc, uint32_t gid);

#endif
