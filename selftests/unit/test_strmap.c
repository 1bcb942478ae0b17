// SPDX-License-Identifier: Apache-2.0
/*
 * The string hash table: basic operations, and a long random sequence of
 * puts and removes checked against a plain array, which is what catches a
 * broken backward-shift deletion.
 */
#include <errno.h>
#include <stdlib.h>
#include "test.h"
#include "strmap.h"

TEST(strmap_basics)
{
	struct strmap *m;
	int a = 1, b = 2;
	const char *k;
	void *v;
	size_t pos = 0, seen = 0;

	ASSERT_OK(strmap_new(&m));
	ASSERT_EQ(strmap_count(m), 0);
	ASSERT_TRUE(strmap_get(m, "x") == NULL);
	ASSERT_OK(strmap_put(m, "x", &a));
	ASSERT_ERR(strmap_put(m, "x", &b), -EEXIST);
	ASSERT_ERR(strmap_put(m, "y", NULL), -EINVAL);
	ASSERT_OK(strmap_put(m, "", &b));
	ASSERT_EQ(strmap_count(m), 2);
	ASSERT_TRUE(strmap_get(m, "x") == &a);
	ASSERT_TRUE(strmap_get(m, "") == &b);
	while (strmap_next(m, &pos, &k, &v)) {
		ASSERT_TRUE((strcmp(k, "x") == 0 && v == &a) || (strcmp(k, "") == 0 && v == &b));
		seen++;
	}
	ASSERT_EQ(seen, 2);
	ASSERT_TRUE(strmap_remove(m, "x") == &a);
	ASSERT_TRUE(strmap_remove(m, "x") == NULL);
	ASSERT_TRUE(strmap_get(m, "x") == NULL);
	ASSERT_EQ(strmap_count(m), 1);
	ASSERT_OK(strmap_reserve(m, 100000));
	ASSERT_TRUE(strmap_get(m, "") == &b);
	strmap_free(m);
}

TEST(strmap_random_against_array)
{
	enum { NKEYS = 3000, OPS = 200000 };
	static char keys[NKEYS][16];
	static bool present[NKEYS];
	struct strmap *m;
	size_t count = 0, pos = 0, seen = 0;
	unsigned seed = 12345;
	void *v;

	for (int i = 0; i < NKEYS; i++)
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
	ASSERT_OK(strmap_new(&m));
	for (int op = 0; op < OPS; op++) {
		int i = rand_r(&seed) % NKEYS;

		if (rand_r(&seed) % 3) {
			int r = strmap_put(m, keys[i], keys[i]);

			ASSERT_EQ(r, present[i] ? -EEXIST : 0);
			count += !present[i];
			present[i] = true;
		} else {
			v = strmap_remove(m, keys[i]);
			ASSERT_TRUE(v == (present[i] ? keys[i] : NULL));
			count -= present[i];
			present[i] = false;
		}
		if (op % 10000 == 0) {
			for (int j = 0; j < NKEYS; j++)
				ASSERT_TRUE(strmap_get(m, keys[j]) == (present[j] ? keys[j] : NULL));
		}
	}
	ASSERT_EQ(strmap_count(m), count);
	for (int j = 0; j < NKEYS; j++)
		ASSERT_TRUE(strmap_get(m, keys[j]) == (present[j] ? keys[j] : NULL));
	while (strmap_next(m, &pos, NULL, &v)) {
		ASSERT_TRUE(present[(char(*)[16])v - keys]);
		seen++;
	}
	ASSERT_EQ(seen, count);
	strmap_free(m);
}
