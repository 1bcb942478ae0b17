// SPDX-License-Identifier: Apache-2.0
/*
 * Log lines: --log-format json lines parse with json-c and keep what the
 * text said; values a workload chose (newlines, quotes, bytes that are not
 * UTF-8) never break a line in either format.  Identity events through the
 * real Workload API: each release and refusal logged once, with pid, exe,
 * SPIFFE ID and entry, and no key or token bytes; the rate limit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "log.h"
#include "metrics.h"
#include "telemetry.h"
#include "test.h"
#include "test_workload.h"

#define SID_A "spiffe://example.org/log-a"
#define UID_A 4242

/* A memfd the log writes to, and its contents read back. */
static int capture_start(void)
{
	int fd = memfd_create("log", MFD_CLOEXEC);

	if (fd >= 0)
		log_set_fd(fd);
	return fd;
}

static char *capture_end(int fd)
{
	off_t len = lseek(fd, 0, SEEK_END);
	char *buf;

	log_set_fd(STDERR_FILENO);
	if (len < 0 || !(buf = calloc(1, (size_t)len + 1)))
		return NULL;
	if (pread(fd, buf, (size_t)len, 0) != len) {
		free(buf);
		return NULL;
	}
	close(fd);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line parses as a JSON object; the i-th with msg == want is returned (a new ref). */
static json_object *json_line_with(const char *text, const char *want, int nth, int *ret_bad)
{
	json_object *found = NULL;
	const char *p = text;
	int seen = 0;

	*ret_bad = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);
		json_object *o = line ? json_tokener_parse(line) : NULL;
		json_object *msg;

		if (!o || !json_object_is_type(o, json_type_object))
			(*ret_bad)++;
		else if (json_object_object_get_ex(o, "msg", &msg) &&
			 !strcmp(json_object_get_string(msg), want) && seen++ == nth && !found)
			found = json_object_get(o);
		json_object_put(o);
		free(line);
		p += len + (nl ? 1 : 0);
	}
	return found;
}

static const char *field(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

TEST(log_json_lines_from_text)
{
	json_object *o;
	char *out;
	int fd, bad;

	log_setup(LOG_LVL_DEBUG, true);
	fd = capture_start();
	ASSERT_TRUE(fd >= 0);
	log_info("\"store: schema migrated\" from=%d to=%d error=\"%s\"", 0, 1, "a \"quoted\" b");
	log_warn("ca: example.org: new authority ABC valid until %d", 17);
	log_error("\"msg\" msg=clash level=x time=y");
	log_debug("\"trailing words\" k=v and then some");
	out = capture_end(fd);
	ASSERT_NOT_NULL(out);
	ASSERT_EQ(count_lines(out), 4);
	o = json_line_with(out, "store: schema migrated", 0, &bad);
	ASSERT_EQ(bad, 0);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "level"), "info");
	ASSERT_STREQ(field(o, "from"), "0");
	ASSERT_STREQ(field(o, "to"), "1");
	ASSERT_STREQ(field(o, "error"), "a \"quoted\" b");
	ASSERT_TRUE(field(o, "time") && strlen(field(o, "time")) == 24);
	json_object_put(o);
	o = json_line_with(out, "ca: example.org: new authority ABC valid until 17", 0, &bad);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "level"), "warn");
	json_object_put(o);
	o = json_line_with(out, "msg", 0, &bad);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "_msg"), "clash");
	ASSERT_STREQ(field(o, "_level"), "x");
	ASSERT_STREQ(field(o, "level"), "error");
	json_object_put(o);
	o = json_line_with(out, "trailing words", 0, &bad);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "k"), "v");
	ASSERT_STREQ(field(o, "rest"), "and then some");
	json_object_put(o);
	free(out);
}

TEST(log_hostile_values_stay_on_one_line)
{
	static const char hostile[] =
	    "/tmp/evil\nlevel=error msg=\"forged\" \"quote\\ \x01\xff\xc3";
	struct log_kv kv[] = {{"exe", hostile}, {"pid", "12"}, {"empty", ""}, {"none", NULL}};
	json_object *o;
	char *out;
	int fd, bad;

	/* JSON: json-c escapes; bytes that are not UTF-8 become U+FFFD. */
	log_setup(LOG_LVL_INFO, true);
	fd = capture_start();
	log_kv(LOG_LVL_INFO, "identity released", kv, 4);
	log_info("\"text path\" exe=%s", hostile);
	out = capture_end(fd);
	ASSERT_NOT_NULL(out);
	ASSERT_EQ(count_lines(out), 2);
	o = json_line_with(out, "identity released", 0, &bad);
	ASSERT_EQ(bad, 0);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "exe"), "/tmp/evil\nlevel=error msg=\"forged\" \"quote\\ \x01"
				      "\xef\xbf\xbd\xef\xbf\xbd");
	ASSERT_STREQ(field(o, "pid"), "12");
	ASSERT_STREQ(field(o, "empty"), "");
	ASSERT_TRUE(field(o, "none") == NULL);
	json_object_put(o);
	free(out);

	/* Text: quoted and escaped, control bytes as \xNN, still one line each. */
	log_setup(LOG_LVL_INFO, false);
	fd = capture_start();
	log_kv(LOG_LVL_INFO, "identity released", kv, 3);
	log_info("\"text path\" exe=%s", hostile);
	out = capture_end(fd);
	ASSERT_NOT_NULL(out);
	ASSERT_EQ(count_lines(out), 2);
	if (!strstr(out, " level=info msg=\"identity released\" exe=\"/tmp/evil\\nlevel=error "
			 "msg=\\\"forged\\\" \\\"quote\\\\ \\x01\xff\xc3\" pid=12 empty=\"\"\n")) {
		test_diag("%s", out);
		free(out);
		FAIL("text line not quoted and escaped as expected");
	}
	ASSERT_TRUE(strstr(out, "msg=\"text path\" exe=/tmp/evil\\nlevel=error") != NULL);
	ASSERT_TRUE(strncmp(out, "time=", 5) == 0);
	free(out);
}

static int fetch_jwt(struct wl_fixture *f, const char *spiffe_id, JWTSVIDResponse **ret,
		     struct rpc_status *st)
{
	static char *aud[] = {"log-test"};
	JWTSVIDRequest req = JWTSVIDREQUEST__INIT;
	struct rpc_client *c;
	int r;

	req.n_audience = 1;
	req.audience = aud;
	req.spiffe_id = (char *)(spiffe_id ? spiffe_id : "");
	r = wl_client(f, true, &c);
	if (r)
		return r;
	r = rpc_client_call(c, WORKLOAD_METHOD_FETCH_JWT_SVID, &req.base,
			    &jwtsvidresponse__descriptor, (ProtobufCMessage **)ret, st);
	rpc_client_free(c);
	return r;
}

/* The bytes of secret, whole, or 12 bytes of it anywhere, in any usual encoding. */
static bool leaks(const char *log, const unsigned char *secret, size_t len)
{
	unsigned char b64[4096];
	char hex[64];

	if (len >= 12) {
		for (size_t off = 0; off + 12 <= len; off += 6) {
			if (memmem(log, strlen(log), secret + off, 12))
				return true;
			for (int i = 0; i < 12; i++)
				snprintf(hex + 2 * i, 3, "%02x", secret[off + i]);
			if (strcasestr(log, hex))
				return true;
		}
	}
	if (len < 3000 && EVP_EncodeBlock(b64, secret, (int)len) > 16) {
		b64[16] = '\0'; /* the first 12 bytes' worth */
		if (strstr(log, (char *)b64))
			return true;
	}
	return false;
}

TEST(log_identity_events_once_without_key_material)
{
	X509SVIDResponse *x = NULL;
	JWTSVIDResponse *j = NULL;
	struct wl_fixture f;
	struct rpc_status st;
	json_object *o;
	char exe[PATH_MAX], pid[16], uid[16], eid[40];
	char *out, *token = NULL;
	ssize_t n;
	int fd, bad;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_TRUE(n > 0);
	exe[n] = '\0';
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(uid, sizeof(uid), "%u",
		 (unsigned)getuid()); /* the connection's, not the record's */
	ASSERT_OK(wl_setup(&f, true));
	ASSERT_OK(wl_add_entry(&f, SID_A, "unix:uid:4242", NULL, NULL, eid));
	ASSERT_OK(wl_add_process(&f, getpid(), UID_A));
	ASSERT_OK(wl_start(&f));
	log_setup(LOG_LVL_INFO, true);
	fd = capture_start();
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(wl_fetch_x509(&f, &x, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_OK(fetch_jwt(&f, NULL, &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_OK);
	ASSERT_EQ(j->n_svids, 1);
	token = strdup(j->svids[0]->svid);
	protobuf_c_message_free_unpacked(&j->base, NULL);
	ASSERT_OK(fetch_jwt(&f, "spiffe://example.org/not-mine", &j, &st));
	ASSERT_EQ(st.code, GRPC_STATUS_PERMISSION_DENIED);
	usleep(100000); /* the stream's cancellation is logged by nobody: it revokes nothing */
	wl_teardown(&f);
	out = capture_end(fd);
	ASSERT_NOT_NULL(out);

	o = json_line_with(out, "identity released", 0, &bad);
	ASSERT_EQ(bad, 0);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "pid"), pid);
	ASSERT_STREQ(field(o, "uid"), uid);
	ASSERT_STREQ(field(o, "exe"), exe);
	ASSERT_STREQ(field(o, "spiffe_id"), SID_A);
	ASSERT_STREQ(field(o, "entry"), eid);
	ASSERT_STREQ(field(o, "type"), "x509");
	ASSERT_STREQ(field(o, "rpc"), "FetchX509SVID");
	json_object_put(o);
	o = json_line_with(out, "identity released", 1, &bad);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "type"), "jwt");
	ASSERT_STREQ(field(o, "rpc"), "FetchJWTSVID");
	ASSERT_STREQ(field(o, "entry"), eid);
	ASSERT_STREQ(field(o, "exe"), exe);
	json_object_put(o);
	/* Once each: no third release, one refusal, no revocation. */
	ASSERT_TRUE(json_line_with(out, "identity released", 2, &bad) == NULL);
	ASSERT_TRUE(json_line_with(out, "identity revoked", 0, &bad) == NULL);
	o = json_line_with(out, "identity refused", 0, &bad);
	ASSERT_NOT_NULL(o);
	ASSERT_STREQ(field(o, "pid"), pid);
	ASSERT_STREQ(field(o, "exe"), exe);
	ASSERT_STREQ(field(o, "code"), "PERMISSION_DENIED");
	ASSERT_STREQ(field(o, "rpc"), "FetchJWTSVID");
	ASSERT_TRUE(field(o, "reason") && strstr(field(o, "reason"), "not entitled"));
	json_object_put(o);
	ASSERT_TRUE(json_line_with(out, "identity refused", 1, &bad) == NULL);

	/* No key, certificate-key or token bytes in any line. */
	ASSERT_FALSE(strstr(out, "PRIVATE KEY"));
	ASSERT_FALSE(leaks(out, x->svids[0]->x509_svid_key.data, x->svids[0]->x509_svid_key.len));
	ASSERT_FALSE(strstr(out, token));
	ASSERT_FALSE(strstr(out, strrchr(token, '.') + 1)); /* the signature */
	ASSERT_FALSE(strstr(out, "eyJ")); /* any base64url JSON, i.e. a JWT part */
	protobuf_c_message_free_unpacked(&x->base, NULL);
	free(token);
	free(out);
}

TEST(log_identity_lines_are_rate_limited_and_counted)
{
	struct identity_event ev = {.kind = IDENTITY_REFUSED,
				    .pid = 7,
				    .uid = 7,
				    .rpc = "/SpiffeWorkloadAPI/FetchJWTSVID",
				    .reason = "no registration entry matches the calling process",
				    .code = GRPC_STATUS_PERMISSION_DENIED};
	struct metric *refused;
	json_object *o;
	char *out;
	int fd, bad;
	size_t lines;

	log_setup(LOG_LVL_INFO, true);
	fd = capture_start();
	for (int i = 0; i < 3 * TELEMETRY_LOG_BURST; i++)
		telemetry_identity(&ev);
	usleep(1100 * 1000 / TELEMETRY_LOG_RATE * 2); /* two tokens' worth */
	telemetry_identity(&ev);
	out = capture_end(fd);
	ASSERT_NOT_NULL(out);
	lines = count_lines(out);
	ASSERT_TRUE(lines >= TELEMETRY_LOG_BURST + 1 && lines <= TELEMETRY_LOG_BURST + 5);
	o = json_line_with(out, "identity refused", (int)lines - 1, &bad);
	ASSERT_EQ(bad, 0);
	ASSERT_NOT_NULL(o);
	/* The line after the gap says how many were left out. */
	ASSERT_TRUE(field(o, "suppressed") &&
		    atoi(field(o, "suppressed")) >= 2 * TELEMETRY_LOG_BURST - 5);
	json_object_put(o);
	free(out);
	/* Every event is counted, logged or not. */
	refused = metrics_counter(metrics_default(), "attestd_identities_refused_total",
				  "Workload API calls refused an identity, by status.", "code");
	ASSERT_EQ(metric_value(refused, "PERMISSION_DENIED"), 3 * TELEMETRY_LOG_BURST + 1);
}
