// SPDX-License-Identifier: Apache-2.0
/*
 * `bench_match [SIZES...]`: the matcher's cost per call and per entry.
 *
 * One matcher per size (default 1000 3000 10000 30000 100000 entries),
 * all alive at once, measured round-robin so that every size sees the same
 * machine noise; the figure per size is the median over rounds of the mean
 * time of one matcher_match() call.  Entries look like a Kubernetes node's:
 * {k8s:ns:ns-(i%200), k8s:sa:sa-i, unix:uid:(1000+i%50)}; the process
 * carries the 15 selectors attestd derives for a pod's process and
 * matches exactly one entry.
 *
 * Memory: the largest matcher is built first, from a quiet heap, and the
 * RSS (and glibc's in-use heap, mallinfo2) before and after, over its
 * entry count, is the user-space cost of an entry in the matcher.  It is
 * the matcher's copy only: attestd's store (SQLite) keeps its own.
 *
 * Prints one JSON object on stdout.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "entry.h"
#include "matcher.h"

#define MAX_SIZES 16
#define ROUNDS 7

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

static int fill(struct matcher *m, long from, long to)
{
	char buf[64];

	for (long i = from; i < to; i++) {
		struct entry *e;
		int r = entry_new(&e);

		if (r)
			return r;
		snprintf(buf, sizeof(buf), "spiffe://example.org/ns/ns-%ld/sa/sa-%ld", i % 200, i);
		r = entry_set_spiffe_id(e, buf);
		snprintf(buf, sizeof(buf), "k8s:ns:ns-%ld", i % 200);
		r = r ?: entry_add_selector(e, buf);
		snprintf(buf, sizeof(buf), "k8s:sa:sa-%ld", i);
		r = r ?: entry_add_selector(e, buf);
		snprintf(buf, sizeof(buf), "unix:uid:%ld", 1000 + i % 50);
		r = r ?: entry_add_selector(e, buf);
		r = r ?: matcher_add(m, e);
		entry_free(e);
		if (r)
			return r;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	/* What attestd derives for a containerd pod's process (entry 7 is its registration). */
	const char *sel[] = {
	    "cgroup:path:/kubepods/burstable/pod0c1f/3f2a9c",
	    "container:id:3f2a9c6be1d84e0f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071",
	    "container:runtime:containerd",
	    "k8s:container-name:app",
	    "k8s:node-name:node-1",
	    "k8s:ns:ns-7",
	    "k8s:pod-name:app-7-5d9f",
	    "k8s:pod-uid:0c1f5a2e-4b7d-4c1a-9e2f-3a4b5c6d7e8f",
	    "k8s:sa:sa-7",
	    "ns:mnt:4026532201",
	    "ns:pid:4026532204",
	    "unix:gid:1007",
	    "unix:path:/usr/bin/app",
	    "unix:sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	    "unix:uid:1007",
	};
	const size_t nsel = sizeof(sel) / sizeof(sel[0]);
	long sizes[MAX_SIZES] = {1000, 3000, 10000, 30000, 100000};
	struct matcher *m[MAX_SIZES];
	double t[MAX_SIZES][ROUNDS], t0;
	struct mallinfo2 mi0, mi1;
	int nsizes = 5, big = 0, r;
	long rss0, rss1;

	if (argc > 1) {
		nsizes = 0;
		for (int i = 1; i < argc && nsizes < MAX_SIZES; i++)
			sizes[nsizes++] = atol(argv[i]);
	}
	for (int s = 1; s < nsizes; s++)
		if (sizes[s] > sizes[big])
			big = s;
	qsort(sel, nsel, sizeof(sel[0]), cmp_str);

	/* The biggest first, measured alone. */
	malloc_trim(0);
	rss0 = rss_bytes();
	mi0 = mallinfo2();
	if (matcher_new(&m[big]) || (r = fill(m[big], 0, sizes[big]))) {
		fprintf(stderr, "bench_match: cannot build %ld entries\n", sizes[big]);
		return 1;
	}
	mi1 = mallinfo2();
	rss1 = rss_bytes();
	for (int s = 0; s < nsizes; s++) {
		if (s == big)
			continue;
		if (matcher_new(&m[s]) || fill(m[s], 0, sizes[s])) {
			fprintf(stderr, "bench_match: cannot build %ld entries\n", sizes[s]);
			return 1;
		}
	}
	for (int s = 0; s < nsizes; s++)
		if (matcher_match(m[s], sel, nsel, NULL, NULL) != 1) {
			fprintf(stderr, "bench_match: %ld entries: expected exactly one match\n",
				sizes[s]);
			return 1;
		}

	/* Calibrate: about 30 ms per size per round. */
	long iters = 1000;
	t0 = now();
	for (long i = 0; i < iters; i++)
		matcher_match(m[big], sel, nsel, NULL, NULL);
	iters = (long)(0.03 / ((now() - t0) / iters + 1e-12));
	if (iters < 1000)
		iters = 1000;

	for (int round = 0; round < ROUNDS; round++)
		for (int s = 0; s < nsizes; s++) {
			t0 = now();
			for (long i = 0; i < iters; i++)
				matcher_match(m[s], sel, nsel, NULL, NULL);
			t[s][round] = (now() - t0) / iters * 1e6;
		}

	printf("{\"match_us\":{");
	for (int s = 0; s < nsizes; s++) {
		qsort(t[s], ROUNDS, sizeof(double), cmp_dbl);
		printf("%s\"%ld\":%.4f", s ? "," : "", sizes[s], t[s][ROUNDS / 2]);
	}
	printf("},\"match_selectors\":%zu,\"match_calls_per_round\":%ld", nsel, iters);
	printf(",\"user_bytes_per_entry\":%.0f,\"user_heap_bytes_per_entry\":%.0f"
	       ",\"user_bytes_per_entry_entries\":%ld,\"user_bytes_per_entry_method\":"
	       "\"in-process matcher RSS delta (bench/bench_match.c)\"}\n",
	       (double)(rss1 - rss0) / sizes[big],
	       (double)(mi1.uordblks - mi0.uordblks) / sizes[big], sizes[big]);
	for (int s = 0; s < nsizes; s++)
		matcher_free(m[s]);
	return 0;
}
