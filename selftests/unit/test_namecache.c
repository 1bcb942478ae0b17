// SPDX-License-Identifier: Apache-2.0
/* The name cache answers as NSS does, including for ids with no name. */
#include <grp.h>
#include <pwd.h>
#include "namecache.h"
#include "test.h"

TEST(namecache_matches_nss)
{
	struct namecache *nc;
	struct passwd *pw = getpwuid(0);
	struct group *gr = getgrgid(0);

	ASSERT_NOT_NULL(pw);
	ASSERT_NOT_NULL(gr);
	ASSERT_OK(namecache_new(&nc));
	ASSERT_STREQ(namecache_user(nc, 0), pw->pw_name);
	ASSERT_STREQ(namecache_user(nc, 0), pw->pw_name); /* cached */
	ASSERT_STREQ(namecache_group(nc, 0), gr->gr_name);
	ASSERT_TRUE(namecache_user(nc, 3999999999U) == NULL);
	ASSERT_TRUE(namecache_group(nc, 3999999999U) == NULL);
	/* more ids than the table holds: it starts over and stays right */
	for (uint32_t id = 100000; id < 101500; id++)
		ASSERT_TRUE(namecache_user(nc, id) == NULL);
	ASSERT_STREQ(namecache_user(nc, 0), pw->pw_name);
	namecache_free(nc);
}
