// SPDX-License-Identifier: Apache-2.0
/*
 * bundle_parse_spiffe on arbitrary SPIFFE bundles (JWKS with x509-svid and
 * jwt-svid keys, from federation), then everything a parsed bundle serves.
 */
#include "bundle.h"
#include "fuzz.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_setup(LOG_LVL_ERROR, false);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle *b = NULL, *b2 = NULL;
	const unsigned char *der;
	const char *j;
	char err[256], *pem = NULL;
	size_t len;

	if (bundle_parse_spiffe("example.org", (const char *)data, size, &b, err, sizeof(err)))
		return 0;
	bundle_x509_der(b, &der, &len);
	bundle_jwks(b, &j, &len);
	bundle_spiffe_json(b, &j, &len);
	/* what we serve parses back to the same keys */
	if (bundle_parse_spiffe("example.org", j, len, &b2, err, sizeof(err)) == 0 &&
	    !bundle_same_keys(b, b2))
		__builtin_trap();
	for (int i = 0; bundle_jwt_at(b, (size_t)i); i++)
		(void)bundle_jwt_find(b, bundle_jwt_at(b, (size_t)i)->kid);
	if (bundle_x509_pem(b, &pem) == 0)
		free(pem);
	bundle_unref(b2);
	bundle_unref(b);
	return 0;
}
