/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One line per event, key=value by default.  Callers pass a message and
 * then key=value pairs already formatted; never key material or tokens.
 */
#ifndef ATTESTD_LOG_H
#define ATTESTD_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Returns 0 or -EINVAL for an unknown name. */
int log_level_parse(const char *name, enum log_level *ret);
/*
 * json: each line is one JSON object {"time","level","msg",key...} (json-c
 * does the escaping); else time=... level=... msg="..." key=value.  Either
 * way a line is one event: control characters in what callers pass never
 * start another line.
 */
void log_setup(enum log_level level, bool json);
bool log_enabled(enum log_level level);
/*
 * fmt is a quoted message then key=value pairs ("\"text\" pid=%d
 * error=\"%s\""); in JSON the pairs become string members.
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One key and its value for log_kv(); NULL values are left out. */
struct log_kv {
	const char *key;
	const char *value;
};
/*
 * A message and fields whose values may hold anything (paths, names a
 * workload chose): quoted and escaped as needed in text, strings in JSON.
 */
void log_kv(enum log_level level, const char *msg, const struct log_kv *kv, size_t n);
/* Lines go to fd (stderr by default); returns the previous one.  For tests. */
int log_set_fd(int fd);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
