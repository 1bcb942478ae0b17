// SPDX-License-Identifier: Apache-2.0
/*
 * Tests of X.509-SVID minting (user/x509svid.c): every SVID is checked by
 * selftests/e2e/check_x509svid.py (python3-cryptography, an independent
 * reading of the X509-SVID spec) and by `openssl verify`; the checker is
 * itself shown to fail on certificates that break the rules.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/pem.h>
#include "ca.h"
#include "cleanup.h"
#include "ossl.h"
#include "test.h"
#include "x509svid.h"

#define TD "example.org"
#define PY "/usr/bin/python3"

static void rmrf(char **dir)
{
	char cmd[512];

	if (!*dir)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", *dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", *dir);
	free(*dir);
}
#define _cleanup_tmpdir_ _cleanup_(rmrf)

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/attestd-test-svid-XXXXXX";

	return mkdtemp(tmpl) ? strdup(tmpl) : NULL;
}

static void ca_freep(struct ca **ca)
{
	ca_free(*ca);
}
#define _cleanup_ca_ _cleanup_(ca_freep)

static void x509svid_freep(struct x509svid **s)
{
	x509svid_free(*s);
}
#define _cleanup_svid_ _cleanup_(x509svid_freep)

static void bundle_unrefp(struct bundle **b)
{
	bundle_unref(*b);
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *catpath(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static int write_file(const char *path, const void *data, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	return fwrite(data, 1, len, f) == len ? 0 : -EIO;
}

static int write_der_as_pem(const char *path, const unsigned char *der, size_t len)
{
	const unsigned char *p = der, *end = der + len;
	_cleanup_fclose_ FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	while (p < end) {
		_cleanup_x509_ X509 *c = d2i_X509(NULL, &p, end - p);

		if (!c || !PEM_write_X509(f, c))
			return -EINVAL;
	}
	return 0;
}

/* The checker script: relative to the working directory (make test runs
 * from the top), else to this binary (build[/san]/selftests/test_unit). */
static char *find_checker(void)
{
	static const char *const rel[] = { "selftests/e2e/check_x509svid.py",
					   "../../selftests/e2e/check_x509svid.py",
					   "../../../selftests/e2e/check_x509svid.py" };
	char exe[PATH_MAX], *p;
	ssize_t n;

	if (access(rel[0], R_OK) == 0)
		return strdup(rel[0]);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	for (size_t i = 1; i < ARRAY_SIZE(rel); i++) {
		if (asprintf(&p, "%s/%s", exe, rel[i]) < 0)
			return NULL;
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static bool have_python_cryptography(void)
{
	return run(PY " -c 'import cryptography.x509' 2>/dev/null") == 0;
}

/* Writes chain.pem, key.der and bundle.pem for svid into dir and runs the
 * checker on them; returns its exit status (0 all rules hold). */
static int check_svid(const char *dir, const struct x509svid *svid, struct bundle *b,
		      const char *extra)
{
	_cleanup_free_ char *checker = find_checker(), *chain = catpath(dir, "chain.pem"),
			    *key = catpath(dir, "key.der"), *bpath = catpath(dir, "bundle.pem"),
			    *pem = NULL, *cmd = NULL;

	if (!checker) {
		test_diag("check_x509svid.py not found");
		return -1;
	}
	if (write_der_as_pem(chain, svid->chain_der, svid->chain_der_len) ||
	    write_file(key, svid->key_der, svid->key_der_len) || bundle_x509_pem(b, &pem) ||
	    write_file(bpath, pem, strlen(pem)))
		return -1;
	if (asprintf(&cmd, PY " '%s' --chain '%s' --key '%s' --bundle '%s' %s > '%s/check.log' 2>&1",
		     checker, chain, key, bpath, extra ? extra : "", dir) < 0)
		return -1;
	int r = run(cmd);

	if (r != 0) {
		_cleanup_free_ char *log = catpath(dir, "check.log"), *show = NULL;

		if (asprintf(&show, "grep -v '^ok' '%s' | sed 's/^/# checker: /'", log) > 0)
			(void)!system(show);
	}
	return r;
}

static int openssl_verify(const char *dir, const struct x509svid *svid, struct bundle *b)
{
	_cleanup_free_ char *leaf = catpath(dir, "leaf.pem"), *inter = catpath(dir, "inter.pem"),
			    *bpath = catpath(dir, "bundle.pem"), *pem = NULL, *cmd = NULL;
	const unsigned char *rest = svid->chain_der + svid->cert_der_len;
	size_t nrest = svid->chain_der_len - svid->cert_der_len;

	if (write_der_as_pem(leaf, svid->cert_der, svid->cert_der_len) ||
	    write_der_as_pem(inter, rest, nrest) || bundle_x509_pem(b, &pem) ||
	    write_file(bpath, pem, strlen(pem)))
		return -1;
	if (asprintf(&cmd, "openssl verify -purpose sslclient -CAfile '%s' %s%s%s '%s' >/dev/null",
		     bpath, nrest ? "-untrusted '" : "", nrest ? inter : "", nrest ? "'" : "",
		     leaf) < 0)
		return -1;
	return run(cmd);
}

static struct ca_opts opts_for(const char *dir)
{
	return (struct ca_opts){ .data_dir = dir, .trust_domain = TD };
}

TEST(x509svid_passes_spec_checker_and_openssl_verify)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *svid = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	struct ca_opts o = opts_for(dir);
	const char *dns[] = { "web.example.org", "*.web.example.org" };

	if (!have_python_cryptography())
		SKIP(PY " has no python3-cryptography");
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/ns/prod/sa/web", dns, 2, 3600, 0, &svid));
	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_EQ(check_svid(dir, svid, b,
			     "--spiffe-id spiffe://" TD "/ns/prod/sa/web --trust-domain " TD),
		  0);
	ASSERT_EQ(openssl_verify(dir, svid, b), 0);
}

/* An upstream root made with the openssl CLI, as an operator would. */
static int make_root(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout root.key -out root.pem -subj /O=upstream/CN=root -days 2 "
		 "-addext basicConstraints=critical,CA:TRUE "
		 "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
		 dir);
	return run(cmd);
}

TEST(x509svid_upstream_passes_spec_checker)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *root_pem = NULL, *root_key = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *svid = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	struct ca_opts o = opts_for(dir);

	if (!have_python_cryptography())
		SKIP(PY " has no python3-cryptography");
	if (make_root(dir) != 0)
		SKIP("openssl CLI cannot make a root");
	root_pem = catpath(dir, "root.pem");
	root_key = catpath(dir, "root.key");
	o.upstream_cert = root_pem;
	o.upstream_key = root_key;
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/db", NULL, 0, 600, 0, &svid));
	ASSERT_GT(svid->chain_der_len, svid->cert_der_len);
	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_EQ(check_svid(dir, svid, b, "--spiffe-id spiffe://" TD "/db"), 0);
	ASSERT_EQ(openssl_verify(dir, svid, b), 0);
}

/* The checker must not pass everything: a CA certificate, a key that is not
 * the leaf's, and the wrong SPIFFE ID are all refused. */
TEST(x509svid_checker_rejects_bad_svids)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *a = NULL, *b2 = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	struct ca_opts o = opts_for(dir);
	struct ca_x509_signer s;
	struct x509svid fake;
	_cleanup_free_ unsigned char *ca_der = NULL, *ca_key = NULL;
	int len;

	if (!have_python_cryptography())
		SKIP(PY " has no python3-cryptography");
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 600, 0, &a));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/b", NULL, 0, 600, 0, &b2));

	/* The CA certificate and key posing as an SVID. */
	ASSERT_OK(ca_x509_signer_get(ca, &s));
	len = i2d_X509(s.cert, NULL);
	ca_der = malloc(len);
	{
		unsigned char *p = ca_der;

		i2d_X509(s.cert, &p);
	}
	{
		PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(s.key);
		unsigned char *der = NULL;
		int klen = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);

		ca_key = malloc(klen);
		memcpy(ca_key, der, klen);
		fake = (struct x509svid){ .chain_der = ca_der,
					  .chain_der_len = len,
					  .cert_der = ca_der,
					  .cert_der_len = len,
					  .key_der = ca_key,
					  .key_der_len = klen };
		OPENSSL_free(der);
		PKCS8_PRIV_KEY_INFO_free(p8);
	}
	ca_x509_signer_put(&s);
	ASSERT_EQ(check_svid(dir, &fake, b, NULL), 1);

	/* a's certificate with b's key. */
	fake = *a;
	fake.key_der = b2->key_der;
	fake.key_der_len = b2->key_der_len;
	ASSERT_EQ(check_svid(dir, &fake, b, NULL), 1);

	/* Right SVID, wrong expectation. */
	ASSERT_EQ(check_svid(dir, a, b, "--spiffe-id spiffe://" TD "/b"), 1);
	ASSERT_EQ(check_svid(dir, a, b, NULL), 0);
}

TEST(x509svid_fields)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *svid = NULL;
	_cleanup_x509_ X509 *leaf = NULL;
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_bn_ BIGNUM *serial = NULL;
	struct ca_opts o = opts_for(dir);
	const char *dns[] = { "api.example.org" };
	const unsigned char *p;
	time_t now = time(NULL);
	GENERAL_NAMES *san;
	int uris = 0, dnss = 0;
	PKCS8_PRIV_KEY_INFO *p8;

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/api", dns, 1, 120, now, &svid));
	ASSERT_STREQ(svid->spiffe_id, "spiffe://" TD "/api");
	ASSERT_EQ(svid->not_before, now - X509SVID_BACKDATE);
	ASSERT_EQ(svid->expires_at, now + 120);
	/* Self-signed CA: the chain is the leaf alone, the root not in it. */
	ASSERT_EQ(svid->chain_der_len, svid->cert_der_len);
	ASSERT_TRUE(memcmp(svid->chain_der, svid->cert_der, svid->cert_der_len) == 0);

	p = svid->cert_der;
	leaf = d2i_X509(NULL, &p, (long)svid->cert_der_len);
	ASSERT_NOT_NULL(leaf);
	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	ASSERT_FALSE(BN_is_negative(serial));
	ASSERT_GT(BN_num_bits(serial), 64);
	san = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	ASSERT_NOT_NULL(san);
	for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
		int type = sk_GENERAL_NAME_value(san, i)->type;

		uris += type == GEN_URI;
		dnss += type == GEN_DNS;
	}
	GENERAL_NAMES_free(san);
	ASSERT_EQ(uris, 1);
	ASSERT_EQ(dnss, 1);
	ASSERT_TRUE(X509_get_extension_flags(leaf) & EXFLAG_BCONS);
	ASSERT_FALSE(X509_check_ca(leaf));
	ASSERT_EQ(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	ASSERT_EQ(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);

	/* PKCS#8, and the pair of the certificate's key. */
	p = svid->key_der;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)svid->key_der_len);
	ASSERT_NOT_NULL(p8);
	ASSERT_TRUE(p == svid->key_der + svid->key_der_len);
	key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	ASSERT_NOT_NULL(key);
	ASSERT_EQ(EVP_PKEY_eq(key, X509_get0_pubkey(leaf)), 1);
	ASSERT_EQ(EVP_PKEY_get_bits(key), 256);
	/* x509svid.c lays the PKCS#8 out itself: it must be OpenSSL's, byte for byte. */
	{
		PKCS8_PRIV_KEY_INFO *again = EVP_PKEY2PKCS8(key);
		unsigned char *der = NULL;
		int len = again ? i2d_PKCS8_PRIV_KEY_INFO(again, &der) : -1;
		bool same = len == (int)svid->key_der_len && memcmp(der, svid->key_der, len) == 0;

		PKCS8_PRIV_KEY_INFO_free(again);
		OPENSSL_free(der);
		ASSERT_EQ(len, svid->key_der_len);
		ASSERT_TRUE(same);
	}
}

TEST(x509svid_ttl_capped_at_ca_not_after)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *svid = NULL;
	time_t t0 = time(NULL);
	struct ca_opts o = { .data_dir = dir, .trust_domain = TD, .ca_ttl = 600, .now = t0 };
	struct ca_x509_signer s;

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(ca_x509_signer_get(ca, &s));
	ASSERT_EQ(s.not_after, t0 + 600);
	ca_x509_signer_put(&s);
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 3600, t0 + 100, &svid));
	ASSERT_EQ(svid->expires_at, t0 + 600);
	x509svid_free(TAKE_PTR(svid));
	/* ttl 0 is the default hour, capped the same way. */
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 0, t0 + 100, &svid));
	ASSERT_EQ(svid->expires_at, t0 + 600);
	x509svid_free(TAKE_PTR(svid));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 60, t0 + 100, &svid));
	ASSERT_EQ(svid->expires_at, t0 + 160);
	x509svid_free(TAKE_PTR(svid));
	/* A CA past its end (no tick ran) signs nothing. */
	ASSERT_ERR(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 60, t0 + 600, &svid),
		   -EKEYEXPIRED);
}

TEST(x509svid_rejects_bad_input)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	struct x509svid *svid = NULL;
	struct ca_opts o = opts_for(dir);
	static const char *const bad_ids[] = {
		"spiffe://" TD,		   /* the trust domain itself, no workload path */
		"spiffe://" TD "/",	   "spiffe://other.org/a", "spiffe://Example.org/a",
		"spiffe://" TD "/a//b",	   "spiffe://" TD "/../a", "https://" TD "/a",
		"spiffe://" TD "/a?b",	   "spiffe://" TD "/a%20b", "",
	};
	static const char *const bad_dns[] = { "", "a..b", "-", "-a.org", "a-.org", "a b", "a.", ".a", "é.org",
					       "*", "a.*.b" };

	ASSERT_OK(ca_open(&o, &ca));
	for (size_t i = 0; i < ARRAY_SIZE(bad_ids); i++) {
		int r = x509svid_mint(ca, bad_ids[i], NULL, 0, 60, 0, &svid);

		if (r != -EINVAL)
			FAIL("\"%s\": got %d, expected -EINVAL", bad_ids[i], r);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_dns); i++) {
		const char *d = bad_dns[i];
		int r = x509svid_mint(ca, "spiffe://" TD "/a", &d, 1, 60, 0, &svid);

		if (r != -EINVAL)
			FAIL("DNS \"%s\": got %d, expected -EINVAL", d, r);
	}
	ASSERT_ERR(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, -1, 0, &svid), -EINVAL);
	ASSERT_TRUE(svid == NULL);
}

TEST(x509svid_fresh_key_and_serial_each_time)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *a = NULL, *b = NULL;
	_cleanup_x509_ X509 *ca_ = NULL, *cb = NULL;
	struct ca_opts o = opts_for(dir);
	const unsigned char *p;

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 60, 0, &a));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 60, 0, &b));
	p = a->cert_der;
	ca_ = d2i_X509(NULL, &p, (long)a->cert_der_len);
	p = b->cert_der;
	cb = d2i_X509(NULL, &p, (long)b->cert_der_len);
	ASSERT_TRUE(ca_ && cb);
	ASSERT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca_), X509_get0_serialNumber(cb)), 0);
	ASSERT_NE(EVP_PKEY_eq(X509_get0_pubkey(ca_), X509_get0_pubkey(cb)), 1);
}

TEST(x509svid_pem_helpers)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *svid = NULL;
	_cleanup_free_ char *chain = NULL, *key = NULL;
	_cleanup_x509_ X509 *leaf = NULL;
	_cleanup_pkey_ EVP_PKEY *pkey = NULL;
	_cleanup_bio_ BIO *cb = NULL, *kb = NULL;
	struct ca_opts o = opts_for(dir);

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 60, 0, &svid));
	ASSERT_OK(x509svid_chain_pem(svid, &chain));
	ASSERT_OK(x509svid_key_pem(svid, &key));
	ASSERT_TRUE(strncmp(key, "-----BEGIN PRIVATE KEY-----", 27) == 0);
	cb = BIO_new_mem_buf(chain, -1);
	kb = BIO_new_mem_buf(key, -1);
	leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	pkey = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	ASSERT_TRUE(leaf && pkey);
	ASSERT_EQ(EVP_PKEY_eq(pkey, X509_get0_pubkey(leaf)), 1);
}

/* Not a benchmark (make bench will have one): a rate in the log, so that a
 * regression by an order of magnitude is visible in any test run. */
TEST(x509svid_mint_rate)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	struct ca_opts o = opts_for(dir);
	struct ca_x509_signer s;
	struct timespec a, b;
	double secs;
	int n = 0;

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(ca_x509_signer_get(ca, &s));
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		struct x509svid *svid;
		int r = x509svid_mint_with(&s, "spiffe://" TD "/bench", NULL, 0, 3600, 0, &svid);

		if (r) {
			ca_x509_signer_put(&s);
			FAIL("mint: %d", r);
		}
		x509svid_free(svid);
		n++;
		clock_gettime(CLOCK_MONOTONIC, &b);
		secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	} while (secs < 0.3);
	ca_x509_signer_put(&s);
	test_diag("%d X.509-SVIDs in %.3f s: %.0f/s on one thread", n, secs, n / secs);
	ASSERT_GT(n, 10);
}
