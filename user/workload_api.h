/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SPIFFE Workload API (proto/workload.proto, service SpiffeWorkloadAPI)
 * on --socket, mode 0666, for any local process; what it gets is decided by
 * the kernel's word on who is calling.
 *
 * Each call is attributed to the process at the other end of its
 * connection (SO_PEERCRED, SO_PEERPIDFD: rpc_server.h), and that process to
 * its record in the process table by (pid, start time), the start time read
 * from /proc/PID/stat and then vouched for by the pidfd (a live pidfd means
 * the PID was not reused in between).  The record's entry ids, computed
 * when the kernel reported its exec or cgroup move, are the identities it
 * gets; their X.509-SVIDs come from the SVID cache, JWT-SVIDs are minted per
 * call.  Before replying the pidfd is checked again.  No record (or one the
 * kernel has not caught up with): UNAVAILABLE; no entry: PERMISSION_DENIED.
 *
 * Streams (FetchX509SVID, FetchX509Bundles, FetchJWTBundles) send a first
 * message at once and a full new one whenever it would differ: SVID
 * renewal, entry change, bundle change, the caller's exec or cgroup move.
 * A stream whose process no longer matches any entry, or has exited, ends
 * with PERMISSION_DENIED.
 *
 * Threads: handlers on rpc_server's thread only queue work; a small pool
 * does it, taking jobs round-robin across caller uids so that one uid's
 * flood only delays that uid.
 */
#ifndef ATTESTD_WORKLOAD_API_H
#define ATTESTD_WORKLOAD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WORKLOAD_METHOD_FETCH_X509_SVID "/SpiffeWorkloadAPI/FetchX509SVID"
#define WORKLOAD_METHOD_FETCH_X509_BUNDLES "/SpiffeWorkloadAPI/FetchX509Bundles"
#define WORKLOAD_METHOD_FETCH_JWT_SVID "/SpiffeWorkloadAPI/FetchJWTSVID"
#define WORKLOAD_METHOD_FETCH_JWT_BUNDLES "/SpiffeWorkloadAPI/FetchJWTBundles"
#define WORKLOAD_METHOD_VALIDATE_JWT_SVID "/SpiffeWorkloadAPI/ValidateJWTSVID"
#define WORKLOAD_METHOD_FETCH_WIT_SVID "/SpiffeWorkloadAPI/FetchWITSVID"
#define WORKLOAD_METHOD_FETCH_WIT_BUNDLES "/SpiffeWorkloadAPI/FetchWITBundles"

/* The security header every call must carry (SPIFFE Workload Endpoint, section 4). */
#define WORKLOAD_HEADER "workload.spiffe.io"

#define WORKLOAD_DEFAULT_SOCKET "/run/attestd/api.sock"
#define WORKLOAD_DEFAULT_MAX_STREAMS_PER_UID 64
#define WORKLOAD_DEFAULT_MAX_CONNECTIONS 4096
#define WORKLOAD_DEFAULT_MAX_CONNECTIONS_PER_UID 1024
#define WORKLOAD_DEFAULT_MAX_REQUEST_BYTES (64 * 1024)
#define WORKLOAD_DEFAULT_CALL_TIMEOUT_MS 10000
/* Unary calls of one uid waiting for a worker at once. */
#define WORKLOAD_MAX_PENDING_PER_UID 256

struct bundle_set;
struct ca;
struct matcher;
struct proctable;
struct proc_info;
struct proc_state;
struct rpc_peer;
struct svid_cache;
struct tracker;
struct workload_api;

/* 0 in a field means its WORKLOAD_DEFAULT_*. */
struct workload_opts {
	const char *socket_path;
	unsigned max_streams_per_uid;	  /* open streams of one uid at once */
	unsigned max_connections;	  /* open connections at once */
	unsigned max_connections_per_uid; /* ... of one uid */
	size_t max_request_bytes;	  /* larger requests: RESOURCE_EXHAUSTED */
	unsigned call_timeout_ms;	  /* a unary call not done by then: RESOURCE_EXHAUSTED */
	unsigned workers;		  /* threads; 0: one per CPU, 2..8 */
	const char *proc_root;		  /* "/proc"; tests point it at a fake tree */
};

/* What the API reads; borrowed, must outlive it. */
struct workload_deps {
	struct proctable *pt;
	struct matcher *matcher;
	struct ca *ca;		    /* signs JWT-SVIDs */
	struct bundle_set *bundles; /* this trust domain's bundle and the federated ones */
	struct svid_cache *cache;   /* X.509-SVIDs by entry id */
	const char *trust_domain;
	/*
	 * The kernel's procs map, read at answer time (tracker_lookup): an exec
	 * the table has not heard of yet is UNAVAILABLE, and the caller's
	 * credentials now (/proc/PID/status) must be the table's, or it is
	 * PERMISSION_DENIED (setuid without exec).  NULL only in tests whose
	 * table is made by hand: then neither check runs.
	 */
	struct tracker *tracker;
};

/*
 * Creates the socket and serves.  -EADDRINUSE if another server answers on
 * the path; -EINVAL for missing deps.  Raises RLIMIT_NOFILE (soft) so the
 * connection limit, not the fd limit, is what callers meet.
 */
int workload_api_start(const struct workload_opts *opts, const struct workload_deps *deps,
		       struct workload_api **ret);
/* Ends every stream (CANCELLED), stops serving, removes the socket; NULL is a no-op. */
void workload_api_stop(struct workload_api *api);

/*
 * From the process table's changed hook (called with its write lock held):
 * queues a re-check of the streams of (tgid, start_ticks).  Cheap when the
 * process has no stream.
 */
void workload_api_process_changed(struct workload_api *api, uint32_t tgid, uint64_t start_ticks,
				  bool gone);
/* The bundle set changed (CA rotation, federation): every stream is re-sent if it differs. */
void workload_api_bundles_changed(struct workload_api *api);

struct workload_stats {
	uint64_t calls;	  /* calls that reached a handler */
	uint64_t streams; /* streams open now */
	uint64_t stream_messages;
	uint64_t refused_header, refused_unavailable, refused_permission;
	uint64_t limited; /* RESOURCE_EXHAUSTED answers of our own limits */
};
void workload_api_stats(struct workload_api *api, struct workload_stats *ret);

/* ---- caller resolution, exposed for tests ---- */

/*
 * The process-table record of the caller pid, whose pidfd came with its
 * connection: reads pid's start time from <proc_root>/PID/stat, checks with
 * the pidfd that pid still names that process (so the start time is its
 * own, not a recycled PID's), looks up (pid, start) in pt, and checks that
 * the kernel's record of the executable is the one the process runs now.
 * Returns 0 and *ret (proc_info_free it), or
 *   -ENOTSUP  no pidfd (kernel before 6.5): the caller cannot be told apart
 *             from a recycled PID, so it is refused
 *   -ESRCH    the caller has exited
 *   -EAGAIN   no record yet, or a stale one (exec not yet seen)
 *   -errno    /proc could not be read
 */
int workload_caller_resolve(struct proctable *pt, const char *proc_root, pid_t pid, int pidfd,
			    struct proc_info **ret);
/*
 * The same for a connection's peer, as attestd does it.  With
 * peer->pidfd_at_accept (no SO_PEERPIDFD: the pidfd was opened at accept),
 * a process under pid that started after peer->accept_ns is not the caller:
 * -ESRCH; and a pidfd of -1 is -ESRCH (gone by accept), not -ENOTSUP.  With
 * a tracker, workload_caller_current() on top.
 */
int workload_caller_resolve_peer(struct proctable *pt, struct tracker *tracker,
				 const char *proc_root, const struct rpc_peer *peer,
				 struct proc_info **ret);
/*
 * Is pi (the table's record of pid) the state pid is in now?  kernel is the
 * procs map's record of pid (NULL if it has none).  0 yes; -EAGAIN the map
 * is ahead of the table (an exec, fork or cgroup move not applied yet);
 * -EKEYREVOKED pid's credentials (/proc/PID/status Uid, Gid, Groups) are
 * not the recorded ones: it called setuid/setgid/setgroups without exec;
 * -ESRCH gone.
 */
int workload_caller_current(const char *proc_root, pid_t pid, const struct proc_info *pi,
			    const struct proc_state *kernel);
/* True while the process of pidfd has not exited. */
bool workload_pidfd_alive(int pidfd);

#endif
