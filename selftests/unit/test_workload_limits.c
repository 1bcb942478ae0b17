// SPDX-License-Identifier: Apache-2.0
/*
 * The Workload API's limits, each answered RESOURCE_EXHAUSTED: open
 * streams per uid, request size, how long a unary call may wait for a
 * worker, and connections (rpc_server's max_connections_per_uid, with
 * the overflow beyond which connections are closed at accept).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "cleanup.h"
#include "rpc_server.h"
#include "test.h"
#include "test_workload.h"

#define SID "spiffe://example.org/limits"

static int setup(struct wl_fixture *f)
{
	int r = wl_setup(f, true);

	if (!r)
		r = wl_add_entry(f, SID, "unix:uid:4242", NULL, NULL, NULL);
	if (!r)
		r = wl_add_process(f, getpid(), 4242);
	return r;
}

struct holder {
	struct wl_fixture *f;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int msgs;
	struct rpc_status st;
	int r;
};

static int count_msg(const ProtobufCMessage *msg, void *arg)
{
	struct holder *h = arg;

	pthread_mutex_lock(&h->lock);
	h->msgs++;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* Holds a FetchX509SVID stream open for about a second (its deadline). */
static void *hold_stream(void *arg)
{
	struct holder *h = arg;
	X509SVIDRequest req = X509_SVIDREQUEST__INIT;
	struct rpc_client *c;

	h->r = wl_client(h->f, true, &c);
	if (h->r)
		return NULL;
	rpc_client_set_timeout(c, 1200);
	h->r = rpc_client_stream(c, WORKLOAD_METHOD_FETCH_X509_SVID, &req.base,
				 &x509_svidresponse__descriptor, count_msg, h, &h->st);
	rpc_client_free(c);
	return NULL;
}

static bool wait_msgs(struct holder *h, int n)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&h->lock);
	while (h->msgs < n && pthread_cond_timedwait(&h->cond, &h->lock, &until) == 0)
		;
	ok = h->msgs >= n;
	pthread_mutex_unlock(&h->lock);
	return ok;
}

TEST(workload_limit_streams_per_uid)
{
	struct holder h[2];
	pthread_t t[2];
	struct wl_fixture f;
	X509SVIDResponse *x = NULL;
	struct rpc_status st;
	struct workload_stats ws;

	ASSERT_OK(setup(&f));
	f.wopts.max_streams_per_uid = 2;
	ASSERT_OK(wl_start(&f));
	for (int i = 0; i < 2; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].f = &f;
		pthread_mutex_init(&h[i].lock, NULL);
		pthread_cond_init(&h[i].cond, NULL);
		ASSERT_OK(-pthread_create(&t[i], NULL, hold_stream, &h[i]));
	}
	ASSERT_TRUE(wait_msgs(&h[0], 1) && wait_msgs(&h[1], 1));
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	ASSERT_TRUE(strstr(st.message, "too many open streams") != NULL);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ASSERT_EQ(h[i].st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
	}
	/* the held ones ended: room again (the server notices the cancel at once) */
	for (int i = 0; i < 50; i++) {
		ASSERT_OK(wl_fetch_x509(&f, &x, &st));
		if (st.code == GRPC_STATUS_OK)
			break;
		poll(NULL, 0, 20);
	}
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	protobuf_c_message_free_unpacked(&x->base, NULL);
	workload_api_stats(f.api, &ws);
	ASSERT_TRUE(ws.limited >= 1);
	wl_teardown(&f);
}

TEST(workload_limit_request_bytes)
{
	ValidateJWTSVIDRequest req = VALIDATE_JWTSVIDREQUEST__INIT;
	struct wl_fixture f;
	struct rpc_client *c;
	struct rpc_status st;
	char *big = malloc(16384);

	ASSERT_NOT_NULL(big);
	memset(big, 'a', 16383);
	big[16383] = '\0';
	ASSERT_OK(setup(&f));
	f.wopts.max_request_bytes = 4096;
	ASSERT_OK(wl_start(&f));
	req.audience = "x";
	req.svid = big;
	ASSERT_OK(wl_client(&f, true, &c));
	/* far over: gRPC's own ceiling refuses it before it is buffered */
	ASSERT_OK(
	    rpc_client_call(c, WORKLOAD_METHOD_VALIDATE_JWT_SVID, &req.base, NULL, NULL, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	/* a little over: refused (and logged) by rpc_server */
	big[6000] = '\0';
	ASSERT_OK(
	    rpc_client_call(c, WORKLOAD_METHOD_VALIDATE_JWT_SVID, &req.base, NULL, NULL, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	/* the same connection still serves a call that fits */
	big[100] = '\0';
	ASSERT_OK(
	    rpc_client_call(c, WORKLOAD_METHOD_VALIDATE_JWT_SVID, &req.base, NULL, NULL, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT); /* not a token, but read */
	rpc_client_free(c);
	free(big);
	wl_teardown(&f);
}

struct flooder {
	struct wl_fixture *f;
	int ok, exhausted, other;
};

static void *flood(void *arg)
{
	static const char *const aud[] = {"x"};
	struct flooder *fl = arg;
	JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
	struct rpc_client *c;
	struct rpc_status st;

	req.audience = (char **)aud;
	req.n_audience = 1;
	if (wl_client(fl->f, true, &c))
		return NULL;
	for (int i = 0; i < 10; i++) {
		if (rpc_client_call(c, WORKLOAD_METHOD_FETCH_JWT_SVID, &req.base, NULL, NULL,
				    &st)) {
			fl->other++;
			continue;
		}
		if (st.code == GRPC_STATUS_OK)
			fl->ok++;
		else if (st.code == GRPC_STATUS_RESOURCE_EXHAUSTED &&
			 strstr(st.message, "call timeout"))
			fl->exhausted++;
		else
			fl->other++;
	}
	rpc_client_free(c);
	return NULL;
}

/* One worker, a 1 ms budget, 32 callers at once: some wait too long and are told so. */
TEST(workload_limit_call_timeout)
{
	struct flooder fl[32];
	pthread_t t[32];
	struct wl_fixture f;
	int ok = 0, exhausted = 0, other = 0;

	ASSERT_OK(setup(&f));
	f.wopts.workers = 1;
	f.wopts.call_timeout_ms = 1;
	ASSERT_OK(wl_start(&f));
	for (int i = 0; i < 32; i++) {
		fl[i] = (struct flooder){.f = &f};
		ASSERT_OK(-pthread_create(&t[i], NULL, flood, &fl[i]));
	}
	for (int i = 0; i < 32; i++) {
		pthread_join(t[i], NULL);
		ok += fl[i].ok;
		exhausted += fl[i].exhausted;
		other += fl[i].other;
	}
	test_diag("ok %d, over the call timeout %d, other %d", ok, exhausted, other);
	ASSERT_EQ(other, 0);
	ASSERT_GT(exhausted, 0);
	ASSERT_GT(ok, 0);
	wl_teardown(&f);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True if the server has closed fd (EOF now). */
static bool closed_by_server(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char b;

	return poll(&p, 1, 0) == 1 && read(fd, &b, 1) <= 0;
}

/*
 * Connections per uid: over the limit a connection still gets an answer
 * (RESOURCE_EXHAUSTED on every call), up to RPC_CONN_OVERFLOW of them;
 * beyond that they are closed at accept.  Once connections close, there
 * is room again.
 */
TEST(workload_limit_connections_per_uid)
{
	enum { LIMIT = 4, EXTRA = 8 };
	int fds[LIMIT + RPC_CONN_OVERFLOW + EXTRA];
	X509SVIDResponse *x = NULL;
	struct wl_fixture f;
	struct rpc_status st;
	int closed = 0;

	ASSERT_OK(setup(&f));
	f.wopts.max_connections_per_uid = LIMIT;
	ASSERT_OK(wl_start(&f));
	for (int i = 0; i < LIMIT; i++) {
		fds[i] = raw_connect(f.sock);
		ASSERT_TRUE(fds[i] >= 0);
	}
	poll(NULL, 0, 100); /* accepted */
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	ASSERT_TRUE(strstr(st.message, "too many connections") != NULL);
	/* fill the overflow: those beyond it are closed by the server */
	for (int i = LIMIT; i < LIMIT + RPC_CONN_OVERFLOW + EXTRA; i++) {
		fds[i] = raw_connect(f.sock);
		ASSERT_TRUE(fds[i] >= 0);
	}
	poll(NULL, 0, 300); /* all accepted, and closed if they were to be */
	for (int i = LIMIT; i < LIMIT + RPC_CONN_OVERFLOW + EXTRA; i++)
		closed += closed_by_server(fds[i]);
	test_diag("closed at accept: %d of %d over the overflow", closed, EXTRA);
	ASSERT_TRUE(closed >= EXTRA && closed <= EXTRA + 1);
	for (int i = 0; i < LIMIT + RPC_CONN_OVERFLOW + EXTRA; i++)
		close(fds[i]);
	/* room again once the server sweeps the closed ones */
	poll(NULL, 0, RPC_CONN_SWEEP_MS + 50);
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	protobuf_c_message_free_unpacked(&x->base, NULL);
	wl_teardown(&f);
}
