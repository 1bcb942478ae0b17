// SPDX-License-Identifier: Apache-2.0
/*
 * gRPC C-core client over a unix socket.  We connect() ourselves and give
 * the connected fd to gRPC (grpc_channel_create_from_fd): the caller gets
 * connect()'s errno for a missing daemon instead of a generic UNAVAILABLE
 * after a retry loop, and there is exactly one connection, the one checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include "cleanup.h"
#include "rpc_client.h"

/* Responses can be big (ListProcesses on a busy host); requests are ours. */
#define CLIENT_MAX_RECV (256 * 1024 * 1024)

struct rpc_client {
	grpc_channel *channel;
	int timeout_ms;
	size_t nmd;
	grpc_metadata *md;
};

int rpc_client_connect(const char *path, struct rpc_client **ret)
{
	_cleanup_close_ int fd = -1;
	grpc_channel_credentials *creds;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct rpc_client *c;
	grpc_arg arg;
	grpc_channel_args args;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	/* gRPC's endpoint expects a non-blocking fd. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->timeout_ms = RPC_CLIENT_DEFAULT_TIMEOUT_MS;

	grpc_init();
	arg = (grpc_arg){.type = GRPC_ARG_INTEGER,
			 .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			 .value.integer = CLIENT_MAX_RECV};
	args = (grpc_channel_args){.num_args = 1, .args = &arg};
	creds = grpc_insecure_credentials_create();
	/* The channel owns fd from here. */
	c->channel = grpc_channel_create_from_fd("localhost", TAKE_FD(fd), creds, &args);
	grpc_channel_credentials_release(creds);
	if (!c->channel) {
		grpc_shutdown();
		free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

void rpc_client_free(struct rpc_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nmd; i++) {
		grpc_slice_unref(c->md[i].key);
		grpc_slice_unref(c->md[i].value);
	}
	free(c->md);
	grpc_channel_destroy(c->channel);
	grpc_shutdown();
	free(c);
}

void rpc_client_set_timeout(struct rpc_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int rpc_client_add_metadata(struct rpc_client *c, const char *key, const char *value)
{
	grpc_metadata *md = realloc(c->md, (c->nmd + 1) * sizeof(*md));

	if (!md)
		return -ENOMEM;
	c->md = md;
	memset(&md[c->nmd], 0, sizeof(*md));
	md[c->nmd].key = grpc_slice_from_copied_string(key);
	md[c->nmd].value = grpc_slice_from_copied_string(value);
	c->nmd++;
	return 0;
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

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *type, grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader rd;
	ProtobufCMessage *msg;
	grpc_slice s;

	if (!grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	msg = protobuf_c_message_unpack(type, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return msg;
}

/* Runs one batch on a pluck queue and waits for it; gRPC enforces the call's deadline. */
static bool run_batch(grpc_call *call, grpc_completion_queue *cq, const grpc_op *ops, size_t n,
		      void *tag)
{
	grpc_event ev;

	if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return false;
	ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/*
 * The call itself.  on_msg gets each response and returns 0 to go on, > 0
 * to stop (cancel).  unary: one batch for everything, as on the wire.
 */
static int do_call(struct rpc_client *c, const char *method, grpc_byte_buffer *req, bool unary,
		   int (*on_msg)(grpc_byte_buffer *bb, void *arg), void *arg, struct rpc_status *st)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_metadata_array init_md, trail_md;
	grpc_byte_buffer *resp = NULL;
	grpc_slice details = grpc_empty_slice();
	gpr_timespec deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
	grpc_slice mslice = grpc_slice_from_copied_string(method);
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_op ops[6], *op;
	grpc_call *call;
	int tag = 0, r = 0;

	if (c->timeout_ms > 0)
		deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trail_md);
	call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice, NULL,
					deadline, NULL);
	grpc_slice_unref(mslice);
	if (!call) {
		r = -ENOMEM;
		goto out;
	}

	memset(ops, 0, sizeof(ops));
	op = ops;
	op->op = GRPC_OP_SEND_INITIAL_METADATA;
	op->data.send_initial_metadata.count = c->nmd;
	op->data.send_initial_metadata.metadata = c->md;
	op++;
	op->op = GRPC_OP_SEND_MESSAGE;
	op->data.send_message.send_message = req;
	op++;
	op->op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	op++;
	op->op = GRPC_OP_RECV_INITIAL_METADATA;
	op->data.recv_initial_metadata.recv_initial_metadata = &init_md;
	op++;
	if (unary) {
		op->op = GRPC_OP_RECV_MESSAGE;
		op->data.recv_message.recv_message = &resp;
		op++;
		op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		op->data.recv_status_on_client.trailing_metadata = &trail_md;
		op->data.recv_status_on_client.status = &code;
		op->data.recv_status_on_client.status_details = &details;
		op++;
		if (!run_batch(call, cq, ops, (size_t)(op - ops), &tag)) {
			r = -EIO;
			goto out;
		}
		if (code == GRPC_STATUS_OK && resp && on_msg(resp, arg) < 0) {
			code = GRPC_STATUS_INTERNAL;
			grpc_slice_unref(details);
			details = grpc_slice_from_static_string("cannot parse response");
		} else if (code == GRPC_STATUS_OK && !resp) {
			code = GRPC_STATUS_INTERNAL;
			grpc_slice_unref(details);
			details = grpc_slice_from_static_string("no response message");
		}
		goto status;
	}

	/* Stream: a failed first batch still ends with a status, which says why. */
	if (run_batch(call, cq, ops, (size_t)(op - ops), &tag)) {
		for (;;) {
			int m;

			memset(ops, 0, sizeof(ops));
			ops[0].op = GRPC_OP_RECV_MESSAGE;
			ops[0].data.recv_message.recv_message = &resp;
			if (!run_batch(call, cq, ops, 1, &tag) || !resp)
				break;
			m = on_msg(resp, arg);
			grpc_byte_buffer_destroy(resp);
			resp = NULL;
			if (m) {
				grpc_call_cancel(call, NULL);
				break;
			}
		}
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[0].data.recv_status_on_client.trailing_metadata = &trail_md;
	ops[0].data.recv_status_on_client.status = &code;
	ops[0].data.recv_status_on_client.status_details = &details;
	if (!run_batch(call, cq, ops, 1, &tag)) {
		r = -EIO;
		goto out;
	}
status:
	st->code = code;
	{
		size_t n = GRPC_SLICE_LENGTH(details);

		if (n >= sizeof(st->message))
			n = sizeof(st->message) - 1;
		memcpy(st->message, GRPC_SLICE_START_PTR(details), n);
		st->message[n] = '\0';
	}
out:
	if (resp)
		grpc_byte_buffer_destroy(resp);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trail_md);
	if (call)
		grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	while (
	    grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	    GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	return r;
}

struct unary_ctx {
	const ProtobufCMessageDescriptor *type;
	ProtobufCMessage *msg;
};

static int unary_msg(grpc_byte_buffer *bb, void *arg)
{
	struct unary_ctx *u = arg;

	if (!u->type)
		return 0;
	u->msg = unpack(u->type, bb);
	return u->msg ? 0 : -1;
}

int rpc_client_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_type, ProtobufCMessage **ret_resp,
		    struct rpc_status *st)
{
	struct unary_ctx u = {.type = ret_resp ? resp_type : NULL};
	grpc_byte_buffer *bb = pack(req);
	int r;

	r = do_call(c, method, bb, true, unary_msg, &u, st);
	grpc_byte_buffer_destroy(bb);
	if (!r && st->code == GRPC_STATUS_OK && ret_resp) {
		*ret_resp = u.msg;
		u.msg = NULL;
	}
	if (u.msg)
		protobuf_c_message_free_unpacked(u.msg, NULL);
	return r;
}

int rpc_client_call_raw(struct rpc_client *c, const char *method, const void *req, size_t len,
			struct rpc_status *st)
{
	struct unary_ctx u = {.type = NULL};
	grpc_slice s = grpc_slice_from_copied_buffer(req, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	int r;

	grpc_slice_unref(s);
	r = do_call(c, method, bb, true, unary_msg, &u, st);
	grpc_byte_buffer_destroy(bb);
	return r;
}

struct stream_ctx {
	const ProtobufCMessageDescriptor *type;
	rpc_client_stream_fn fn;
	void *arg;
	bool bad;
};

static int stream_msg(grpc_byte_buffer *bb, void *arg)
{
	struct stream_ctx *s = arg;
	ProtobufCMessage *msg = unpack(s->type, bb);
	int r;

	if (!msg) {
		s->bad = true;
		return 1;
	}
	r = s->fn(msg, s->arg);
	protobuf_c_message_free_unpacked(msg, NULL);
	return r ? 1 : 0;
}

int rpc_client_stream(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_type, rpc_client_stream_fn fn,
		      void *arg, struct rpc_status *st)
{
	struct stream_ctx s = {.type = resp_type, .fn = fn, .arg = arg};
	grpc_byte_buffer *bb = pack(req);
	int r;

	r = do_call(c, method, bb, false, stream_msg, &s, st);
	grpc_byte_buffer_destroy(bb);
	if (!r && s.bad) {
		st->code = GRPC_STATUS_INTERNAL;
		strcpy(st->message, "cannot parse response");
	}
	return r;
}
