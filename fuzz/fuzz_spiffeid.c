// SPDX-License-Identifier: Apache-2.0
/* spiffeid_parse and trust_domain_validate on arbitrary bytes. */
#include <string.h>
#include "fuzz.h"
#include "spiffeid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), err[256];
	struct spiffeid id;

	if (!s)
		return 0;
	if (spiffeid_parse(s, &id, err, sizeof(err)) == 0) {
		/* the parts lie inside the input, and a parsed ID is in its own trust domain */
		if (id.td < s || id.td + id.td_len > s + strlen(s) || id.path < s ||
		    id.path + id.path_len > s + strlen(s))
			__builtin_trap();
		char td[256];

		if (id.td_len < sizeof(td)) {
			memcpy(td, id.td, id.td_len);
			td[id.td_len] = '\0';
			if (!spiffeid_in_trust_domain(&id, td))
				__builtin_trap();
		}
	}
	(void)trust_domain_validate(s, err, sizeof(err));
	free(s);
	return 0;
}
