// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup_parse() over the layouts real nodes have, and over hostile paths:
 * one table row per path, with what it must yield or why it must fail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cgroup.h"
#include "selectors.h"
#include "selectors_container.h"
#include "test.h"

#define ID "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define ID2 "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define OUTER "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
#define ID63 "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48b"
#define ID65 ID "0"
#define IDUP "CA978112CA1BBDCAFAC231B39A23DC4DA786EFF8147C4E72B9807785AFEE48BB"
#define IDNOHEX "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bz"
#define UID "7c9a1b2e-3d4f-4a5b-8c6d-0e1f2a3b4c5d"
#define UID_ "7c9a1b2e_3d4f_4a5b_8c6d_0e1f2a3b4c5d"
#define UID2 "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
#define UIDSTATIC "6c8b7f2f1a0e4d3c2b1a09f8e7d6c5b4"
#define KSYS "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice"
#define KIND_POD                                                                                   \
	"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"                 \
	"kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" ID ".scope"

enum { REL = 1, DELEG = 2, CONMON = 4, NOAUTH = 8 };

struct pcase {
	const char *name;
	const char *path;
	int ret;
	const char *id, *rt, *pod, *unit;
	unsigned nesting;
	unsigned flags;
};

static const struct pcase cases[] = {
    /* Docker */
    {"docker cgroupfs", "/docker/" ID, 0, ID, "docker"},
    {"docker systemd driver", "/system.slice/docker-" ID ".scope", 0, ID, "docker", NULL,
     "docker-" ID ".scope"},
    {"docker, trailing slash", "/docker/" ID "/", 0, ID, "docker"},
    {"systemd inside a docker container", "/docker/" ID "/system.slice/nginx.service", 0, ID,
     "docker"},
    /* Kubernetes, cgroupfs driver */
    {"k8s cgroupfs burstable", "/kubepods/burstable/pod" UID "/" ID, 0, ID, NULL, UID},
    {"k8s cgroupfs besteffort", "/kubepods/besteffort/pod" UID "/" ID, 0, ID, NULL, UID},
    {"k8s cgroupfs guaranteed (no QoS level)", "/kubepods/pod" UID "/" ID, 0, ID, NULL, UID},
    {"k8s cgroupfs CRI-O", "/kubepods/burstable/pod" UID "/crio-" ID, 0, ID, "crio", UID},
    {"k8s cgroupfs static pod (32-hex uid)", "/kubepods/burstable/pod" UIDSTATIC "/" ID, 0, ID,
     NULL, UIDSTATIC},
    {"k8s pod cgroup itself", "/kubepods/burstable/pod" UID, 0, NULL, NULL, UID},
    /* Kubernetes, systemd driver */
    {"k8s systemd containerd burstable", KSYS "/cri-containerd-" ID ".scope", 0, ID, "containerd",
     UID, "cri-containerd-" ID ".scope"},
    {"k8s systemd containerd besteffort",
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_
     ".slice/cri-containerd-" ID ".scope",
     0, ID, "containerd", UID, "cri-containerd-" ID ".scope"},
    {"k8s systemd guaranteed (no QoS level)",
     "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" ID ".scope", 0, ID, "containerd",
     UID, "cri-containerd-" ID ".scope"},
    {"k8s systemd CRI-O", KSYS "/crio-" ID ".scope", 0, ID, "crio", UID, "crio-" ID ".scope"},
    {"k8s systemd CRI-O conmon is not the container", KSYS "/crio-conmon-" ID ".scope", 0, NULL,
     NULL, NULL, "crio-conmon-" ID ".scope", 0, CONMON | NOAUTH},
    {"k8s systemd cri-dockerd", KSYS "/docker-" ID ".scope", 0, ID, "docker", UID,
     "docker-" ID ".scope"},
    /* Podman */
    {"podman systemd", "/machine.slice/libpod-" ID ".scope", 0, ID, "podman", NULL,
     "libpod-" ID ".scope"},
    {"podman container sub-cgroup", "/machine.slice/libpod-" ID ".scope/container", 0, ID, "podman",
     NULL, "libpod-" ID ".scope"},
    {"podman conmon is not the container", "/machine.slice/libpod-conmon-" ID ".scope", 0, NULL,
     NULL, NULL, "libpod-conmon-" ID ".scope", 0, CONMON | NOAUTH},
    {"podman cgroupfs", "/libpod_parent/libpod-" ID, 0, ID, "podman"},
    {"rootless podman: a user's delegated cgroups",
     "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope", 0, ID,
     "podman", NULL, "user@1000.service", 0, DELEG | NOAUTH},
    /* Nested runtimes: the innermost container is the workload */
    {"kind node seen from the host", "/system.slice/docker-" OUTER ".scope" KIND_POD, 0, ID,
     "containerd", UID, "docker-" OUTER ".scope", 1, NOAUTH},
    {"kind node seen from inside", KIND_POD, 0, ID, "containerd", UID,
     "cri-containerd-" ID ".scope"},
    {"docker in docker", "/docker/" OUTER "/docker/" ID, 0, ID, "docker", NULL, NULL, 1, NOAUTH},
    {"docker in a pod", "/kubepods/burstable/pod" UID "/" OUTER "/docker/" ID, 0, ID, "docker", UID,
     NULL, 1, NOAUTH},
    /* cgroup namespaces */
    {"relative to a namespace root", "/../../kubepods/burstable/pod" UID "/" ID, 0, ID, NULL, UID,
     NULL, 0, REL | NOAUTH},
    {"namespace root hides kubepods", "/../burstable/pod" UID "/" ID, 0, ID, NULL, UID, NULL, 0,
     REL | NOAUTH},
    {"inside one's own namespace", "/", 0},
    /* no container */
    {"systemd service", "/system.slice/nginx.service", 0, NULL, NULL, NULL, "nginx.service"},
    {"login session", "/user.slice/user-1000.slice/session-3.scope", 0, NULL, NULL, NULL,
     "session-3.scope"},
    {"user service", "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", 0, NULL,
     NULL, NULL, "user@1000.service"},
    {"init", "/init.scope", 0, NULL, NULL, NULL, "init.scope"},
    {"a v1 hierarchy's job dir", "/process_api/1166187f4b33ebb7509e0bce86141723", 0},
    {"pod dir outside kubepods is no pod", "/user.slice/pod" UID "/" ID, 0, ID},
    {"unit name with a control character", "/system.slice/ngi\x01nx.service", 0},
    {"pod uid spelled with dashes in a slice",
     "/kubepods.slice/kubepods-pod" UID ".slice/cri-containerd-" ID ".scope", 0, ID, "containerd",
     NULL, "cri-containerd-" ID ".scope"},
    {"forged pod under a user manager",
     "/user.slice/user-1000.slice/user@1000.service/kubepods/pod" UID "/" ID, 0, ID, NULL, UID,
     "user@1000.service", 0, DELEG | NOAUTH},
    /* ids that are not ids */
    {"63 hex digits", "/docker/" ID63, 0},
    {"65 hex digits", "/docker/" ID65, 0},
    {"uppercase hex", "/docker/" IDUP, 0},
    {"non-hex digit", "/system.slice/docker-" IDNOHEX ".scope", 0, NULL, NULL, NULL,
     "docker-" IDNOHEX ".scope"},
    {"uppercase pod uid", "/kubepods/pod7C9A1B2E-3D4F-4A5B-8C6D-0E1F2A3B4C5D/" ID, 0, ID},
    /* conflicts and malformed paths */
    {"two pods at one level", "/kubepods/burstable/pod" UID "/pod" UID2 "/" ID, -EINVAL},
    {"two containers at one level", "/docker/" ID "/" ID2, -EINVAL},
    {"two runtimes' containers at one level",
     "/system.slice/docker-" ID ".scope/cri-containerd-" ID2 ".scope", -EINVAL},
    {"a pod inside a container", "/kubepods/pod" UID "/" ID "/pod" UID2, -EINVAL},
    {"pod slice in the wrong parent",
     "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod" UID_
     ".slice/cri-containerd-" ID ".scope",
     -EINVAL},
    {"the same container twice is one", "/system.slice/docker-" ID ".scope/" ID, 0, ID, "docker",
     NULL, "docker-" ID ".scope"},
    {"'..' inside", "/docker/../docker/" ID, -EINVAL},
    {"'.' inside", "/docker/./" ID, -EINVAL},
    {"empty component", "/docker//" ID, -EINVAL},
    {"not absolute", "docker/" ID, -EINVAL},
    {"empty", "", -EINVAL},
};

static bool opt_eq(const char *got, const char *want)
{
	return want ? strcmp(got ? got : "", want) == 0 : !got || !*got;
}

TEST(cgroup_parse_layouts)
{
	size_t bad = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		struct cgroup_info ci;
		char err[256];
		int r = cgroup_parse(c->path, &ci, err, sizeof(err));
		bool ok = r == c->ret;

		if (ok && r < 0 && !err[0])
			ok = false; /* an error always says why */
		if (ok && r == 0)
			ok = opt_eq(ci.container_id, c->id) &&
			     opt_eq(cgroup_runtime_name(ci.runtime), c->rt) &&
			     opt_eq(ci.pod_uid, c->pod) && opt_eq(ci.systemd_unit, c->unit) &&
			     ci.nesting == c->nesting && ci.ns_relative == !!(c->flags & REL) &&
			     ci.delegated == !!(c->flags & DELEG) &&
			     ci.conmon == !!(c->flags & CONMON) &&
			     cgroup_ids_authoritative(&ci) == !(c->flags & NOAUTH);
		if (!ok) {
			bad++;
			test_diag("%s: %s", c->name, c->path);
			if (r < 0)
				test_diag("  got %d (%s), expected %d", r, err, c->ret);
			else
				test_diag(
				    "  got ret %d id=%s rt=%s pod=%s unit=%s nesting=%u rel=%d "
				    "deleg=%d conmon=%d auth=%d",
				    r, ci.container_id, cgroup_runtime_name(ci.runtime) ?: "-",
				    ci.pod_uid, ci.systemd_unit, ci.nesting, ci.ns_relative,
				    ci.delegated, ci.conmon, cgroup_ids_authoritative(&ci));
		}
	}
	test_diag("%zu paths", sizeof(cases) / sizeof(cases[0]));
	ASSERT_EQ(bad, 0);
}

TEST(cgroup_parse_overlong)
{
	size_t n = CGROUP_PATH_MAX + 100;
	char *p = malloc(n + 1), err[128];
	struct cgroup_info ci;

	ASSERT_NOT_NULL(p);
	for (size_t i = 0; i < n; i++)
		p[i] = i % 8 == 0 ? '/' : 'a';
	p[n] = '\0';
	ASSERT_ERR(cgroup_parse(p, &ci, err, sizeof(err)), -ENAMETOOLONG);
	/* Just under the limit, and deep: fine, and nothing in it. */
	p[CGROUP_PATH_MAX - 1] = '\0';
	ASSERT_OK(cgroup_parse(p, &ci, err, sizeof(err)));
	ASSERT_STREQ(ci.container_id, "");
	free(p);
	ASSERT_ERR(cgroup_parse(NULL, &ci, err, sizeof(err)), -EINVAL);
}

TEST(cgroup_selector_strings)
{
	struct cgroup_info ci;
	struct strv out = {0};
	char err[128];

	ASSERT_OK(cgroup_parse(KSYS "/cri-containerd-" ID ".scope", &ci, err, sizeof(err)));
	ASSERT_OK(selectors_container_push(&ci, &out));
	strv_sort_unique(&out);
	ASSERT_EQ(out.n, 4);
	ASSERT_STREQ(out.v[0], "container:id:" ID);
	ASSERT_STREQ(out.v[1], "container:runtime:containerd");
	ASSERT_STREQ(out.v[2], "k8s:pod-uid:" UID);
	ASSERT_STREQ(out.v[3], "systemd:id:cri-containerd-" ID ".scope");
	strv_free(&out);
}

/* The deriver reads the v2 path unless it is the v2 root, then the v1 one. */
TEST(cgroup_v2_then_v1)
{
	struct proc_state st;
	struct selector_input in = {.st = &st};
	struct strv out = {0};
	bool found = false;

	memset(&st, 0, sizeof(st));
	strcpy(st.cgroup, "/");
	strcpy(st.cgroup_v1, "/docker/" ID);
	ASSERT_STREQ(selectors_container_cgroup(&st), "/docker/" ID);
	ASSERT_OK(selectors_container(&in, &out));
	for (size_t i = 0; i < out.n; i++)
		found |= strcmp(out.v[i], "container:id:" ID) == 0;
	ASSERT_TRUE(found);
	strv_free(&out);

	strcpy(st.cgroup, "/system.slice/docker-" ID2 ".scope");
	ASSERT_STREQ(selectors_container_cgroup(&st), st.cgroup);
	st.flags = PROC_F_CGROUP_TRUNCATED;
	ASSERT_TRUE(selectors_container_cgroup(&st) == NULL);
	strcpy(st.cgroup, "/");
	st.flags = PROC_F_CGROUP_V1_TRUNCATED;
	ASSERT_TRUE(selectors_container_cgroup(&st) == NULL);

	/* A conflicting path: no container selectors, and no failure for the rest. */
	st.flags = 0;
	strcpy(st.cgroup, "/docker/" ID "/" ID2);
	ASSERT_OK(selectors_container(&in, &out));
	ASSERT_EQ(out.n, 0);
	strv_free(&out);
}
