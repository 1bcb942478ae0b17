// SPDX-License-Identifier: Apache-2.0
/*
 * The readiness probes that need the kernel, on the real tracker: "bpf"
 * passes while every link is attached and fails once a link fd no longer
 * names its link (here: the fd replaced by /dev/null, which releases the
 * link, as closing it inside attestd would); "events" makes a canary when
 * nothing arrives, passes once the tracker reports it, and fails when the
 * reports stop reaching user space.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "health.h"
#include "log.h"
#include "probe.h"
#include "test.h"
#include "tracker_user.h"

struct hx {
	struct tracker *t;
	struct health *h;
	int nfork;
	__u32 last_fork;
};

static void on_state(void *ctx, __u32 type, const struct proc_state *st)
{
	struct hx *x = ctx;

	health_event(x->h); /* as attestd's callbacks do */
	if (type == EV_FORK) {
		x->nfork++;
		x->last_fork = st->tgid;
	}
}

static void on_exit_ev(void *ctx, __u32 tgid, __u64 start_ns, __u32 code)
{
	health_event(((struct hx *)ctx)->h);
}

static int hx_open(struct hx *x, const struct health_opts *o)
{
	struct tracker_ops ops = {.ctx = x, .on_state = on_state, .on_exit = on_exit_ev};
	struct tracker_opts topts = {.v1_controller = tracker_v1_controller()};
	struct probe_result pr;
	char why[256];
	int r;

	memset(x, 0, sizeof(*x));
	log_setup(LOG_LVL_ERROR, false);
	probe_run(&pr);
	if (probe_check(&pr, why, sizeof(why)) < 0) {
		test_skip("%s", why);
		return -ENOTSUP;
	}
	r = health_new(o, &x->h);
	if (r)
		return r;
	r = tracker_open(&topts, &ops, &x->t, why, sizeof(why));
	if (r) {
		test_diag("tracker_open: %s", why);
		return r;
	}
	r = health_add_attestd(x->h, &(struct health_deps){.tracker = x->t});
	return r ? r : health_start(x->h);
}

static void hx_close(struct hx *x)
{
	health_free(x->h);
	tracker_close(x->t);
}

static void drain(struct hx *x, int ms)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		tracker_poll(x->t, 10);
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

static const struct health_check *check(const struct health_report *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->checks[i].name, name))
			return &r->checks[i];
	return NULL;
}

TEST(health_bpf_detached_link_is_not_ready)
{
	struct health_opts o = {.manual = true};
	struct tracker_prog progs[8];
	struct health_report r;
	struct hx x;
	int null;

	if (hx_open(&x, &o)) {
		if (!test_failed())
			return; /* skipped */
		FAIL("cannot set up");
	}
	health_get(x.h, &r);
	ASSERT_TRUE(check(&r, "bpf")->ok);
	ASSERT_TRUE(tracker_progs(x.t, progs, 8) == 4);
	ASSERT_STREQ(progs[0].name, "handle_exec");
	/* Replacing the fd drops the link's last reference: the program is detached. */
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(null >= 0);
	ASSERT_TRUE(dup2(null, progs[0].link_fd) == progs[0].link_fd);
	close(null);
	health_run(x.h);
	health_get(x.h, &r);
	ASSERT_FALSE(check(&r, "bpf")->ok);
	ASSERT_FALSE(r.ready);
	if (!strstr(r.reason, "bpf: handle_exec is detached"))
		FAIL("reason: %s", r.reason);
	hx_close(&x);
}

TEST(health_events_canary_and_stalled_consumer)
{
	struct health_opts o = {.manual = true, .canary_after_ms = 100, .canary_timeout_ms = 300};
	struct health_report r;
	struct hx x;
	int forks;

	if (hx_open(&x, &o)) {
		if (!test_failed())
			return;
		FAIL("cannot set up");
	}
	drain(&x, 50);
	health_run(x.h);
	health_get(x.h, &r);
	ASSERT_TRUE(check(&r, "events")->ok);

	/* Quiet (nothing drained): after canary_after_ms a canary is made... */
	usleep(150 * 1000);
	forks = x.nfork;
	health_run(x.h);
	health_get(x.h, &r);
	ASSERT_TRUE(check(&r, "events")->ok);
	/* ...whose fork the tracker reports once drained, which counts as events flowing. */
	drain(&x, 100);
	ASSERT_TRUE(x.nfork > forks);
	health_run(x.h);
	health_get(x.h, &r);
	ASSERT_TRUE(check(&r, "events")->ok);
	ASSERT_TRUE(r.ready);

	/* A consumer that stops draining: the canary goes unreported and readiness fails. */
	usleep(150 * 1000);
	health_run(x.h); /* canary out */
	usleep(350 * 1000);
	health_run(x.h); /* unreported past the timeout */
	health_get(x.h, &r);
	ASSERT_FALSE(check(&r, "events")->ok);
	ASSERT_FALSE(r.ready);
	if (!strstr(r.reason, "events: no events from the kernel") || !strstr(r.reason, "canary"))
		FAIL("reason: %s", r.reason);
	/* Draining again brings it back. */
	drain(&x, 100);
	health_run(x.h);
	health_get(x.h, &r);
	ASSERT_TRUE(check(&r, "events")->ok);
	hx_close(&x);
}
