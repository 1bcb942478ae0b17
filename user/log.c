// SPDX-License-Identifier: Apache-2.0
/*
 * Logging to stderr.  The level and format are set once at start-up from
 * the config; that is the only state here.  Lines are written with one
 * write() so that threads do not interleave.
 *
 * JSON lines are built with json-c from the same key=value text the
 * callers format: a leading quoted message, then pairs whose value is a
 * word or a quoted string (callers quote values that may hold spaces).
 * Anything left over that does not read as a pair is kept in "rest".
 * Text lines escape control characters, so a value a workload chose (an
 * exe path with a newline) cannot forge a second line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "log.h"

#define LINE_MAX_BYTES 2048

static struct {
	enum log_level level;
	bool json;
	int fd;
} log_cfg = { LOG_LVL_INFO, false, STDERR_FILENO };

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

int log_level_parse(const char *name, enum log_level *ret)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_setup(enum log_level level, bool json)
{
	log_cfg.level = level;
	log_cfg.json = json;
}

bool log_enabled(enum log_level level)
{
	return level <= log_cfg.level;
}

int log_set_fd(int fd)
{
	int old = log_cfg.fd;

	log_cfg.fd = fd;
	return old;
}

static void emit(const char *line, size_t n)
{
	(void)!write(log_cfg.fd, line, n);
}

static size_t timestamp(char *buf, size_t len)
{
	struct timespec now;
	struct tm tm;
	char ts[32];

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	return (size_t)snprintf(buf, len, "%s.%03ldZ", ts, now.tv_nsec / 1000000);
}

/* Appends s to out (at *n, at most cap - 2 bytes used), control characters as \xNN. */
static void put_escaped(char *out, size_t *n, size_t cap, const char *s, size_t len, bool quoted)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len && *n + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			out[(*n)++] = '\\';
			if (c == '\n' || c == '\t') {
				out[(*n)++] = c == '\n' ? 'n' : 't';
				continue;
			}
			out[(*n)++] = 'x';
			out[(*n)++] = hex[c >> 4];
			out[(*n)++] = hex[c & 15];
		} else if (quoted && (c == '"' || c == '\\')) {
			out[(*n)++] = '\\';
			out[(*n)++] = (char)c;
		} else {
			out[(*n)++] = (char)c;
		}
	}
}

/*
 * A copy of s[0..len) that is valid UTF-8 (json-c passes bytes through),
 * each invalid byte replaced by U+FFFD.  NULL if out of memory.
 */
static char *utf8_clean(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(len * 3 + 1);
	size_t n = 0, i = 0;

	if (!out)
		return NULL;
	while (i < len) {
		unsigned char c = p[i];
		size_t need = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
			    : (c & 0xf8) == 0xf0 ? 3 : 4;
		bool ok = need < 4;

		for (size_t k = 1; ok && k <= need; k++)
			ok = i + k < len && (p[i + k] & 0xc0) == 0x80;
		/* No overlong forms, surrogates or code points past U+10FFFF. */
		if (ok && need == 1 && c < 0xc2)
			ok = false;
		if (ok && need == 2 && ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0)))
			ok = false;
		if (ok && need == 3 && ((c == 0xf0 && p[i + 1] < 0x90) || c > 0xf4 ||
					(c == 0xf4 && p[i + 1] >= 0x90)))
			ok = false;
		if (!ok) {
			memcpy(out + n, "\xef\xbf\xbd", 3);
			n += 3;
			i++;
			continue;
		}
		memcpy(out + n, p + i, need + 1);
		n += need + 1;
		i += need + 1;
	}
	out[n] = '\0';
	return out;
}

static void json_set(json_object *o, const char *key, const char *val, size_t vlen)
{
	char *v = utf8_clean(val, vlen);

	if (!v)
		return;
	json_object_object_add(o, key, json_object_new_string(v));
	free(v);
}

/* A caller's field: its key never replaces time, level or msg (it gets a '_' in front). */
static void json_add(json_object *o, const char *key, size_t klen, const char *val, size_t vlen)
{
	bool reserved = (klen == 4 && !memcmp(key, "time", 4)) ||
			(klen == 5 && !memcmp(key, "level", 5)) || (klen == 3 && !memcmp(key, "msg", 3));
	char k[64];

	snprintf(k, sizeof(k), "%s%.*s", reserved ? "_" : "", (int)(klen < 60 ? klen : 60), key);
	json_set(o, k, val, vlen);
}

static void emit_json(json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	char *line = malloc(n + 2);

	if (!line)
		return;
	memcpy(line, s, n);
	line[n++] = '\n';
	emit(line, n);
	free(line);
}

static json_object *json_line(enum log_level level)
{
	json_object *o = json_object_new_object();
	char ts[40];

	timestamp(ts, sizeof(ts));
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "level", json_object_new_string(level_names[level]));
	return o;
}

/* Whether p starts a key=value pair: [A-Za-z0-9_.-]+ then '='. */
static bool at_pair(const char *p)
{
	const char *k = p;

	while ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
	       *k == '_' || *k == '.' || *k == '-')
		k++;
	return k > p && *k == '=';
}

/*
 * The end of a quoted value starting after p's opening quote: a quote at
 * the end, or before spaces and the next key=.  Callers do not escape
 * quotes inside values, so a quote anywhere else is part of the value.
 */
static const char *quoted_end(const char *p)
{
	const char *q = p, *last = NULL;

	while ((q = strchr(q, '"'))) {
		const char *n = q + 1;

		last = q;
		while (*n == ' ')
			n++;
		if (!*n || (n > q + 1 && at_pair(n)))
			return q;
		q++;
	}
	return last;
}

/* The text of log_msg() as JSON: "msg" key=value key="value" ... */
static void json_from_text(enum log_level level, const char *s)
{
	json_object *o = json_line(level);
	const char *p = s, *q;

	if (*p == '"' && (q = quoted_end(p + 1))) {
		json_set(o, "msg", p + 1, (size_t)(q - p - 1));
		p = q + 1;
	} else {
		/* An unquoted message runs up to the first " key=" (or the end). */
		for (q = strchr(p, ' '); q && !at_pair(q + 1); q = strchr(q + 1, ' '))
			;
		json_set(o, "msg", p, q ? (size_t)(q - p) : strlen(p));
		p = q ? q : p + strlen(p);
	}
	for (;;) {
		const char *key, *eq;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		key = p;
		eq = p;
		while ((*eq >= 'a' && *eq <= 'z') || (*eq >= 'A' && *eq <= 'Z') ||
		       (*eq >= '0' && *eq <= '9') || *eq == '_' || *eq == '.' || *eq == '-')
			eq++;
		if (*eq != '=' || eq == key) {
			json_add(o, "rest", 4, p, strlen(p));
			break;
		}
		p = eq + 1;
		if (*p == '"' && (q = quoted_end(p + 1))) {
			json_add(o, key, (size_t)(eq - key), p + 1, (size_t)(q - p - 1));
			p = q + 1;
		} else {
			q = strchr(p, ' ');
			if (!q)
				q = p + strlen(p);
			json_add(o, key, (size_t)(eq - key), p, (size_t)(q - p));
			p = q;
		}
	}
	emit_json(o);
	json_object_put(o);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char text[LINE_MAX_BYTES], line[LINE_MAX_BYTES];
	size_t n, len;
	va_list ap;
	int r;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	r = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	len = (size_t)r < sizeof(text) ? (size_t)r : sizeof(text) - 1;
	if (log_cfg.json) {
		json_from_text(level, text);
		return;
	}
	n = (size_t)snprintf(line, sizeof(line), "time=");
	n += timestamp(line + n, sizeof(line) - n);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " level=%s msg=", level_names[level]);
	put_escaped(line, &n, sizeof(line), text, len, false);
	line[n++] = '\n';
	emit(line, n);
}

/* A text value needs quotes when it is empty or holds a space, quote, '=' or control. */
static bool needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == '"' || *v == '=' || *v == '\\' || *v == 0x7f)
			return true;
	return false;
}

void log_kv(enum log_level level, const char *msg, const struct log_kv *kv, size_t nkv)
{
	char line[LINE_MAX_BYTES];
	size_t n;

	if (!log_enabled(level))
		return;
	if (log_cfg.json) {
		json_object *o = json_line(level);

		json_set(o, "msg", msg, strlen(msg));
		for (size_t i = 0; i < nkv; i++)
			if (kv[i].value)
				json_add(o, kv[i].key, strlen(kv[i].key), kv[i].value,
					 strlen(kv[i].value));
		emit_json(o);
		json_object_put(o);
		return;
	}
	n = (size_t)snprintf(line, sizeof(line), "time=");
	n += timestamp(line + n, sizeof(line) - n);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " level=%s msg=\"", level_names[level]);
	put_escaped(line, &n, sizeof(line), msg, strlen(msg), true);
	line[n++] = '"';
	for (size_t i = 0; i < nkv && n + 8 < sizeof(line); i++) {
		bool q;

		if (!kv[i].value)
			continue;
		q = needs_quotes(kv[i].value);
		line[n++] = ' ';
		put_escaped(line, &n, sizeof(line), kv[i].key, strlen(kv[i].key), false);
		line[n++] = '=';
		if (q)
			line[n++] = '"';
		put_escaped(line, &n, sizeof(line), kv[i].value, strlen(kv[i].value), q);
		if (q && n < sizeof(line) - 2)
			line[n++] = '"';
	}
	if (n > sizeof(line) - 1)
		n = sizeof(line) - 1;
	line[n++] = '\n';
	emit(line, n);
}
