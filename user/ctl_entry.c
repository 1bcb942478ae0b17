// SPDX-License-Identifier: Apache-2.0
/*
 * attestctl entry create|list|show|update|delete: flags and files to
 * admin API messages and back.  What can be checked without attestd
 * (SPIFFE ID and selector syntax, durations, file syntax) is checked here
 * so that the error names the flag's value; everything else (trust
 * domain, limits, duplicates) is attestd's word, printed as it says it.
 * JSON output goes through entry_to_json(), the one place the shape lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "admin.pb-c.h"
#include "admin_api.h"
#include "cleanup.h"
#include "ctl_entry.h"
#include "entry.h"
#include "rpc_client.h"
#include "selector.h"
#include "spiffeid.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

/* Deadlines: a single write may queue behind a large batch; a batch gets time per entry. */
#define CALL_TIMEOUT_MS 30000
#define BATCH_TIMEOUT_BASE_MS 60000
#define BATCH_TIMEOUT_PER_ENTRY_US 1000

/* A --data file at least this large, on a terminal, gets a progress line. */
#define PROGRESS_MIN_BYTES (256 * 1024)
/* A --data file larger than this is refused before it is read. */
#define DATA_MAX_BYTES (1024L * 1024 * 1024)

struct ectx {
	const char *sub;
	const char *admin_socket;
	bool json;
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

struct sub_info {
	const char *name;
	const char *args;
	const char *help;
	const char *options;
	const char *notes; /* after the options, or NULL */
};

#define DUR_NOTE "DUR is seconds, or a number with a unit: 90s, 5m, 1h, 2d.\n"

#define ENTRY_FLAGS_HELP                                                                           \
	"  --spiffe-id ID          the SPIFFE ID the entry grants\n"                               \
	"  --selector S            a selector the process must have (repeat for more; all must\n"  \
	"                          match), e.g. unix:uid:1000, k8s:ns:prod\n"                      \
	"  --x509-ttl DUR          X.509-SVID lifetime (default 1h)\n"                             \
	"  --jwt-ttl DUR           JWT-SVID lifetime (default 5m)\n"                               \
	"  --dns-name NAME         a DNS name for the X.509-SVID (repeat for more)\n"              \
	"  --hint H                a hint for workloads that get several SVIDs\n"                  \
	"  --federates-with TD     a trust domain whose bundle the workload gets (repeat)\n"       \
	"  --parent-id ID          the SPIFFE ID of the node this entry hangs under\n"

static const struct sub_info subs[] = {
    {"create",
     "--spiffe-id ID --selector S [--selector S ...] [--x509-ttl DUR] [--jwt-ttl DUR]\n"
     "       [--dns-name NAME ...] [--hint H] [--federates-with TD ...] [--parent-id ID]\n"
     "   or: attestctl entry create --data FILE",
     "Creates a registration entry and prints it.  With --data, creates every entry of FILE\n"
     "(JSON {\"entries\":[...]}, as entry list --json prints; - is standard input) in one\n"
     "transaction: all of them or none.",
     ENTRY_FLAGS_HELP "  --data FILE             entries from a file instead of flags\n", DUR_NOTE},
    {"list", "[--selector S ...] [--spiffe-id ID]",
     "Lists registration entries: those with every --selector given and the --spiffe-id,\n"
     "if given.  A table, or {\"entries\":[...]} with --json.",
     "  --selector S            only entries that have selector S (repeat: all of them)\n"
     "  --spiffe-id ID          only entries for SPIFFE ID ID\n",
     NULL},
    {"show", "ID", "Prints registration entry ID.", "", NULL},
    {"update", "ID [--spiffe-id ID] [--selector S ...] [same flags as create]",
     "Replaces the fields of entry ID that flags are given for; the others keep their\n"
     "values.  A list flag replaces the whole list; an empty value (--dns-name '') empties\n"
     "it.  The entry's revision goes up by one.",
     ENTRY_FLAGS_HELP, DUR_NOTE},
    {"delete", "ID", "Deletes registration entry ID.", "", NULL},
};

static const struct sub_info *sub_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(subs[i].name, name) == 0)
			return &subs[i];
	return NULL;
}

static void sub_usage(FILE *f, const struct sub_info *s)
{
	fprintf(f, "usage: attestctl entry %s %s [--json] [--admin-socket PATH]\n", s->name,
		s->args);
}

static void sub_help(const struct sub_info *s)
{
	sub_usage(stdout, s);
	printf("\n%s\n\n%s"
	       "  --json                  print JSON\n"
	       "  --admin-socket PATH     attestd's admin socket\n"
	       "  --help                  this text\n"
	       "%s%s",
	       s->help, s->options, s->notes ? "\n" : "", s->notes ? s->notes : "");
}

static int usage_error(const struct ectx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct ectx *x, const char *fmt, ...)
{
	const struct sub_info *s = sub_find(x->sub);
	va_list ap;

	fprintf(stderr, "attestctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (s)
		sub_usage(stderr, s);
	return EXIT_USAGE;
}

/* ---- options ---- */

enum {
	OPT_JSON = 0x100,
	OPT_ADMIN_SOCKET,
	OPT_SPIFFE_ID,
	OPT_SELECTOR,
	OPT_X509_TTL,
	OPT_JWT_TTL,
	OPT_DNS_NAME,
	OPT_HINT,
	OPT_FEDERATES_WITH,
	OPT_PARENT_ID,
	OPT_DATA,
};

/* clang-format off */
#define COMMON_OPTIONS \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET }, \
	{ "help", no_argument, NULL, 'h' }

#define ENTRY_OPTIONS \
	{ "spiffe-id", required_argument, NULL, OPT_SPIFFE_ID }, \
	{ "selector", required_argument, NULL, OPT_SELECTOR }, \
	{ "x509-ttl", required_argument, NULL, OPT_X509_TTL }, \
	{ "jwt-ttl", required_argument, NULL, OPT_JWT_TTL }, \
	{ "dns-name", required_argument, NULL, OPT_DNS_NAME }, \
	{ "hint", required_argument, NULL, OPT_HINT }, \
	{ "federates-with", required_argument, NULL, OPT_FEDERATES_WITH }, \
	{ "parent-id", required_argument, NULL, OPT_PARENT_ID }
/* clang-format on */

#define OPT_DONE 0
#define OPT_HELP (-1)
#define OPT_UNHANDLED (-2)

/* The options every subcommand takes; an exit status > 0 to return at once. */
static int common_option(struct ectx *x, int opt, char **argv)
{
	switch (opt) {
	case OPT_JSON:
		x->json = true;
		return OPT_DONE;
	case OPT_ADMIN_SOCKET:
		x->admin_socket = optarg;
		return OPT_DONE;
	case 'h':
		sub_help(sub_find(x->sub));
		return OPT_HELP;
	case '?':
		return usage_error(x, "unknown option '%s'", argv[optind - 1]);
	case ':':
		return usage_error(x, "option '%s' needs an argument", argv[optind - 1]);
	}
	return OPT_UNHANDLED;
}

/*
 * A duration: seconds, or a number with s, m, h or d.  0 means the
 * default.  -EINVAL for anything else, -ERANGE above 32 bits of seconds.
 */
static int parse_duration(const char *s, uint64_t *ret)
{
	uint64_t v = 0, unit = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return -EINVAL;
	}
	if (*p && p[1])
		return -EINVAL;
	if (v * unit > UINT32_MAX)
		return -ERANGE;
	*ret = v * unit;
	return 0;
}

/* "1h", "5m", "90s": the largest unit that divides the value. */
static void format_duration(uint64_t s, char *buf, size_t len)
{
	if (s && s % 86400 == 0)
		snprintf(buf, len, "%llud", (unsigned long long)(s / 86400));
	else if (s && s % 3600 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(s / 3600));
	else if (s && s % 60 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
}

/* A list flag: the values given, "" dropped (it only says the list was given). */
struct strlist {
	bool given;
	char **v;
	size_t n;
};

static int strlist_add(struct strlist *l, char *s)
{
	char **grown;

	l->given = true;
	if (!*s)
		return 0;
	grown = realloc(l->v, (l->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	grown[l->n++] = s;
	l->v = grown;
	return 0;
}

/* The entry flags of create and update; values point into argv. */
struct entry_flags {
	const char *spiffe_id, *parent_id, *hint;
	struct strlist selectors, dns_names, federates_with;
	bool x509_given, jwt_given;
	uint64_t x509_ttl, jwt_ttl;
	const char *data;
};

static void entry_flags_free(struct entry_flags *f)
{
	free(f->selectors.v);
	free(f->dns_names.v);
	free(f->federates_with.v);
}

static bool entry_flags_any(const struct entry_flags *f)
{
	return f->spiffe_id || f->parent_id || f->hint || f->selectors.given ||
	       f->dns_names.given || f->federates_with.given || f->x509_given || f->jwt_given;
}

/* One entry option; OPT_UNHANDLED if opt is none. */
static int entry_option(struct ectx *x, int opt, struct entry_flags *f)
{
	const char *name = opt == OPT_X509_TTL ? "--x509-ttl" : "--jwt-ttl";
	uint64_t *ttl = opt == OPT_X509_TTL ? &f->x509_ttl : &f->jwt_ttl;
	int r = 0;

	switch (opt) {
	case OPT_SPIFFE_ID:
		f->spiffe_id = optarg;
		return OPT_DONE;
	case OPT_PARENT_ID:
		f->parent_id = optarg;
		return OPT_DONE;
	case OPT_HINT:
		f->hint = optarg;
		return OPT_DONE;
	case OPT_DATA:
		f->data = optarg;
		return OPT_DONE;
	case OPT_SELECTOR:
		r = strlist_add(&f->selectors, optarg);
		break;
	case OPT_DNS_NAME:
		r = strlist_add(&f->dns_names, optarg);
		break;
	case OPT_FEDERATES_WITH:
		r = strlist_add(&f->federates_with, optarg);
		break;
	case OPT_X509_TTL:
	case OPT_JWT_TTL:
		r = parse_duration(optarg, ttl);
		if (r == -ERANGE)
			return usage_error(x, "%s '%s' is out of range", name, optarg);
		if (r)
			return usage_error(x,
					   "%s '%s' is not a duration (seconds, or a number with "
					   "s, m, h or d)",
					   name, optarg);
		*(opt == OPT_X509_TTL ? &f->x509_given : &f->jwt_given) = true;
		return OPT_DONE;
	default:
		return OPT_UNHANDLED;
	}
	return r ? error("out of memory") : OPT_DONE;
}

/* What attestctl can tell without attestd; exit status or 0. */
static int entry_flags_check(const struct entry_flags *f)
{
	struct spiffeid id;
	char why[256];

	if (f->spiffe_id) {
		if (spiffeid_parse(f->spiffe_id, &id, why, sizeof(why)))
			return error("invalid SPIFFE ID '%s': %s", f->spiffe_id, why);
		if (id.path_len == 0)
			return error("invalid SPIFFE ID '%s': a workload's SPIFFE ID needs a path",
				     f->spiffe_id);
	}
	if (f->parent_id && *f->parent_id && spiffeid_parse(f->parent_id, NULL, why, sizeof(why)))
		return error("invalid parent ID '%s': %s", f->parent_id, why);
	for (size_t i = 0; i < f->selectors.n; i++)
		if (selector_parse(f->selectors.v[i], NULL, why, sizeof(why)))
			return error("invalid selector '%s': %s", f->selectors.v[i], why);
	return 0;
}

/* The flags as a message (pointing into f); mask gets the names of the fields given. */
static void entry_flags_to_pb(const struct entry_flags *f, Attestd__Admin__V1__Entry *m,
			      char **mask, size_t *nmask)
{
	*nmask = 0;
	attestd__admin__v1__entry__init(m);
#define GIVEN(name) (mask[(*nmask)++] = (char *)(name))
	if (f->spiffe_id) {
		m->spiffe_id = (char *)f->spiffe_id;
		GIVEN("spiffe_id");
	}
	if (f->parent_id) {
		m->parent_id = (char *)f->parent_id;
		GIVEN("parent_id");
	}
	if (f->hint) {
		m->hint = (char *)f->hint;
		GIVEN("hint");
	}
	if (f->selectors.given) {
		m->selectors = f->selectors.v;
		m->n_selectors = f->selectors.n;
		GIVEN("selectors");
	}
	if (f->dns_names.given) {
		m->dns_names = f->dns_names.v;
		m->n_dns_names = f->dns_names.n;
		GIVEN("dns_names");
	}
	if (f->federates_with.given) {
		m->federates_with = f->federates_with.v;
		m->n_federates_with = f->federates_with.n;
		GIVEN("federates_with");
	}
	if (f->x509_given) {
		m->x509_svid_ttl = f->x509_ttl;
		GIVEN("x509_svid_ttl");
	}
	if (f->jwt_given) {
		m->jwt_svid_ttl = f->jwt_ttl;
		GIVEN("jwt_svid_ttl");
	}
#undef GIVEN
}

/* ---- talking to attestd ---- */

/*
 * A unary admin call with a deadline; one error line and EXIT_ERR unless
 * it returned OK.  prefix (may be NULL) goes before attestd's reason.
 */
static int call(const struct ectx *x, const char *method, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *resp_type, ProtobufCMessage **ret, int timeout_ms,
		const char *prefix)
{
	struct rpc_client *c;
	struct rpc_status st;
	int r;

	r = rpc_client_connect(x->admin_socket, &c);
	if (r)
		return error("cannot reach attestd at %s: %s (%s)", x->admin_socket, strerror(-r),
			     r == -EACCES || r == -EPERM ? "the admin API is root-only"
							 : "is attestd running?");
	rpc_client_set_timeout(c, timeout_ms);
	r = rpc_client_call(c, method, req, resp_type, ret, &st);
	rpc_client_free(c);
	if (r)
		return error("call to attestd at %s failed: %s", x->admin_socket, strerror(-r));
	if (st.code == GRPC_STATUS_OK)
		return EXIT_OK;
	if (st.code == GRPC_STATUS_DEADLINE_EXCEEDED)
		return error("attestd at %s did not answer within %d s (the outcome is unknown)",
			     x->admin_socket, timeout_ms / 1000);
	if (st.code == GRPC_STATUS_UNIMPLEMENTED)
		return error("attestd at %s has no entry API (an older attestd?)", x->admin_socket);
	if (!*st.message)
		snprintf(st.message, sizeof(st.message), "attestd refused the call (status %d)",
			 (int)st.code);
	if (prefix)
		return error("%s: %s", prefix, st.message);
	return error("%s", st.message);
}

/* ---- output ---- */

static int print_json(struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return error("cannot format JSON");
	puts(s);
	return EXIT_OK;
}

static void print_list_field(const char *label, char *const *v, size_t n)
{
	printf("%-15s %s\n", label, n ? v[0] : "-");
	for (size_t i = 1; i < n; i++)
		printf("%-15s %s\n", "", v[i]);
}

static void print_entry(const struct entry *e)
{
	char x509[32], jwt[32], when[64] = "-";
	time_t t = (time_t)e->created_at;
	struct tm tm;

	format_duration(e->x509_svid_ttl, x509, sizeof(x509));
	format_duration(e->jwt_svid_ttl, jwt, sizeof(jwt));
	if (e->created_at > 0 && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%-15s %s\n", "id", e->id);
	printf("%-15s %s\n", "spiffe id", e->spiffe_id);
	printf("%-15s %s\n", "parent id", *e->parent_id ? e->parent_id : "-");
	print_list_field("selectors", e->selectors, e->nselectors);
	printf("%-15s %s (%u s)\n", "x509 svid ttl", x509, e->x509_svid_ttl);
	printf("%-15s %s (%u s)\n", "jwt svid ttl", jwt, e->jwt_svid_ttl);
	print_list_field("dns names", e->dns_names, e->ndns_names);
	printf("%-15s %s\n", "hint", *e->hint ? e->hint : "-");
	print_list_field("federates with", e->federates_with, e->nfederates_with);
	printf("%-15s %llu\n", "revision", (unsigned long long)e->revision);
	printf("%-15s %s\n", "created at", when);
}

/* Prints one entry from attestd's answer, as JSON or text. */
static int output_entry(const struct ectx *x, const Attestd__Admin__V1__Entry *m)
{
	struct json_object *o;
	struct entry *e;
	char why[256];
	int r;

	if (admin_entry_from_pb(m, &e, why, sizeof(why)))
		return error("attestd's answer is not an entry: %s", why);
	if (!x->json) {
		print_entry(e);
		entry_free(e);
		return EXIT_OK;
	}
	r = entry_to_json(e, &o);
	entry_free(e);
	if (r)
		return error("cannot format JSON: %s", strerror(-r));
	r = print_json(o);
	json_object_put(o);
	return r;
}

static int entries_from_pbs(Attestd__Admin__V1__Entry *const *ms, size_t n, struct entry ***ret)
{
	struct entry **v = calloc(n ? n : 1, sizeof(*v));
	char why[256];

	if (!v)
		return error("out of memory");
	for (size_t i = 0; i < n; i++) {
		if (admin_entry_from_pb(ms[i], &v[i], why, sizeof(why))) {
			entries_free(v, i);
			return error("attestd's answer is not a list of entries: %s", why);
		}
	}
	*ret = v;
	return EXIT_OK;
}

static int output_entries_json(struct entry *const *v, size_t n)
{
	_cleanup_free_ char *s = NULL;
	int r = entries_to_json_string(v, n, &s);

	if (r)
		return error("cannot format JSON: %s", strerror(-r));
	puts(s);
	return EXIT_OK;
}

static char *join(char *const *v, size_t n)
{
	size_t len = 2;
	char *s, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	if (!n)
		*p++ = '-';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]);

		if (i)
			*p++ = ',';
		memcpy(p, v[i], l);
		p += l;
	}
	*p = '\0';
	return s;
}

/* An aligned table: SPIFFE ID, selectors, TTLs, id. */
static int output_table(struct entry *const *v, size_t n)
{
	int wid = 9, wsel = 9, wx = 8, wj = 7;
	char **sel = calloc(n ? n : 1, sizeof(*sel));
	char buf[32];

	if (!sel)
		return error("out of memory");
	for (size_t i = 0; i < n; i++) {
		int l;

		sel[i] = join(v[i]->selectors, v[i]->nselectors);
		if (!sel[i]) {
			for (size_t k = 0; k < i; k++)
				free(sel[k]);
			free(sel);
			return error("out of memory");
		}
		l = (int)strlen(v[i]->spiffe_id);
		wid = l > wid ? l : wid;
		l = (int)strlen(sel[i]);
		wsel = l > wsel ? l : wsel;
		format_duration(v[i]->x509_svid_ttl, buf, sizeof(buf));
		l = (int)strlen(buf);
		wx = l > wx ? l : wx;
		format_duration(v[i]->jwt_svid_ttl, buf, sizeof(buf));
		l = (int)strlen(buf);
		wj = l > wj ? l : wj;
	}
	printf("%-*s  %-*s  %-*s  %-*s  %s\n", wid, "SPIFFE ID", wsel, "SELECTORS", wx, "X509 TTL",
	       wj, "JWT TTL", "ID");
	for (size_t i = 0; i < n; i++) {
		char x509[32], jwt[32];

		format_duration(v[i]->x509_svid_ttl, x509, sizeof(x509));
		format_duration(v[i]->jwt_svid_ttl, jwt, sizeof(jwt));
		printf("%-*s  %-*s  %-*s  %-*s  %s\n", wid, v[i]->spiffe_id, wsel, sel[i], wx, x509,
		       wj, jwt, v[i]->id);
		free(sel[i]);
	}
	free(sel);
	return EXIT_OK;
}

/* ---- progress, on a terminal only ---- */

struct progress {
	bool on;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	char what[160];
	struct timespec start;
};

static double elapsed_s(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void *progress_main(void *arg)
{
	struct progress *p = arg;
	struct timespec until;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		fprintf(stderr, "\r\033[Kattestctl: %s ... %.1f s", p->what, elapsed_s(&p->start));
		fflush(stderr);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void progress_start(struct progress *p, bool want)
{
	memset(p, 0, sizeof(*p));
	if (!want || !isatty(STDERR_FILENO))
		return;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	snprintf(p->what, sizeof(p->what), "starting");
	p->on = pthread_create(&p->thread, NULL, progress_main, p) == 0;
}

static void progress_set(struct progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress_set(struct progress *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->on)
		return;
	pthread_mutex_lock(&p->lock);
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof(p->what), fmt, ap);
	va_end(ap);
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Stops and erases the line, so that what follows (an error) is the one line there. */
static void progress_end(struct progress *p)
{
	if (!p->on)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	p->on = false;
}

/* ---- create ---- */

/* The whole file (or stdin for "-"), NUL terminated; exit status. */
static int read_data(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	size_t len = 0, cap = 1 << 16;
	char *buf;
	struct stat st;

	fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error("cannot read %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if (st.st_size > DATA_MAX_BYTES)
			return error("%s: larger than %ld MiB", path, DATA_MAX_BYTES >> 20);
		cap = (size_t)st.st_size + 1;
	}
	buf = malloc(cap);
	if (!buf)
		return error("out of memory");
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *grown;

			if (cap > (size_t)DATA_MAX_BYTES) {
				free(buf);
				return error("%s: larger than %ld MiB", path, DATA_MAX_BYTES >> 20);
			}
			grown = realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				return error("out of memory");
			}
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return error("cannot read %s: %s", path, strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return EXIT_OK;
}

static int create_from_file(const struct ectx *x, const char *path)
{
	Attestd__Admin__V1__CreateEntriesRequest req =
	    ATTESTD__ADMIN__V1__CREATE_ENTRIES_REQUEST__INIT;
	Attestd__Admin__V1__CreateEntriesResponse *resp = NULL;
	Attestd__Admin__V1__Entry *ms = NULL, **ptrs = NULL;
	_cleanup_free_ char *text = NULL;
	struct entry **v = NULL, **out = NULL;
	struct progress prog;
	char why[512];
	size_t n = 0, len = 0, size;
	int r, timeout;

	r = read_data(path, &text, &len);
	if (r)
		return r;
	progress_start(&prog, len >= PROGRESS_MIN_BYTES);
	progress_set(&prog, "reading %s", path);
	if (entries_from_json(text, &v, &n, why, sizeof(why))) {
		progress_end(&prog);
		return error("%s: %s", path, why);
	}
	free(TAKE_PTR(text));
	ms = calloc(n ? n : 1, sizeof(*ms));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!ms || !ptrs) {
		r = error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		admin_entry_to_pb(v[i], &ms[i]);
		ptrs[i] = &ms[i];
	}
	req.n_entries = n;
	req.entries = ptrs;
	size = protobuf_c_message_get_packed_size(&req.base);
	if (size > ADMIN_MAX_REQUEST_BYTES) {
		r = error("%s: %zu entries make a request of %zu MiB, more than the %d MiB attestd "
			  "takes in one call (split the file)",
			  path, n, size >> 20, ADMIN_MAX_REQUEST_BYTES >> 20);
		goto out;
	}
	progress_set(&prog, "creating %zu entries from %s", n, path);
	timeout = BATCH_TIMEOUT_BASE_MS + (int)(n * BATCH_TIMEOUT_PER_ENTRY_US / 1000);
	r = call(x, ADMIN_METHOD_CREATE_ENTRIES, &req.base,
		 &attestd__admin__v1__create_entries_response__descriptor,
		 (ProtobufCMessage **)&resp, timeout, path);
	progress_end(&prog);
	if (r)
		goto out;
	if (x->json) {
		r = entries_from_pbs(resp->entries, resp->n_entries, &out);
		if (!r)
			r = output_entries_json(out, resp->n_entries);
		if (out)
			entries_free(out, resp->n_entries);
	} else {
		printf("created %zu entr%s\n", resp->n_entries, resp->n_entries == 1 ? "y" : "ies");
	}
out:
	progress_end(&prog);
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	free(ptrs);
	free(ms);
	entries_free(v, n);
	return r;
}

/* getopt_long over the subcommand's options; exit status, or -1 to go on. */
#define PARSE_GO_ON (-1)

static int parse(struct ectx *x, int argc, char **argv, const struct option *opts,
		 struct entry_flags *f)
{
	int opt, r;

	/* Permuting: an entry ID may come before or after the flags. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		r = f ? entry_option(x, opt, f) : OPT_UNHANDLED;
		if (r == OPT_UNHANDLED)
			r = common_option(x, opt, argv);
		if (r == OPT_HELP)
			return EXIT_OK;
		if (r == OPT_UNHANDLED)
			return usage_error(x, "unexpected option '%s'", argv[optind - 1]);
		if (r > 0)
			return r;
	}
	return PARSE_GO_ON;
}

static int do_create(struct ectx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    ENTRY_OPTIONS,
	    {"data", required_argument, NULL, OPT_DATA},
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__CreateEntryRequest req = ATTESTD__ADMIN__V1__CREATE_ENTRY_REQUEST__INIT;
	Attestd__Admin__V1__Entry m, *resp = NULL;
	struct entry_flags f = {0};
	char *mask[16];
	size_t nmask;
	int r;

	r = parse(x, argc, argv, opts, &f);
	if (r != PARSE_GO_ON)
		goto out;
	if (optind < argc) {
		r = usage_error(x, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (f.data) {
		r = entry_flags_any(&f) ? usage_error(x, "--data takes no entry flags")
					: create_from_file(x, f.data);
		goto out;
	}
	if (!f.spiffe_id) {
		r = usage_error(x, "--spiffe-id is required");
		goto out;
	}
	if (!f.selectors.n) {
		r = usage_error(x, "at least one --selector is required");
		goto out;
	}
	r = entry_flags_check(&f);
	if (r)
		goto out;
	entry_flags_to_pb(&f, &m, mask, &nmask);
	req.entry = &m;
	r = call(x, ADMIN_METHOD_CREATE_ENTRY, &req.base, &attestd__admin__v1__entry__descriptor,
		 (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, NULL);
	if (!r)
		r = output_entry(x, resp);
out:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	entry_flags_free(&f);
	return r;
}

static int do_list(struct ectx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"selector", required_argument, NULL, OPT_SELECTOR},
	    {"spiffe-id", required_argument, NULL, OPT_SPIFFE_ID},
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__ListEntriesRequest req = ATTESTD__ADMIN__V1__LIST_ENTRIES_REQUEST__INIT;
	Attestd__Admin__V1__ListEntriesResponse *resp = NULL;
	struct entry_flags f = {0};
	struct entry **v = NULL;
	int r;

	r = parse(x, argc, argv, opts, &f);
	if (r != PARSE_GO_ON)
		goto out;
	if (optind < argc) {
		r = usage_error(x, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	req.selectors = f.selectors.v;
	req.n_selectors = f.selectors.n;
	if (f.spiffe_id)
		req.spiffe_id = (char *)f.spiffe_id;
	r = call(x, ADMIN_METHOD_LIST_ENTRIES, &req.base,
		 &attestd__admin__v1__list_entries_response__descriptor, (ProtobufCMessage **)&resp,
		 CALL_TIMEOUT_MS, NULL);
	if (r)
		goto out;
	r = entries_from_pbs(resp->entries, resp->n_entries, &v);
	if (r)
		goto out;
	r = x->json ? output_entries_json(v, resp->n_entries) : output_table(v, resp->n_entries);
	entries_free(v, resp->n_entries);
out:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	entry_flags_free(&f);
	return r;
}

/* The one ID argument of show, update, delete; exit status or PARSE_GO_ON. */
static int take_id(struct ectx *x, int argc, char **argv, const char **ret)
{
	if (optind >= argc)
		return usage_error(x, "an entry ID is required");
	if (optind + 1 < argc)
		return usage_error(x, "unexpected argument '%s'", argv[optind + 1]);
	*ret = argv[optind];
	if (!entry_id_valid(*ret))
		return error("not an entry id: '%s'", *ret);
	return PARSE_GO_ON;
}

static int do_show(struct ectx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__GetEntryRequest req = ATTESTD__ADMIN__V1__GET_ENTRY_REQUEST__INIT;
	Attestd__Admin__V1__Entry *resp = NULL;
	const char *id;
	int r;

	r = parse(x, argc, argv, opts, NULL);
	if (r != PARSE_GO_ON)
		return r;
	r = take_id(x, argc, argv, &id);
	if (r != PARSE_GO_ON)
		return r;
	req.id = (char *)id;
	r = call(x, ADMIN_METHOD_GET_ENTRY, &req.base, &attestd__admin__v1__entry__descriptor,
		 (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, NULL);
	if (r)
		return r;
	r = output_entry(x, resp);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return r;
}

static int do_update(struct ectx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    ENTRY_OPTIONS,
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__UpdateEntryRequest req = ATTESTD__ADMIN__V1__UPDATE_ENTRY_REQUEST__INIT;
	Attestd__Admin__V1__Entry m, *resp = NULL;
	struct entry_flags f = {0};
	const char *id;
	char *mask[16];
	size_t nmask;
	int r;

	r = parse(x, argc, argv, opts, &f);
	if (r != PARSE_GO_ON)
		goto out;
	r = take_id(x, argc, argv, &id);
	if (r != PARSE_GO_ON)
		goto out;
	if (!entry_flags_any(&f)) {
		r = usage_error(x, "nothing to update: give at least one entry flag");
		goto out;
	}
	r = entry_flags_check(&f);
	if (r)
		goto out;
	entry_flags_to_pb(&f, &m, mask, &nmask);
	req.id = (char *)id;
	req.entry = &m;
	req.mask = mask;
	req.n_mask = nmask;
	r = call(x, ADMIN_METHOD_UPDATE_ENTRY, &req.base, &attestd__admin__v1__entry__descriptor,
		 (ProtobufCMessage **)&resp, CALL_TIMEOUT_MS, NULL);
	if (!r)
		r = output_entry(x, resp);
out:
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	entry_flags_free(&f);
	return r;
}

static int do_delete(struct ectx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    COMMON_OPTIONS,
	    {},
	};
	Attestd__Admin__V1__DeleteEntryRequest req = ATTESTD__ADMIN__V1__DELETE_ENTRY_REQUEST__INIT;
	Attestd__Admin__V1__DeleteEntryResponse *resp = NULL;
	const char *id;
	int r;

	r = parse(x, argc, argv, opts, NULL);
	if (r != PARSE_GO_ON)
		return r;
	r = take_id(x, argc, argv, &id);
	if (r != PARSE_GO_ON)
		return r;
	req.id = (char *)id;
	r = call(x, ADMIN_METHOD_DELETE_ENTRY, &req.base,
		 &attestd__admin__v1__delete_entry_response__descriptor, (ProtobufCMessage **)&resp,
		 CALL_TIMEOUT_MS, NULL);
	if (r)
		return r;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	if (x->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "id", json_object_new_string(id));
		r = print_json(o);
		json_object_put(o);
		return r;
	}
	printf("deleted entry %s\n", id);
	return EXIT_OK;
}

int ctl_entry_run(const char *sub, const struct ctl_env *env, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct ectx *x, int argc, char **argv);
	} table[] = {
	    {"create", do_create}, {"list", do_list},	  {"show", do_show},
	    {"update", do_update}, {"delete", do_delete},
	};
	struct ectx x = {.sub = sub, .admin_socket = env->admin_socket, .json = env->json};

	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (strcmp(table[i].name, sub) == 0)
			return table[i].fn(&x, argc, argv);
	return usage_error(&x, "unknown entry command '%s'", sub);
}
