/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fixture the Workload API tests share (test_workload_fixture.c): a
 * real CA in a temporary data dir, a bundle set with its bundle (and a
 * federated one), a matcher, a process table wired to both, the SVID cache
 * and the Workload API on a temporary socket.  The test process itself is
 * usually the workload: its own record, read from /proc, goes into the
 * table with the uid a test wants the entries to see.
 */
#ifndef ATTESTD_TEST_WORKLOAD_H
#define ATTESTD_TEST_WORKLOAD_H

#include <stdbool.h>
#include <sys/types.h>
#include "bundle.h"
#include "ca.h"
#include "entry.h"
#include "matcher.h"
#include "proctable.h"
#include "rpc_client.h"
#include "svid_cache.h"
#include "workload.pb-c.h"
#include "workload_api.h"

#define WL_TD "example.org"
#define WL_FED_TD "other.org"

struct wl_fixture {
	char dir[64];
	char sock[128];
	struct ca *ca, *fed_ca;
	struct bundle_set *bundles;
	struct matcher *m;
	struct proctable *pt;
	struct svid_cache *cache;
	struct workload_api *api;
	struct svid_cache_opts copts;
	struct workload_opts wopts;
	bool digest_pending; /* the fake unix:sha256 digest is not there yet */
};

/* Everything but the API; cache manual unless auto_cache. */
int wl_setup(struct wl_fixture *f, bool auto_cache);
int wl_setup_with(struct wl_fixture *f, const struct svid_cache_opts *copts);
/* Starts the API with f->wopts (socket f->sock). */
int wl_start(struct wl_fixture *f);
void wl_teardown(struct wl_fixture *f);

/* Adds an entry granting spiffe_id to processes with selector sel; its id into ret_id (37 bytes).
 */
int wl_add_entry(struct wl_fixture *f, const char *spiffe_id, const char *sel, const char *hint,
		 const char *federates_with, char *ret_id);
/* Puts process pid (as /proc shows it) into the table with uid and euid set to uid. */
int wl_add_process(struct wl_fixture *f, pid_t pid, uid_t uid);

/* A client of f->sock with the security header (or without, if !header). */
int wl_client(struct wl_fixture *f, bool header, struct rpc_client **ret);

/* The first message of a stream (NULL and the status if there was none). */
int wl_first(struct wl_fixture *f, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *type, ProtobufCMessage **ret, struct rpc_status *st);
/* The first message of FetchX509SVID as the calling (this) process. */
int wl_fetch_x509(struct wl_fixture *f, X509SVIDResponse **ret, struct rpc_status *st);

/* True if the X509SVID is well formed: chain DER, PKCS#8 key matching the leaf,
 * one URI SAN equal to spiffe_id, the chain verifying against its bundle. */
bool wl_svid_ok(const X509SVID *s, char *why, size_t len);

#endif
