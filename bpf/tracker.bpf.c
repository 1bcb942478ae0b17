// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The process tracker: follows exec, fork, exit and cgroup moves and keeps
 * one proc_state per thread group in the procs map, keyed by tgid.  Every
 * change is also sent to user space on the events ring buffer; an event that
 * cannot be reserved is counted, never silently dropped, so that attestd
 * knows to resync.  The map is the authority: user space reads it back at
 * answer time and after a loss.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "tracker.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Scratch for building paths backwards; a power of two, plus a name's slack. */
#define SCRATCH_SZ 1024
#define SCRATCH_MASK (SCRATCH_SZ - 1)
#define NAME_MASK 255

/* Keeps clang from dropping a mask the verifier needs to see. */
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

/* Set by user space before load: enum cgroup_subsys_id of the v1 hierarchy, or -1. */
const volatile int v1_subsys_id = -1;

struct scratch {
	struct event ev;
	char buf[SCRATCH_SZ + NAME_MASK + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROCS_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* records are big: pay per process */
	__type(key, __u32);
	__type(value, struct proc_state);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

static __always_inline void stat_inc(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &slot);

	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_map, &zero);
}

/*
 * Paths are built backwards in the scratch buffer, one component per
 * bpf_loop() step: the verifier checks a step once, not once per level.
 */
struct walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct kernfs_node *kn;
	__u32 pos;
	bool done;
	bool truncated;
};

/* Puts "/name" (len bytes) in front of w->pos; false when it does not fit. */
static __always_inline bool prepend_name(struct walk *w, const void *name, __u32 len)
{
	struct scratch *s = get_scratch();

	if (!s)
		return false;
	if (len + 1 > w->pos) {
		w->truncated = true;
		return false;
	}
	w->pos -= len;
	barrier_var(len);
	len &= NAME_MASK;
	bpf_probe_read_kernel(&s->buf[w->pos & SCRATCH_MASK], len, name);
	w->pos -= 1;
	s->buf[w->pos & SCRATCH_MASK] = '/';
	return true;
}

/*
 * One step from a dentry towards the root of the mount namespace that holds
 * it, crossing mount points: the result is the path /proc/PID/exe shows to
 * a reader in the initial namespace.
 */
static long dentry_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	/* locals: CO-RE relocations must not reach into struct walk itself */
	struct dentry *dentry = w->dentry, *parent;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	__u32 len;

	if (dentry == mnt_root) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (up == mnt) { /* root of its mount namespace */
			w->done = true;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (parent == dentry) { /* a filesystem root outside any mount */
		w->done = true;
		return 1;
	}
	len = BPF_CORE_READ(dentry, d_name.len);
	if (!prepend_name(w, BPF_CORE_READ(dentry, d_name.name), len))
		return 1;
	w->dentry = parent;
	return 0;
}

/* One step up the cgroup v2 hierarchy; the root itself has no name. */
static long kernfs_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	struct kernfs_node *kn = w->kn;
	struct kernfs_node *parent = kn_parent(kn);
	const char *name;
	struct scratch *s;
	long len;

	if (!parent) {
		w->done = true;
		return 1;
	}
	s = get_scratch();
	if (!s)
		return 1;
	name = BPF_CORE_READ(kn, name);
	/* Read the name into the slack past the buffer first, to learn its length. */
	len = bpf_probe_read_kernel_str(&s->buf[SCRATCH_SZ], NAME_MASK + 1, name);
	if (len <= 1)
		return 1;
	if (!prepend_name(w, name, (__u32)(len - 1)))
		return 1;
	w->kn = parent;
	return 0;
}

/* Copies buf[pos..SCRATCH_SZ) into out as a string; "/" when empty. */
static __always_inline bool copy_path(char *out, __u32 out_len, const char *buf, __u32 pos)
{
	__u32 len = SCRATCH_SZ - pos;

	if (len == 0) {
		out[0] = '/';
		out[1] = '\0';
		return false;
	}
	if (len > out_len - 1) {
		bpf_probe_read_kernel(out, out_len - 1, &buf[pos & SCRATCH_MASK]);
		out[out_len - 1] = '\0';
		return true;
	}
	barrier_var(len);
	len &= out_len - 1;
	bpf_probe_read_kernel(out, len, &buf[pos & SCRATCH_MASK]);
	out[len] = '\0';
	return false;
}

static __always_inline void fill_exe(struct scratch *s, struct file *file)
{
	struct proc_state *st = &s->ev.state;
	struct vfsmount *vfsmnt;
	struct inode *inode;
	struct walk w = { .pos = SCRATCH_SZ };

	if (!file) {
		st->flags |= PROC_F_NO_EXE;
		st->exe[0] = '\0';
		return;
	}
	vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	w.dentry = BPF_CORE_READ(file, f_path.dentry);
	w.mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	bpf_loop(PATH_MAX_DEPTH, dentry_step, &w, 0);
	if (copy_path(st->exe, EXE_PATH_LEN, s->buf, w.pos) || !w.done || w.truncated)
		st->flags |= PROC_F_EXE_TRUNCATED;
	inode = BPF_CORE_READ(file, f_inode);
	if (BPF_CORE_READ(inode, __i_nlink) == 0)
		st->flags |= PROC_F_EXE_DELETED;
	st->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	st->exe_ino = BPF_CORE_READ(inode, i_ino);
	st->exe_size = BPF_CORE_READ(inode, i_size);
	st->exe_ctime_ns = inode_ctime_ns(inode);
}

/* Writes the path of kn from its hierarchy's root into out; false if cut. */
static __always_inline bool kernfs_path(struct scratch *s, struct kernfs_node *kn, char *out)
{
	struct walk w = { .pos = SCRATCH_SZ, .kn = kn };

	bpf_loop(CGROUP_MAX_DEPTH, kernfs_step, &w, 0);
	return !copy_path(out, CGROUP_PATH_LEN, s->buf, w.pos) && w.done && !w.truncated;
}

/* The v1 hierarchy's cgroup of task: cgroups->subsys[v1_subsys_id]->cgroup->kn. */
static __always_inline struct kernfs_node *v1_kn(struct task_struct *task)
{
	struct css_set *cset = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = NULL;
	int id = v1_subsys_id;

	if (id < 0 || id >= 64)
		return NULL;
	/* the index is a run-time value: compute the slot, CO-RE for the base */
	bpf_probe_read_kernel(&css, sizeof(css),
			      (void *)cset + bpf_core_field_offset(struct css_set, subsys) +
				      id * sizeof(void *));
	if (!css)
		return NULL;
	return BPF_CORE_READ(css, cgroup, kn);
}

/* The cgroup v2 path and, where tracked, the v1 one, up to each root. */
static __always_inline void fill_cgroup(struct scratch *s, struct task_struct *task)
{
	struct proc_state *st = &s->ev.state;
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);

	st->cgroup_id = BPF_CORE_READ(kn, id);
	if (!kernfs_path(s, kn, st->cgroup))
		st->flags |= PROC_F_CGROUP_TRUNCATED;
	st->cgroup_v1[0] = '\0';
	st->cgroup_v1_id = 0;
	kn = v1_kn(task);
	if (!kn)
		return;
	st->cgroup_v1_id = BPF_CORE_READ(kn, id);
	if (!kernfs_path(s, kn, st->cgroup_v1))
		st->flags |= PROC_F_CGROUP_V1_TRUNCATED;
}

static __always_inline __u32 task_pidns_ino(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid *up;

	if (level > 32)
		return 0;
	up = (void *)pid + bpf_core_field_offset(struct pid, numbers) +
	     level * bpf_core_type_size(struct upid);
	return BPF_CORE_READ(up, ns, ns.inum);
}

static __always_inline void fill_creds(struct proc_state *st, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct group_info *gi = BPF_CORE_READ(cred, group_info);
	__u32 n;

	st->uid = BPF_CORE_READ(cred, uid.val);
	st->gid = BPF_CORE_READ(cred, gid.val);
	st->euid = BPF_CORE_READ(cred, euid.val);
	st->egid = BPF_CORE_READ(cred, egid.val);
	n = BPF_CORE_READ(gi, ngroups);
	st->ngroups = n;
	if (n > MAX_GROUPS) {
		st->flags |= PROC_F_GROUPS_TRUNCATED;
		n = MAX_GROUPS;
	}
	for (__u32 i = 0; i < MAX_GROUPS; i++) {
		if (i >= n)
			break;
		bpf_core_read(&st->groups[i], sizeof(__u32), &gi->gid[i]);
	}
}

/*
 * Fills the scratch record for task's thread group.  exe is the file the
 * kernel runs for it: the exec's file at exec, mm->exe_file otherwise.
 */
static __always_inline struct scratch *fill_state(struct task_struct *task, struct file *exe,
						  __u32 type)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct task_struct *parent = BPF_CORE_READ(leader, real_parent);
	struct proc_state *st, *old;
	struct scratch *s;
	__u32 tgid;

	s = get_scratch();
	if (!s)
		return NULL;
	st = &s->ev.state;
	s->ev.type = type;
	tgid = BPF_CORE_READ(leader, tgid);
	st->tgid = tgid;
	st->start_ns = BPF_CORE_READ(leader, start_boottime);
	st->flags = 0;
	/* Keep the parent seen at fork: a reparented child keeps its lineage. */
	old = bpf_map_lookup_elem(&procs, &tgid);
	if (old && old->start_ns == st->start_ns) {
		st->ppid = old->ppid;
		st->parent_start_ns = old->parent_start_ns;
	} else {
		st->ppid = BPF_CORE_READ(parent, tgid);
		st->parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	}
	fill_creds(st, leader == task ? task : leader);
	BPF_CORE_READ_STR_INTO(&st->comm, task, comm);
	fill_exe(s, exe);
	fill_cgroup(s, task);
	st->pidns_ino = task_pidns_ino(task);
	st->mntns_ino = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	return s;
}

/*
 * Only exec and cgroup moves change an identity: they wake attestd at once.
 * Forks and exits ride along without a wake-up (attestd drains the buffer
 * on a short timer too) unless the buffer is filling, which halves the
 * wake-ups an exec storm costs.
 */
#define LAZY_WAKEUP_LIMIT (256 << 10)

static __always_inline __u64 wakeup_flags(__u32 type)
{
	/*
	 * Forced: the default wakes the reader only when it has read everything
	 * before, and the fork just before an exec was left unread on purpose.
	 */
	if (type == EV_EXEC || type == EV_CGROUP)
		return BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > LAZY_WAKEUP_LIMIT)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void publish(struct scratch *s)
{
	if (bpf_map_update_elem(&procs, &s->ev.state.tgid, &s->ev.state, BPF_ANY))
		stat_inc(STAT_MAP_FULL);
	if (bpf_ringbuf_output(&events, &s->ev, sizeof(s->ev), wakeup_flags(s->ev.type)))
		stat_inc(STAT_EVENTS_LOST);
	else
		stat_inc(STAT_EVENTS);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct scratch *s = fill_state(p, BPF_CORE_READ(bprm, file), EV_EXEC);

	if (s)
		publish(s);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct scratch *s;

	/* A new thread joins its group's record: nothing to add. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	s = fill_state(child, BPF_CORE_READ(child, mm, exe_file), EV_FORK);
	if (s)
		publish(s);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	struct exit_event *e;
	__u32 tgid;

	/* Only the last thread's exit ends the group (signal->live hits 0 first). */
	if (BPF_CORE_READ(p, signal, live.counter) > 0)
		return 0;
	tgid = BPF_CORE_READ(p, tgid);
	bpf_map_delete_elem(&procs, &tgid);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(STAT_EVENTS_LOST);
		return 0;
	}
	e->type = EV_EXIT;
	e->tgid = tgid;
	e->start_ns = BPF_CORE_READ(p, group_leader, start_boottime);
	e->exit_code = BPF_CORE_READ(p, exit_code);
	e->pad = 0;
	bpf_ringbuf_submit(e, wakeup_flags(EV_EXIT));
	stat_inc(STAT_EVENTS);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(handle_cgroup_attach, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	__u32 tgid = BPF_CORE_READ(leader, tgid);
	struct kernfs_node *v1 = v1_kn(leader);
	struct proc_state *old;
	struct scratch *s;
	__u64 id, id1;

	/* Every hierarchy's moves fire here; only the ones we track matter. */
	id = BPF_CORE_READ(leader, cgroups, dfl_cgrp, kn, id);
	id1 = v1 ? BPF_CORE_READ(v1, id) : 0;
	old = bpf_map_lookup_elem(&procs, &tgid);
	if (old && old->cgroup_id == id && old->cgroup_v1_id == id1)
		return 0;
	s = fill_state(leader, BPF_CORE_READ(leader, mm, exe_file), EV_CGROUP);
	if (s)
		publish(s);
	return 0;
}
