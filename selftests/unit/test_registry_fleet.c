// SPDX-License-Identifier: Apache-2.0
/*
 * The registry in fleet mode: node-scoped entries (parent_id = a node's
 * SPIFFE ID) are matched only on their node, on SQLite as on PostgreSQL;
 * and two registries sharing one PostgreSQL database, as two nodes do,
 * see each other's changes within a second, keep their entries through an
 * outage, and catch up on a missed change by resyncing after a reconnect.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "cleanup.h"
#include "entry.h"
#include "matcher.h"
#include "pg_cluster.h"
#include "registry.h"

#define TD "example.org"
#define NODE(n) "spiffe://" TD "/attestd/node/" n

static void registry_closep(struct registry **r)
{
	registry_close(*r);
}
#define _cleanup_registry_ _cleanup_(registry_closep)

static void entry_freep(struct entry **e)
{
	entry_free(*e);
}
#define _cleanup_entry_ _cleanup_(entry_freep)

static void clusterp(struct pg_cluster *c)
{
	pg_cluster_destroy(c);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct entry *mk(const char *spiffe_id, const char *parent, const char *selector)
{
	struct entry *e;

	if (entry_new(&e))
		return NULL;
	if (entry_set_spiffe_id(e, spiffe_id) || entry_set_parent_id(e, parent) ||
	    entry_add_selector(e, selector)) {
		entry_free(e);
		return NULL;
	}
	return e;
}

/* What the listeners heard: "C:<id>", "U:<id>", "D:<id>". */
struct heard {
	pthread_mutex_t lock;
	char ev[64][ENTRY_ID_LEN + 3];
	int n;
};

static void on_change(void *ctx, enum registry_change what, const struct entry *e)
{
	struct heard *h = ctx;

	pthread_mutex_lock(&h->lock);
	if (h->n < 64)
		snprintf(h->ev[h->n++], sizeof(h->ev[0]), "%c:%s",
			 what == REGISTRY_CREATED ? 'C' : what == REGISTRY_UPDATED ? 'U' : 'D', e->id);
	pthread_mutex_unlock(&h->lock);
}

static int heard_count(struct heard *h, char what, const char *id)
{
	int n = 0;

	pthread_mutex_lock(&h->lock);
	for (int i = 0; i < h->n; i++)
		n += h->ev[i][0] == what && strcmp(h->ev[i] + 2, id) == 0;
	pthread_mutex_unlock(&h->lock);
	return n;
}

static bool has(struct registry *r, const char *id)
{
	struct entry *e = NULL;
	bool yes = matcher_get(registry_matcher(r), id, &e) == 0;

	entry_free(e);
	return yes;
}

static uint64_t revision_in(struct registry *r, const char *id)
{
	struct entry *e = NULL;
	uint64_t rev = 0;

	if (matcher_get(registry_matcher(r), id, &e) == 0)
		rev = e->revision;
	entry_free(e);
	return rev;
}

/* Polls cond for up to ms; the time it took, or -1. */
#define WITHIN(ms, cond)                                                                           \
	({                                                                                         \
		double _t0 = now_ms(), _took = -1;                                                 \
		for (;;) {                                                                         \
			if (cond) {                                                                \
				_took = now_ms() - _t0;                                            \
				break;                                                             \
			}                                                                          \
			if (now_ms() - _t0 > (ms))                                                 \
				break;                                                             \
			sleep_ms(5);                                                               \
		}                                                                                  \
		_took;                                                                             \
	})

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

struct tmpdir {
	char path[64];
};

static void tmpdirp(struct tmpdir *t)
{
	if (t->path[0] && !strstr(t->path, "XXXXXX"))
		nftw(t->path, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TEST(registry_node_scoping)
{
	_cleanup_(tmpdirp) struct tmpdir t = { "/tmp/attestd-regnode-XXXXXX" };
	_cleanup_registry_ struct registry *r = NULL;
	_cleanup_entry_ struct entry *g = NULL, *mine = NULL, *theirs = NULL, *other = NULL,
				     *look = NULL, *b1 = NULL, *b2 = NULL;
	struct heard h = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct registry_opts o = { .trust_domain = TD, .node_name = "n1" };
	struct entry *batch[2];
	char url[128], err[256] = "";
	size_t failed = 0;

	ASSERT_NOT_NULL(mkdtemp(t.path));
	snprintf(url, sizeof(url), "sqlite://%s/store.db", t.path);
	o.store_url = url;
	ASSERT_OK(registry_open(&o, &r, err, sizeof(err)));
	ASSERT_STREQ(registry_node_id(r), NODE("n1"));
	ASSERT_OK(registry_add_listener(r, on_change, &h));
	ASSERT_OK(registry_watch(r)); /* SQLite: nothing to follow, and no error */

	g = mk("spiffe://" TD "/global", "", "unix:uid:1");
	mine = mk("spiffe://" TD "/mine", NODE("n1"), "unix:uid:2");
	theirs = mk("spiffe://" TD "/theirs", NODE("n2"), "unix:uid:3");
	other = mk("spiffe://" TD "/under-agent", "spiffe://" TD "/some/agent", "unix:uid:4");
	ASSERT_TRUE(g && mine && theirs && other);
	ASSERT_TRUE(registry_applies(r, g) && registry_applies(r, mine) &&
		    !registry_applies(r, theirs) && registry_applies(r, other));
	ASSERT_OK(registry_create(r, g, err, sizeof(err)));
	ASSERT_OK(registry_create(r, mine, err, sizeof(err)));
	ASSERT_OK(registry_create(r, theirs, err, sizeof(err)));
	ASSERT_OK(registry_create(r, other, err, sizeof(err)));
	/* Stored, all four; matched here, three. */
	ASSERT_OK(store_entry_get(registry_store(r), theirs->id, &look));
	ASSERT_EQ(registry_count(r), 3);
	ASSERT_TRUE(has(r, g->id) && has(r, mine->id) && !has(r, theirs->id) && has(r, other->id));
	ASSERT_EQ(heard_count(&h, 'C', theirs->id), 0);
	ASSERT_EQ(heard_count(&h, 'C', mine->id), 1);

	/* A node name that merely starts like ours is another node. */
	ASSERT_OK(entry_set_parent_id(look, NODE("n1x")));
	ASSERT_FALSE(registry_applies(r, look));
	ASSERT_OK(entry_set_parent_id(look, "spiffe://" TD "/attestd/nodes/n2"));
	ASSERT_TRUE(registry_applies(r, look));

	/* Moving between nodes is an arrival or a departure here. */
	ASSERT_OK(entry_set_parent_id(theirs, NODE("n1")));
	theirs->revision = 0;
	ASSERT_OK(registry_update(r, theirs->id, theirs, err, sizeof(err)));
	ASSERT_TRUE(has(r, theirs->id));
	ASSERT_EQ(heard_count(&h, 'C', theirs->id), 1);
	ASSERT_OK(entry_set_parent_id(mine, NODE("n2")));
	mine->revision = 0;
	ASSERT_OK(registry_update(r, mine->id, mine, err, sizeof(err)));
	ASSERT_FALSE(has(r, mine->id));
	ASSERT_EQ(heard_count(&h, 'D', mine->id), 1);
	ASSERT_OK(entry_set_hint(theirs, "now here"));
	theirs->revision = 0;
	ASSERT_OK(registry_update(r, theirs->id, theirs, err, sizeof(err)));
	ASSERT_EQ(heard_count(&h, 'U', theirs->id), 1);
	/* An update of an entry that stays elsewhere changes nothing here. */
	ASSERT_OK(entry_set_hint(mine, "still there"));
	mine->revision = 0;
	ASSERT_OK(registry_update(r, mine->id, mine, err, sizeof(err)));
	ASSERT_EQ(heard_count(&h, 'U', mine->id), 0);
	ASSERT_EQ(heard_count(&h, 'D', mine->id), 1);

	/* Batches: stored whole, matched by node. */
	b1 = mk("spiffe://" TD "/b1", NODE("n1"), "unix:uid:5");
	b2 = mk("spiffe://" TD "/b2", NODE("n3"), "unix:uid:6");
	ASSERT_TRUE(b1 && b2);
	batch[0] = b1;
	batch[1] = b2;
	ASSERT_OK(registry_create_batch(r, batch, 2, &failed, err, sizeof(err)));
	ASSERT_TRUE(has(r, b1->id) && !has(r, b2->id));
	ASSERT_EQ(heard_count(&h, 'C', b2->id), 0);
	ASSERT_EQ(registry_count(r), 4); /* g, theirs (now n1), other, b1 */
	registry_close(TAKE_PTR(r));

	/* Each node loads its own and everyone's. */
	o.node_name = "n2";
	ASSERT_OK(registry_open(&o, &r, err, sizeof(err)));
	ASSERT_TRUE(has(r, g->id) && has(r, mine->id) && !has(r, theirs->id) && has(r, other->id) &&
		    !has(r, b1->id) && !has(r, b2->id));
	ASSERT_EQ(registry_count(r), 3);
	ASSERT_OK(registry_delete(r, theirs->id)); /* another node's: deleted from the store */
	ASSERT_ERR(store_entry_get(registry_store(r), theirs->id, &b1), -ENOENT);
	registry_close(TAKE_PTR(r));
	/* Without a node name, everything applies (a single host, as before fleets). */
	o.node_name = NULL;
	ASSERT_OK(registry_open(&o, &r, err, sizeof(err)));
	ASSERT_TRUE(registry_node_id(r) == NULL);
	ASSERT_EQ(registry_count(r), 5);
}

TEST(registry_fleet_pg)
{
	_cleanup_(clusterp) struct pg_cluster c = { 0 };
	_cleanup_registry_ struct registry *a = NULL, *b = NULL;
	_cleanup_entry_ struct entry *g = NULL, *for_a = NULL, *for_b = NULL, *from_b = NULL,
				     *late = NULL;
	struct heard hb = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct registry_opts oa = { .trust_domain = TD, .node_name = "node-a" };
	struct registry_opts ob = { .trust_domain = TD, .node_name = "node-b" };
	struct store_health sh;
	const char *sel[] = { "unix:uid:100" };
	char url[256], why[256], err[256] = "", sql[512];
	char **ids = NULL;
	size_t nids = 0;
	double took;
	int r;

	r = pg_cluster_init(&c, why, sizeof(why));
	if (r == -ENOENT)
		SKIP("%s", why);
	ASSERT_OK(r);
	ASSERT_OK(pg_cluster_start(&c));
	ASSERT_OK(pg_cluster_createdb(&c, url, sizeof(url)));
	oa.store_url = ob.store_url = url;
	ASSERT_OK(registry_open(&oa, &a, err, sizeof(err)));
	ASSERT_OK(registry_open(&ob, &b, err, sizeof(err)));
	ASSERT_OK(registry_add_listener(b, on_change, &hb));
	ASSERT_OK(registry_watch(a));
	ASSERT_OK(registry_watch(b));

	/* A change made on node A reaches node B within a second. */
	g = mk("spiffe://" TD "/everywhere", "", "unix:uid:100");
	ASSERT_NOT_NULL(g);
	ASSERT_OK(registry_create(a, g, err, sizeof(err)));
	took = WITHIN(1000, has(b, g->id));
	ASSERT_TRUE(took >= 0);
	test_diag("created on A, matched on B after %.0f ms", took);
	ASSERT_TRUE(WITHIN(1000, heard_count(&hb, 'C', g->id) == 1) >= 0);

	/* Node-scoped entries land only on their node. */
	for_a = mk("spiffe://" TD "/only-a", NODE("node-a"), "unix:uid:101");
	for_b = mk("spiffe://" TD "/only-b", NODE("node-b"), "unix:uid:102");
	ASSERT_TRUE(for_a && for_b);
	ASSERT_OK(registry_create(a, for_a, err, sizeof(err)));
	ASSERT_OK(registry_create(a, for_b, err, sizeof(err)));
	ASSERT_TRUE(WITHIN(1000, has(b, for_b->id)) >= 0);
	ASSERT_FALSE(has(b, for_a->id)); /* its notification came first and was passed over */
	ASSERT_TRUE(has(a, for_a->id) && !has(a, for_b->id));

	/* Updates and moves. */
	ASSERT_OK(entry_set_hint(g, "v2"));
	ASSERT_OK(registry_update(a, g->id, g, err, sizeof(err)));
	ASSERT_TRUE(WITHIN(1000, revision_in(b, g->id) == 2) >= 0);
	ASSERT_TRUE(WITHIN(1000, heard_count(&hb, 'U', g->id) == 1) >= 0);
	ASSERT_OK(entry_set_parent_id(for_b, NODE("node-a")));
	ASSERT_OK(registry_update(a, for_b->id, for_b, err, sizeof(err)));
	ASSERT_TRUE(WITHIN(1000, !has(b, for_b->id)) >= 0);
	ASSERT_TRUE(has(a, for_b->id));
	ASSERT_TRUE(WITHIN(1000, heard_count(&hb, 'D', for_b->id) == 1) >= 0);

	/* B's own write comes back as a notification and changes nothing more. */
	from_b = mk("spiffe://" TD "/from-b", "", "unix:uid:103");
	ASSERT_NOT_NULL(from_b);
	ASSERT_OK(registry_create(b, from_b, err, sizeof(err)));
	ASSERT_TRUE(WITHIN(1000, has(a, from_b->id)) >= 0);
	sleep_ms(100);
	ASSERT_TRUE(WITHIN(1000, heard_count(&hb, 'C', from_b->id) == 1) >= 0);
	ASSERT_TRUE(WITHIN(1000, heard_count(&hb, 'U', from_b->id) == 0) >= 0);

	ASSERT_OK(registry_delete(a, from_b->id));
	ASSERT_TRUE(WITHIN(1000, !has(b, from_b->id)) >= 0);
	ASSERT_TRUE(WITHIN(1000, heard_count(&hb, 'D', from_b->id) == 1) >= 0);

	/* The database goes away: B keeps matching what it has, and says so. */
	ASSERT_OK(pg_cluster_stop(&c));
	ASSERT_TRUE(WITHIN(3000, store_health(registry_store(b), &sh) == 0 && !sh.up) >= 0);
	ASSERT_EQ(registry_count(b), 1); /* g */
	ASSERT_OK(matcher_match_spiffe_ids(registry_matcher(b), sel, 1, &ids, &nids));
	ASSERT_EQ(nids, 1);
	ASSERT_STREQ(ids[0], "spiffe://" TD "/everywhere");
	free(ids[0]);
	free(ids);
	late = mk("spiffe://" TD "/during-outage", "", "unix:uid:104");
	ASSERT_NOT_NULL(late);
	ASSERT_ERR(registry_create(a, late, err, sizeof(err)), -ENOTCONN);
	test_diag("a write during the outage: %s", err);
	ASSERT_TRUE(has(b, g->id));

	/* Back: both reconnect and resync. */
	ASSERT_OK(pg_cluster_start(&c));
	ASSERT_TRUE(WITHIN(8000, store_health(registry_store(b), &sh) == 0 && sh.up) >= 0);
	ASSERT_TRUE(sh.reconnects >= 1);

	/*
	 * A change no notification announces (the trigger suppressed, as a
	 * change made while B was away would be unheard): B finds it by
	 * resyncing after its connection is cut.
	 */
	snprintf(sql, sizeof(sql),
		 "SET session_replication_role = replica;"
		 "UPDATE entries SET hint = 'silent', revision = revision + 1 WHERE id = '%s';"
		 "DELETE FROM entry_selectors WHERE entry_pk = (SELECT pk FROM entries WHERE id = '%s');"
		 "DELETE FROM entries WHERE id = '%s'",
		 g->id, for_a->id, for_a->id);
	ASSERT_OK(pg_cluster_sql(url, sql));
	sleep_ms(200);
	ASSERT_EQ(revision_in(b, g->id), 2); /* unheard so far */
	ASSERT_OK(pg_cluster_sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				      "WHERE datname = current_database() AND pid <> pg_backend_pid()"));
	took = WITHIN(8000, revision_in(b, g->id) == 3 && !has(a, for_a->id));
	ASSERT_TRUE(took >= 0);
	test_diag("missed change picked up by resync after %.0f ms", took);
	ASSERT_TRUE(WITHIN(1000, heard_count(&hb, 'U', g->id) == 2) >= 0);
	/* And writes work again from A, reaching B. */
	ASSERT_TRUE(WITHIN(6000, registry_create(a, late, err, sizeof(err)) == 0) >= 0);
	ASSERT_TRUE(WITHIN(1000, has(b, late->id)) >= 0);
	registry_unwatch(b);
	registry_unwatch(b);
}
