/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege after start: once the BPF programs are loaded and
 * attached and the sockets are bound, attestd needs only to read other
 * users' processes (/proc/PID/exe, /proc/PID/ns: CAP_SYS_PTRACE; the
 * executable's bytes for unix:sha256 whatever its mode: CAP_DAC_READ_SEARCH)
 * and, on kernels before 6.5 with unprivileged BPF disabled, CAP_BPF to
 * read its own maps (bpf() itself refused every command then).  Everything
 * else leaves the effective, permitted, inheritable, ambient and bounding
 * sets, and no_new_privs is set, so no exec can bring any of it back.
 * docs/security.md lists what stays and why.
 */
#ifndef ATTESTD_PRIVDROP_H
#define ATTESTD_PRIVDROP_H

#include <stddef.h>
#include <stdint.h>

/* Capabilities kept whatever the kernel: a mask of 1 << CAP_*. */
#define PRIVDROP_KEEP ((1ULL << 19 /* CAP_SYS_PTRACE */) | (1ULL << 2 /* CAP_DAC_READ_SEARCH */))

/*
 * Drops every capability but PRIVDROP_KEEP.  bpf_probe, if given, is run
 * with only those effective: it should read one of attestd's maps and
 * return 0, or -EPERM when the kernel wants CAP_BPF for that (then CAP_BPF,
 * or CAP_SYS_ADMIN on kernels without CAP_BPF, is kept too).  Returns 0 and
 * the kept mask in *ret_kept, or -errno with the reason in why.
 */
int privdrop_apply(int (*bpf_probe)(void *arg), void *arg, uint64_t *ret_kept, char *why,
		   size_t len);
/* The effective set of this process as /proc/self/status shows it (CapEff), or 0. */
uint64_t privdrop_effective(void);
/*
 * A socket's directory and every one above it must be owned by root (or by
 * us) and not writable by group or others unless sticky (/tmp): otherwise
 * another user could move the socket away and put their own in its place.
 * Directories not made yet are skipped (rpc_server makes them 0755).
 * 0, or -EPERM with the offending directory in why.
 */
int privdrop_check_socket_dirs(const char *socket_path, char *why, size_t len);
/* "cap_sys_ptrace,cap_dac_read_search" for a mask, into buf. */
const char *privdrop_names(uint64_t mask, char *buf, size_t len);

#endif
