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
void log_setup(enum log_level level, bool json);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
