// SPDX-License-Identifier: Apache-2.0
/*
 * attestctl bundle set | list | delete (ctl_bundle.h): foreign trust
 * domains' bundles for federation.  Each parses its own options, makes one
 * admin call and prints a line, a table, or JSON through json-c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "ctl_bundle.h"
#include "rpc_client.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

#define BUNDLE_TIMEOUT_MS 10000
#define BUNDLE_MAX_FILE (4 * 1024 * 1024)

struct bctx {
	const struct bop *op;
	const char *admin_socket;
	bool json;
};

struct bop {
	const char *name;
	const char *args;
	const char *help;
	const char *options;
	int (*run)(struct bctx *x, int argc, char **argv);
};

static int do_set(struct bctx *x, int argc, char **argv);
static int do_list(struct bctx *x, int argc, char **argv);
static int do_delete(struct bctx *x, int argc, char **argv);

static const struct bop bops[] = {
    {"set", "--trust-domain TD --file BUNDLE.json",
     "Adds or replaces the bundle of a foreign trust domain, for federation: FILE is a\n"
     "SPIFFE bundle (a JWK Set, as the other trust domain's bundle endpoint serves it).\n"
     "attestd keeps it in <data-dir>/bundles/TD.json and serves it over the Workload API.",
     "  --trust-domain TD       the foreign trust domain (not attestd's own)\n"
     "  --file FILE             the SPIFFE bundle JSON ('-' reads stdin)\n",
     do_set},
    {"list", "",
     "Lists the foreign trust domains' bundles: trust domain, X.509 authorities,\n"
     "JWT authorities and sequence number.",
     "", do_list},
    {"delete", "TD", "Deletes the bundle of foreign trust domain TD.", "", do_delete},
};

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

static void op_usage(FILE *f, const struct bop *o)
{
	fprintf(f, "usage: attestctl bundle %s%s%s [--json] [--admin-socket PATH]\n", o->name,
		*o->args ? " " : "", o->args);
}

static int usage_error(const struct bctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct bctx *x, const char *fmt, ...)
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

static void op_help(const struct bop *o)
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

enum {
	OPT_JSON = 0x100,
	OPT_ADMIN_SOCKET,
	OPT_TRUST_DOMAIN,
	OPT_FILE,
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

static int common_option(struct bctx *x, int opt, char **argv)
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

/* A unary admin call; one error line and EXIT_ERR unless it returned OK. */
static int call(const struct bctx *x, const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *type, ProtobufCMessage **ret)
{
	struct rpc_client *c;
	struct rpc_status st;
	int r = rpc_client_connect(x->admin_socket, &c);

	if (r)
		return error("cannot reach attestd at %s: %s (%s)", x->admin_socket, strerror(-r),
			     r == -EACCES || r == -EPERM ? "the admin API is root-only"
							 : "is attestd running?");
	rpc_client_set_timeout(c, BUNDLE_TIMEOUT_MS);
	r = rpc_client_call(c, method, req, type, ret, &st);
	rpc_client_free(c);
	if (r)
		return error("call to attestd at %s failed: %s", x->admin_socket, strerror(-r));
	if (st.code == GRPC_STATUS_OK)
		return EXIT_OK;
	if (st.code == GRPC_STATUS_DEADLINE_EXCEEDED)
		return error("attestd at %s did not answer within %d s", x->admin_socket,
			     BUNDLE_TIMEOUT_MS / 1000);
	return error("%s", *st.message ? st.message : "attestd refused the call");
}

static int read_whole(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t len = 0, cap = 65536;
	char *buf;

	if (!f)
		return -errno;
	buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);

		len += n;
		if (len < cap)
			break;
		if (cap >= BUNDLE_MAX_FILE) {
			free(buf);
			if (f != stdin)
				fclose(f);
			return -EFBIG;
		}
		cap *= 2;
		char *nb = realloc(buf, cap);
		if (!nb)
			free(buf);
		buf = nb;
	}
	if (!buf) {
		if (f != stdin)
			fclose(f);
		return -ENOMEM;
	}
	if (ferror(f)) {
		int r = -EIO;

		free(buf);
		if (f != stdin)
			fclose(f);
		return r;
	}
	if (f != stdin)
		fclose(f);
	*ret = buf;
	*ret_len = len;
	return 0;
}

static struct json_object *info_json(const Attestd__Admin__V1__BundleInfo *b)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "trust_domain", json_object_new_string(b->trust_domain));
	json_object_object_add(o, "x509_authorities", json_object_new_int64(b->x509_authorities));
	json_object_object_add(o, "jwt_authorities", json_object_new_int64(b->jwt_authorities));
	json_object_object_add(o, "sequence", json_object_new_uint64(b->sequence));
	return o;
}

/* Options of a command without its own: only the common ones. */
static int plain_options(struct bctx *x, int argc, char **argv)
{
	static const struct option lopts[] = {
	    COMMON_OPTIONS,
	    {},
	};
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+:h", lopts, NULL)) != -1) {
		r = common_option(x, opt, argv);
		if (r == OPT_HELP)
			return OPT_HELP;
		if (r == OPT_UNHANDLED)
			return usage_error(x, "unexpected option '%s'", argv[optind - 1]);
		if (r > 0)
			return r;
	}
	return OPT_DONE;
}

static int do_set(struct bctx *x, int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"trust-domain", required_argument, NULL, OPT_TRUST_DOMAIN},
	    {"file", required_argument, NULL, OPT_FILE},
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__SetBundleRequest req = ATTESTD__ADMIN__V1__SET_BUNDLE_REQUEST__INIT;
	Attestd__Admin__V1__BundleInfo *resp = NULL;
	const char *td = NULL, *file = NULL;
	char *data = NULL;
	size_t len = 0;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "+:h", lopts, NULL)) != -1) {
		if (opt == OPT_TRUST_DOMAIN) {
			td = optarg;
			continue;
		}
		if (opt == OPT_FILE) {
			file = optarg;
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
	if (!td)
		return usage_error(x, "--trust-domain is required");
	if (!file)
		return usage_error(x, "--file is required");
	r = read_whole(file, &data, &len);
	if (r < 0)
		return error("cannot read %s: %s", file, strerror(-r));
	req.trust_domain = (char *)td;
	req.bundle.data = (uint8_t *)data;
	req.bundle.len = len;
	r = call(x, ADMIN_METHOD_SET_BUNDLE, &req.base,
		 &attestd__admin__v1__bundle_info__descriptor, (ProtobufCMessage **)&resp);
	free(data);
	if (r)
		return r;
	if (x->json) {
		struct json_object *o = info_json(resp);

		r = json_print(o);
		json_object_put(o);
	} else {
		printf(
		    "bundle of %s set: %u X.509 authorities, %u JWT authorities, sequence %llu\n",
		    resp->trust_domain, resp->x509_authorities, resp->jwt_authorities,
		    (unsigned long long)resp->sequence);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

static int do_list(struct bctx *x, int argc, char **argv)
{
	Attestd__Admin__V1__ListBundlesRequest req = ATTESTD__ADMIN__V1__LIST_BUNDLES_REQUEST__INIT;
	Attestd__Admin__V1__ListBundlesResponse *resp = NULL;
	int r = plain_options(x, argc, argv);

	if (r == OPT_HELP)
		return EXIT_OK;
	if (r)
		return r;
	if (optind < argc)
		return usage_error(x, "unexpected argument '%s'", argv[optind]);
	r = call(x, ADMIN_METHOD_LIST_BUNDLES, &req.base,
		 &attestd__admin__v1__list_bundles_response__descriptor,
		 (ProtobufCMessage **)&resp);
	if (r)
		return r;
	if (x->json) {
		struct json_object *o = json_object_new_object();
		struct json_object *a = json_object_new_array_ext((int)resp->n_bundles);

		for (size_t i = 0; i < resp->n_bundles; i++)
			json_object_array_add(a, info_json(resp->bundles[i]));
		json_object_object_add(o, "bundles", a);
		r = json_print(o);
		json_object_put(o);
	} else {
		printf("%-40s %6s %6s %s\n", "TRUST DOMAIN", "X509", "JWT", "SEQUENCE");
		for (size_t i = 0; i < resp->n_bundles; i++)
			printf("%-40s %6u %6u %llu\n", resp->bundles[i]->trust_domain,
			       resp->bundles[i]->x509_authorities,
			       resp->bundles[i]->jwt_authorities,
			       (unsigned long long)resp->bundles[i]->sequence);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

static int do_delete(struct bctx *x, int argc, char **argv)
{
	Attestd__Admin__V1__DeleteBundleRequest req =
	    ATTESTD__ADMIN__V1__DELETE_BUNDLE_REQUEST__INIT;
	Attestd__Admin__V1__DeleteBundleResponse *resp = NULL;
	int r = plain_options(x, argc, argv);

	if (r == OPT_HELP)
		return EXIT_OK;
	if (r)
		return r;
	if (optind >= argc)
		return usage_error(x, "which trust domain?");
	if (optind + 1 < argc)
		return usage_error(x, "unexpected argument '%s'", argv[optind + 1]);
	req.trust_domain = argv[optind];
	r = call(x, ADMIN_METHOD_DELETE_BUNDLE, &req.base,
		 &attestd__admin__v1__delete_bundle_response__descriptor,
		 (ProtobufCMessage **)&resp);
	if (r)
		return r;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	if (x->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "deleted", json_object_new_string(req.trust_domain));
		r = json_print(o);
		json_object_put(o);
	} else {
		printf("bundle of %s deleted\n", req.trust_domain);
	}
	return r;
}

int ctl_bundle_run(const char *sub, const struct ctl_env *env, int argc, char **argv)
{
	struct bctx x = {.admin_socket = env->admin_socket, .json = env->json};

	for (size_t i = 0; i < sizeof(bops) / sizeof(bops[0]); i++)
		if (!strcmp(bops[i].name, sub)) {
			x.op = &bops[i];
			return bops[i].run(&x, argc, argv);
		}
	return error("unknown command 'bundle %s'", sub);
}
