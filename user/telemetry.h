/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What attestd tells the outside about itself: its metric families (one
 * table of names, in telemetry.c), the identity events (each identity
 * released, revoked or refused is logged once, counted, and sent to the
 * admin API's Watch streams), and the /metrics, /live, /ready endpoints.
 *
 * The counters are process-wide (metrics_default()), so the stages that
 * count (Workload API, admin API, the daemon's loop) need no handle; what
 * other objects know (table sizes, the kernel's counters, the SVID cache's
 * mints) is read from them at scrape time (telemetry_start).
 *
 * Identity log lines never carry key material or tokens: pid, uid, exe,
 * SPIFFE ID, entry id, SVID type, method, and for refusals and revocations
 * the reason.  At most TELEMETRY_LOG_BURST lines of a kind go out at once
 * and TELEMETRY_LOG_RATE a second after that; the next line that goes out
 * says how many were left out (suppressed=N).  Counters and watchers see
 * every event.
 */
#ifndef ATTESTD_TELEMETRY_H
#define ATTESTD_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <grpc/status.h>

#define TELEMETRY_LOG_BURST 200
#define TELEMETRY_LOG_RATE 50

struct health;
struct http_server;
struct proctable;
struct registry;
struct svid_cache;
struct tracker;
struct workload_api;

/* "OK", "PERMISSION_DENIED", ...: gRPC's names for the codes. */
const char *telemetry_code_name(grpc_status_code code);
/* "/SpiffeWorkloadAPI/FetchX509SVID" -> "FetchX509SVID" */
const char *telemetry_rpc_name(const char *method_path);

/* ---- counters ---- */

void telemetry_workload_call(const char *method_path, grpc_status_code code);
/* Unary: to the answer; stream: to the first message (or the refusal). */
void telemetry_workload_latency(const char *method_path, double seconds);
void telemetry_admin_call(const char *method_path, grpc_status_code code);
void telemetry_admin_latency(const char *method_path, double seconds);

/* One derivation of a process's identities: did any entry match? */
enum telemetry_attest {
	TELEMETRY_MATCHED,
	TELEMETRY_UNMATCHED,
	TELEMETRY_ATTEST_ERROR,
};
void telemetry_attestation(enum telemetry_attest result);
void telemetry_resync(const char *reason);
/* A store call failed for something other than the caller's input. */
void telemetry_store_error(const char *op);
void telemetry_jwt_minted(void);

/* ---- identity events ---- */

enum identity_kind {
	IDENTITY_RELEASED,
	IDENTITY_REVOKED,
	IDENTITY_REFUSED,
};

struct identity_event {
	enum identity_kind kind;
	pid_t pid;
	uid_t uid;
	const char *exe;       /* NULL: unknown */
	const char *spiffe_id; /* released, revoked */
	const char *entry_id;
	const char *svid_type; /* "x509", "jwt" */
	const char *rpc;       /* a method path or name */
	const char *reason;    /* revoked, refused */
	grpc_status_code code; /* refused */
	int64_t time_ms;       /* set by telemetry_identity */
};

/* Logs (rate-limited), counts and tells the watchers. */
void telemetry_identity(const struct identity_event *ev);

/*
 * Watchers get every event from here on, on the thread that reports it,
 * with ev valid only during the call: fn must not block (queue or send).
 * Returns an id > 0, or -ENOMEM.  After telemetry_unwatch() returns, fn is
 * not running and will not run again.
 */
typedef void (*identity_watch_fn)(void *arg, const struct identity_event *ev);
int telemetry_watch(identity_watch_fn fn, void *arg);
void telemetry_unwatch(int id);

/*
 * What an X.509-SVID stream has released, so that a message that changes
 * nothing (a renewal, a bundle update) logs nothing and a change logs only
 * the difference.  held starts NULL.
 */
struct identity_held;
struct identity_ref {
	const char *entry_id;
	const char *spiffe_id;
};
/* The stream's last message carried refs[0..n): RELEASED for the new ones, REVOKED for the gone. */
void telemetry_stream_held(struct identity_held **held, const struct identity_event *base,
			   const struct identity_ref *refs, size_t n);
/*
 * The stream ended.  With revoke (the process lost its identities, or
 * exited), REVOKED for each it held, with base->reason.  Frees *held.
 */
void telemetry_stream_end(struct identity_held **held, const struct identity_event *base,
			  bool revoke);

/* ---- scrape-time sources and the endpoints ---- */

/* Borrowed until telemetry_stop(); NULL members are left out. */
struct telemetry_sources {
	struct tracker *tracker;
	struct proctable *pt;
	struct registry *registry;
	struct svid_cache *cache;
	struct workload_api *wl;
	struct health *health;
};
int telemetry_start(const struct telemetry_sources *src);
void telemetry_stop(void);

/*
 * Serves GET /metrics, /live and /ready (200 or 503, the reason in the
 * body) on addr (http_server.h).  health may be NULL (then both are 200).
 */
int telemetry_serve(const char *addr, struct health *health, struct http_server **ret, char *err,
		    size_t errlen);

#endif
