/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC client over a unix socket, for attestctl and the tests: connect()
 * first so that a missing or dead daemon is one clear errno, then unary or
 * server-streaming calls with protobuf-c messages and a deadline.
 */
#ifndef ATTESTD_RPC_CLIENT_H
#define ATTESTD_RPC_CLIENT_H

#include <stddef.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

struct rpc_client;

struct rpc_status {
	grpc_status_code code;
	char message[256];
};

#define RPC_CLIENT_DEFAULT_TIMEOUT_MS 5000

/*
 * Connects to the socket at path.  -errno of connect() when nobody serves
 * there (-ENOENT no socket, -ECONNREFUSED stale socket, -EACCES mode).
 */
int rpc_client_connect(const char *path, struct rpc_client **ret);
void rpc_client_free(struct rpc_client *c);
/* Deadline of each call from its start; 0 means none. */
void rpc_client_set_timeout(struct rpc_client *c, int timeout_ms);
/* Sent with every call, e.g. "workload.spiffe.io" "true". */
int rpc_client_add_metadata(struct rpc_client *c, const char *key, const char *value);

/*
 * Unary call of method ("/pkg.Service/Method").  0 when the call completed,
 * whatever its status (in st); then, for status OK and ret_resp non-NULL, the
 * response unpacked as resp_type (free with protobuf_c_message_free_unpacked).
 * A response that does not parse is status INTERNAL.  -errno when the call
 * could not be made at all.
 */
int rpc_client_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_type, ProtobufCMessage **ret_resp,
		    struct rpc_status *st);
/* The same with raw request bytes and no response parsing (tests send garbage with it). */
int rpc_client_call_raw(struct rpc_client *c, const char *method, const void *req, size_t len,
			struct rpc_status *st);

/*
 * Server-streaming call: fn gets each response (freed after fn returns);
 * a non-zero return from fn cancels the call, and the status is then
 * CANCELLED.  Returns as rpc_client_call.
 */
typedef int (*rpc_client_stream_fn)(const ProtobufCMessage *msg, void *arg);
int rpc_client_stream(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_type, rpc_client_stream_fn fn,
		      void *arg, struct rpc_status *st);

#endif
