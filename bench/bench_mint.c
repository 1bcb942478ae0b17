// SPDX-License-Identifier: Apache-2.0
/*
 * `bench_mint [SECONDS]`: X.509-SVIDs per second from x509svid_mint_with()
 * (a fresh P-256 key, a signed leaf, DER and PKCS#8 out: everything a
 * Workload API answer needs), and, in the same rounds, the two OpenSSL
 * operations it is built from, P-256 key generation (EVP_PKEY_keygen on a
 * reused context, as x509svid.c does) and ECDSA P-256 signing of a SHA-256
 * digest.  Rounds of 0.25 s alternate between the three so that all see
 * the same machine; each figure is the median of its rounds.  The CA
 * lives in a temporary data dir that is removed at the end.
 *
 * Prints one JSON object on stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include "ca.h"
#include "x509svid.h"

#define MAX_ROUNDS 64

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

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3, slice = 0.25, t0, t;
	double mint[MAX_ROUNDS], keygen[MAX_ROUNDS], sign[MAX_ROUNDS];
	char dir[] = "/tmp/bench-mint-XXXXXX", cmd[256];
	unsigned char digest[32] = {1}, sig[128];
	struct ca_x509_signer signer;
	struct ca_opts opts = {0};
	EVP_PKEY_CTX *kctx, *sctx;
	EVP_PKEY *skey = NULL;
	struct ca *ca;
	int rounds = (int)(secs / slice / 3), r;

	if (rounds < 3)
		rounds = 3;
	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	if (!mkdtemp(dir))
		return 1;
	opts.data_dir = dir;
	opts.trust_domain = "example.org";
	r = ca_open(&opts, &ca);
	if (r || ca_x509_signer_get(ca, &signer)) {
		fprintf(stderr, "bench_mint: cannot open a CA in %s: %s\n", dir, strerror(-r));
		return 1;
	}
	kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
	if (!kctx || EVP_PKEY_keygen_init(kctx) <= 0 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1) <= 0 ||
	    EVP_PKEY_keygen(kctx, &skey) <= 0)
		return 1;
	sctx = EVP_PKEY_CTX_new(skey, NULL);
	if (!sctx || EVP_PKEY_sign_init(sctx) <= 0)
		return 1;

	for (int i = 0; i < rounds; i++) {
		long n = 0;

		t0 = now();
		do {
			struct x509svid *svid;

			if (x509svid_mint_with(&signer, "spiffe://example.org/bench/workload", NULL,
					       0, 3600, 0, &svid))
				return 1;
			x509svid_free(svid);
			n++;
		} while ((t = now() - t0) < slice);
		mint[i] = n / t;

		n = 0;
		t0 = now();
		do {
			EVP_PKEY *k = NULL;

			if (EVP_PKEY_keygen(kctx, &k) <= 0)
				return 1;
			EVP_PKEY_free(k);
			n++;
		} while ((t = now() - t0) < slice);
		keygen[i] = n / t;

		n = 0;
		t0 = now();
		do {
			size_t siglen = sizeof(sig);

			if (EVP_PKEY_sign(sctx, sig, &siglen, digest, sizeof(digest)) <= 0)
				return 1;
			n++;
		} while ((t = now() - t0) < slice);
		sign[i] = n / t;
	}
	printf("{\"mint_per_s\":%.0f,\"keygen_per_s\":%.0f,\"evp_sign_per_s\":%.0f,\"mint_rounds\":"
	       "%d}\n",
	       median(mint, rounds), median(keygen, rounds), median(sign, rounds), rounds);

	EVP_PKEY_CTX_free(sctx);
	EVP_PKEY_CTX_free(kctx);
	EVP_PKEY_free(skey);
	ca_x509_signer_put(&signer);
	ca_free(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
