// SPDX-License-Identifier: Apache-2.0
/*
 * `bench_entries ADMIN_SOCKET N [SELECTOR...]`: registers N synthetic
 * entries with a running attestd over its admin API (CreateEntries, in
 * batches of 10,000), shaped like bench_match's and the baseline's:
 * {k8s:ns:ns-(i%200), k8s:sa:sa-i, unix:uid:(1000+i%50)}, none of which a
 * benchmark process matches.  With SELECTORs, one more entry with those,
 * for spiffe://example.org/bench/client: the benchmark client's.
 * Prints {"created":..,"seconds":..}; exit 3 when the admin API (as built
 * here) has no CreateEntries, so run.sh can say what is pending.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "admin.pb-c.h"
#include "rpc_client.h"

#define BATCH 10000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#ifndef ATTESTD__ADMIN__V1__CREATE_ENTRIES_REQUEST__INIT
int main(void)
{
	fprintf(stderr, "bench_entries: this build's admin API has no CreateEntries\n");
	return 3;
}
#else
static int create(struct rpc_client *c, Attestd__Admin__V1__Entry **v, size_t n)
{
	Attestd__Admin__V1__CreateEntriesRequest req =
	    ATTESTD__ADMIN__V1__CREATE_ENTRIES_REQUEST__INIT;
	struct rpc_status st;
	ProtobufCMessage *resp = NULL;
	int r;

	req.n_entries = n;
	req.entries = v;
	r = rpc_client_call(c, "/attestd.admin.v1.Admin/CreateEntries", &req.base,
			    &attestd__admin__v1__create_entries_response__descriptor, &resp, &st);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (r < 0) {
		fprintf(stderr, "bench_entries: CreateEntries: %s\n", strerror(-r));
		return 1;
	}
	if (st.code != GRPC_STATUS_OK) {
		fprintf(stderr, "bench_entries: CreateEntries: status %d: %s\n", (int)st.code,
			st.message);
		return st.code == GRPC_STATUS_UNIMPLEMENTED ? 3 : 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : -1, done = 0;
	Attestd__Admin__V1__Entry *e, **v;
	struct rpc_client *c;
	char(*str)[3][64], (*ids)[96];
	char **sel;
	double t0;
	int r;

	if (argc < 3 || n < 0) {
		fprintf(stderr, "usage: bench_entries ADMIN_SOCKET N [SELECTOR...]\n");
		return 2;
	}
	r = rpc_client_connect(argv[1], &c);
	if (r < 0) {
		fprintf(stderr, "bench_entries: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	rpc_client_set_timeout(c, 120000);
	e = calloc(BATCH, sizeof(*e));
	v = calloc(BATCH, sizeof(*v));
	str = calloc(BATCH, sizeof(*str));
	ids = calloc(BATCH, sizeof(*ids));
	sel = calloc(BATCH * 3, sizeof(*sel));
	if (!e || !v || !str || !ids || !sel)
		return 1;
	t0 = now();
	if (argc > 3) {
		attestd__admin__v1__entry__init(&e[0]);
		e[0].spiffe_id = "spiffe://example.org/bench/client";
		e[0].n_selectors = argc - 3;
		e[0].selectors = argv + 3;
		v[0] = &e[0];
		if ((r = create(c, v, 1)))
			return r;
	}
	while (done < n) {
		size_t k = 0;

		for (; k < BATCH && done + (long)k < n; k++) {
			long i = done + k;

			attestd__admin__v1__entry__init(&e[k]);
			snprintf(ids[k], sizeof(ids[k]), "spiffe://example.org/ns/ns-%ld/sa/sa-%ld",
				 i % 200, i);
			snprintf(str[k][0], 64, "k8s:ns:ns-%ld", i % 200);
			snprintf(str[k][1], 64, "k8s:sa:sa-%ld", i);
			snprintf(str[k][2], 64, "unix:uid:%ld", 1000 + i % 50);
			for (int j = 0; j < 3; j++)
				sel[3 * k + j] = str[k][j];
			e[k].spiffe_id = ids[k];
			e[k].n_selectors = 3;
			e[k].selectors = &sel[3 * k];
			v[k] = &e[k];
		}
		if ((r = create(c, v, k)))
			return r;
		done += k;
	}
	printf("{\"created\":%ld,\"seconds\":%.3f}\n", done + (argc > 3), now() - t0);
	rpc_client_free(c);
	return 0;
}
#endif
