// SPDX-License-Identifier: Apache-2.0
/* Selector strings derived from a kernel record, exactly as design.md spells them. */
#include <string.h>
#include "selectors.h"
#include "test.h"

TEST(selectors_unix_and_kernel_strings)
{
	struct proc_state st;
	const char *lineage[] = { "/usr/bin/containerd-shim", "/sbin/init" };
	struct selector_input in = { .st = &st, .sha256 = "ab12", .lineage = lineage,
				     .nlineage = 2 };
	static const char *const want[] = {
		"cgroup:path:/kubepods/pod1/abc",
		"lineage:path:/sbin/init",
		"lineage:path:/usr/bin/containerd-shim",
		"ns:mnt:4026531841",
		"ns:pid:4026531836",
		"unix:gid:0",
		"unix:group:root",
		"unix:path:/usr/bin/app",
		"unix:sha256:ab12",
		"unix:supplementary_gid:0",
		"unix:supplementary_gid:4242",
		"unix:supplementary_group:root",
		"unix:uid:0",
		"unix:user:root",
	};
	struct strv out = { 0 };

	memset(&st, 0, sizeof(st));
	st.uid = 1000; /* real ids do not count: unix:uid is the effective one */
	st.gid = 1000;
	st.ngroups = 3;
	st.groups[0] = 0;
	st.groups[1] = 4242;
	st.groups[2] = 0; /* duplicates collapse */
	st.pidns_ino = 4026531836U;
	st.mntns_ino = 4026531841U;
	strcpy(st.exe, "/usr/bin/app");
	strcpy(st.cgroup, "/kubepods/pod1/abc");
	ASSERT_OK(selectors_derive(&in, &out));
	for (size_t i = 0; i < out.n; i++)
		test_diag("%s", out.v[i]);
	ASSERT_EQ(out.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < out.n; i++)
		ASSERT_STREQ(out.v[i], want[i]);
	strv_free(&out);
}

TEST(selectors_without_digest_or_exe)
{
	struct proc_state st;
	struct selector_input in = { .st = &st };
	struct strv out = { 0 };

	memset(&st, 0, sizeof(st));
	st.flags = PROC_F_NO_EXE;
	strcpy(st.cgroup, "/");
	ASSERT_OK(selectors_derive(&in, &out));
	for (size_t i = 0; i < out.n; i++) {
		if (!strncmp(out.v[i], "unix:path:", 10) || !strncmp(out.v[i], "unix:sha256:", 12))
			FAIL("unexpected %s", out.v[i]);
	}
	ASSERT_STREQ(out.v[0], "cgroup:path:/");
	strv_free(&out);
}
