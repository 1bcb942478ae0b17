// SPDX-License-Identifier: Apache-2.0
/*
 * jwtsvid_validate on arbitrary tokens against a fixed bundle set (this
 * trust domain's JWT key, made at start in a temporary CA).  Input byte 0
 * chooses: even, the rest is the token; odd, the rest edits a token that
 * is valid (pairs of offset, byte), to reach past the signature check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bundle.h"
#include "ca.h"
#include "fuzz.h"
#include "jwtsvid.h"
#include "log.h"

static struct bundle_set *set;
static char *valid;
static char dir[64] = "/tmp/attestd-fuzz-jwt.XXXXXX";

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ca_opts o = {.data_dir = dir, .trust_domain = "example.org"};
	const char *aud[] = {"fuzz"};
	struct bundle *b = NULL;
	struct ca *ca = NULL;

	log_setup(LOG_LVL_ERROR, false);
	if (!mkdtemp(dir) || ca_open(&o, &ca) || ca_tick(ca, 0, NULL) || bundle_set_new(&set) ||
	    ca_bundle(ca, 1, &b) || bundle_set_put(set, b) ||
	    jwtsvid_mint(ca, "spiffe://example.org/w", aud, 1, 3600, 0, &valid)) {
		fprintf(stderr, "fuzz_jwt: cannot make a CA in %s\n", dir);
		abort();
	}
	atexit(cleanup);
	bundle_unref(b);
	ca_free(ca);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwtsvid_claims *c = NULL;
	const char *why = NULL;
	char *tok;
	int r;

	if (!size)
		return 0;
	if (data[0] & 1) {
		size_t len = strlen(valid);

		tok = strdup(valid);
		for (size_t i = 1; tok && i + 2 < size; i += 3) {
			size_t at = ((size_t)data[i] << 8 | data[i + 1]) % (len + 1);

			if (data[i + 2] == 0) /* cut here */
				tok[at] = '\0', len = at;
			else if (at < len)
				tok[at] = (char)data[i + 2];
		}
	} else {
		tok = fuzz_cstr(data + 1, size - 1);
	}
	if (!tok)
		return 0;
	r = jwtsvid_validate(set, tok, "fuzz", 0, &c, &why);
	if (r == 0) {
		if (!c)
			__builtin_trap();
		jwtsvid_claims_free(c);
	}
	free(tok);
	return 0;
}
