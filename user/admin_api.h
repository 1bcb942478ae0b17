/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API (proto/admin.proto, service attestd.admin.v1.Admin) on its
 * own unix socket, mode 0600, root callers only: what attestctl talks to.
 */
#ifndef ATTESTD_ADMIN_API_H
#define ATTESTD_ADMIN_API_H

#include <stddef.h>
#include "admin.pb-c.h"

/* Method paths, for clients. */
#define ADMIN_METHOD_ATTEST "/attestd.admin.v1.Admin/Attest"
#define ADMIN_METHOD_LIST_PROCESSES "/attestd.admin.v1.Admin/ListProcesses"
#define ADMIN_METHOD_CREATE_ENTRY "/attestd.admin.v1.Admin/CreateEntry"
#define ADMIN_METHOD_CREATE_ENTRIES "/attestd.admin.v1.Admin/CreateEntries"
#define ADMIN_METHOD_GET_ENTRY "/attestd.admin.v1.Admin/GetEntry"
#define ADMIN_METHOD_UPDATE_ENTRY "/attestd.admin.v1.Admin/UpdateEntry"
#define ADMIN_METHOD_DELETE_ENTRY "/attestd.admin.v1.Admin/DeleteEntry"
#define ADMIN_METHOD_LIST_ENTRIES "/attestd.admin.v1.Admin/ListEntries"
#define ADMIN_METHOD_HEALTH "/attestd.admin.v1.Admin/Health"
#define ADMIN_METHOD_EXPLAIN "/attestd.admin.v1.Admin/Explain"
#define ADMIN_METHOD_WATCH "/attestd.admin.v1.Admin/Watch"
#define ADMIN_METHOD_SET_BUNDLE "/attestd.admin.v1.Admin/SetBundle"
#define ADMIN_METHOD_LIST_BUNDLES "/attestd.admin.v1.Admin/ListBundles"
#define ADMIN_METHOD_DELETE_BUNDLE "/attestd.admin.v1.Admin/DeleteBundle"

/*
 * Largest request the admin API takes: a CreateEntries batch of 100,000
 * typical entries is about 10 MiB.  Root only, and the socket is 0600.
 */
#define ADMIN_MAX_REQUEST_BYTES (64 * 1024 * 1024)

/* Most items in one list of an Entry message, or selectors in a list filter. */
#define ADMIN_MAX_LIST_ITEMS 1024

struct proctable;
struct registry;
struct admin_api;
struct entry;
struct health;
struct federation;

/* What the admin API reads; borrowed, must outlive the API. */
struct admin_deps {
	struct proctable *pt;
	struct registry *registry; /* entries; NULL: entry calls answer UNAVAILABLE */
	struct health *health;	   /* Health; NULL: it answers UNAVAILABLE */
	struct federation *federation; /* bundle calls; NULL: they answer UNAVAILABLE */
};

/* -EADDRINUSE if another attestd serves socket_path. */
int admin_api_start(const char *socket_path, const struct admin_deps *deps, struct admin_api **ret);
/*
 * Stops serving and removes the socket; NULL is a no-op.  An entry write
 * that is running completes (it is durable, its caller may not hear so);
 * queued ones are answered CANCELLED without running.
 */
void admin_api_stop(struct admin_api *api);

/*
 * Entry <-> message, for the server and for clients.  admin_entry_from_pb()
 * copies m into a new entry: selectors and federates_with sorted and
 * unique, dns_names without repeats, an empty id left empty (the store
 * makes one).  Not validated; -EINVAL with the field in err for what no
 * entry can hold (an id longer than a UUID, a TTL beyond 32 bits, a
 * negative created_at, more than ADMIN_MAX_LIST_ITEMS items), -ENOMEM.
 * admin_entry_to_pb() points m into e without copies: e must outlive m.
 */
int admin_entry_from_pb(const Attestd__Admin__V1__Entry *m, struct entry **ret, char *err,
			size_t errlen);
void admin_entry_to_pb(const struct entry *e, Attestd__Admin__V1__Entry *m);

#endif
