// SPDX-License-Identifier: Apache-2.0
/*
 * The metrics registry and its Prometheus text rendering (metrics.h).
 * Values are doubles kept as their bit patterns in 64-bit atomics, so an
 * update is a compare-and-swap, never a lock; histogram buckets are plain
 * atomic counts, made cumulative when rendered.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "metrics.h"

const double metrics_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
					  0.01,	  0.025,   0.05,   0.1,	  0.25,	  0.5,
					  1,	  2.5,	   5,	   10};
const size_t metrics_latency_nbuckets = ARRAY_SIZE(metrics_latency_buckets);

struct series {
	struct series *next; /* published with a release store: readers walk without the lock */
	char *values[METRICS_MAX_LABELS];
	uint64_t bits;	   /* counter or gauge value; histogram sum */
	uint64_t *buckets; /* histogram: nbounds + 1 counts, the last for +Inf */
};

struct metric {
	struct metric *next;
	char *name;
	char *help;
	enum metric_type type;
	size_t nlabels;
	char *labels[METRICS_MAX_LABELS];
	double bounds[METRICS_MAX_BUCKETS];
	size_t nbounds;
	pthread_mutex_t lock; /* creating series */
	struct series *head;
	size_t nseries;
};

struct collector {
	struct collector *next;
	metrics_collect_fn fn;
	void *arg;
};

struct metrics {
	pthread_mutex_t lock;	     /* the lists below */
	pthread_mutex_t render_lock; /* one rendering (and its collectors) at a time */
	struct metric *families;
	struct collector *collectors;
};

/* ---- values ---- */

static double bits_to_double(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t double_to_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

static void atomic_add_double(uint64_t *p, double v)
{
	uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED), nw;

	do
		nw = double_to_bits(bits_to_double(old) + v);
	while (!__atomic_compare_exchange_n(p, &old, nw, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

/* ---- registry ---- */

static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return false;
	return true;
}

int metrics_new(struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->render_lock, NULL);
	*ret = m;
	return 0;
}

static struct metrics *default_registry;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
	(void)metrics_new(&default_registry);
}

struct metrics *metrics_default(void)
{
	pthread_once(&default_once, default_init);
	return default_registry;
}

static void series_free(struct series *s)
{
	for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

static void family_free(struct metric *f)
{
	struct series *s = f->head, *next;

	for (; s; s = next) {
		next = s->next;
		series_free(s);
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	pthread_mutex_destroy(&f->lock);
	free(f->name);
	free(f->help);
	free(f);
}

void metrics_free(struct metrics *m)
{
	struct metric *f, *fn;
	struct collector *c, *cn;

	if (!m)
		return;
	for (f = m->families; f; f = fn) {
		fn = f->next;
		family_free(f);
	}
	for (c = m->collectors; c; c = cn) {
		cn = c->next;
		free(c);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->render_lock);
	free(m);
}

/* Splits "a,b" into f->labels; false if a name is bad or there are too many. */
static bool parse_labels(struct metric *f, const char *labels)
{
	const char *p = labels;

	if (!labels || !*labels)
		return true;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (f->nlabels == METRICS_MAX_LABELS)
			return false;
		f->labels[f->nlabels] = strndup(p, n);
		if (!f->labels[f->nlabels])
			return false;
		f->nlabels++;
		if (!valid_name(f->labels[f->nlabels - 1], false) ||
		    strncmp(f->labels[f->nlabels - 1], "__", 2) == 0 ||
		    (f->type == METRIC_HISTOGRAM && !strcmp(f->labels[f->nlabels - 1], "le")))
			return false;
		p += n;
		if (*p == ',')
			p++;
	}
	return true;
}

static bool same_shape(const struct metric *a, const struct metric *b)
{
	if (a->type != b->type || a->nlabels != b->nlabels || a->nbounds != b->nbounds)
		return false;
	for (size_t i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i], b->labels[i]))
			return false;
	for (size_t i = 0; i < a->nbounds; i++)
		if (a->bounds[i] != b->bounds[i])
			return false;
	return true;
}

static struct series *series_new(const struct metric *f, const char *const *values)
{
	struct series *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	for (size_t i = 0; i < f->nlabels; i++) {
		s->values[i] = strdup(values[i] ? values[i] : "");
		if (!s->values[i]) {
			series_free(s);
			return NULL;
		}
	}
	if (f->type == METRIC_HISTOGRAM) {
		s->buckets = calloc(f->nbounds + 1, sizeof(*s->buckets));
		if (!s->buckets) {
			series_free(s);
			return NULL;
		}
	}
	return s;
}

static struct metric *declare(struct metrics *m, const char *name, const char *help,
			      enum metric_type type, const char *labels, const double *bounds,
			      size_t nbounds)
{
	struct metric *f, *have;
	bool ok;

	if (!m || !valid_name(name, true) || nbounds > METRICS_MAX_BUCKETS)
		return NULL;
	for (size_t i = 0; i < nbounds; i++)
		if (isnan(bounds[i]) || (i && bounds[i] <= bounds[i - 1]) || isinf(bounds[i]))
			return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	if (nbounds)
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
	f->nbounds = nbounds;
	if (!f->name || !f->help || !parse_labels(f, labels)) {
		family_free(f);
		return NULL;
	}
	/* A family without labels has its one series from the start: it shows as 0. */
	if (!f->nlabels) {
		f->head = series_new(f, NULL);
		if (!f->head) {
			family_free(f);
			return NULL;
		}
		f->nseries = 1;
	}
	pthread_mutex_lock(&m->lock);
	for (have = m->families; have; have = have->next)
		if (!strcmp(have->name, name))
			break;
	if (!have) {
		f->next = m->families;
		m->families = f;
	}
	pthread_mutex_unlock(&m->lock);
	if (!have)
		return f;
	ok = same_shape(have, f);
	family_free(f);
	return ok ? have : NULL;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
			       const char *labels)
{
	return declare(m, name, help, METRIC_COUNTER, labels, NULL, 0);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
			     const char *labels)
{
	return declare(m, name, help, METRIC_GAUGE, labels, NULL, 0);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
				 const char *labels, const double *bounds, size_t nbounds)
{
	return declare(m, name, help, METRIC_HISTOGRAM, labels, bounds, nbounds);
}

/* ---- series ---- */

static struct series *find(struct metric *f, const char *const *values)
{
	for (struct series *s = __atomic_load_n(&f->head, __ATOMIC_ACQUIRE); s;
	     s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE)) {
		size_t i;

		for (i = 0; i < f->nlabels; i++)
			if (strcmp(s->values[i], values[i] ? values[i] : ""))
				break;
		if (i == f->nlabels)
			return s;
	}
	return NULL;
}

/* The series for the label values in ap, created if need be; NULL if it cannot be. */
static struct series *lookup(struct metric *f, va_list ap)
{
	const char *values[METRICS_MAX_LABELS] = {0};
	struct series *s;

	for (size_t i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	s = find(f, values);
	if (s)
		return s;
	pthread_mutex_lock(&f->lock);
	s = find(f, values);
	if (!s && f->nseries < METRICS_MAX_SERIES) {
		s = series_new(f, values);
		if (s) {
			s->next = f->head;
			__atomic_store_n(&f->head, s, __ATOMIC_RELEASE);
			f->nseries++;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return s;
}

void metric_add(struct metric *f, double v, ...)
{
	struct series *s;
	va_list ap;

	if (!f || f->type == METRIC_HISTOGRAM || (f->type == METRIC_COUNTER && !(v >= 0)))
		return;
	va_start(ap, v);
	s = lookup(f, ap);
	va_end(ap);
	if (s)
		atomic_add_double(&s->bits, v);
}

void metric_inc(struct metric *f, ...)
{
	struct series *s;
	va_list ap;

	if (!f || f->type == METRIC_HISTOGRAM)
		return;
	va_start(ap, f);
	s = lookup(f, ap);
	va_end(ap);
	if (s)
		atomic_add_double(&s->bits, 1);
}

void metric_set(struct metric *f, double v, ...)
{
	struct series *s;
	va_list ap;

	if (!f || f->type == METRIC_HISTOGRAM)
		return;
	va_start(ap, v);
	s = lookup(f, ap);
	va_end(ap);
	if (s)
		__atomic_store_n(&s->bits, double_to_bits(v), __ATOMIC_RELAXED);
}

void metric_observe(struct metric *f, double v, ...)
{
	struct series *s;
	size_t i = 0;
	va_list ap;

	if (!f || f->type != METRIC_HISTOGRAM || isnan(v))
		return;
	va_start(ap, v);
	s = lookup(f, ap);
	va_end(ap);
	if (!s)
		return;
	while (i < f->nbounds && v > f->bounds[i])
		i++;
	__atomic_add_fetch(&s->buckets[i], 1, __ATOMIC_RELAXED);
	atomic_add_double(&s->bits, v);
}

double metric_value(struct metric *f, ...)
{
	const char *values[METRICS_MAX_LABELS] = {0};
	struct series *s;
	double n = 0;
	va_list ap;

	if (!f)
		return 0;
	va_start(ap, f);
	for (size_t i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	s = find(f, values);
	if (!s)
		return 0;
	if (f->type != METRIC_HISTOGRAM)
		return bits_to_double(__atomic_load_n(&s->bits, __ATOMIC_RELAXED));
	for (size_t i = 0; i <= f->nbounds; i++)
		n += (double)__atomic_load_n(&s->buckets[i], __ATOMIC_RELAXED);
	return n;
}

/* ---- collectors ---- */

int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg)
{
	struct collector *c = calloc(1, sizeof(*c)), **pp;

	if (!c || !m) {
		free(c);
		return -ENOMEM;
	}
	c->fn = fn;
	c->arg = arg;
	pthread_mutex_lock(&m->render_lock);
	pthread_mutex_lock(&m->lock);
	for (pp = &m->collectors; *pp; pp = &(*pp)->next)
		;
	*pp = c;
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->render_lock);
	return 0;
}

void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn, void *arg)
{
	struct collector **pp, *c = NULL;

	if (!m)
		return;
	/* A rendering in progress may be running fn: wait for it. */
	pthread_mutex_lock(&m->render_lock);
	pthread_mutex_lock(&m->lock);
	for (pp = &m->collectors; *pp; pp = &(*pp)->next)
		if ((*pp)->fn == fn && (*pp)->arg == arg) {
			c = *pp;
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&m->render_lock);
	free(c);
}

/* ---- rendering ---- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* HELP text: backslash and newline escaped; label values: the double quote too. */
static void buf_escaped(struct buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else if (quote && *s == '"')
			buf_puts(b, "\\\"");
		else
			buf_add(b, s, 1);
	}
}

void metrics_format_double(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, len, "%.0f", v == 0 ? 0.0 : v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static void buf_double(struct buf *b, double v)
{
	char num[40];

	metrics_format_double(v, num, sizeof(num));
	buf_puts(b, num);
}

/* name{labels[,le="X"]} value */
static void sample(struct buf *b, const struct metric *f, const struct series *s,
		   const char *suffix, const char *le, double v)
{
	bool any = f->nlabels || le;

	buf_puts(b, f->name);
	buf_puts(b, suffix);
	if (any)
		buf_puts(b, "{");
	for (size_t i = 0; i < f->nlabels; i++) {
		if (i)
			buf_puts(b, ",");
		buf_puts(b, f->labels[i]);
		buf_puts(b, "=\"");
		buf_escaped(b, s->values[i], true);
		buf_puts(b, "\"");
	}
	if (le) {
		buf_puts(b, f->nlabels ? ",le=\"" : "le=\"");
		buf_puts(b, le);
		buf_puts(b, "\"");
	}
	if (any)
		buf_puts(b, "}");
	buf_puts(b, " ");
	buf_double(b, v);
	buf_puts(b, "\n");
}

static size_t sort_nlabels;

static int cmp_series(const void *a, const void *b)
{
	const struct series *x = *(struct series *const *)a, *y = *(struct series *const *)b;

	for (size_t i = 0; i < sort_nlabels; i++) {
		int c = strcmp(x->values[i], y->values[i]);

		if (c)
			return c;
	}
	return 0;
}

static int cmp_family(const void *a, const void *b)
{
	return strcmp((*(struct metric *const *)a)->name, (*(struct metric *const *)b)->name);
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static void render_family(struct buf *b, struct metric *f)
{
	struct series **v, *s;
	size_t n = 0, cap;

	pthread_mutex_lock(&f->lock);
	cap = f->nseries;
	pthread_mutex_unlock(&f->lock);
	if (!cap)
		return;
	v = calloc(cap, sizeof(*v));
	if (!v) {
		b->oom = true;
		return;
	}
	for (s = __atomic_load_n(&f->head, __ATOMIC_ACQUIRE); s && n < cap;
	     s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE))
		v[n++] = s;
	sort_nlabels = f->nlabels; /* under the render lock */
	qsort(v, n, sizeof(*v), cmp_series);

	buf_puts(b, "# HELP ");
	buf_puts(b, f->name);
	buf_puts(b, " ");
	buf_escaped(b, f->help, false);
	buf_puts(b, "\n# TYPE ");
	buf_puts(b, f->name);
	buf_puts(b, " ");
	buf_puts(b, type_names[f->type]);
	buf_puts(b, "\n");
	for (size_t i = 0; i < n; i++) {
		s = v[i];
		if (f->type != METRIC_HISTOGRAM) {
			sample(b, f, s, "", NULL,
			       bits_to_double(__atomic_load_n(&s->bits, __ATOMIC_RELAXED)));
			continue;
		}
		/* _count is the sum of the buckets read, so the three always agree. */
		uint64_t cum = 0;
		char le[40];

		for (size_t k = 0; k <= f->nbounds; k++) {
			cum += __atomic_load_n(&s->buckets[k], __ATOMIC_RELAXED);
			if (k < f->nbounds)
				metrics_format_double(f->bounds[k], le, sizeof(le));
			else
				snprintf(le, sizeof(le), "+Inf");
			sample(b, f, s, "_bucket", le, (double)cum);
		}
		sample(b, f, s, "_sum", NULL,
		       bits_to_double(__atomic_load_n(&s->bits, __ATOMIC_RELAXED)));
		sample(b, f, s, "_count", NULL, (double)cum);
	}
	free(v);
}

int metrics_render(struct metrics *m, char **ret, size_t *ret_len)
{
	struct buf b = {0};
	struct metric **fams = NULL;
	size_t n = 0;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->render_lock);
	/* The collector list only changes under render_lock too, so it can be walked unlocked. */
	for (struct collector *c = m->collectors; c; c = c->next)
		c->fn(c->arg);
	pthread_mutex_lock(&m->lock);
	for (struct metric *f = m->families; f; f = f->next)
		n++;
	fams = calloc(n ? n : 1, sizeof(*fams));
	if (fams) {
		n = 0;
		for (struct metric *f = m->families; f; f = f->next)
			fams[n++] = f;
	}
	pthread_mutex_unlock(&m->lock);
	if (!fams) {
		pthread_mutex_unlock(&m->render_lock);
		return -ENOMEM;
	}
	qsort(fams, n, sizeof(*fams), cmp_family);
	buf_add(&b, "", 0);
	for (size_t i = 0; i < n; i++)
		render_family(&b, fams[i]);
	pthread_mutex_unlock(&m->render_lock);
	free(fams);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*ret = b.p;
	if (ret_len)
		*ret_len = b.len;
	return 0;
}
