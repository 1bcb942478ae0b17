// SPDX-License-Identifier: Apache-2.0
/*
 * /proc reader.  /proc/PID/stat's comm may hold spaces and parentheses, so
 * fields are counted after the last ')'.  The exe's dev/inode come from
 * stat() through /proc/PID/exe, which reaches the file even inside another
 * mount namespace.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <mntent.h>
#include <linux/magic.h>
#include "cleanup.h"
#include "procfs.h"
#include "proctable.h"

/* Copies src into dst, cutting it to fit; returns true when cut. */
static bool copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	bool cut = n >= size;

	if (cut)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return cut;
}

static int read_file(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

int procfs_parse_stat(const char *text, uint32_t *ppid, uint64_t *start_ticks)
{
	const char *p = strrchr(text, ')');
	unsigned long long v;
	int field = 2; /* the ')' closes field 2, comm */
	char *end;

	if (!p)
		return -EINVAL;
	p++;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		field++;
		if (field == 4 || field == 22) {
			errno = 0;
			v = strtoull(p, &end, 10);
			if (errno || end == p)
				return -EINVAL;
			if (field == 4)
				*ppid = (uint32_t)v;
			else {
				*start_ticks = v;
				return 0;
			}
		}
		while (*p && *p != ' ')
			p++;
	}
	return -EINVAL;
}

/* "Uid:\t0\t0\t0\t0" -> real, effective */
static int parse_ids(const char *status, const char *key, __u32 *real, __u32 *eff)
{
	const char *p = strstr(status, key);
	unsigned a, b;

	if (!p || sscanf(p + strlen(key), "%u %u", &a, &b) != 2)
		return -EINVAL;
	*real = a;
	*eff = b;
	return 0;
}

static void parse_groups(const char *status, struct proc_state *st)
{
	const char *p = strstr(status, "\nGroups:");
	char *end;

	st->ngroups = 0;
	if (!p)
		return;
	p += strlen("\nGroups:");
	for (;;) {
		unsigned long g;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		g = strtoul(p, &end, 10);
		if (st->ngroups < MAX_GROUPS)
			st->groups[st->ngroups] = (__u32)g;
		else
			st->flags |= PROC_F_GROUPS_TRUNCATED;
		st->ngroups++;
		p = end;
	}
}

static __u32 ns_ino(const char *proc, uint32_t pid, const char *ns)
{
	char path[PATH_MAX];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%u/ns/%s", proc, pid, ns);
	return stat(path, &sb) == 0 ? (__u32)sb.st_ino : 0;
}

/* The kernfs id of a cgroup v2 directory is its file handle (8 bytes). */
static __u64 cgroup_id(const char *root, const char *cg)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h = { .fh.handle_bytes = sizeof(__u64) };
	char path[PATH_MAX];
	int mount_id;

	if (!root)
		return 0;
	snprintf(path, sizeof(path), "%s%s", root, cg);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return 0;
	return h.id;
}

/* "cpu,cpuacct" has "cpu" but not "cpuset". */
static bool has_controller(const char *list, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, want, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static void read_cgroup(const struct procfs *fs, uint32_t pid, struct proc_state *st)
{
	char path[PATH_MAX], buf[8192], *line, *save = NULL;

	snprintf(path, sizeof(path), "%s/%u/cgroup", fs->proc, pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ctrls = strchr(line, ':'), *path;

		if (!ctrls || !(path = strchr(ctrls + 1, ':')))
			continue;
		*path++ = '\0';
		*ctrls++ = '\0'; /* line: hierarchy id, ctrls: controllers, path */
		if (strcmp(line, "0") == 0 && !*ctrls) {
			if (copy_str(st->cgroup, sizeof(st->cgroup), path))
				st->flags |= PROC_F_CGROUP_TRUNCATED;
			st->cgroup_id = cgroup_id(fs->cgroup2, st->cgroup);
		} else if (fs->v1_controller && has_controller(ctrls, fs->v1_controller)) {
			if (copy_str(st->cgroup_v1, sizeof(st->cgroup_v1), path))
				st->flags |= PROC_F_CGROUP_V1_TRUNCATED;
			st->cgroup_v1_id = cgroup_id(fs->v1_mount, st->cgroup_v1);
		}
	}
}

const char *procfs_v1_mount(const char *controller, char *buf, size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	const char *found = NULL;
	struct mntent *m;

	if (!f)
		return NULL;
	while (!found && (m = getmntent(f)))
		if (strcmp(m->mnt_type, "cgroup") == 0 && hasmntopt(m, controller)) {
			copy_str(buf, len, m->mnt_dir);
			found = buf;
		}
	endmntent(f);
	return found;
}

static void read_exe(const struct procfs *fs, uint32_t pid, struct proc_state *st)
{
	char path[PATH_MAX];
	struct stat sb;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/exe", fs->proc, pid);
	n = readlink(path, st->exe, sizeof(st->exe));
	if (n < 0) { /* kernel threads have none */
		st->flags |= PROC_F_NO_EXE;
		st->exe[0] = '\0';
		return;
	}
	if ((size_t)n >= sizeof(st->exe)) {
		st->flags |= PROC_F_EXE_TRUNCATED;
		n = sizeof(st->exe) - 1;
	}
	st->exe[n] = '\0';
	if (stat(path, &sb) == 0) {
		/* As the kernel side does: the path of an unlinked file names nothing. */
		static const char deleted[] = " (deleted)";
		size_t dl = sizeof(deleted) - 1;

		if (sb.st_nlink == 0) {
			st->flags |= PROC_F_EXE_DELETED;
			if ((size_t)n > dl && strcmp(st->exe + n - dl, deleted) == 0)
				st->exe[n - dl] = '\0';
		}
		/* the kernel's MKDEV encoding, as the BPF side records it */
		st->exe_dev = ((__u64)major(sb.st_dev) << 20) | minor(sb.st_dev);
		st->exe_ino = sb.st_ino;
		st->exe_size = sb.st_size;
		st->exe_ctime_ns = (__u64)sb.st_ctim.tv_sec * 1000000000ULL + sb.st_ctim.tv_nsec;
	}
}

int procfs_read(const struct procfs *fs, uint32_t pid, struct proc_state *st)
{
	uint64_t ticks = 0, hz_ns = 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK);
	char path[PATH_MAX], buf[4096];
	uint32_t ppid = 0;
	int r;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/%u/stat", fs->proc, pid);
	r = read_file(path, buf, sizeof(buf));
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	r = procfs_parse_stat(buf, &ppid, &ticks);
	if (r < 0)
		return r;
	st->tgid = pid;
	st->ppid = ppid;
	st->start_ns = ticks * hz_ns;
	st->flags = PROC_F_FROM_PROCFS;

	snprintf(path, sizeof(path), "%s/%u/status", fs->proc, pid);
	r = read_file(path, buf, sizeof(buf));
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	if (parse_ids(buf, "\nUid:", &st->uid, &st->euid) < 0 ||
	    parse_ids(buf, "\nGid:", &st->gid, &st->egid) < 0)
		return -EINVAL;
	parse_groups(buf, st);

	snprintf(path, sizeof(path), "%s/%u/comm", fs->proc, pid);
	if (read_file(path, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		copy_str(st->comm, sizeof(st->comm), buf);
	}
	read_exe(fs, pid, st);
	read_cgroup(fs, pid, st);
	st->pidns_ino = ns_ino(fs->proc, pid, "pid");
	st->mntns_ino = ns_ino(fs->proc, pid, "mnt");
	/* The parent's start time, so lineage links to the right process. */
	if (ppid) {
		uint32_t pp;

		snprintf(path, sizeof(path), "%s/%u/stat", fs->proc, ppid);
		if (read_file(path, buf, sizeof(buf)) > 0 &&
		    procfs_parse_stat(buf, &pp, &ticks) == 0)
			st->parent_start_ns = ticks * hz_ns;
	}
	return 0;
}

int procfs_scan(const struct procfs *fs, int (*fn)(void *arg, const struct proc_state *st),
		void *arg)
{
	_cleanup_closedir_ DIR *d = opendir(fs->proc);
	struct proc_state *st;
	struct dirent *de;
	int n = 0, r;

	if (!d)
		return -errno;
	st = malloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid)
			continue;
		if (procfs_read(fs, (uint32_t)pid, st) < 0)
			continue; /* exited meanwhile */
		r = fn(arg, st);
		if (r < 0) {
			free(st);
			return r;
		}
		n++;
	}
	free(st);
	return n;
}

const char *procfs_cgroup2_mount(void)
{
	static const char *const candidates[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs sf;

	for (size_t i = 0; i < ARRAY_SIZE(candidates); i++)
		if (statfs(candidates[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
			return candidates[i];
	return NULL;
}
