// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel tests for tracker.bpf.c: real processes on the running kernel,
 * checked against what the programs put in the procs map and on the ring
 * buffer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "probe.h"
#include "procfs.h"
#include "proctable.h"
#include "test.h"
#include "tracker_fixture.h"

struct cg {
	char path[PATH_MAX];
	char name[64];
};

static int cg_make(struct cg *cg, const char *tag)
{
	const char *root = procfs_cgroup2_mount();

	if (!root)
		return -ENOENT;
	snprintf(cg->name, sizeof(cg->name), "attestd-kt-%s-%d", tag, getpid());
	snprintf(cg->path, sizeof(cg->path), "%s/%s", root, cg->name);
	if (mkdir(cg->path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int cg_enter(const struct cg *cg, pid_t pid)
{
	char path[PATH_MAX + 16];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg->path);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	r = fprintf(f, "%d\n", pid) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && !r)
		r = -errno;
	return r;
}

/* Moves pids back to the root and removes the cgroup. */
static void cg_remove(const struct cg *cg)
{
	const char *root = procfs_cgroup2_mount();
	struct cg top;

	if (!root)
		return;
	snprintf(top.path, sizeof(top.path), "%s", root);
	cg_enter(&top, getpid());
	rmdir(cg->path);
}

static __u64 cg_id(const struct cg *cg)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h = { .fh.handle_bytes = 8 };
	int mnt;

	return name_to_handle_at(AT_FDCWD, cg->path, &h.fh, &mnt, 0) ? 0 : h.id;
}

static uint64_t proc_start_ticks(pid_t pid)
{
	char path[64], buf[4096];
	uint64_t ticks = 0;
	uint32_t ppid;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	procfs_parse_stat(buf, &ppid, &ticks);
	return ticks;
}

/* Waits until an exec event for f->watch_tgid arrived. */
static bool wait_exec(struct fixture *f, int n)
{
	for (int i = 0; i < 100 && f->nexec < n; i++)
		fixture_drain(f, 20);
	return f->nexec >= n;
}

static void kill_wait(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * A child that joins a new cgroup, drops to uid/gid 4242 with one
 * supplementary group and execs the helper through a symlink: the record
 * holds the new credentials, the real file, the cgroup, and a start time on
 * /proc's clock.  Its exit removes the record.
 */
TEST(exec_creds_cgroup_symlink)
{
	char real[PATH_MAX], dir[] = "/tmp/attestd-kt-XXXXXX", link[PATH_MAX + 8];
	struct proc_state st;
	struct fixture f;
	struct cg cg;
	pid_t pid;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath(fixture_helper("sleeper"), real));
	ASSERT_NOT_NULL(mkdtemp(dir));
	ASSERT_OK(chmod(dir, 0755) ? -errno : 0); /* uid 4242 must reach the link */
	snprintf(link, sizeof(link), "%s/sl", dir);
	ASSERT_OK(symlink(real, link) ? -errno : 0);
	ASSERT_OK(cg_make(&cg, "creds"));

	pid = fork();
	if (pid == 0) {
		gid_t groups[] = { 4243 };

		if (cg_enter(&cg, getpid()) || setgroups(1, groups) || setresgid(4242, 4242, 4242) ||
		    setresuid(4242, 4242, 4242))
			_exit(100);
		execl(link, "sl", NULL);
		_exit(101);
	}
	f.watch_tgid = pid;
	if (!wait_exec(&f, 1)) {
		kill_wait(pid);
		cg_remove(&cg);
		FAIL("no exec event for pid %d", pid);
	}
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	kill_wait(pid);
	fixture_drain(&f, 100);
	unlink(link);
	rmdir(dir);
	cg_remove(&cg);

	ASSERT_EQ(st.tgid, pid);
	ASSERT_EQ(st.ppid, getpid());
	ASSERT_EQ(st.uid, 4242);
	ASSERT_EQ(st.euid, 4242);
	ASSERT_EQ(st.gid, 4242);
	ASSERT_EQ(st.egid, 4242);
	ASSERT_EQ(st.ngroups, 1);
	ASSERT_EQ(st.groups[0], 4243);
	ASSERT_STREQ(st.exe, real);
	ASSERT_EQ(st.flags & PROC_F_EXE_TRUNCATED, 0);
	ASSERT_STREQ(st.comm, "sl");
	ASSERT_EQ(f.last_exec.euid, 4242);
	ASSERT_STREQ(f.last_exec.exe, real);
	{
		char want[PATH_MAX];

		snprintf(want, sizeof(want), "/%s", cg.name);
		ASSERT_STREQ(st.cgroup, want);
	}
	ASSERT_NE(st.cgroup_id, 0);
	ASSERT_EQ(st.pidns_ino != 0, 1);
	ASSERT_EQ(st.mntns_ino != 0, 1);
	/* exit removed the record and said so */
	ASSERT_EQ(f.nexit, 1);
	ASSERT_ERR(tracker_lookup(f.t, pid, &st), -ENOENT);
	fixture_close(&f);
}

/* The start time is /proc/PID/stat field 22, and the exe's inode is the file's. */
TEST(start_time_and_inode_match_procfs)
{
	char real[PATH_MAX];
	struct proc_state st, fs_st;
	struct procfs fs = { "/proc", procfs_cgroup2_mount() };
	struct fixture f;
	struct stat sb;
	pid_t pid;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath(fixture_helper("sleeper"), real));
	pid = fork();
	if (pid == 0) {
		execl(real, "sleeper", NULL);
		_exit(101);
	}
	f.watch_tgid = pid;
	if (!wait_exec(&f, 1)) {
		kill_wait(pid);
		FAIL("no exec event");
	}
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	ASSERT_OK(procfs_read(&fs, pid, &fs_st));
	kill_wait(pid);
	ASSERT_OK(stat(real, &sb) ? -errno : 0);
	ASSERT_EQ(proc_ns_to_ticks(st.start_ns), proc_ns_to_ticks(fs_st.start_ns));
	ASSERT_EQ(st.exe_ino, sb.st_ino);
	ASSERT_EQ(st.exe_size, sb.st_size);
	ASSERT_EQ(st.exe_ino, fs_st.exe_ino);
	ASSERT_EQ(st.exe_dev, fs_st.exe_dev);
	ASSERT_EQ(st.exe_ctime_ns, fs_st.exe_ctime_ns);
	ASSERT_EQ(st.cgroup_id, fs_st.cgroup_id);
	ASSERT_STREQ(st.cgroup, fs_st.cgroup);
	ASSERT_STREQ(st.exe, fs_st.exe);
	ASSERT_EQ(st.pidns_ino, fs_st.pidns_ino);
	ASSERT_EQ(st.mntns_ino, fs_st.mntns_ino);
	fixture_close(&f);
}

/* exec through a relative path records the absolute path of the real file. */
TEST(exec_relative_path)
{
	char real[PATH_MAX], dir[PATH_MAX];
	struct proc_state st;
	struct fixture f;
	pid_t pid;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath(fixture_helper("sleeper"), real));
	snprintf(dir, sizeof(dir), "%s", real);
	*strrchr(dir, '/') = '\0';
	pid = fork();
	if (pid == 0) {
		if (chdir(dir))
			_exit(100);
		execl("./sleeper", "sleeper", NULL);
		_exit(101);
	}
	f.watch_tgid = pid;
	if (!wait_exec(&f, 1)) {
		kill_wait(pid);
		FAIL("no exec event");
	}
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	kill_wait(pid);
	ASSERT_STREQ(st.exe, real);
	fixture_close(&f);
}

/* fork without exec: a record for the child, with the parent's executable. */
TEST(fork_without_exec)
{
	char self[PATH_MAX];
	struct proc_state st;
	struct fixture f;
	int pfd[2];
	pid_t pid;
	char c;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath("/proc/self/exe", self));
	ASSERT_OK(pipe(pfd) ? -errno : 0);
	f.watch_tgid = getpid();
	pid = fork();
	if (pid == 0) {
		close(pfd[1]);
		(void)!read(pfd[0], &c, 1); /* until the parent has looked */
		_exit(0);
	}
	close(pfd[0]);
	for (int i = 0; i < 50 && f.fork_child != (__u32)pid; i++)
		fixture_drain(&f, 20);
	ASSERT_EQ(f.fork_child, pid);
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	close(pfd[1]);
	waitpid(pid, NULL, 0);
	ASSERT_EQ(st.ppid, getpid());
	ASSERT_STREQ(st.exe, self);
	ASSERT_EQ(st.uid, getuid());
	ASSERT_EQ(proc_ns_to_ticks(st.parent_start_ns), proc_start_ticks(getpid()));
	fixture_close(&f);
}

/* Threads share their group's one record; only the last exit removes it. */
TEST(multithreaded_one_record)
{
	char real[PATH_MAX], path[64];
	struct proc_state st;
	struct fixture f;
	int nthreads = 0;
	pid_t pid;
	DIR *d;
	struct dirent *de;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath(fixture_helper("sleeper"), real));
	pid = fork();
	if (pid == 0) {
		/* four threads that end after 300 ms; the main thread stays */
		execl(real, "sleeper", "4", "300", NULL);
		_exit(101);
	}
	f.watch_tgid = pid;
	if (!wait_exec(&f, 1)) {
		kill_wait(pid);
		FAIL("no exec event");
	}
	fixture_drain(&f, 100);
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	ASSERT_NOT_NULL(d);
	while ((de = readdir(d))) {
		pid_t tid = atoi(de->d_name);

		if (tid <= 0)
			continue;
		nthreads++;
		if (tid != pid && tracker_lookup(f.t, tid, &st) != -ENOENT) {
			closedir(d);
			kill_wait(pid);
			FAIL("thread %d has a record of its own", tid);
		}
	}
	closedir(d);
	if (nthreads != 5) {
		kill_wait(pid);
		FAIL("expected 5 threads, saw %d", nthreads);
	}
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	fixture_drain(&f, 500); /* the four threads exit */
	if (tracker_lookup(f.t, pid, &st) != 0 || f.nexit != 0) {
		kill_wait(pid);
		FAIL("a thread's exit ended the group (nexit=%d)", f.nexit);
	}
	kill_wait(pid);
	fixture_drain(&f, 100);
	ASSERT_EQ(f.nexit, 1);
	ASSERT_ERR(tracker_lookup(f.t, pid, &st), -ENOENT);
	fixture_close(&f);
}

/* Moving a running process between cgroups updates its record. */
TEST(cgroup_move)
{
	char real[PATH_MAX], want[PATH_MAX];
	struct proc_state st;
	struct fixture f;
	struct cg a, b;
	__u64 b_id;
	pid_t pid;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath(fixture_helper("sleeper"), real));
	ASSERT_OK(cg_make(&a, "a"));
	ASSERT_OK(cg_make(&b, "b"));
	pid = fork();
	if (pid == 0) {
		if (cg_enter(&a, getpid()))
			_exit(100);
		execl(real, "sleeper", NULL);
		_exit(101);
	}
	f.watch_tgid = pid;
	if (!wait_exec(&f, 1)) {
		kill_wait(pid);
		FAIL("no exec event");
	}
	snprintf(want, sizeof(want), "/%s", a.name);
	ASSERT_STREQ(f.last_exec.cgroup, want);
	f.ncgroup = 0; /* joining a before the exec counted one */
	ASSERT_OK(cg_enter(&b, pid));
	for (int i = 0; i < 50 && !f.ncgroup; i++)
		fixture_drain(&f, 20);
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	b_id = cg_id(&b);
	kill_wait(pid);
	rmdir(a.path);
	rmdir(b.path);
	ASSERT_EQ(f.ncgroup, 1);
	snprintf(want, sizeof(want), "/%s", b.name);
	ASSERT_STREQ(st.cgroup, want);
	ASSERT_STREQ(f.last_exec.cgroup, want);
	ASSERT_NE(b_id, 0);
	ASSERT_EQ(st.cgroup_id, b_id);
	fixture_close(&f);
}

/* The ring buffer's counters move, and a tiny buffer counts what it drops. */
TEST(ringbuf_loss_is_counted)
{
	struct tracker_opts opts = { .ringbuf_bytes = 4096 };
	struct tracker_ops ops = { 0 };
	struct tracker_stats s;
	struct probe_result pr;
	struct tracker *t;
	char why[256];

	probe_run(&pr);
	if (probe_check(&pr, why, sizeof(why)) < 0)
		SKIP("%s", why);
	ASSERT_OK(tracker_open(&opts, &ops, &t, why, sizeof(why)));
	/* 64 forks without draining overflow a one-page buffer */
	for (int i = 0; i < 64; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	ASSERT_OK(tracker_stats(t, &s));
	tracker_close(t);
	ASSERT_GT(s.events, 0);
	ASSERT_GT(s.lost, 0);
}

/*
 * A fileless exec (memfd + fexecve) runs a file with no name: the record
 * says so, and no unix:path can be derived from it.
 */
TEST(exec_memfd_flagged_deleted)
{
	char real[PATH_MAX], buf[65536];
	struct proc_state st;
	struct fixture f;
	int in, mfd;
	ssize_t n;
	pid_t pid;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath(fixture_helper("sleeper"), real));
	in = open(real, O_RDONLY | O_CLOEXEC);
	ASSERT_GT(in, -1);
	mfd = memfd_create("attestd-kt", 0);
	ASSERT_GT(mfd, -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ASSERT_EQ(write(mfd, buf, n), n);
	close(in);
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "sleeper", NULL }, *envp[] = { NULL };

		fexecve(mfd, argv, envp);
		_exit(101);
	}
	close(mfd);
	f.watch_tgid = pid;
	if (!wait_exec(&f, 1)) {
		kill_wait(pid);
		FAIL("no exec event");
	}
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	kill_wait(pid);
	test_diag("memfd exe recorded as '%s' flags 0x%x", st.exe, st.flags);
	ASSERT_TRUE(st.flags & PROC_F_EXE_DELETED);
	fixture_close(&f);
}

/*
 * On hybrid hosts the v1 hierarchy (memory, else cpu) is tracked too: a
 * process in a v1 cgroup has that path and id, as /proc says.  On a pure v2
 * host (the VM) nothing is tracked and the fields stay empty.
 */
TEST(cgroup_v1_path_when_mounted)
{
	const char *ctrl = tracker_v1_controller();
	struct procfs fs = { "/proc", procfs_cgroup2_mount(), ctrl, NULL };
	char real[PATH_MAX], mnt[PATH_MAX], dir[PATH_MAX + 64], procs[PATH_MAX + 80];
	struct proc_state st, fst;
	struct fixture f;
	pid_t pid;

	if (fixture_open(&f) < 0)
		return;
	ASSERT_NOT_NULL(realpath(fixture_helper("sleeper"), real));
	dir[0] = '\0';
	if (ctrl) {
		ASSERT_NOT_NULL(procfs_v1_mount(ctrl, mnt, sizeof(mnt)));
		fs.v1_mount = mnt;
		snprintf(dir, sizeof(dir), "%s/attestd-kt-v1-%d", mnt, getpid());
		ASSERT_OK(mkdir(dir, 0755) && errno != EEXIST ? -errno : 0);
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	}
	pid = fork();
	if (pid == 0) {
		if (ctrl) {
			FILE *p = fopen(procs, "w");

			if (!p || fprintf(p, "%d\n", getpid()) < 0 || fclose(p))
				_exit(100);
		}
		execl(real, "sleeper", NULL);
		_exit(101);
	}
	f.watch_tgid = pid;
	if (!wait_exec(&f, 1)) {
		kill_wait(pid);
		FAIL("no exec event");
	}
	ASSERT_OK(tracker_lookup(f.t, pid, &st));
	ASSERT_OK(procfs_read(&fs, pid, &fst));
	kill_wait(pid);
	if (dir[0]) {
		char want[PATH_MAX];

		rmdir(dir);
		snprintf(want, sizeof(want), "/attestd-kt-v1-%d", getpid());
		test_diag("v1 controller %s at %s", ctrl, mnt);
		ASSERT_STREQ(st.cgroup_v1, want);
		ASSERT_STREQ(fst.cgroup_v1, want);
		ASSERT_NE(st.cgroup_v1_id, 0);
		ASSERT_EQ(st.cgroup_v1_id, fst.cgroup_v1_id);
	} else {
		test_diag("no v1 hierarchy: nothing tracked");
		ASSERT_STREQ(st.cgroup_v1, "");
		ASSERT_EQ(st.cgroup_v1_id, 0);
	}
	fixture_close(&f);
}
