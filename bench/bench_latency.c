// SPDX-License-Identifier: Apache-2.0
/*
 * The Workload API client of the latency benchmark, run from a copy of
 * itself padded to 20 MB or more (run.sh does that) so that an attestor
 * that hashes the caller's executable pays what it pays on a real node.
 *
 *   bench_latency x509 OUTDIR ROUNDS PER_ROUND NAME=SOCKET...
 *     Per round, per target (in an order that rotates each round, so no
 *     target always follows another), PER_ROUND sequential new connections:
 *     the time from connect() to the first X509SVIDResponse of
 *     FetchX509SVID, then cancel and close.  Before that, 5 successful
 *     connections to each target are warm-up and not counted.  Writes OUTDIR/NAME.us (one
 *     latency a line, in µs, sorted) and prints
 *     {"NAME":{"n":..,"errors":..,"p50_us":..,"p90_us":..,"p99_us":..},...}
 *   bench_latency jwt SECONDS ROUNDS NAME=SOCKET...
 *     Per round, per target: one connection, FetchJWTSVID (audience
 *     "bench") back to back for SECONDS/ROUNDS; prints
 *     {"NAME":{"per_s":<median over rounds>,"errors":..},...}
 *
 * Each call carries workload.spiffe.io: true.  An answer that is not OK,
 * or has no SVID, counts as an error, and the first one is printed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grpc/grpc.h>
#include "rpc_client.h"
#include "workload.pb-c.h"

#define MAX_TARGETS 4
#define WARMUP 5

struct target {
	const char *name, *sock;
	double *lat;
	size_t n, cap;
	long errors;
	double rates[64];
	int nrates;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (n - 1) + 0.5);

	return n ? v[i < n ? i : n - 1] : 0;
}

static void error_once(struct target *t, bool counted, const char *what, int r,
		       const struct rpc_status *st)
{
	if (!counted || t->errors++)
		return;
	if (r < 0)
		fprintf(stderr, "bench_latency: %s %s: %s\n", t->name, what, strerror(-r));
	else
		fprintf(stderr, "bench_latency: %s %s: status %d: %s\n", t->name, what,
			(int)st->code, st->message);
}

static int first_svid(const ProtobufCMessage *msg, void *arg)
{
	const X509SVIDResponse *resp = (const void *)msg;
	double *t1 = arg;

	*t1 = resp->n_svids ? now() : -1;
	return 1; /* cancel: we have what we came for */
}

/* One connection; false on an error, which counts only when keep is set. */
static bool one_x509(struct target *t, bool keep)
{
	X509SVIDRequest req = X509_SVIDREQUEST__INIT;
	struct rpc_status st = {0};
	struct rpc_client *c;
	double t0 = now(), t1 = 0;
	int r = rpc_client_connect(t->sock, &c);

	if (r < 0) {
		error_once(t, keep, "connect", r, &st);
		return false;
	}
	rpc_client_add_metadata(c, "workload.spiffe.io", "true");
	r = rpc_client_stream(c, "/SpiffeWorkloadAPI/FetchX509SVID", &req.base,
			      &x509_svidresponse__descriptor, first_svid, &t1, &st);
	rpc_client_free(c);
	if (r < 0 || t1 <= 0) {
		if (t1 < 0)
			st.code = GRPC_STATUS_OK,
			snprintf(st.message, sizeof(st.message), "no SVID");
		error_once(t, keep, "FetchX509SVID", r, &st);
		return false;
	}
	if (!keep)
		return true;
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		t->lat = realloc(t->lat, t->cap * sizeof(*t->lat));
		if (!t->lat)
			exit(1);
	}
	t->lat[t->n++] = (t1 - t0) * 1e6;
	return true;
}

static void jwt_round(struct target *t, double secs)
{
	char *aud[] = {"bench"};
	JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
	struct rpc_status st = {0};
	struct rpc_client *c;
	double t0, el;
	long n = 0;
	int r = rpc_client_connect(t->sock, &c);

	if (r < 0) {
		error_once(t, true, "connect", r, &st);
		return;
	}
	rpc_client_add_metadata(c, "workload.spiffe.io", "true");
	req.n_audience = 1;
	req.audience = aud;
	t0 = now();
	do {
		ProtobufCMessage *resp = NULL;

		r = rpc_client_call(c, "/SpiffeWorkloadAPI/FetchJWTSVID", &req.base,
				    &jwtsvidresponse__descriptor, &resp, &st);
		if (r < 0 || st.code != GRPC_STATUS_OK || !resp ||
		    ((JWTSVIDResponse *)resp)->n_svids == 0) {
			error_once(t, true, "FetchJWTSVID", r, &st);
		} else {
			n++;
		}
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	} while ((el = now() - t0) < secs);
	rpc_client_free(c);
	if (t->nrates < 64)
		t->rates[t->nrates++] = n / el;
}

int main(int argc, char **argv)
{
	struct target tg[MAX_TARGETS] = {0};
	int nt = 0, first, rounds;
	bool x509;

	if (argc < 5 || (strcmp(argv[1], "x509") && strcmp(argv[1], "jwt"))) {
		fprintf(stderr, "usage: bench_latency x509 OUTDIR ROUNDS PER_ROUND NAME=SOCKET...\n"
				"       bench_latency jwt SECONDS ROUNDS NAME=SOCKET...\n");
		return 2;
	}
	x509 = strcmp(argv[1], "x509") == 0;
	first = x509 ? 5 : 4;
	rounds = atoi(argv[3]);
	for (int i = first; i < argc && nt < MAX_TARGETS; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			return 2;
		*eq = '\0';
		tg[nt].name = argv[i];
		tg[nt++].sock = eq + 1;
	}
	if (rounds < 1 || nt == 0)
		return 2;
	grpc_init(); /* one reference for the whole run: no init/shutdown per client */

	if (x509) {
		int per = atoi(argv[4]);

		/* Warm-up, not counted: also waits (up to ~5 s) for an attestor that
		 * is still learning about this process, e.g. hashing its executable. */
		for (int t = 0; t < nt; t++)
			for (int ok = 0, tries = 0; ok < WARMUP && tries < 500; tries++)
				if (one_x509(&tg[t], false))
					ok++;
				else
					nanosleep(&(struct timespec){0, 10000000}, NULL);
		for (int r = 0; r < rounds; r++)
			for (int k = 0; k < nt; k++)
				for (int i = 0; i < per; i++)
					one_x509(&tg[(k + r) % nt], true);
		printf("{");
		for (int t = 0; t < nt; t++) {
			char path[4096];
			FILE *f;

			qsort(tg[t].lat, tg[t].n, sizeof(double), cmp_dbl);
			snprintf(path, sizeof(path), "%s/%s.us", argv[2], tg[t].name);
			f = fopen(path, "w");
			for (size_t i = 0; f && i < tg[t].n; i++)
				fprintf(f, "%.1f\n", tg[t].lat[i]);
			if (f)
				fclose(f);
			printf("%s\"%s\":{\"n\":%zu,\"errors\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,"
			       "\"p99_us\":%.1f}",
			       t ? "," : "", tg[t].name, tg[t].n, tg[t].errors,
			       pct(tg[t].lat, tg[t].n, 0.5), pct(tg[t].lat, tg[t].n, 0.9),
			       pct(tg[t].lat, tg[t].n, 0.99));
		}
		printf("}\n");
	} else {
		double secs = atof(argv[2]) / rounds;

		for (int r = 0; r < rounds; r++)
			for (int k = 0; k < nt; k++)
				jwt_round(&tg[(k + r) % nt], secs);
		printf("{");
		for (int t = 0; t < nt; t++) {
			qsort(tg[t].rates, tg[t].nrates, sizeof(double), cmp_dbl);
			printf("%s\"%s\":{\"per_s\":%.0f,\"errors\":%ld}", t ? "," : "", tg[t].name,
			       tg[t].nrates ? tg[t].rates[tg[t].nrates / 2] : 0.0, tg[t].errors);
		}
		printf("}\n");
	}
	grpc_shutdown();
	return 0;
}
