/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel feature probe, shared by attestd's start-up and the selftests: is
 * there BTF, enough privilege, a ring buffer, tp_btf programs, and where is
 * cgroup v2.  A missing feature is named in one line.
 */
#ifndef ATTESTD_PROBE_H
#define ATTESTD_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct probe_result {
	bool btf;
	bool privileged;
	bool ringbuf;
	bool tracing;
	bool loop; /* bpf_loop(), for the path walks (5.17) */
	const char *cgroup2; /* mount point, NULL if absent */
};

void probe_run(struct probe_result *pr);
/* 0 if attestd can run; else -ENOTSUP with a one-line reason in why. */
int probe_check(const struct probe_result *pr, char *why, size_t len);

#endif
