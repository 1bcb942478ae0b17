// SPDX-License-Identifier: Apache-2.0
/*
 * Feature probe.  Each check asks the kernel directly (a map or program
 * load via libbpf's probes) rather than guessing from the version.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/capability.h>
#include "probe.h"
#include "procfs.h"

static bool has_caps(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t admin = CAP_CLEAR, bpf = CAP_CLEAR, perfmon = CAP_CLEAR;

	if (!caps)
		return false;
	cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &admin);
#ifdef CAP_BPF
	cap_get_flag(caps, CAP_BPF, CAP_EFFECTIVE, &bpf);
	cap_get_flag(caps, CAP_PERFMON, CAP_EFFECTIVE, &perfmon);
#endif
	cap_free(caps);
	return admin == CAP_SET || (bpf == CAP_SET && perfmon == CAP_SET);
}

/*
 * libbpf's generic probe cannot load a tracing program (it needs a BTF
 * target), so load the smallest tp_btf program on sched_process_exec.
 */
static bool probe_tp_btf(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP);
	struct btf *btf = btf__load_vmlinux_btf();
	int id, fd;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exec", BTF_KIND_TYPEDEF);
	btf__free(btf);
	if (id <= 0)
		return false;
	opts.attach_btf_id = id;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "attestd_probe", "GPL", insns, 2, &opts);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void probe_run(struct probe_result *pr)
{
	pr->btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	pr->privileged = has_caps();
	pr->ringbuf = pr->privileged && libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	pr->tracing = pr->privileged && pr->btf && probe_tp_btf();
	pr->loop = pr->privileged &&
		   libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCKET_FILTER, BPF_FUNC_loop, NULL) == 1;
	pr->cgroup2 = procfs_cgroup2_mount();
}

int probe_check(const struct probe_result *pr, char *why, size_t len)
{
	if (!pr->btf)
		snprintf(why, len, "kernel has no BTF (/sys/kernel/btf/vmlinux missing): "
				   "CONFIG_DEBUG_INFO_BTF=y is required");
	else if (!pr->privileged)
		snprintf(why, len, "not privileged: CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) "
				   "are required");
	else if (!pr->ringbuf)
		snprintf(why, len, "kernel lacks BPF ring buffer maps (Linux 5.8 or later)");
	else if (!pr->tracing)
		snprintf(why, len, "kernel lacks BPF tracing (tp_btf) programs (Linux 5.5 or later)");
	else if (!pr->loop)
		snprintf(why, len, "kernel lacks the bpf_loop() helper (Linux 5.17 or later)");
	else if (!pr->cgroup2)
		snprintf(why, len, "no cgroup v2 hierarchy mounted at /sys/fs/cgroup or "
				   "/sys/fs/cgroup/unified");
	else
		return 0;
	return -ENOTSUP;
}
