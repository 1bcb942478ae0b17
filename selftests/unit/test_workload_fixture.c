// SPDX-License-Identifier: Apache-2.0
/*
 * The Workload API tests' fixture (test_workload.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "log.h"
#include "ossl.h"
#include "procfs.h"
#include "proctable_hooks.h"
#include "selectors.h"
#include "test_workload.h"

struct strv2 {
	struct strv *ids, *sids;
};

static int push_match(const struct entry *e, void *arg)
{
	struct strv2 *o = arg;
	int r = strv_push(o->ids, e->id);

	return r ? r : strv_push(o->sids, e->spiffe_id);
}

static int match_hook(void *ctx, const char *const *sel, size_t n, struct strv *eids,
		      struct strv *ids)
{
	struct wl_fixture *f = ctx;
	struct strv2 o = {eids, ids};
	int r = matcher_match(f->m, sel, n, push_match, &o);

	return r < 0 ? r : 0;
}

static int digest_hook(void *ctx, const struct proc_state *st, char hex[65])
{
	struct wl_fixture *f = ctx;

	if (f->digest_pending)
		return -EAGAIN;
	memset(hex, 'a', 64);
	hex[64] = '\0';
	return 0;
}

static void changed_hook(void *ctx, uint32_t tgid, uint64_t ticks, bool gone)
{
	struct wl_fixture *f = ctx;

	svid_cache_process_changed(f->cache, tgid, ticks, gone);
	workload_api_process_changed(f->api, tgid, ticks, gone);
}

static int put_bundle(struct bundle_set *set, struct ca *ca)
{
	struct bundle *b = NULL;
	int r = ca_bundle(ca, 1, &b);

	if (!r)
		r = bundle_set_put(set, b);
	bundle_unref(b);
	return r;
}

int wl_setup(struct wl_fixture *f, bool auto_cache)
{
	struct svid_cache_opts o = {.manual = !auto_cache};

	return wl_setup_with(f, &o);
}

int wl_setup_with(struct wl_fixture *f, const struct svid_cache_opts *copts)
{
	struct proctable_hooks hooks = {
	    .ctx = f, .digest = digest_hook, .match = match_hook, .changed = changed_hook};
	struct ca_opts co = {.trust_domain = WL_TD};
	struct svid_cache_deps cd;
	char fed_dir[96];
	int r;

	memset(f, 0, sizeof(*f));
	log_setup(LOG_LVL_WARN, false); /* the CA's info lines are noise here */
	strcpy(f->dir, "/tmp/attestd-wl.XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	/* Reachable by forked callers of other uids. */
	if (chmod(f->dir, 0755) < 0)
		return -errno;
	snprintf(f->sock, sizeof(f->sock), "%s/run/api.sock", f->dir);
	snprintf(fed_dir, sizeof(fed_dir), "%s/fed", f->dir);
	co.data_dir = f->dir;
	r = ca_open(&co, &f->ca);
	if (r)
		return r;
	co.data_dir = fed_dir;
	co.trust_domain = WL_FED_TD;
	r = ca_open(&co, &f->fed_ca);
	if (!r)
		r = bundle_set_new(&f->bundles);
	if (!r)
		r = put_bundle(f->bundles, f->ca);
	if (!r)
		r = put_bundle(f->bundles, f->fed_ca);
	if (!r)
		r = matcher_new(&f->m);
	if (!r)
		r = proctable_new(&f->pt);
	if (r)
		return r;
	f->copts = *copts;
	cd = (struct svid_cache_deps){f->ca, f->m, f->pt};
	r = svid_cache_new(&f->copts, &cd, &f->cache);
	if (r)
		return r;
	proctable_set_hooks(f->pt, &hooks);
	f->wopts.socket_path = f->sock;
	return 0;
}

int wl_start(struct wl_fixture *f)
{
	struct workload_deps d = {
	    .pt = f->pt,
	    .matcher = f->m,
	    .ca = f->ca,
	    .bundles = f->bundles,
	    .cache = f->cache,
	    .trust_domain = WL_TD,
	};

	f->wopts.socket_path = f->sock;
	return workload_api_start(&f->wopts, &d, &f->api);
}

void wl_teardown(struct wl_fixture *f)
{
	char cmd[128];

	/* No hook runs once this returns, so the API and cache can go. */
	if (f->pt) {
		struct proctable_hooks none = {0};

		proctable_set_hooks(f->pt, &none);
	}
	workload_api_stop(f->api);
	svid_cache_free(f->cache);
	proctable_free(f->pt);
	matcher_free(f->m);
	bundle_set_unref(f->bundles);
	ca_free(f->ca);
	ca_free(f->fed_ca);
	if (f->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", f->dir);
	}
}

int wl_add_entry(struct wl_fixture *f, const char *spiffe_id, const char *sel, const char *hint,
		 const char *federates_with, char *ret_id)
{
	struct entry *e = NULL;
	int r = entry_new(&e);

	if (!r)
		r = entry_set_spiffe_id(e, spiffe_id);
	if (!r)
		r = entry_add_selector(e, sel);
	if (!r && hint)
		r = entry_set_hint(e, hint);
	if (!r && federates_with)
		r = entry_add_federates_with(e, federates_with);
	if (!r)
		r = matcher_add(f->m, e);
	if (!r && ret_id)
		strcpy(ret_id, e->id);
	entry_free(e);
	/* Processes already in the table see it, as the registry would arrange. */
	if (!r)
		r = proctable_rederive(f->pt, NULL, NULL);
	return r;
}

int wl_add_process(struct wl_fixture *f, pid_t pid, uid_t uid)
{
	struct procfs fs = {"/proc", NULL};
	struct proc_state st;
	int r = procfs_read(&fs, (uint32_t)pid, &st);

	if (r)
		return r;
	st.uid = st.euid = uid;
	return proctable_upsert(f->pt, &st);
}

int wl_client(struct wl_fixture *f, bool header, struct rpc_client **ret)
{
	int r = rpc_client_connect(f->sock, ret);

	if (!r && header)
		r = rpc_client_add_metadata(*ret, WORKLOAD_HEADER, "true");
	return r;
}

struct first_msg {
	ProtobufCMessage *msg;
	const ProtobufCMessageDescriptor *type;
};

static int keep_first(const ProtobufCMessage *msg, void *arg)
{
	struct first_msg *fm = arg;
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf) {
		protobuf_c_message_pack(msg, buf);
		fm->msg = protobuf_c_message_unpack(fm->type, NULL, n, buf);
		free(buf);
	}
	return 1;
}

int wl_first(struct wl_fixture *f, const char *method, const ProtobufCMessage *req,
	     const ProtobufCMessageDescriptor *type, ProtobufCMessage **ret, struct rpc_status *st)
{
	struct first_msg fm = {.type = type};
	struct rpc_client *c;
	int r = wl_client(f, true, &c);

	if (r)
		return r;
	r = rpc_client_stream(c, method, req, type, keep_first, &fm, st);
	rpc_client_free(c);
	*ret = fm.msg;
	if (!r && fm.msg)
		st->code = GRPC_STATUS_OK;
	return r;
}

int wl_fetch_x509(struct wl_fixture *f, X509SVIDResponse **ret, struct rpc_status *st)
{
	X509SVIDRequest req = X509_SVIDREQUEST__INIT;

	return wl_first(f, WORKLOAD_METHOD_FETCH_X509_SVID, &req.base,
			&x509_svidresponse__descriptor, (ProtobufCMessage **)ret, st);
}

static STACK_OF(X509) * der_certs(const uint8_t *der, size_t len)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	const unsigned char *p = der, *end = der + len;

	while (sk && p < end) {
		X509 *x = d2i_X509(NULL, &p, end - p);

		if (!x || !sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return NULL;
		}
	}
	return sk;
}

bool wl_svid_ok(const X509SVID *s, char *why, size_t len)
{
	_cleanup_x509_stack_ STACK_OF(X509) *chain = der_certs(s->x509_svid.data, s->x509_svid.len);
	_cleanup_x509_stack_ STACK_OF(X509) *roots = der_certs(s->bundle.data, s->bundle.len);
	_cleanup_x509_store_ X509_STORE *store = X509_STORE_new();
	_cleanup_x509_store_ctx_ X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_gens_ GENERAL_NAMES *sans = NULL;
	const unsigned char *p = s->x509_svid_key.data;
	PKCS8_PRIV_KEY_INFO *p8;
	X509 *leaf;
	int nuri = 0;
	bool uri_ok = false;

	if (!chain || sk_X509_num(chain) < 1 || !roots || sk_X509_num(roots) < 1) {
		snprintf(why, len, "chain or bundle is not DER certificates");
		return false;
	}
	leaf = sk_X509_value(chain, 0);
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)s->x509_svid_key.len);
	if (!p8 || p != s->x509_svid_key.data + s->x509_svid_key.len) {
		PKCS8_PRIV_KEY_INFO_free(p8);
		snprintf(why, len, "key is not DER PKCS#8");
		return false;
	}
	key = EVP_PKCS82PKEY(p8);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (!key || X509_check_private_key(leaf, key) != 1) {
		snprintf(why, len, "key does not match the leaf");
		return false;
	}
	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

		if (g->type != GEN_URI)
			continue;
		nuri++;
		uri_ok = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier) ==
			     strlen(s->spiffe_id) &&
			 memcmp(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), s->spiffe_id,
				strlen(s->spiffe_id)) == 0;
	}
	if (nuri != 1 || !uri_ok) {
		snprintf(why, len, "%d URI SANs, want exactly %s", nuri, s->spiffe_id);
		return false;
	}
	for (int i = 0; i < sk_X509_num(roots); i++)
		X509_STORE_add_cert(store, sk_X509_value(roots, i));
	if (!X509_STORE_CTX_init(ctx, store, leaf, chain) || X509_verify_cert(ctx) != 1) {
		snprintf(why, len, "chain does not verify: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		return false;
	}
	return true;
}
