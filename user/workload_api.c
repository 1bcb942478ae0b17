// SPDX-License-Identifier: Apache-2.0
/*
 * The SPIFFE Workload API: a method table for rpc_server, a worker pool
 * with a fair queue, and the open streams (what and why in workload_api.h).
 *
 * Locks, in the order they may be taken: stream->lock, then api->lock,
 * then api->qlock.  The process table's changed hook arrives holding the
 * table's write lock and takes api->lock (then qlock), so nothing here
 * calls into the table while holding api->lock or qlock; evaluations read
 * the table holding only their stream's lock.
 *
 * Streams are found by id (pid in the low 32 bits), never by pointer,
 * from rpc_server's cancel callback: a stream that ended is simply not
 * found, so no callback can reach freed memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "bundle.h"
#include "cleanup.h"
#include "entry.h"
#include "jwtsvid.h"
#include "log.h"
#include "matcher.h"
#include "procfs.h"
#include "proctable.h"
#include "rpc_server.h"
#include "selectors.h"
#include "spiffeid.h"
#include "svid_cache.h"
#include "telemetry.h"
#include "tracker_user.h"
#include "workload.pb-c.h"
#include "workload_api.h"

/*
 * Every call's end is counted by method and status (telemetry.h): these
 * wrap rpc_server's two ways of ending a call for the rest of this file.
 */
static void count_end(struct rpc_call *call, grpc_status_code code)
{
	telemetry_workload_call(rpc_call_method(call)->path, code);
}
#define rpc_call_finish(call, code, ...)                                                           \
	(count_end(call, code), rpc_call_finish(call, code, __VA_ARGS__))
#define rpc_call_reply(call, msg) (count_end(call, GRPC_STATUS_OK), rpc_call_reply(call, msg))

#define STREAM_BUCKETS 1024
#define UID_BUCKETS 256
/* Seconds between two log lines of one limit; the ones in between are counted. */
#define LIMIT_LOG_EVERY 5

enum stream_kind { SK_X509_SVID, SK_X509_BUNDLES, SK_JWT_BUNDLES };
static const char *const stream_kind_name[] = {"FetchX509SVID", "FetchX509Bundles",
					       "FetchJWTBundles"};

struct stream {
	uint64_t id; /* serial << 32 | pid */
	int refs;    /* atomic: the index's, each queued job's, a canceller's */
	enum stream_kind kind;
	pid_t pid;
	uid_t uid;

	pthread_mutex_t lock;  /* the fields below, up to api->lock's */
	struct rpc_call *call; /* NULL once finished */
	int pidfd;	       /* the connection's; valid while call is not NULL */
	bool pidfd_at_accept;  /* the connection's rpc_peer fields */
	uint64_t accept_ns;
	bool resolved;
	uint64_t ticks;
	uint64_t hash; /* of the last message sent */
	bool sent;
	struct timespec started;    /* for the latency of the first message */
	struct identity_held *held; /* the identities released on it, for the log */

	/* under api->lock */
	bool linked;
	bool eval_queued;
	char **eids; /* entry ids of the last evaluation, sorted */
	size_t neids;
	struct stream *hnext;
	struct stream *next, *prev;
};

struct job;
typedef void (*job_fn)(struct workload_api *api, struct job *j);

struct job {
	struct job *next;
	job_fn fn;
	uid_t uid;
	bool unary;
	struct timespec queued;
	struct rpc_call *call;
	struct stream *s;
	/* copies of the request */
	char **aud;
	size_t naud;
	char *spiffe_id;
	char *audience;
	char *token;
};

/* One uid's waiting jobs; exists while it has some. */
struct lane {
	uid_t uid;
	struct job *head, **tail;
	unsigned nunary;
	struct lane *hnext;
	struct lane *next; /* in the round-robin FIFO */
};

struct uidcount {
	uid_t uid;
	unsigned n;
	struct uidcount *next;
};

struct limit_log {
	time_t at;
	unsigned suppressed;
};

struct workload_api {
	struct workload_opts opts;
	struct workload_deps deps;
	char proc_root[256];
	struct rpc_server *srv;

	pthread_mutex_t lock; /* streams, stream counts, stats */
	struct stream *buckets[STREAM_BUCKETS];
	struct stream *all;
	struct uidcount *streams_of[UID_BUCKETS];
	struct workload_api *next_api; /* in apis, under apis_lock */
	bool stopping;
	struct workload_stats stats;
	struct limit_log logs[3];

	pthread_mutex_t qlock; /* the queue */
	pthread_cond_t qcond;
	struct lane *lanes[UID_BUCKETS];
	struct lane *rr_head, **rr_tail;
	bool qstop;
	pthread_t *workers;
	unsigned nworkers;
};

/* ---- small helpers ---- */

static uint64_t fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * The caller's executable as /proc shows it, for a log line only (never a
 * decision); NULL unless the pidfd says pid was the caller throughout.
 */
static const char *peer_exe(struct workload_api *api, pid_t pid, int pidfd, char *buf, size_t len)
{
	char path[320];
	ssize_t n;

	if (pid <= 0 || !workload_pidfd_alive(pidfd))
		return NULL;
	snprintf(path, sizeof(path), "%s/%d/exe", api->proc_root, (int)pid);
	n = readlink(path, buf, len - 1);
	if (n < 0 || !workload_pidfd_alive(pidfd))
		return NULL;
	buf[n] = '\0';
	return buf;
}

static void strv_free_n(char **v, size_t n)
{
	strv_free_array(v, n);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sorted_has(char **v, size_t n, const char *s)
{
	return n && bsearch(&s, v, n, sizeof(*v), cmp_str);
}

static char *td_key(const char *td)
{
	char *k;

	return asprintf(&k, "spiffe://%s", td) < 0 ? NULL : k;
}

/* Limits of our own (connections and request size are rpc_server's, which logs them). */
enum { LIM_STREAMS, LIM_PENDING, LIM_TIMEOUT };
static const char *const limit_name[] = {"max_streams_per_uid", "max_pending_per_uid",
					 "call_timeout"};

/* Logs that a limit was hit, at most once per LIMIT_LOG_EVERY seconds per limit. */
static void limit_hit(struct workload_api *api, int which, uid_t uid, pid_t pid, const char *method)
{
	time_t now = time(NULL);
	struct limit_log *l = &api->logs[which];
	unsigned suppressed = 0;
	bool log;

	pthread_mutex_lock(&api->lock);
	api->stats.limited++;
	log = now >= l->at + LIMIT_LOG_EVERY;
	if (log) {
		suppressed = l->suppressed;
		l->at = now;
		l->suppressed = 0;
	} else {
		l->suppressed++;
	}
	pthread_mutex_unlock(&api->lock);
	if (log)
		log_warn("\"workload api: limit reached; answered RESOURCE_EXHAUSTED\" limit=%s "
			 "uid=%u pid=%d method=%s suppressed=%u",
			 limit_name[which], (unsigned)uid, (int)pid, method, suppressed);
}

static void count_refusal(struct workload_api *api, grpc_status_code code)
{
	pthread_mutex_lock(&api->lock);
	if (code == GRPC_STATUS_UNAVAILABLE)
		api->stats.refused_unavailable++;
	else if (code == GRPC_STATUS_PERMISSION_DENIED)
		api->stats.refused_permission++;
	pthread_mutex_unlock(&api->lock);
}

/* ---- caller resolution ---- */

bool workload_pidfd_alive(int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int r;

	if (pidfd < 0)
		return false;
	do
		r = poll(&p, 1, 0);
	while (r < 0 && errno == EINTR);
	/* Readable: the process has exited (a zombie counts). */
	return r == 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* "Name:\tA\tB..." of /proc/PID/status: up to max numbers after the name, how many in *n. */
static bool status_ids(const char *text, const char *name, uint32_t *v, size_t max, size_t *n)
{
	size_t len = strlen(name);
	const char *p = text;

	for (; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		char *end;

		if (strncmp(p, name, len) != 0)
			continue;
		p += len;
		*n = 0;
		for (;;) {
			unsigned long x;

			while (*p == ' ' || *p == '\t')
				p++;
			if (*p < '0' || *p > '9')
				return true;
			errno = 0;
			x = strtoul(p, &end, 10);
			if (errno || x > UINT32_MAX)
				return false;
			if (*n < max)
				v[*n] = (uint32_t)x;
			(*n)++;
			p = end;
		}
	}
	return false;
}

int workload_caller_current(const char *proc_root, pid_t pid, const struct proc_info *pi,
			    const struct proc_state *kernel)
{
	char path[320], buf[4096];
	uint32_t uid[4], gid[4], groups[MAX_GROUPS];
	size_t nu = 0, ng = 0, ngr = 0;
	int r;

	/*
	 * The kernel map is written by the exec, fork and cgroup hooks in the
	 * same moment as the change; the table follows through the ring
	 * buffer, which can lag or lose events.  Any difference that shapes
	 * selectors: the table has not caught up, ask again later.
	 */
	if (kernel &&
	    (proc_ns_to_ticks(kernel->start_ns) != pi->start_time ||
	     kernel->exe_dev != pi->st.exe_dev || kernel->exe_ino != pi->st.exe_ino ||
	     kernel->exe_ctime_ns != pi->st.exe_ctime_ns || kernel->uid != pi->st.uid ||
	     kernel->euid != pi->st.euid || kernel->gid != pi->st.gid ||
	     kernel->egid != pi->st.egid || kernel->cgroup_id != pi->st.cgroup_id ||
	     kernel->cgroup_v1_id != pi->st.cgroup_v1_id ||
	     strncmp(kernel->exe, pi->st.exe, sizeof(kernel->exe)) != 0))
		return -EAGAIN;
	/*
	 * setuid(), setgid(), setgroups() without an exec fire no hook: the
	 * kernel map and the table keep the credentials of the last exec.
	 * /proc/PID/status has the ones in force now.
	 */
	snprintf(path, sizeof(path), "%s/%d/status", proc_root, (int)pid);
	r = read_small(path, buf, sizeof(buf));
	if (r)
		return r == -ENOENT ? -ESRCH : r;
	if (!status_ids(buf, "Uid:", uid, 4, &nu) || nu < 2 ||
	    !status_ids(buf, "Gid:", gid, 4, &ng) || ng < 2 ||
	    !status_ids(buf, "Groups:", groups, MAX_GROUPS, &ngr))
		return -EAGAIN;
	if (uid[0] != pi->st.uid || uid[1] != pi->st.euid || gid[0] != pi->st.gid ||
	    gid[1] != pi->st.egid)
		return -EKEYREVOKED;
	if (!(pi->st.flags & PROC_F_GROUPS_TRUNCATED)) {
		if (ngr != pi->st.ngroups)
			return -EKEYREVOKED;
		for (size_t i = 0; i < ngr && i < MAX_GROUPS; i++)
			if (groups[i] != pi->st.groups[i])
				return -EKEYREVOKED;
	}
	return 0;
}

int workload_caller_resolve(struct proctable *pt, const char *proc_root, pid_t pid, int pidfd,
			    struct proc_info **ret)
{
	struct rpc_peer peer = {.pid = pid, .pidfd = pidfd};

	return workload_caller_resolve_peer(pt, NULL, proc_root, &peer, ret);
}

int workload_caller_resolve_peer(struct proctable *pt, struct tracker *tracker,
				 const char *proc_root, const struct rpc_peer *peer,
				 struct proc_info **ret)
{
	char path[320], buf[1024];
	struct proc_info *pi = NULL;
	struct proc_state kst;
	bool have_kst = false;
	pid_t pid = peer->pid;
	uint64_t ticks = 0, start_ns;
	uint32_t ppid;
	struct stat sb;
	int r;

	if (peer->pidfd < 0)
		return peer->pidfd_at_accept ? -ESRCH : -ENOTSUP;
	if (pid <= 0)
		return -ESRCH; /* not in our PID namespace: nothing to look up */
	snprintf(path, sizeof(path), "%s/%d/stat", proc_root, (int)pid);
	r = read_small(path, buf, sizeof(buf));
	if (r)
		return r == -ENOENT ? -ESRCH : r;
	if (procfs_parse_stat(buf, &ppid, &ticks) < 0)
		return -EAGAIN;
	/*
	 * The pidfd holds the caller's struct pid: while it has a task, the
	 * number is not free for reuse, so the stat just read was the caller's.
	 */
	if (!workload_pidfd_alive(peer->pidfd))
		return -ESRCH;
	if (tracker && tracker_lookup(tracker, (uint32_t)pid, &kst) == 0 &&
	    proc_ns_to_ticks(kst.start_ns) == ticks)
		have_kst = true;
	/*
	 * Without SO_PEERPIDFD the pidfd was opened at accept, and pid may have
	 * been reused between connect() and then: a process that started after
	 * the accept cannot be the one that connected.  The kernel's start time
	 * is exact (ns); /proc's is in ticks, so without the map the test is to
	 * the tick (docs/security.md).
	 */
	if (peer->pidfd_at_accept) {
		long hz = sysconf(_SC_CLK_TCK);

		start_ns = have_kst ? kst.start_ns
				    : ticks * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
		if (start_ns > peer->accept_ns)
			return -ESRCH;
	}
	r = proctable_get(pt, (uint32_t)pid, ticks, &pi);
	if (r == -ENOENT || r == -ESRCH)
		return -EAGAIN;
	if (r)
		return r;
	/* The state now, not the state the table last heard of. */
	if (tracker) {
		r = workload_caller_current(proc_root, pid, pi, have_kst ? &kst : NULL);
		if (r) {
			proc_info_free(pi);
			return r;
		}
	}
	/* A fresh exec the table has not seen yet would keep the old identity. */
	if (!(pi->st.flags & PROC_F_NO_EXE) && pi->st.exe_ino) {
		snprintf(path, sizeof(path), "%s/%d/exe", proc_root, (int)pid);
		if (stat(path, &sb) < 0) {
			r = errno == ENOENT ? -ESRCH : -EAGAIN;
			proc_info_free(pi);
			return r;
		}
		if ((uint64_t)sb.st_ino != pi->st.exe_ino ||
		    (((uint64_t)major(sb.st_dev) << 20) | minor(sb.st_dev)) != pi->st.exe_dev) {
			proc_info_free(pi);
			return -EAGAIN;
		}
	}
	*ret = pi;
	return 0;
}

/* The digest behind unix:sha256 is computed off the request path: it may not be there yet. */
static bool digest_pending(const struct proc_info *pi)
{
	if (pi->st.flags & (PROC_F_NO_EXE | PROC_F_EXE_DELETED | PROC_F_EXE_TRUNCATED) ||
	    !pi->st.exe_ino)
		return false;
	for (size_t i = 0; i < pi->nselectors; i++)
		if (strncmp(pi->selectors[i], "unix:sha256:", 12) == 0)
			return false;
	return true;
}

/* A status for a failed resolution, with its message. */
static grpc_status_code resolve_status(int r, char *msg, size_t len)
{
	switch (r) {
	case -ENOTSUP:
		snprintf(msg, len, "cannot identify the caller: the kernel gives no SO_PEERPIDFD");
		return GRPC_STATUS_UNAVAILABLE;
	case -ESRCH:
		snprintf(msg, len, "the calling process has exited");
		return GRPC_STATUS_PERMISSION_DENIED;
	case -EKEYREVOKED:
		snprintf(msg, len, "the calling process changed its credentials since its exec "
				   "(setuid without exec): no identity until it execs");
		return GRPC_STATUS_PERMISSION_DENIED;
	case -EAGAIN:
		snprintf(msg, len, "the calling process is not attested yet; retry");
		return GRPC_STATUS_UNAVAILABLE;
	default:
		snprintf(msg, len, "cannot attest the calling process: %s", strerror(-r));
		return GRPC_STATUS_UNAVAILABLE;
	}
}

/*
 * The caller's process, attested, with at least one entry: 0, or a status
 * in *code and msg.
 */
static int caller_get(struct workload_api *api, const struct rpc_peer *peer, struct proc_info **ret,
		      grpc_status_code *code, char *msg, size_t len)
{
	struct proc_info *pi = NULL;
	int r;

	r = workload_caller_resolve_peer(api->deps.pt, api->deps.tracker, api->proc_root, peer, &pi);
	if (r) {
		*code = resolve_status(r, msg, len);
		if (r != -EAGAIN)
			log_debug(
			    "\"workload api: caller not resolved\" pid=%d uid=%u error=\"%s\"",
			    (int)peer->pid, (unsigned)peer->uid, strerror(-r));
		return r;
	}
	if (!pi->nentry_ids) {
		if (digest_pending(pi)) {
			*code = GRPC_STATUS_UNAVAILABLE;
			snprintf(msg, len, "the calling process is not attested yet; retry");
		} else {
			*code = GRPC_STATUS_PERMISSION_DENIED;
			snprintf(msg, len, "no registration entry matches the calling process");
		}
		proc_info_free(pi);
		return -EPERM;
	}
	*ret = pi;
	return 0;
}

/* The caller's entries that still exist, sorted by SPIFFE ID then id (matcher copies). */
static int caller_entries(struct workload_api *api, const struct proc_info *pi, struct entry ***ret,
			  size_t *ret_n)
{
	struct entry **v = calloc(pi->nentry_ids ? pi->nentry_ids : 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < pi->nentry_ids; i++)
		if (matcher_get(api->deps.matcher, pi->entry_ids[i], &v[n]) == 0)
			n++;
	*ret = v;
	*ret_n = n;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
	int c = strcmp(x->spiffe_id, y->spiffe_id);

	return c ? c : strcmp(x->id, y->id);
}

/* ---- bundles ---- */

/*
 * Our trust domain's bundle and those of the trust domains the entries
 * federate with (that we have), each once, ours first, the rest sorted.
 */
struct bundles {
	struct bundle **v;
	size_t n;
};

static void bundles_release(struct bundles *b)
{
	for (size_t i = 0; i < b->n; i++)
		bundle_unref(b->v[i]);
	free(b->v);
	b->v = NULL;
	b->n = 0;
}

static int bundles_collect(struct workload_api *api, struct entry *const *entries, size_t n,
			   struct bundles *ret)
{
	struct strv tds = {0};
	struct bundle *own;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	own = bundle_set_get(api->deps.bundles, api->deps.trust_domain);
	if (!own)
		return -EAGAIN;
	for (size_t i = 0; i < n && !r; i++)
		for (size_t j = 0; j < entries[i]->nfederates_with && !r; j++)
			if (strcmp(entries[i]->federates_with[j], api->deps.trust_domain))
				r = strv_push(&tds, entries[i]->federates_with[j]);
	if (!r) {
		strv_sort_unique(&tds);
		ret->v = calloc(tds.n + 1, sizeof(*ret->v));
		if (!ret->v)
			r = -ENOMEM;
	}
	if (r) {
		strv_free(&tds);
		bundle_unref(own);
		return r;
	}
	ret->v[ret->n++] = own;
	for (size_t i = 0; i < tds.n; i++) {
		struct bundle *b = bundle_set_get(api->deps.bundles, tds.v[i]);

		if (b)
			ret->v[ret->n++] = b;
	}
	strv_free(&tds);
	return 0;
}

/* ---- messages ---- */

/* An X509SVIDResponse and what it points into. */
struct x509_msg {
	X509SVIDResponse resp;
	X509SVID *svids, **svidp;
	struct identity_ref *refs; /* the entry of each SVID in resp, for the log */
	X509SVIDResponse__FederatedBundlesEntry *fed, **fedp;
	char **keys;
	size_t nkeys;
	struct svid_cached **held;
	size_t nheld;
	struct bundles b;
};

static void x509_msg_release(struct x509_msg *m)
{
	for (size_t i = 0; i < m->nheld; i++)
		svid_cached_unref(m->held[i]);
	free(m->held);
	strv_free_n(m->keys, m->nkeys);
	free(m->svids);
	free(m->svidp);
	free(m->refs);
	free(m->fed);
	free(m->fedp);
	bundles_release(&m->b);
	memset(m, 0, sizeof(*m));
}

static int cmp_cached(const void *a, const void *b)
{
	const struct svid_cached *x = *(struct svid_cached *const *)a;
	const struct svid_cached *y = *(struct svid_cached *const *)b;
	int c = strcmp(x->entry->spiffe_id, y->entry->spiffe_id);

	return c ? c : strcmp(x->entry_id, y->entry_id);
}

/*
 * Builds the X509SVIDResponse for the entry ids: the cached SVIDs (minted
 * now on a miss), sorted by SPIFFE ID, a hint given twice kept on the
 * first only, our bundle in each, the federated bundles of their entries.
 * -EPERM: none of the entries exists any more; -EAGAIN: no bundle yet or
 * no SVID could be had.
 */
static int x509_msg_build(struct workload_api *api, char **eids, size_t neids, struct x509_msg *m)
{
	const unsigned char *own_der;
	size_t own_len, n = 0, nfed = 0;
	struct entry **ents;
	struct strv hints = {0};
	bool failed = false;
	int r;

	memset(m, 0, sizeof(*m));
	x509_svidresponse__init(&m->resp);
	m->held = calloc(neids ? neids : 1, sizeof(*m->held));
	if (!m->held)
		return -ENOMEM;
	for (size_t i = 0; i < neids; i++) {
		r = svid_cache_get(api->deps.cache, eids[i], true, &m->held[m->nheld]);
		if (r == 0)
			m->nheld++;
		else if (r != -ENOENT)
			failed = true;
	}
	if (!m->nheld) {
		x509_msg_release(m);
		return failed ? -EAGAIN : -EPERM;
	}
	qsort(m->held, m->nheld, sizeof(*m->held), cmp_cached);
	ents = calloc(m->nheld, sizeof(*ents));
	if (!ents) {
		x509_msg_release(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->nheld; i++)
		ents[i] = m->held[i]->entry;
	r = bundles_collect(api, ents, m->nheld, &m->b);
	free(ents);
	if (r) {
		x509_msg_release(m);
		return r;
	}
	bundle_x509_der(m->b.v[0], &own_der, &own_len);
	m->svids = calloc(m->nheld, sizeof(*m->svids));
	m->svidp = calloc(m->nheld, sizeof(*m->svidp));
	m->refs = calloc(m->nheld, sizeof(*m->refs));
	m->fed = calloc(m->b.n, sizeof(*m->fed));
	m->fedp = calloc(m->b.n, sizeof(*m->fedp));
	m->keys = calloc(m->b.n, sizeof(*m->keys));
	if (!m->svids || !m->svidp || !m->refs || !m->fed || !m->fedp || !m->keys) {
		x509_msg_release(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->nheld; i++) {
		const struct svid_cached *s = m->held[i];
		X509SVID *x = &m->svids[n];
		const char *hint = s->entry->hint ? s->entry->hint : "";

		if (*hint) {
			bool dup = false;

			for (size_t j = 0; j < hints.n; j++)
				dup |= strcmp(hints.v[j], hint) == 0;
			if (dup) {
				log_debug("\"workload api: SVID left out, its hint is taken\" "
					  "entry=%s hint=\"%s\"",
					  s->entry_id, hint);
				continue;
			}
			if (strv_push(&hints, hint) < 0) {
				strv_free(&hints);
				x509_msg_release(m);
				return -ENOMEM;
			}
		}
		x509_svid__init(x);
		x->spiffe_id = s->entry->spiffe_id;
		x->x509_svid = (ProtobufCBinaryData){s->x509->chain_der_len, s->x509->chain_der};
		x->x509_svid_key = (ProtobufCBinaryData){s->x509->key_der_len, s->x509->key_der};
		x->bundle = (ProtobufCBinaryData){own_len, (uint8_t *)own_der};
		x->hint = (char *)hint;
		m->refs[n] = (struct identity_ref){s->entry_id, s->entry->spiffe_id};
		m->svidp[n++] = x;
	}
	strv_free(&hints);
	for (size_t i = 1; i < m->b.n; i++) {
		const unsigned char *der;
		size_t len;

		bundle_x509_der(m->b.v[i], &der, &len);
		if (!len)
			continue;
		m->keys[m->nkeys] = td_key(bundle_trust_domain(m->b.v[i]));
		if (!m->keys[m->nkeys]) {
			x509_msg_release(m);
			return -ENOMEM;
		}
		x509_svidresponse__federated_bundles_entry__init(&m->fed[nfed]);
		m->fed[nfed].key = m->keys[m->nkeys++];
		m->fed[nfed].value = (ProtobufCBinaryData){len, (uint8_t *)der};
		m->fedp[nfed] = &m->fed[nfed];
		nfed++;
	}
	m->resp.n_svids = n;
	m->resp.svids = m->svidp;
	m->resp.n_federated_bundles = nfed;
	m->resp.federated_bundles = m->fedp;
	return 0;
}

/* X509BundlesResponse or JWTBundlesResponse: the same map, DER or JWKS. */
struct bundles_msg {
	X509BundlesResponse x509;
	JWTBundlesResponse jwt;
	X509BundlesResponse__BundlesEntry *xe, **xep;
	JWTBundlesResponse__BundlesEntry *je, **jep;
	char **keys;
	size_t nkeys;
	struct bundles b;
};

static void bundles_msg_release(struct bundles_msg *m)
{
	free(m->xe);
	free(m->xep);
	free(m->je);
	free(m->jep);
	strv_free_n(m->keys, m->nkeys);
	bundles_release(&m->b);
	memset(m, 0, sizeof(*m));
}

static int bundles_msg_build(struct workload_api *api, char **eids, size_t neids, bool jwt,
			     struct bundles_msg *m)
{
	struct proc_info fake = {.entry_ids = eids, .nentry_ids = neids};
	struct entry **ents = NULL;
	size_t nents = 0, n = 0;
	int r;

	memset(m, 0, sizeof(*m));
	x509_bundles_response__init(&m->x509);
	jwtbundles_response__init(&m->jwt);
	r = caller_entries(api, &fake, &ents, &nents);
	if (r)
		return r;
	if (!nents) {
		free(ents);
		return -EPERM;
	}
	r = bundles_collect(api, ents, nents, &m->b);
	entries_free(ents, nents);
	if (r)
		return r;
	m->xe = calloc(m->b.n, sizeof(*m->xe));
	m->xep = calloc(m->b.n, sizeof(*m->xep));
	m->je = calloc(m->b.n, sizeof(*m->je));
	m->jep = calloc(m->b.n, sizeof(*m->jep));
	m->keys = calloc(m->b.n, sizeof(*m->keys));
	if (!m->xe || !m->xep || !m->je || !m->jep || !m->keys) {
		bundles_msg_release(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->b.n; i++) {
		const unsigned char *der;
		const char *jwks;
		size_t len;

		m->keys[m->nkeys] = td_key(bundle_trust_domain(m->b.v[i]));
		if (!m->keys[m->nkeys]) {
			bundles_msg_release(m);
			return -ENOMEM;
		}
		if (jwt) {
			bundle_jwks(m->b.v[i], &jwks, &len);
			jwtbundles_response__bundles_entry__init(&m->je[n]);
			m->je[n].key = m->keys[m->nkeys++];
			m->je[n].value = (ProtobufCBinaryData){len, (uint8_t *)jwks};
			m->jep[n] = &m->je[n];
		} else {
			bundle_x509_der(m->b.v[i], &der, &len);
			x509_bundles_response__bundles_entry__init(&m->xe[n]);
			m->xe[n].key = m->keys[m->nkeys++];
			m->xe[n].value = (ProtobufCBinaryData){len, (uint8_t *)der};
			m->xep[n] = &m->xe[n];
		}
		n++;
	}
	m->x509.n_bundles = jwt ? 0 : n;
	m->x509.bundles = m->xep;
	m->jwt.n_bundles = jwt ? n : 0;
	m->jwt.bundles = m->jep;
	return 0;
}

/* ---- the fair queue ---- */

static struct lane **lane_slot(struct workload_api *api, uid_t uid)
{
	struct lane **pp = &api->lanes[uid % UID_BUCKETS];

	while (*pp && (*pp)->uid != uid)
		pp = &(*pp)->hnext;
	return pp;
}

/* Queues j on its uid's lane; -EBUSY if that uid has too many unary calls waiting. */
static int enqueue(struct workload_api *api, struct job *j)
{
	struct lane **pp, *l;

	clock_gettime(CLOCK_MONOTONIC, &j->queued);
	j->next = NULL;
	pthread_mutex_lock(&api->qlock);
	pp = lane_slot(api, j->uid);
	l = *pp;
	if (l && j->unary && l->nunary >= WORKLOAD_MAX_PENDING_PER_UID) {
		pthread_mutex_unlock(&api->qlock);
		return -EBUSY;
	}
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l) {
			pthread_mutex_unlock(&api->qlock);
			return -ENOMEM;
		}
		l->uid = j->uid;
		l->tail = &l->head;
		*pp = l;
		*api->rr_tail = l;
		api->rr_tail = &l->next;
	}
	*l->tail = j;
	l->tail = &j->next;
	l->nunary += j->unary;
	pthread_cond_signal(&api->qcond);
	pthread_mutex_unlock(&api->qlock);
	return 0;
}

/* The next job, round-robin over uids; NULL when stopping with nothing left. */
static struct job *dequeue(struct workload_api *api)
{
	struct lane *l;
	struct job *j;

	pthread_mutex_lock(&api->qlock);
	while (!api->rr_head && !api->qstop)
		pthread_cond_wait(&api->qcond, &api->qlock);
	l = api->rr_head;
	if (!l) {
		pthread_mutex_unlock(&api->qlock);
		return NULL;
	}
	api->rr_head = l->next;
	if (!api->rr_head)
		api->rr_tail = &api->rr_head;
	l->next = NULL;
	j = l->head;
	l->head = j->next;
	if (!l->head)
		l->tail = &l->head;
	l->nunary -= j->unary;
	if (l->head) {
		*api->rr_tail = l;
		api->rr_tail = &l->next;
	} else {
		*lane_slot(api, l->uid) = l->hnext;
		free(l);
	}
	pthread_mutex_unlock(&api->qlock);
	return j;
}

static void job_free(struct job *j)
{
	strv_free_n(j->aud, j->naud);
	free(j->spiffe_id);
	free(j->audience);
	free(j->token);
	free(j);
}

static void stream_unref(struct stream *s);

static void *worker(void *arg)
{
	struct workload_api *api = arg;
	struct job *j;

	while ((j = dequeue(api))) {
		/* The method's path is static; the call is gone once the job finishes it. */
		const char *path = j->unary ? rpc_call_method(j->call)->path : NULL;

		j->fn(api, j);
		if (path)
			telemetry_workload_latency(path, seconds_since(&j->queued));
		if (j->s)
			stream_unref(j->s);
		job_free(j);
	}
	return NULL;
}

/* ---- streams ---- */

static void stream_unref(struct stream *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL))
		return;
	telemetry_stream_end(&s->held, &(struct identity_event){.pid = s->pid}, false);
	strv_free_n(s->eids, s->neids);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static struct uidcount **uidcount_slot(struct workload_api *api, uid_t uid)
{
	struct uidcount **pp = &api->streams_of[uid % UID_BUCKETS];

	while (*pp && (*pp)->uid != uid)
		pp = &(*pp)->next;
	return pp;
}

/* Takes s out of the index (once) and drops the index's ref. */
static void stream_unlink(struct workload_api *api, struct stream *s)
{
	struct stream **pp;
	struct uidcount **up, *u;
	bool was;

	pthread_mutex_lock(&api->lock);
	was = s->linked;
	if (was) {
		s->linked = false;
		for (pp = &api->buckets[s->pid % STREAM_BUCKETS]; *pp; pp = &(*pp)->hnext)
			if (*pp == s) {
				*pp = s->hnext;
				break;
			}
		if (s->prev)
			s->prev->next = s->next;
		else
			api->all = s->next;
		if (s->next)
			s->next->prev = s->prev;
		up = uidcount_slot(api, s->uid);
		u = *up;
		if (u && --u->n == 0) {
			*up = u->next;
			free(u);
		}
		api->stats.streams--;
	}
	pthread_mutex_unlock(&api->lock);
	if (was)
		stream_unref(s);
}

/* Ends the stream's call with a status; under s->lock.  Unlink after unlocking. */
static void stream_finish_locked(struct workload_api *api, struct stream *s, grpc_status_code code,
				 const char *msg)
{
	struct identity_event ev = {.kind = IDENTITY_REFUSED,
				    .pid = s->pid,
				    .uid = s->uid,
				    .rpc = stream_kind_name[s->kind],
				    .reason = msg,
				    .code = code};
	char exe[PATH_MAX];

	if (!s->call)
		return;
	if (!s->sent && code != GRPC_STATUS_CANCELLED)
		telemetry_workload_latency(stream_kind_name[s->kind], seconds_since(&s->started));
	/* Refused an identity: logged and counted once, while the pidfd is the connection's. */
	if (code == GRPC_STATUS_PERMISSION_DENIED && !s->held && !s->sent) {
		ev.exe = peer_exe(api, s->pid, s->pidfd, exe, sizeof(exe));
		telemetry_identity(&ev);
	}
	rpc_call_finish(s->call, code, "%s", msg);
	s->call = NULL;
	/* A process that lost its identities, or exited: what this stream gave it is revoked. */
	if (code == GRPC_STATUS_PERMISSION_DENIED)
		telemetry_stream_end(&s->held, &ev, true);
	count_refusal(api, code);
	log_debug("\"workload api: stream ended\" method=%s pid=%d uid=%u status=%d reason=\"%s\"",
		  stream_kind_name[s->kind], (int)s->pid, (unsigned)s->uid, (int)code, msg);
}

static void stream_eval_job(struct workload_api *api, struct job *j);

/* Queues an evaluation of s unless one is queued; under api->lock. */
static void stream_schedule_locked(struct workload_api *api, struct stream *s)
{
	struct job *j;

	if (!s->linked || s->eval_queued)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return; /* the next event tries again */
	j->fn = stream_eval_job;
	j->uid = s->uid;
	j->s = s;
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	s->eval_queued = true;
	if (enqueue(api, j) < 0) {
		s->eval_queued = false;
		__atomic_sub_fetch(&s->refs, 1, __ATOMIC_RELAXED); /* the index still holds one */
		free(j);
	}
}

static void stream_set_eids(struct workload_api *api, struct stream *s, char **eids, size_t n)
{
	char **copy = NULL;

	if (n) {
		copy = calloc(n, sizeof(*copy));
		for (size_t i = 0; copy && i < n; i++)
			if (!(copy[i] = strdup(eids[i]))) {
				strv_free_n(copy, i);
				copy = NULL;
			}
		if (copy)
			qsort(copy, n, sizeof(*copy), cmp_str);
	}
	pthread_mutex_lock(&api->lock);
	strv_free_n(s->eids, s->neids);
	s->eids = copy;
	s->neids = copy ? n : 0;
	pthread_mutex_unlock(&api->lock);
}

/*
 * Packs msg, and sends it unless it is what the stream got last.  Under
 * s->lock.  True if the client has msg now (sent, or sent before).
 */
static bool stream_send_locked(struct workload_api *api, struct stream *s,
			       const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	uint64_t h;
	int r;

	if (!buf)
		return false;
	protobuf_c_message_pack(msg, buf);
	h = fnv1a(buf, len);
	explicit_bzero(buf, len); /* it may hold private keys */
	if (s->sent && h == s->hash)
		return true;
	/* The last word on who is there, right before an identity leaves. */
	if (!workload_pidfd_alive(s->pidfd)) {
		stream_finish_locked(api, s, GRPC_STATUS_PERMISSION_DENIED,
				     "the calling process has exited");
		return false;
	}
	r = rpc_call_send(s->call, msg);
	if (r) /* -ECANCELED: the cancel callback ends it */
		return false;
	if (!s->sent)
		telemetry_workload_latency(stream_kind_name[s->kind], seconds_since(&s->started));
	s->hash = h;
	s->sent = true;
	pthread_mutex_lock(&api->lock);
	api->stats.stream_messages++;
	pthread_mutex_unlock(&api->lock);
	return true;
}

static void stream_eval(struct workload_api *api, struct stream *s)
{
	grpc_status_code code = GRPC_STATUS_OK;
	struct proc_info *pi = NULL;
	char msg[160] = "";
	int r;

	pthread_mutex_lock(&api->lock);
	s->eval_queued = false; /* events from now on queue another evaluation */
	pthread_mutex_unlock(&api->lock);

	pthread_mutex_lock(&s->lock);
	if (!s->call)
		goto out;
	if (!s->resolved) {
		struct rpc_peer peer = {.pid = s->pid,
					.uid = s->uid,
					.pidfd = s->pidfd,
					.pidfd_at_accept = s->pidfd_at_accept,
					.accept_ns = s->accept_ns};

		r = caller_get(api, &peer, &pi, &code, msg, sizeof(msg));
		if (r)
			goto end;
		s->ticks = pi->start_time;
		s->resolved = true;
	} else {
		if (!workload_pidfd_alive(s->pidfd)) {
			code = GRPC_STATUS_PERMISSION_DENIED;
			snprintf(msg, sizeof(msg), "the calling process has exited");
			goto end;
		}
		r = proctable_get(api->deps.pt, (uint32_t)s->pid, s->ticks, &pi);
		if (r) {
			code = GRPC_STATUS_PERMISSION_DENIED;
			snprintf(msg, sizeof(msg), "the calling process is no longer attested");
			goto end;
		}
		if (!pi->nentry_ids) {
			code = GRPC_STATUS_PERMISSION_DENIED;
			snprintf(msg, sizeof(msg),
				 "no registration entry matches the calling process any more");
			goto end;
		}
		/* setuid without exec fires no hook; an exec may be ahead of the table. */
		if (api->deps.tracker) {
			struct proc_state kst;
			bool have = tracker_lookup(api->deps.tracker, (uint32_t)s->pid, &kst) == 0;

			r = workload_caller_current(api->proc_root, s->pid, pi, have ? &kst : NULL);
			if (r == -EAGAIN)
				goto out; /* the table's update queues another evaluation */
			if (r) {
				code = GRPC_STATUS_PERMISSION_DENIED;
				snprintf(msg, sizeof(msg), "%s",
					 r == -EKEYREVOKED
					     ? "the calling process changed its credentials"
					     : "the calling process is no longer attested");
				goto end;
			}
		}
	}
	/* Before reading the cache: a change after this point queues another evaluation. */
	stream_set_eids(api, s, pi->entry_ids, pi->nentry_ids);
	if (s->kind == SK_X509_SVID) {
		struct x509_msg m;

		r = x509_msg_build(api, pi->entry_ids, pi->nentry_ids, &m);
		if (!r) {
			struct identity_event ev = {.pid = s->pid,
						    .uid = s->uid,
						    .exe = pi->st.exe,
						    .rpc = stream_kind_name[s->kind]};

			pi->st.exe[sizeof(pi->st.exe) - 1] = '\0';
			/* Logged once per identity: what changed since the last message. */
			if (stream_send_locked(api, s, &m.resp.base))
				telemetry_stream_held(&s->held, &ev, m.refs, m.resp.n_svids);
			x509_msg_release(&m);
		}
	} else {
		struct bundles_msg m;
		bool jwt = s->kind == SK_JWT_BUNDLES;

		r = bundles_msg_build(api, pi->entry_ids, pi->nentry_ids, jwt, &m);
		if (!r) {
			stream_send_locked(api, s, jwt ? &m.jwt.base : &m.x509.base);
			bundles_msg_release(&m);
		}
	}
	if (r == -EPERM) {
		code = GRPC_STATUS_PERMISSION_DENIED;
		snprintf(msg, sizeof(msg), "no registration entry matches the calling process");
	} else if (r && !s->sent) {
		code = GRPC_STATUS_UNAVAILABLE;
		snprintf(msg, sizeof(msg), "identity not ready: %s; retry", strerror(-r));
	} else if (r) {
		log_warn("\"workload api: cannot update stream; keeping the last message\" "
			 "method=%s pid=%d error=\"%s\"",
			 stream_kind_name[s->kind], (int)s->pid, strerror(-r));
	}
end:
	if (code != GRPC_STATUS_OK)
		stream_finish_locked(api, s, code, msg);
out:
	r = !s->call;
	pthread_mutex_unlock(&s->lock);
	if (r)
		stream_unlink(api, s);
	proc_info_free(pi);
}

static void stream_eval_job(struct workload_api *api, struct job *j)
{
	stream_eval(api, j->s);
}

/* ---- handlers ---- */

/*
 * The live APIs, for cancel callbacks: their arg is the stream id alone
 * (ids are unique across APIs), so a callback that comes late finds
 * nothing rather than freed memory.
 */
static pthread_mutex_t apis_lock = PTHREAD_MUTEX_INITIALIZER;
static struct workload_api *apis;
static uint64_t stream_serial;

static struct stream *stream_find_locked(struct workload_api *api, uint64_t id)
{
	for (struct stream *s = api->buckets[(uint32_t)id % STREAM_BUCKETS]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void on_stream_cancel(struct rpc_call *call, void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	struct workload_api *api;
	struct stream *s = NULL;

	pthread_mutex_lock(&apis_lock);
	for (api = apis; api && !s; api = s ? api : api->next_api) {
		pthread_mutex_lock(&api->lock);
		s = stream_find_locked(api, id);
		if (s)
			__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&api->lock);
	}
	pthread_mutex_unlock(&apis_lock);
	if (!s)
		return; /* ended already, and finished its call */
	pthread_mutex_lock(&s->lock);
	if (s->call == call) {
		rpc_call_finish(call, GRPC_STATUS_CANCELLED, "stream cancelled");
		s->call = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	stream_unlink(api, s);
	stream_unref(s);
}

/* Queues the first evaluation of a new stream, whose ref (and eval_queued) it takes over. */
static void first_eval(struct workload_api *api, struct stream *s)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j) {
		j->fn = stream_eval_job;
		j->uid = s->uid;
		j->s = s;
		if (enqueue(api, j) == 0)
			return;
		free(j);
	}
	/* Cannot queue it: evaluate here, on rpc_server's thread, rather than never. */
	stream_eval(api, s);
	stream_unref(s);
}

static void start_stream(struct rpc_call *call, struct workload_api *api, enum stream_kind kind)
{
	const struct rpc_peer *peer = rpc_call_peer(call);
	unsigned max = api->opts.max_streams_per_uid;
	struct uidcount **up, *u;
	struct stream *s;
	uint64_t id;

	s = calloc(1, sizeof(*s));
	if (!s) {
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	pthread_mutex_lock(&api->lock);
	api->stats.calls++;
	if (api->stopping) {
		pthread_mutex_unlock(&api->lock);
		free(s);
		rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "shutting down");
		return;
	}
	up = uidcount_slot(api, peer->uid);
	u = *up;
	if (u && u->n >= max) {
		pthread_mutex_unlock(&api->lock);
		free(s);
		limit_hit(api, LIM_STREAMS, peer->uid, peer->pid, stream_kind_name[kind]);
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
				"too many open streams for uid %u (limit %u)", (unsigned)peer->uid,
				max);
		return;
	}
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u) {
			pthread_mutex_unlock(&api->lock);
			free(s);
			rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		u->uid = peer->uid;
		*up = u;
	}
	u->n++;
	pthread_mutex_init(&s->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->kind = kind;
	s->pid = peer->pid;
	s->uid = peer->uid;
	s->pidfd = peer->pidfd;
	s->pidfd_at_accept = peer->pidfd_at_accept;
	s->accept_ns = peer->accept_ns;
	s->call = call;
	s->id =
	    (__atomic_add_fetch(&stream_serial, 1, __ATOMIC_RELAXED) << 32) | (uint32_t)peer->pid;
	id = s->id;
	s->refs = 1; /* the index's */
	s->linked = true;
	s->hnext = api->buckets[(uint32_t)peer->pid % STREAM_BUCKETS];
	api->buckets[(uint32_t)peer->pid % STREAM_BUCKETS] = s;
	s->next = api->all;
	if (api->all)
		api->all->prev = s;
	api->all = s;
	api->stats.streams++;
	/*
	 * No evaluation may run (and finish the call) before the cancel
	 * callback is registered: eval_queued keeps events from queueing one
	 * until the first is queued below, and a ref keeps s for it.
	 */
	s->eval_queued = true;
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&api->lock);
	/* May run the callback at once (and end s); the first evaluation then does nothing. */
	rpc_call_on_cancel(call, on_stream_cancel, (void *)(uintptr_t)id);
	first_eval(api, s);
}

static void h_fetch_x509_svid(struct rpc_call *call, const ProtobufCMessage *req, void *arg)
{
	start_stream(call, arg, SK_X509_SVID);
}

static void h_fetch_x509_bundles(struct rpc_call *call, const ProtobufCMessage *req, void *arg)
{
	start_stream(call, arg, SK_X509_BUNDLES);
}

static void h_fetch_jwt_bundles(struct rpc_call *call, const ProtobufCMessage *req, void *arg)
{
	start_stream(call, arg, SK_JWT_BUNDLES);
}

static void h_unimplemented(struct rpc_call *call, const ProtobufCMessage *req, void *arg)
{
	rpc_call_finish(call, GRPC_STATUS_UNIMPLEMENTED,
			"the WIT-SVID profile is not supported by this server");
}

/* Queues a unary job, or answers at once if that uid has too many waiting. */
static void start_unary(struct workload_api *api, struct rpc_call *call, struct job *j)
{
	const struct rpc_peer *peer = rpc_call_peer(call);
	bool stopping;
	int r;

	j->call = call;
	j->uid = peer->uid;
	j->unary = true;
	pthread_mutex_lock(&api->lock);
	api->stats.calls++;
	stopping = api->stopping;
	pthread_mutex_unlock(&api->lock);
	if (stopping) {
		job_free(j);
		rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "shutting down");
		return;
	}
	r = enqueue(api, j);
	if (r == 0)
		return;
	job_free(j);
	if (r == -EBUSY) {
		limit_hit(api, LIM_PENDING, peer->uid, peer->pid, rpc_call_method(call)->path);
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
				"too many calls waiting for uid %u (limit %d)", (unsigned)peer->uid,
				WORKLOAD_MAX_PENDING_PER_UID);
	} else {
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
	}
}

/* Common start of a unary job: still wanted, within its time. */
static bool unary_begin(struct workload_api *api, struct job *j)
{
	const struct rpc_peer *peer = rpc_call_peer(j->call);
	long waited = ms_since(&j->queued);

	if (rpc_call_cancelled(j->call)) {
		rpc_call_finish(j->call, GRPC_STATUS_CANCELLED, "cancelled");
		return false;
	}
	if (waited > (long)api->opts.call_timeout_ms) {
		limit_hit(api, LIM_TIMEOUT, peer->uid, peer->pid, rpc_call_method(j->call)->path);
		rpc_call_finish(j->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
				"server too busy: the call waited %ld ms (call timeout %u ms)",
				waited, api->opts.call_timeout_ms);
		return false;
	}
	return true;
}

static void refuse(struct workload_api *api, struct rpc_call *call, grpc_status_code code,
		   const char *msg)
{
	const struct rpc_peer *peer = rpc_call_peer(call);
	char exe[PATH_MAX];

	/* Refused an identity: logged and counted once (telemetry.h), before the call goes. */
	if (code == GRPC_STATUS_PERMISSION_DENIED)
		telemetry_identity(&(struct identity_event){
		    .kind = IDENTITY_REFUSED,
		    .pid = peer->pid,
		    .uid = peer->uid,
		    .exe = peer_exe(api, peer->pid, peer->pidfd, exe, sizeof(exe)),
		    .rpc = rpc_call_method(call)->path,
		    .reason = msg,
		    .code = code});
	count_refusal(api, code);
	rpc_call_finish(call, code, "%s", msg);
}

/* Hints are unique within a response (spec 6.2.1): a later SVID with a taken hint is left out. */
static bool hint_taken(const JWTSVID *svids, size_t n, const char *hint)
{
	if (!hint || !*hint)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(svids[i].hint, hint) == 0)
			return true;
	return false;
}

static void jwt_svid_job(struct workload_api *api, struct job *j)
{
	const struct rpc_peer *peer = rpc_call_peer(j->call);
	JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
	struct proc_info *pi = NULL;
	struct entry **ents = NULL;
	JWTSVID *svids = NULL, **ptrs = NULL;
	char **tokens = NULL;
	const char **granted = NULL; /* the entry id of each token, for the log */
	struct identity_event ev;
	size_t nents = 0, n = 0;
	grpc_status_code code;
	char msg[160];
	int r;

	if (!unary_begin(api, j))
		return;
	if (caller_get(api, peer, &pi, &code, msg, sizeof(msg))) {
		refuse(api, j->call, code, msg);
		return;
	}
	r = caller_entries(api, pi, &ents, &nents);
	if (r || !nents) {
		refuse(api, j->call,
		       r ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_PERMISSION_DENIED,
		       r ? "out of memory" : "no registration entry matches the calling process");
		goto out;
	}
	qsort(ents, nents, sizeof(*ents), cmp_entry);
	svids = calloc(nents, sizeof(*svids));
	ptrs = calloc(nents, sizeof(*ptrs));
	tokens = calloc(nents, sizeof(*tokens));
	granted = calloc(nents, sizeof(*granted));
	if (!svids || !ptrs || !tokens || !granted) {
		refuse(api, j->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nents; i++) {
		const struct entry *e = ents[i];

		if (*j->spiffe_id && strcmp(e->spiffe_id, j->spiffe_id))
			continue;
		/* Two entries may grant one ID: one token for it. */
		if (n && strcmp(svids[n - 1].spiffe_id, e->spiffe_id) == 0)
			continue;
		if (hint_taken(svids, n, e->hint))
			continue;
		r = jwtsvid_mint(api->deps.ca, e->spiffe_id, (const char *const *)j->aud, j->naud,
				 e->jwt_svid_ttl ? e->jwt_svid_ttl : ENTRY_JWT_TTL_DEFAULT, 0,
				 &tokens[n]);
		if (r) {
			log_error(
			    "\"workload api: cannot mint JWT-SVID\" spiffe_id=%s error=\"%s\"",
			    e->spiffe_id, strerror(-r));
			refuse(api, j->call, GRPC_STATUS_UNAVAILABLE, "cannot mint a JWT-SVID now");
			goto out;
		}
		telemetry_jwt_minted();
		granted[n] = e->id;
		jwtsvid__init(&svids[n]);
		svids[n].spiffe_id = e->spiffe_id;
		svids[n].svid = tokens[n];
		svids[n].hint = e->hint ? e->hint : "";
		ptrs[n] = &svids[n];
		n++;
	}
	if (!n) {
		snprintf(msg, sizeof(msg), "the calling process is not entitled to %s",
			 j->spiffe_id);
		refuse(api, j->call, GRPC_STATUS_PERMISSION_DENIED, msg);
		goto out;
	}
	if (!workload_pidfd_alive(peer->pidfd)) {
		refuse(api, j->call, GRPC_STATUS_PERMISSION_DENIED,
		       "the calling process has exited");
		goto out;
	}
	resp.n_svids = n;
	resp.svids = ptrs;
	pi->st.exe[sizeof(pi->st.exe) - 1] = '\0';
	/* The peer is the call's: copied before the reply releases it. */
	ev = (struct identity_event){.kind = IDENTITY_RELEASED,
				     .pid = peer->pid,
				     .uid = peer->uid,
				     .exe = pi->st.exe,
				     .svid_type = "jwt",
				     .rpc = WORKLOAD_METHOD_FETCH_JWT_SVID};
	rpc_call_reply(j->call, &resp.base);
	for (size_t i = 0; i < n; i++) {
		ev.spiffe_id = svids[i].spiffe_id;
		ev.entry_id = granted[i];
		telemetry_identity(&ev);
	}
out:
	if (tokens)
		for (size_t i = 0; i < n; i++) {
			explicit_bzero(tokens[i], strlen(tokens[i]));
			free(tokens[i]);
		}
	free(tokens);
	free(granted);
	free(svids);
	free(ptrs);
	entries_free(ents, nents);
	proc_info_free(pi);
}

static void h_fetch_jwt_svid(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const JWTSVIDRequest *req = (const void *)msg;
	struct spiffeid id;
	struct job *j;

	if (!req->n_audience) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "audience must be specified");
		return;
	}
	if (req->n_audience > JWTSVID_MAX_AUDIENCES) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "more than %d audiences",
				JWTSVID_MAX_AUDIENCES);
		return;
	}
	for (size_t i = 0; i < req->n_audience; i++)
		if (!req->audience[i][0]) {
			rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
					"audience[%zu] is empty", i);
			return;
		}
	if (req->spiffe_id[0] &&
	    (spiffeid_parse(req->spiffe_id, &id, NULL, 0) < 0 || !id.path_len)) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
				"spiffe_id is not a workload SPIFFE ID");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j) {
		j->fn = jwt_svid_job;
		j->aud = calloc(req->n_audience, sizeof(*j->aud));
		j->spiffe_id = strdup(req->spiffe_id);
		for (size_t i = 0; j->aud && i < req->n_audience; i++)
			if ((j->aud[i] = strdup(req->audience[i])))
				j->naud++;
	}
	if (!j || !j->aud || !j->spiffe_id || j->naud != req->n_audience) {
		if (j)
			job_free(j);
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	start_unary(arg, call, j);
}

/* ---- claims to google.protobuf.Struct ---- */

static void pb_value_free(Google__Protobuf__Value *v);

static void pb_struct_free(Google__Protobuf__Struct *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_fields; i++) {
		free(s->fields[i]->key);
		pb_value_free(s->fields[i]->value);
		free(s->fields[i]);
	}
	free(s->fields);
	free(s);
}

static void pb_value_free(Google__Protobuf__Value *v)
{
	if (!v)
		return;
	if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE)
		free(v->string_value);
	else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE)
		pb_struct_free(v->struct_value);
	else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE && v->list_value) {
		for (size_t i = 0; i < v->list_value->n_values; i++)
			pb_value_free(v->list_value->values[i]);
		free(v->list_value->values);
		free(v->list_value);
	}
	free(v);
}

static Google__Protobuf__Struct *pb_struct_from_json(json_object *o);

static Google__Protobuf__Value *pb_value_from_json(json_object *o)
{
	Google__Protobuf__Value *v = malloc(sizeof(*v));

	if (!v)
		return NULL;
	google__protobuf__value__init(v);
	switch (json_object_get_type(o)) {
	case json_type_null:
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
		v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
		return v;
	case json_type_boolean:
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
		v->bool_value = json_object_get_boolean(o);
		return v;
	case json_type_int:
	case json_type_double:
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		v->number_value = json_object_get_double(o);
		return v;
	case json_type_string:
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
		v->string_value = strdup(json_object_get_string(o));
		if (v->string_value)
			return v;
		break;
	case json_type_object:
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
		v->struct_value = pb_struct_from_json(o);
		if (v->struct_value)
			return v;
		break;
	case json_type_array: {
		size_t n = json_object_array_length(o);
		Google__Protobuf__ListValue *l = malloc(sizeof(*l));

		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
		v->list_value = l;
		if (!l)
			break;
		google__protobuf__list_value__init(l);
		l->values = calloc(n ? n : 1, sizeof(*l->values));
		if (!l->values)
			break;
		for (size_t i = 0; i < n; i++) {
			l->values[i] = pb_value_from_json(json_object_array_get_idx(o, i));
			if (!l->values[i])
				break;
			l->n_values++;
		}
		if (l->n_values == n)
			return v;
		break;
	}
	}
	pb_value_free(v);
	return NULL;
}

static Google__Protobuf__Struct *pb_struct_from_json(json_object *o)
{
	Google__Protobuf__Struct *s = malloc(sizeof(*s));
	size_t n = (size_t)json_object_object_length(o), i = 0;

	if (!s)
		return NULL;
	google__protobuf__struct__init(s);
	s->fields = calloc(n ? n : 1, sizeof(*s->fields));
	if (!s->fields) {
		free(s);
		return NULL;
	}
	json_object_object_foreach(o, key, val)
	{
		Google__Protobuf__Struct__FieldsEntry *f = malloc(sizeof(*f));

		if (!f || i >= n)
			goto fail;
		google__protobuf__struct__fields_entry__init(f);
		s->fields[s->n_fields++] = f;
		f->key = strdup(key);
		f->value = pb_value_from_json(val);
		if (!f->key || !f->value)
			goto fail;
		i++;
	}
	return s;
fail:
	pb_struct_free(s);
	return NULL;
}

static void validate_job(struct workload_api *api, struct job *j)
{
	const struct rpc_peer *peer = rpc_call_peer(j->call);
	ValidateJWTSVIDResponse resp = VALIDATE_JWTSVIDRESPONSE__INIT;
	struct jwtsvid_claims *claims = NULL;
	struct bundle_set *set = NULL;
	struct proc_info *pi = NULL;
	struct entry **ents = NULL;
	struct bundles b = {0};
	json_object *cj = NULL;
	const char *reason = NULL;
	size_t nents = 0;
	grpc_status_code code;
	char msg[256];
	int r;

	if (!unary_begin(api, j))
		return;
	if (caller_get(api, peer, &pi, &code, msg, sizeof(msg))) {
		refuse(api, j->call, code, msg);
		return;
	}
	r = caller_entries(api, pi, &ents, &nents);
	if (!r && !nents)
		r = -EPERM;
	if (!r)
		r = bundles_collect(api, ents, nents, &b);
	if (!r)
		r = bundle_set_new(&set);
	for (size_t i = 0; !r && i < b.n; i++)
		r = bundle_set_put(set, b.v[i]);
	if (r) {
		refuse(api, j->call,
		       r == -EPERM    ? GRPC_STATUS_PERMISSION_DENIED
		       : r == -EAGAIN ? GRPC_STATUS_UNAVAILABLE
				      : GRPC_STATUS_RESOURCE_EXHAUSTED,
		       r == -EPERM    ? "no registration entry matches the calling process"
		       : r == -EAGAIN ? "trust bundle not ready; retry"
				      : "out of memory");
		goto out;
	}
	r = jwtsvid_validate(set, j->token, j->audience, 0, &claims, &reason);
	if (r) {
		snprintf(msg, sizeof(msg), "invalid JWT-SVID: %s", reason ? reason : strerror(-r));
		rpc_call_finish(j->call, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
		goto out;
	}
	cj = json_tokener_parse(claims->json);
	if (!cj || !json_object_is_type(cj, json_type_object) ||
	    !(resp.claims = pb_struct_from_json(cj))) {
		rpc_call_finish(j->call, GRPC_STATUS_INTERNAL, "cannot convert the token's claims");
		goto out;
	}
	resp.spiffe_id = claims->spiffe_id;
	rpc_call_reply(j->call, &resp.base);
out:
	pb_struct_free(resp.claims);
	json_object_put(cj);
	jwtsvid_claims_free(claims);
	bundle_set_unref(set);
	bundles_release(&b);
	entries_free(ents, nents);
	proc_info_free(pi);
}

static void h_validate_jwt_svid(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const ValidateJWTSVIDRequest *req = (const void *)msg;
	struct job *j;

	if (!req->audience[0]) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "audience must be specified");
		return;
	}
	if (!req->svid[0]) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "svid must be specified");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j) {
		j->fn = validate_job;
		j->audience = strdup(req->audience);
		j->token = strdup(req->svid);
	}
	if (!j || !j->audience || !j->token) {
		if (j)
			job_free(j);
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	start_unary(arg, call, j);
}

/* Adding an RPC: a handler above and a row here. */
static const struct rpc_method workload_methods[] = {
    {WORKLOAD_METHOD_FETCH_X509_SVID, &x509_svidrequest__descriptor, RPC_SERVER_STREAM,
     h_fetch_x509_svid},
    {WORKLOAD_METHOD_FETCH_X509_BUNDLES, &x509_bundles_request__descriptor, RPC_SERVER_STREAM,
     h_fetch_x509_bundles},
    {WORKLOAD_METHOD_FETCH_JWT_SVID, &jwtsvidrequest__descriptor, RPC_UNARY, h_fetch_jwt_svid},
    {WORKLOAD_METHOD_FETCH_JWT_BUNDLES, &jwtbundles_request__descriptor, RPC_SERVER_STREAM,
     h_fetch_jwt_bundles},
    {WORKLOAD_METHOD_VALIDATE_JWT_SVID, &validate_jwtsvidrequest__descriptor, RPC_UNARY,
     h_validate_jwt_svid},
    {WORKLOAD_METHOD_FETCH_WIT_SVID, &witsvidrequest__descriptor, RPC_SERVER_STREAM,
     h_unimplemented},
    {WORKLOAD_METHOD_FETCH_WIT_BUNDLES, &witbundles_request__descriptor, RPC_SERVER_STREAM,
     h_unimplemented},
};

static grpc_status_code workload_check(struct rpc_call *call, void *arg, char *msg, size_t len)
{
	struct workload_api *api = arg;
	char v[8];

	if (rpc_call_metadata(call, WORKLOAD_HEADER, v, sizeof(v)) == 0 && strcmp(v, "true") == 0)
		return GRPC_STATUS_OK;
	pthread_mutex_lock(&api->lock);
	api->stats.refused_header++;
	pthread_mutex_unlock(&api->lock);
	telemetry_workload_call(rpc_call_method(call)->path, GRPC_STATUS_INVALID_ARGUMENT);
	snprintf(msg, len, "security header missing from request");
	return GRPC_STATUS_INVALID_ARGUMENT;
}

/* ---- events ---- */

void workload_api_process_changed(struct workload_api *api, uint32_t tgid, uint64_t start_ticks,
				  bool gone)
{
	if (!api)
		return;
	pthread_mutex_lock(&api->lock);
	for (struct stream *s = api->buckets[tgid % STREAM_BUCKETS]; s; s = s->hnext)
		if ((uint32_t)s->pid == tgid)
			stream_schedule_locked(api, s);
	pthread_mutex_unlock(&api->lock);
}

static void cache_changed(void *arg, const char *entry_id)
{
	struct workload_api *api = arg;

	pthread_mutex_lock(&api->lock);
	for (struct stream *s = api->all; s; s = s->next)
		if (sorted_has(s->eids, s->neids, entry_id))
			stream_schedule_locked(api, s);
	pthread_mutex_unlock(&api->lock);
}

void workload_api_bundles_changed(struct workload_api *api)
{
	if (!api)
		return;
	pthread_mutex_lock(&api->lock);
	for (struct stream *s = api->all; s; s = s->next)
		stream_schedule_locked(api, s);
	pthread_mutex_unlock(&api->lock);
}

void workload_api_stats(struct workload_api *api, struct workload_stats *ret)
{
	pthread_mutex_lock(&api->lock);
	*ret = api->stats;
	pthread_mutex_unlock(&api->lock);
}

/* ---- start, stop ---- */

static void raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("\"workload api: raised the open file limit\" nofile=%llu",
			 (unsigned long long)rl.rlim_cur);
	if (rl.rlim_cur < want)
		log_warn("\"workload api: open file limit below the connection limit\" nofile=%llu "
			 "wanted=%u",
			 (unsigned long long)rl.rlim_cur, want);
}

int workload_api_start(const struct workload_opts *opts, const struct workload_deps *deps,
		       struct workload_api **ret)
{
	struct rpc_server_opts ro = {.mode = 0666, .check = workload_check};
	struct workload_api *api;
	long ncpu;
	int r;

	if (!deps || !deps->pt || !deps->matcher || !deps->ca || !deps->bundles || !deps->cache ||
	    !deps->trust_domain)
		return -EINVAL;
	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	if (opts)
		api->opts = *opts;
	api->deps = *deps;
	if (!api->opts.socket_path)
		api->opts.socket_path = WORKLOAD_DEFAULT_SOCKET;
	if (!api->opts.max_streams_per_uid)
		api->opts.max_streams_per_uid = WORKLOAD_DEFAULT_MAX_STREAMS_PER_UID;
	if (!api->opts.max_connections)
		api->opts.max_connections = WORKLOAD_DEFAULT_MAX_CONNECTIONS;
	if (!api->opts.max_connections_per_uid)
		api->opts.max_connections_per_uid = WORKLOAD_DEFAULT_MAX_CONNECTIONS_PER_UID;
	if (!api->opts.max_request_bytes)
		api->opts.max_request_bytes = WORKLOAD_DEFAULT_MAX_REQUEST_BYTES;
	if (!api->opts.call_timeout_ms)
		api->opts.call_timeout_ms = WORKLOAD_DEFAULT_CALL_TIMEOUT_MS;
	snprintf(api->proc_root, sizeof(api->proc_root), "%s",
		 api->opts.proc_root ? api->opts.proc_root : "/proc");
	api->opts.proc_root = api->proc_root;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	api->nworkers = api->opts.workers ? api->opts.workers
					  : (unsigned)(ncpu < 2	  ? 2
						       : ncpu > 8 ? 8
								  : ncpu);
	pthread_mutex_init(&api->lock, NULL);
	pthread_mutex_init(&api->qlock, NULL);
	pthread_cond_init(&api->qcond, NULL);
	api->rr_tail = &api->rr_head;
	api->workers = calloc(api->nworkers, sizeof(*api->workers));
	if (!api->workers) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < api->nworkers; i++) {
		r = -pthread_create(&api->workers[i], NULL, worker, api);
		if (r) {
			api->nworkers = i;
			goto fail;
		}
	}
	raise_nofile(api->opts.max_connections + RPC_CONN_OVERFLOW + 256);
	svid_cache_set_listener(deps->cache, cache_changed, api);
	ro.socket_path = api->opts.socket_path;
	ro.max_request_bytes = api->opts.max_request_bytes;
	ro.max_connections = api->opts.max_connections;
	ro.max_connections_per_uid = api->opts.max_connections_per_uid;
	ro.arg = api;
	r = rpc_server_start(&ro, workload_methods, ARRAY_SIZE(workload_methods), &api->srv);
	if (r) {
		svid_cache_set_listener(deps->cache, NULL, NULL);
		goto fail;
	}
	pthread_mutex_lock(&apis_lock);
	api->next_api = apis;
	apis = api;
	pthread_mutex_unlock(&apis_lock);
	log_info("\"workload api: serving\" socket=%s workers=%u max_streams_per_uid=%u "
		 "max_connections=%u max_connections_per_uid=%u max_request_bytes=%zu "
		 "call_timeout_ms=%u",
		 api->opts.socket_path, api->nworkers, api->opts.max_streams_per_uid,
		 api->opts.max_connections, api->opts.max_connections_per_uid,
		 api->opts.max_request_bytes, api->opts.call_timeout_ms);
	*ret = api;
	return 0;
fail:
	pthread_mutex_lock(&api->qlock);
	api->qstop = true;
	pthread_cond_broadcast(&api->qcond);
	pthread_mutex_unlock(&api->qlock);
	for (unsigned i = 0; i < api->nworkers; i++)
		pthread_join(api->workers[i], NULL);
	free(api->workers);
	pthread_cond_destroy(&api->qcond);
	pthread_mutex_destroy(&api->qlock);
	pthread_mutex_destroy(&api->lock);
	free(api);
	return r;
}

void workload_api_stop(struct workload_api *api)
{
	if (!api)
		return;
	pthread_mutex_lock(&api->lock);
	api->stopping = true;
	pthread_mutex_unlock(&api->lock);
	svid_cache_set_listener(api->deps.cache, NULL, NULL);
	/* Cancels every call: streams end in their cancel callback, queued unary jobs fail. */
	rpc_server_stop(api->srv);
	pthread_mutex_lock(&apis_lock);
	for (struct workload_api **pp = &apis; *pp; pp = &(*pp)->next_api)
		if (*pp == api) {
			*pp = api->next_api;
			break;
		}
	pthread_mutex_unlock(&apis_lock);
	pthread_mutex_lock(&api->qlock);
	api->qstop = true;
	pthread_cond_broadcast(&api->qcond);
	pthread_mutex_unlock(&api->qlock);
	for (unsigned i = 0; i < api->nworkers; i++)
		pthread_join(api->workers[i], NULL);
	free(api->workers);
	/* Streams that never got their first evaluation (none after the drain) */
	while (api->all)
		stream_unlink(api, api->all);
	pthread_cond_destroy(&api->qcond);
	pthread_mutex_destroy(&api->qlock);
	pthread_mutex_destroy(&api->lock);
	free(api);
}
