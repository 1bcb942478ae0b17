/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API (proto/admin.proto, service attestd.admin.v1.Admin) on its
 * own unix socket, mode 0600, root callers only: what attestctl talks to.
 */
#ifndef ATTESTD_ADMIN_API_H
#define ATTESTD_ADMIN_API_H

/* Method paths, for clients. */
#define ADMIN_METHOD_ATTEST "/attestd.admin.v1.Admin/Attest"
#define ADMIN_METHOD_LIST_PROCESSES "/attestd.admin.v1.Admin/ListProcesses"

struct proctable;
struct registry;
struct admin_api;

/* What the admin API reads; borrowed, must outlive the API. */
struct admin_deps {
	struct proctable *pt;
	struct registry *registry; /* entries; NULL: entry calls answer UNAVAILABLE */
};

/* -EADDRINUSE if another attestd serves socket_path. */
int admin_api_start(const char *socket_path, const struct admin_deps *deps, struct admin_api **ret);
/* Stops serving and removes the socket; NULL is a no-op. */
void admin_api_stop(struct admin_api *api);

#endif
