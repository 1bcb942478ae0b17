/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Federation (issue #4): the bundles of foreign trust domains.  Each lives
 * in <data-dir>/bundles/<td>.json as SPIFFE bundle JSON; federation_open
 * loads them into the daemon's bundle set, and the admin API's SetBundle,
 * ListBundles and DeleteBundle change them through here.  Every change is
 * durable before it shows in the bundle set, and then notify runs (attestd
 * tells the Workload API that bundles changed).
 */
#ifndef ATTESTD_FEDERATION_H
#define ATTESTD_FEDERATION_H

#include <stddef.h>
#include <stdint.h>

struct bundle_set;
struct federation;

struct federation_opts {
	const char *data_dir;	    /* bundles go to <data_dir>/bundles */
	const char *trust_domain;   /* ours: never set or deleted through here */
	struct bundle_set *bundles; /* borrowed, must outlive the federation */
	void (*notify)(void *ctx);  /* after every change; may be NULL */
	void *ctx;
};

/* One foreign trust domain's bundle, as federation_list reports it. */
struct federation_info {
	char trust_domain[256];
	int x509_authorities;
	size_t jwt_authorities;
	uint64_t sequence;
};

/*
 * Creates <data_dir>/bundles (0755) if missing and puts every valid
 * <td>.json there into the bundle set; a file that does not parse, or one
 * for our own trust domain, is logged and skipped.  -errno if the
 * directory cannot be made or read, -ENOMEM.
 */
int federation_open(const struct federation_opts *opts, struct federation **ret);
/* NULL is a no-op.  The bundles stay in the set. */
void federation_free(struct federation *f);

/*
 * Adds or replaces the bundle of td from SPIFFE bundle JSON: -EINVAL (bad
 * trust domain or bundle; reason in err), -EPERM (our own trust domain),
 * -errno of the write.  On success *info (may be NULL) describes it.
 */
int federation_set(struct federation *f, const char *td, const char *json, size_t len,
		   struct federation_info *info, char *err, size_t errlen);
/* -ENOENT if there is no bundle for td, -EPERM for our own, -EINVAL for a bad name. */
int federation_delete(struct federation *f, const char *td);
/* Every foreign bundle sorted by trust domain, malloc'd (the caller frees *ret). */
int federation_list(struct federation *f, struct federation_info **ret, size_t *ret_n);

#endif
