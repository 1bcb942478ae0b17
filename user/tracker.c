// SPDX-License-Identifier: Apache-2.0
/*
 * Loads tracker.bpf.c through its skeleton.  The ring buffer callback only
 * hands records on: the work of deriving selectors happens in the consumer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "tracker.skel.h"
#include "tracker_user.h"

struct tracker {
	struct tracker_bpf *skel;
	struct ring_buffer *rb;
	struct tracker_ops ops;
	int ncpus;
};

static int handle_event(void *ctx, void *data, size_t size)
{
	struct tracker *t = ctx;
	__u32 type;

	if (size < sizeof(__u32))
		return 0;
	type = *(__u32 *)data;
	if (type == EV_EXIT && size >= sizeof(struct exit_event)) {
		const struct exit_event *e = data;

		if (t->ops.on_exit)
			t->ops.on_exit(t->ops.ctx, e->tgid, e->start_ns, e->exit_code);
	} else if (size >= sizeof(struct event)) {
		const struct event *e = data;

		if (t->ops.on_state)
			t->ops.on_state(t->ops.ctx, e->type, &e->state);
	}
	return 0;
}

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's own diagnostics only at debug; callers report the failure once. */
	if (level == LIBBPF_DEBUG)
		return 0;
	if (getenv("ATTESTD_LIBBPF_VERBOSE"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

const char *tracker_v1_controller(void)
{
	static const char *const wanted[] = { "memory", "cpu" };
	bool have[sizeof(wanted) / sizeof(wanted[0])] = { false };
	char name[64];
	int hier, n, en;
	FILE *f = fopen("/proc/cgroups", "r");

	if (!f)
		return NULL;
	/* "#subsys_name hierarchy num_cgroups enabled": hierarchy 0 is v2 (or none) */
	if (fscanf(f, "%*[^\n]\n") < 0) {
		fclose(f);
		return NULL;
	}
	while (fscanf(f, "%63s %d %d %d", name, &hier, &n, &en) == 4)
		for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
			if (strcmp(name, wanted[i]) == 0 && hier > 0 && en)
				have[i] = true;
	fclose(f);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (have[i])
			return wanted[i];
	return NULL;
}

/* The kernel's enum cgroup_subsys_id value for controller, from BTF. */
static int subsys_id(const char *controller)
{
	struct btf *btf = btf__load_vmlinux_btf();
	char want[64];
	int id, r = -ENOENT;

	if (!btf)
		return -errno;
	snprintf(want, sizeof(want), "%s_cgrp_id", controller);
	id = btf__find_by_name_kind(btf, "cgroup_subsys_id", BTF_KIND_ENUM);
	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_enum *e = btf_enum(t);

		for (int i = 0; i < btf_vlen(t); i++)
			if (strcmp(btf__name_by_offset(btf, e[i].name_off), want) == 0)
				r = e[i].val;
	}
	btf__free(btf);
	return r;
}

int tracker_open(const struct tracker_opts *opts, const struct tracker_ops *ops,
		 struct tracker **ret, char *err, size_t errlen)
{
	struct tracker *t;
	int r;

	libbpf_set_print(silent_print);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ops = *ops;
	t->ncpus = libbpf_num_possible_cpus();
	t->skel = tracker_bpf__open();
	if (!t->skel) {
		r = -errno;
		snprintf(err, errlen, "cannot open BPF object: %s", strerror(-r));
		goto fail;
	}
	if (opts->ringbuf_bytes)
		bpf_map__set_max_entries(t->skel->maps.events, opts->ringbuf_bytes);
	if (opts->max_procs)
		bpf_map__set_max_entries(t->skel->maps.procs, opts->max_procs);
	if (opts->v1_controller) {
		r = subsys_id(opts->v1_controller);
		if (r < 0) {
			snprintf(err, errlen, "no cgroup controller '%s' in kernel BTF",
				 opts->v1_controller);
			goto fail;
		}
		t->skel->rodata->v1_subsys_id = r;
	}
	r = tracker_bpf__load(t->skel);
	if (r) {
		snprintf(err, errlen, "kernel refused the BPF programs: %s", strerror(-r));
		goto fail;
	}
	r = tracker_bpf__attach(t->skel);
	if (r) {
		snprintf(err, errlen, "cannot attach tp_btf programs: %s", strerror(-r));
		goto fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), handle_event, t, NULL);
	if (!t->rb) {
		r = -errno;
		snprintf(err, errlen, "cannot open ring buffer: %s", strerror(-r));
		goto fail;
	}
	*ret = t;
	return 0;
fail:
	tracker_close(t);
	return r < 0 ? r : -EINVAL;
}

void tracker_close(struct tracker *t)
{
	if (!t)
		return;
	ring_buffer__free(t->rb);
	tracker_bpf__destroy(t->skel);
	free(t);
}

int tracker_poll(struct tracker *t, int timeout_ms)
{
	int r = ring_buffer__poll(t->rb, timeout_ms), c;

	if (r < 0 && r != -EINTR)
		return r;
	/* Events submitted without a wake-up do not make epoll ready: consume them too. */
	c = ring_buffer__consume(t->rb);
	if (c < 0)
		return c;
	return (r > 0 ? r : 0) + c;
}

int tracker_fd(struct tracker *t)
{
	return ring_buffer__epoll_fd(t->rb);
}

int tracker_stats(struct tracker *t, struct tracker_stats *out)
{
	__u64 vals[t->ncpus];
	__u64 sums[STAT_NR] = { 0 };

	for (__u32 k = 0; k < STAT_NR; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stats), &k, vals))
			return -errno;
		for (int c = 0; c < t->ncpus; c++)
			sums[k] += vals[c];
	}
	out->events = sums[STAT_EVENTS];
	out->lost = sums[STAT_EVENTS_LOST];
	out->map_full = sums[STAT_MAP_FULL];
	return 0;
}

int tracker_lookup(struct tracker *t, uint32_t tgid, struct proc_state *st)
{
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.procs), &tgid, st))
		return -errno;
	return 0;
}

int tracker_seed(struct tracker *t, const struct proc_state *st)
{
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.procs), &st->tgid, st, BPF_NOEXIST))
		return -errno;
	return 0;
}

int tracker_forget(struct tracker *t, uint32_t tgid, uint64_t start_ns)
{
	struct proc_state *st = malloc(sizeof(*st));
	int r = 0;

	if (!st)
		return -ENOMEM;
	if (tracker_lookup(t, tgid, st) == 0 && st->start_ns == start_ns &&
	    bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), &tgid))
		r = -errno;
	free(st);
	return r;
}

size_t tracker_progs(struct tracker *t, struct tracker_prog *out, size_t max)
{
	const struct bpf_object_skeleton *s = t->skel->skeleton;

	for (int i = 0; i < s->prog_cnt && (size_t)i < max; i++) {
		const struct bpf_prog_skeleton *p =
		    (const void *)((const char *)s->progs + (size_t)i * s->prog_skel_sz);

		out[i] = (struct tracker_prog){ p->name, bpf_program__fd(*p->prog),
						*p->link ? bpf_link__fd(*p->link) : -1 };
	}
	return (size_t)s->prog_cnt;
}
