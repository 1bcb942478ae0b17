// SPDX-License-Identifier: Apache-2.0
/*
 * The kubelet client and the metadata cache's kubelet side, against a
 * local HTTPS server (python3's http.server with ssl) that serves a canned
 * pod list to the right bearer token only, with a certificate made here by
 * openssl: the real client, its TLS verification (a wrong CA must fail),
 * the token, the parsing and the refresh backoff.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cgroup.h"
#include "kubelet.h"
#include "meta_cache.h"
#include "selectors.h"
#include "test.h"

#define PY "/usr/bin/python3"
#define OPENSSL "/usr/bin/openssl"
#define TOKEN "eyJhbGciOiJSUzI1NiJ9.test-token-do-not-log.sig"

#define ID "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define ID2 "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define UID "7c9a1b2e-3d4f-4a5b-8c6d-0e1f2a3b4c5d"
#define UID_ "7c9a1b2e_3d4f_4a5b_8c6d_0e1f2a3b4c5d"
#define UID3 "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"

#define POD_WEB                                                                                    \
	"{\"metadata\":{\"name\":\"web-7d9f\",\"namespace\":\"prod\",\"uid\":\"" UID "\","         \
	"\"labels\":{\"app\":\"web\",\"tier\":\"front\"}},"                                        \
	"\"spec\":{\"serviceAccountName\":\"web-sa\",\"nodeName\":\"node-1\","                     \
	"\"containers\":[{\"name\":\"web\",\"image\":\"registry.example/web:1.2\"}]},"             \
	"\"status\":{\"containerStatuses\":[{\"name\":\"web\",\"image\":\"registry.example/"       \
	"web:1.2\","                                                                               \
	"\"imageID\":\"registry.example/"                                                          \
	"web@sha256:1111111111111111111111111111111111111111111111111111111111111111\","           \
	"\"containerID\":\"containerd://" ID "\"},"                                                \
	"{\"name\":\"sidecar\",\"image\":\"envoy:1\",\"imageID\":\"\"}],"                          \
	"\"initContainerStatuses\":[{\"name\":\"init\",\"image\":\"busybox:1\","                   \
	"\"imageID\":\"busybox:1\",\"containerID\":\"containerd://" ID2 "\"}]}}"
#define POD_BAD_UID "{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\",\"uid\":\"not-a-uid\"}}"
#define POD_3                                                                                      \
	"{\"metadata\":{\"name\":\"late\",\"namespace\":\"dev\",\"uid\":\"" UID3 "\"},"            \
	"\"spec\":{\"serviceAccountName\":\"default\",\"nodeName\":\"node-1\"}}"

static const char pods_json[] = "{\"kind\":\"PodList\",\"items\":[" POD_WEB "," POD_BAD_UID "]}";
static const char pods3_json[] =
    "{\"kind\":\"PodList\",\"items\":[" POD_WEB "," POD_BAD_UID "," POD_3 "]}";

static const char server_py[] =
    "import http.server, ssl, sys, os\n"
    "d, token = sys.argv[1], sys.argv[2]\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        with open(os.path.join(d, 'count'), 'a') as f: f.write('x')\n"
    "        if self.headers.get('Authorization') != 'Bearer ' + token:\n"
    "            return self.reply(401, b'{}')\n"
    "        if self.path != '/pods':\n"
    "            return self.reply(404, b'{}')\n"
    "        self.reply(200, open(os.path.join(d, 'pods.json'), 'rb').read())\n"
    "    def reply(self, code, body):\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', 'application/json')\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    "srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(os.path.join(d, 'srv.crt'), os.path.join(d, 'srv.key'))\n"
    "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
    "open(os.path.join(d, 'port.tmp'), 'w').write(str(srv.server_address[1]))\n"
    "os.rename(os.path.join(d, 'port.tmp'), os.path.join(d, 'port'))\n"
    "srv.serve_forever()\n";

/* CA, a server certificate for 127.0.0.1 it signs, and an unrelated CA. */
static const char certs_sh[] =
    "set -e; cd \"$1\"\n"
    "o=" OPENSSL "\n"
    "$o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
    "-out ca.crt -days 1 -subj /CN=attestd-test-kubelet-ca 2>/dev/null\n"
    "$o req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr "
    "-subj /CN=kubelet 2>/dev/null\n"
    "printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n"
    "extendedKeyUsage=serverAuth\\n' > ext\n"
    "$o x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 "
    "-extfile ext 2>/dev/null\n"
    "$o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key "
    "-out other.crt -days 1 -subj /CN=attestd-test-other-ca 2>/dev/null\n";

struct kubelet_srv {
	char dir[64];
	char url[64];
	pid_t pid;
};

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) ? -errno : 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* 1: started; 0: a tool is missing (skip); -1: failed. */
static int srv_start(struct kubelet_srv *s)
{
	char path[128], cmd[256], port[16] = "";
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (access(PY, X_OK) || access(OPENSSL, X_OK))
		return 0;
	strcpy(s->dir, "/tmp/attestd-kubelet-test.XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	if (write_file(s->dir, "server.py", server_py) ||
	    write_file(s->dir, "certs.sh", certs_sh) ||
	    write_file(s->dir, "pods.json", pods_json) || write_file(s->dir, "token", TOKEN "\n"))
		return -1;
	snprintf(cmd, sizeof(cmd), "sh %s/certs.sh %s", s->dir, s->dir);
	if (system(cmd) != 0)
		return -1;
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		snprintf(path, sizeof(path), "%s/server.py", s->dir);
		execl(PY, PY, path, s->dir, TOKEN, (char *)NULL);
		_exit(127);
	}
	snprintf(path, sizeof(path), "%s/port", s->dir);
	for (int i = 0; i < 200; i++) {
		f = fopen(path, "r");
		if (f) {
			if (!fgets(port, sizeof(port), f))
				port[0] = '\0';
			fclose(f);
			break;
		}
		sleep_ms(50);
	}
	if (!port[0])
		return -1;
	snprintf(s->url, sizeof(s->url), "https://127.0.0.1:%s", port);
	return 1;
}

static void srv_stop(struct kubelet_srv *s)
{
	char cmd[128];

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	if (s->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
		(void)!system(cmd);
	}
}

static size_t srv_requests(const struct kubelet_srv *s)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/count", s->dir);
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static bool has(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

TEST(kubelet_parse_pod_list)
{
	struct kubelet_pods pods;
	const struct kubelet_container *c;
	const struct kubelet_pod *p;
	char err[256];

	ASSERT_OK(kubelet_parse_pods(pods_json, strlen(pods_json), &pods, err, sizeof(err)));
	ASSERT_EQ(pods.n, 1); /* the pod without a usable uid is left out */
	p = &pods.v[0];
	ASSERT_STREQ(p->uid, UID);
	for (size_t i = 0; i < p->nsel; i++)
		test_diag("%s", p->sel[i]);
	ASSERT_TRUE(has(p->sel, p->nsel, "k8s:ns:prod"));
	ASSERT_TRUE(has(p->sel, p->nsel, "k8s:sa:web-sa"));
	ASSERT_TRUE(has(p->sel, p->nsel, "k8s:pod-name:web-7d9f"));
	ASSERT_TRUE(has(p->sel, p->nsel, "k8s:pod-label:app:web"));
	ASSERT_TRUE(has(p->sel, p->nsel, "k8s:pod-label:tier:front"));
	ASSERT_TRUE(has(p->sel, p->nsel, "k8s:node-name:node-1"));
	ASSERT_EQ(p->nsel, 6);
	/* Containers with an id: web and the init container; the sidecar has not started. */
	ASSERT_EQ(p->nctrs, 2);
	c = kubelet_pod_container(p, ID);
	ASSERT_NOT_NULL(c);
	ASSERT_TRUE(has(c->sel, c->nsel, "k8s:container-name:web"));
	ASSERT_TRUE(has(c->sel, c->nsel, "k8s:container-image:registry.example/web:1.2"));
	ASSERT_TRUE(has(c->sel, c->nsel,
			"k8s:container-image:registry.example/web@sha256:"
			"1111111111111111111111111111111111111111111111111111111111111111"));
	c = kubelet_pod_container(p, ID2);
	ASSERT_NOT_NULL(c);
	ASSERT_TRUE(has(c->sel, c->nsel, "k8s:container-name:init"));
	ASSERT_EQ(c->nsel, 2); /* image == imageID: once */
	kubelet_pods_free(&pods);

	ASSERT_ERR(kubelet_parse_pods("{\"kind\":\"Status\"}", 17, &pods, err, sizeof(err)),
		   -EBADMSG);
	ASSERT_ERR(kubelet_parse_pods("{\"items\":[", 10, &pods, err, sizeof(err)), -EBADMSG);
}

TEST(kubelet_https_token_and_ca)
{
	struct kubelet_srv s;
	struct kubelet_pods pods;
	struct kubelet_opts o = {0};
	char err[512], ca[128], other[128], token[128], badtoken[128], url[96];
	int r = srv_start(&s);

	if (r == 0)
		SKIP("needs %s and %s", PY, OPENSSL);
	if (r < 0) {
		srv_stop(&s);
		FAIL("cannot start the test kubelet in %s", s.dir);
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", s.dir);
	snprintf(other, sizeof(other), "%s/other.crt", s.dir);
	snprintf(token, sizeof(token), "%s/token", s.dir);
	snprintf(badtoken, sizeof(badtoken), "%s/badtoken", s.dir);
	write_file(s.dir, "badtoken", "nope\n");

	o = (struct kubelet_opts){s.url, token, ca, 5000};
	r = kubelet_list_pods(&o, &pods, err, sizeof(err));
	if (r < 0)
		test_diag("%s", err);
	ASSERT_OK(r);
	ASSERT_EQ(pods.n, 1);
	ASSERT_STREQ(pods.v[0].uid, UID);
	kubelet_pods_free(&pods);

	/* A CA that did not sign the kubelet's certificate: refused, and the token not in the
	 * error. */
	o.ca_file = other;
	r = kubelet_list_pods(&o, &pods, err, sizeof(err));
	test_diag("wrong CA: %s", err);
	ASSERT_TRUE(r < 0);
	ASSERT_TRUE(strstr(err, "test-token") == NULL);
	/* No CA file given: the system's trust store does not know this CA either. */
	o.ca_file = NULL;
	ASSERT_TRUE(kubelet_list_pods(&o, &pods, err, sizeof(err)) < 0);

	o.ca_file = ca;
	o.token_file = badtoken;
	ASSERT_ERR(kubelet_list_pods(&o, &pods, err, sizeof(err)), -EACCES);
	test_diag("wrong token: %s", err);
	o.token_file = "/nonexistent/token";
	ASSERT_TRUE(kubelet_list_pods(&o, &pods, err, sizeof(err)) < 0);

	/* The token never goes over plain HTTP. */
	snprintf(url, sizeof(url), "http://%s", s.url + strlen("https://"));
	o = (struct kubelet_opts){url, token, ca, 5000};
	ASSERT_ERR(kubelet_list_pods(&o, &pods, err, sizeof(err)), -EINVAL);
	srv_stop(&s);
}

struct hooks {
	pthread_mutex_t lock;
	int ready_calls;
	bool saw[2];
	struct cgroup_info ci[2];
};

static void on_ready(void *ctx, const struct meta_ready *r)
{
	struct hooks *h = ctx;

	pthread_mutex_lock(&h->lock);
	h->ready_calls++;
	for (int i = 0; i < 2; i++)
		h->saw[i] |= meta_ready_affects(r, &h->ci[i]);
	pthread_mutex_unlock(&h->lock);
}

static void on_live(void *ctx, struct meta_cache *mc)
{
	struct hooks *h = ctx;

	for (int i = 0; i < 2; i++)
		meta_cache_mark(mc, &h->ci[i]);
}

static bool wait_saw(struct hooks *h, int i)
{
	bool saw = false;

	for (int k = 0; k < 500 && !saw; k++) {
		sleep_ms(10);
		pthread_mutex_lock(&h->lock);
		saw = h->saw[i];
		pthread_mutex_unlock(&h->lock);
	}
	return saw;
}

TEST(meta_cache_kubelet_pods)
{
	struct hooks h = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct meta_cache_opts o = {.sweep_ms = 5000, .backoff_min_ms = 50, .backoff_max_ms = 400};
	struct meta_cache_ops ops = {.ctx = &h, .ready = on_ready, .live = on_live};
	struct meta_cache *mc;
	struct strv out = {0};
	struct kubelet_srv s;
	char err[256], ca[128], token[128];
	size_t before, after;
	int r = srv_start(&s);

	if (r == 0)
		SKIP("needs %s and %s", PY, OPENSSL);
	if (r < 0) {
		srv_stop(&s);
		FAIL("cannot start the test kubelet");
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", s.dir);
	snprintf(token, sizeof(token), "%s/token", s.dir);
	o.kubelet_url = s.url;
	o.kubelet_ca_file = ca;
	o.kubelet_token_file = token;
	ASSERT_OK(
	    cgroup_parse("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
			 ".slice/cri-containerd-" ID ".scope",
			 &h.ci[0], err, sizeof(err)));
	ASSERT_OK(
	    cgroup_parse("/kubepods/besteffort/pod" UID3 "/" ID2, &h.ci[1], err, sizeof(err)));
	ASSERT_OK(meta_cache_new(&o, &ops, &mc));

	/* An unknown pod: a list is fetched, and its processes are named in ready. */
	ASSERT_OK(meta_cache_selectors(mc, &h.ci[0], &out));
	ASSERT_EQ(out.n, 0);
	ASSERT_TRUE(wait_saw(&h, 0));
	ASSERT_OK(meta_cache_selectors(mc, &h.ci[0], &out));
	for (size_t i = 0; i < out.n; i++)
		test_diag("%s", out.v[i]);
	ASSERT_TRUE(has(out.v, out.n, "k8s:ns:prod"));
	ASSERT_TRUE(has(out.v, out.n, "k8s:sa:web-sa"));
	ASSERT_TRUE(has(out.v, out.n, "k8s:container-name:web"));
	ASSERT_TRUE(has(out.v, out.n, "k8s:node-name:node-1"));
	strv_free(&out);

	/* A pod the kubelet does not list (yet): asked again with backoff, not in a loop. */
	ASSERT_OK(meta_cache_selectors(mc, &h.ci[1], &out));
	ASSERT_EQ(out.n, 0);
	before = srv_requests(&s);
	sleep_ms(1500);
	after = srv_requests(&s);
	test_diag("lists in 1.5 s while a pod is unknown: %zu", after - before);
	ASSERT_GT(after - before, 1);
	ASSERT_TRUE(after - before <= 8); /* 50, 100, 200, 400, 400, ... ms */

	/* It appears: the next list finds it and names it. */
	ASSERT_OK(write_file(s.dir, "pods.json", pods3_json));
	ASSERT_TRUE(wait_saw(&h, 1));
	ASSERT_OK(meta_cache_selectors(mc, &h.ci[1], &out));
	ASSERT_TRUE(has(out.v, out.n, "k8s:ns:dev"));
	ASSERT_TRUE(has(out.v, out.n, "k8s:pod-name:late"));
	strv_free(&out);
	/* Everything known: no more lists. */
	sleep_ms(100);
	before = srv_requests(&s);
	sleep_ms(800);
	ASSERT_EQ(srv_requests(&s), before);
	meta_cache_free(mc);
	srv_stop(&s);
}
