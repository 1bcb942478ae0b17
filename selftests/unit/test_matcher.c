// SPDX-License-Identifier: Apache-2.0
/*
 * Matcher semantics (subset matches, superset does not, duplicates count
 * once, update and delete), then the index against brute force: random
 * entries and processes, and 100,000 entries.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "test.h"
#include "cleanup.h"
#include "matcher.h"

static void entry_freep(struct entry **e)
{
	entry_free(*e);
}
#define _cleanup_entry_ _cleanup_(entry_freep)

static void matcher_freep(struct matcher **m)
{
	matcher_free(*m);
}
#define _cleanup_matcher_ _cleanup_(matcher_freep)

/* An entry with a fixed id "00000000-0000-4000-8000-<12 digits of n>". */
static struct entry *mk(unsigned long n, const char *spiffe_id, const char *const *sels,
			size_t nsels)
{
	struct entry *e;

	if (entry_new(&e))
		return NULL;
	snprintf(e->id, sizeof(e->id), "00000000-0000-4000-8000-%012lu", n);
	if (entry_set_spiffe_id(e, spiffe_id)) {
		entry_free(e);
		return NULL;
	}
	for (size_t i = 0; i < nsels; i++) {
		if (entry_add_selector(e, sels[i])) {
			entry_free(e);
			return NULL;
		}
	}
	return e;
}

#define MAX_HITS 256

struct hits {
	size_t n;
	char ids[MAX_HITS][ENTRY_ID_LEN + 1];
};

static int collect(const struct entry *e, void *arg)
{
	struct hits *h = arg;

	if (h->n == MAX_HITS)
		return -E2BIG;
	memcpy(h->ids[h->n++], e->id, ENTRY_ID_LEN + 1);
	return 0;
}

static bool hit(const struct hits *h, unsigned long n)
{
	char id[ENTRY_ID_LEN + 1];

	snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012lu", n);
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->ids[i], id) == 0)
			return true;
	return false;
}

static int add(struct matcher *m, unsigned long n, const char *spiffe_id,
	       const char *const *sels, size_t nsels)
{
	struct entry *e = mk(n, spiffe_id, sels, nsels);
	int r;

	if (!e)
		return -ENOMEM;
	r = matcher_add(m, e);
	entry_free(e);
	return r;
}

#define ADD(m, n, id, ...)                                                                         \
	add(m, n, id, (const char *const[]){ __VA_ARGS__ },                                         \
	    sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static const char *const proc[] = { "cgroup:path:/web", "k8s:ns:prod",  "k8s:sa:web",
				    "unix:gid:1000",	"unix:uid:1000" };

TEST(matcher_subset_and_superset)
{
	_cleanup_matcher_ struct matcher *m = NULL;
	struct hits h = { 0 };

	ASSERT_OK(matcher_new(&m));
	ASSERT_OK(ADD(m, 1, "spiffe://example.org/uid", "unix:uid:1000"));
	ASSERT_OK(ADD(m, 2, "spiffe://example.org/web", "k8s:ns:prod", "k8s:sa:web"));
	ASSERT_OK(ADD(m, 3, "spiffe://example.org/more", "k8s:ns:prod", "k8s:sa:web",
		      "unix:uid:0"));
	ASSERT_OK(ADD(m, 4, "spiffe://example.org/all", "cgroup:path:/web", "k8s:ns:prod",
		      "k8s:sa:web", "unix:gid:1000", "unix:uid:1000"));
	ASSERT_OK(ADD(m, 5, "spiffe://example.org/other", "unix:uid:1001"));
	ASSERT_EQ(matcher_count(m), 5);

	ASSERT_EQ(matcher_match(m, proc, 5, collect, &h), 3);
	ASSERT_TRUE(hit(&h, 1));
	ASSERT_TRUE(hit(&h, 2));
	ASSERT_FALSE(hit(&h, 3)); /* the entry wants unix:uid:0 as well */
	ASSERT_TRUE(hit(&h, 4));
	ASSERT_FALSE(hit(&h, 5));

	/* A process with fewer selectors than entry 4 does not match it. */
	h.n = 0;
	ASSERT_EQ(matcher_match(m, proc, 4, collect, &h), 1);
	ASSERT_TRUE(hit(&h, 2));
	ASSERT_EQ(matcher_match(m, NULL, 0, NULL, NULL), 0);
	ASSERT_EQ(matcher_match(m, (const char *const[]){ "unix:uid:100" }, 1, NULL, NULL), 0);
}

TEST(matcher_duplicates_count_once)
{
	_cleanup_matcher_ struct matcher *m = NULL;
	const char *sorted_dups[] = { "k8s:ns:prod", "k8s:ns:prod", "k8s:sa:web", "k8s:sa:web",
				      "unix:uid:1000", "unix:uid:1000", "unix:uid:1000" };
	const char *unsorted_dups[] = { "unix:uid:1000", "k8s:sa:web", "unix:uid:1000",
					"k8s:ns:prod", "k8s:sa:web", "unix:uid:1000" };
	struct hits h = { 0 };

	ASSERT_OK(matcher_new(&m));
	ASSERT_OK(ADD(m, 1, "spiffe://example.org/uid", "unix:uid:1000"));
	ASSERT_OK(ADD(m, 2, "spiffe://example.org/web", "k8s:ns:prod", "k8s:sa:web"));
	/* Two selectors, one of them given twice: no double count makes it "match". */
	ASSERT_OK(ADD(m, 3, "spiffe://example.org/two", "unix:uid:1000", "unix:gid:5"));

	ASSERT_EQ(matcher_match(m, sorted_dups, ARRAY_SIZE(sorted_dups), collect, &h), 2);
	ASSERT_TRUE(hit(&h, 1) && hit(&h, 2) && !hit(&h, 3));
	h.n = 0;
	ASSERT_EQ(matcher_match(m, unsorted_dups, ARRAY_SIZE(unsorted_dups), collect, &h), 2);
	ASSERT_TRUE(hit(&h, 1) && hit(&h, 2) && !hit(&h, 3));

	/* An entry given duplicate selectors is stored as its set. */
	ASSERT_OK(ADD(m, 4, "spiffe://example.org/dup", "k8s:ns:prod", "k8s:ns:prod"));
	ASSERT_EQ(matcher_match(m, (const char *const[]){ "k8s:ns:prod" }, 1, NULL, NULL), 1);
}

TEST(matcher_one_and_twenty_selectors)
{
	_cleanup_matcher_ struct matcher *m = NULL;
	char buf[20][40];
	const char *sel[20], *rev[20];
	struct hits h = { 0 };

	for (int i = 0; i < 20; i++) {
		snprintf(buf[i], sizeof(buf[i]), "unix:supplementary_gid:%d", 100 + i);
		sel[i] = buf[i];
		rev[19 - i] = buf[i];
	}
	ASSERT_OK(matcher_new(&m));
	ASSERT_OK(ADD(m, 1, "spiffe://example.org/one", "unix:supplementary_gid:110"));
	ASSERT_OK(add(m, 20, "spiffe://example.org/twenty", sel, 20));

	ASSERT_EQ(matcher_match(m, sel, 20, collect, &h), 2);
	ASSERT_TRUE(hit(&h, 1) && hit(&h, 20));
	h.n = 0;
	ASSERT_EQ(matcher_match(m, rev, 20, collect, &h), 2); /* unsorted input */
	ASSERT_TRUE(hit(&h, 1) && hit(&h, 20));
	/* Any one of the twenty missing: only the one-selector entry. */
	for (int drop = 0; drop < 20; drop++) {
		const char *less[19];
		int k = 0;

		for (int i = 0; i < 20; i++)
			if (i != drop)
				less[k++] = sel[i];
		h.n = 0;
		ASSERT_EQ(matcher_match(m, less, 19, collect, &h), drop == 10 ? 0 : 1);
		ASSERT_FALSE(hit(&h, 20));
	}
}

TEST(matcher_update_and_delete)
{
	_cleanup_matcher_ struct matcher *m = NULL;
	_cleanup_entry_ struct entry *e = NULL, *old = NULL, *got = NULL, *removed = NULL;
	struct hits h = { 0 };

	ASSERT_OK(matcher_new(&m));
	ASSERT_OK(ADD(m, 1, "spiffe://example.org/a", "unix:uid:1000"));
	ASSERT_OK(ADD(m, 2, "spiffe://example.org/b", "unix:uid:1000", "k8s:ns:prod"));
	ASSERT_ERR(ADD(m, 1, "spiffe://example.org/again", "unix:uid:1"), -EEXIST);
	ASSERT_ERR(add(m, 9, "spiffe://example.org/none", NULL, 0), -EINVAL);
	ASSERT_EQ(matcher_count(m), 2);

	/* Entry 1 moves from uid 1000 to uid 0 and changes SPIFFE ID. */
	e = mk(1, "spiffe://example.org/a2", (const char *const[]){ "unix:uid:0" }, 1);
	ASSERT_NOT_NULL(e);
	ASSERT_OK(matcher_update(m, e, &old));
	ASSERT_STREQ(old->spiffe_id, "spiffe://example.org/a");
	ASSERT_TRUE(matcher_entry_matches(old, proc, 5));
	ASSERT_FALSE(matcher_entry_matches(e, proc, 5));
	ASSERT_EQ(matcher_match(m, proc, 5, collect, &h), 1);
	ASSERT_TRUE(hit(&h, 2) && !hit(&h, 1));
	ASSERT_EQ(matcher_match(m, (const char *const[]){ "unix:uid:0" }, 1, NULL, NULL), 1);
	ASSERT_OK(matcher_get(m, e->id, &got));
	ASSERT_STREQ(got->spiffe_id, "spiffe://example.org/a2");
	ASSERT_EQ(matcher_count(m), 2);

	/* Updating to the same anchor (entry 2 keeps its selectors) works too. */
	entry_free(e);
	e = mk(2, "spiffe://example.org/b2",
	       (const char *const[]){ "unix:uid:1000", "k8s:ns:prod" }, 2);
	ASSERT_NOT_NULL(e);
	ASSERT_OK(matcher_update(m, e, NULL));
	h.n = 0;
	ASSERT_EQ(matcher_match(m, proc, 5, collect, &h), 1);
	ASSERT_TRUE(hit(&h, 2));

	ASSERT_OK(matcher_remove(m, e->id, &removed));
	ASSERT_STREQ(removed->spiffe_id, "spiffe://example.org/b2");
	ASSERT_ERR(matcher_remove(m, e->id, NULL), -ENOENT);
	ASSERT_EQ(matcher_match(m, proc, 5, NULL, NULL), 0);
	ASSERT_ERR(matcher_update(m, e, NULL), -ENOENT);
	ASSERT_ERR(matcher_get(m, e->id, &got), -ENOENT);
	ASSERT_EQ(matcher_count(m), 1);
}

static int stop_at_first(const struct entry *e, void *arg)
{
	(*(int *)arg)++;
	return -ECANCELED;
}

TEST(matcher_spiffe_ids_and_stop)
{
	_cleanup_matcher_ struct matcher *m = NULL;
	char **ids = NULL;
	size_t n = 0;
	int calls = 0;

	ASSERT_OK(matcher_new(&m));
	ASSERT_OK(ADD(m, 1, "spiffe://example.org/z", "unix:uid:1000"));
	ASSERT_OK(ADD(m, 2, "spiffe://example.org/a", "k8s:ns:prod"));
	ASSERT_OK(ADD(m, 3, "spiffe://example.org/z", "k8s:sa:web"));
	ASSERT_OK(matcher_match_spiffe_ids(m, proc, 5, &ids, &n));
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(ids[0], "spiffe://example.org/a");
	ASSERT_STREQ(ids[1], "spiffe://example.org/z");
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	ASSERT_OK(matcher_match_spiffe_ids(m, (const char *const[]){ "unix:uid:5" }, 1, &ids, &n));
	ASSERT_EQ(n, 0);
	ASSERT_TRUE(ids == NULL);

	ASSERT_ERR(matcher_match(m, proc, 5, stop_at_first, &calls), -ECANCELED);
	ASSERT_EQ(calls, 1);
}

TEST(matcher_entry_matches_any_order)
{
	_cleanup_entry_ struct entry *e = NULL;
	const char *unsorted[] = { "unix:uid:1000", "k8s:sa:web", "k8s:ns:prod" };

	e = mk(1, "spiffe://example.org/w", (const char *const[]){ "k8s:sa:web", "unix:uid:1000" },
	       2);
	ASSERT_NOT_NULL(e);
	ASSERT_TRUE(matcher_entry_matches(e, proc, 5));
	ASSERT_TRUE(matcher_entry_matches(e, unsorted, 3));
	ASSERT_FALSE(matcher_entry_matches(e, unsorted + 1, 2));
	ASSERT_FALSE(matcher_entry_matches(e, NULL, 0));
	e->nselectors = 0; /* must never match everything */
	ASSERT_FALSE(matcher_entry_matches(e, proc, 5));
	e->nselectors = 2;
}

/* Random entries over a small universe, so that overlaps are common, against brute force. */
TEST(matcher_random_against_brute_force)
{
	enum { UNIVERSE = 24, NENT = 1500, ROUNDS = 300 };
	_cleanup_matcher_ struct matcher *m = NULL;
	static char uni[UNIVERSE][40];
	static struct entry *ents[NENT];
	unsigned seed = 42;
	int r = 0;

	for (int i = 0; i < UNIVERSE; i++)
		snprintf(uni[i], sizeof(uni[i]), "unix:supplementary_gid:%d", i);
	ASSERT_OK(matcher_new(&m));
	for (int i = 0; i < NENT; i++) {
		const char *s[4];
		int k = 1 + rand_r(&seed) % 4;

		for (int j = 0; j < k; j++)
			s[j] = uni[rand_r(&seed) % UNIVERSE];
		ents[i] = mk((unsigned long)i, "spiffe://example.org/r", s, (size_t)k);
		ASSERT_NOT_NULL(ents[i]);
		ASSERT_OK(matcher_add(m, ents[i]));
	}
	for (int round = 0; round < ROUNDS && !r; round++) {
		const char *p[12];
		int np = rand_r(&seed) % 12, want = 0, got;
		int victim = rand_r(&seed) % NENT;

		/* Mutate: replace one entry's selectors, or remove and re-add it. */
		if (round % 2) {
			struct entry *e = mk((unsigned long)victim, "spiffe://example.org/u",
					     (const char *const[]){ uni[rand_r(&seed) % UNIVERSE],
								    uni[rand_r(&seed) % UNIVERSE] },
					     2);

			ASSERT_NOT_NULL(e);
			ASSERT_OK(matcher_update(m, e, NULL));
			entry_free(ents[victim]);
			ents[victim] = e;
		} else {
			ASSERT_OK(matcher_remove(m, ents[victim]->id, NULL));
			ASSERT_OK(matcher_add(m, ents[victim]));
		}
		for (int j = 0; j < np; j++)
			p[j] = uni[rand_r(&seed) % UNIVERSE];
		for (int i = 0; i < NENT; i++)
			want += matcher_entry_matches(ents[i], p, (size_t)np);
		got = matcher_match(m, p, (size_t)np, NULL, NULL);
		if (got != want)
			r = -1;
		ASSERT_EQ(got, want);
	}
	for (int i = 0; i < NENT; i++)
		entry_free(ents[i]);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/*
 * 100,000 entries in a k8s-like shape: each has its pod-uid, a namespace
 * (100 of them) and a uid (1000); every 100th has only a uid.  A process
 * of one pod must get exactly that pod's entry and its uid-only entry.
 */
TEST(matcher_100k_entries)
{
	enum { N = 100000 };
	_cleanup_matcher_ struct matcher *m = NULL;
	double t0, t1;
	int rounds = 0;

	ASSERT_OK(matcher_new(&m));
	ASSERT_OK(matcher_reserve(m, N));
	t0 = now_us();
	for (unsigned long i = 0; i < N; i++) {
		char uid[32], ns[32], pod[48];
		int r;

		snprintf(uid, sizeof(uid), "unix:uid:%lu", i % 1000);
		snprintf(ns, sizeof(ns), "k8s:ns:ns-%lu", i % 100);
		snprintf(pod, sizeof(pod), "k8s:pod-uid:pod-%lu", i);
		if (i % 100 == 7)
			r = add(m, i, "spiffe://example.org/uid", (const char *const[]){ uid }, 1);
		else
			r = add(m, i, "spiffe://example.org/pod",
				(const char *const[]){ uid, ns, pod }, 3);
		ASSERT_OK(r);
	}
	t1 = now_us();
	test_diag("matcher: added %d entries in %.0f ms", N, (t1 - t0) / 1000);
	ASSERT_EQ(matcher_count(m), N);

	t0 = now_us();
	for (unsigned long pod = 0; pod < N; pod += 997, rounds++) {
		char uid[32], ns[32], p[48];
		const char *sels[6] = { "cgroup:path:/kubepods/x", ns, p, "unix:gid:0", uid,
					"unix:user:app" };
		struct hits h = { 0 };
		int want = 0;

		snprintf(uid, sizeof(uid), "unix:uid:%lu", pod % 1000);
		snprintf(ns, sizeof(ns), "k8s:ns:ns-%lu", pod % 100);
		snprintf(p, sizeof(p), "k8s:pod-uid:pod-%lu", pod);
		/* Sorted, as the process table keeps selectors. */
		qsort(sels, 6, sizeof(sels[0]), cmp_str);
		/* Entries with only this uid: i % 1000 == pod % 1000 and i % 100 == 7. */
		for (unsigned long i = pod % 1000; i < N; i += 1000)
			want += i % 100 == 7;
		want += pod % 100 != 7;
		ASSERT_EQ(matcher_match(m, sels, 6, collect, &h), want);
		if (pod % 100 != 7)
			ASSERT_TRUE(hit(&h, pod));
	}
	t1 = now_us();
	test_diag("matcher: %d matches at %d entries, %.2f us each", rounds, N,
		  (t1 - t0) / rounds);
}

struct flipper {
	struct matcher *m;
	int stop; /* set with __atomic, read without a lock */
	int r;
};

static void *flip_main(void *arg)
{
	struct flipper *f = arg;
	const char *x[] = { "unix:uid:1000" }, *y[] = { "unix:uid:2000" };

	for (int i = 0; i < 2000 && !f->r; i++) {
		struct entry *e = mk(2, "spiffe://example.org/b", i % 2 ? x : y, 1);

		f->r = e ? matcher_update(f->m, e, NULL) : -ENOMEM;
		entry_free(e);
	}
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Matches while another thread keeps changing an entry: never a torn result. */
TEST(matcher_concurrent_match_and_update)
{
	_cleanup_matcher_ struct matcher *m = NULL;
	struct flipper f = { 0 };
	pthread_t th;
	int bad = 0, rounds = 0;

	ASSERT_OK(matcher_new(&m));
	ASSERT_OK(ADD(m, 1, "spiffe://example.org/a", "unix:uid:1000"));
	ASSERT_OK(ADD(m, 2, "spiffe://example.org/b", "unix:uid:2000"));
	f.m = m;
	ASSERT_OK(pthread_create(&th, NULL, flip_main, &f));
	while (!__atomic_load_n(&f.stop, __ATOMIC_ACQUIRE)) {
		int n = matcher_match(m, proc, 5, NULL, NULL);

		bad += n != 1 && n != 2;
		rounds++;
	}
	pthread_join(th, NULL);
	ASSERT_OK(f.r);
	ASSERT_EQ(bad, 0);
	ASSERT_GT(rounds, 0);
	ASSERT_EQ(matcher_count(m), 2);
}
