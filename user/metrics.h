/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters, gauges and histograms, rendered in the Prometheus text format
 * (version 0.0.4).  A family (one metric name) holds one series per set of
 * label values; series are created on first use and never removed, so a
 * pointer to one stays valid until the registry is freed.
 *
 * Updates are lock-free: a series is found by walking an append-only list
 * (acquire loads), and values are atomics.  Creating a series takes the
 * family's mutex.  Rendering runs the collectors (for values read from
 * elsewhere at scrape time: the kernel's counters, table sizes) and then
 * writes every family, sorted by name, every series sorted by its label
 * values.
 *
 * Label values must come from small, fixed sets (RPC names, status codes):
 * never pids, paths or SPIFFE IDs.  A family stops taking new series at
 * METRICS_MAX_SERIES.
 */
#ifndef ATTESTD_METRICS_H
#define ATTESTD_METRICS_H

#include <stddef.h>

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_SERIES 512
#define METRICS_MAX_BUCKETS 24

struct metrics;
struct metric;

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

/* Latency buckets in seconds, 100 us to 10 s: most attestd calls take well under a millisecond. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

/* The registry attestd serves on /metrics. */
struct metrics *metrics_default(void);
/* A registry of one's own (tests); 0 or -ENOMEM. */
int metrics_new(struct metrics **ret);
void metrics_free(struct metrics *m);

/*
 * Declares a family; declaring a name again returns the same family if
 * type, labels (and buckets) agree, else NULL.  labels: comma-separated
 * names ("rpc,code") or NULL.  NULL also for a name or label that is not
 * [a-zA-Z_:][a-zA-Z0-9_:]*, more than METRICS_MAX_LABELS labels, or no
 * memory.  Histogram bounds must increase; +Inf is implied.  Every update
 * below accepts a NULL family and does nothing, so a failed declaration
 * costs only its metric.
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
			       const char *labels);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
			     const char *labels);
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
				 const char *labels, const double *bounds, size_t nbounds);

/*
 * The variadic arguments are the label values (const char *), one per
 * label of the family, in the declared order.
 */
void metric_inc(struct metric *f, ...);
void metric_add(struct metric *f, double v, ...);
/* Gauges; and counters mirrored from a source that counts itself (collectors only). */
void metric_set(struct metric *f, double v, ...);
void metric_observe(struct metric *f, double v, ...);
/* Current value of a counter or gauge series, or a histogram's count; 0 if absent (tests). */
double metric_value(struct metric *f, ...);

/*
 * Called at the start of every rendering, in the order added, one
 * rendering at a time: fn sets gauges and mirrored counters.
 */
typedef void (*metrics_collect_fn)(void *arg);
int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg);
/* Once this returns fn is not running and will not run again. */
void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn, void *arg);

/* The exposition text, malloc'd and NUL-terminated: 0, or -ENOMEM. */
int metrics_render(struct metrics *m, char **ret, size_t *ret_len);

/* The shortest decimal that reads back as v (Prometheus style: +Inf, -Inf, NaN). */
void metrics_format_double(double v, char *buf, size_t len);

#endif
