// SPDX-License-Identifier: Apache-2.0
/*
 * Hardening (issue #10), the parts a unit can show: the pidfd fallback for
 * kernels without SO_PEERPIDFD (a process that started after the accept is
 * not the caller; the whole Workload API over a socket with the fallback
 * forced), the answer-time checks against the kernel map and /proc (an
 * exec the table has not seen, setuid/setgroups without exec), the
 * capability drop (in a forked child) and the socket directory check.
 * The attacks themselves run for real in selftests/e2e/test_attacks.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "privdrop.h"
#include "procfs.h"
#include "rpc_server.h"
#include "test.h"
#include "test_workload.h"

#define UID_X 4711

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A child that waits for a byte on *cmd, then: 'u' setresuid(65534), 'g' setgroups({4242}), and
 * answers on *ack; it exits when cmd closes. */
static pid_t puppet(int *cmd, int *ack)
{
	int c[2], a[2];
	pid_t pid;

	if (pipe2(c, O_CLOEXEC) < 0 || pipe2(a, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char b;

		close(c[1]);
		close(a[0]);
		while (read(c[0], &b, 1) == 1) {
			gid_t g = 4242;
			int r = 0;

			if (b == 'u')
				r = setresuid(65534, 65534, 65534);
			else if (b == 'g')
				r = setgroups(1, &g);
			b = r ? 'E' : 'K';
			(void)!write(a[1], &b, 1);
		}
		_exit(0);
	}
	close(c[0]);
	close(a[1]);
	*cmd = c[1];
	*ack = a[0];
	return pid;
}

static int poke(int cmd, int ack, char what)
{
	char b = what;

	if (write(cmd, &b, 1) != 1 || read(ack, &b, 1) != 1)
		return -EIO;
	return b == 'K' ? 0 : -EPERM;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The record of pid as /proc has it, into the table, and back out of it. */
static int table_has(struct proctable *pt, pid_t pid, struct proc_info **ret)
{
	struct procfs fs = {"/proc", NULL};
	struct proc_state st;
	int r = procfs_read(&fs, (uint32_t)pid, &st);

	if (r == 0)
		r = proctable_upsert(pt, &st);
	if (r == 0)
		r = proctable_get(pt, (uint32_t)pid, proc_ns_to_ticks(st.start_ns), ret);
	return r;
}

TEST(hardening_pidfd_fallback_start_after_accept_refused)
{
	struct wl_fixture f;
	struct proc_info *pi = NULL;
	struct rpc_peer peer = {0};
	_cleanup_close_ int pidfd = -1;
	int cmd = -1, ack = -1;
	pid_t child;

	ASSERT_OK(wl_setup(&f, false));
	child = puppet(&cmd, &ack);
	ASSERT_TRUE(child > 0);
	pidfd = pidfd_open_(child);
	ASSERT_TRUE(pidfd >= 0);
	ASSERT_OK(wl_add_process(&f, child, UID_X));

	/* Accepted now: the process started before, so it may be the caller. */
	peer = (struct rpc_peer){.pid = child, .pidfd = pidfd, .pidfd_at_accept = true,
				 .accept_ns = boottime_ns()};
	ASSERT_OK(workload_caller_resolve_peer(f.pt, NULL, "/proc", &peer, &pi));
	proc_info_free(pi);
	pi = NULL;
	/* Accepted before it started (what a PID reused between connect and accept looks like). */
	peer.accept_ns = 1;
	ASSERT_ERR(workload_caller_resolve_peer(f.pt, NULL, "/proc", &peer, &pi), -ESRCH);
	/* The same pidfd from SO_PEERPIDFD is bound at connect: the accept time does not matter. */
	peer.pidfd_at_accept = false;
	ASSERT_OK(workload_caller_resolve_peer(f.pt, NULL, "/proc", &peer, &pi));
	proc_info_free(pi);
	pi = NULL;
	/* Gone by accept (pidfd_open failed): exited, not "no SO_PEERPIDFD". */
	peer = (struct rpc_peer){.pid = child, .pidfd = -1, .pidfd_at_accept = true,
				 .accept_ns = boottime_ns()};
	ASSERT_ERR(workload_caller_resolve_peer(f.pt, NULL, "/proc", &peer, &pi), -ESRCH);
	peer.pidfd_at_accept = false;
	ASSERT_ERR(workload_caller_resolve_peer(f.pt, NULL, "/proc", &peer, &pi), -ENOTSUP);
	close(cmd);
	close(ack);
	reap(child);
	wl_teardown(&f);
}

/* The whole API over a socket with SO_PEERPIDFD not asked for: the fallback serves. */
TEST(hardening_pidfd_fallback_serves_over_socket)
{
	struct wl_fixture f;
	X509SVIDResponse *resp = NULL;
	struct rpc_status st = {0};
	char id[40], why[256];
	int r;

	ASSERT_OK(wl_setup(&f, true));
	ASSERT_OK(wl_add_entry(&f, "spiffe://example.org/fallback", "unix:uid:4711", NULL, NULL,
			       id));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_X));
	setenv(RPC_ENV_PIDFD_FALLBACK, "1", 1);
	r = wl_start(&f);
	unsetenv(RPC_ENV_PIDFD_FALLBACK);
	ASSERT_OK(r);
	r = wl_fetch_x509(&f, &resp, &st);
	if (r || !resp || resp->n_svids != 1) {
		test_diag("status %d %s", st.code, st.message);
		x509_svidresponse__free_unpacked(resp, NULL);
		wl_teardown(&f);
		FAIL("FetchX509SVID over the fallback: r=%d", r);
	}
	ASSERT_STREQ(resp->svids[0]->spiffe_id, "spiffe://example.org/fallback");
	ASSERT_TRUE(wl_svid_ok(resp->svids[0], why, sizeof(why)));
	x509_svidresponse__free_unpacked(resp, NULL);
	wl_teardown(&f);
}

/* An exec (or any change) the kernel map has and the table has not: not yet. */
TEST(hardening_kernel_map_ahead_of_table_is_unavailable)
{
	struct proctable *pt = NULL;
	struct proc_info *pi = NULL;
	struct proc_state k;

	ASSERT_OK(proctable_new(&pt));
	ASSERT_OK(table_has(pt, getpid(), &pi));
	k = pi->st;
	ASSERT_OK(workload_caller_current("/proc", getpid(), pi, &k));
	ASSERT_OK(workload_caller_current("/proc", getpid(), pi, NULL));
	k.exe_ino++; /* exec'd another file */
	ASSERT_ERR(workload_caller_current("/proc", getpid(), pi, &k), -EAGAIN);
	k = pi->st;
	snprintf(k.exe, sizeof(k.exe), "/usr/bin/other-name-same-inode");
	ASSERT_ERR(workload_caller_current("/proc", getpid(), pi, &k), -EAGAIN);
	k = pi->st;
	k.euid = 12345; /* a setuid binary's exec */
	ASSERT_ERR(workload_caller_current("/proc", getpid(), pi, &k), -EAGAIN);
	k = pi->st;
	k.cgroup_id++; /* moved */
	ASSERT_ERR(workload_caller_current("/proc", getpid(), pi, &k), -EAGAIN);
	k = pi->st;
	k.start_ns += 1000000000ULL; /* another process under the PID */
	ASSERT_ERR(workload_caller_current("/proc", getpid(), pi, &k), -EAGAIN);
	proc_info_free(pi);
	proctable_free(pt);
}

/* setuid() and setgroups() fire no hook: /proc/PID/status at answer time catches them. */
TEST(hardening_setuid_without_exec_is_refused)
{
	struct proctable *pt = NULL;
	struct proc_info *pi = NULL;
	int cmd = -1, ack = -1;
	pid_t child;

	if (geteuid() != 0)
		SKIP("needs root to change a child's credentials");
	ASSERT_OK(proctable_new(&pt));
	child = puppet(&cmd, &ack);
	ASSERT_TRUE(child > 0);
	ASSERT_OK(table_has(pt, child, &pi));
	ASSERT_OK(workload_caller_current("/proc", child, pi, &pi->st));
	ASSERT_OK(poke(cmd, ack, 'g'));
	ASSERT_ERR(workload_caller_current("/proc", child, pi, &pi->st), -EKEYREVOKED);
	proc_info_free(pi);
	ASSERT_OK(table_has(pt, child, &pi)); /* an exec would have recorded this */
	ASSERT_OK(workload_caller_current("/proc", child, pi, &pi->st));
	ASSERT_OK(poke(cmd, ack, 'u'));
	ASSERT_ERR(workload_caller_current("/proc", child, pi, &pi->st), -EKEYREVOKED);
	proc_info_free(pi);
	close(cmd);
	close(ack);
	reap(child);
	proctable_free(pt);
}

TEST(hardening_privdrop_keeps_only_what_it_needs)
{
	int p[2];
	pid_t pid;
	struct {
		int r;
		uint64_t kept, eff;
		int nnp;
		uint64_t bnd_has_sys_admin;
	} out = {0};

	if (geteuid() != 0)
		SKIP("needs root");
	ASSERT_OK(pipe(p) < 0 ? -errno : 0);
	pid = fork();
	if (pid == 0) {
		char why[256];
		uint64_t kept = 0;

		close(p[0]);
		out.r = privdrop_apply(NULL, NULL, &kept, why, sizeof(why));
		out.kept = kept;
		out.eff = privdrop_effective();
		out.nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
		out.bnd_has_sys_admin = (uint64_t)prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0);
		(void)!write(p[1], &out, sizeof(out));
		_exit(0);
	}
	close(p[1]);
	ASSERT_EQ(read(p[0], &out, sizeof(out)), sizeof(out));
	close(p[0]);
	waitpid(pid, NULL, 0);
	ASSERT_OK(out.r);
	ASSERT_EQ(out.kept, PRIVDROP_KEEP);
	ASSERT_EQ(out.eff, PRIVDROP_KEEP);
	ASSERT_EQ(out.nnp, 1);
	ASSERT_EQ(out.bnd_has_sys_admin, 0);
}

TEST(hardening_socket_dir_check)
{
	char dir[64] = "/tmp/attestd-hard.XXXXXX", sock[128], sub[96], why[256];

	ASSERT_NOT_NULL(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/run", dir);
	snprintf(sock, sizeof(sock), "%s/api.sock", sub);
	/* not made yet: fine, rpc_server makes it 0755 */
	ASSERT_OK(privdrop_check_socket_dirs(sock, why, sizeof(why)));
	ASSERT_OK(mkdir(sub, 0755) < 0 ? -errno : 0);
	ASSERT_OK(privdrop_check_socket_dirs(sock, why, sizeof(why)));
	ASSERT_OK(chmod(sub, 0777) < 0 ? -errno : 0);
	ASSERT_ERR(privdrop_check_socket_dirs(sock, why, sizeof(why)), -EPERM);
	test_diag("%s", why);
	ASSERT_OK(chmod(sub, 01777) < 0 ? -errno : 0); /* sticky, as /tmp */
	ASSERT_OK(privdrop_check_socket_dirs(sock, why, sizeof(why)));
	ASSERT_OK(chmod(sub, 0755) < 0 ? -errno : 0);
	if (geteuid() == 0) {
		ASSERT_OK(chown(sub, 4711, 4711) < 0 ? -errno : 0);
		ASSERT_ERR(privdrop_check_socket_dirs(sock, why, sizeof(why)), -EPERM);
		test_diag("%s", why);
	}
	rmdir(sub);
	rmdir(dir);
}
