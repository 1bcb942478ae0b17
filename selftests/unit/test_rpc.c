// SPDX-License-Identifier: Apache-2.0
/*
 * The gRPC layer and the admin API, over real unix sockets: the admin API
 * with a real process table, the socket's life (mode, in use, stale), bad
 * requests, peer credentials and their attribution to calls, metadata,
 * server streams, cancellation and shutdown.  Callers of another uid are
 * forked before gRPC starts in the parent, since gRPC does not survive fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "cleanup.h"
#include "proctable.h"
#include "proctable_hooks.h"
#include "rpc_client.h"
#include "rpc_server.h"
#include "selectors.h"
#include "test.h"

#define NOBODY 65534

/* ---- fixtures ---- */

struct tmpdir {
	char dir[64];
	char sock[128]; /* dir/run/x.sock: the parent does not exist yet */
};

static int tmpdir_make(struct tmpdir *t)
{
	strcpy(t->dir, "/tmp/attestd-rpc.XXXXXX");
	if (!mkdtemp(t->dir))
		return -errno;
	/* Reachable by the forked nobody callers. */
	if (chmod(t->dir, 0755) < 0)
		return -errno;
	snprintf(t->sock, sizeof(t->sock), "%s/run/x.sock", t->dir);
	return 0;
}

static void tmpdir_remove(struct tmpdir *t)
{
	char sub[96];

	(void)unlink(t->sock);
	snprintf(sub, sizeof(sub), "%s/run", t->dir);
	(void)rmdir(sub);
	(void)rmdir(t->dir);
}

static int match_hook(void *ctx, const char *const *sel, size_t n, struct strv *eids,
		      struct strv *ids)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(sel[i], "unix:uid:4242") == 0) {
			int r = strv_push(eids, "entry-uid4242");

			return r ? r : strv_push(ids, "spiffe://example.org/uid4242");
		}
	return 0;
}

static void state_fill(struct proc_state *st, uint32_t tgid, uint64_t start_ns, uint32_t uid,
		       const char *exe, const char *cgroup)
{
	memset(st, 0, sizeof(*st));
	st->tgid = tgid;
	st->ppid = 1;
	st->start_ns = start_ns;
	st->uid = st->euid = uid;
	st->gid = st->egid = uid + 1;
	st->ngroups = 2;
	st->groups[0] = 10;
	st->groups[1] = 20;
	st->cgroup_id = 777;
	st->pidns_ino = 4026531836u;
	st->mntns_ino = 4026531841u;
	strcpy(st->comm, "fake");
	strcpy(st->exe, exe);
	strcpy(st->cgroup, cgroup);
}

struct admin_fixture {
	struct tmpdir t;
	struct proctable *pt;
	struct admin_api *api;
};

#define PID_A 1111
#define PID_B 2222
#define START_A 5000000000ULL /* 5 s after boot */

/* Starts the admin API on f->t.sock, made already, with two processes. */
static int admin_start(struct admin_fixture *f)
{
	struct proctable_hooks hooks = {.match = match_hook};
	struct admin_deps deps = { 0 };
	struct proc_state st;
	int r;

	r = proctable_new(&f->pt);
	if (r)
		return r;
	proctable_set_hooks(f->pt, &hooks);
	state_fill(&st, PID_A, START_A, 4242, "/usr/bin/fake-a", "/test/a");
	r = proctable_upsert(f->pt, &st);
	if (r)
		return r;
	state_fill(&st, PID_B, 2 * START_A, 0, "/usr/sbin/fake-b", "/test/b");
	r = proctable_upsert(f->pt, &st);
	if (r)
		return r;
	deps.pt = f->pt;
	return admin_api_start(f->t.sock, &deps, &f->api);
}

static int admin_setup(struct admin_fixture *f)
{
	int r;

	memset(f, 0, sizeof(*f));
	r = tmpdir_make(&f->t);
	return r ? r : admin_start(f);
}

static void admin_teardown(struct admin_fixture *f)
{
	admin_api_stop(f->api);
	proctable_free(f->pt);
	tmpdir_remove(&f->t);
}

static bool strv_has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static int attest(const char *sock, int32_t pid, Attestd__Admin__V1__ProcessInfo **ret,
		  struct rpc_status *st)
{
	Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
	struct rpc_client *c;
	int r;

	req.pid = pid;
	r = rpc_client_connect(sock, &c);
	if (r)
		return r;
	r = rpc_client_call(c, ADMIN_METHOD_ATTEST, &req.base,
			    &attestd__admin__v1__process_info__descriptor, (ProtobufCMessage **)ret,
			    st);
	rpc_client_free(c);
	return r;
}

/* ---- the admin API ---- */

TEST(admin_attest_known_pid)
{
	Attestd__Admin__V1__ProcessInfo *pi = NULL;
	struct admin_fixture f;
	struct rpc_status st;

	ASSERT_OK(admin_setup(&f));
	ASSERT_OK(attest(f.t.sock, PID_A, &pi, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_NOT_NULL(pi);
	ASSERT_EQ(pi->pid, PID_A);
	ASSERT_EQ(pi->start_time, proc_ns_to_ticks(START_A));
	ASSERT_GT(pi->start_time, 0);
	ASSERT_EQ(pi->ppid, 1);
	ASSERT_EQ(pi->uid, 4242);
	ASSERT_EQ(pi->euid, 4242);
	ASSERT_EQ(pi->gid, 4243);
	ASSERT_EQ(pi->egid, 4243);
	ASSERT_EQ(pi->n_supplementary_gids, 2);
	ASSERT_EQ(pi->supplementary_gids[1], 20);
	ASSERT_STREQ(pi->exe, "/usr/bin/fake-a");
	ASSERT_STREQ(pi->comm, "fake");
	ASSERT_STREQ(pi->cgroup, "/test/a");
	ASSERT_EQ(pi->cgroup_id, 777);
	ASSERT_EQ(pi->pidns, 4026531836u);
	ASSERT_EQ(pi->mntns, 4026531841u);
	ASSERT_FALSE(pi->exe_truncated);
	ASSERT_TRUE(strv_has(pi->selectors, pi->n_selectors, "unix:uid:4242"));
	ASSERT_TRUE(strv_has(pi->selectors, pi->n_selectors, "unix:path:/usr/bin/fake-a"));
	ASSERT_TRUE(strv_has(pi->selectors, pi->n_selectors, "cgroup:path:/test/a"));
	ASSERT_EQ(pi->n_spiffe_ids, 1);
	ASSERT_STREQ(pi->spiffe_ids[0], "spiffe://example.org/uid4242");
	protobuf_c_message_free_unpacked(&pi->base, NULL);
	admin_teardown(&f);
}

TEST(admin_attest_unknown_pid_not_found)
{
	Attestd__Admin__V1__ProcessInfo *pi = NULL;
	struct admin_fixture f;
	struct rpc_status st;

	ASSERT_OK(admin_setup(&f));
	ASSERT_OK(attest(f.t.sock, 999999, &pi, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_NOT_FOUND);
	ASSERT_STREQ(st.message, "pid 999999 is not tracked");
	ASSERT_TRUE(pi == NULL);
	ASSERT_OK(attest(f.t.sock, -5, &pi, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	admin_teardown(&f);
}

TEST(admin_list_processes)
{
	Attestd__Admin__V1__ListProcessesRequest req =
	    ATTESTD__ADMIN__V1__LIST_PROCESSES_REQUEST__INIT;
	Attestd__Admin__V1__ListProcessesResponse *resp = NULL;
	struct admin_fixture f;
	struct rpc_client *c;
	struct rpc_status st;

	ASSERT_OK(admin_setup(&f));
	ASSERT_OK(rpc_client_connect(f.t.sock, &c));
	ASSERT_OK(rpc_client_call(c, ADMIN_METHOD_LIST_PROCESSES, &req.base,
				  &attestd__admin__v1__list_processes_response__descriptor,
				  (ProtobufCMessage **)&resp, &st));
	rpc_client_free(c);
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_NOT_NULL(resp);
	ASSERT_EQ(resp->n_processes, 2);
	ASSERT_EQ(resp->processes[0]->pid, PID_A);
	ASSERT_EQ(resp->processes[1]->pid, PID_B);
	ASSERT_STREQ(resp->processes[1]->exe, "/usr/sbin/fake-b");
	ASSERT_EQ(resp->processes[1]->start_time, proc_ns_to_ticks(2 * START_A));
	ASSERT_EQ(resp->processes[0]->n_spiffe_ids, 1);
	ASSERT_EQ(resp->processes[1]->n_spiffe_ids, 0);
	ASSERT_TRUE(
	    strv_has(resp->processes[1]->selectors, resp->processes[1]->n_selectors, "unix:uid:0"));
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	admin_teardown(&f);
}

TEST(admin_socket_mode_0600)
{
	struct admin_fixture f;
	struct stat st;
	char parent[96];

	umask(0);
	ASSERT_OK(admin_setup(&f));
	ASSERT_OK(lstat(f.t.sock, &st) ? -errno : 0);
	ASSERT_TRUE(S_ISSOCK(st.st_mode));
	ASSERT_EQ(st.st_mode & 07777, 0600);
	snprintf(parent, sizeof(parent), "%s/run", f.t.dir);
	ASSERT_OK(stat(parent, &st) ? -errno : 0);
	ASSERT_EQ(st.st_mode & 07777, 0755);
	admin_teardown(&f);
	ASSERT_ERR(lstat(f.t.sock, &st) ? -errno : 0, -ENOENT);
}

TEST(admin_second_server_eaddrinuse)
{
	Attestd__Admin__V1__ProcessInfo *pi = NULL;
	struct admin_api *api2 = NULL;
	struct admin_deps deps = { 0 };
	struct admin_fixture f;
	struct rpc_status st;

	ASSERT_OK(admin_setup(&f));
	deps.pt = f.pt;
	ASSERT_ERR(admin_api_start(f.t.sock, &deps, &api2), -EADDRINUSE);
	ASSERT_TRUE(api2 == NULL);
	/* The first server still owns and serves the socket. */
	ASSERT_OK(attest(f.t.sock, PID_A, &pi, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	protobuf_c_message_free_unpacked(&pi->base, NULL);
	admin_teardown(&f);
}

/* A socket file nobody listens on, as a crashed daemon leaves it. */
static int make_stale_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

TEST(admin_stale_socket_replaced)
{
	Attestd__Admin__V1__ProcessInfo *pi = NULL;
	struct admin_api *api = NULL;
	struct proctable *pt;
	struct admin_deps deps = { 0 };
	struct rpc_client *c;
	struct rpc_status st;
	struct tmpdir t;
	char sub[96];

	ASSERT_OK(tmpdir_make(&t));
	snprintf(sub, sizeof(sub), "%s/run", t.dir);
	ASSERT_OK(mkdir(sub, 0755) ? -errno : 0);
	ASSERT_OK(make_stale_socket(t.sock));
	ASSERT_ERR(rpc_client_connect(t.sock, &c), -ECONNREFUSED);
	ASSERT_OK(proctable_new(&pt));
	deps.pt = pt;
	ASSERT_OK(admin_api_start(t.sock, &deps, &api));
	ASSERT_OK(attest(t.sock, 1, &pi, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_NOT_FOUND);
	admin_api_stop(api);
	proctable_free(pt);
	tmpdir_remove(&t);
}

TEST(admin_refuses_to_replace_a_non_socket)
{
	struct admin_api *api = NULL;
	struct proctable *pt;
	struct admin_deps deps = { 0 };
	struct tmpdir t;
	struct stat st;
	char sub[96];
	int fd;

	ASSERT_OK(tmpdir_make(&t));
	snprintf(sub, sizeof(sub), "%s/run", t.dir);
	ASSERT_OK(mkdir(sub, 0755) ? -errno : 0);
	fd = open(t.sock, O_CREAT | O_WRONLY, 0644);
	ASSERT_TRUE(fd >= 0);
	close(fd);
	ASSERT_OK(proctable_new(&pt));
	deps.pt = pt;
	ASSERT_ERR(admin_api_start(t.sock, &deps, &api), -EEXIST);
	ASSERT_OK(lstat(t.sock, &st) ? -errno : 0);
	ASSERT_TRUE(S_ISREG(st.st_mode));
	proctable_free(pt);
	tmpdir_remove(&t);
}

TEST(rpc_garbage_request_invalid_argument)
{
	/* Field 1 as a varint whose bytes run out: no protobuf parser accepts it. */
	static const unsigned char garbage[] = {0x08, 0xff, 0xff};
	Attestd__Admin__V1__ProcessInfo *pi = NULL;
	struct admin_fixture f;
	struct rpc_client *c;
	struct rpc_status st;

	ASSERT_OK(admin_setup(&f));
	ASSERT_OK(rpc_client_connect(f.t.sock, &c));
	ASSERT_OK(rpc_client_call_raw(c, ADMIN_METHOD_ATTEST, garbage, sizeof(garbage), &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_TRUE(strstr(st.message, "cannot parse") != NULL);
	rpc_client_free(c);
	/* And the server lives on. */
	ASSERT_OK(attest(f.t.sock, PID_A, &pi, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(pi->pid, PID_A);
	protobuf_c_message_free_unpacked(&pi->base, NULL);
	admin_teardown(&f);
}

TEST(rpc_oversized_request_refused)
{
	size_t n = ADMIN_MAX_REQUEST_BYTES + 1024;
	struct admin_fixture f;
	struct rpc_client *c;
	struct rpc_status st;
	char *big = calloc(1, n);

	ASSERT_NOT_NULL(big);
	ASSERT_OK(admin_setup(&f));
	ASSERT_OK(rpc_client_connect(f.t.sock, &c));
	ASSERT_OK(rpc_client_call_raw(c, ADMIN_METHOD_ATTEST, big, n, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
	rpc_client_free(c);
	free(big);
	admin_teardown(&f);
}

TEST(rpc_unknown_method_unimplemented)
{
	struct admin_fixture f;
	struct rpc_client *c;
	struct rpc_status st;

	ASSERT_OK(admin_setup(&f));
	ASSERT_OK(rpc_client_connect(f.t.sock, &c));
	ASSERT_OK(rpc_client_call_raw(c, "/attestd.admin.v1.Admin/NoSuch", "", 0, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_UNIMPLEMENTED);
	rpc_client_free(c);
	admin_teardown(&f);
}

TEST(rpc_client_no_daemon)
{
	struct rpc_client *c = NULL;
	struct tmpdir t;

	ASSERT_OK(tmpdir_make(&t));
	ASSERT_ERR(rpc_client_connect(t.sock, &c), -ENOENT);
	ASSERT_TRUE(c == NULL);
	tmpdir_remove(&t);
}

/* ---- callers of another uid ---- */

#define CHILD_EACCES 100
#define CHILD_NOCONN 101
#define CHILD_NOCALL 102

/*
 * Forks a caller that, once released, becomes uid/gid NOBODY and calls
 * Attest on sock; it exits with the status code, or CHILD_*.  Must run
 * before gRPC starts in this process.
 */
static pid_t nobody_caller(const char *sock, int *ret_go)
{
	int p[2];
	pid_t pid;
	char b;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(p[0]);
		*ret_go = p[1];
		return pid;
	}
	close(p[1]);
	if (read(p[0], &b, 1) != 1)
		_exit(CHILD_NOCALL);
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		_exit(CHILD_NOCALL);
	{
		Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
		struct rpc_client *c;
		struct rpc_status st;
		int r;

		req.pid = PID_A;
		r = rpc_client_connect(sock, &c);
		if (r)
			_exit(r == -EACCES ? CHILD_EACCES : CHILD_NOCONN);
		r = rpc_client_call(c, ADMIN_METHOD_ATTEST, &req.base, NULL, NULL, &st);
		rpc_client_free(c);
		_exit(r ? CHILD_NOCALL : (int)st.code);
	}
}

static int child_exit(pid_t pid, int go)
{
	int status;

	if (write(go, "x", 1) != 1)
		return -1;
	close(go);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST(admin_non_root_refused)
{
	struct admin_fixture f;
	int go1, go2;
	pid_t c1, c2;

	if (geteuid() != 0)
		SKIP("needs root to switch to uid %d", NOBODY);
	memset(&f, 0, sizeof(f));
	ASSERT_OK(tmpdir_make(&f.t));
	c1 = nobody_caller(f.t.sock, &go1);
	c2 = nobody_caller(f.t.sock, &go2);
	ASSERT_TRUE(c1 > 0 && c2 > 0);
	ASSERT_OK(admin_start(&f));
	/* The socket's mode keeps nobody out ... */
	ASSERT_EQ(child_exit(c1, go1), CHILD_EACCES);
	/* ... and if the mode were wider, the peer uid check still would. */
	ASSERT_OK(chmod(f.t.sock, 0666) ? -errno : 0);
	ASSERT_EQ(child_exit(c2, go2), GRPC_STATUS_PERMISSION_DENIED);
	admin_teardown(&f);
}

/* ---- the generic layer: peers, metadata, streams ---- */

struct probe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rpc_call *held;
	struct rpc_peer held_peer;
	bool held_cancelled;
	int stream_n;
	int send_after_cancel;
	bool stream_done;
};

static struct probe probe = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

static int probe_wait(bool *flag, int ms)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&probe.lock);
	while (!*flag && r == 0)
		r = pthread_cond_timedwait(&probe.cond, &probe.lock, &ts);
	pthread_mutex_unlock(&probe.lock);
	return *flag ? 0 : -ETIMEDOUT;
}

static void probe_set(bool *flag)
{
	pthread_mutex_lock(&probe.lock);
	*flag = true;
	pthread_cond_broadcast(&probe.cond);
	pthread_mutex_unlock(&probe.lock);
}

/* Who: the caller's identity as the server sees it, and the metadata value. */
static void h_who(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	Attestd__Admin__V1__ProcessInfo resp = ATTESTD__ADMIN__V1__PROCESS_INFO__INIT;
	const struct rpc_peer *p = rpc_call_peer(call);
	char md[64] = "", fdinfo[64];

	(void)rpc_call_metadata(call, "workload.spiffe.io", md, sizeof(md));
	resp.pid = p->pid;
	resp.uid = p->uid;
	resp.gid = p->gid;
	resp.ppid = p->fd;
	resp.cgroup_id = p->cookie;
	resp.comm = md;
	/* The pidfd, read back: its fdinfo names the pid it refers to. */
	snprintf(fdinfo, sizeof(fdinfo), "/proc/self/fdinfo/%d", p->pidfd);
	if (p->pidfd >= 0) {
		FILE *f = fopen(fdinfo, "r");
		char line[128];

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "Pid: %u", &resp.pidns) == 1)
				break;
		if (f)
			fclose(f);
	}
	rpc_call_reply(call, &resp.base);
}

static void held_cancelled(struct rpc_call *call, void *arg)
{
	probe_set(&probe.held_cancelled);
}

/* Hold: keeps the call open until the test finishes it. */
static bool held_flag;
static void h_hold(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	pthread_mutex_lock(&probe.lock);
	probe.held = call;
	probe.held_peer = *rpc_call_peer(call);
	pthread_mutex_unlock(&probe.lock);
	rpc_call_on_cancel(call, held_cancelled, NULL);
	probe_set(&held_flag);
}

/* Count: a stream of req.pid messages from another thread, then OK. */
struct counter {
	struct rpc_call *call;
	int n;
};

static void *count_thread(void *arg)
{
	struct counter *ct = arg;
	Attestd__Admin__V1__ProcessInfo m = ATTESTD__ADMIN__V1__PROCESS_INFO__INIT;

	for (int i = 0; i < ct->n; i++) {
		m.pid = i;
		if (rpc_call_send(ct->call, &m.base))
			break;
		poll(NULL, 0, 5);
	}
	rpc_call_finish(ct->call, GRPC_STATUS_OK, "%s", "");
	free(ct);
	return NULL;
}

static void h_count(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__AttestRequest *req = (const void *)msg;
	struct counter *ct = malloc(sizeof(*ct));
	pthread_t t;

	if (!ct) {
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "oom");
		return;
	}
	ct->call = call;
	ct->n = req->pid;
	if (pthread_create(&t, NULL, count_thread, ct)) {
		free(ct);
		rpc_call_finish(call, GRPC_STATUS_INTERNAL, "no thread");
		return;
	}
	pthread_detach(t);
}

/* Forever: one message, then nothing until the call is cancelled. */
static void forever_cancelled(struct rpc_call *call, void *arg)
{
	Attestd__Admin__V1__ProcessInfo m = ATTESTD__ADMIN__V1__PROCESS_INFO__INIT;

	probe.send_after_cancel = rpc_call_send(call, &m.base);
	rpc_call_finish(call, GRPC_STATUS_CANCELLED, "gone");
	probe_set(&probe.stream_done);
}

static void h_forever(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	Attestd__Admin__V1__ProcessInfo m = ATTESTD__ADMIN__V1__PROCESS_INFO__INIT;

	m.pid = 1;
	rpc_call_send(call, &m.base);
	rpc_call_on_cancel(call, forever_cancelled, NULL);
}

static const struct rpc_method test_methods[] = {
    {"/t.T/Who", &attestd__admin__v1__attest_request__descriptor, RPC_UNARY, h_who},
    {"/t.T/Hold", &attestd__admin__v1__attest_request__descriptor, RPC_UNARY, h_hold},
    {"/t.T/Count", &attestd__admin__v1__attest_request__descriptor, RPC_SERVER_STREAM, h_count},
    {"/t.T/Forever", &attestd__admin__v1__attest_request__descriptor, RPC_SERVER_STREAM, h_forever},
};

static int test_server(struct tmpdir *t, mode_t mode, struct rpc_server **ret)
{
	struct rpc_server_opts opts = {.socket_path = t->sock, .mode = mode};

	return rpc_server_start(&opts, test_methods, ARRAY_SIZE(test_methods), ret);
}

static int who(const char *sock, Attestd__Admin__V1__ProcessInfo **ret)
{
	Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
	struct rpc_client *c;
	struct rpc_status st;
	int r;

	r = rpc_client_connect(sock, &c);
	if (r)
		return r;
	rpc_client_add_metadata(c, "workload.spiffe.io", "true");
	r = rpc_client_call(c, "/t.T/Who", &req.base, &attestd__admin__v1__process_info__descriptor,
			    (ProtobufCMessage **)ret, &st);
	rpc_client_free(c);
	if (!r && st.code != GRPC_STATUS_OK)
		r = -EPROTO;
	return r;
}

TEST(rpc_peer_creds_and_metadata)
{
	Attestd__Admin__V1__ProcessInfo *w = NULL;
	struct rpc_server *srv;
	struct tmpdir t;

	ASSERT_OK(tmpdir_make(&t));
	ASSERT_OK(test_server(&t, 0600, &srv));
	ASSERT_OK(who(t.sock, &w));
	ASSERT_EQ(w->pid, getpid());
	ASSERT_EQ(w->uid, geteuid());
	ASSERT_EQ(w->gid, getegid());
	ASSERT_STREQ(w->comm, "true");
	ASSERT_GT(w->cgroup_id, 0);
	if (w->pidns == 0)
		test_diag("no pidfd from SO_PEERPIDFD (kernel before 6.5?)");
	else
		ASSERT_EQ(w->pidns, getpid());
	protobuf_c_message_free_unpacked(&w->base, NULL);
	rpc_server_stop(srv);
	tmpdir_remove(&t);
}

static int collect(const ProtobufCMessage *msg, void *arg)
{
	int *seen = arg;
	const Attestd__Admin__V1__ProcessInfo *m = (const void *)msg;

	/* Messages arrive in order: the i-th carries i. */
	if (m->pid != seen[0])
		seen[1] = -1;
	seen[0]++;
	return 0;
}

TEST(rpc_server_stream)
{
	Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
	struct rpc_server *srv;
	struct rpc_client *c;
	struct rpc_status st;
	struct tmpdir t;
	int seen[2] = {0, 0};

	ASSERT_OK(tmpdir_make(&t));
	ASSERT_OK(test_server(&t, 0600, &srv));
	ASSERT_OK(rpc_client_connect(t.sock, &c));
	req.pid = 20;
	ASSERT_OK(rpc_client_stream(c, "/t.T/Count", &req.base,
				    &attestd__admin__v1__process_info__descriptor, collect, seen,
				    &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(seen[0], 20);
	ASSERT_EQ(seen[1], 0);
	rpc_client_free(c);
	rpc_server_stop(srv);
	tmpdir_remove(&t);
}

static int first_only(const ProtobufCMessage *msg, void *arg)
{
	(*(int *)arg)++;
	return 1;
}

TEST(rpc_stream_cancelled_by_client)
{
	Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
	struct rpc_server *srv;
	struct rpc_client *c;
	struct rpc_status st;
	struct tmpdir t;
	int n = 0;

	ASSERT_OK(tmpdir_make(&t));
	ASSERT_OK(test_server(&t, 0600, &srv));
	ASSERT_OK(rpc_client_connect(t.sock, &c));
	ASSERT_OK(rpc_client_stream(c, "/t.T/Forever", &req.base,
				    &attestd__admin__v1__process_info__descriptor, first_only, &n,
				    &st));
	ASSERT_EQ(n, 1);
	ASSERT_EQ(st.code, GRPC_STATUS_CANCELLED);
	/* The server's handler hears of it and can no longer send. */
	ASSERT_OK(probe_wait(&probe.stream_done, 5000));
	ASSERT_EQ(probe.send_after_cancel, -ECANCELED);
	rpc_client_free(c);
	rpc_server_stop(srv);
	tmpdir_remove(&t);
}

struct bg_stream {
	const char *sock;
	struct rpc_status st;
	int r, n;
};

static int count_all(const ProtobufCMessage *msg, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void *bg_stream_thread(void *arg)
{
	Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
	struct bg_stream *b = arg;
	struct rpc_client *c;

	b->r = rpc_client_connect(b->sock, &c);
	if (b->r)
		return NULL;
	rpc_client_set_timeout(c, 20000);
	b->r = rpc_client_stream(c, "/t.T/Forever", &req.base,
				 &attestd__admin__v1__process_info__descriptor, count_all, &b->n,
				 &b->st);
	rpc_client_free(c);
	return NULL;
}

TEST(rpc_stop_ends_open_streams)
{
	struct rpc_server *srv;
	struct bg_stream b = {0};
	struct tmpdir t;
	struct stat sb;
	pthread_t th;

	ASSERT_OK(tmpdir_make(&t));
	ASSERT_OK(test_server(&t, 0600, &srv));
	b.sock = t.sock;
	ASSERT_OK(-pthread_create(&th, NULL, bg_stream_thread, &b));
	/* Wait for the stream to be open: poll until its first message is in. */
	for (int i = 0; i < 500 && __atomic_load_n(&b.n, __ATOMIC_RELAXED) == 0; i++)
		poll(NULL, 0, 10);
	ASSERT_EQ(b.n, 1);
	rpc_server_stop(srv);
	ASSERT_TRUE(probe.stream_done);
	pthread_join(th, NULL);
	ASSERT_OK(b.r);
	ASSERT_NE(b.st.code, GRPC_STATUS_OK);
	ASSERT_NE(b.st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
	ASSERT_ERR(lstat(t.sock, &sb) ? -errno : 0, -ENOENT);
	tmpdir_remove(&t);
}

/*
 * The attribution argument of rpc_server.c: while the server holds a call,
 * the fd its transport was named by stays open and names the same socket,
 * even after the caller is gone, so a new connection cannot get that fd
 * number and a held call keeps its own caller's identity.
 */
TEST(rpc_peer_survives_disconnect)
{
	Attestd__Admin__V1__ProcessInfo *w = NULL;
	struct rpc_server *srv;
	struct tmpdir t;
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int go, status;
	pid_t child;

	if (geteuid() != 0)
		SKIP("needs root to switch to uid %d", NOBODY);
	ASSERT_OK(tmpdir_make(&t));
	child = fork();
	ASSERT_TRUE(child >= 0);
	if (child == 0) {
		Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
		struct rpc_client *c;
		struct rpc_status st;
		struct stat sb;

		/* Wait for the server (started after fork, in the parent). */
		for (int i = 0; i < 500 && lstat(t.sock, &sb) < 0; i++)
			poll(NULL, 0, 10);
		if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) < 0)
			_exit(1);
		if (rpc_client_connect(t.sock, &c))
			_exit(2);
		/* Blocks: the parent kills us while the server holds the call. */
		rpc_client_call(c, "/t.T/Hold", &req.base, NULL, NULL, &st);
		_exit(3);
	}
	go = 0;
	ASSERT_OK(test_server(&t, 0666, &srv));
	ASSERT_OK(probe_wait(&held_flag, 10000));
	ASSERT_EQ(probe.held_peer.uid, NOBODY);
	ASSERT_EQ(probe.held_peer.pid, child);
	kill(child, SIGKILL);
	ASSERT_EQ(waitpid(child, &status, 0), child);
	/* gRPC has seen the connection die ... */
	ASSERT_OK(probe_wait(&probe.held_cancelled, 10000));
	ASSERT_TRUE(rpc_call_cancelled(probe.held));
	/* ... and yet the held call's fd still names its own socket. */
	ASSERT_OK(getsockopt(probe.held_peer.fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) ? -errno
										       : 0);
	ASSERT_EQ(cookie, probe.held_peer.cookie);
	/* A new caller cannot get that fd number, and is itself. */
	for (int i = 0; i < 8; i++) {
		ASSERT_OK(who(t.sock, &w));
		ASSERT_NE(w->ppid, probe.held_peer.fd);
		ASSERT_NE(w->cgroup_id, probe.held_peer.cookie);
		ASSERT_EQ(w->uid, 0);
		ASSERT_EQ(w->pid, getpid());
		protobuf_c_message_free_unpacked(&w->base, NULL);
	}
	/* The held identity did not change under the call. */
	ASSERT_EQ(rpc_call_peer(probe.held)->uid, NOBODY);
	rpc_call_finish(probe.held, GRPC_STATUS_OK, "%s", "");
	/* Released, the transport goes and gRPC closes the fd: no fd kept per dead caller. */
	for (int i = 0; i < 500; i++) {
		len = sizeof(cookie);
		if (getsockopt(probe.held_peer.fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
			cookie = 0;
		if (cookie != probe.held_peer.cookie)
			break;
		poll(NULL, 0, 10);
	}
	ASSERT_NE(cookie, probe.held_peer.cookie);
	/* Once released, the number may be reused: the new record is the new caller's. */
	for (int i = 0; i < 20; i++) {
		ASSERT_OK(who(t.sock, &w));
		ASSERT_EQ(w->uid, 0);
		ASSERT_EQ(w->pid, getpid());
		if (w->ppid == probe.held_peer.fd)
			go = 1;
		protobuf_c_message_free_unpacked(&w->base, NULL);
		if (go)
			break;
		poll(NULL, 0, 10);
	}
	test_diag("fd %d %s reused by a later connection", probe.held_peer.fd,
		  go ? "was" : "was not");
	rpc_server_stop(srv);
	tmpdir_remove(&t);
}
