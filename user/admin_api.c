// SPDX-License-Identifier: Apache-2.0
/*
 * The admin API: a method table for rpc_server.  Every call is checked
 * against the caller's uid from its connection (SO_PEERCRED), on top of the
 * socket's 0600 mode, so that a socket made wider by mistake (or a root
 * process passing its fd on) still only serves uid 0.
 *
 * Entry calls touch the store, and a batch of 100,000 entries takes
 * seconds in SQLite, so they do not run on the completion-queue thread:
 * the handler copies the request into a job and queues it, and one worker
 * thread runs the jobs in order and finishes their calls.  Attest and
 * ListProcesses keep flowing meanwhile.  One worker is enough: the store
 * serializes its calls anyway, and it keeps entry calls in arrival order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "cleanup.h"
#include "entry.h"
#include "explain.h"
#include "federation.h"
#include "health.h"
#include "log.h"
#include "proctable.h"
#include "registry.h"
#include "rpc_server.h"
#include "selector.h"
#include "spiffeid.h"
#include "store.h"
#include "telemetry.h"

/*
 * Every call's end is counted by method and status (telemetry.h): these
 * wrap rpc_server's two ways of ending a call for the rest of this file.
 */
static void count_end(struct rpc_call *call, grpc_status_code code)
{
	telemetry_admin_call(rpc_call_method(call)->path, code);
}
#define rpc_call_finish(call, code, ...)                                                           \
	(count_end(call, code), rpc_call_finish(call, code, __VA_ARGS__))
#define rpc_call_reply(call, msg) (count_end(call, GRPC_STATUS_OK), rpc_call_reply(call, msg))

struct admin_job;

struct admin_api {
	struct admin_deps deps;
	struct rpc_server *srv;

	/* entry calls: a queue and the worker that drains it */
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct admin_job *head, **tail;
	bool quit;
};

static grpc_status_code admin_check(struct rpc_call *call, void *arg, char *msg, size_t len)
{
	const struct rpc_peer *peer = rpc_call_peer(call);

	if (peer->uid == 0)
		return GRPC_STATUS_OK;
	log_warn("\"admin: refused non-root caller\" method=%s pid=%d uid=%u",
		 rpc_call_method(call)->path, (int)peer->pid, (unsigned)peer->uid);
	telemetry_admin_call(rpc_call_method(call)->path, GRPC_STATUS_PERMISSION_DENIED);
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

/* ---- registration entries: messages ---- */

static int pb_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int pb_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void strs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Copies a repeated string field; NULL items (never from protobuf-c, but) read as "". */
static int strs_copy(const char *field, char *const *v, size_t n, char ***ret, size_t *ret_n,
		     char *err, size_t errlen)
{
	char **out;

	*ret = NULL;
	*ret_n = 0;
	if (n > ADMIN_MAX_LIST_ITEMS)
		return pb_fail(err, errlen, "%s: %zu items is more than %d", field, n,
			       ADMIN_MAX_LIST_ITEMS);
	if (n == 0)
		return 0;
	out = calloc(n, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(v[i] ? v[i] : "");
		if (!out[i]) {
			strs_free(out, i);
			return -ENOMEM;
		}
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

struct ranked {
	const char *s;
	size_t pos;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * Drops later repeats, keeping the first of each in its place, in
 * O(n log n): entry_normalize()'s pairwise scan is meant for the few names
 * an entry may have, and a message may carry many more before validation.
 */
static int strs_unique_stable(char **v, size_t *n)
{
	struct ranked *r;
	bool *drop;
	size_t out = 0;

	if (*n < 2)
		return 0;
	r = calloc(*n, sizeof(*r));
	drop = calloc(*n, sizeof(*drop));
	if (!r || !drop) {
		free(r);
		free(drop);
		return -ENOMEM;
	}
	for (size_t i = 0; i < *n; i++)
		r[i] = (struct ranked){v[i], i};
	qsort(r, *n, sizeof(*r), ranked_cmp);
	for (size_t i = 1; i < *n; i++)
		if (strcmp(r[i - 1].s, r[i].s) == 0)
			drop[r[i].pos] = true;
	for (size_t i = 0; i < *n; i++) {
		if (drop[i])
			free(v[i]);
		else
			v[out++] = v[i];
	}
	*n = out;
	free(r);
	free(drop);
	return 0;
}

static int ttl_from_pb(const char *field, uint64_t v, uint32_t *ret, char *err, size_t errlen)
{
	if (v > UINT32_MAX)
		return pb_fail(err, errlen, "%s: %llu s is out of range", field,
			       (unsigned long long)v);
	*ret = (uint32_t)v;
	return 0;
}

int admin_entry_from_pb(const Attestd__Admin__V1__Entry *m, struct entry **ret, char *err,
			size_t errlen)
{
	struct entry *e;
	int r;

	*ret = NULL;
	if (!m)
		return pb_fail(err, errlen, "entry is missing");
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (m->id && strlen(m->id) > ENTRY_ID_LEN) {
		r = pb_fail(err, errlen, "id: not a lowercase UUID");
		goto fail;
	}
	snprintf(e->id, sizeof(e->id), "%s", m->id ? m->id : "");
	if ((r = entry_set_spiffe_id(e, m->spiffe_id)) || (r = entry_set_parent_id(e, m->parent_id)) ||
	    (r = entry_set_hint(e, m->hint)))
		goto fail;
	if ((r = ttl_from_pb("x509_svid_ttl", m->x509_svid_ttl, &e->x509_svid_ttl, err, errlen)) ||
	    (r = ttl_from_pb("jwt_svid_ttl", m->jwt_svid_ttl, &e->jwt_svid_ttl, err, errlen)))
		goto fail;
	if (m->created_at < 0) {
		r = pb_fail(err, errlen, "created_at: %lld is negative", (long long)m->created_at);
		goto fail;
	}
	e->created_at = m->created_at;
	e->revision = m->revision;
	if ((r = strs_copy("selectors", m->selectors, m->n_selectors, &e->selectors,
			   &e->nselectors, err, errlen)) ||
	    (r = strs_copy("dns_names", m->dns_names, m->n_dns_names, &e->dns_names,
			   &e->ndns_names, err, errlen)) ||
	    (r = strs_copy("federates_with", m->federates_with, m->n_federates_with,
			   &e->federates_with, &e->nfederates_with, err, errlen)))
		goto fail;
	selector_set_normalize(e->selectors, &e->nselectors);
	selector_set_normalize(e->federates_with, &e->nfederates_with);
	r = strs_unique_stable(e->dns_names, &e->ndns_names);
	if (r)
		goto fail;
	*ret = e;
	return 0;
fail:
	if (r == -ENOMEM)
		pb_fail(err, errlen, "out of memory");
	entry_free(e);
	return r;
}

void admin_entry_to_pb(const struct entry *e, Attestd__Admin__V1__Entry *m)
{
	attestd__admin__v1__entry__init(m);
	/* protobuf-c takes char *; it only reads them when packing. */
	m->id = (char *)e->id;
	m->spiffe_id = e->spiffe_id ? e->spiffe_id : "";
	m->parent_id = e->parent_id ? e->parent_id : "";
	m->n_selectors = e->nselectors;
	m->selectors = e->selectors;
	m->x509_svid_ttl = e->x509_svid_ttl;
	m->jwt_svid_ttl = e->jwt_svid_ttl;
	m->n_dns_names = e->ndns_names;
	m->dns_names = e->dns_names;
	m->hint = e->hint ? e->hint : "";
	m->n_federates_with = e->nfederates_with;
	m->federates_with = e->federates_with;
	m->revision = e->revision;
	m->created_at = e->created_at;
}

/* ---- registration entries: the worker ---- */

/* UpdateEntry's mask, one bit per replaceable field. */
enum {
	F_SPIFFE_ID = 1 << 0,
	F_PARENT_ID = 1 << 1,
	F_SELECTORS = 1 << 2,
	F_X509_TTL = 1 << 3,
	F_JWT_TTL = 1 << 4,
	F_DNS_NAMES = 1 << 5,
	F_HINT = 1 << 6,
	F_FEDERATES_WITH = 1 << 7,
	F_ALL = (1 << 8) - 1,
};

static const struct {
	const char *name;
	unsigned bit;
} mask_fields[] = {
    {"spiffe_id", F_SPIFFE_ID},
    {"parent_id", F_PARENT_ID},
    {"selectors", F_SELECTORS},
    {"x509_svid_ttl", F_X509_TTL},
    {"jwt_svid_ttl", F_JWT_TTL},
    {"dns_names", F_DNS_NAMES},
    {"hint", F_HINT},
    {"federates_with", F_FEDERATES_WITH},
};

/* A call's request, copied out of the message the handler gets (freed when it returns). */
struct admin_job {
	struct admin_job *next;
	struct rpc_call *call;
	void (*run)(struct admin_api *api, struct admin_job *j);
	struct entry **v; /* create, create batch, update: the entries sent */
	size_t n;
	char *id; /* get, update, delete: as sent, maybe not an id at all */
	unsigned mask;
	uint64_t revision;
	char **selectors; /* list: sorted, unique */
	size_t nselectors;
	char *spiffe_id; /* list: "" for any */
	int32_t pid;	 /* explain */
	uint32_t limit;
	struct timespec started; /* when the handler queued it, for the latency histogram */
};

static void job_free(struct admin_job *j)
{
	if (!j)
		return;
	entries_free(j->v, j->n);
	free(j->id);
	strs_free(j->selectors, j->nselectors);
	free(j->spiffe_id);
	free(j);
}

/* -errno of the registry or the store -> status.  Store trouble is logged once, here. */
static grpc_status_code status_of(int err, const char *what, const char *why)
{
	grpc_status_code code;

	switch (err) {
	case -EINVAL:
		return GRPC_STATUS_INVALID_ARGUMENT;
	case -EEXIST:
		return GRPC_STATUS_ALREADY_EXISTS;
	case -ENOENT:
		return GRPC_STATUS_NOT_FOUND;
	case -ESTALE:
		return GRPC_STATUS_ABORTED;
	case -EBUSY:
	case -EAGAIN:
	case -ENOSPC:
	case -EROFS:
		code = GRPC_STATUS_UNAVAILABLE;
		break;
	case -ENOMEM:
		code = GRPC_STATUS_RESOURCE_EXHAUSTED;
		break;
	default:
		code = GRPC_STATUS_INTERNAL;
		break;
	}
	log_error("\"admin: %s failed\" error=\"%s\" reason=\"%s\"", what, strerror(-err), why);
	telemetry_store_error(what);
	return code;
}

static void finish_err(struct rpc_call *call, int err, const char *what, const char *why)
{
	grpc_status_code code = status_of(err, what, why);

	rpc_call_finish(call, code, "%s", *why ? why : strerror(-err));
}

/* An id from a request, for a message: bounded, whatever was sent. */
#define ID_FMT "'%.64s'"

static bool id_check(struct rpc_call *call, const char *id)
{
	if (entry_id_valid(id))
		return true;
	rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "not an entry id: " ID_FMT, id);
	return false;
}

static void run_create(struct admin_api *api, struct admin_job *j)
{
	Attestd__Admin__V1__Entry m;
	struct entry *e = j->v[0], *old = NULL;
	char err[512] = "";
	int r;

	/* The store says EEXIST for an id and a registration alike: tell them apart. */
	if (e->id[0] && entry_id_valid(e->id) &&
	    store_entry_get(registry_store(api->deps.registry), e->id, &old) == 0) {
		entry_free(old);
		rpc_call_finish(j->call, GRPC_STATUS_ALREADY_EXISTS, "an entry with id %s exists",
				e->id);
		return;
	}
	e->revision = 0;
	r = registry_create(api->deps.registry, e, err, sizeof(err));
	if (r) {
		finish_err(j->call, r, "create entry", err);
		return;
	}
	admin_entry_to_pb(e, &m);
	rpc_call_reply(j->call, &m.base);
}

/* Replies with a repeated Entry message made of v. */
static void reply_entries(struct rpc_call *call, struct entry *const *v, size_t n,
			  size_t *resp_n, Attestd__Admin__V1__Entry ***resp_v,
			  const ProtobufCMessage *resp)
{
	Attestd__Admin__V1__Entry *ms = NULL, **ptrs = NULL;

	if (n) {
		ms = calloc(n, sizeof(*ms));
		ptrs = calloc(n, sizeof(*ptrs));
		if (!ms || !ptrs) {
			free(ms);
			free(ptrs);
			rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		admin_entry_to_pb(v[i], &ms[i]);
		ptrs[i] = &ms[i];
	}
	*resp_n = n;
	*resp_v = ptrs;
	rpc_call_reply(call, resp);
	free(ptrs);
	free(ms);
}

static void run_create_batch(struct admin_api *api, struct admin_job *j)
{
	Attestd__Admin__V1__CreateEntriesResponse resp =
	    ATTESTD__ADMIN__V1__CREATE_ENTRIES_RESPONSE__INIT;
	char err[512] = "";
	size_t failed = 0;
	int r;

	for (size_t i = 0; i < j->n; i++)
		j->v[i]->revision = 0;
	r = registry_create_batch(api->deps.registry, j->v, j->n, &failed, err, sizeof(err));
	if (r) {
		finish_err(j->call, r, "create entries", err);
		return;
	}
	reply_entries(j->call, j->v, j->n, &resp.n_entries, &resp.entries, &resp.base);
}

static void run_get(struct admin_api *api, struct admin_job *j)
{
	Attestd__Admin__V1__Entry m;
	struct entry *e = NULL;
	int r;

	if (!id_check(j->call, j->id))
		return;
	r = store_entry_get(registry_store(api->deps.registry), j->id, &e);
	if (r == -ENOENT) {
		rpc_call_finish(j->call, GRPC_STATUS_NOT_FOUND, "no entry %s", j->id);
		return;
	}
	if (r) {
		finish_err(j->call, r, "get entry", "");
		return;
	}
	admin_entry_to_pb(e, &m);
	rpc_call_reply(j->call, &m.base);
	entry_free(e);
}

#define SWAP(a, b)                                                                                 \
	do {                                                                                       \
		__typeof__(a) _t = (a);                                                            \
		(a) = (b);                                                                         \
		(b) = _t;                                                                          \
	} while (0)

/* Moves the masked fields of src into dst (src gets dst's old ones, for entry_free). */
static void fields_move(struct entry *dst, struct entry *src, unsigned mask)
{
	if (mask & F_SPIFFE_ID)
		SWAP(dst->spiffe_id, src->spiffe_id);
	if (mask & F_PARENT_ID)
		SWAP(dst->parent_id, src->parent_id);
	if (mask & F_SELECTORS) {
		SWAP(dst->selectors, src->selectors);
		SWAP(dst->nselectors, src->nselectors);
	}
	if (mask & F_X509_TTL)
		dst->x509_svid_ttl = src->x509_svid_ttl;
	if (mask & F_JWT_TTL)
		dst->jwt_svid_ttl = src->jwt_svid_ttl;
	if (mask & F_DNS_NAMES) {
		SWAP(dst->dns_names, src->dns_names);
		SWAP(dst->ndns_names, src->ndns_names);
	}
	if (mask & F_HINT)
		SWAP(dst->hint, src->hint);
	if (mask & F_FEDERATES_WITH) {
		SWAP(dst->federates_with, src->federates_with);
		SWAP(dst->nfederates_with, src->nfederates_with);
	}
}

/* A concurrent writer outside the admin API could change the entry between read and write. */
#define UPDATE_ATTEMPTS 3

static void run_update(struct admin_api *api, struct admin_job *j)
{
	struct store *st = registry_store(api->deps.registry);
	Attestd__Admin__V1__Entry m;
	struct entry *cur = NULL, *patch = NULL;
	char err[512] = "";
	int r = 0;

	if (!id_check(j->call, j->id))
		return;
	for (int attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
		entry_free(cur);
		cur = NULL;
		r = store_entry_get(st, j->id, &cur);
		if (r)
			break;
		if (j->revision && cur->revision != j->revision) {
			r = -ESTALE;
			break;
		}
		r = entry_dup(j->v[0], &patch);
		if (r)
			break;
		fields_move(cur, patch, j->mask);
		entry_free(patch);
		patch = NULL;
		/* cur->revision is the one just read: the store refuses the write if it moved. */
		err[0] = '\0';
		r = registry_update(api->deps.registry, j->id, cur, err, sizeof(err));
		if (r != -ESTALE || j->revision)
			break;
	}
	if (r == -ENOENT) {
		rpc_call_finish(j->call, GRPC_STATUS_NOT_FOUND, "no entry %s", j->id);
	} else if (r == -ESTALE && j->revision) {
		rpc_call_finish(j->call, GRPC_STATUS_ABORTED,
				"entry %s is at revision %llu, not %llu", j->id,
				cur ? (unsigned long long)cur->revision : 0ULL,
				(unsigned long long)j->revision);
	} else if (r == -ESTALE) {
		rpc_call_finish(j->call, GRPC_STATUS_ABORTED,
				"entry %s kept changing while it was updated; try again", j->id);
	} else if (r) {
		finish_err(j->call, r, "update entry", err);
	} else {
		admin_entry_to_pb(cur, &m);
		rpc_call_reply(j->call, &m.base);
	}
	entry_free(cur);
}

static void run_delete(struct admin_api *api, struct admin_job *j)
{
	Attestd__Admin__V1__DeleteEntryResponse resp =
	    ATTESTD__ADMIN__V1__DELETE_ENTRY_RESPONSE__INIT;
	int r;

	if (!id_check(j->call, j->id))
		return;
	r = registry_delete(api->deps.registry, j->id);
	if (r == -ENOENT) {
		rpc_call_finish(j->call, GRPC_STATUS_NOT_FOUND, "no entry %s", j->id);
		return;
	}
	if (r) {
		finish_err(j->call, r, "delete entry", "");
		return;
	}
	rpc_call_reply(j->call, &resp.base);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Both sorted: every filter selector is among the entry's (a merge). */
static bool has_all(const struct entry *e, char *const *want, size_t nwant)
{
	size_t i = 0;

	for (size_t k = 0; k < nwant; k++) {
		int c = 1;

		while (i < e->nselectors && (c = strcmp(e->selectors[i], want[k])) < 0)
			i++;
		if (c != 0)
			return false;
	}
	return true;
}

static void run_list(struct admin_api *api, struct admin_job *j)
{
	Attestd__Admin__V1__ListEntriesResponse resp =
	    ATTESTD__ADMIN__V1__LIST_ENTRIES_RESPONSE__INIT;
	struct store_filter f = {
	    .selector = j->nselectors ? j->selectors[0] : NULL,
	    .spiffe_id = *j->spiffe_id ? j->spiffe_id : NULL,
	};
	struct entry **v = NULL;
	size_t n = 0, kept = 0;
	int r;

	/* The store's index serves one selector; the others are checked here. */
	r = store_entry_list(registry_store(api->deps.registry), &f, &v, &n);
	if (r) {
		finish_err(j->call, r, "list entries", "");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (j->nselectors > 1 && !has_all(v[i], j->selectors, j->nselectors)) {
			entry_free(v[i]);
			continue;
		}
		v[kept++] = v[i];
	}
	reply_entries(j->call, v, kept, &resp.n_entries, &resp.entries, &resp.base);
	entries_free(v, kept);
}

static void *worker_main(void *arg)
{
	struct admin_api *api = arg;

	pthread_mutex_lock(&api->lock);
	for (;;) {
		struct admin_job *j = api->head;

		if (!j) {
			if (api->quit)
				break;
			pthread_cond_wait(&api->cond, &api->lock);
			continue;
		}
		api->head = j->next;
		if (!api->head)
			api->tail = &api->head;
		pthread_mutex_unlock(&api->lock);
		/* The method's path is static; the call is gone once the job finishes it. */
		const char *path = rpc_call_method(j->call)->path;
		struct timespec done;

		/* Gone while queued (client, deadline, server stop): do not write for nobody. */
		if (rpc_call_cancelled(j->call))
			rpc_call_finish(j->call, GRPC_STATUS_CANCELLED, "cancelled before it ran");
		else
			j->run(api, j);
		clock_gettime(CLOCK_MONOTONIC, &done);
		telemetry_admin_latency(path, (double)(done.tv_sec - j->started.tv_sec) +
						  (double)(done.tv_nsec - j->started.tv_nsec) / 1e9);
		job_free(j);
		pthread_mutex_lock(&api->lock);
	}
	pthread_mutex_unlock(&api->lock);
	return NULL;
}

/* Once every call is finished (rpc_server_stop), the queue is empty. */
static void worker_stop(struct admin_api *api)
{
	if (!api->worker_started)
		return;
	pthread_mutex_lock(&api->lock);
	api->quit = true;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->lock);
	pthread_join(api->worker, NULL);
	api->worker_started = false;
}

/* A job for call, or NULL with the call finished. */
static struct admin_job *job_new(struct admin_api *api, struct rpc_call *call,
				 void (*run)(struct admin_api *, struct admin_job *))
{
	struct admin_job *j;

	if (!api->deps.registry) {
		rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "no registration store");
		return NULL;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	j->call = call;
	j->run = run;
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	return j;
}

static void job_queue(struct admin_api *api, struct admin_job *j)
{
	pthread_mutex_lock(&api->lock);
	*api->tail = j;
	api->tail = &j->next;
	pthread_cond_signal(&api->cond);
	pthread_mutex_unlock(&api->lock);
}

/* Ends the call for a job that could not be made: r from a copy, err its reason. */
static void job_refuse(struct admin_job *j, int r, const char *err)
{
	rpc_call_finish(j->call,
			r == -ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED
				     : GRPC_STATUS_INVALID_ARGUMENT,
			"%s", err);
	job_free(j);
}

static int job_take_entries(struct admin_job *j, Attestd__Admin__V1__Entry *const *ms, size_t n,
			    bool batch, char *err, size_t errlen)
{
	char why[256];
	int r;

	j->v = calloc(n ? n : 1, sizeof(*j->v));
	if (!j->v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		r = admin_entry_from_pb(ms[i], &j->v[i], why, sizeof(why));
		if (r) {
			if (batch)
				snprintf(err, errlen, "entry %zu: %s", i, why);
			else
				snprintf(err, errlen, "%s", why);
			return r;
		}
		j->n = i + 1;
	}
	return 0;
}

static int copy_str(const char *s, char **ret)
{
	*ret = strdup(s ? s : "");
	return *ret ? 0 : -ENOMEM;
}

static void do_create_entry(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__CreateEntryRequest *req = (const void *)msg;
	struct admin_api *api = arg;
	struct admin_job *j = job_new(api, call, run_create);
	char err[320];
	int r;

	if (!j)
		return;
	r = job_take_entries(j, &req->entry, 1, false, err, sizeof(err));
	if (r) {
		job_refuse(j, r, err);
		return;
	}
	job_queue(api, j);
}

static void do_create_entries(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__CreateEntriesRequest *req = (const void *)msg;
	struct admin_api *api = arg;
	struct admin_job *j = job_new(api, call, run_create_batch);
	char err[320];
	int r;

	if (!j)
		return;
	r = job_take_entries(j, req->entries, req->n_entries, true, err, sizeof(err));
	if (r) {
		job_refuse(j, r, err);
		return;
	}
	job_queue(api, j);
}

static void do_get_entry(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__GetEntryRequest *req = (const void *)msg;
	struct admin_api *api = arg;
	struct admin_job *j = job_new(api, call, run_get);

	if (!j)
		return;
	if (copy_str(req->id, &j->id)) {
		job_refuse(j, -ENOMEM, "out of memory");
		return;
	}
	job_queue(api, j);
}

static void do_update_entry(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__UpdateEntryRequest *req = (const void *)msg;
	Attestd__Admin__V1__Entry empty = ATTESTD__ADMIN__V1__ENTRY__INIT, *empty_p = &empty;
	struct admin_api *api = arg;
	struct admin_job *j = job_new(api, call, run_update);
	char err[320];
	int r;

	if (!j)
		return;
	if (copy_str(req->id, &j->id)) {
		job_refuse(j, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < req->n_mask; i++) {
		const char *name = req->mask[i] ? req->mask[i] : "";
		size_t k;

		for (k = 0; k < ARRAY_SIZE(mask_fields); k++)
			if (strcmp(name, mask_fields[k].name) == 0)
				break;
		if (k == ARRAY_SIZE(mask_fields)) {
			snprintf(err, sizeof(err), "mask: no field '%.64s' to update", name);
			job_refuse(j, -EINVAL, err);
			return;
		}
		j->mask |= mask_fields[k].bit;
	}
	if (!j->mask)
		j->mask = F_ALL;
	j->revision = req->revision;
	/* Only the masked fields are read: an absent message is an empty one. */
	r = job_take_entries(j, req->entry ? &req->entry : &empty_p, 1, false, err, sizeof(err));
	if (r) {
		job_refuse(j, r, err);
		return;
	}
	job_queue(api, j);
}

static void do_delete_entry(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__DeleteEntryRequest *req = (const void *)msg;
	struct admin_api *api = arg;
	struct admin_job *j = job_new(api, call, run_delete);

	if (!j)
		return;
	if (copy_str(req->id, &j->id)) {
		job_refuse(j, -ENOMEM, "out of memory");
		return;
	}
	job_queue(api, j);
}

static void do_list_entries(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__ListEntriesRequest *req = (const void *)msg;
	struct admin_api *api = arg;
	struct admin_job *j = job_new(api, call, run_list);
	char err[320];
	int r;

	if (!j)
		return;
	r = strs_copy("selectors", req->selectors, req->n_selectors, &j->selectors,
		      &j->nselectors, err, sizeof(err));
	if (!r)
		r = copy_str(req->spiffe_id, &j->spiffe_id);
	if (r) {
		job_refuse(j, r, r == -ENOMEM ? "out of memory" : err);
		return;
	}
	if (j->nselectors > 1)
		qsort(j->selectors, j->nselectors, sizeof(*j->selectors), cmp_strp);
	job_queue(api, j);
}

/* ---- operations: health, explain, watch (docs/operations-metrics.md) ---- */

static void do_health(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	Attestd__Admin__V1__HealthResponse resp = ATTESTD__ADMIN__V1__HEALTH_RESPONSE__INIT;
	Attestd__Admin__V1__HealthCheck checks[HEALTH_MAX_CHECKS], *ptrs[HEALTH_MAX_CHECKS];
	struct admin_api *api = arg;
	struct health_report hr;

	if (!api->deps.health) {
		rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "health checks are not running");
		return;
	}
	health_get(api->deps.health, &hr);
	for (size_t i = 0; i < hr.n; i++) {
		attestd__admin__v1__health_check__init(&checks[i]);
		checks[i].name = hr.checks[i].name;
		checks[i].ok = hr.checks[i].ok;
		checks[i].detail = hr.checks[i].detail;
		ptrs[i] = &checks[i];
	}
	resp.live = hr.live;
	resp.ready = hr.ready;
	resp.reason = hr.reason;
	resp.n_checks = hr.n;
	resp.checks = ptrs;
	resp.age_ms = hr.age_ms;
	rpc_call_reply(call, &resp.base);
}

/* The process's same-kind selectors shown for one missing selector, at most. */
#define EXPLAIN_MAX_HAVE 8

/* Every entry sharing a selector with pi, from the store's selector index. */
static int explain_candidates(struct admin_api *api, const struct proc_info *pi,
			      struct entry ***ret, size_t *ret_n)
{
	struct entry **all = NULL;
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < pi->nselectors && !r; i++) {
		struct store_filter f = {.selector = pi->selectors[i]};
		struct entry **v = NULL, **grown;
		size_t k = 0;

		r = store_entry_list(registry_store(api->deps.registry), &f, &v, &k);
		if (r)
			break;
		if (!k) {
			free(v);
			continue;
		}
		grown = realloc(all, (n + k) * sizeof(*all));
		if (!grown) {
			entries_free(v, k);
			r = -ENOMEM;
			break;
		}
		all = grown;
		memcpy(all + n, v, k * sizeof(*v));
		n += k;
		free(v);
	}
	if (r) {
		entries_free(all, n);
		return r;
	}
	*ret = all;
	*ret_n = n;
	return 0;
}

static void run_explain(struct admin_api *api, struct admin_job *j)
{
	Attestd__Admin__V1__ExplainResponse resp = ATTESTD__ADMIN__V1__EXPLAIN_RESPONSE__INIT;
	Attestd__Admin__V1__ProcessInfo pinfo;
	Attestd__Admin__V1__NearMiss *nm = NULL, **nmp = NULL;
	Attestd__Admin__V1__Entry *em = NULL;
	Attestd__Admin__V1__MissingSelector *ms = NULL, **msp = NULL;
	const char **have = NULL;
	struct explain_item *items = NULL;
	struct entry **all = NULL;
	size_t nitems = 0, ncand = 0, nall = 0, total = 0, mi = 0;
	struct proc_info *pi = NULL;
	int r;

	r = proctable_get(api->deps.pt, (uint32_t)j->pid, 0, &pi);
	if (r == -ENOENT) {
		rpc_call_finish(j->call, GRPC_STATUS_NOT_FOUND, "pid %d is not tracked", j->pid);
		return;
	}
	if (r) {
		rpc_call_finish(j->call, GRPC_STATUS_INTERNAL, "process table lookup failed: %s",
				strerror(-r));
		return;
	}
	r = explain_candidates(api, pi, &all, &nall);
	if (r) {
		finish_err(j->call, r, "explain", "");
		goto out;
	}
	r = explain_rank((const char *const *)pi->selectors, pi->nselectors, all, nall, j->limit,
			 &items, &nitems, &ncand);
	free(all); /* its entries are the ranking's now */
	if (r) {
		rpc_call_finish(j->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nitems; i++)
		total += items[i].nmissing;
	nm = calloc(nitems ? nitems : 1, sizeof(*nm));
	nmp = calloc(nitems ? nitems : 1, sizeof(*nmp));
	em = calloc(nitems ? nitems : 1, sizeof(*em));
	ms = calloc(total ? total : 1, sizeof(*ms));
	msp = calloc(total ? total : 1, sizeof(*msp));
	have = calloc((total ? total : 1) * EXPLAIN_MAX_HAVE, sizeof(*have));
	if (!nm || !nmp || !em || !ms || !msp || !have) {
		rpc_call_finish(j->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nitems; i++) {
		attestd__admin__v1__near_miss__init(&nm[i]);
		admin_entry_to_pb(items[i].entry, &em[i]);
		nm[i].entry = &em[i];
		nm[i].applies_here = registry_applies(api->deps.registry, items[i].entry);
		nm[i].missing = &msp[mi];
		nm[i].n_missing = items[i].nmissing;
		for (size_t k = 0; k < items[i].nmissing; k++, mi++) {
			const char **h = &have[mi * EXPLAIN_MAX_HAVE];

			attestd__admin__v1__missing_selector__init(&ms[mi]);
			ms[mi].selector = (char *)items[i].missing[k];
			ms[mi].n_process_has =
			    explain_same_kind((const char *const *)pi->selectors, pi->nselectors,
					      items[i].missing[k], h, EXPLAIN_MAX_HAVE);
			ms[mi].process_has = (char **)h;
			msp[mi] = &ms[mi];
		}
		nmp[i] = &nm[i];
	}
	process_info_fill(&pinfo, pi);
	resp.process = &pinfo;
	resp.n_entries = nitems;
	resp.entries = nmp;
	resp.candidates = (uint32_t)ncand;
	rpc_call_reply(j->call, &resp.base);
out:
	free(have);
	free(msp);
	free(ms);
	free(em);
	free(nmp);
	free(nm);
	explain_items_free(items, nitems);
	proc_info_free(pi);
}

static void do_explain(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__ExplainRequest *req = (const void *)msg;
	struct admin_api *api = arg;
	struct admin_job *j;

	if (req->pid <= 0) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "pid %d is not a pid", req->pid);
		return;
	}
	j = job_new(api, call, run_explain);
	if (!j)
		return;
	j->pid = req->pid;
	j->limit = !req->limit			    ? EXPLAIN_DEFAULT_LIMIT
		   : req->limit > EXPLAIN_MAX_LIMIT ? EXPLAIN_MAX_LIMIT
						    : req->limit;
	job_queue(api, j);
}

/*
 * A Watch stream: telemetry calls watch_send for every identity event, on
 * whatever thread reports it; the cancel callback unsubscribes (after which
 * no watch_send runs) before the call is finished and this freed.
 */
struct watch_sub {
	pthread_mutex_t lock; /* call */
	struct rpc_call *call;
	int id;
};

static void watch_send(void *arg, const struct identity_event *ev)
{
	static const Attestd__Admin__V1__IdentityEvent__Kind kinds[] = {
	    [IDENTITY_RELEASED] = ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__RELEASED,
	    [IDENTITY_REVOKED] = ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__REVOKED,
	    [IDENTITY_REFUSED] = ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__REFUSED,
	};
	Attestd__Admin__V1__IdentityEvent m = ATTESTD__ADMIN__V1__IDENTITY_EVENT__INIT;
	struct watch_sub *w = arg;

	m.kind = kinds[ev->kind];
	m.time_ms = ev->time_ms;
	m.pid = (int32_t)ev->pid;
	m.uid = (uint32_t)ev->uid;
	/* protobuf-c takes char *; it only reads them when packing, here. */
	m.exe = (char *)(ev->exe ? ev->exe : "");
	m.spiffe_id = (char *)(ev->spiffe_id ? ev->spiffe_id : "");
	m.entry_id = (char *)(ev->entry_id ? ev->entry_id : "");
	m.svid_type = (char *)(ev->svid_type ? ev->svid_type : "");
	m.rpc = (char *)(ev->rpc ? telemetry_rpc_name(ev->rpc) : "");
	m.reason = (char *)(ev->reason ? ev->reason : "");
	m.code = (char *)(ev->kind == IDENTITY_REFUSED ? telemetry_code_name(ev->code) : "");
	pthread_mutex_lock(&w->lock);
	if (w->call)
		(void)rpc_call_send(w->call, &m.base); /* -ECANCELED: the cancel callback ends it */
	pthread_mutex_unlock(&w->lock);
}

static void watch_cancelled(struct rpc_call *call, void *arg)
{
	struct watch_sub *w = arg;

	telemetry_unwatch(w->id);
	pthread_mutex_lock(&w->lock);
	w->call = NULL;
	pthread_mutex_unlock(&w->lock);
	rpc_call_finish(call, GRPC_STATUS_CANCELLED, "watch ended");
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static void do_watch(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	Attestd__Admin__V1__IdentityEvent hello = ATTESTD__ADMIN__V1__IDENTITY_EVENT__INIT;
	struct watch_sub *w = calloc(1, sizeof(*w));
	struct timespec now;

	if (!w) {
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->call = call;
	/* Held until WATCHING is queued, so no event can go out before it. */
	pthread_mutex_lock(&w->lock);
	w->id = telemetry_watch(watch_send, w);
	if (w->id < 0) {
		pthread_mutex_unlock(&w->lock);
		pthread_mutex_destroy(&w->lock);
		free(w);
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	hello.kind = ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__WATCHING;
	hello.time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	(void)rpc_call_send(call, &hello.base);
	pthread_mutex_unlock(&w->lock);
	/* May run watch_cancelled at once, if the call has ended already. */
	rpc_call_on_cancel(call, watch_cancelled, w);
}

/* ---- federation: foreign trust domains' bundles (federation.h) ---- */

static void bundle_info_fill(Attestd__Admin__V1__BundleInfo *m, const struct federation_info *fi)
{
	attestd__admin__v1__bundle_info__init(m);
	m->trust_domain = (char *)fi->trust_domain;
	m->x509_authorities = (uint32_t)fi->x509_authorities;
	m->jwt_authorities = (uint32_t)fi->jwt_authorities;
	m->sequence = fi->sequence;
}

static void finish_bundle_error(struct rpc_call *call, int r, const char *td, const char *err)
{
	if (r == -EINVAL)
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
	else if (r == -EPERM)
		rpc_call_finish(call, GRPC_STATUS_FAILED_PRECONDITION,
				"%s is attestd's own trust domain", td);
	else if (r == -ENOENT)
		rpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "no bundle for trust domain %s", td);
	else if (r == -ENOMEM)
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	else
		rpc_call_finish(call, GRPC_STATUS_INTERNAL, "%s", *err ? err : strerror(-r));
}

static void do_set_bundle(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__SetBundleRequest *req = (const void *)msg;
	Attestd__Admin__V1__BundleInfo resp;
	struct admin_api *api = arg;
	struct federation_info fi;
	char err[256] = "";
	int r;

	if (!api->deps.federation) {
		rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "federation is not running");
		return;
	}
	r = federation_set(api->deps.federation, req->trust_domain,
			   (const char *)req->bundle.data, req->bundle.len, &fi, err, sizeof(err));
	if (r < 0) {
		finish_bundle_error(call, r, req->trust_domain, err);
		return;
	}
	bundle_info_fill(&resp, &fi);
	rpc_call_reply(call, &resp.base);
}

static void do_list_bundles(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	Attestd__Admin__V1__ListBundlesResponse resp = ATTESTD__ADMIN__V1__LIST_BUNDLES_RESPONSE__INIT;
	struct admin_api *api = arg;
	_cleanup_free_ struct federation_info *v = NULL;
	_cleanup_free_ Attestd__Admin__V1__BundleInfo *ms = NULL;
	_cleanup_free_ Attestd__Admin__V1__BundleInfo **ptrs = NULL;
	size_t n = 0;
	int r;

	(void)msg;
	if (!api->deps.federation) {
		rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "federation is not running");
		return;
	}
	r = federation_list(api->deps.federation, &v, &n);
	if (r == 0) {
		ms = calloc(n ? n : 1, sizeof(*ms));
		ptrs = calloc(n ? n : 1, sizeof(*ptrs));
		if (!ms || !ptrs)
			r = -ENOMEM;
	}
	if (r < 0) {
		finish_bundle_error(call, r, "", "");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bundle_info_fill(&ms[i], &v[i]);
		ptrs[i] = &ms[i];
	}
	resp.n_bundles = n;
	resp.bundles = ptrs;
	rpc_call_reply(call, &resp.base);
}

static void do_delete_bundle(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__DeleteBundleRequest *req = (const void *)msg;
	Attestd__Admin__V1__DeleteBundleResponse resp =
	    ATTESTD__ADMIN__V1__DELETE_BUNDLE_RESPONSE__INIT;
	struct admin_api *api = arg;
	char err[256];
	int r;

	if (!api->deps.federation) {
		rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "federation is not running");
		return;
	}
	r = federation_delete(api->deps.federation, req->trust_domain);
	if (r == -EINVAL) {
		char why[200];

		trust_domain_validate(req->trust_domain, why, sizeof(why));
		snprintf(err, sizeof(err), "invalid trust domain '%s': %s", req->trust_domain, why);
	} else {
		snprintf(err, sizeof(err), "%s", strerror(-r));
	}
	if (r < 0) {
		finish_bundle_error(call, r, req->trust_domain, err);
		return;
	}
	rpc_call_reply(call, &resp.base);
}

/* Adding an RPC: a handler above and a row here. */
static const struct rpc_method admin_methods[] = {
    {ADMIN_METHOD_ATTEST, &attestd__admin__v1__attest_request__descriptor, RPC_UNARY, do_attest},
    {ADMIN_METHOD_LIST_PROCESSES, &attestd__admin__v1__list_processes_request__descriptor,
     RPC_UNARY, do_list_processes},
    {ADMIN_METHOD_CREATE_ENTRY, &attestd__admin__v1__create_entry_request__descriptor, RPC_UNARY,
     do_create_entry},
    {ADMIN_METHOD_CREATE_ENTRIES, &attestd__admin__v1__create_entries_request__descriptor,
     RPC_UNARY, do_create_entries},
    {ADMIN_METHOD_GET_ENTRY, &attestd__admin__v1__get_entry_request__descriptor, RPC_UNARY,
     do_get_entry},
    {ADMIN_METHOD_UPDATE_ENTRY, &attestd__admin__v1__update_entry_request__descriptor, RPC_UNARY,
     do_update_entry},
    {ADMIN_METHOD_DELETE_ENTRY, &attestd__admin__v1__delete_entry_request__descriptor, RPC_UNARY,
     do_delete_entry},
    {ADMIN_METHOD_LIST_ENTRIES, &attestd__admin__v1__list_entries_request__descriptor, RPC_UNARY,
     do_list_entries},
    {ADMIN_METHOD_HEALTH, &attestd__admin__v1__health_request__descriptor, RPC_UNARY, do_health},
    {ADMIN_METHOD_EXPLAIN, &attestd__admin__v1__explain_request__descriptor, RPC_UNARY,
     do_explain},
    {ADMIN_METHOD_WATCH, &attestd__admin__v1__watch_request__descriptor, RPC_SERVER_STREAM,
     do_watch},
    {ADMIN_METHOD_SET_BUNDLE, &attestd__admin__v1__set_bundle_request__descriptor, RPC_UNARY,
     do_set_bundle},
    {ADMIN_METHOD_LIST_BUNDLES, &attestd__admin__v1__list_bundles_request__descriptor, RPC_UNARY,
     do_list_bundles},
    {ADMIN_METHOD_DELETE_BUNDLE, &attestd__admin__v1__delete_bundle_request__descriptor,
     RPC_UNARY, do_delete_bundle},
};

int admin_api_start(const char *socket_path, const struct admin_deps *deps, struct admin_api **ret)
{
	struct rpc_server_opts opts = {
	    .socket_path = socket_path,
	    .mode = 0600,
	    .max_request_bytes = ADMIN_MAX_REQUEST_BYTES,
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
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->cond, NULL);
	api->tail = &api->head;
	if (api->deps.registry) {
		r = -pthread_create(&api->worker, NULL, worker_main, api);
		if (r)
			goto fail;
		api->worker_started = true;
	}
	opts.arg = api;
	r = rpc_server_start(&opts, admin_methods, ARRAY_SIZE(admin_methods), &api->srv);
	if (r)
		goto fail;
	*ret = api;
	return 0;
fail:
	worker_stop(api);
	pthread_cond_destroy(&api->cond);
	pthread_mutex_destroy(&api->lock);
	free(api);
	return r;
}

void admin_api_stop(struct admin_api *api)
{
	if (!api)
		return;
	/* Cancels every call and waits until each is finished: the worker finishes queued ones. */
	rpc_server_stop(api->srv);
	worker_stop(api);
	pthread_cond_destroy(&api->cond);
	pthread_mutex_destroy(&api->lock);
	free(api);
}
