// SPDX-License-Identifier: Apache-2.0
/*
 * attestctl: the operator's CLI for attestd.  A table of subcommands, each
 * a do_<verb> function with its own options plus the common ones (--json,
 * --admin-socket, --help).  Exit 0 ok, 1 error (one line on stderr), 2 usage.
 * JSON goes through json-c, never printf.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "cleanup.h"
#include "ctl.h"
#include "ctl_bundle.h"
#include "ctl_entry.h"
#include "ctl_ops.h"
#include "ctl_selectors.h"
#include "rpc_client.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

#define DEFAULT_ADMIN_SOCKET "/run/attestd/admin.sock"

/* Settings every command shares: defaults, then top-level flags, then the command's. */
struct ctl {
	const char *admin_socket;
	bool json;
	const struct command *cmd;
};

struct command {
	const char *name;
	const char *sub; /* second word ("entry create"), or NULL */
	int (*fn)(struct ctl *ctl, int argc, char **argv);
	const char *args; /* synopsis of the command's own arguments */
	const char *help;
};

static int do_attest(struct ctl *ctl, int argc, char **argv);
static int do_ps(struct ctl *ctl, int argc, char **argv);
static int do_workload(struct ctl *ctl, int argc, char **argv);
static int do_entry(struct ctl *ctl, int argc, char **argv);
static int do_bundle(struct ctl *ctl, int argc, char **argv);
static int do_selectors(struct ctl *ctl, int argc, char **argv);
static int do_ops(struct ctl *ctl, int argc, char **argv);

/* A new command: a do_<verb> function and a row here. */
static const struct command commands[] = {
    {"attest", NULL, do_attest, "--pid PID",
     "the selectors attestd derived for PID, and the SPIFFE IDs they match"},
    {"ps", NULL, do_ps, "", "tracked processes: pid, start time, exe, cgroup, matched SPIFFE IDs"},
    {"fetch", "x509", do_workload, "[--write DIR]",
     "this process's X.509-SVIDs, over the Workload API"},
    {"fetch", "jwt", do_workload, "--audience AUD [--spiffe-id ID]",
     "JWT-SVIDs for an audience, over the Workload API"},
    {"validate", "jwt", do_workload, "--audience AUD --svid TOKEN",
     "validate a JWT-SVID, over the Workload API"},
    {"bundle", "show", do_workload, "[--format pem|jwks]",
     "the trust bundles the Workload API serves this process"},
    {"bundle", "set", do_bundle, "--trust-domain TD --file BUNDLE.json",
     "add or replace a foreign trust domain's bundle (federation)"},
    {"bundle", "list", do_bundle, "", "foreign trust domains' bundles: X.509, JWT, sequence"},
    {"bundle", "delete", do_bundle, "TD", "delete a foreign trust domain's bundle"},
    {"entry", "create", do_entry, "--spiffe-id ID --selector S ... | --data FILE",
     "create a registration entry, or all of FILE's in one transaction"},
    {"entry", "list", do_entry, "[--selector S ...] [--spiffe-id ID]",
     "registration entries: SPIFFE ID, selectors, TTLs, id"},
    {"entry", "show", do_entry, "ID", "one registration entry"},
    {"entry", "update", do_entry, "ID [same flags as create]",
     "replace the given fields of an entry"},
    {"entry", "delete", do_entry, "ID", "delete a registration entry"},
    {"selectors", NULL, do_selectors, "--cgroup PATH",
     "offline: the container/k8s/systemd selectors a cgroup path yields"},
    {"healthcheck", NULL, do_ops, "[--verbose]",
     "exit 0 if attestd is live and ready, else 1 and the reason"},
    {"explain", NULL, do_ops, "--pid PID [--limit N]",
     "for entries that nearly match PID: the selectors it lacks"},
    {"watch", NULL, do_ops, "[--count N]",
     "identities released, revoked and refused on this node, live"},
};

enum {
	OPT_JSON = 0x100,
	OPT_ADMIN_SOCKET,
	OPT_PID,
};

/* clang-format off */
#define COMMON_OPTIONS \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET }, \
	{ "help", no_argument, NULL, 'h' }
/* clang-format on */

#define COMMON_USAGE "[--json] [--admin-socket PATH]"

/* ---- output helpers ---- */

static void cmd_name(const struct command *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->name, c->sub ? " " : "", c->sub ? c->sub : "");
}

static void cmd_usage(FILE *f, const struct command *c)
{
	char name[64];

	cmd_name(c, name, sizeof(name));
	fprintf(f, "usage: attestctl %s%s%s %s\n", name, *c->args ? " " : "", c->args,
		COMMON_USAGE);
}

/* Prints a usage error for the running command and returns EXIT_USAGE. */
static int usage_error(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "attestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (ctl->cmd)
		cmd_usage(stderr, ctl->cmd);
	else
		fprintf(stderr, "Try 'attestctl --help'.\n");
	return EXIT_USAGE;
}

static int error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "attestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return EXIT_ERR;
}

static void cmd_help(const struct command *c)
{
	cmd_usage(stdout, c);
	printf("\n%s\n\n"
	       "  --json               print JSON\n"
	       "  --admin-socket PATH  attestd's admin socket (default %s)\n"
	       "  --help               this text\n",
	       c->help, DEFAULT_ADMIN_SOCKET);
}

static void top_help(void)
{
	printf("usage: attestctl [--json] [--admin-socket PATH] COMMAND [ARGS]\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		char name[64];

		cmd_name(&commands[i], name, sizeof(name));
		printf("  %-14s %s\n", name, commands[i].help);
	}
	printf("\n'attestctl COMMAND --help' shows a command's options.\n");
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

/* common_option() results besides an exit code (> 0) to return at once */
#define OPT_GO_ON 0
#define OPT_NOT_COMMON (-1)
#define OPT_HELP_SHOWN (-2)

/* Handles an option every command takes. */
static int common_option(struct ctl *ctl, int opt, const char *arg, char **argv)
{
	switch (opt) {
	case OPT_JSON:
		ctl->json = true;
		return OPT_GO_ON;
	case OPT_ADMIN_SOCKET:
		ctl->admin_socket = arg;
		return OPT_GO_ON;
	case 'h':
		if (ctl->cmd)
			cmd_help(ctl->cmd);
		else
			top_help();
		return OPT_HELP_SHOWN;
	case '?':
		return usage_error(ctl, "unknown option '%s'", argv[optind - 1]);
	case ':':
		return usage_error(ctl, "option '%s' needs an argument", argv[optind - 1]);
	}
	return OPT_NOT_COMMON;
}

/* ---- talking to attestd ---- */

static int admin_connect(const struct ctl *ctl, struct rpc_client **ret)
{
	int r = rpc_client_connect(ctl->admin_socket, ret);

	if (r == 0)
		return 0;
	return error("cannot reach attestd at %s: %s (%s)", ctl->admin_socket, strerror(-r),
		     r == -EACCES || r == -EPERM ? "the admin API is root-only"
						 : "is attestd running?");
}

/* A unary admin call; one error line and EXIT_ERR unless it returned OK. */
static int admin_call(const struct ctl *ctl, const char *method, const ProtobufCMessage *req,
		      const ProtobufCMessageDescriptor *resp_type, ProtobufCMessage **ret)
{
	struct rpc_client *c;
	struct rpc_status st;
	int r;

	r = admin_connect(ctl, &c);
	if (r)
		return r;
	r = rpc_client_call(c, method, req, resp_type, ret, &st);
	rpc_client_free(c);
	if (r)
		return error("call to attestd at %s failed: %s", ctl->admin_socket, strerror(-r));
	if (st.code == GRPC_STATUS_OK)
		return EXIT_OK;
	if (st.code == GRPC_STATUS_UNAVAILABLE || st.code == GRPC_STATUS_DEADLINE_EXCEEDED)
		return error("attestd at %s did not answer: %s", ctl->admin_socket,
			     *st.message ? st.message : "no reason given");
	return error("%s", *st.message ? st.message : "attestd refused the call");
}

/* ---- attest, ps ---- */

static struct json_object *json_strings(char **v, size_t n)
{
	struct json_object *a = json_object_new_array_ext((int)n);

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* The attest --json shape; ps --json lists the same objects. */
static struct json_object *process_json(const Attestd__Admin__V1__ProcessInfo *p)
{
	struct json_object *o = json_object_new_object();
	struct json_object *gids = json_object_new_array_ext((int)p->n_supplementary_gids);

	json_object_object_add(o, "pid", json_object_new_int(p->pid));
	json_object_object_add(o, "start_time", json_object_new_uint64(p->start_time));
	json_object_object_add(o, "ppid", json_object_new_int(p->ppid));
	json_object_object_add(o, "uid", json_object_new_int64(p->uid));
	json_object_object_add(o, "gid", json_object_new_int64(p->gid));
	json_object_object_add(o, "euid", json_object_new_int64(p->euid));
	json_object_object_add(o, "egid", json_object_new_int64(p->egid));
	for (size_t i = 0; i < p->n_supplementary_gids; i++)
		json_object_array_add(gids, json_object_new_int64(p->supplementary_gids[i]));
	json_object_object_add(o, "supplementary_gids", gids);
	json_object_object_add(o, "groups_truncated", json_object_new_boolean(p->groups_truncated));
	json_object_object_add(o, "exe", json_object_new_string(p->exe));
	json_object_object_add(o, "exe_truncated", json_object_new_boolean(p->exe_truncated));
	json_object_object_add(o, "comm", json_object_new_string(p->comm));
	json_object_object_add(o, "cgroup", json_object_new_string(p->cgroup));
	json_object_object_add(o, "cgroup_truncated", json_object_new_boolean(p->cgroup_truncated));
	json_object_object_add(o, "cgroup_id", json_object_new_uint64(p->cgroup_id));
	json_object_object_add(o, "pidns", json_object_new_int64(p->pidns));
	json_object_object_add(o, "mntns", json_object_new_int64(p->mntns));
	json_object_object_add(o, "selectors", json_strings(p->selectors, p->n_selectors));
	json_object_object_add(o, "spiffe_ids", json_strings(p->spiffe_ids, p->n_spiffe_ids));
	return o;
}

static void process_print(const Attestd__Admin__V1__ProcessInfo *p)
{
	printf("pid          %d\n", p->pid);
	printf("start time   %llu\n", (unsigned long long)p->start_time);
	printf("exe          %s%s\n", *p->exe ? p->exe : "-",
	       p->exe_truncated ? " (truncated)" : "");
	printf("cgroup       %s%s\n", *p->cgroup ? p->cgroup : "-",
	       p->cgroup_truncated ? " (truncated)" : "");
	printf("selectors\n");
	for (size_t i = 0; i < p->n_selectors; i++)
		printf("  %s\n", p->selectors[i]);
	printf("spiffe ids%s\n", p->n_spiffe_ids ? "" : "   (none)");
	for (size_t i = 0; i < p->n_spiffe_ids; i++)
		printf("  %s\n", p->spiffe_ids[i]);
}

/* A pid: decimal, 1..INT32_MAX, nothing else. */
static int parse_pid(const char *s, int32_t *ret)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	*ret = (int32_t)v;
	return 0;
}

static int do_attest(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pid", required_argument, NULL, OPT_PID},
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__AttestRequest req = ATTESTD__ADMIN__V1__ATTEST_REQUEST__INIT;
	Attestd__Admin__V1__ProcessInfo *p = NULL;
	const char *pid = NULL;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		if (opt == OPT_PID) {
			pid = optarg;
			continue;
		}
		r = common_option(ctl, opt, optarg, argv);
		if (r == OPT_HELP_SHOWN)
			return EXIT_OK;
		if (r == OPT_NOT_COMMON)
			return usage_error(ctl, "unexpected option '%s'", argv[optind - 1]);
		if (r > 0)
			return r;
	}
	if (optind < argc)
		return usage_error(ctl, "unexpected argument '%s'", argv[optind]);
	if (!pid)
		return usage_error(ctl, "--pid is required");
	if (parse_pid(pid, &req.pid))
		return usage_error(ctl, "--pid '%s' is not a pid", pid);

	r = admin_call(ctl, ADMIN_METHOD_ATTEST, &req.base,
		       &attestd__admin__v1__process_info__descriptor, (ProtobufCMessage **)&p);
	if (r)
		return r;
	if (ctl->json) {
		struct json_object *o = process_json(p);

		r = json_print(o);
		json_object_put(o);
	} else {
		process_print(p);
	}
	protobuf_c_message_free_unpacked(&p->base, NULL);
	return r;
}

static char *join_ids(const Attestd__Admin__V1__ProcessInfo *p)
{
	size_t len = 2;
	char *s;

	for (size_t i = 0; i < p->n_spiffe_ids; i++)
		len += strlen(p->spiffe_ids[i]) + 1;
	s = calloc(1, len);
	if (!s)
		return NULL;
	if (!p->n_spiffe_ids)
		strcpy(s, "-");
	for (size_t i = 0; i < p->n_spiffe_ids; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, p->spiffe_ids[i]);
	}
	return s;
}

static int ps_table(const Attestd__Admin__V1__ListProcessesResponse *resp)
{
	int wpid = 3, wstart = 5, wexe = 3, wcg = 6;
	char num[32];

	for (size_t i = 0; i < resp->n_processes; i++) {
		const Attestd__Admin__V1__ProcessInfo *p = resp->processes[i];
		int n;

		n = snprintf(num, sizeof(num), "%d", p->pid);
		wpid = n > wpid ? n : wpid;
		n = snprintf(num, sizeof(num), "%llu", (unsigned long long)p->start_time);
		wstart = n > wstart ? n : wstart;
		n = (int)strlen(*p->exe ? p->exe : "-");
		wexe = n > wexe ? n : wexe;
		n = (int)strlen(*p->cgroup ? p->cgroup : "-");
		wcg = n > wcg ? n : wcg;
	}
	printf("%*s  %*s  %-*s  %-*s  %s\n", wpid, "PID", wstart, "START", wexe, "EXE", wcg,
	       "CGROUP", "SPIFFE IDS");
	for (size_t i = 0; i < resp->n_processes; i++) {
		const Attestd__Admin__V1__ProcessInfo *p = resp->processes[i];
		_cleanup_free_ char *ids = join_ids(p);

		if (!ids)
			return error("out of memory");
		printf("%*d  %*llu  %-*s  %-*s  %s\n", wpid, p->pid, wstart,
		       (unsigned long long)p->start_time, wexe, *p->exe ? p->exe : "-", wcg,
		       *p->cgroup ? p->cgroup : "-", ids);
	}
	return EXIT_OK;
}

static int do_ps(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__ListProcessesRequest req =
	    ATTESTD__ADMIN__V1__LIST_PROCESSES_REQUEST__INIT;
	Attestd__Admin__V1__ListProcessesResponse *resp = NULL;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		r = common_option(ctl, opt, optarg, argv);
		if (r == OPT_HELP_SHOWN)
			return EXIT_OK;
		if (r == OPT_NOT_COMMON)
			return usage_error(ctl, "unexpected option '%s'", argv[optind - 1]);
		if (r > 0)
			return r;
	}
	if (optind < argc)
		return usage_error(ctl, "unexpected argument '%s'", argv[optind]);

	r = admin_call(ctl, ADMIN_METHOD_LIST_PROCESSES, &req.base,
		       &attestd__admin__v1__list_processes_response__descriptor,
		       (ProtobufCMessage **)&resp);
	if (r)
		return r;
	if (ctl->json) {
		struct json_object *o = json_object_new_object();
		struct json_object *a = json_object_new_array_ext((int)resp->n_processes);

		for (size_t i = 0; i < resp->n_processes; i++)
			json_object_array_add(a, process_json(resp->processes[i]));
		json_object_object_add(o, "processes", a);
		r = json_print(o);
		json_object_put(o);
	} else {
		r = ps_table(resp);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

/* ---- entry: user/ctl_entry.c, which parses its own options ---- */

static int do_entry(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_env env = {.admin_socket = ctl->admin_socket, .json = ctl->json};

	return ctl_entry_run(ctl->cmd->sub, &env, argc, argv);
}

/* ---- bundle set, list, delete: user/ctl_bundle.c, over the admin API ---- */

static int do_bundle(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_env env = {.admin_socket = ctl->admin_socket, .json = ctl->json};

	return ctl_bundle_run(ctl->cmd->sub, &env, argc, argv);
}

/* ---- fetch, validate, bundle: user/ctl_fetch.c, over the Workload API ---- */

static int do_workload(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_env env = {.admin_socket = ctl->admin_socket, .json = ctl->json};

	return ctl_workload_run(ctl->cmd->name, ctl->cmd->sub, &env, argc, argv);
}

/* ---- selectors: user/ctl_selectors.c, offline ---- */

static int do_selectors(struct ctl *ctl, int argc, char **argv)
{
	return ctl_selectors_run(ctl->json, argc, argv);
}

/* ---- healthcheck, explain, watch: user/ctl_ops.c, which parses its own options ---- */

static int do_ops(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_env env = {.admin_socket = ctl->admin_socket, .json = ctl->json};

	return ctl_ops_run(ctl->cmd->name, &env, argc, argv);
}

/* ---- dispatch ---- */

/* The command argv names; *ret_words is how many words its name took. */
static const struct command *find_command(int argc, char **argv, int *ret_words, bool *ret_group)
{
	*ret_group = false;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];

		if (strcmp(argv[0], c->name) != 0)
			continue;
		if (!c->sub) {
			*ret_words = 1;
			return c;
		}
		*ret_group = true;
		if (argc > 1 && strcmp(argv[1], c->sub) == 0) {
			*ret_words = 2;
			return c;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    COMMON_OPTIONS,
	    {},
	};
	struct ctl ctl = {.admin_socket = DEFAULT_ADMIN_SOCKET};
	const struct command *c;
	bool group;
	int opt, r, words;

	opterr = 0;
	/* '+': stop at the command name; what follows is the command's. */
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		r = common_option(&ctl, opt, optarg, argv);
		if (r == OPT_HELP_SHOWN)
			return EXIT_OK;
		if (r > 0)
			return r;
	}
	if (optind >= argc)
		return usage_error(&ctl, "no command given");
	argc -= optind;
	argv += optind;
	c = find_command(argc, argv, &words, &group);
	if (!c) {
		if (group)
			return usage_error(&ctl, "'%s' needs a subcommand", argv[0]);
		return usage_error(&ctl, "unknown command '%s'", argv[0]);
	}
	ctl.cmd = c;
	/* The command parses from its last name word, as if it were argv[0]. */
	argc -= words - 1;
	argv += words - 1;
	optind = 0; /* GNU: restart scanning, also resetting its internal state */
	return c->fn(&ctl, argc, argv);
}
