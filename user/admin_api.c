// SPDX-License-Identifier: Apache-2.0
/*
 * The admin API: a method table for rpc_server.  Every call is checked
 * against the caller's uid from its connection (SO_PEERCRED), on top of the
 * socket's 0600 mode, so that a socket made wider by mistake (or a root
 * process passing its fd on) still only serves uid 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "cleanup.h"
#include "log.h"
#include "proctable.h"
#include "rpc_server.h"

struct admin_api {
	struct admin_deps deps;
	struct rpc_server *srv;
};

static grpc_status_code admin_check(struct rpc_call *call, void *arg, char *msg, size_t len)
{
	const struct rpc_peer *peer = rpc_call_peer(call);

	if (peer->uid == 0)
		return GRPC_STATUS_OK;
	log_warn("\"admin: refused non-root caller\" method=%s pid=%d uid=%u",
		 rpc_call_method(call)->path, (int)peer->pid, (unsigned)peer->uid);
	snprintf(msg, len, "admin API is root-only");
	return GRPC_STATUS_PERMISSION_DENIED;
}

/* Points m into pi, without copies: pi must outlive m. */
static void process_info_fill(Attestd__Admin__V1__ProcessInfo *m, struct proc_info *pi)
{
	struct proc_state *st = &pi->st;

	attestd__admin__v1__process_info__init(m);
	m->pid = (int32_t)st->tgid;
	m->start_time = pi->start_time;
	m->ppid = (int32_t)st->ppid;
	m->uid = st->uid;
	m->gid = st->gid;
	m->euid = st->euid;
	m->egid = st->egid;
	m->n_supplementary_gids = st->ngroups < MAX_GROUPS ? st->ngroups : MAX_GROUPS;
	m->supplementary_gids = st->groups;
	m->groups_truncated = !!(st->flags & PROC_F_GROUPS_TRUNCATED);
	/* The kernel's strings are fixed arrays: terminate them for protobuf-c. */
	st->exe[sizeof(st->exe) - 1] = '\0';
	st->comm[sizeof(st->comm) - 1] = '\0';
	st->cgroup[sizeof(st->cgroup) - 1] = '\0';
	m->exe = st->exe;
	m->exe_truncated = !!(st->flags & PROC_F_EXE_TRUNCATED);
	m->comm = st->comm;
	m->cgroup = st->cgroup;
	m->cgroup_truncated = !!(st->flags & PROC_F_CGROUP_TRUNCATED);
	m->cgroup_id = st->cgroup_id;
	m->pidns = st->pidns_ino;
	m->mntns = st->mntns_ino;
	m->n_selectors = pi->nselectors;
	m->selectors = pi->selectors;
	m->n_spiffe_ids = pi->nspiffe_ids;
	m->spiffe_ids = pi->spiffe_ids;
}

static void do_attest(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__AttestRequest *req = (const void *)msg;
	struct admin_api *api = arg;
	Attestd__Admin__V1__ProcessInfo resp;
	struct proc_info *pi;
	int r;

	if (req->pid <= 0) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "pid %d is not a pid",
				req->pid);
		return;
	}
	r = proctable_get(api->deps.pt, (uint32_t)req->pid, 0, &pi);
	if (r == -ENOENT) {
		rpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "pid %d is not tracked", req->pid);
		return;
	}
	if (r) {
		log_error("\"admin: process table lookup failed\" pid=%d error=\"%s\"", req->pid,
			  strerror(-r));
		rpc_call_finish(call, GRPC_STATUS_INTERNAL, "process table lookup failed: %s",
				strerror(-r));
		return;
	}
	process_info_fill(&resp, pi);
	rpc_call_reply(call, &resp.base);
	proc_info_free(pi);
}

static void do_list_processes(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	Attestd__Admin__V1__ListProcessesResponse resp =
	    ATTESTD__ADMIN__V1__LIST_PROCESSES_RESPONSE__INIT;
	Attestd__Admin__V1__ProcessInfo *infos = NULL, **ptrs = NULL;
	struct admin_api *api = arg;
	struct proc_info **list;
	size_t n;
	int r;

	r = proctable_list(api->deps.pt, &list, &n);
	if (r) {
		log_error("\"admin: process table list failed\" error=\"%s\"", strerror(-r));
		rpc_call_finish(call, GRPC_STATUS_INTERNAL, "process table list failed: %s",
				strerror(-r));
		return;
	}
	if (n) {
		infos = calloc(n, sizeof(*infos));
		ptrs = calloc(n, sizeof(*ptrs));
		if (!infos || !ptrs) {
			rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		process_info_fill(&infos[i], list[i]);
		ptrs[i] = &infos[i];
	}
	resp.n_processes = n;
	resp.processes = ptrs;
	rpc_call_reply(call, &resp.base);
out:
	free(ptrs);
	free(infos);
	proc_info_list_free(list, n);
}

/* Adding an RPC: a handler above and a row here. */
static const struct rpc_method admin_methods[] = {
    {ADMIN_METHOD_ATTEST, &attestd__admin__v1__attest_request__descriptor, RPC_UNARY, do_attest},
    {ADMIN_METHOD_LIST_PROCESSES, &attestd__admin__v1__list_processes_request__descriptor,
     RPC_UNARY, do_list_processes},
};

int admin_api_start(const char *socket_path, const struct admin_deps *deps, struct admin_api **ret)
{
	struct rpc_server_opts opts = {
	    .socket_path = socket_path,
	    .mode = 0600,
	    .check = admin_check,
	};
	struct admin_api *api;
	int r;

	if (!deps || !deps->pt)
		return -EINVAL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->deps = *deps;
	opts.arg = api;
	r = rpc_server_start(&opts, admin_methods, ARRAY_SIZE(admin_methods), &api->srv);
	if (r) {
		free(api);
		return r;
	}
	*ret = api;
	return 0;
}

void admin_api_stop(struct admin_api *api)
{
	if (!api)
		return;
	rpc_server_stop(api->srv);
	free(api);
}
