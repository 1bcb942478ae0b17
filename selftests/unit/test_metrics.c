// SPDX-License-Identifier: Apache-2.0
/*
 * The metrics registry: exact Prometheus text for counters, gauges and
 * histograms (bucket edges, +Inf, _sum, _count), escaping, number
 * formatting, declaration rules, collectors, concurrent updates, and the
 * cap on series.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "test.h"

static char *render(struct metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	if (metrics_render(m, &text, &len))
		return NULL;
	if (strlen(text) != len) {
		free(text);
		return NULL;
	}
	return text;
}

TEST(metrics_render_exact_text)
{
	static const double bounds[] = {0.001, 0.01, 0.1};
	static const char want[] = "# HELP t_calls_total Calls by method and status.\n"
				   "# TYPE t_calls_total counter\n"
				   "t_calls_total{rpc=\"A\",code=\"NOT_FOUND\"} 1\n"
				   "t_calls_total{rpc=\"A\",code=\"OK\"} 3\n"
				   "t_calls_total{rpc=\"B\",code=\"OK\"} 1\n"
				   "# HELP t_latency_seconds Latency.\n"
				   "# TYPE t_latency_seconds histogram\n"
				   "t_latency_seconds_bucket{rpc=\"X\",le=\"0.001\"} 1\n"
				   "t_latency_seconds_bucket{rpc=\"X\",le=\"0.01\"} 2\n"
				   "t_latency_seconds_bucket{rpc=\"X\",le=\"0.1\"} 3\n"
				   "t_latency_seconds_bucket{rpc=\"X\",le=\"+Inf\"} 4\n"
				   "t_latency_seconds_sum{rpc=\"X\"} 4.0712890625\n"
				   "t_latency_seconds_count{rpc=\"X\"} 4\n"
				   "# HELP t_up Whether it is up.\n"
				   "# TYPE t_up gauge\n"
				   "t_up 1\n";
	struct metrics *m = NULL;
	struct metric *c, *g, *h;
	char *text;

	ASSERT_OK(metrics_new(&m));
	/* Declared out of order: rendering sorts families by name, series by labels. */
	g = metrics_gauge(m, "t_up", "Whether it is up.", NULL);
	h = metrics_histogram(m, "t_latency_seconds", "Latency.", "rpc", bounds, 3);
	c = metrics_counter(m, "t_calls_total", "Calls by method and status.", "rpc,code");
	ASSERT_NOT_NULL(c);
	ASSERT_NOT_NULL(g);
	ASSERT_NOT_NULL(h);
	metric_inc(c, "B", "OK");
	metric_inc(c, "A", "OK");
	metric_add(c, 2, "A", "OK");
	metric_inc(c, "A", "NOT_FOUND");
	metric_add(c, -5, "A", "OK"); /* counters never go down */
	metric_set(g, 1);
	/* Powers of two, so that the sum is exact. */
	metric_observe(h, 0.0009765625, "X");
	metric_observe(h, 0.0078125, "X");
	metric_observe(h, 0.0625, "X");
	metric_observe(h, 4, "X");
	text = render(m);
	ASSERT_NOT_NULL(text);
	if (strcmp(text, want)) {
		test_diag("got:\n%s", text);
		free(text);
		metrics_free(m);
		FAIL("rendered text differs from the expected exposition");
	}
	ASSERT_EQ(metric_value(c, "A", "OK"), 3);
	ASSERT_EQ(metric_value(h, "X"), 4);
	ASSERT_EQ(metric_value(c, "C", "OK"), 0);
	free(text);
	metrics_free(m);
}

TEST(metrics_histogram_bucket_edges)
{
	static const double bounds[] = {0.001, 0.5, 1};
	struct metrics *m = NULL;
	struct metric *h;
	char *text;

	ASSERT_OK(metrics_new(&m));
	h = metrics_histogram(m, "t_seconds", "h", NULL, bounds, 3);
	ASSERT_NOT_NULL(h);
	metric_observe(h, 0.001); /* on an edge: le is "less or equal" */
	metric_observe(h, 0.0010000001);
	metric_observe(h, 1);
	metric_observe(h, 1.5); /* only +Inf */
	metric_observe(h, -1);	/* below every edge: every bucket */
	metric_observe(h, NAN); /* ignored */
	text = render(m);
	ASSERT_NOT_NULL(text);
	if (!strstr(text, "t_seconds_bucket{le=\"0.001\"} 2\n") ||
	    !strstr(text, "t_seconds_bucket{le=\"0.5\"} 3\n") ||
	    !strstr(text, "t_seconds_bucket{le=\"1\"} 4\n") ||
	    !strstr(text, "t_seconds_bucket{le=\"+Inf\"} 5\n") ||
	    !strstr(text, "t_seconds_count 5\n")) {
		test_diag("got:\n%s", text);
		free(text);
		metrics_free(m);
		FAIL("bucket counts are not cumulative with le = less or equal");
	}
	free(text);
	metrics_free(m);
}

TEST(metrics_escaping)
{
	struct metrics *m = NULL;
	struct metric *c;
	char *text;

	ASSERT_OK(metrics_new(&m));
	c = metrics_counter(m, "t_total", "Back\\slash and\nnewline.", "v");
	ASSERT_NOT_NULL(c);
	metric_inc(c, "a\"b\\c\nd");
	text = render(m);
	ASSERT_NOT_NULL(text);
	if (!strstr(text, "# HELP t_total Back\\\\slash and\\nnewline.\n") ||
	    !strstr(text, "t_total{v=\"a\\\"b\\\\c\\nd\"} 1\n")) {
		test_diag("got:\n%s", text);
		free(text);
		metrics_free(m);
		FAIL("HELP or label value not escaped");
	}
	free(text);
	metrics_free(m);
}

TEST(metrics_number_format)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
	    {0, "0"},		{-0.0, "0"},
	    {3, "3"},		{-7, "-7"},
	    {0.1, "0.1"},	{2.5, "2.5"},
	    {1e-05, "1e-05"},	{123456789012.0, "123456789012"},
	    {1e20, "1e+20"},	{1.0 / 3, "0.3333333333333333"},
	    {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
	    {NAN, "NaN"},
	};
	char buf[40];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		metrics_format_double(cases[i].v, buf, sizeof(buf));
		if (strcmp(buf, cases[i].want))
			FAIL("case %zu: got \"%s\", expected \"%s\"", i, buf, cases[i].want);
	}
}

TEST(metrics_declaration_rules)
{
	static const double b[] = {1, 2}, bad[] = {2, 1};
	struct metrics *m = NULL;
	struct metric *a;

	ASSERT_OK(metrics_new(&m));
	a = metrics_counter(m, "t_total", "x", "a,b");
	ASSERT_NOT_NULL(a);
	ASSERT_TRUE(metrics_counter(m, "t_total", "other help", "a,b") == a);
	ASSERT_TRUE(metrics_gauge(m, "t_total", "x", "a,b") == NULL);
	ASSERT_TRUE(metrics_counter(m, "t_total", "x", "a") == NULL);
	ASSERT_TRUE(metrics_counter(m, "1abc", "x", NULL) == NULL);
	ASSERT_TRUE(metrics_counter(m, "a-b", "x", NULL) == NULL);
	ASSERT_TRUE(metrics_counter(m, "", "x", NULL) == NULL);
	ASSERT_TRUE(metrics_counter(m, "t2", "x", "__reserved") == NULL);
	ASSERT_TRUE(metrics_counter(m, "t3", "x", "a,b,c,d,e") == NULL);
	ASSERT_TRUE(metrics_counter(m, "t4", "x", "a,,b") == NULL);
	ASSERT_TRUE(metrics_histogram(m, "t5", "x", "le", b, 2) == NULL);
	ASSERT_TRUE(metrics_histogram(m, "t6", "x", NULL, bad, 2) == NULL);
	ASSERT_NOT_NULL(metrics_histogram(m, "t7", "x", NULL, b, 2));
	ASSERT_TRUE(metrics_histogram(m, "t7", "x", NULL, b, 1) == NULL);
	ASSERT_NOT_NULL(metrics_gauge(m, "ns:t8", "colons are allowed in names", NULL));
	/* Updates of a family that could not be declared do nothing. */
	metric_inc(NULL, "x");
	metric_observe(NULL, 1.0);
	metrics_free(m);
}

static int collected;

static void collector(void *arg)
{
	metric_set(arg, ++collected);
}

TEST(metrics_collectors_run_at_render)
{
	struct metrics *m = NULL;
	struct metric *g;
	char *text;

	ASSERT_OK(metrics_new(&m));
	g = metrics_gauge(m, "t_g", "g", NULL);
	ASSERT_OK(metrics_add_collector(m, collector, g));
	text = render(m);
	ASSERT_TRUE(text && strstr(text, "t_g 1\n"));
	free(text);
	text = render(m);
	ASSERT_TRUE(text && strstr(text, "t_g 2\n"));
	free(text);
	metrics_remove_collector(m, collector, g);
	text = render(m);
	ASSERT_TRUE(text && strstr(text, "t_g 2\n"));
	free(text);
	ASSERT_EQ(collected, 2);
	metrics_free(m);
}

#define THREADS 8
#define INCS 100000

static void *hammer(void *arg)
{
	static const char *const names[] = {"a", "b", "c", "d"};
	struct metric *c = arg;

	for (int i = 0; i < INCS; i++)
		metric_inc(c, names[i % 4]);
	return NULL;
}

TEST(metrics_concurrent_updates_are_exact)
{
	pthread_t t[THREADS];
	struct metrics *m = NULL;
	struct metric *c;

	ASSERT_OK(metrics_new(&m));
	c = metrics_counter(m, "t_total", "x", "k");
	for (int i = 0; i < THREADS; i++)
		ASSERT_OK(pthread_create(&t[i], NULL, hammer, c));
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	ASSERT_EQ(metric_value(c, "a"), THREADS * INCS / 4);
	ASSERT_EQ(metric_value(c, "d"), THREADS * INCS / 4);
	metrics_free(m);
}

TEST(metrics_series_are_capped)
{
	struct metrics *m = NULL;
	struct metric *c;
	char v[16], *text, *p;
	size_t lines = 0;

	ASSERT_OK(metrics_new(&m));
	c = metrics_counter(m, "t_total", "x", "k");
	for (int i = 0; i < METRICS_MAX_SERIES + 50; i++) {
		snprintf(v, sizeof(v), "%d", i);
		metric_inc(c, v);
	}
	text = render(m);
	ASSERT_NOT_NULL(text);
	for (p = text; (p = strstr(p, "t_total{")); p++)
		lines++;
	free(text);
	metrics_free(m);
	ASSERT_EQ(lines, METRICS_MAX_SERIES);
}
