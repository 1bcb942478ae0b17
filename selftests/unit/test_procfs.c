// SPDX-License-Identifier: Apache-2.0
/*
 * /proc bootstrap: stat parsing with hostile comm values, a fake /proc tree
 * read field by field, and the real /proc agreeing with itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bootstrap.h"
#include "procfs.h"
#include "proctable.h"
#include "test.h"

TEST(procfs_parse_stat_cases)
{
	static const struct {
		const char *text;
		int ret;
		uint32_t ppid;
		uint64_t start;
	} cases[] = {
		{ "1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 42 1000 10", 0, 0, 42 },
		/* comm with spaces and parentheses: fields count after the last ')' */
		{ "77 (a) b) (c) R 12 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9999 0 0", 0, 12, 9999 },
		{ "5 (x y z) S 4 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456789012 0", 0, 4,
		  123456789012ULL },
		{ "5 (noclose S 4 5 5", -EINVAL, 0, 0 },
		{ "5 (short) S 4 5 5 0", -EINVAL, 0, 0 },
		{ "", -EINVAL, 0, 0 },
		{ "9 (bad) S x 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0", -EINVAL, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t ppid = 0;
		uint64_t start = 0;
		int r = procfs_parse_stat(cases[i].text, &ppid, &start);

		if (r != cases[i].ret)
			FAIL("case %zu: ret %d, expected %d", i, r, cases[i].ret);
		if (r == 0 && (ppid != cases[i].ppid || start != cases[i].start))
			FAIL("case %zu: ppid %u start %llu, expected %u %llu", i, ppid,
			     (unsigned long long)start, cases[i].ppid,
			     (unsigned long long)cases[i].start);
	}
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A fake /proc/4242 with every file the reader looks at. */
TEST(procfs_read_fake_tree)
{
	char root[] = "/tmp/attestd-procfs-XXXXXX", dir[PATH_MAX], exe[PATH_MAX];
	struct procfs fs;
	struct proc_state st;
	struct stat sb;

	ASSERT_NOT_NULL(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/4242", root);
	ASSERT_OK(mkdir(dir, 0755) ? -errno : 0);
	put(dir, "stat", "4242 (my (prog)) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "
			 "31337 0 0\n");
	put(dir, "status", "Name:\tmy (prog)\nUid:\t1000\t4242\t4242\t4242\n"
			   "Gid:\t1001\t4243\t4243\t4243\nGroups:\t10 20 30 \n");
	put(dir, "comm", "my (prog)\n");
	put(dir, "cgroup", "12:memory:/x\n0::/system.slice/demo.service\n");
	snprintf(exe, sizeof(exe), "%s/exe", dir);
	ASSERT_OK(symlink("/bin/sh", exe) ? -errno : 0);
	fs = (struct procfs){ root, NULL };

	ASSERT_OK(procfs_read(&fs, 4242, &st));
	ASSERT_EQ(st.tgid, 4242);
	ASSERT_EQ(st.ppid, 1);
	ASSERT_EQ(proc_ns_to_ticks(st.start_ns), 31337);
	ASSERT_EQ(st.uid, 1000);
	ASSERT_EQ(st.euid, 4242);
	ASSERT_EQ(st.gid, 1001);
	ASSERT_EQ(st.egid, 4243);
	ASSERT_EQ(st.ngroups, 3);
	ASSERT_EQ(st.groups[2], 30);
	ASSERT_STREQ(st.comm, "my (prog)");
	ASSERT_STREQ(st.exe, "/bin/sh");
	ASSERT_STREQ(st.cgroup, "/system.slice/demo.service");
	ASSERT_OK(stat("/bin/sh", &sb) ? -errno : 0);
	ASSERT_EQ(st.exe_ino, sb.st_ino); /* stat() follows the exe link to the file */
	ASSERT_TRUE(st.flags & PROC_F_FROM_PROCFS);
	ASSERT_STREQ(st.cgroup_v1, ""); /* not asked for */
	fs.v1_controller = "memory";
	ASSERT_OK(procfs_read(&fs, 4242, &st));
	ASSERT_STREQ(st.cgroup_v1, "/x");
	ASSERT_STREQ(st.cgroup, "/system.slice/demo.service");
	fs.v1_controller = "cpu"; /* "memory" only: no cpu hierarchy listed */
	ASSERT_OK(procfs_read(&fs, 4242, &st));
	ASSERT_STREQ(st.cgroup_v1, "");
	/* a pid that is not there */
	ASSERT_ERR(procfs_read(&fs, 4243, &st), -ESRCH);
	/* an unparsable stat is refused, not guessed */
	put(dir, "stat", "garbage");
	ASSERT_ERR(procfs_read(&fs, 4242, &st), -EINVAL);
	(void)!system("rm -rf /tmp/attestd-procfs-*");
}

/* The real /proc: our own record is what we know about ourselves. */
TEST(procfs_read_self)
{
	struct procfs fs = { "/proc", procfs_cgroup2_mount() };
	char exe[PATH_MAX];
	struct proc_state st;
	ssize_t n;

	ASSERT_OK(procfs_read(&fs, getpid(), &st));
	ASSERT_EQ(st.tgid, getpid());
	ASSERT_EQ(st.ppid, getppid());
	ASSERT_EQ(st.euid, geteuid());
	ASSERT_EQ(st.egid, getegid());
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_GT(n, 0);
	exe[n] = '\0';
	ASSERT_STREQ(st.exe, exe);
	ASSERT_GT(st.start_ns, 0);
	ASSERT_GT(st.parent_start_ns, 0);
	ASSERT_NE(st.pidns_ino, 0);
}

/* Bootstrap fills a table from /proc, parents before children. */
TEST(bootstrap_sync_real_proc)
{
	struct procfs fs = { "/proc", procfs_cgroup2_mount() };
	struct proctable *pt;
	struct proc_info *pi;
	struct sync_stats s;

	ASSERT_OK(proctable_new(&pt));
	ASSERT_OK(bootstrap_sync(&fs, NULL, pt, &s));
	ASSERT_GT(s.seen, 2);
	/* processes that exited during the scan were dropped again */
	ASSERT_EQ(proctable_count(pt), s.seen - s.removed);
	ASSERT_OK(proctable_get(pt, getpid(), 0, &pi));
	ASSERT_EQ(pi->st.ppid, getppid());
	/* our parent's executable is in our lineage */
	{
		char pexe[PATH_MAX], want[PATH_MAX + 16], link[64];
		ssize_t n;
		bool found = false;

		snprintf(link, sizeof(link), "/proc/%d/exe", getppid());
		n = readlink(link, pexe, sizeof(pexe) - 1);
		ASSERT_GT(n, 0);
		pexe[n] = '\0';
		snprintf(want, sizeof(want), "lineage:path:%s", pexe);
		for (size_t i = 0; i < pi->nselectors; i++)
			found |= strcmp(pi->selectors[i], want) == 0;
		if (!found)
			FAIL("no %s among %zu selectors", want, pi->nselectors);
	}
	proc_info_free(pi);
	proctable_free(pt);
}
