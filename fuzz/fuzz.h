/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the libFuzzer targets in fuzz/ share: a NUL-terminated copy of the
 * input (most parsers take C strings), freed by the caller.
 */
#ifndef ATTESTD_FUZZ_H
#define ATTESTD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
