// SPDX-License-Identifier: Apache-2.0
/*
 * Name cache: two small open-addressing tables (id -> name or "no name"),
 * locked, bounded (a full table starts over).
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "namecache.h"

#define SLOTS 1024 /* power of two; at most SLOTS/2 ids per table */
#define NSS_BUF 16384

struct slot {
	bool used;
	uint32_t id;
	char *name; /* NULL: the id has no name */
};

struct table {
	struct slot s[SLOTS];
	size_t n;
};

struct namecache {
	pthread_mutex_t lock;
	struct table users, groups;
	time_t checked;
	struct timespec passwd_mtime, group_mtime;
};

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < SLOTS; i++)
		free(t->s[i].name);
	memset(t, 0, sizeof(*t));
}

int namecache_new(struct namecache **ret)
{
	struct namecache *nc = calloc(1, sizeof(*nc));

	if (!nc)
		return -ENOMEM;
	pthread_mutex_init(&nc->lock, NULL);
	*ret = nc;
	return 0;
}

void namecache_free(struct namecache *nc)
{
	if (!nc)
		return;
	table_clear(&nc->users);
	table_clear(&nc->groups);
	pthread_mutex_destroy(&nc->lock);
	free(nc);
}

static bool changed(const char *path, struct timespec *seen)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return false;
	if (sb.st_mtim.tv_sec == seen->tv_sec && sb.st_mtim.tv_nsec == seen->tv_nsec)
		return false;
	*seen = sb.st_mtim;
	return true;
}

/* Drops both tables when the databases changed; at most once a second. */
static void revalidate(struct namecache *nc)
{
	time_t now = time(NULL);

	if (now == nc->checked)
		return;
	nc->checked = now;
	if (changed("/etc/passwd", &nc->passwd_mtime) | changed("/etc/group", &nc->group_mtime)) {
		table_clear(&nc->users);
		table_clear(&nc->groups);
	}
}

static struct slot *find(struct table *t, uint32_t id)
{
	size_t i = (id * 2654435761U) & (SLOTS - 1);

	while (t->s[i].used && t->s[i].id != id)
		i = (i + 1) & (SLOTS - 1);
	return &t->s[i];
}

static const char *lookup(struct namecache *nc, struct table *t, uint32_t id, bool user)
{
	struct passwd pw, *pres = NULL;
	struct group gr, *gres = NULL;
	char buf[NSS_BUF];
	const char *name = NULL;
	struct slot *s;

	pthread_mutex_lock(&nc->lock);
	revalidate(nc);
	s = find(t, id);
	if (s->used) {
		name = s->name;
		goto out;
	}
	if (user && getpwuid_r(id, &pw, buf, sizeof(buf), &pres) == 0 && pres)
		name = pres->pw_name;
	else if (!user && getgrgid_r(id, &gr, buf, sizeof(buf), &gres) == 0 && gres)
		name = gres->gr_name;
	if (t->n >= SLOTS / 2) {
		table_clear(t);
		s = find(t, id);
	}
	s->used = true;
	s->id = id;
	s->name = name ? strdup(name) : NULL;
	t->n++;
	name = s->name;
out:
	pthread_mutex_unlock(&nc->lock);
	return name;
}

const char *namecache_user(struct namecache *nc, uint32_t uid)
{
	return lookup(nc, &nc->users, uid, true);
}

const char *namecache_group(struct namecache *nc, uint32_t gid)
{
	return lookup(nc, &nc->groups, gid, false);
}
