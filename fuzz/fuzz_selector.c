// SPDX-License-Identifier: Apache-2.0
/* selector_parse, and the set operations entries use, on arbitrary bytes. */
#include <string.h>
#include "fuzz.h"
#include "selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), err[256];
	struct selector sel;

	if (!s)
		return 0;
	if (selector_parse(s, &sel, err, sizeof(err)) == 0) {
		if (sel.type != s || sel.type_len + 1 + sel.key_len + 1 + sel.value_len != strlen(s))
			__builtin_trap();
		(void)selector_type_known(sel.type);
	}
	(void)text_is_clean_utf8(s, size);
	/* the input as a newline-separated set: normalize, compare with itself */
	{
		char *v[64], *copy = strdup(s), *save = NULL, *tok;
		size_t n = 0;

		for (tok = copy ? strtok_r(copy, "\n", &save) : NULL; tok && n < 64;
		     tok = strtok_r(NULL, "\n", &save))
			v[n++] = strdup(tok);
		selector_set_normalize(v, &n);
		if (!selector_set_equal(v, n, v, n))
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(copy);
	}
	free(s);
	return 0;
}
