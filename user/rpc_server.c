// SPDX-License-Identifier: Apache-2.0
/*
 * gRPC C-core server over a unix socket that attestd creates, binds and
 * accepts on itself, so that the kernel's identity of each peer
 * (SO_PEERCRED, SO_PEERPIDFD) is read at accept() and tied to every call.
 *
 * Peer attribution.  Each accepted fd is recorded in a table indexed by fd
 * number, with its SO_COOKIE (a per-boot unique socket id), its creds and
 * its pidfd, and only then handed to gRPC (grpc_server_add_channel_from_fd).
 * gRPC names that transport's peer "fd:N".  When a call starts, we parse N
 * and look the record up.  The risk is fd-number reuse: the connection
 * closes, N is given to a new connection, and a call of the old one is
 * attributed to the new peer.  That cannot happen, because:
 *  1. gRPC closes N only when it destroys the endpoint, which it does in
 *     the chttp2 transport's destructor (1.51); every stream holds a ref on
 *     its transport, and every call holds its stream.  So while we hold a
 *     grpc_call -- from the moment it is handed to us until we unref it --
 *     N is open and names the call's own socket, even if the peer has gone.
 *     selftests/unit/test_rpc.c (rpc_peer_survives_disconnect) checks this,
 *     so a gRPC upgrade that closes fds earlier fails a test.
 *  2. At call start we verify, under the table lock, that N's SO_COOKIE
 *     equals the record's and that SO_PEERCRED on N equals the creds read
 *     at accept; any mismatch (N is now something else) fails the call
 *     closed with UNAVAILABLE instead of guessing.
 *  3. Even if (1) were broken, a number can only be reused after the old
 *     socket is closed, so the response of a misattributed call could not
 *     reach anyone: responses go to the call's own transport, never by fd.
 * Records are refcounted: a call holds its connection's record (and so its
 * pidfd) until it ends; the table's ref is dropped when the fd number is
 * reused or a sweep finds the cookie gone.
 *
 * Calls.  One completion queue, one thread.  A call holds refs for the
 * handler (until rpc_call_finish), for the pending RECV_CLOSE_ON_SERVER
 * (which tells us the client went away) and for a batch in flight.  Sends
 * are queued and go out one batch at a time, as gRPC requires; the last
 * message, initial metadata and the status share a batch where they can.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include "cleanup.h"
#include "log.h"
#include "rpc_server.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

/* Accepts between sweeps of the connection table for closed sockets. */
#define CONN_SWEEP_EVERY 32

struct rpc_tag {
	void (*fn)(struct rpc_tag *tag, bool ok);
};

struct rpc_conn {
	int refs; /* atomic */
	int fd;
	uint64_t cookie;
	struct ucred cred;
	int pidfd;
	bool pidfd_at_accept; /* pidfd_open() at accept, not SO_PEERPIDFD: see rpc_peer */
	uint64_t accept_ns;   /* CLOCK_BOOTTIME */
	bool refused; /* over a connection limit: calls get RESOURCE_EXHAUSTED */
};

/* A standing grpc_server_request_*call for one method (method NULL: any unregistered one). */
struct rpc_slot {
	struct rpc_tag tag;
	struct rpc_server *srv;
	const struct rpc_method *method;
	void *handle;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
};

struct rpc_msg {
	struct rpc_msg *next;
	grpc_byte_buffer *bb;
};

struct rpc_call {
	struct rpc_server *srv;
	const struct rpc_method *method;
	grpc_call *call;
	grpc_metadata_array md;
	struct rpc_conn *conn;
	struct rpc_peer peer;
	int refs; /* atomic */
	struct rpc_tag batch_tag;
	struct rpc_tag close_tag;
	int close_cancelled; /* written by gRPC: RECV_CLOSE_ON_SERVER */

	pthread_mutex_t lock; /* everything below */
	struct rpc_msg *head, **tail;
	grpc_byte_buffer *inflight;
	unsigned nsent;
	bool md_sent, status_sent, batch_inflight, broken;
	bool finished;	/* the handler has called rpc_call_finish() */
	bool ended;	/* RECV_CLOSE_ON_SERVER completed */
	bool cancelled; /* ended without our status */
	bool cancel_fired;
	grpc_status_code code;
	grpc_slice details;
	void (*on_cancel)(struct rpc_call *call, void *arg);
	void *on_cancel_arg;
};

struct rpc_server {
	struct rpc_server_opts opts;
	char *path;
	const struct rpc_method *methods;
	size_t nmethods;
	grpc_server *server;
	grpc_completion_queue *cq;
	grpc_server_credentials *creds;
	struct rpc_slot *slots; /* nmethods + 1 */
	struct rpc_tag shutdown_tag;
	int listen_fd;
	int wake_fd;
	dev_t sock_dev;
	ino_t sock_ino;
	pthread_t accept_thread, cq_thread;
	bool accept_started, cq_started;
	bool pidfd_fallback; /* RPC_ENV_PIDFD_FALLBACK: tests of the pre-6.5 path */
	unsigned accepts;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	struct rpc_conn **conns; /* indexed by fd */
	size_t nconns;
	size_t nlive, nrefused; /* records in conns, by rpc_conn.refused */
	struct timespec last_sweep;
	time_t limit_logged, oversize_logged;
	unsigned limit_suppressed, oversize_suppressed;
	unsigned live_calls;
	unsigned pending_slots;
	bool stopping;
	bool shutdown_done;
};

/* ---- connections ---- */

static void conn_unref(struct rpc_conn *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (c->pidfd >= 0)
		close(c->pidfd);
	free(c);
}

static int sock_cookie(int fd, uint64_t *ret)
{
	socklen_t len = sizeof(*ret);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, ret, &len) < 0)
		return -errno;
	return 0;
}

static int sock_cred(int fd, struct ucred *ret)
{
	socklen_t len = sizeof(*ret);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret, &len) < 0)
		return -errno;
	return 0;
}

/* Takes the record at fd out of the table. Under srv->lock. */
static void conn_drop_locked(struct rpc_server *srv, size_t fd)
{
	struct rpc_conn *c = srv->conns[fd];

	if (!c)
		return;
	srv->conns[fd] = NULL;
	if (c->refused)
		srv->nrefused--;
	else
		srv->nlive--;
	conn_unref(c);
}

/* Drops the table's ref on records whose fd no longer names their socket. Under srv->lock. */
static void conns_sweep_locked(struct rpc_server *srv)
{
	for (size_t i = 0; i < srv->nconns; i++) {
		struct rpc_conn *c = srv->conns[i];
		uint64_t cookie;

		if (!c || (sock_cookie(c->fd, &cookie) == 0 && cookie == c->cookie))
			continue;
		conn_drop_locked(srv, i);
	}
	clock_gettime(CLOCK_MONOTONIC, &srv->last_sweep);
}

/* Open connections of uid, refused ones not counted. Under srv->lock. */
static size_t conns_of_uid_locked(struct rpc_server *srv, uid_t uid)
{
	size_t n = 0;

	for (size_t i = 0; i < srv->nconns; i++)
		n += srv->conns[i] && !srv->conns[i]->refused && srv->conns[i]->cred.uid == uid;
	return n;
}

static bool conns_over_locked(struct rpc_server *srv, uid_t uid, const char **why)
{
	const struct rpc_server_opts *o = &srv->opts;

	if (o->max_connections && srv->nlive >= o->max_connections) {
		*why = "max_connections";
		return true;
	}
	if (o->max_connections_per_uid &&
	    conns_of_uid_locked(srv, uid) >= o->max_connections_per_uid) {
		*why = "max_connections_per_uid";
		return true;
	}
	return false;
}

/*
 * Whether a new connection of uid fits the limits: 0 yes, 1 over a limit
 * (admit it refused), -ECONNREFUSED over a limit with no room for more
 * refused ones either.  Under srv->lock.
 */
static int conn_admit_locked(struct rpc_server *srv, uid_t uid)
{
	const char *why = NULL;
	struct timespec now;
	long ms;

	if (!srv->opts.max_connections && !srv->opts.max_connections_per_uid)
		return 0;
	if (!conns_over_locked(srv, uid, &why))
		return 0;
	/* The counts include connections gRPC closed since the last sweep. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - srv->last_sweep.tv_sec) * 1000 +
	     (now.tv_nsec - srv->last_sweep.tv_nsec) / 1000000;
	if (ms >= RPC_CONN_SWEEP_MS) {
		conns_sweep_locked(srv);
		if (!conns_over_locked(srv, uid, &why))
			return 0;
	}
	if (now.tv_sec >= srv->limit_logged + 5) {
		log_warn("\"rpc: connection over limit\" socket=%s limit=%s uid=%u open=%zu "
			 "refused_open=%zu max_connections=%u max_connections_per_uid=%u "
			 "suppressed=%u",
			 srv->path, why, (unsigned)uid, srv->nlive, srv->nrefused,
			 srv->opts.max_connections, srv->opts.max_connections_per_uid,
			 srv->limit_suppressed);
		srv->limit_logged = now.tv_sec;
		srv->limit_suppressed = 0;
	} else {
		srv->limit_suppressed++;
	}
	return srv->nrefused < RPC_CONN_OVERFLOW ? 1 : -ECONNREFUSED;
}

static int conn_register(struct rpc_server *srv, int fd, uint64_t accept_ns)
{
	struct rpc_conn *c;
	socklen_t len;
	int r, pidfd = -1;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->refs = 1;
	c->fd = fd;
	r = sock_cookie(fd, &c->cookie);
	if (!r)
		r = sock_cred(fd, &c->cred);
	if (r) {
		free(c);
		return r;
	}
	c->accept_ns = accept_ns;
	len = sizeof(pidfd);
	if (srv->pidfd_fallback || getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
		/*
		 * Kernels before 6.5 lack SO_PEERPIDFD: take a pidfd of the pid
		 * now.  The pid may have been reused since connect(); what the
		 * handlers can still rule out is a process that started after
		 * accept_ns (read before this), see rpc_peer.pidfd_at_accept.
		 * A pid outside our namespace (0) or gone already gets -1.
		 */
		pidfd = c->cred.pid > 0 ? (int)syscall(SYS_pidfd_open, c->cred.pid, 0) : -1;
		if (pidfd < 0)
			pidfd = -1;
		c->pidfd_at_accept = true;
	}
	c->pidfd = pidfd;

	pthread_mutex_lock(&srv->lock);
	if ((size_t)fd >= srv->nconns) {
		size_t n = (size_t)fd + 64;
		struct rpc_conn **t = realloc(srv->conns, n * sizeof(*t));

		if (!t) {
			pthread_mutex_unlock(&srv->lock);
			conn_unref(c);
			return -ENOMEM;
		}
		memset(t + srv->nconns, 0, (n - srv->nconns) * sizeof(*t));
		srv->conns = t;
		srv->nconns = n;
	}
	/* A record already at this number belongs to a closed socket: fd N was reused. */
	conn_drop_locked(srv, (size_t)fd);
	r = conn_admit_locked(srv, c->cred.uid);
	if (r < 0) {
		pthread_mutex_unlock(&srv->lock);
		conn_unref(c);
		return r;
	}
	c->refused = r == 1;
	srv->conns[fd] = c;
	if (c->refused)
		srv->nrefused++;
	else
		srv->nlive++;
	if (++srv->accepts % CONN_SWEEP_EVERY == 0)
		conns_sweep_locked(srv);
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

/* The record of the connection a call came on, with a ref; see the header comment. */
static int conn_of_call(struct rpc_server *srv, grpc_call *call, struct rpc_conn **ret)
{
	char *peer = grpc_call_get_peer(call);
	struct rpc_conn *c = NULL;
	struct ucred cred;
	uint64_t cookie;
	char *end;
	long fd;
	int r = -ENOTCONN;

	if (!peer || strncmp(peer, "fd:", 3) != 0)
		goto out;
	errno = 0;
	fd = strtol(peer + 3, &end, 10);
	if (errno || *end || end == peer + 3 || fd < 0)
		goto out;

	pthread_mutex_lock(&srv->lock);
	if ((size_t)fd < srv->nconns)
		c = srv->conns[fd];
	if (c && sock_cookie((int)fd, &cookie) == 0 && cookie == c->cookie &&
	    sock_cred((int)fd, &cred) == 0 && cred.pid == c->cred.pid && cred.uid == c->cred.uid &&
	    cred.gid == c->cred.gid) {
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
		*ret = c;
		r = 0;
	}
	pthread_mutex_unlock(&srv->lock);
out:
	if (r)
		log_warn("\"rpc: cannot attribute call to a connection\" peer=%s",
			 peer ? peer : "?");
	gpr_free(peer);
	return r;
}

/* ---- calls ---- */

static void call_batch_done(struct rpc_tag *tag, bool ok);
static void call_close_done(struct rpc_tag *tag, bool ok);

static void call_free(struct rpc_call *c)
{
	struct rpc_server *srv = c->srv;
	struct rpc_msg *m;

	while ((m = c->head)) {
		c->head = m->next;
		grpc_byte_buffer_destroy(m->bb);
		free(m);
	}
	if (c->inflight)
		grpc_byte_buffer_destroy(c->inflight);
	grpc_slice_unref(c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->call)
		grpc_call_unref(c->call);
	conn_unref(c->conn);
	pthread_mutex_destroy(&c->lock);
	free(c);

	pthread_mutex_lock(&srv->lock);
	srv->live_calls--;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

static void call_ref(struct rpc_call *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

static void call_unref(struct rpc_call *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		call_free(c);
}

/*
 * Starts the next batch if none is in flight: initial metadata if not yet
 * sent, the next queued message, and the status once the handler finished
 * and nothing else is queued.  Under c->lock.
 */
static void call_kick_locked(struct rpc_call *c)
{
	grpc_op ops[3], *op = ops;
	struct rpc_msg *m;
	grpc_call_error e;

	if (c->batch_inflight || c->ended || c->broken || c->status_sent)
		return;
	memset(ops, 0, sizeof(ops));
	if (!c->md_sent) {
		op->op = GRPC_OP_SEND_INITIAL_METADATA;
		op++;
	}
	if ((m = c->head)) {
		c->head = m->next;
		if (!c->head)
			c->tail = &c->head;
		c->inflight = m->bb;
		free(m);
		op->op = GRPC_OP_SEND_MESSAGE;
		op->data.send_message.send_message = c->inflight;
		op++;
	}
	if (c->finished && !c->head) {
		op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		op->data.send_status_from_server.status = c->code;
		op->data.send_status_from_server.status_details = &c->details;
		op++;
	}
	if (op == ops)
		return;
	call_ref(c);
	e = grpc_call_start_batch(c->call, ops, (size_t)(op - ops), &c->batch_tag, NULL);
	if (e != GRPC_CALL_OK) {
		log_warn("\"rpc: start_batch failed\" method=%s error=\"%s\"",
			 c->method ? c->method->path : "?", grpc_call_error_to_string(e));
		c->broken = true;
		if (c->inflight) {
			grpc_byte_buffer_destroy(c->inflight);
			c->inflight = NULL;
		}
		/* Dropping the ref we just took cannot free: the caller holds one. */
		__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
		return;
	}
	c->batch_inflight = true;
	c->md_sent = true;
	if (c->finished && !c->head)
		c->status_sent = true;
}

static void call_batch_done(struct rpc_tag *tag, bool ok)
{
	struct rpc_call *c =
	    (struct rpc_call *)((char *)tag - offsetof(struct rpc_call, batch_tag));

	pthread_mutex_lock(&c->lock);
	c->batch_inflight = false;
	if (c->inflight) {
		grpc_byte_buffer_destroy(c->inflight);
		c->inflight = NULL;
	}
	/* A failed batch means a dead call; RECV_CLOSE_ON_SERVER will say so. */
	if (!ok)
		c->broken = true;
	else
		call_kick_locked(c);
	pthread_mutex_unlock(&c->lock);
	call_unref(c);
}

static void call_close_done(struct rpc_tag *tag, bool ok)
{
	struct rpc_call *c =
	    (struct rpc_call *)((char *)tag - offsetof(struct rpc_call, close_tag));
	void (*fn)(struct rpc_call *, void *) = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&c->lock);
	c->ended = true;
	if (c->close_cancelled || !ok || !c->status_sent) {
		c->cancelled = true;
		if (!c->finished && !c->cancel_fired && c->on_cancel) {
			c->cancel_fired = true;
			fn = c->on_cancel;
			arg = c->on_cancel_arg;
		}
	}
	pthread_mutex_unlock(&c->lock);
	/* The close ref keeps c alive through fn, which may finish the call. */
	if (fn)
		fn(c, arg);
	call_unref(c);
}

static struct rpc_call *call_new(struct rpc_server *srv, const struct rpc_method *method,
				 grpc_call *gcall, grpc_metadata_array *md)
{
	struct rpc_call *c = calloc(1, sizeof(*c));
	grpc_op op;

	if (!c) {
		grpc_call_cancel_with_status(gcall, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory",
					     NULL);
		grpc_call_unref(gcall);
		grpc_metadata_array_destroy(md);
		return NULL;
	}
	c->srv = srv;
	c->method = method;
	c->call = gcall;
	c->md = *md;
	grpc_metadata_array_init(md);
	c->tail = &c->head;
	c->details = grpc_empty_slice();
	c->peer.pidfd = -1;
	c->peer.fd = -1;
	c->batch_tag.fn = call_batch_done;
	c->close_tag.fn = call_close_done;
	pthread_mutex_init(&c->lock, NULL);
	c->refs = 1; /* the handler's */

	pthread_mutex_lock(&srv->lock);
	srv->live_calls++;
	pthread_mutex_unlock(&srv->lock);

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->close_cancelled;
	call_ref(c);
	if (grpc_call_start_batch(gcall, &op, 1, &c->close_tag, NULL) != GRPC_CALL_OK) {
		/* Without it we would never learn the call ended; treat it as gone. */
		c->ended = c->cancelled = true;
		call_unref(c);
	}
	return c;
}

/* Reads the whole payload; -EMSGSIZE over the cap (gRPC's own cap should have caught it). */
static int payload_read(grpc_byte_buffer *bb, size_t max, grpc_slice *ret)
{
	grpc_byte_buffer_reader rd;

	if (grpc_byte_buffer_length(bb) > max)
		return -EMSGSIZE;
	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return -EINVAL;
	*ret = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	return 0;
}

/* A request over max_request_bytes: one log line per 5 s, the rest counted. */
static void log_oversized(struct rpc_server *srv, struct rpc_call *c, size_t len)
{
	time_t now = time(NULL);
	unsigned suppressed = 0;
	bool log;

	pthread_mutex_lock(&srv->lock);
	log = now >= srv->oversize_logged + 5;
	if (log) {
		suppressed = srv->oversize_suppressed;
		srv->oversize_logged = now;
		srv->oversize_suppressed = 0;
	} else {
		srv->oversize_suppressed++;
	}
	pthread_mutex_unlock(&srv->lock);
	if (log)
		log_warn("\"rpc: request over the size limit; answered RESOURCE_EXHAUSTED\" "
			 "socket=%s method=%s pid=%d uid=%u bytes=%zu max_request_bytes=%zu "
			 "suppressed=%u",
			 srv->path, c->method ? c->method->path : "?", (int)c->peer.pid,
			 (unsigned)c->peer.uid, len, srv->opts.max_request_bytes, suppressed);
}

static void call_dispatch(struct rpc_server *srv, const struct rpc_method *m, grpc_call *gcall,
			  grpc_metadata_array *md, grpc_byte_buffer *payload)
{
	struct rpc_call *c = call_new(srv, m, gcall, md);
	ProtobufCMessage *req;
	grpc_status_code code;
	char msg[256] = "";
	grpc_slice data;
	int r;

	if (!c)
		goto out;
	if (!m) {
		rpc_call_finish(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
		goto out;
	}
	r = conn_of_call(srv, gcall, &c->conn);
	if (r) {
		rpc_call_finish(c, GRPC_STATUS_UNAVAILABLE, "cannot identify the caller");
		goto out;
	}
	c->peer = (struct rpc_peer){
	    .pid = c->conn->cred.pid,
	    .uid = c->conn->cred.uid,
	    .gid = c->conn->cred.gid,
	    .pidfd = c->conn->pidfd,
	    .fd = c->conn->fd,
	    .cookie = c->conn->cookie,
	    .pidfd_at_accept = c->conn->pidfd_at_accept,
	    .accept_ns = c->conn->accept_ns,
	};
	if (c->conn->refused) {
		rpc_call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
				"too many connections to this server (uid %u)",
				(unsigned)c->peer.uid);
		goto out;
	}
	if (srv->opts.check) {
		code = srv->opts.check(c, srv->opts.arg, msg, sizeof(msg));
		if (code != GRPC_STATUS_OK) {
			rpc_call_finish(c, code, "%s", msg);
			goto out;
		}
	}
	if (!payload) {
		rpc_call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "missing request message");
		goto out;
	}
	r = payload_read(payload, srv->opts.max_request_bytes, &data);
	if (r == -EMSGSIZE)
		log_oversized(srv, c, grpc_byte_buffer_length(payload));
	if (r) {
		rpc_call_finish(c,
				r == -EMSGSIZE ? GRPC_STATUS_RESOURCE_EXHAUSTED
					       : GRPC_STATUS_INVALID_ARGUMENT,
				"cannot read request: %s", strerror(-r));
		goto out;
	}
	req = protobuf_c_message_unpack(m->request, NULL, GRPC_SLICE_LENGTH(data),
					GRPC_SLICE_START_PTR(data));
	grpc_slice_unref(data);
	if (!req) {
		rpc_call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "cannot parse request as %s",
				m->request->name);
		goto out;
	}
	m->handler(c, req, srv->opts.arg);
	protobuf_c_message_free_unpacked(req, NULL);
out:
	if (payload)
		grpc_byte_buffer_destroy(payload);
}

/* ---- standing requests ---- */

static void slot_done(struct rpc_tag *tag, bool ok);

/* Under srv->lock. */
static void slot_post_locked(struct rpc_slot *s)
{
	struct rpc_server *srv = s->srv;
	grpc_call_error e;

	if (srv->stopping)
		return;
	s->call = NULL;
	s->payload = NULL;
	grpc_metadata_array_init(&s->md);
	if (s->method) {
		e = grpc_server_request_registered_call(srv->server, s->handle, &s->call,
							&s->deadline, &s->md, &s->payload, srv->cq,
							srv->cq, &s->tag);
	} else {
		grpc_call_details_init(&s->details);
		e = grpc_server_request_call(srv->server, &s->call, &s->details, &s->md, srv->cq,
					     srv->cq, &s->tag);
	}
	if (e != GRPC_CALL_OK) {
		log_error("\"rpc: cannot request calls\" method=%s error=\"%s\"",
			  s->method ? s->method->path : "*", grpc_call_error_to_string(e));
		grpc_metadata_array_destroy(&s->md);
		if (!s->method)
			grpc_call_details_destroy(&s->details);
		return;
	}
	srv->pending_slots++;
}

static void slot_done(struct rpc_tag *tag, bool ok)
{
	struct rpc_slot *s = (struct rpc_slot *)tag;
	struct rpc_server *srv = s->srv;
	grpc_metadata_array md = s->md;
	grpc_byte_buffer *payload = s->payload;
	grpc_call *call = s->call;

	if (!s->method)
		grpc_call_details_destroy(&s->details);
	pthread_mutex_lock(&srv->lock);
	srv->pending_slots--;
	/* Ask for the next call first, so that a slow handler does not stall new ones. */
	if (ok)
		slot_post_locked(s);
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);

	if (!ok || !call) {
		/* Server shutdown: no call was made. */
		grpc_metadata_array_destroy(&md);
		if (payload)
			grpc_byte_buffer_destroy(payload);
		return;
	}
	call_dispatch(srv, s->method, call, &md, payload);
	grpc_metadata_array_destroy(&md);
}

static void shutdown_done(struct rpc_tag *tag, bool ok)
{
	struct rpc_server *srv =
	    (struct rpc_server *)((char *)tag - offsetof(struct rpc_server, shutdown_tag));

	pthread_mutex_lock(&srv->lock);
	srv->shutdown_done = true;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

static void *cq_thread(void *arg)
{
	struct rpc_server *srv = arg;

	for (;;) {
		grpc_event ev =
		    grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			((struct rpc_tag *)ev.tag)->fn(ev.tag, ev.success);
	}
	return NULL;
}

/* ---- the socket ---- */

static int mkdir_parents(const char *path)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

static int sockaddr_of(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* 0 if nothing is at path (a stale socket is removed), -EADDRINUSE if a server answers. */
static int socket_clear(const char *path)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	struct stat st;
	int r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST; /* never delete what is not a socket */
	r = sockaddr_of(path, &sa);
	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN)
		return -EADDRINUSE; /* EAGAIN: listening, backlog full */
	if (errno != ECONNREFUSED)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * Binds under a temporary name, sets the mode, listens, then link()s it to
 * path: the socket appears at its public path already with its final mode,
 * and link() fails with EEXIST if another server raced us there.
 */
static int socket_create(struct rpc_server *srv)
{
	const char *path = srv->path;
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	struct stat st;
	int r;

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	r = sockaddr_of(tmp, &sa);
	if (r)
		return r;
	r = mkdir_parents(path);
	if (r)
		return r;
	r = socket_clear(path);
	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (chmod(tmp, srv->opts.mode) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	if (link(tmp, path) < 0) {
		if (errno == EEXIST)
			errno = EADDRINUSE;
		goto fail;
	}
	(void)unlink(tmp);
	if (stat(path, &st) < 0)
		return -errno;
	srv->sock_dev = st.st_dev;
	srv->sock_ino = st.st_ino;
	srv->listen_fd = TAKE_FD(fd);
	return 0;
fail:
	r = -errno;
	(void)unlink(tmp);
	return r;
}

/* Removes the socket file if it is still ours (not one a later server put there). */
static void socket_remove(struct rpc_server *srv)
{
	struct stat st;

	if (srv->sock_ino && lstat(srv->path, &st) == 0 && st.st_dev == srv->sock_dev &&
	    st.st_ino == srv->sock_ino)
		(void)unlink(srv->path);
}

static void *accept_thread(void *arg)
{
	struct rpc_server *srv = arg;
	struct pollfd pfd[2] = {
	    {.fd = srv->listen_fd, .events = POLLIN},
	    {.fd = srv->wake_fd, .events = POLLIN},
	};

	for (;;) {
		struct timespec ts;
		int fd, r;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("\"rpc: poll failed\" socket=%s error=\"%s\"", srv->path,
				  strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				continue;
			log_warn("\"rpc: accept failed\" socket=%s error=\"%s\"", srv->path,
				 strerror(errno));
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				poll(NULL, 0, 100); /* let fds or memory free up */
			continue;
		}
		/* After accept() returned, so after the peer's connect(): see rpc_peer. */
		clock_gettime(CLOCK_BOOTTIME, &ts);
		r = conn_register(srv, fd, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
		if (r == -ECONNREFUSED) {
			close(fd); /* over a connection limit; logged there */
			continue;
		}
		if (r) {
			log_warn("\"rpc: cannot read peer of connection\" socket=%s error=\"%s\"",
				 srv->path, strerror(-r));
			close(fd);
			continue;
		}
		/* gRPC owns fd from here and closes it when the transport dies. */
		grpc_server_add_channel_from_fd(srv->server, fd, srv->creds);
	}
	return NULL;
}

/* ---- server ---- */

int rpc_server_start(const struct rpc_server_opts *opts, const struct rpc_method *methods,
		     size_t nmethods, struct rpc_server **ret)
{
	struct rpc_server *srv;
	grpc_arg arg;
	grpc_channel_args args;
	int r;

	if (!opts || !opts->socket_path || (!methods && nmethods))
		return -EINVAL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->opts = *opts;
	if (!srv->opts.max_request_bytes)
		srv->opts.max_request_bytes = RPC_DEFAULT_MAX_REQUEST;
	if (srv->opts.max_request_bytes > INT32_MAX)
		srv->opts.max_request_bytes = INT32_MAX;
	srv->methods = methods;
	srv->nmethods = nmethods;
	srv->listen_fd = srv->wake_fd = -1;
	srv->pidfd_fallback = getenv(RPC_ENV_PIDFD_FALLBACK) &&
			      strcmp(getenv(RPC_ENV_PIDFD_FALLBACK), "1") == 0;
	if (srv->pidfd_fallback)
		log_warn("\"rpc: SO_PEERPIDFD not used (test setting %s=1)\" socket=%s",
			 RPC_ENV_PIDFD_FALLBACK, opts->socket_path);
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->cond, NULL);
	srv->shutdown_tag.fn = shutdown_done;
	srv->path = strdup(opts->socket_path);
	srv->slots = calloc(nmethods + 1, sizeof(*srv->slots));
	if (!srv->path || !srv->slots) {
		r = -ENOMEM;
		goto fail_early;
	}
	r = socket_create(srv);
	if (r)
		goto fail_early;
	srv->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (srv->wake_fd < 0) {
		r = -errno;
		goto fail_early;
	}

	grpc_init();
	/*
	 * Applies to channels from fds too: gRPC refuses bigger messages with
	 * RESOURCE_EXHAUSTED.  Its ceiling is twice ours, so that a request a
	 * little over the limit reaches payload_read(), which refuses it the
	 * same way and logs it (a client that needs a bigger limit is told in
	 * the log); a huge one never gets buffered.
	 */
	arg = (grpc_arg){.type = GRPC_ARG_INTEGER,
			 .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			 .value.integer = srv->opts.max_request_bytes > INT32_MAX / 2
					      ? INT32_MAX
					      : (int)(2 * srv->opts.max_request_bytes)};
	args = (grpc_channel_args){.num_args = 1, .args = &arg};
	srv->server = grpc_server_create(&args, NULL);
	srv->cq = grpc_completion_queue_create_for_next(NULL);
	srv->creds = grpc_insecure_server_credentials_create();
	grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
	for (size_t i = 0; i < nmethods; i++) {
		struct rpc_slot *s = &srv->slots[i];

		s->method = &methods[i];
		s->handle =
		    grpc_server_register_method(srv->server, methods[i].path, NULL,
						GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		if (!s->handle || !methods[i].request || !methods[i].handler) {
			r = -EINVAL;
			log_error("\"rpc: cannot register\" method=%s", methods[i].path);
			goto fail_grpc;
		}
	}
	for (size_t i = 0; i <= nmethods; i++) {
		srv->slots[i].tag.fn = slot_done;
		srv->slots[i].srv = srv;
	}
	grpc_server_start(srv->server);

	pthread_mutex_lock(&srv->lock);
	for (size_t i = 0; i <= nmethods; i++)
		slot_post_locked(&srv->slots[i]);
	pthread_mutex_unlock(&srv->lock);

	r = -pthread_create(&srv->cq_thread, NULL, cq_thread, srv);
	if (r)
		goto fail_started;
	srv->cq_started = true;
	r = -pthread_create(&srv->accept_thread, NULL, accept_thread, srv);
	if (r)
		goto fail_started;
	srv->accept_started = true;
	*ret = srv;
	return 0;

fail_started:
	rpc_server_stop(srv);
	return r;
fail_grpc:
	/* Never started: no calls, nothing to drain. */
	grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
	grpc_completion_queue_shutdown(srv->cq);
	while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_server_destroy(srv->server);
	grpc_completion_queue_destroy(srv->cq);
	grpc_server_credentials_release(srv->creds);
	grpc_shutdown();
fail_early:
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		socket_remove(srv);
	}
	if (srv->wake_fd >= 0)
		close(srv->wake_fd);
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	free(srv->slots);
	free(srv->path);
	free(srv);
	return r;
}

void rpc_server_stop(struct rpc_server *srv)
{
	uint64_t one = 1;

	if (!srv)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	pthread_mutex_unlock(&srv->lock);

	/* No new connections: the accept thread must be gone before the server shuts down. */
	if (srv->accept_started) {
		if (write(srv->wake_fd, &one, sizeof(one)) < 0)
			log_warn("\"rpc: cannot wake accept thread\" error=\"%s\"",
				 strerror(errno));
		pthread_join(srv->accept_thread, NULL);
	}
	close(srv->listen_fd);
	close(srv->wake_fd);
	socket_remove(srv);

	grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
	grpc_server_cancel_all_calls(srv->server);
	if (srv->cq_started) {
		pthread_mutex_lock(&srv->lock);
		while (!srv->shutdown_done || srv->live_calls || srv->pending_slots)
			pthread_cond_wait(&srv->cond, &srv->lock);
		pthread_mutex_unlock(&srv->lock);
		grpc_completion_queue_shutdown(srv->cq);
		pthread_join(srv->cq_thread, NULL);
	} else {
		grpc_completion_queue_shutdown(srv->cq);
		cq_thread(srv);
	}
	grpc_server_destroy(srv->server);
	grpc_completion_queue_destroy(srv->cq);
	grpc_server_credentials_release(srv->creds);
	grpc_shutdown();

	for (size_t i = 0; i < srv->nconns; i++)
		conn_unref(srv->conns[i]);
	free(srv->conns);
	pthread_cond_destroy(&srv->cond);
	pthread_mutex_destroy(&srv->lock);
	free(srv->slots);
	free(srv->path);
	free(srv);
}

/* ---- the handler's side of a call ---- */

const struct rpc_peer *rpc_call_peer(const struct rpc_call *call)
{
	return &call->peer;
}

const struct rpc_method *rpc_call_method(const struct rpc_call *call)
{
	return call->method;
}

int rpc_call_metadata(const struct rpc_call *call, const char *key, char *buf, size_t len)
{
	for (size_t i = 0; i < call->md.count; i++) {
		const grpc_metadata *md = &call->md.metadata[i];
		size_t n = GRPC_SLICE_LENGTH(md->value);

		if (grpc_slice_str_cmp(md->key, key) != 0)
			continue;
		if (n >= len)
			return -ENOSPC;
		memcpy(buf, GRPC_SLICE_START_PTR(md->value), n);
		buf[n] = '\0';
		return 0;
	}
	return -ENOENT;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	grpc_slice s = grpc_slice_malloc(n);
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

/* Under c->lock. */
static int call_queue_locked(struct rpc_call *c, grpc_byte_buffer *bb)
{
	struct rpc_msg *m;

	if (c->finished || (c->method && c->method->kind == RPC_UNARY && c->nsent))
		return -EINVAL;
	if (c->ended || c->broken)
		return -ECANCELED;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->bb = bb;
	m->next = NULL;
	*c->tail = m;
	c->tail = &m->next;
	c->nsent++;
	return 0;
}

int rpc_call_send(struct rpc_call *c, const ProtobufCMessage *msg)
{
	grpc_byte_buffer *bb = pack(msg);
	int r;

	if (!bb)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	r = call_queue_locked(c, bb);
	if (!r)
		call_kick_locked(c);
	pthread_mutex_unlock(&c->lock);
	if (r)
		grpc_byte_buffer_destroy(bb);
	return r;
}

/* Under c->lock. */
static void call_finish_locked(struct rpc_call *c, grpc_status_code code, const char *fmt,
			       va_list ap)
{
	char buf[512];

	c->finished = true;
	c->code = code;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	grpc_slice_unref(c->details);
	c->details = grpc_slice_from_copied_string(buf);
	call_kick_locked(c);
}

static void call_finish(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void call_finish(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	call_finish_locked(c, code, fmt, ap);
	va_end(ap);
}

void rpc_call_finish(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->lock);
	if (c->finished) {
		pthread_mutex_unlock(&c->lock);
		log_error("\"rpc: call finished twice\" method=%s",
			  c->method ? c->method->path : "?");
		return;
	}
	va_start(ap, fmt);
	call_finish_locked(c, code, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&c->lock);
	call_unref(c);
}

void rpc_call_reply(struct rpc_call *c, const ProtobufCMessage *msg)
{
	grpc_byte_buffer *bb = pack(msg);
	int r = bb ? 0 : -ENOMEM;

	/* Message and status under one lock: they go out in one batch. */
	pthread_mutex_lock(&c->lock);
	if (c->finished) {
		pthread_mutex_unlock(&c->lock);
		if (bb)
			grpc_byte_buffer_destroy(bb);
		log_error("\"rpc: call finished twice\" method=%s",
			  c->method ? c->method->path : "?");
		return;
	}
	if (!r)
		r = call_queue_locked(c, bb);
	if (r) {
		if (bb)
			grpc_byte_buffer_destroy(bb);
		call_finish(c, GRPC_STATUS_INTERNAL, "cannot send response: %s", strerror(-r));
	} else {
		call_finish(c, GRPC_STATUS_OK, "%s", "");
	}
	pthread_mutex_unlock(&c->lock);
	call_unref(c);
}

bool rpc_call_cancelled(const struct rpc_call *call)
{
	struct rpc_call *c = (struct rpc_call *)call;
	bool r;

	pthread_mutex_lock(&c->lock);
	r = c->cancelled || c->broken;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void rpc_call_on_cancel(struct rpc_call *c, void (*fn)(struct rpc_call *call, void *arg), void *arg)
{
	bool now = false;

	pthread_mutex_lock(&c->lock);
	c->on_cancel = fn;
	c->on_cancel_arg = arg;
	if (c->cancelled && !c->finished && !c->cancel_fired && fn) {
		c->cancel_fired = true;
		now = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (now)
		fn(c, arg);
}
