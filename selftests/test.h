/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small test harness in the manner of selftests/bpf's test_progs: tests
 * register themselves by name, assertions print what was expected and what
 * was found, and a test may skip with a reason.  Output is TAP.
 */
#ifndef ATTESTD_TEST_H
#define ATTESTD_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <inttypes.h>

typedef void (*test_fn)(void);

void test_register(const char *name, test_fn fn);
/* Marks the running test failed; the caller returns from the test. */
void test_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a diagnostic line ("# ...") in the TAP stream. */
void test_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool test_failed(void);

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		test_register(#name, test_##name);                                                 \
	}                                                                                          \
	static void test_##name(void)

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		test_fail_at(__FILE__, __LINE__, __VA_ARGS__);                                     \
		return;                                                                            \
	} while (0)

#define SKIP(...)                                                                                  \
	do {                                                                                       \
		test_skip(__VA_ARGS__);                                                            \
		return;                                                                            \
	} while (0)

#define ASSERT_TRUE(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			FAIL("expected true: %s", #cond);                                          \
	} while (0)

#define ASSERT_FALSE(cond)                                                                         \
	do {                                                                                       \
		if (cond)                                                                          \
			FAIL("expected false: %s", #cond);                                         \
	} while (0)

#define ASSERT_EQ(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b)                                                                      \
			FAIL("%s == %s: got %lld, expected %lld", #a, #b, _a, _b);                 \
	} while (0)

#define ASSERT_NE(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a == _b)                                                                      \
			FAIL("%s != %s: both %lld", #a, #b, _a);                                   \
	} while (0)

#define ASSERT_GT(a, b)                                                                            \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (!(_a > _b))                                                                    \
			FAIL("%s > %s: got %lld, limit %lld", #a, #b, _a, _b);                     \
	} while (0)

/* A call returning 0 or a negative errno. */
#define ASSERT_OK(expr)                                                                            \
	do {                                                                                       \
		long long _r = (long long)(expr);                                                  \
		if (_r != 0)                                                                       \
			FAIL("%s: got %lld (%s), expected 0", #expr, _r, strerror((int)-_r));      \
	} while (0)

#define ASSERT_ERR(expr, err)                                                                      \
	do {                                                                                       \
		long long _r = (long long)(expr);                                                  \
		if (_r != (err))                                                                   \
			FAIL("%s: got %lld, expected %lld", #expr, _r, (long long)(err));          \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                         \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b) != 0)                                             \
			FAIL("%s == %s: got \"%s\", expected \"%s\"", #a, #b, _a ? _a : "(null)",  \
			     _b ? _b : "(null)");                                                  \
	} while (0)

#define ASSERT_NOT_NULL(p)                                                                         \
	do {                                                                                       \
		if (!(p))                                                                          \
			FAIL("%s: got NULL", #p);                                                  \
	} while (0)

#endif
