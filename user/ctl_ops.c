// SPDX-License-Identifier: Apache-2.0
/*
 * attestctl healthcheck | explain | watch (ctl_ops.h).  Each parses its own
 * options, makes one admin call (watch: one stream) and prints a table, a
 * line per event, or JSON through json-c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "cleanup.h"
#include "ctl_ops.h"
#include "rpc_client.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

#define HEALTH_TIMEOUT_MS 5000
#define EXPLAIN_TIMEOUT_MS 30000

struct octx {
	const struct op *op;
	const char *admin_socket;
	bool json;
};

struct op {
	const char *name;
	const char *args;
	const char *help;
	const char *options;
	int (*run)(struct octx *x, int argc, char **argv);
};

static int do_healthcheck(struct octx *x, int argc, char **argv);
static int do_explain(struct octx *x, int argc, char **argv);
static int do_watch(struct octx *x, int argc, char **argv);

static const struct op ops[] = {
    {"healthcheck", "[--verbose]",
     "Asks attestd whether it is live (its main loop runs) and ready (BPF programs\n"
     "attached and reporting, store reachable, CA signing, Workload API socket in place).\n"
     "Exit 0 when it is both; else exit 1 with the reason on one line on stderr.",
     "  --verbose               print every check and its verdict\n", do_healthcheck},
    {"explain", "--pid PID [--limit N]",
     "For the registration entries that share at least one selector with process PID,\n"
     "fewest missing first: which of their selectors the process lacks, and what it has\n"
     "of the same kind instead.  An entry lacking none matches.",
     "  --pid PID               the process (as attestctl ps lists it)\n"
     "  --limit N               show at most N entries (default 10, at most 1000)\n",
     do_explain},
    {"watch", "[--count N]",
     "Prints the identities attestd releases, revokes and refuses on this node, one line\n"
     "per event, as they happen (with --json, one JSON object per line), until\n"
     "interrupted or, with --count, after N events.",
     "  --count N               stop after N events\n", do_watch},
};

/* ---- messages ---- */

static int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "attestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_ERR;
}

static void op_usage(FILE *f, const struct op *o)
{
	fprintf(f, "usage: attestctl %s %s [--json] [--admin-socket PATH]\n", o->name, o->args);
}

static int usage_error(const struct octx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct octx *x, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "attestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	op_usage(stderr, x->op);
	return EXIT_USAGE;
}

static void op_help(const struct op *o)
{
	op_usage(stdout, o);
	printf("\n%s\n\n%s"
	       "  --json                  print JSON\n"
	       "  --admin-socket PATH     attestd's admin socket\n"
	       "  --help                  this text\n",
	       o->help, o->options);
}

static int json_print(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return error("cannot format JSON");
	puts(s);
	return EXIT_OK;
}

/* ---- options ---- */

enum {
	OPT_JSON = 0x100,
	OPT_ADMIN_SOCKET,
	OPT_PID,
	OPT_LIMIT,
	OPT_COUNT,
	OPT_VERBOSE,
};

/* clang-format off */
#define COMMON_OPTIONS \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET }, \
	{ "help", no_argument, NULL, 'h' }
/* clang-format on */

#define OPT_DONE 0
#define OPT_HELP (-1)
#define OPT_UNHANDLED (-2)

static int common_option(struct octx *x, int opt, char **argv)
{
	switch (opt) {
	case OPT_JSON:
		x->json = true;
		return OPT_DONE;
	case OPT_ADMIN_SOCKET:
		x->admin_socket = optarg;
		return OPT_DONE;
	case 'h':
		op_help(x->op);
		return OPT_HELP;
	case '?':
		return usage_error(x, "unknown option '%s'", argv[optind - 1]);
	case ':':
		return usage_error(x, "option '%s' needs an argument", argv[optind - 1]);
	}
	return OPT_UNHANDLED;
}

/* A decimal number lo..hi, nothing else. */
static int parse_num(const char *s, long lo, long hi, long *ret)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ---- talking to attestd ---- */

static int connect_admin(const struct octx *x, int timeout_ms, struct rpc_client **ret)
{
	int r = rpc_client_connect(x->admin_socket, ret);

	if (r)
		return error("cannot reach attestd at %s: %s (%s)", x->admin_socket, strerror(-r),
			     r == -EACCES || r == -EPERM ? "the admin API is root-only"
							 : "is attestd running?");
	rpc_client_set_timeout(*ret, timeout_ms);
	return 0;
}

/* A unary call; one error line and EXIT_ERR unless it returned OK. */
static int call(const struct octx *x, int timeout_ms, const char *method,
		const ProtobufCMessage *req, const ProtobufCMessageDescriptor *type,
		ProtobufCMessage **ret)
{
	struct rpc_client *c;
	struct rpc_status st;
	int r = connect_admin(x, timeout_ms, &c);

	if (r)
		return r;
	r = rpc_client_call(c, method, req, type, ret, &st);
	rpc_client_free(c);
	if (r)
		return error("call to attestd at %s failed: %s", x->admin_socket, strerror(-r));
	if (st.code == GRPC_STATUS_OK)
		return EXIT_OK;
	if (st.code == GRPC_STATUS_DEADLINE_EXCEEDED)
		return error("attestd at %s did not answer within %d s", x->admin_socket,
			     timeout_ms / 1000);
	return error("%s", *st.message ? st.message : "attestd refused the call");
}

/* "2026-01-31T12:00:00.123Z" */
static void format_ms(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", s, (int)(ms % 1000));
}

static struct json_object *json_strings(char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* ---- healthcheck ---- */

static int do_healthcheck(struct octx *x, int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"verbose", no_argument, NULL, OPT_VERBOSE},
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__HealthRequest req = ATTESTD__ADMIN__V1__HEALTH_REQUEST__INIT;
	Attestd__Admin__V1__HealthResponse *h = NULL;
	bool verbose = false, ok;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+:h", lopts, NULL)) != -1) {
		if (opt == OPT_VERBOSE) {
			verbose = true;
			continue;
		}
		r = common_option(x, opt, argv);
		if (r == OPT_HELP)
			return EXIT_OK;
		if (r == OPT_UNHANDLED)
			return usage_error(x, "unexpected option '%s'", argv[optind - 1]);
		if (r > 0)
			return r;
	}
	if (optind < argc)
		return usage_error(x, "unexpected argument '%s'", argv[optind]);
	r = call(x, HEALTH_TIMEOUT_MS, ADMIN_METHOD_HEALTH, &req.base,
		 &attestd__admin__v1__health_response__descriptor, (ProtobufCMessage **)&h);
	if (r)
		return r;
	ok = h->live && h->ready;
	if (x->json) {
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(o, "live", json_object_new_boolean(h->live));
		json_object_object_add(o, "ready", json_object_new_boolean(h->ready));
		json_object_object_add(o, "reason", json_object_new_string(h->reason));
		json_object_object_add(o, "age_ms", json_object_new_int64(h->age_ms));
		for (size_t i = 0; i < h->n_checks; i++) {
			struct json_object *c = json_object_new_object();

			json_object_object_add(c, "name",
					       json_object_new_string(h->checks[i]->name));
			json_object_object_add(c, "ok", json_object_new_boolean(h->checks[i]->ok));
			json_object_object_add(c, "detail",
					       json_object_new_string(h->checks[i]->detail));
			json_object_array_add(a, c);
		}
		json_object_object_add(o, "checks", a);
		json_print(o);
		json_object_put(o);
	} else if (verbose) {
		for (size_t i = 0; i < h->n_checks; i++)
			printf("%-8s %-4s %s\n", h->checks[i]->name,
			       h->checks[i]->ok ? "ok" : "FAIL", h->checks[i]->detail);
	}
	if (ok && !x->json)
		printf("attestd is live and ready\n");
	if (!ok)
		error("%s: %s", !h->live ? "not live" : "not ready",
		      *h->reason ? h->reason : "no reason given");
	protobuf_c_message_free_unpacked(&h->base, NULL);
	return ok ? EXIT_OK : EXIT_ERR;
}

/* ---- explain ---- */

static struct json_object *explain_json(const Attestd__Admin__V1__ExplainResponse *e)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	const Attestd__Admin__V1__ProcessInfo *p = e->process;

	json_object_object_add(o, "pid", json_object_new_int(p ? p->pid : 0));
	json_object_object_add(o, "start_time", json_object_new_uint64(p ? p->start_time : 0));
	json_object_object_add(o, "exe", json_object_new_string(p ? p->exe : ""));
	json_object_object_add(o, "selectors",
			       json_strings(p ? p->selectors : NULL, p ? p->n_selectors : 0));
	json_object_object_add(o, "candidates", json_object_new_int64(e->candidates));
	for (size_t i = 0; i < e->n_entries; i++) {
		const Attestd__Admin__V1__NearMiss *m = e->entries[i];
		struct json_object *j = json_object_new_object(), *miss = json_object_new_array();

		json_object_object_add(j, "id", json_object_new_string(m->entry->id));
		json_object_object_add(j, "spiffe_id", json_object_new_string(m->entry->spiffe_id));
		json_object_object_add(j, "parent_id", json_object_new_string(m->entry->parent_id));
		json_object_object_add(j, "selectors",
				       json_strings(m->entry->selectors, m->entry->n_selectors));
		json_object_object_add(j, "matches", json_object_new_boolean(m->n_missing == 0));
		json_object_object_add(j, "applies_here", json_object_new_boolean(m->applies_here));
		for (size_t k = 0; k < m->n_missing; k++) {
			struct json_object *s = json_object_new_object();

			json_object_object_add(s, "selector",
					       json_object_new_string(m->missing[k]->selector));
			json_object_object_add(
			    s, "process_has",
			    json_strings(m->missing[k]->process_has, m->missing[k]->n_process_has));
			json_object_array_add(miss, s);
		}
		json_object_object_add(j, "missing", miss);
		json_object_array_add(a, j);
	}
	json_object_object_add(o, "entries", a);
	return o;
}

static void explain_print(const Attestd__Admin__V1__ExplainResponse *e, int32_t pid)
{
	const Attestd__Admin__V1__ProcessInfo *p = e->process;
	int w = 9;

	printf("pid %d  %s  (%zu selectors; attestctl attest --pid %d lists them)\n", pid,
	       p && *p->exe ? p->exe : "-", p ? p->n_selectors : 0, pid);
	if (!e->n_entries) {
		printf("no registration entry shares a selector with this process\n");
		return;
	}
	for (size_t i = 0; i < e->n_entries; i++) {
		int n = (int)strlen(e->entries[i]->entry->spiffe_id);

		w = n > w ? n : w;
	}
	for (size_t i = 0; i < e->n_entries; i++) {
		const Attestd__Admin__V1__NearMiss *m = e->entries[i];
		char verdict[64];

		if (!m->n_missing)
			snprintf(verdict, sizeof(verdict), "matches");
		else
			snprintf(verdict, sizeof(verdict), "missing %zu of %zu", m->n_missing,
				 m->entry->n_selectors);
		printf("%-*s  %-18s  entry %s%s\n", w, m->entry->spiffe_id, verdict, m->entry->id,
		       m->applies_here ? "" : "  (scoped to another node: not matched here)");
		for (size_t k = 0; k < m->n_missing; k++) {
			const Attestd__Admin__V1__MissingSelector *s = m->missing[k];

			printf("    lacks %s", s->selector);
			for (size_t h = 0; h < s->n_process_has; h++)
				printf("%s%s", h ? ", " : "  (has ", s->process_has[h]);
			printf("%s\n", s->n_process_has ? ")" : "");
		}
	}
	if (e->candidates > e->n_entries)
		printf("(%u more entries share a selector; --limit shows more)\n",
		       e->candidates - (unsigned)e->n_entries);
}

static int do_explain(struct octx *x, int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"pid", required_argument, NULL, OPT_PID},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__ExplainRequest req = ATTESTD__ADMIN__V1__EXPLAIN_REQUEST__INIT;
	Attestd__Admin__V1__ExplainResponse *e = NULL;
	const char *pid = NULL, *limit = NULL;
	long v;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+:h", lopts, NULL)) != -1) {
		if (opt == OPT_PID || opt == OPT_LIMIT) {
			*(opt == OPT_PID ? &pid : &limit) = optarg;
			continue;
		}
		r = common_option(x, opt, argv);
		if (r == OPT_HELP)
			return EXIT_OK;
		if (r == OPT_UNHANDLED)
			return usage_error(x, "unexpected option '%s'", argv[optind - 1]);
		if (r > 0)
			return r;
	}
	if (optind < argc)
		return usage_error(x, "unexpected argument '%s'", argv[optind]);
	if (!pid)
		return usage_error(x, "--pid is required");
	if (parse_num(pid, 1, INT32_MAX, &v))
		return usage_error(x, "--pid '%s' is not a pid", pid);
	req.pid = (int32_t)v;
	if (limit) {
		if (parse_num(limit, 1, 1000, &v))
			return usage_error(x, "--limit '%s' is not a number 1..1000", limit);
		req.limit = (uint32_t)v;
	}
	r = call(x, EXPLAIN_TIMEOUT_MS, ADMIN_METHOD_EXPLAIN, &req.base,
		 &attestd__admin__v1__explain_response__descriptor, (ProtobufCMessage **)&e);
	if (r)
		return r;
	if (x->json) {
		struct json_object *o = explain_json(e);

		r = json_print(o);
		json_object_put(o);
	} else {
		explain_print(e, req.pid);
	}
	protobuf_c_message_free_unpacked(&e->base, NULL);
	return r;
}

/* ---- watch ---- */

struct watch_state {
	const struct octx *x;
	long count, seen;
	bool watching;
};

static const char *kind_name(Attestd__Admin__V1__IdentityEvent__Kind k)
{
	switch (k) {
	case ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__RELEASED:
		return "released";
	case ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__REVOKED:
		return "revoked";
	case ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__REFUSED:
		return "refused";
	default:
		return "unknown";
	}
}

/* A value for a key=value line: quoted (with \" and \\) when it is empty or has spaces. */
static void put_value(const char *key, const char *v)
{
	bool q = !*v || strpbrk(v, " \t\"=\\");

	if (!*v && strcmp(key, "reason"))
		return;
	printf(" %s=%s", key, q ? "\"" : "");
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			printf("\\x%02x", (unsigned char)*p);
		else
			putchar(*p);
	}
	printf("%s", q ? "\"" : "");
}

static int on_event(const ProtobufCMessage *msg, void *arg)
{
	const Attestd__Admin__V1__IdentityEvent *ev = (const void *)msg;
	struct watch_state *w = arg;
	char when[40], num[16];

	if (ev->kind == ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__WATCHING) {
		w->watching = true;
		fprintf(stderr, "watching identities on %s (released, revoked, refused)\n",
			w->x->admin_socket);
		return 0;
	}
	format_ms(ev->time_ms, when, sizeof(when));
	if (w->x->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "event", json_object_new_string(kind_name(ev->kind)));
		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "pid", json_object_new_int(ev->pid));
		json_object_object_add(o, "uid", json_object_new_int64(ev->uid));
		json_object_object_add(o, "exe", json_object_new_string(ev->exe));
		json_object_object_add(o, "spiffe_id", json_object_new_string(ev->spiffe_id));
		json_object_object_add(o, "entry_id", json_object_new_string(ev->entry_id));
		json_object_object_add(o, "svid_type", json_object_new_string(ev->svid_type));
		json_object_object_add(o, "rpc", json_object_new_string(ev->rpc));
		json_object_object_add(o, "reason", json_object_new_string(ev->reason));
		json_object_object_add(o, "code", json_object_new_string(ev->code));
		json_print(o);
		json_object_put(o);
	} else {
		printf("%s %-8s", when, kind_name(ev->kind));
		snprintf(num, sizeof(num), "%d", ev->pid);
		put_value("pid", num);
		snprintf(num, sizeof(num), "%u", ev->uid);
		put_value("uid", num);
		put_value("exe", ev->exe);
		put_value("spiffe_id", ev->spiffe_id);
		put_value("entry", ev->entry_id);
		put_value("type", ev->svid_type);
		put_value("rpc", ev->rpc);
		put_value("code", ev->code);
		if (ev->kind != ATTESTD__ADMIN__V1__IDENTITY_EVENT__KIND__RELEASED)
			put_value("reason", ev->reason);
		putchar('\n');
	}
	fflush(stdout); /* a line per event, also into a pipe */
	w->seen++;
	return w->count && w->seen >= w->count ? 1 : 0;
}

static int do_watch(struct octx *x, int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"count", required_argument, NULL, OPT_COUNT},
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__WatchRequest req = ATTESTD__ADMIN__V1__WATCH_REQUEST__INIT;
	struct watch_state w = {.x = x};
	struct rpc_client *c;
	struct rpc_status st;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+:h", lopts, NULL)) != -1) {
		if (opt == OPT_COUNT) {
			if (parse_num(optarg, 1, LONG_MAX, &w.count))
				return usage_error(x, "--count '%s' is not a positive number",
						   optarg);
			continue;
		}
		r = common_option(x, opt, argv);
		if (r == OPT_HELP)
			return EXIT_OK;
		if (r == OPT_UNHANDLED)
			return usage_error(x, "unexpected option '%s'", argv[optind - 1]);
		if (r > 0)
			return r;
	}
	if (optind < argc)
		return usage_error(x, "unexpected argument '%s'", argv[optind]);
	r = connect_admin(x, 0, &c); /* a stream with no deadline */
	if (r)
		return r;
	r = rpc_client_stream(c, ADMIN_METHOD_WATCH, &req.base,
			      &attestd__admin__v1__identity_event__descriptor, on_event, &w, &st);
	rpc_client_free(c);
	if (r)
		return error("watch on attestd at %s failed: %s", x->admin_socket, strerror(-r));
	if (w.count && w.seen >= w.count)
		return EXIT_OK;
	return error("attestd ended the watch: %s",
		     *st.message ? st.message : (st.code == GRPC_STATUS_OK ? "done" : "no reason"));
}

/* ---- dispatch ---- */

int ctl_ops_run(const char *cmd, const struct ctl_env *env, int argc, char **argv)
{
	struct octx x = {.admin_socket = env->admin_socket, .json = env->json};

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(ops[i].name, cmd)) {
			x.op = &ops[i];
			return ops[i].run(&x, argc, argv);
		}
	return error("unknown command '%s'", cmd);
}
