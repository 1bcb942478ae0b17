// SPDX-License-Identifier: Apache-2.0
/*
 * The SVID cache (user/svid_cache.c) in manual mode, with time injected:
 * minted when a matching process appears, renewed at half its life,
 * replaced when its entry changes, dropped when the entry is deleted or
 * nothing needs it, minted on a miss only as a fallback, a reread of the
 * table when its event queue overflows; and in thread mode, warm before a
 * caller asks.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cleanup.h"
#include "proctable_hooks.h"
#include "test.h"
#include "test_workload.h"

#define SEL "unix:uid:4242"
#define SID "spiffe://example.org/cache"

struct heard {
	int n;
	char last[ENTRY_ID_LEN + 1];
};

static void listener(void *arg, const char *id)
{
	struct heard *h = arg;

	h->n++;
	snprintf(h->last, sizeof(h->last), "%s", id);
}

/* A process of uid 4242 appears: its entry's SVID is minted before anyone asks. */
TEST(svid_cache_minted_when_process_appears)
{
	struct wl_fixture f;
	struct svid_cached *s = NULL;
	struct svid_cache_stats st;
	struct heard h = {0};
	char id[ENTRY_ID_LEN + 1];
	time_t now = time(NULL);

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID, SEL, NULL, NULL, id));
	svid_cache_set_listener(f.cache, listener, &h);
	/* The first run reads the table: nothing matches yet. */
	ASSERT_EQ(svid_cache_run(f.cache, now), 0);
	ASSERT_ERR(svid_cache_get(f.cache, id, false, &s), -ENOENT);
	ASSERT_OK(wl_add_process(&f, getpid(), 4242));
	ASSERT_EQ(svid_cache_run(f.cache, now), 1);
	ASSERT_EQ(h.n, 1);
	ASSERT_STREQ(h.last, id);
	ASSERT_OK(svid_cache_get(f.cache, id, false, &s));
	ASSERT_STREQ(s->entry->spiffe_id, SID);
	ASSERT_STREQ(s->x509->spiffe_id, SID);
	ASSERT_EQ(s->minted_at, now);
	ASSERT_EQ(s->renew_at, now + (s->x509->expires_at - now) / 2);
	ASSERT_EQ(s->x509->expires_at, now + ENTRY_X509_TTL_DEFAULT);
	svid_cached_unref(s);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.mints, 1);
	ASSERT_EQ(st.misses, 0);
	ASSERT_EQ(st.entries, 1);
	ASSERT_EQ(st.demanded, 1);
	svid_cache_set_listener(f.cache, NULL, NULL);
	wl_teardown(&f);
}

/* Renewed at half its life and not before; a reader's old SVID stays valid. */
TEST(svid_cache_renews_at_half_life)
{
	struct wl_fixture f;
	struct svid_cached *old = NULL, *s = NULL;
	struct svid_cache_stats st;
	char id[ENTRY_ID_LEN + 1];
	time_t now = time(NULL);

	ASSERT_OK(
	    wl_setup_with(&f, &(struct svid_cache_opts){.manual = true, .x509_ttl_max = 100}));
	ASSERT_OK(wl_add_entry(&f, SID, SEL, NULL, NULL, id));
	ASSERT_OK(wl_add_process(&f, getpid(), 4242));
	ASSERT_EQ(svid_cache_run(f.cache, now), 1);
	ASSERT_OK(svid_cache_get(f.cache, id, false, &old));
	ASSERT_EQ(old->x509->expires_at, now + 100);
	ASSERT_EQ(old->renew_at, now + 50);
	ASSERT_EQ(svid_cache_next_due(f.cache), now + 50);
	ASSERT_EQ(svid_cache_run(f.cache, now + 49), 0);
	ASSERT_EQ(svid_cache_run(f.cache, now + 50), 1);
	ASSERT_OK(svid_cache_get(f.cache, id, false, &s));
	ASSERT_NE(s->serial, old->serial);
	ASSERT_EQ(s->minted_at, now + 50);
	ASSERT_EQ(s->x509->expires_at, now + 150);
	/* the reader's reference still holds a whole SVID */
	ASSERT_TRUE(old->x509->cert_der_len > 0 && old->x509->key_der_len > 0);
	svid_cached_unref(old);
	svid_cached_unref(s);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.renewals, 1);
	ASSERT_EQ(st.mints, 2);
	wl_teardown(&f);
}

/* An entry update mints anew with the new contents; a delete drops the SVID. */
TEST(svid_cache_replaced_on_update_dropped_on_delete)
{
	struct wl_fixture f;
	struct svid_cached *s1 = NULL, *s2 = NULL;
	struct entry *e = NULL, *old = NULL;
	struct svid_cache_stats st;
	struct heard h = {0};
	char id[ENTRY_ID_LEN + 1];
	time_t now = time(NULL);

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID, SEL, NULL, NULL, id));
	ASSERT_OK(wl_add_process(&f, getpid(), 4242));
	ASSERT_EQ(svid_cache_run(f.cache, now), 1);
	ASSERT_OK(svid_cache_get(f.cache, id, false, &s1));
	svid_cache_set_listener(f.cache, listener, &h);

	ASSERT_OK(matcher_get(f.m, id, &e));
	ASSERT_OK(entry_add_dns_name(e, "svc.example.org"));
	ASSERT_OK(entry_set_hint(e, "internal"));
	ASSERT_OK(matcher_update(f.m, e, &old));
	entry_free(old);
	entry_free(e);
	svid_cache_entry_changed(f.cache, id);
	ASSERT_EQ(svid_cache_run(f.cache, now), 1);
	ASSERT_EQ(h.n, 1);
	ASSERT_OK(svid_cache_get(f.cache, id, false, &s2));
	ASSERT_NE(s1->serial, s2->serial);
	ASSERT_EQ(s2->entry->ndns_names, 1);
	ASSERT_STREQ(s2->entry->hint, "internal");
	ASSERT_EQ(s1->entry->ndns_names, 0); /* the old snapshot is unchanged */
	svid_cached_unref(s1);
	svid_cached_unref(s2);

	ASSERT_OK(matcher_remove(f.m, id, NULL));
	svid_cache_entry_changed(f.cache, id);
	ASSERT_EQ(svid_cache_run(f.cache, now), 0);
	ASSERT_EQ(h.n, 2);
	ASSERT_ERR(svid_cache_get(f.cache, id, false, &s1), -ENOENT);
	/* and a miss for a deleted entry mints nothing */
	ASSERT_ERR(svid_cache_get(f.cache, id, true, &s1), -ENOENT);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.drops, 1);
	ASSERT_EQ(st.entries, 0);
	svid_cache_set_listener(f.cache, NULL, NULL);
	wl_teardown(&f);
}

/* When the last matching process exits the SVID is kept until it would be renewed, then dropped. */
TEST(svid_cache_unneeded_dropped_at_renewal_time)
{
	struct wl_fixture f;
	struct svid_cached *s = NULL;
	struct svid_cache_stats st;
	struct proc_info *pi = NULL;
	char id[ENTRY_ID_LEN + 1];
	time_t now = time(NULL), renew;

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID, SEL, NULL, NULL, id));
	ASSERT_OK(wl_add_process(&f, getpid(), 4242));
	ASSERT_EQ(svid_cache_run(f.cache, now), 1);
	ASSERT_OK(svid_cache_get(f.cache, id, false, &s));
	renew = s->renew_at;
	svid_cached_unref(s);
	ASSERT_OK(proctable_get(f.pt, (uint32_t)getpid(), 0, &pi));
	ASSERT_OK(proctable_remove(f.pt, pi->st.tgid, pi->st.start_ns));
	proc_info_free(pi);
	ASSERT_EQ(svid_cache_run(f.cache, now + 1), 0);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.demanded, 0);
	ASSERT_EQ(st.entries, 1); /* a process that comes back soon finds it */
	ASSERT_EQ(svid_cache_run(f.cache, renew), 0);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.entries, 0);
	ASSERT_EQ(st.drops, 1);
	ASSERT_EQ(st.renewals, 0);
	ASSERT_ERR(svid_cache_get(f.cache, id, false, &s), -ENOENT);
	wl_teardown(&f);
}

/* A caller that comes before the cache warmed gets an SVID minted on the spot, counted as a miss.
 */
TEST(svid_cache_mint_on_miss_is_a_fallback)
{
	struct wl_fixture f;
	struct svid_cached *s = NULL, *again = NULL;
	struct svid_cache_stats st;
	char id[ENTRY_ID_LEN + 1];

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID, SEL, NULL, NULL, id));
	ASSERT_ERR(svid_cache_get(f.cache, id, false, &s), -ENOENT);
	ASSERT_OK(svid_cache_get(f.cache, id, true, &s));
	ASSERT_OK(svid_cache_get(f.cache, id, false, &again));
	ASSERT_TRUE(s == again);
	svid_cached_unref(s);
	svid_cached_unref(again);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.misses, 1);
	ASSERT_EQ(st.mints, 1);
	ASSERT_ERR(svid_cache_get(f.cache, "00000000-0000-4000-8000-000000000000", true, &s),
		   -ENOENT);
	wl_teardown(&f);
}

/* Too many events for the queue: the table is read again and nothing is lost. */
TEST(svid_cache_queue_overflow_rereads_table)
{
	struct wl_fixture f;
	struct svid_cache_stats st;
	struct svid_cached *s = NULL;
	char id[ENTRY_ID_LEN + 1];
	time_t now = time(NULL);

	ASSERT_OK(wl_setup(&f, false));
	ASSERT_OK(wl_add_entry(&f, SID, SEL, NULL, NULL, id));
	ASSERT_EQ(svid_cache_run(f.cache, now), 0);
	ASSERT_OK(wl_add_process(&f, getpid(), 4242));
	for (int i = 0; i < 70000; i++)
		svid_cache_process_changed(f.cache, 1000000 + i, 1, false);
	ASSERT_EQ(svid_cache_run(f.cache, now), 1);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.resyncs, 2); /* the first run's and the overflow's */
	ASSERT_OK(svid_cache_get(f.cache, id, false, &s));
	svid_cached_unref(s);
	wl_teardown(&f);
}

/* Thread mode: the SVID is there by the time a caller would ask, with no mint on the request path.
 */
TEST(svid_cache_thread_warms_before_request)
{
	struct wl_fixture f;
	struct svid_cached *s = NULL;
	struct svid_cache_stats st;
	char id[ENTRY_ID_LEN + 1];
	int r = -ENOENT;

	ASSERT_OK(wl_setup(&f, true));
	ASSERT_OK(wl_add_entry(&f, SID, SEL, NULL, NULL, id));
	ASSERT_OK(wl_add_process(&f, getpid(), 4242));
	for (int i = 0; i < 200 && r; i++) {
		r = svid_cache_get(f.cache, id, false, &s);
		if (r)
			poll(NULL, 0, 10);
	}
	ASSERT_OK(r);
	svid_cached_unref(s);
	svid_cache_stats(f.cache, &st);
	ASSERT_EQ(st.misses, 0);
	ASSERT_EQ(st.mints, 1);
	wl_teardown(&f);
}
