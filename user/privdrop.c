// SPDX-License-Identifier: Apache-2.0
/*
 * Dropping capabilities after start (privdrop.h), with libcap.  The order
 * matters: the bounding set can only shrink while CAP_SETPCAP is
 * effective, and the BPF probe must run with the final set effective, so:
 * effective = kept + SETPCAP, probe, shrink the bounding set, then set
 * permitted = effective = kept, clear inheritable and ambient, and set
 * no_new_privs.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include "log.h"
#include "privdrop.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int set_caps(uint64_t effective, uint64_t permitted)
{
	cap_t c = cap_init();
	int r = 0;

	if (!c)
		return -errno;
	for (int i = 0; i < 64; i++) {
		cap_value_t v = i;

		if ((permitted >> i) & 1)
			r |= cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET);
		if ((effective >> i) & 1)
			r |= cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
	}
	if (r == 0 && cap_set_proc(c) < 0)
		r = -errno;
	else if (r)
		r = -EINVAL;
	cap_free(c);
	return r;
}

static uint64_t permitted_now(void)
{
	cap_t c = cap_get_proc();
	uint64_t m = 0;

	if (!c)
		return 0;
	for (int i = 0; i < 64 && CAP_IS_SUPPORTED(i); i++) {
		cap_flag_value_t v = CAP_CLEAR;

		if (cap_get_flag(c, i, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			m |= 1ULL << i;
	}
	cap_free(c);
	return m;
}

int privdrop_apply(int (*bpf_probe)(void *arg), void *arg, uint64_t *ret_kept, char *why,
		   size_t len)
{
	uint64_t have = permitted_now(), keep = PRIVDROP_KEEP & have;
	uint64_t setpcap = have & (1ULL << CAP_SETPCAP);
	int r;

	/* The probe sees what will be left (and SETPCAP, which does not touch bpf()). */
	r = set_caps(keep | setpcap, have);
	if (r < 0) {
		snprintf(why, len, "cannot lower the effective capabilities: %s", strerror(-r));
		return r;
	}
	if (bpf_probe) {
		r = bpf_probe(arg);
		if (r == -EPERM) {
			int need = CAP_IS_SUPPORTED(CAP_BPF) ? CAP_BPF : CAP_SYS_ADMIN;

			keep |= have & (1ULL << need);
			log_info("\"this kernel wants a capability to read BPF maps; keeping it\" "
				 "capability=%s",
				 need == CAP_BPF ? "cap_bpf" : "cap_sys_admin");
		} else if (r < 0) {
			snprintf(why, len, "cannot read the BPF map with lowered capabilities: %s",
				 strerror(-r));
			return r;
		}
	}
	/* Bounding set: no exec (of anything, as anyone) can regain the rest. */
	if (setpcap) {
		for (int i = 0; i < 64 && CAP_IS_SUPPORTED(i); i++) {
			if ((keep >> i) & 1)
				continue;
			if (cap_drop_bound(i) < 0 && errno != EINVAL) {
				r = -errno;
				snprintf(why, len, "cannot drop capability %d from the bounding set: %s",
					 i, strerror(errno));
				return r;
			}
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		r = -errno;
		snprintf(why, len, "cannot clear the ambient capabilities: %s", strerror(errno));
		return r;
	}
	r = set_caps(keep, keep);
	if (r < 0) {
		snprintf(why, len, "cannot drop capabilities: %s", strerror(-r));
		return r;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		snprintf(why, len, "cannot set no_new_privs: %s", strerror(errno));
		return r;
	}
	if (ret_kept)
		*ret_kept = keep;
	return 0;
}

uint64_t privdrop_effective(void)
{
	char line[256];
	uint64_t m = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %" SCNx64, &m) == 1)
			break;
	fclose(f);
	return m;
}

const char *privdrop_names(uint64_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < 64; i++) {
		char *name;

		if (!((mask >> i) & 1))
			continue;
		name = cap_to_name(i);
		off += snprintf(buf + off, off < len ? len - off : 0, "%s%s", off ? "," : "",
				name ? name : "?");
		cap_free(name);
		if (off >= len)
			break;
	}
	if (!buf[0])
		snprintf(buf, len, "none");
	return buf;
}

int privdrop_check_socket_dirs(const char *socket_path, char *why, size_t len)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s", socket_path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	for (;;) {
		slash = strrchr(dir, '/');
		if (!slash)
			return 0; /* a relative path: its directories are the cwd's business */
		if (slash == dir)
			slash[1] = '\0'; /* "/" */
		else
			*slash = '\0';
		if (stat(dir, &st) == 0) {
			if (st.st_uid != 0 && st.st_uid != geteuid()) {
				snprintf(why, len, "directory %s of socket %s belongs to uid %u: "
					 "another user could replace the socket", dir, socket_path,
					 (unsigned)st.st_uid);
				return -EPERM;
			}
			if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
				snprintf(why, len, "directory %s of socket %s is writable by group or "
					 "others (mode %04o): another user could replace the socket",
					 dir, socket_path, (unsigned)(st.st_mode & 07777));
				return -EPERM;
			}
		} else if (errno != ENOENT) {
			int e = errno;

			snprintf(why, len, "cannot check directory %s of socket %s: %s", dir,
				 socket_path, strerror(e));
			return -e;
		}
		if (strcmp(dir, "/") == 0)
			return 0;
	}
}
