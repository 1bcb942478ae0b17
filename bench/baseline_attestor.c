// SPDX-License-Identifier: Apache-2.0
/*
 * The benchmark's baseline: a Workload API server that attests the caller
 * on every call, the way SPIRE's agent does with its unix and docker
 * workload attestors, so that first_svid_speedup compares attestd with
 * what a node runs today, on the same gRPC C core server (rpc_server.c)
 * and the same socket type.  Per call, on a thread of its own (SPIRE: a
 * goroutine per call), for the peer PID the kernel reported at connect:
 *
 *   read /proc/PID/status      uid, gid, supplementary groups (unix)
 *   getpwuid_r / getgrgid_r    user and group names (unix)
 *   readlink /proc/PID/exe     unix:path (discover_workload_path)
 *   sha256 of that file        unix:sha256, read through /proc/PID/root
 *   read /proc/PID/cgroup      the container id, if any (docker)
 *
 * then matches the sorted selectors against its entries (the project's
 * matcher, so matching costs the same on both sides) and answers from an
 * SVID cache, as SPIRE's agent does: minting is not on the request path
 * on either side.  The Docker Engine API call SPIRE's docker attestor
 * makes for a container is left out, which favours the baseline.
 *
 * `--no-attest` skips attestation and matching and answers every call
 * with the same cached SVID: the floor, a bare gRPC round trip with the
 * same response size (grpc_rtt_p99_us).
 *
 *   baseline_attestor --socket PATH --data-dir DIR --workload-exe FILE
 *                     [--entries N] [--no-attest] [--trust-domain TD]
 *
 * Entries: N synthetic ones shaped like bench_match's, and one for the
 * benchmark client, {unix:uid:<uid of this server>, unix:sha256:<digest
 * of FILE>} -> spiffe://TD/bench/client.  Runs until SIGTERM/SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "ca.h"
#include "entry.h"
#include "jwtsvid.h"
#include "log.h"
#include "matcher.h"
#include "rpc_server.h"
#include "selectors.h"
#include "workload.pb-c.h"
#include "x509svid.h"

#define CLIENT_ID_PATH "/bench/client"

struct cached {
	struct cached *next;
	char *key; /* SPIFFE ID, or SPIFFE ID "\n" audience for JWT-SVIDs */
	struct x509svid *x509;
	char *jwt;
};

struct baseline {
	bool attest;
	struct ca *ca;
	struct matcher *m;
	char td[256];
	char client_id[300];
	unsigned char *bundle;
	size_t bundle_len;
	pthread_mutex_t lock;
	struct cached *cache;
};

static int sha256_fd(int fd, char hex[65])
{
	static __thread unsigned char buf[1 << 16];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ssize_t n;
	int r = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		r = -ENOMEM;
	while (!r && (n = read(fd, buf, sizeof(buf))) > 0)
		if (!EVP_DigestUpdate(ctx, buf, n))
			r = -EIO;
	if (!r && (n < 0 || !EVP_DigestFinal_ex(ctx, md, &mdlen)))
		r = n < 0 ? -errno : -EIO;
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; !r && i < mdlen; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return r;
}

static int sha256_path(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = sha256_fd(fd, hex);
	close(fd);
	return r;
}

/* /proc/PID/status "Uid:" style line: the field'th number (1 = effective). */
static long status_field(const char *status, const char *key, int field)
{
	const char *p = strstr(status, key);
	char *end;
	long v = -1;

	if (!p)
		return -1;
	p += strlen(key);
	for (int i = 0; i <= field; i++) {
		v = strtol(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	return v;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* A 64-hex-digit run in a cgroup line: the docker attestor's container id. */
static const char *container_id(const char *cgroup, char id[65])
{
	for (const char *p = cgroup; *p; p++) {
		size_t n = strspn(p, "0123456789abcdef");

		if (n == 64) {
			memcpy(id, p, 64);
			id[64] = '\0';
			return id;
		}
		if (n)
			p += n - 1;
	}
	return NULL;
}

static int attest(pid_t pid, struct strv *out)
{
	char path[64], status[4096], exe[4096], cgroup[8192], hex[65], cid[65], nbuf[4096];
	struct passwd pw, *pwp;
	struct group gr, *grp;
	long uid, gid;
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	r = read_file(path, status, sizeof(status));
	if (r)
		return r;
	uid = status_field(status, "\nUid:", 1);
	gid = status_field(status, "\nGid:", 1);
	if (uid < 0 || gid < 0)
		return -EBADMSG;
	strv_pushf(out, "unix:uid:%ld", uid);
	strv_pushf(out, "unix:gid:%ld", gid);
	if (getpwuid_r(uid, &pw, nbuf, sizeof(nbuf), &pwp) == 0 && pwp)
		strv_pushf(out, "unix:user:%s", pw.pw_name);
	if (getgrgid_r(gid, &gr, nbuf, sizeof(nbuf), &grp) == 0 && grp)
		strv_pushf(out, "unix:group:%s", gr.gr_name);
	{
		const char *g = strstr(status, "\nGroups:");

		for (char *end, *p = g ? (char *)g + 8 : NULL; p && *p != '\n';) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			p = end;
			strv_pushf(out, "unix:supplementary_gid:%ld", v);
			if (getgrgid_r(v, &gr, nbuf, sizeof(nbuf), &grp) == 0 && grp)
				strv_pushf(out, "unix:supplementary_group:%s", gr.gr_name);
		}
	}

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	strv_pushf(out, "unix:path:%s", exe);
	/* SPIRE hashes the path as seen from the workload's root. */
	{
		char rooted[4200];

		snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", (int)pid, exe);
		r = sha256_path(rooted, hex);
		if (r)
			return r;
		strv_pushf(out, "unix:sha256:%s", hex);
	}

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	r = read_file(path, cgroup, sizeof(cgroup));
	if (r)
		return r;
	if (container_id(cgroup, cid))
		strv_pushf(out, "container:id:%s", cid);
	strv_sort_unique(out);
	return 0;
}

/* The cached item for key, made by make() under the lock on a miss. */
static struct cached *cache_get(struct baseline *b, const char *spiffe_id, const char *aud)
{
	char key[1024];
	struct cached *c;

	snprintf(key, sizeof(key), "%s%s%s", spiffe_id, aud ? "\n" : "", aud ? aud : "");
	pthread_mutex_lock(&b->lock);
	for (c = b->cache; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			goto out;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->key = strdup(key);
	if (aud)
		jwtsvid_mint(b->ca, spiffe_id, &aud, 1, 300, 0, &c->jwt);
	else
		x509svid_mint(b->ca, spiffe_id, NULL, 0, 3600, 0, &c->x509);
	if (!c->key || (aud ? !c->jwt : !c->x509)) {
		free(c->key);
		free(c);
		c = NULL;
		goto out;
	}
	c->next = b->cache;
	b->cache = c;
out:
	pthread_mutex_unlock(&b->lock);
	return c;
}

/* The SPIFFE IDs of the caller: attested and matched, or the fixed one. */
static int identify(struct baseline *b, pid_t pid, char ***ids, size_t *nids)
{
	struct strv sel = {0};
	int r;

	if (!b->attest) {
		*ids = calloc(1, sizeof(char *));
		if (!*ids || !((*ids)[0] = strdup(b->client_id)))
			return -ENOMEM;
		*nids = 1;
		return 0;
	}
	r = attest(pid, &sel);
	if (r == 0)
		r = matcher_match_spiffe_ids(b->m, (const char *const *)sel.v, sel.n, ids, nids);
	strv_free(&sel);
	return r;
}

struct job {
	struct baseline *b;
	struct rpc_call *call;
	pid_t pid;
	char *audience; /* NULL: X.509 */
};

static void on_cancel(struct rpc_call *call, void *arg)
{
	rpc_call_finish(call, GRPC_STATUS_CANCELLED, "client went away");
}

static void answer_x509(struct job *j, char **ids, size_t nids)
{
	X509SVIDResponse resp = X509_SVIDRESPONSE__INIT;
	X509SVID *svids = calloc(nids, sizeof(*svids)), **ptrs = calloc(nids, sizeof(*ptrs));

	if (!svids || !ptrs) {
		rpc_call_finish(j->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nids; i++) {
		struct cached *c = cache_get(j->b, ids[i], NULL);

		if (!c) {
			rpc_call_finish(j->call, GRPC_STATUS_INTERNAL, "cannot mint");
			goto out;
		}
		x509_svid__init(&svids[i]);
		svids[i].spiffe_id = c->x509->spiffe_id;
		svids[i].x509_svid =
		    (ProtobufCBinaryData){c->x509->chain_der_len, c->x509->chain_der};
		svids[i].x509_svid_key =
		    (ProtobufCBinaryData){c->x509->key_der_len, c->x509->key_der};
		svids[i].bundle = (ProtobufCBinaryData){j->b->bundle_len, j->b->bundle};
		svids[i].hint = "";
		ptrs[i] = &svids[i];
	}
	resp.n_svids = nids;
	resp.svids = ptrs;
	/* A stream: the first message, then open until the client leaves. */
	if (rpc_call_send(j->call, &resp.base) < 0)
		rpc_call_finish(j->call, GRPC_STATUS_CANCELLED, "client went away");
	else
		rpc_call_on_cancel(j->call, on_cancel, NULL);
out:
	free(ptrs);
	free(svids);
}

static void answer_jwt(struct job *j, char **ids, size_t nids)
{
	JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
	JWTSVID *svids = calloc(nids, sizeof(*svids)), **ptrs = calloc(nids, sizeof(*ptrs));

	if (!svids || !ptrs) {
		rpc_call_finish(j->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nids; i++) {
		struct cached *c = cache_get(j->b, ids[i], j->audience);

		if (!c) {
			rpc_call_finish(j->call, GRPC_STATUS_INTERNAL, "cannot mint");
			goto out;
		}
		jwtsvid__init(&svids[i]);
		svids[i].spiffe_id = ids[i];
		svids[i].svid = c->jwt;
		svids[i].hint = "";
		ptrs[i] = &svids[i];
	}
	resp.n_svids = nids;
	resp.svids = ptrs;
	rpc_call_reply(j->call, &resp.base);
out:
	free(ptrs);
	free(svids);
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	char **ids = NULL;
	size_t nids = 0;
	int r = identify(j->b, j->pid, &ids, &nids);

	if (r < 0)
		rpc_call_finish(j->call, GRPC_STATUS_PERMISSION_DENIED, "attestation failed: %s",
				strerror(-r));
	else if (nids == 0)
		rpc_call_finish(j->call, GRPC_STATUS_PERMISSION_DENIED, "no identity issued");
	else if (j->audience)
		answer_jwt(j, ids, nids);
	else
		answer_x509(j, ids, nids);
	strv_free_array(ids, nids);
	free(j->audience);
	free(j);
	return NULL;
}

static void start_job(struct rpc_call *call, struct baseline *b, const char *audience)
{
	struct job *j = calloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;

	if (!j || (audience && !(j->audience = strdup(audience)))) {
		free(j);
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	j->b = b;
	j->call = call;
	j->pid = rpc_call_peer(call)->pid;
	if (!b->attest) { /* the floor: no thread, answer at once */
		run_job(j);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, run_job, j) != 0) {
		free(j->audience);
		free(j);
		rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a thread");
	}
	pthread_attr_destroy(&attr);
}

static void do_x509(struct rpc_call *call, const ProtobufCMessage *req, void *arg)
{
	start_job(call, arg, NULL);
}

static void do_jwt(struct rpc_call *call, const ProtobufCMessage *msg, void *arg)
{
	const JWTSVIDRequest *req = (const void *)msg;

	if (req->n_audience < 1 || !req->audience[0][0]) {
		rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "audience is required");
		return;
	}
	start_job(call, arg, req->audience[0]);
}

static grpc_status_code check(struct rpc_call *call, void *arg, char *msg, size_t len)
{
	char v[16];

	if (rpc_call_metadata(call, "workload.spiffe.io", v, sizeof(v)) == 0 &&
	    strcmp(v, "true") == 0)
		return GRPC_STATUS_OK;
	snprintf(msg, len, "security header missing from request");
	return GRPC_STATUS_INVALID_ARGUMENT;
}

static const struct rpc_method methods[] = {
    {"/SpiffeWorkloadAPI/FetchX509SVID", &x509_svidrequest__descriptor, RPC_SERVER_STREAM, do_x509},
    {"/SpiffeWorkloadAPI/FetchJWTSVID", &jwtsvidrequest__descriptor, RPC_UNARY, do_jwt},
};

static int add_entry(struct matcher *m, const char *id, const char *const *sel, size_t n)
{
	struct entry *e;
	int r = entry_new(&e);

	if (r)
		return r;
	r = entry_set_spiffe_id(e, id);
	for (size_t i = 0; !r && i < n; i++)
		r = entry_add_selector(e, sel[i]);
	r = r ?: matcher_add(m, e);
	entry_free(e);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"data-dir", required_argument, NULL, 'd'},
	    {"workload-exe", required_argument, NULL, 'w'},
	    {"entries", required_argument, NULL, 'n'},
	    {"trust-domain", required_argument, NULL, 't'},
	    {"no-attest", no_argument, NULL, 'A'},
	    {0},
	};
	const char *sock = NULL, *data_dir = NULL, *exe = NULL, *td = "example.org";
	struct baseline b = {.attest = true, .lock = PTHREAD_MUTEX_INITIALIZER};
	struct rpc_server_opts sopts = {0};
	struct ca_x509_signer signer;
	struct ca_opts copts = {0};
	struct rpc_server *srv;
	long nentries = 0;
	char hex[65], buf[128];
	sigset_t mask;
	int c, r, sig;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'w':
			exe = optarg;
			break;
		case 'n':
			nentries = atol(optarg);
			break;
		case 't':
			td = optarg;
			break;
		case 'A':
			b.attest = false;
			break;
		default:
			return 2;
		}
	}
	if (!sock || !data_dir || !exe) {
		fprintf(stderr,
			"usage: baseline_attestor --socket PATH --data-dir DIR "
			"--workload-exe FILE [--entries N] [--no-attest] [--trust-domain TD]\n");
		return 2;
	}
	log_setup(LOG_LVL_WARN, false);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(b.td, sizeof(b.td), "%s", td);
	snprintf(b.client_id, sizeof(b.client_id), "spiffe://%s%s", td, CLIENT_ID_PATH);
	copts.data_dir = data_dir;
	copts.trust_domain = td;
	r = ca_open(&copts, &b.ca);
	if (r || ca_x509_signer_get(b.ca, &signer)) {
		fprintf(stderr, "baseline_attestor: cannot open a CA in %s\n", data_dir);
		return 1;
	}
	b.bundle_len = i2d_X509(signer.cert, &b.bundle);
	ca_x509_signer_put(&signer);

	r = sha256_path(exe, hex);
	if (r) {
		fprintf(stderr, "baseline_attestor: cannot hash %s: %s\n", exe, strerror(-r));
		return 1;
	}
	r = matcher_new(&b.m);
	{
		char uid[32], sha[80];
		const char *sel[] = {uid, sha};

		snprintf(uid, sizeof(uid), "unix:uid:%u", (unsigned)getuid());
		snprintf(sha, sizeof(sha), "unix:sha256:%s", hex);
		r = r ?: add_entry(b.m, b.client_id, sel, 2);
	}
	for (long i = 0; !r && i < nentries; i++) {
		char ns[64], sa[64], uid[64];
		const char *sel[] = {ns, sa, uid};

		snprintf(ns, sizeof(ns), "k8s:ns:ns-%ld", i % 200);
		snprintf(sa, sizeof(sa), "k8s:sa:sa-%ld", i);
		snprintf(uid, sizeof(uid), "unix:uid:%ld", 1000 + i % 50);
		snprintf(buf, sizeof(buf), "spiffe://%s/ns/ns-%ld/sa/sa-%ld", td, i % 200, i);
		r = add_entry(b.m, buf, sel, 3);
	}
	if (r) {
		fprintf(stderr, "baseline_attestor: cannot build entries: %s\n", strerror(-r));
		return 1;
	}
	/* Warm the cache: minting is not on either side's request path. */
	cache_get(&b, b.client_id, NULL);

	sopts.socket_path = sock;
	sopts.mode = 0666;
	sopts.check = check;
	sopts.arg = &b;
	r = rpc_server_start(&sopts, methods, sizeof(methods) / sizeof(methods[0]), &srv);
	if (r) {
		fprintf(stderr, "baseline_attestor: cannot serve %s: %s\n", sock, strerror(-r));
		return 1;
	}
	printf("serving %s attest=%d entries=%zu\n", sock, b.attest, matcher_count(b.m));
	fflush(stdout);
	sigwait(&mask, &sig);
	rpc_server_stop(srv);
	return 0;
}
