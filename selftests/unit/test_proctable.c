// SPDX-License-Identifier: Apache-2.0
/*
 * The process table: PID reuse never returns the old process's facts,
 * exits match on start time, lineage is inherited, listing is sorted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proctable.h"
#include "proctable_hooks.h"
#include "test.h"

#define TICK_NS 10000000ULL /* USER_HZ 100 */

static struct proc_state mk(uint32_t tgid, uint64_t start_ticks, uint32_t euid, const char *exe)
{
	struct proc_state st;

	memset(&st, 0, sizeof(st));
	st.tgid = tgid;
	st.start_ns = start_ticks * TICK_NS + 12345; /* sub-tick noise, as the kernel has */
	st.uid = st.euid = euid;
	st.gid = st.egid = euid;
	snprintf(st.exe, sizeof(st.exe), "%s", exe);
	snprintf(st.cgroup, sizeof(st.cgroup), "/");
	return st;
}

static bool has(const struct proc_info *pi, const char *sel)
{
	for (size_t i = 0; i < pi->nselectors; i++)
		if (strcmp(pi->selectors[i], sel) == 0)
			return true;
	return false;
}

TEST(proctable_pid_reuse)
{
	struct proctable *pt;
	struct proc_info *pi;
	struct proc_state a = mk(500, 100, 1000, "/usr/bin/old"), b = mk(500, 900, 0, "/usr/bin/new");

	ASSERT_OK(proctable_new(&pt));
	ASSERT_OK(proctable_upsert(pt, &a));
	ASSERT_OK(proctable_get(pt, 500, 100, &pi));
	ASSERT_TRUE(has(pi, "unix:uid:1000"));
	proc_info_free(pi);

	/* the PID is reused by a new process */
	ASSERT_OK(proctable_upsert(pt, &b));
	ASSERT_EQ(proctable_count(pt), 1);
	/* asking for the old (pid, start) never gets the new facts */
	ASSERT_ERR(proctable_get(pt, 500, 100, &pi), -ESRCH);
	ASSERT_OK(proctable_get(pt, 500, 900, &pi));
	ASSERT_FALSE(has(pi, "unix:uid:1000"));
	ASSERT_TRUE(has(pi, "unix:uid:0"));
	ASSERT_TRUE(has(pi, "unix:path:/usr/bin/new"));
	proc_info_free(pi);
	/* a late exit of the old process does not remove the new one */
	ASSERT_ERR(proctable_remove(pt, 500, a.start_ns), -ENOENT);
	ASSERT_EQ(proctable_count(pt), 1);
	ASSERT_OK(proctable_remove(pt, 500, b.start_ns));
	ASSERT_ERR(proctable_get(pt, 500, 0, &pi), -ENOENT);
	proctable_free(pt);
}

TEST(proctable_exec_replaces_facts_keeps_lineage)
{
	struct proctable *pt;
	struct proc_info *pi;
	struct proc_state parent = mk(10, 5, 0, "/usr/sbin/sshd");
	struct proc_state child = mk(11, 6, 0, "/usr/sbin/sshd");

	child.ppid = 10;
	child.parent_start_ns = parent.start_ns;
	ASSERT_OK(proctable_new(&pt));
	ASSERT_OK(proctable_upsert(pt, &parent));
	ASSERT_OK(proctable_upsert(pt, &child));
	/* the child execs a shell as uid 1000 */
	snprintf(child.exe, sizeof(child.exe), "/bin/bash");
	child.euid = 1000;
	ASSERT_OK(proctable_upsert(pt, &child));
	ASSERT_OK(proctable_get(pt, 11, 6, &pi));
	ASSERT_TRUE(has(pi, "unix:path:/bin/bash"));
	ASSERT_FALSE(has(pi, "unix:path:/usr/sbin/sshd"));
	ASSERT_TRUE(has(pi, "unix:uid:1000"));
	ASSERT_TRUE(has(pi, "lineage:path:/usr/sbin/sshd"));
	proc_info_free(pi);
	proctable_free(pt);
}

/* A parent whose PID was reused is not an ancestor. */
TEST(proctable_lineage_checks_parent_start)
{
	struct proctable *pt;
	struct proc_info *pi;
	struct proc_state impostor = mk(10, 50, 0, "/usr/bin/impostor");
	struct proc_state child = mk(11, 60, 0, "/bin/true");

	child.ppid = 10;
	child.parent_start_ns = 5 * TICK_NS; /* the real parent started at tick 5 */
	ASSERT_OK(proctable_new(&pt));
	ASSERT_OK(proctable_upsert(pt, &impostor));
	ASSERT_OK(proctable_upsert(pt, &child));
	ASSERT_OK(proctable_get(pt, 11, 0, &pi));
	ASSERT_FALSE(has(pi, "lineage:path:/usr/bin/impostor"));
	proc_info_free(pi);
	proctable_free(pt);
}

/* Truncated paths give no unix:path: a cut path names another file. */
TEST(proctable_truncated_exe_has_no_path_selector)
{
	struct proctable *pt;
	struct proc_info *pi;
	struct proc_state st = mk(20, 1, 0, "/very/long/cut");

	st.flags |= PROC_F_EXE_TRUNCATED;
	ASSERT_OK(proctable_new(&pt));
	ASSERT_OK(proctable_upsert(pt, &st));
	ASSERT_OK(proctable_get(pt, 20, 0, &pi));
	for (size_t i = 0; i < pi->nselectors; i++)
		if (strncmp(pi->selectors[i], "unix:path:", 10) == 0)
			FAIL("unexpected %s", pi->selectors[i]);
	proc_info_free(pi);
	proctable_free(pt);
}

static int fake_match(void *ctx, const char *const *sel, size_t n, struct strv *eids,
		      struct strv *ids)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(sel[i], "unix:uid:4242") == 0) {
			int r = strv_push(eids, "entry-1");

			return r ? r : strv_push(ids, "spiffe://example.org/w");
		}
	return 0;
}

struct changes {
	int updated, gone;
	uint32_t last_tgid;
};

static void count_changes(void *ctx, uint32_t tgid, uint64_t ticks, bool gone)
{
	struct changes *c = ctx;

	c->last_tgid = tgid;
	if (gone)
		c->gone++;
	else
		c->updated++;
}

/* Identity changes are announced: matching, then not, then exit. */
TEST(proctable_changed_hook)
{
	struct changes c = { 0 };
	struct proctable_hooks hooks = { .ctx = &c, .match = fake_match, .changed = count_changes };
	struct proctable *pt;
	struct proc_info *pi;
	struct proc_state st = mk(900, 7, 4242, "/bin/app");

	ASSERT_OK(proctable_new(&pt));
	proctable_set_hooks(pt, &hooks);
	ASSERT_OK(proctable_upsert(pt, &st));
	ASSERT_EQ(c.updated, 1);
	ASSERT_OK(proctable_get(pt, 900, 7, &pi));
	ASSERT_EQ(pi->nentry_ids, 1);
	ASSERT_STREQ(pi->entry_ids[0], "entry-1");
	proc_info_free(pi);
	st.euid = 0; /* setuid away: the entry no longer matches */
	ASSERT_OK(proctable_upsert(pt, &st));
	ASSERT_EQ(c.updated, 2);
	ASSERT_OK(proctable_get(pt, 900, 7, &pi));
	ASSERT_EQ(pi->nentry_ids, 0);
	proc_info_free(pi);
	/* an unrelated, non-matching update is not announced */
	ASSERT_OK(proctable_upsert(pt, &st));
	ASSERT_EQ(c.updated, 2);
	ASSERT_OK(proctable_remove(pt, 900, st.start_ns));
	ASSERT_EQ(c.gone, 1);
	ASSERT_EQ(c.last_tgid, 900);
	proctable_free(pt);
}

TEST(proctable_list_sorted_and_matched)
{
	struct proctable *pt;
	struct proc_info **list;
	struct proctable_hooks hooks = { .match = fake_match };
	size_t n;

	ASSERT_OK(proctable_new(&pt));
	proctable_set_hooks(pt, &hooks);
	/* enough to make the table grow its buckets */
	for (uint32_t i = 3000; i > 0; i--) {
		struct proc_state st = mk(i, i, i == 77 ? 4242 : 0, "/bin/x");

		ASSERT_OK(proctable_upsert(pt, &st));
	}
	ASSERT_OK(proctable_list(pt, &list, &n));
	ASSERT_EQ(n, 3000);
	for (size_t i = 1; i < n; i++)
		if (list[i - 1]->st.tgid >= list[i]->st.tgid)
			FAIL("not sorted at %zu", i);
	ASSERT_EQ(list[76]->st.tgid, 77);
	ASSERT_EQ(list[76]->nspiffe_ids, 1);
	ASSERT_STREQ(list[76]->spiffe_ids[0], "spiffe://example.org/w");
	ASSERT_EQ(list[0]->nspiffe_ids, 0);
	proc_info_list_free(list, n);
	proctable_free(pt);
}

/* A deferred fork is derived by the sweep, by a lookup, or by its exec. */
TEST(proctable_deferred_fork)
{
	struct changes c = { 0 };
	struct proctable_hooks hooks = { .ctx = &c, .match = fake_match, .changed = count_changes };
	struct proctable *pt;
	struct proc_info *pi;
	struct proc_state a = mk(1000, 1, 4242, "/bin/a"), b = mk(1001, 2, 4242, "/bin/b");

	ASSERT_OK(proctable_new(&pt));
	proctable_set_hooks(pt, &hooks);
	ASSERT_OK(proctable_upsert_flags(pt, &a, PROCTABLE_DEFER));
	ASSERT_OK(proctable_upsert_flags(pt, &b, PROCTABLE_DEFER));
	ASSERT_EQ(c.updated, 0); /* nothing derived, nothing announced yet */
	ASSERT_EQ(proctable_count(pt), 2);
	/* too young for the sweep */
	ASSERT_EQ(proctable_derive_pending(pt, 60ULL * 1000000000ULL), 0);
	/* a lookup derives on demand */
	ASSERT_OK(proctable_get(pt, 1000, 1, &pi));
	ASSERT_EQ(pi->nentry_ids, 1);
	ASSERT_TRUE(has(pi, "unix:path:/bin/a"));
	proc_info_free(pi);
	ASSERT_EQ(c.updated, 1);
	/* the sweep takes the rest, and skips the one already derived */
	ASSERT_EQ(proctable_derive_pending(pt, 0), 1);
	ASSERT_EQ(c.updated, 2);
	ASSERT_EQ(proctable_derive_pending(pt, 0), 0);
	proctable_free(pt);
}
