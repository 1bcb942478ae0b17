// SPDX-License-Identifier: Apache-2.0
/*
 * The Workload API (user/workload_api.c): how a caller is resolved (pidfd,
 * start time, a recycled PID, a stale record), then every RPC over a real
 * socket with this test process (or a forked one of another uid) as the
 * workload: SVIDs checked with OpenSSL, the security header, refusals,
 * streams pushed on renewal and ended when the process stops matching,
 * JWT-SVIDs minted and validated, bundles and federation, hints.  Callers
 * of another uid are forked before gRPC starts, as gRPC does not survive
 * fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cleanup.h"
#include "procfs.h"
#include "proctable_hooks.h"
#include "test.h"
#include "test_workload.h"

#define UID_A 4242
#define UID_B 4243
#define SID_A "spiffe://example.org/a"
#define SID_B "spiffe://example.org/b"

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static pid_t sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int copy_file(const char *from, const char *to)
{
	char buf[4096];
	_cleanup_close_ int in = open(from, O_RDONLY), out = -1;
	ssize_t n;

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -EIO;
	return n < 0 ? -errno : 0;
}

/* A fake /proc with pid's stat (copied, or written) and exe (a symlink to exe). */
static int fake_proc(const char *root, pid_t pid, const char *stat_text, const char *exe)
{
	char path[256], src[64];
	int r;

	snprintf(path, sizeof(path), "%s/%d", root, (int)pid);
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%d/stat", root, (int)pid);
	if (stat_text) {
		_cleanup_fclose_ FILE *f = fopen(path, "w");

		if (!f || fputs(stat_text, f) < 0)
			return -EIO;
	} else {
		snprintf(src, sizeof(src), "/proc/%d/stat", (int)pid);
		r = copy_file(src, path);
		if (r)
			return r;
	}
	snprintf(path, sizeof(path), "%s/%d/exe", root, (int)pid);
	(void)unlink(path);
	return symlink(exe, path) < 0 ? -errno : 0;
}

static int exe_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* ---- caller resolution ---- */

TEST(workload_resolve_caller_by_pidfd_and_start_time)
{
	struct wl_fixture f;
	struct proc_info *pi = NULL;
	_cleanup_close_ int pidfd = -1, self = -1;
	pid_t child;
	char buf[1024];
	uint64_t ticks;
	uint32_t ppid;
	FILE *st;

	ASSERT_OK(wl_setup(&f, false));
	child = sleeper();
	ASSERT_TRUE(child > 0);
	pidfd = pidfd_of(child);
	self = pidfd_of(getpid());
	ASSERT_TRUE(pidfd >= 0 && self >= 0);
	ASSERT_OK(wl_add_process(&f, child, UID_A));

	ASSERT_OK(workload_caller_resolve(f.pt, "/proc", child, pidfd, &pi));
	snprintf(buf, sizeof(buf), "/proc/%d/stat", (int)child);
	st = fopen(buf, "r");
	ASSERT_NOT_NULL(st);
	ASSERT_TRUE(fgets(buf, sizeof(buf), st) != NULL);
	fclose(st);
	ASSERT_OK(procfs_parse_stat(buf, &ppid, &ticks));
	ASSERT_EQ(pi->st.tgid, child);
	ASSERT_EQ(pi->start_time, ticks);
	ASSERT_EQ(pi->st.euid, UID_A);
	proc_info_free(pi);

	/* no pidfd (a kernel before 6.5): refused, never guessed */
	ASSERT_ERR(workload_caller_resolve(f.pt, "/proc", child, -1, &pi), -ENOTSUP);
	/* a live process the table does not know: not yet */
	ASSERT_ERR(workload_caller_resolve(f.pt, "/proc", getpid(), self, &pi), -EAGAIN);
	/* a pidfd that is not the pid's: its process is alive, but the stat says another start */
	ASSERT_TRUE(workload_pidfd_alive(pidfd));
	reap(child);
	ASSERT_FALSE(workload_pidfd_alive(pidfd));
	ASSERT_ERR(workload_caller_resolve(f.pt, "/proc", child, pidfd, &pi), -ESRCH);
	wl_teardown(&f);
}

/*
 * A recycled PID: /proc/PID now shows a process with the start time the
 * table has for the old one (the worst case, made with a fake /proc), but
 * the caller's pidfd says the caller is gone: refused.  And the other way:
 * a live caller whose PID the table still has for an older process (other
 * start time) gets nothing of that process.
 */
TEST(workload_resolve_refuses_recycled_pid)
{
	struct wl_fixture f;
	struct proc_info *pi = NULL;
	_cleanup_close_ int pidfd = -1, pidfd2 = -1;
	struct procfs fs = {"/proc", NULL};
	struct proc_state st;
	char root[128], exe[512];
	pid_t child, child2;

	ASSERT_OK(wl_setup(&f, false));
	snprintf(root, sizeof(root), "%s/proc", f.dir);
	child = sleeper();
	ASSERT_TRUE(child > 0);
	pidfd = pidfd_of(child);
	ASSERT_TRUE(pidfd >= 0);
	ASSERT_OK(exe_of(child, exe, sizeof(exe)));
	ASSERT_OK(wl_add_process(&f, child, UID_A));
	ASSERT_OK(fake_proc(root, child, NULL, exe));
	/* the fake tree is what is read */
	ASSERT_OK(workload_caller_resolve(f.pt, root, child, pidfd, &pi));
	proc_info_free(pi);
	reap(child);
	/* /proc/PID still "shows" the old start time; the pidfd knows better */
	ASSERT_ERR(workload_caller_resolve(f.pt, root, child, pidfd, &pi), -ESRCH);

	/* The table has pid P for an older process; the live caller at P started later. */
	child2 = sleeper();
	ASSERT_TRUE(child2 > 0);
	pidfd2 = pidfd_of(child2);
	ASSERT_TRUE(pidfd2 >= 0);
	ASSERT_OK(procfs_read(&fs, (uint32_t)child2, &st));
	st.start_ns -= 1000000000ULL; /* the previous holder of the PID, 1 s older */
	st.uid = st.euid = UID_A;
	ASSERT_OK(proctable_upsert(f.pt, &st));
	ASSERT_ERR(workload_caller_resolve(f.pt, "/proc", child2, pidfd2, &pi), -EAGAIN);
	reap(child2);
	wl_teardown(&f);
}

/* The process exec'd another file and the table has not caught up: not yet, not the old identity.
 */
TEST(workload_resolve_stale_exe_is_unavailable)
{
	struct wl_fixture f;
	struct proc_info *pi = NULL;
	_cleanup_close_ int pidfd = -1;
	char root[128];
	pid_t child;

	ASSERT_OK(wl_setup(&f, false));
	snprintf(root, sizeof(root), "%s/proc", f.dir);
	child = sleeper();
	ASSERT_TRUE(child > 0);
	pidfd = pidfd_of(child);
	ASSERT_OK(wl_add_process(&f, child, UID_A));
	ASSERT_OK(fake_proc(root, child, NULL, "/bin/sh"));
	ASSERT_ERR(workload_caller_resolve(f.pt, root, child, pidfd, &pi), -EAGAIN);
	reap(child);
	wl_teardown(&f);
}

/* ---- calls ---- */

static int call_raw(struct wl_fixture *f, bool header, const char *method, grpc_status_code *code)
{
	struct rpc_client *c;
	struct rpc_status st;
	int r = wl_client(f, header, &c);

	if (r)
		return r;
	r = rpc_client_call_raw(c, method, "", 0, &st);
	rpc_client_free(c);
	*code = st.code;
	return r;
}

static int fetch_jwt(struct wl_fixture *f, const char *const *aud, size_t naud,
		     const char *spiffe_id, JWTSVIDResponse **ret, struct rpc_status *st)
{
	JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
	struct rpc_client *c;
	int r = wl_client(f, true, &c);

	if (r)
		return r;
	req.audience = (char **)aud;
	req.n_audience = naud;
	if (spiffe_id)
		req.spiffe_id = (char *)spiffe_id;
	r = rpc_client_call(c, WORKLOAD_METHOD_FETCH_JWT_SVID, &req.base,
			    &jwtsvidresponse__descriptor, (ProtobufCMessage **)ret, st);
	rpc_client_free(c);
	return r;
}

static int validate(struct wl_fixture *f, const char *aud, const char *token,
		    ValidateJWTSVIDResponse **ret, struct rpc_status *st)
{
	ValidateJWTSVIDRequest req = VALIDATE_JWTSVIDREQUEST__INIT;
	struct rpc_client *c;
	int r = wl_client(f, true, &c);

	if (r)
		return r;
	req.audience = (char *)aud;
	req.svid = (char *)token;
	r = rpc_client_call(c, WORKLOAD_METHOD_VALIDATE_JWT_SVID, &req.base,
			    &validate_jwtsvidresponse__descriptor, (ProtobufCMessage **)ret, st);
	rpc_client_free(c);
	return r;
}

TEST(workload_fetch_x509_svid)
{
	X509SVIDResponse *resp = NULL;
	struct wl_fixture f;
	struct rpc_status st;
	struct bundle *own;
	const unsigned char *der;
	size_t len;
	char why[256];

	ASSERT_OK(wl_setup(&f, true));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", "internal", NULL, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_start(&f));
	ASSERT_OK(wl_fetch_x509(&f, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_NOT_NULL(resp);
	ASSERT_EQ(resp->n_svids, 1);
	ASSERT_STREQ(resp->svids[0]->spiffe_id, SID_A);
	ASSERT_STREQ(resp->svids[0]->hint, "internal");
	if (!wl_svid_ok(resp->svids[0], why, sizeof(why)))
		FAIL("SVID: %s", why);
	own = bundle_set_get(f.bundles, WL_TD);
	bundle_x509_der(own, &der, &len);
	ASSERT_EQ(resp->svids[0]->bundle.len, len);
	ASSERT_TRUE(memcmp(resp->svids[0]->bundle.data, der, len) == 0);
	bundle_unref(own);
	ASSERT_EQ(resp->n_federated_bundles, 0);
	ASSERT_EQ(resp->n_crl, 0);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	wl_teardown(&f);
}

TEST(workload_security_header_required)
{
	static const char *const methods[] = {
	    WORKLOAD_METHOD_FETCH_X509_SVID,   WORKLOAD_METHOD_FETCH_X509_BUNDLES,
	    WORKLOAD_METHOD_FETCH_JWT_SVID,    WORKLOAD_METHOD_FETCH_JWT_BUNDLES,
	    WORKLOAD_METHOD_VALIDATE_JWT_SVID, WORKLOAD_METHOD_FETCH_WIT_SVID,
	    WORKLOAD_METHOD_FETCH_WIT_BUNDLES,
	};
	struct wl_fixture f;
	grpc_status_code code;

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", NULL, NULL, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_start(&f));
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
		ASSERT_OK(call_raw(&f, false, methods[i], &code));
		if (code != GRPC_STATUS_INVALID_ARGUMENT)
			FAIL("%s without the header: status %d, want INVALID_ARGUMENT", methods[i],
			     code);
	}
	/* with it, the WIT-SVID profile is not served */
	ASSERT_OK(call_raw(&f, true, WORKLOAD_METHOD_FETCH_WIT_SVID, &code));
	ASSERT_EQ(code, GRPC_STATUS_UNIMPLEMENTED);
	ASSERT_OK(call_raw(&f, true, WORKLOAD_METHOD_FETCH_WIT_BUNDLES, &code));
	ASSERT_EQ(code, GRPC_STATUS_UNIMPLEMENTED);
	/* garbage bytes where a request belongs */
	{
		struct rpc_client *c;
		struct rpc_status st;

		ASSERT_OK(wl_client(&f, true, &c));
		ASSERT_OK(
		    rpc_client_call_raw(c, WORKLOAD_METHOD_FETCH_JWT_SVID, "\xff\xff\xff", 3, &st));
		rpc_client_free(c);
		ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	}
	wl_teardown(&f);
}

/* Unknown to the table, attestation incomplete: UNAVAILABLE; known but unmatched:
 * PERMISSION_DENIED. */
TEST(workload_refusals_unavailable_and_permission_denied)
{
	static const char *const aud[] = {"x"};
	X509SVIDResponse *x = NULL;
	JWTSVIDResponse *j = NULL;
	struct wl_fixture f;
	struct rpc_status st;

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", NULL, NULL, NULL));
	ASSERT_OK(wl_start(&f));
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_UNAVAILABLE);
	ASSERT_OK(fetch_jwt(&f, aud, 1, NULL, &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_UNAVAILABLE);

	f.digest_pending = true; /* an entry may need unix:sha256: not known yet */
	ASSERT_OK(wl_add_process(&f, getpid(), 1));
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_UNAVAILABLE);

	f.digest_pending = false;
	ASSERT_OK(wl_add_process(&f, getpid(), 1));
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_PERMISSION_DENIED);
	ASSERT_OK(fetch_jwt(&f, aud, 1, NULL, &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_PERMISSION_DENIED);
	{
		struct rpc_client *c;
		X509BundlesRequest req = X509_BUNDLES_REQUEST__INIT;
		X509BundlesResponse *b = NULL;

		ASSERT_OK(wl_client(&f, true, &c));
		ASSERT_OK(rpc_client_call(c, WORKLOAD_METHOD_FETCH_X509_BUNDLES, &req.base,
					  &x509_bundles_response__descriptor,
					  (ProtobufCMessage **)&b, &st));
		rpc_client_free(c);
		ASSERT_EQ(st.code, GRPC_STATUS_PERMISSION_DENIED);
	}
	wl_teardown(&f);
}

/* ---- another uid ---- */

/*
 * A caller forked before gRPC starts: it reads the socket path from *go,
 * becomes uid, fetches its X.509-SVIDs and writes their SPIFFE IDs (one a
 * line, then "status N") to *out.
 */
static pid_t uid_caller(uid_t uid, int *go, int *out)
{
	int g[2], o[2];
	pid_t pid;

	if (pipe(g) < 0 || pipe(o) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(g[0]);
		close(o[1]);
		*go = g[1];
		*out = o[0];
		return pid;
	}
	close(g[1]);
	close(o[0]);
	{
		char sock[256] = "";
		ssize_t n = read(g[0], sock, sizeof(sock) - 1);
		struct wl_fixture f = {0};
		X509SVIDResponse *resp = NULL;
		struct rpc_status st = {0};
		FILE *w = fdopen(o[1], "w");

		if (n <= 0 || !w || setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(100);
		sock[n] = '\0';
		snprintf(f.sock, sizeof(f.sock), "%s", sock);
		if (wl_fetch_x509(&f, &resp, &st))
			_exit(101);
		for (size_t i = 0; resp && i < resp->n_svids; i++) {
			char why[256];

			fprintf(w, "%s %s\n", resp->svids[i]->spiffe_id,
				wl_svid_ok(resp->svids[i], why, sizeof(why)) ? "ok" : why);
		}
		fprintf(w, "status %d\n", (int)st.code);
		fclose(w);
		_exit(0);
	}
}

/* Two processes of two uids, each with its entry: each gets its own SVID, never the other's. */
TEST(workload_two_uids_get_their_own_svids)
{
	X509SVIDResponse *resp = NULL;
	struct wl_fixture f;
	struct rpc_status st;
	char line[512], got[2048] = "";
	int go, out, status;
	FILE *r;
	pid_t child;

	if (geteuid() != 0)
		SKIP("needs root to run a caller as uid %d", UID_B);
	child = uid_caller(UID_B, &go, &out);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(wl_setup(&f, true));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", NULL, NULL, NULL));
	ASSERT_OK(wl_add_entry(&f, SID_B, "unix:uid:4243", NULL, NULL, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_add_process(&f, child, UID_B));
	ASSERT_OK(wl_start(&f));
	ASSERT_TRUE(write(go, f.sock, strlen(f.sock)) == (ssize_t)strlen(f.sock));
	close(go);
	r = fdopen(out, "r");
	ASSERT_NOT_NULL(r);
	while (fgets(line, sizeof(line), r))
		strncat(got, line, sizeof(got) - strlen(got) - 1);
	fclose(r);
	ASSERT_TRUE(waitpid(child, &status, 0) == child);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_STREQ(got, SID_B " ok\nstatus 0\n");

	ASSERT_OK(wl_fetch_x509(&f, &resp, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(resp->n_svids, 1);
	ASSERT_STREQ(resp->svids[0]->spiffe_id, SID_A);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	wl_teardown(&f);
}

/* ---- streams ---- */

struct watch {
	struct wl_fixture *f;
	const char *method;
	const ProtobufCMessageDescriptor *type;
	const ProtobufCMessage *req;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int n;
	char ids[8][512]; /* per message: a digest of what it carried */
	struct rpc_status st;
	int r;
	bool done;
	int timeout_ms;
};

static void describe(const ProtobufCMessage *msg, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (msg->descriptor == &x509_svidresponse__descriptor) {
		const X509SVIDResponse *x = (const void *)msg;

		for (size_t i = 0; i < x->n_svids; i++)
			n += snprintf(
			    buf + n, len - n, "%s:%zu:%02x%02x%02x%02x ", x->svids[i]->spiffe_id,
			    x->svids[i]->x509_svid.len, x->svids[i]->x509_svid.data[20],
			    x->svids[i]->x509_svid.data[21], x->svids[i]->x509_svid.data[22],
			    x->svids[i]->x509_svid.data[23]);
		for (size_t i = 0; i < x->n_federated_bundles && n < len; i++)
			n += snprintf(buf + n, len - n, "fed=%s ", x->federated_bundles[i]->key);
	} else if (msg->descriptor == &x509_bundles_response__descriptor) {
		const X509BundlesResponse *b = (const void *)msg;

		for (size_t i = 0; i < b->n_bundles && n < len; i++)
			n += snprintf(buf + n, len - n, "%s ", b->bundles[i]->key);
	}
}

static int on_msg(const ProtobufCMessage *msg, void *arg)
{
	struct watch *w = arg;

	pthread_mutex_lock(&w->lock);
	if (w->n < 8)
		describe(msg, w->ids[w->n], sizeof(w->ids[0]));
	w->n++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	struct rpc_client *c;

	w->r = wl_client(w->f, true, &c);
	if (!w->r) {
		rpc_client_set_timeout(c, w->timeout_ms);
		w->r = rpc_client_stream(c, w->method, w->req, w->type, on_msg, w, &w->st);
		rpc_client_free(c);
	}
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void watch_init(struct watch *w, struct wl_fixture *f, const char *method,
		       const ProtobufCMessageDescriptor *type, const ProtobufCMessage *req)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->method = method;
	w->type = type;
	w->req = req;
	w->timeout_ms = 20000;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
}

/* Waits up to 5 s until the stream has n messages (or ended, if n < 0). */
static bool watch_wait(struct watch *w, int n)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&w->lock);
	while (!(n < 0 ? w->done : w->n >= n) && !w->done)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until))
			break;
	ok = n < 0 ? w->done : w->n >= n;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

/*
 * An open FetchX509SVID stream gets a new message when its SVID is
 * renewed, and PERMISSION_DENIED (no more SVIDs) when its process execs a
 * binary the entry does not match.
 */
TEST(workload_stream_renewal_then_exec_denied)
{
	X509SVIDRequest req = X509_SVIDREQUEST__INIT;
	struct svid_cache_opts co = {.manual = true, .x509_ttl_max = 100};
	struct procfs fs = {"/proc", NULL};
	struct wl_fixture f;
	struct proc_state st;
	struct watch w;
	char sel[600], exe[512];
	pthread_t t;
	time_t now = time(NULL);

	ASSERT_OK(wl_setup_with(&f, &co));
	ASSERT_OK(exe_of(getpid(), exe, sizeof(exe)));
	snprintf(sel, sizeof(sel), "unix:path:%s", exe);
	ASSERT_OK(wl_add_entry(&f, SID_A, sel, NULL, NULL, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_EQ(svid_cache_run(f.cache, now), 1);
	ASSERT_OK(wl_start(&f));
	watch_init(&w, &f, WORKLOAD_METHOD_FETCH_X509_SVID, &x509_svidresponse__descriptor,
		   &req.base);
	ASSERT_OK(-pthread_create(&t, NULL, watch_thread, &w));
	ASSERT_TRUE(watch_wait(&w, 1));
	/* a rederive with nothing new sends nothing */
	ASSERT_OK(proctable_rederive(f.pt, NULL, NULL));
	poll(NULL, 0, 200);
	ASSERT_EQ(w.n, 1);
	/* renewal at half of the 100 s */
	ASSERT_EQ(svid_cache_run(f.cache, now + 50), 1);
	ASSERT_TRUE(watch_wait(&w, 2));
	ASSERT_TRUE(strcmp(w.ids[0], w.ids[1]) != 0);
	ASSERT_TRUE(strncmp(w.ids[1], SID_A, strlen(SID_A)) == 0);
	/* "exec": the kernel reports another executable for the same process */
	ASSERT_OK(procfs_read(&fs, (uint32_t)getpid(), &st));
	st.uid = st.euid = UID_A;
	strcpy(st.exe, "/usr/bin/something-else");
	ASSERT_OK(proctable_upsert(f.pt, &st));
	ASSERT_TRUE(watch_wait(&w, -1));
	pthread_join(t, NULL);
	ASSERT_OK(w.r);
	ASSERT_EQ(w.st.code, GRPC_STATUS_PERMISSION_DENIED);
	ASSERT_EQ(w.n, 2);
	wl_teardown(&f);
}

/* A bundle stream follows the federated bundles the caller's entries ask for. */
TEST(workload_stream_bundle_change)
{
	X509BundlesRequest req = X509_BUNDLES_REQUEST__INIT;
	struct wl_fixture f;
	struct bundle *fed;
	struct watch w;
	pthread_t t;

	ASSERT_OK(wl_setup(&f, true));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", NULL, WL_FED_TD, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_start(&f));
	watch_init(&w, &f, WORKLOAD_METHOD_FETCH_X509_BUNDLES, &x509_bundles_response__descriptor,
		   &req.base);
	ASSERT_OK(-pthread_create(&t, NULL, watch_thread, &w));
	ASSERT_TRUE(watch_wait(&w, 1));
	ASSERT_STREQ(w.ids[0], "spiffe://example.org spiffe://other.org ");
	fed = bundle_set_get(f.bundles, WL_FED_TD);
	ASSERT_OK(bundle_set_remove(f.bundles, WL_FED_TD));
	workload_api_bundles_changed(f.api);
	ASSERT_TRUE(watch_wait(&w, 2));
	ASSERT_STREQ(w.ids[1], "spiffe://example.org ");
	ASSERT_OK(bundle_set_put(f.bundles, fed));
	bundle_unref(fed);
	workload_api_bundles_changed(f.api);
	ASSERT_TRUE(watch_wait(&w, 3));
	ASSERT_STREQ(w.ids[2], "spiffe://example.org spiffe://other.org ");
	/* the server stopping ends the stream */
	wl_teardown(&f);
	ASSERT_TRUE(watch_wait(&w, -1));
	pthread_join(t, NULL);
	ASSERT_TRUE(w.st.code == GRPC_STATUS_CANCELLED || w.st.code == GRPC_STATUS_UNAVAILABLE);
}

/* ---- JWT ---- */

TEST(workload_jwt_svid_fetch_and_validate)
{
	static const char *const aud[] = {"x", "y"};
	static const char *const empty[] = {""};
	JWTSVIDResponse *j = NULL;
	ValidateJWTSVIDResponse *v = NULL;
	struct wl_fixture f;
	struct rpc_status st;
	_cleanup_free_ char *token = NULL;
	bool sub = false, aud_ok = false, exp = false;

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID_B, "unix:uid:4242", "second", NULL, NULL));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", "first", NULL, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_start(&f));

	ASSERT_OK(fetch_jwt(&f, aud, 2, NULL, &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(j->n_svids, 2);
	ASSERT_STREQ(j->svids[0]->spiffe_id, SID_A); /* sorted by SPIFFE ID */
	ASSERT_STREQ(j->svids[0]->hint, "first");
	ASSERT_STREQ(j->svids[1]->spiffe_id, SID_B);
	token = strdup(j->svids[0]->svid);
	protobuf_c_message_free_unpacked(&j->base, NULL);

	ASSERT_OK(fetch_jwt(&f, aud, 1, SID_B, &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(j->n_svids, 1);
	ASSERT_STREQ(j->svids[0]->spiffe_id, SID_B);
	protobuf_c_message_free_unpacked(&j->base, NULL);
	ASSERT_OK(fetch_jwt(&f, aud, 1, "spiffe://example.org/not-mine", &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_PERMISSION_DENIED);
	ASSERT_OK(fetch_jwt(&f, aud, 0, NULL, &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_OK(fetch_jwt(&f, empty, 1, NULL, &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_OK(fetch_jwt(&f, aud, 1, "not a spiffe id", &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);

	ASSERT_OK(validate(&f, "y", token, &v, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_STREQ(v->spiffe_id, SID_A);
	for (size_t i = 0; i < v->claims->n_fields; i++) {
		const Google__Protobuf__Struct__FieldsEntry *e = v->claims->fields[i];

		if (strcmp(e->key, "sub") == 0)
			sub = e->value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE &&
			      strcmp(e->value->string_value, SID_A) == 0;
		if (strcmp(e->key, "aud") == 0)
			aud_ok = e->value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE &&
				 e->value->list_value->n_values == 2;
		if (strcmp(e->key, "exp") == 0)
			exp = e->value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE &&
			      e->value->number_value > (double)time(NULL);
	}
	ASSERT_TRUE(sub && aud_ok && exp);
	protobuf_c_message_free_unpacked(&v->base, NULL);
	ASSERT_OK(validate(&f, "z", token, &v, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_OK(validate(&f, "y", "not.a.token", &v, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_OK(validate(&f, "", token, &v, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	ASSERT_OK(validate(&f, "y", "", &v, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_INVALID_ARGUMENT);
	wl_teardown(&f);
}

/* Federated bundles in FetchX509SVID, FetchX509Bundles and FetchJWTBundles; duplicate hints. */
TEST(workload_federation_and_hints)
{
	X509SVIDResponse *x = NULL;
	struct wl_fixture f;
	struct rpc_status st;
	struct bundle *fed;
	const unsigned char *der;
	size_t len;

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", "same", WL_FED_TD, NULL));
	ASSERT_OK(wl_add_entry(&f, SID_B, "unix:uid:4242", "same", NULL, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_start(&f));
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	/* the second SVID with the hint "same" is left out: hints are unique in a response */
	ASSERT_EQ(x->n_svids, 1);
	ASSERT_STREQ(x->svids[0]->spiffe_id, SID_A);
	ASSERT_EQ(x->n_federated_bundles, 1);
	ASSERT_STREQ(x->federated_bundles[0]->key, "spiffe://" WL_FED_TD);
	fed = bundle_set_get(f.bundles, WL_FED_TD);
	bundle_x509_der(fed, &der, &len);
	ASSERT_EQ(x->federated_bundles[0]->value.len, len);
	ASSERT_TRUE(memcmp(x->federated_bundles[0]->value.data, der, len) == 0);
	bundle_unref(fed);
	protobuf_c_message_free_unpacked(&x->base, NULL);
	{
		JWTBundlesRequest req = JWTBUNDLES_REQUEST__INIT;
		JWTBundlesResponse *jb = NULL;

		ASSERT_OK(wl_first(&f, WORKLOAD_METHOD_FETCH_JWT_BUNDLES, &req.base,
				   &jwtbundles_response__descriptor, (ProtobufCMessage **)&jb,
				   &st));
		ASSERT_EQ(st.code, GRPC_STATUS_OK);
		ASSERT_EQ(jb->n_bundles, 2);
		ASSERT_STREQ(jb->bundles[0]->key, "spiffe://" WL_TD);
		ASSERT_STREQ(jb->bundles[1]->key, "spiffe://" WL_FED_TD);
		for (size_t i = 0; i < jb->n_bundles; i++) {
			_cleanup_free_ char *text =
			    strndup((char *)jb->bundles[i]->value.data, jb->bundles[i]->value.len);
			json_object *o = text ? json_tokener_parse(text) : NULL, *keys = NULL;

			ASSERT_NOT_NULL(o);
			ASSERT_TRUE(json_object_object_get_ex(o, "keys", &keys));
			ASSERT_EQ(json_object_array_length(keys), 1);
			json_object_put(o);
		}
		protobuf_c_message_free_unpacked(&jb->base, NULL);
	}
	wl_teardown(&f);
}

/* ---- numbers ---- */

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

/*
 * Connect-to-first-X509SVIDResponse with attestd's C client (a new
 * connection each time, the cache warm), and FetchJWTSVID calls per
 * second on one connection: printed, and only checked to succeed.
 */
TEST(workload_numbers_first_svid_and_jwt_rate)
{
	enum { N = 300 };
	static const char *const aud[] = {"bench"};
	static long lat[N];
	JWTSVIDRequest jreq = JWTSVIDREQUEST__INIT;
	struct svid_cache_stats cs;
	X509SVIDResponse *x = NULL;
	struct wl_fixture f;
	struct rpc_client *c;
	struct rpc_status st;
	long t0, calls = 0;

	ASSERT_OK(wl_setup(&f, true));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", NULL, NULL, NULL));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_start(&f));
	ASSERT_OK(wl_fetch_x509(&f, &x, &st)); /* warm: the cache thread has minted */
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	protobuf_c_message_free_unpacked(&x->base, NULL);
	for (int i = 0; i < N; i++) {
		t0 = now_us();
		ASSERT_OK(wl_fetch_x509(&f, &x, &st));
		lat[i] = now_us() - t0;
		ASSERT_EQ(st.code, GRPC_STATUS_OK);
		protobuf_c_message_free_unpacked(&x->base, NULL);
	}
	qsort(lat, N, sizeof(lat[0]), cmp_long);
	test_diag("connect-to-first-X509SVIDResponse (C client, new connection each): p50 %ld us, "
		  "p99 %ld us, max %ld us over %d",
		  lat[N / 2], lat[N * 99 / 100], lat[N - 1], N);
	svid_cache_stats(f.cache, &cs);
	test_diag("SVID cache: %llu mints, %llu on the request path", (unsigned long long)cs.mints,
		  (unsigned long long)cs.misses);
	jreq.audience = (char **)aud;
	jreq.n_audience = 1;
	ASSERT_OK(wl_client(&f, true, &c));
	t0 = now_us();
	while (now_us() - t0 < 1000000) {
		ASSERT_OK(rpc_client_call(c, WORKLOAD_METHOD_FETCH_JWT_SVID, &jreq.base, NULL, NULL,
					  &st));
		ASSERT_EQ(st.code, GRPC_STATUS_OK);
		calls++;
	}
	rpc_client_free(c);
	test_diag("FetchJWTSVID: %ld calls/s on one connection (C client, sequential)", calls);
	wl_teardown(&f);
}
