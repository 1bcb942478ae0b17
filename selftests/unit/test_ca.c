// SPDX-License-Identifier: Apache-2.0
/*
 * Tests of the trust domain CA (user/ca.c): creation, reload, refusal to
 * replace a CA it cannot read, file modes, the directory lock, upstream
 * mode checked with `openssl verify`, and rotation with overlap driven by
 * an injected clock, with SVIDs of both CAs verified at each step.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/pem.h>
#include "ca.h"
#include "cleanup.h"
#include "ossl.h"
#include "test.h"
#include "x509svid.h"

#define TD "example.org"

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
	char tmpl[] = "/tmp/attestd-test-ca-XXXXXX";

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
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) ? -errno : 0;
}

/* "name size mode first-bytes" for every file, sorted: equal strings mean
 * nothing in the directory was added, removed or rewritten. */
static char *dir_snapshot(const char *dir)
{
	struct dirent **ents;
	char *out = NULL;
	size_t outlen = 0;
	FILE *m = open_memstream(&out, &outlen);
	int n = scandir(dir, &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *p = catpath(dir, ents[i]->d_name);
		_cleanup_fclose_ FILE *f = NULL;
		struct stat st;
		int c;

		if (ents[i]->d_name[0] != '.' && p && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
			fprintf(m, "%s %lld %o ", ents[i]->d_name, (long long)st.st_size,
				st.st_mode & 07777);
			f = fopen(p, "r");
			while (f && (c = fgetc(f)) != EOF)
				fputc(c, m);
			fputc('\n', m);
		}
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
	fclose(m);
	return out;
}

static char *ca_dir(const char *data_dir)
{
	char *p;

	return asprintf(&p, "%s/ca/" TD, data_dir) < 0 ? NULL : p;
}

static int cert_der(X509 *c, unsigned char **ret)
{
	*ret = NULL;
	return i2d_X509(c, ret);
}

static X509 *first_cert(const unsigned char *der, size_t len, const unsigned char **rest)
{
	const unsigned char *p = der;
	X509 *c = d2i_X509(NULL, &p, (long)len);

	if (rest)
		*rest = p;
	return c;
}

/* X509_verify_cert of leaf against roots at time t. */
static int verify_at(STACK_OF(X509) *roots, X509 *leaf, STACK_OF(X509) *untrusted, time_t t)
{
	_cleanup_x509_store_ X509_STORE *store = X509_STORE_new();
	_cleanup_x509_store_ctx_ X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	for (int i = 0; i < sk_X509_num(roots); i++)
		X509_STORE_add_cert(store, sk_X509_value(roots, i));
	if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted))
		return 0;
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), t);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		test_diag("verify at %lld: %s", (long long)t,
			  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	return ok == 1;
}

static int verify_svid_at(struct bundle *b, const struct x509svid *svid, time_t t)
{
	_cleanup_x509_stack_ STACK_OF(X509) *roots = sk_X509_new_null();
	_cleanup_x509_stack_ STACK_OF(X509) *untrusted = sk_X509_new_null();
	const unsigned char *p = svid->chain_der, *end = p + svid->chain_der_len;
	_cleanup_x509_ X509 *leaf = first_cert(p, end - p, &p);

	for (int i = 0; i < bundle_x509_count(b); i++) {
		X509 *c = bundle_x509_at(b, i);

		X509_up_ref(c);
		sk_X509_push(roots, c);
	}
	while (p < end)
		sk_X509_push(untrusted, d2i_X509(NULL, &p, end - p));
	return leaf && verify_at(roots, leaf, untrusted, t);
}

static int count_state(struct ca *ca, bool jwt, enum ca_state st)
{
	_cleanup_free_ struct ca_authority_info *v = NULL;
	size_t n;
	int c = 0;

	if (ca_status(ca, &v, &n))
		return -1;
	for (size_t i = 0; i < n; i++)
		c += v[i].jwt == jwt && v[i].state == st;
	return c;
}

static int find_info(struct ca *ca, bool jwt, enum ca_state st, struct ca_authority_info *ret)
{
	_cleanup_free_ struct ca_authority_info *v = NULL;
	size_t n;

	if (ca_status(ca, &v, &n))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (v[i].jwt == jwt && v[i].state == st) {
			*ret = v[i];
			return 0;
		}
	}
	return -ENOENT;
}

static struct ca_opts opts_for(const char *dir, time_t now, int64_t ttl)
{
	return (struct ca_opts){ .data_dir = dir, .trust_domain = TD, .ca_ttl = ttl, .now = now };
}

TEST(ca_create_fresh)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_x509_stack_ STACK_OF(X509) *auth = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);
	struct ca_x509_signer s;
	X509 *c;
	BASIC_CONSTRAINTS *bc;
	ASN1_BIT_STRING *ku;
	GENERAL_NAMES *san;
	int crit;
	_cleanup_bn_ BIGNUM *serial = NULL;

	ASSERT_NOT_NULL(dir);
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_STREQ(ca_trust_domain(ca), TD);
	ASSERT_EQ(count_state(ca, false, CA_STATE_ACTIVE), 1);
	ASSERT_EQ(count_state(ca, true, CA_STATE_ACTIVE), 1);
	ASSERT_OK(ca_x509_authorities(ca, &auth));
	ASSERT_EQ(sk_X509_num(auth), 1);
	c = sk_X509_value(auth, 0);

	ASSERT_EQ(X509_self_signed(c, 1), 1);
	bc = X509_get_ext_d2i(c, NID_basic_constraints, &crit, NULL);
	ASSERT_NOT_NULL(bc);
	ASSERT_TRUE(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	ASSERT_EQ(crit, 1);
	ku = X509_get_ext_d2i(c, NID_key_usage, &crit, NULL);
	ASSERT_NOT_NULL(ku);
	ASSERT_EQ(crit, 1);
	ASSERT_TRUE(ASN1_BIT_STRING_get_bit(ku, 5)); /* keyCertSign */
	ASSERT_TRUE(ASN1_BIT_STRING_get_bit(ku, 6)); /* cRLSign */
	ASSERT_FALSE(ASN1_BIT_STRING_get_bit(ku, 0)); /* no digitalSignature on a CA */
	ASN1_BIT_STRING_free(ku);
	ASSERT_NOT_NULL(X509_get0_subject_key_id(c));
	ASSERT_NOT_NULL(X509_get0_authority_key_id(c));
	san = X509_get_ext_d2i(c, NID_subject_alt_name, &crit, NULL);
	ASSERT_NOT_NULL(san);
	{
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
		bool ok = sk_GENERAL_NAME_num(san) == 1 && gn->type == GEN_URI &&
			  strcmp((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
				 "spiffe://" TD) == 0;

		GENERAL_NAMES_free(san);
		ASSERT_TRUE(ok);
	}
	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
	ASSERT_FALSE(BN_is_negative(serial));
	ASSERT_GT(BN_num_bits(serial), 64);
	ASSERT_TRUE(BN_num_bytes(serial) <= 16);
	ASSERT_OK(ca_x509_signer_get(ca, &s));
	ASSERT_EQ(sk_X509_num(s.chain), 0); /* self-signed: nothing after the leaf */
	ASSERT_TRUE(EVP_PKEY_eq(s.key, X509_get0_pubkey(c)) == 1);
	ca_x509_signer_put(&s);
}

TEST(ca_reopen_loads_same_ca)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_(OPENSSL_freep) unsigned char *der1 = NULL, *der2 = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);
	struct ca_x509_signer s;
	struct ca_jwt_signer j;
	char kid[CA_KID_LEN + 1];
	int len1, len2;

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(ca_x509_signer_get(ca, &s));
	len1 = cert_der(s.cert, &der1);
	ca_x509_signer_put(&s);
	ASSERT_OK(ca_jwt_signer_get(ca, &j));
	ASSERT_EQ(strlen(j.kid), CA_KID_LEN);
	snprintf(kid, sizeof(kid), "%s", j.kid);
	ca_jwt_signer_put(&j);
	ca_free(TAKE_PTR(ca));

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(ca_x509_signer_get(ca, &s));
	len2 = cert_der(s.cert, &der2);
	ca_x509_signer_put(&s);
	ASSERT_EQ(len1, len2);
	ASSERT_TRUE(len1 > 0 && memcmp(der1, der2, len1) == 0);
	ASSERT_OK(ca_jwt_signer_get(ca, &j));
	ASSERT_STREQ(j.kid, kid);
	ca_jwt_signer_put(&j);
}

TEST(ca_files_are_0600_dir_0700)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *cdir = ca_dir(dir);
	_cleanup_ca_ struct ca *ca = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);
	struct dirent **ents;
	struct stat st;
	int n, files = 0;

	umask(022); /* the usual umask, which alone would make files 0644 */
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_EQ(stat(cdir, &st), 0);
	ASSERT_EQ(st.st_mode & 07777, 0700);
	n = scandir(cdir, &ents, NULL, alphasort);
	ASSERT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *p = catpath(cdir, ents[i]->d_name);
		bool is_file = stat(p, &st) == 0 && S_ISREG(st.st_mode);
		unsigned mode = st.st_mode & 07777;
		char name[256];

		snprintf(name, sizeof(name), "%s", ents[i]->d_name);
		free(ents[i]);
		if (!is_file)
			continue;
		files++;
		if (mode != 0600) {
			for (int k = i + 1; k < n; k++)
				free(ents[k]);
			free(ents);
			FAIL("%s: mode %o, expected 600", name, mode);
		}
	}
	free(ents);
	/* x509-1.key, x509-1.crt, jwt-2.key, state.json, lock */
	ASSERT_EQ(files, 5);
}

TEST(ca_corrupt_key_refused_nothing_written)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *cdir = ca_dir(dir), *key = NULL, *before = NULL, *after = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);
	static const char junk[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";

	ASSERT_OK(ca_open(&o, &ca));
	ca_free(TAKE_PTR(ca));
	key = catpath(cdir, "x509-1.key");
	ASSERT_OK(write_file(key, junk, sizeof(junk) - 1));
	before = dir_snapshot(cdir);
	ASSERT_ERR(ca_open(&o, &ca), -EBADMSG);
	ASSERT_TRUE(ca == NULL);
	after = dir_snapshot(cdir);
	ASSERT_STREQ(after, before);

	/* Truncated to nothing, as a crash of a careless writer would leave it. */
	ASSERT_OK(write_file(key, "", 0));
	free(before);
	before = dir_snapshot(cdir);
	ASSERT_ERR(ca_open(&o, &ca), -EBADMSG);
	free(after);
	after = dir_snapshot(cdir);
	ASSERT_STREQ(after, before);
}

TEST(ca_corrupt_state_or_missing_state_refused)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *cdir = ca_dir(dir), *state = NULL, *before = NULL, *after = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);

	ASSERT_OK(ca_open(&o, &ca));
	ca_free(TAKE_PTR(ca));
	state = catpath(cdir, "state.json");
	ASSERT_OK(write_file(state, "{\"version\":1,", 13));
	before = dir_snapshot(cdir);
	ASSERT_ERR(ca_open(&o, &ca), -EBADMSG);
	after = dir_snapshot(cdir);
	ASSERT_STREQ(after, before);

	/* Keys without a state file: someone's CA, not an empty directory. */
	ASSERT_EQ(unlink(state), 0);
	free(before);
	before = dir_snapshot(cdir);
	ASSERT_ERR(ca_open(&o, &ca), -EBADMSG);
	free(after);
	after = dir_snapshot(cdir);
	ASSERT_STREQ(after, before);
}

TEST(ca_key_not_matching_cert_refused)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *cdir = ca_dir(dir), *key = NULL, *pem = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_pkey_ EVP_PKEY *other = EVP_EC_gen("P-256");
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
	struct ca_opts o = opts_for(dir, 0, 0);
	char *data;
	long len;

	ASSERT_OK(ca_open(&o, &ca));
	ca_free(TAKE_PTR(ca));
	ASSERT_TRUE(PEM_write_bio_PrivateKey(bio, other, NULL, NULL, 0, NULL, NULL));
	len = BIO_get_mem_data(bio, &data);
	key = catpath(cdir, "x509-1.key");
	ASSERT_OK(write_file(key, data, len));
	ASSERT_ERR(ca_open(&o, &ca), -EKEYREJECTED);
}

TEST(ca_directory_lock)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL, *ca2 = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_ERR(ca_open(&o, &ca2), -EBUSY);
}

TEST(ca_bad_options)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);

	o.trust_domain = "Example.org";
	ASSERT_ERR(ca_open(&o, &ca), -EINVAL);
	o.trust_domain = "spiffe://example.org";
	ASSERT_ERR(ca_open(&o, &ca), -EINVAL);
	o = opts_for(dir, 0, 3);
	ASSERT_ERR(ca_open(&o, &ca), -EINVAL);
	o = opts_for(dir, 0, 0);
	o.upstream_cert = "/nonexistent";
	ASSERT_ERR(ca_open(&o, &ca), -EINVAL);
}

/* An upstream root made with the openssl CLI, as an operator would. */
static int make_root(const char *dir, const char *name)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout %s.key -out %s.pem -subj /O=upstream/CN=%s -days 2 "
		 "-addext basicConstraints=critical,CA:TRUE "
		 "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
		 dir, name, name, name);
	return run(cmd);
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

TEST(ca_upstream_chain_verifies_with_openssl)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *root_pem = NULL, *root_key = NULL, *leaf = NULL, *inter = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *svid = NULL;
	_cleanup_x509_stack_ STACK_OF(X509) *auth = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	_cleanup_x509_ X509 *root = NULL, *leaf_cert = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);
	struct ca_x509_signer s;
	const unsigned char *rest;
	char cmd[2048];
	FILE *f;

	if (make_root(dir, "root") != 0)
		SKIP("openssl CLI cannot make a root");
	root_pem = catpath(dir, "root.pem");
	root_key = catpath(dir, "root.key");
	f = fopen(root_pem, "r");
	ASSERT_NOT_NULL(f);
	root = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ASSERT_NOT_NULL(root);
	o.upstream_cert = root_pem;
	o.upstream_key = root_key;
	ASSERT_OK(ca_open(&o, &ca));

	/* The bundle is the upstream root, not our intermediate. */
	ASSERT_OK(ca_x509_authorities(ca, &auth));
	ASSERT_EQ(sk_X509_num(auth), 1);
	ASSERT_EQ(X509_cmp(sk_X509_value(auth, 0), root), 0);
	ASSERT_OK(ca_x509_signer_get(ca, &s));
	ASSERT_EQ(sk_X509_num(s.chain), 1);
	ASSERT_EQ(X509_check_issued(root, s.cert), X509_V_OK);
	ASSERT_TRUE(X509_get0_notAfter(s.cert) != NULL &&
		    ASN1_TIME_compare(X509_get0_notAfter(s.cert), X509_get0_notAfter(root)) <= 0);
	ca_x509_signer_put(&s);

	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/workload", NULL, 0, 600, 0, &svid));
	leaf_cert = first_cert(svid->chain_der, svid->chain_der_len, &rest);
	ASSERT_NOT_NULL(leaf_cert);
	/* leaf then our intermediate; the root is not in the chain */
	ASSERT_EQ((size_t)(rest - svid->chain_der), svid->cert_der_len);
	ASSERT_GT(svid->chain_der_len, svid->cert_der_len);
	leaf = catpath(dir, "leaf.pem");
	inter = catpath(dir, "intermediate.pem");
	ASSERT_OK(write_der_as_pem(leaf, svid->cert_der, svid->cert_der_len));
	ASSERT_OK(write_der_as_pem(inter, rest, svid->chain_der + svid->chain_der_len - rest));
	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' -untrusted '%s' '%s' >/dev/null",
		 root_pem, inter, leaf);
	ASSERT_EQ(run(cmd), 0);
	/* Without the intermediate the leaf must not verify against the root. */
	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' '%s' >/dev/null 2>&1", root_pem,
		 leaf);
	ASSERT_NE(run(cmd), 0);

	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_EQ(bundle_x509_count(b), 1);
	ASSERT_TRUE(verify_svid_at(b, svid, time(NULL)));
}

TEST(ca_upstream_reopen_checks_upstream)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *root_pem = NULL, *root_key = NULL, *other_pem = NULL,
			    *other_key = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);

	if (make_root(dir, "root") != 0 || make_root(dir, "other") != 0)
		SKIP("openssl CLI cannot make a root");
	root_pem = catpath(dir, "root.pem");
	root_key = catpath(dir, "root.key");
	other_pem = catpath(dir, "other.pem");
	other_key = catpath(dir, "other.key");
	o.upstream_cert = root_pem;
	o.upstream_key = root_key;
	ASSERT_OK(ca_open(&o, &ca));
	ca_free(TAKE_PTR(ca));
	ASSERT_OK(ca_open(&o, &ca));
	ca_free(TAKE_PTR(ca));

	/* A different upstream did not sign the CA on disk. */
	o.upstream_cert = other_pem;
	o.upstream_key = other_key;
	ASSERT_ERR(ca_open(&o, &ca), -EKEYREJECTED);
	/* The upstream key of another certificate. */
	o.upstream_cert = root_pem;
	ASSERT_ERR(ca_open(&o, &ca), -EKEYREJECTED);
	/* Switching an upstream CA to self-signed in place. */
	o = opts_for(dir, 0, 0);
	ASSERT_ERR(ca_open(&o, &ca), -EINVAL);
}

TEST(ca_upstream_refuses_unusable_upstream)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *pem = NULL, *key = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	struct ca_opts o = opts_for(dir, 0, 0);
	char cmd[1024];

	/* pathLenConstraint 0: it may sign leaves only, not our CA. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout p0.key -out p0.pem -subj /CN=p0 -days 2 "
		 "-addext basicConstraints=critical,CA:TRUE,pathlen:0 "
		 "-addext keyUsage=critical,keyCertSign 2>/dev/null",
		 dir);
	if (run(cmd) != 0)
		SKIP("openssl CLI cannot make a root");
	pem = catpath(dir, "p0.pem");
	key = catpath(dir, "p0.key");
	o.upstream_cert = pem;
	o.upstream_key = key;
	ASSERT_ERR(ca_open(&o, &ca), -EINVAL);
	/* Not a CA at all. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout p0.key -out p0.pem -subj /CN=leaf -days 2 "
		 "-addext basicConstraints=critical,CA:FALSE 2>/dev/null",
		 dir);
	ASSERT_EQ(run(cmd), 0);
	ASSERT_ERR(ca_open(&o, &ca), -EINVAL);
}

/*
 * The whole life of one CA under an injected clock, TTL 60 s: prepare at
 * +30, published in the bundle; activate at +50; SVIDs of both verify
 * during the overlap; the old CA leaves at +60 when its last SVID expired.
 */
TEST(ca_rotation_overlap)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *old_svid = NULL, *new_svid = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	time_t t0 = time(NULL);
	struct ca_opts o = opts_for(dir, t0, 60);
	struct ca_authority_info first, next, info;
	unsigned ev;

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(find_info(ca, false, CA_STATE_ACTIVE, &first));
	ASSERT_EQ(first.start, t0);
	ASSERT_EQ(first.not_after, t0 + 60);
	ASSERT_EQ(first.prepare_at, t0 + 30);
	ASSERT_EQ(first.activate_at, t0 + 50);
	ASSERT_EQ(ca_next_event(ca), t0 + 30);

	ASSERT_OK(ca_tick(ca, t0 + 29, &ev));
	ASSERT_EQ(ev, 0);
	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_EQ(bundle_x509_count(b), 1);
	b = bundle_unref(b);

	/* +30: the next CA is prepared and published; the first still signs. */
	ASSERT_OK(ca_tick(ca, t0 + 30, &ev));
	ASSERT_TRUE(ev & CA_EV_BUNDLE);
	ASSERT_FALSE(ev & CA_EV_X509_SIGNER);
	ASSERT_EQ(count_state(ca, false, CA_STATE_NEXT), 1);
	ASSERT_OK(find_info(ca, false, CA_STATE_NEXT, &next));
	ASSERT_OK(ca_bundle(ca, 2, &b));
	ASSERT_EQ(bundle_x509_count(b), 2);
	b = bundle_unref(b);

	/* +45: an SVID from the first CA, capped at its end (+60). */
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 3600, t0 + 45, &old_svid));
	ASSERT_EQ(old_svid->expires_at, first.not_after);

	/* +50: the next CA takes over; the bundle is unchanged. */
	ASSERT_OK(ca_tick(ca, t0 + 50, &ev));
	ASSERT_TRUE(ev & CA_EV_X509_SIGNER);
	ASSERT_FALSE(ev & CA_EV_BUNDLE);
	ASSERT_OK(find_info(ca, false, CA_STATE_ACTIVE, &info));
	ASSERT_STREQ(info.id, next.id);
	ASSERT_OK(find_info(ca, false, CA_STATE_RETIRED, &info));
	ASSERT_STREQ(info.id, first.id);
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 5, t0 + 52, &new_svid));
	ASSERT_EQ(new_svid->expires_at, t0 + 57);

	/* During the overlap both SVIDs verify against the published bundle. */
	ASSERT_OK(ca_bundle(ca, 2, &b));
	ASSERT_EQ(bundle_x509_count(b), 2);
	ASSERT_TRUE(verify_svid_at(b, old_svid, t0 + 55));
	ASSERT_TRUE(verify_svid_at(b, new_svid, t0 + 55));

	/* +60: the first CA's last SVID has expired; the CA leaves the bundle.
	 * (The same instant is half of the second CA's life, so a third one is
	 * prepared: the bundle holds two again, but not the first.) */
	ASSERT_OK(ca_tick(ca, t0 + 59, &ev));
	ASSERT_EQ(ev, 0);
	ASSERT_OK(ca_tick(ca, t0 + 60, &ev));
	ASSERT_TRUE(ev & CA_EV_BUNDLE);
	ASSERT_EQ(count_state(ca, false, CA_STATE_RETIRED), 0);
	ASSERT_EQ(count_state(ca, false, CA_STATE_NEXT), 1);
	b = bundle_unref(b);
	ASSERT_OK(ca_bundle(ca, 3, &b));
	ASSERT_EQ(bundle_x509_count(b), 2);
	for (int i = 0; i < bundle_x509_count(b); i++) {
		_cleanup_bn_ BIGNUM *bn =
			ASN1_INTEGER_to_BN(X509_get0_serialNumber(bundle_x509_at(b, i)), NULL);
		_cleanup_ossl_free_ char *hex = BN_bn2hex(bn);

		ASSERT_TRUE(strcmp(hex, first.id) != 0);
	}
	ASSERT_FALSE(verify_svid_at(b, old_svid, t0 + 56));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 5, t0 + 60, &new_svid));
	ASSERT_TRUE(verify_svid_at(b, new_svid, t0 + 61));

	/* The rotation was persisted: a restart sees the same active CA. */
	ca_free(TAKE_PTR(ca));
	o.now = t0 + 61;
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(find_info(ca, false, CA_STATE_ACTIVE, &info));
	ASSERT_STREQ(info.id, next.id);
	ASSERT_EQ(count_state(ca, false, CA_STATE_RETIRED), 0);
}

TEST(ca_rotation_openssl_verify_attime)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_free_ char *bundle_pem = NULL, *pem = NULL, *old_path = NULL, *new_path = NULL;
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_svid_ struct x509svid *old_svid = NULL, *new_svid = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	time_t t0 = time(NULL);
	struct ca_opts o = opts_for(dir, t0, 60);
	char cmd[2048];

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(ca_tick(ca, t0 + 30, NULL));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 60, t0 + 40, &old_svid));
	ASSERT_OK(ca_tick(ca, t0 + 50, NULL));
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 60, t0 + 50, &new_svid));
	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_OK(bundle_x509_pem(b, &pem));
	bundle_pem = catpath(dir, "bundle.pem");
	old_path = catpath(dir, "old.pem");
	new_path = catpath(dir, "new.pem");
	ASSERT_OK(write_file(bundle_pem, pem, strlen(pem)));
	ASSERT_OK(write_der_as_pem(old_path, old_svid->chain_der, old_svid->chain_der_len));
	ASSERT_OK(write_der_as_pem(new_path, new_svid->chain_der, new_svid->chain_der_len));
	snprintf(cmd, sizeof(cmd), "openssl verify -attime %lld -CAfile '%s' '%s' '%s' >/dev/null",
		 (long long)t0 + 55, bundle_pem, old_path, new_path);
	ASSERT_EQ(run(cmd), 0);
}

TEST(ca_jwt_key_rotation)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	time_t t0 = time(NULL);
	struct ca_opts o = opts_for(dir, t0, 600);
	struct ca_authority_info first, info;
	struct ca_jwt_signer j;
	unsigned ev;

	o.jwt_key_ttl = 60;
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(find_info(ca, true, CA_STATE_ACTIVE, &first));
	ASSERT_EQ(first.not_after, t0 + 60);
	ASSERT_EQ(ca_next_event(ca), t0 + 30);
	ASSERT_OK(ca_tick(ca, t0 + 30, &ev));
	ASSERT_EQ(ev, CA_EV_BUNDLE);
	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_EQ(bundle_jwt_count(b), 2);
	ASSERT_NOT_NULL(bundle_jwt_find(b, first.id));
	b = bundle_unref(b);
	ASSERT_OK(ca_tick(ca, t0 + 50, &ev));
	ASSERT_EQ(ev, CA_EV_JWT_SIGNER);
	ASSERT_OK(ca_jwt_signer_get(ca, &j));
	ASSERT_TRUE(strcmp(j.kid, first.id) != 0);
	ASSERT_EQ(j.not_after, t0 + 90);
	ca_jwt_signer_put(&j);
	/* +60: the first key leaves; the second is half-way, its successor comes. */
	ASSERT_OK(ca_tick(ca, t0 + 60, &ev));
	ASSERT_EQ(ev, CA_EV_BUNDLE);
	ASSERT_OK(ca_bundle(ca, 2, &b));
	ASSERT_EQ(bundle_jwt_count(b), 2);
	ASSERT_TRUE(bundle_jwt_find(b, first.id) == NULL);
	/* The X.509 CA (600 s) has not moved. */
	ASSERT_EQ(count_state(ca, false, CA_STATE_NEXT), 0);
	ASSERT_OK(find_info(ca, true, CA_STATE_ACTIVE, &info));
	ASSERT_EQ(info.start, t0 + 30);
}

TEST(ca_catches_up_after_downtime)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	_cleanup_(bundle_unrefp) struct bundle *b = NULL;
	_cleanup_svid_ struct x509svid *svid = NULL;
	time_t t0 = time(NULL);
	struct ca_opts o = opts_for(dir, t0, 60);
	struct ca_authority_info first, info, next;

	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(find_info(ca, false, CA_STATE_ACTIVE, &first));
	ca_free(TAKE_PTR(ca));

	/* Down from +0 to +45: past the preparation time, before the end.  The
	 * late successor still gets its publication window before it signs. */
	o.now = t0 + 45;
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_OK(find_info(ca, false, CA_STATE_ACTIVE, &info));
	ASSERT_STREQ(info.id, first.id);
	ASSERT_OK(find_info(ca, false, CA_STATE_NEXT, &next));
	ASSERT_EQ(next.start, t0 + 45);
	ASSERT_EQ(ca_next_event(ca), t0 + 60); /* capped at the first CA's end */
	ca_free(TAKE_PTR(ca));

	/* Down for ten lifetimes: a fresh CA at once, the expired ones gone. */
	o.now = t0 + 600;
	ASSERT_OK(ca_open(&o, &ca));
	ASSERT_EQ(count_state(ca, false, CA_STATE_ACTIVE), 1);
	ASSERT_EQ(count_state(ca, false, CA_STATE_RETIRED), 0);
	ASSERT_EQ(count_state(ca, false, CA_STATE_NEXT), 0);
	ASSERT_OK(find_info(ca, false, CA_STATE_ACTIVE, &info));
	ASSERT_EQ(info.start, t0 + 600);
	ASSERT_OK(ca_bundle(ca, 1, &b));
	ASSERT_EQ(bundle_x509_count(b), 1);
	ASSERT_EQ(bundle_jwt_count(b), 1);
	ASSERT_OK(x509svid_mint(ca, "spiffe://" TD "/a", NULL, 0, 30, t0 + 600, &svid));
	ASSERT_TRUE(verify_svid_at(b, svid, t0 + 601));
}

/* Minting on two threads while the main thread rotates through several
 * generations: signer references must keep retired keys alive (run under
 * SANITIZE=1 to see a use after free if they do not). */
struct mint_thread {
	struct ca *ca;
	time_t *now;
	bool *stop;
	int minted, failed;
};

static void *mint_loop(void *arg)
{
	struct mint_thread *t = arg;

	while (!__atomic_load_n(t->stop, __ATOMIC_ACQUIRE)) {
		time_t now = __atomic_load_n(t->now, __ATOMIC_ACQUIRE);
		struct x509svid *svid = NULL;
		int r = x509svid_mint(t->ca, "spiffe://" TD "/t", NULL, 0, 5, now, &svid);

		/* The clock may pass the signer's end between the two loads. */
		if (r && r != -EKEYEXPIRED)
			t->failed++;
		else if (!r)
			t->minted++;
		x509svid_free(svid);
	}
	return NULL;
}

TEST(ca_concurrent_mint_and_rotate)
{
	_cleanup_tmpdir_ char *dir = make_tmpdir();
	_cleanup_ca_ struct ca *ca = NULL;
	time_t t0 = time(NULL), now = t0;
	struct ca_opts o = opts_for(dir, t0, 60);
	struct mint_thread th[2];
	pthread_t tid[2];
	bool stop = false;
	int ticks = 0;

	ASSERT_OK(ca_open(&o, &ca));
	for (int i = 0; i < 2; i++) {
		th[i] = (struct mint_thread){ ca, &now, &stop, 0, 0 };
		ASSERT_EQ(pthread_create(&tid[i], NULL, mint_loop, &th[i]), 0);
	}
	for (time_t t = t0; t < t0 + 300; t += 5) {
		struct timespec ms = { 0, 2 * 1000 * 1000 };

		__atomic_store_n(&now, t, __ATOMIC_RELEASE);
		if (ca_tick(ca, t, NULL) == 0)
			ticks++;
		nanosleep(&ms, NULL);
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	test_diag("%d ticks, %d + %d SVIDs minted across rotations", ticks, th[0].minted,
		  th[1].minted);
	ASSERT_EQ(ticks, 60);
	ASSERT_EQ(th[0].failed + th[1].failed, 0);
	ASSERT_GT(th[0].minted + th[1].minted, 0);
}
