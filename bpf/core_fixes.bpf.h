/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel structures whose layout changed across the versions attestd runs
 * on.  Each old shape is a CO-RE "flavor" (a ___suffix type); the reader
 * picks whichever field the running kernel has, so one object built here
 * loads on 6.1 and on current kernels alike.
 */
#ifndef ATTESTD_CORE_FIXES_BPF_H
#define ATTESTD_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/* 6.15 renamed kernfs_node::parent to __parent (RCU-protected). */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct kernfs_node___new {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	struct kernfs_node___new *knn = (void *)kn;
	struct kernfs_node___old *kno = (void *)kn;

	if (bpf_core_field_exists(knn->__parent))
		return BPF_CORE_READ(knn, __parent);
	return BPF_CORE_READ(kno, parent);
}

/*
 * inode ctime: a timespec64 i_ctime until 6.5, __i_ctime in 6.6-6.10,
 * then split into i_ctime_sec and i_ctime_nsec.
 */
struct inode___v61 {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___v66 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___v611 {
	time64_t i_ctime_sec;
	u32 i_ctime_nsec;
} __attribute__((preserve_access_index));

static __always_inline __u64 inode_ctime_ns(struct inode *inode)
{
	struct inode___v611 *i11 = (void *)inode;
	struct inode___v66 *i6 = (void *)inode;
	struct inode___v61 *i1 = (void *)inode;
	__u64 sec, nsec;

	if (bpf_core_field_exists(i11->i_ctime_sec)) {
		sec = BPF_CORE_READ(i11, i_ctime_sec);
		/* since 6.13 bit 31 flags a multigrain ctime as queried */
		nsec = BPF_CORE_READ(i11, i_ctime_nsec) & ~(1U << 31);
	} else if (bpf_core_field_exists(i6->__i_ctime)) {
		sec = BPF_CORE_READ(i6, __i_ctime.tv_sec);
		nsec = BPF_CORE_READ(i6, __i_ctime.tv_nsec);
	} else {
		sec = BPF_CORE_READ(i1, i_ctime.tv_sec);
		nsec = BPF_CORE_READ(i1, i_ctime.tv_nsec);
	}
	return sec * 1000000000ULL + nsec;
}

#endif
