// SPDX-License-Identifier: Apache-2.0
/*
 * attestctl selectors: cgroup_parse() and the container deriver's strings
 * for one path, as the daemon would derive them before any metadata.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "cgroup.h"
#include "ctl_selectors.h"
#include "selectors.h"
#include "selectors_container.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

enum { OPT_JSON = 0x100, OPT_ADMIN_SOCKET, OPT_CGROUP };

static const char usage[] = "usage: attestctl selectors --cgroup PATH [--json]\n";

static int print(bool json, const struct strv *sv)
{
	struct json_object *o, *a;
	const char *s;

	if (!json) {
		for (size_t i = 0; i < sv->n; i++)
			puts(sv->v[i]);
		return EXIT_OK;
	}
	o = json_object_new_object();
	a = json_object_new_array_ext((int)sv->n);
	for (size_t i = 0; i < sv->n; i++)
		json_object_array_add(a, json_object_new_string(sv->v[i]));
	json_object_object_add(o, "selectors", a);
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s)
		puts(s);
	json_object_put(o);
	if (!s) {
		fprintf(stderr, "attestctl: cannot format JSON\n");
		return EXIT_ERR;
	}
	return EXIT_OK;
}

int ctl_selectors_run(bool json, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"cgroup", required_argument, NULL, OPT_CGROUP},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *path = NULL;
	struct cgroup_info ci;
	struct strv sv = {0};
	char err[256];
	int opt, r;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_CGROUP:
			path = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_ADMIN_SOCKET:
			break;
		case 'h':
			printf("%s\nThe container/k8s/systemd selectors a cgroup path yields, "
			       "offline.\n\n"
			       "  --cgroup PATH  a cgroup path, as in /proc/PID/cgroup\n"
			       "  --json         print {\"selectors\":[...]}\n",
			       usage);
			return EXIT_OK;
		case ':':
			fprintf(stderr, "attestctl: option '%s' needs an argument\n%s",
				argv[optind - 1], usage);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "attestctl: unknown option '%s'\n%s", argv[optind - 1],
				usage);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "attestctl: unexpected argument '%s'\n%s", argv[optind], usage);
		return EXIT_USAGE;
	}
	if (!path) {
		fprintf(stderr, "attestctl: --cgroup is required\n%s", usage);
		return EXIT_USAGE;
	}
	r = cgroup_parse(path, &ci, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "attestctl: %s\n", err);
		return EXIT_ERR;
	}
	r = selectors_container_push(&ci, &sv);
	if (r < 0) {
		fprintf(stderr, "attestctl: out of memory\n");
		strv_free(&sv);
		return EXIT_ERR;
	}
	strv_sort_unique(&sv);
	r = print(json, &sv);
	strv_free(&sv);
	return r;
}
