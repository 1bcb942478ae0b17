/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small gRPC server over a unix socket, on gRPC's C core: a table of
 * methods, protobuf-c messages in and out, and for every call the kernel's
 * word on who is calling (SO_PEERCRED, SO_PEERPIDFD of the connection the
 * call came on).  The admin API and the Workload API are tables for it.
 *
 * Threads: one accepts connections, one runs the completion queue and calls
 * the handlers.  A handler must not block; it may finish its call later,
 * from any thread.
 */
#ifndef ATTESTD_RPC_SERVER_H
#define ATTESTD_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

struct rpc_server;
struct rpc_call;

enum rpc_kind {
	RPC_UNARY,	   /* one request, one response or an error status */
	RPC_SERVER_STREAM, /* one request, any number of responses, then a status */
};

/* The process at the other end of the call's connection, as the kernel saw it at connect(). */
struct rpc_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	/* pidfd of pid, or -1 (the process was gone by accept()); owned by
	 * the connection record, valid until the call is finished */
	int pidfd;
	int fd;		 /* the server's fd of the connection (diagnostics) */
	uint64_t cookie; /* SO_COOKIE of the connection: unique per boot */
	/*
	 * How far the pidfd can be trusted.  false: SO_PEERPIDFD, the kernel's
	 * pidfd of the process that called connect() (6.5+).  true: the kernel
	 * has none, so pidfd_open(pid) was called at accept(); pid may then
	 * have been reused between connect() and accept(), and a process that
	 * started after accept_ns cannot be the one that connected
	 * (docs/security.md, "The pidfd fallback").
	 */
	bool pidfd_at_accept;
	uint64_t accept_ns; /* CLOCK_BOOTTIME right after accept() returned */
};

/*
 * Called once per call, on the completion-queue thread, with the request
 * unpacked (freed when the handler returns: copy what must outlive it) and
 * the server's arg.  The handler ends the call, now or later and from any
 * thread, with exactly one rpc_call_reply() or rpc_call_finish().
 */
typedef void (*rpc_handler_fn)(struct rpc_call *call, const ProtobufCMessage *req, void *arg);

struct rpc_method {
	const char *path; /* "/package.Service/Method" */
	const ProtobufCMessageDescriptor *request;
	enum rpc_kind kind;
	rpc_handler_fn handler;
};

/*
 * Runs before the request is unpacked, for every call: return GRPC_STATUS_OK
 * to let it through, or a status (and a message in msg) to refuse it.
 */
typedef grpc_status_code (*rpc_check_fn)(struct rpc_call *call, void *arg, char *msg,
					 size_t msglen);

struct rpc_server_opts {
	const char *socket_path;
	mode_t mode;		  /* of the socket file: 0600 admin, 0666 Workload API */
	size_t max_request_bytes; /* 0: RPC_DEFAULT_MAX_REQUEST */
	rpc_check_fn check;	  /* optional */
	void *arg;		  /* passed to check and to every handler */
	/*
	 * Open connections at once, in all and per peer uid (0: no limit).  A
	 * connection over a limit is still accepted and every call on it is
	 * answered RESOURCE_EXHAUSTED, so the client learns why; beyond
	 * RPC_CONN_OVERFLOW such connections at once, further ones are closed
	 * at accept.  Connections that closed are noticed by a sweep of the
	 * table, at most every RPC_CONN_SWEEP_MS while at a limit.
	 */
	unsigned max_connections;
	unsigned max_connections_per_uid;
};

/*
 * Tests only: with ATTESTD_TEST_PIDFD_FALLBACK=1 in the environment at
 * rpc_server_start(), SO_PEERPIDFD is not asked for and every connection
 * takes the pre-6.5 path (pidfd_open at accept), so both paths are tested
 * on one kernel.  It never widens what a caller gets.
 */
#define RPC_ENV_PIDFD_FALLBACK "ATTESTD_TEST_PIDFD_FALLBACK"

#define RPC_DEFAULT_MAX_REQUEST (64 * 1024)
#define RPC_CONN_OVERFLOW 64
#define RPC_CONN_SWEEP_MS 100

/*
 * Creates the socket (parent directories 0755, the file with opts->mode) and
 * starts serving methods, which must outlive the server.  -EADDRINUSE if a
 * server already accepts on the path; a stale socket file is replaced.
 */
int rpc_server_start(const struct rpc_server_opts *opts, const struct rpc_method *methods,
		     size_t nmethods, struct rpc_server **ret);
/*
 * Stops accepting, cancels every call (handlers of open calls see
 * rpc_call_cancelled() and get their on_cancel callback), waits for every
 * call to be finished, and removes the socket file.  NULL is a no-op.
 */
void rpc_server_stop(struct rpc_server *srv);

const struct rpc_peer *rpc_call_peer(const struct rpc_call *call);
const struct rpc_method *rpc_call_method(const struct rpc_call *call);
/*
 * Copies the value of request metadata key (lower case) into buf, NUL
 * terminated.  -ENOENT if absent, -ENOSPC if it does not fit.
 */
int rpc_call_metadata(const struct rpc_call *call, const char *key, char *buf, size_t len);

/*
 * Queues one response message (packed now: msg may be freed on return).
 * Unary calls take exactly one, streams any number.  -ECANCELED once the
 * call has ended without finishing (client gone, deadline, server stop),
 * -EINVAL after rpc_call_finish() or for a second unary response.
 */
int rpc_call_send(struct rpc_call *call, const ProtobufCMessage *msg);
/*
 * Ends the call with a status and releases it: call must not be used after.
 * Queued messages go out first.  Always releases, even after cancellation.
 */
void rpc_call_finish(struct rpc_call *call, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* rpc_call_send(msg) then rpc_call_finish(OK); a failed send finishes with INTERNAL. */
void rpc_call_reply(struct rpc_call *call, const ProtobufCMessage *msg);

/* True once the call ended from the other side (or server stop); sends are pointless. */
bool rpc_call_cancelled(const struct rpc_call *call);
/*
 * fn runs once when the call ends before rpc_call_finish() (immediately, on
 * this thread, if it already has); the handler still calls rpc_call_finish().
 * fn runs without server locks held and may call rpc_call_finish().
 */
void rpc_call_on_cancel(struct rpc_call *call, void (*fn)(struct rpc_call *call, void *arg),
			void *arg);

#endif
