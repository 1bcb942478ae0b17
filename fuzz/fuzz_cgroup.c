// SPDX-License-Identifier: Apache-2.0
/* cgroup_parse on arbitrary paths (from /proc/PID/cgroup and the kernel's record). */
#include <string.h>
#include "cgroup.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), err[256];
	struct cgroup_info ci;

	if (!s)
		return 0;
	if (cgroup_parse(s, &ci, err, sizeof(err)) == 0) {
		if (strnlen(ci.container_id, sizeof(ci.container_id)) == sizeof(ci.container_id) ||
		    strnlen(ci.pod_uid, sizeof(ci.pod_uid)) == sizeof(ci.pod_uid) ||
		    strnlen(ci.systemd_unit, sizeof(ci.systemd_unit)) == sizeof(ci.systemd_unit))
			__builtin_trap();
		(void)cgroup_ids_authoritative(&ci);
		(void)cgroup_runtime_name(ci.runtime);
	}
	free(s);
	return 0;
}
