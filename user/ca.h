/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The trust domain's certificate authority: the X.509 CA that signs
 * X.509-SVIDs and the key that signs JWT-SVIDs, persisted in the data dir
 * and rotated with overlap.
 *
 * Each of the two is a series of generations (an "authority": key, and for
 * X.509 a certificate).  With L the lifetime of the active one:
 *
 *   at 1/2 L   the next one is prepared and published in the bundle
 *   at 5/6 L   the next one becomes active: new SVIDs are signed by it
 *   at L       the old one leaves the bundle
 *
 * An SVID never outlives the authority that signed it (its notAfter / exp
 * is capped at the authority's end), so when the old authority leaves the
 * bundle every SVID it signed has expired.  Relying parties have L/3 to pick
 * up the next authority before they meet an SVID signed by it.  If attestd
 * was down across a threshold, ca_tick catches up in one step (prepare and
 * activate together when it must; a fresh authority when the active one has
 * expired) and says so in the log.
 *
 * On disk, under <data_dir>/ca/<trust domain>/ (directory 0700, files 0600,
 * each written to a temporary file, fsync'd, renamed and the directory
 * fsync'd): x509-N.key and x509-N.crt (PEM, PKCS#8 key), jwt-N.key, and
 * state.json, which names the generations and their states and is written
 * last, so that it is the commit point of a rotation.  A directory that
 * exists but cannot be read back (unparsable state or key, a key that does
 * not match its certificate, a different upstream) is an error: attestd
 * never replaces a CA it cannot read with a new one.
 *
 * Upstream mode: with upstream_cert/upstream_key, each X.509 CA is an
 * intermediate signed by the upstream key instead of self-signed.  Its
 * notAfter is capped at the upstream certificate's; SVID chains carry the
 * intermediate (and intermediates from the upstream file); the bundle holds
 * the upstream root(s), not our intermediates.
 *
 * A struct ca is locked inside: ca_tick and the getters may run on
 * different threads.  Signers handed out hold references, so a rotation
 * never frees a key that a mint in progress is using.
 */
#ifndef ATTESTD_CA_H
#define ATTESTD_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "bundle.h"

#define CA_DEFAULT_TTL (24 * 3600)
/* JWT key ids: 32 characters of base64url, 192 random bits. */
#define CA_KID_LEN 32
/* How far notBefore is backdated, for relying parties whose clock is behind. */
#define CA_BACKDATE 10

struct ca;

struct ca_opts {
	const char *data_dir;	   /* CA state lives in <data_dir>/ca/<trust_domain>/ */
	const char *trust_domain;  /* e.g. "example.org" */
	int64_t ca_ttl;		   /* seconds of each X.509 CA; 0: CA_DEFAULT_TTL */
	int64_t jwt_key_ttl;	   /* seconds of each JWT key; 0: the same as ca_ttl */
	const char *upstream_cert; /* PEM: upstream signing cert, then its chain; NULL: self-signed */
	const char *upstream_key;  /* PEM private key of upstream_cert (unencrypted) */
	time_t now;		   /* when a fresh CA starts; 0: time(NULL) (tests inject) */
};

/*
 * Loads the CA of opts->trust_domain from opts->data_dir, or creates it
 * there when the directory holds no CA yet.  Holds an exclusive lock on
 * the directory until ca_free (a second attestd on the same data dir gets
 * -EBUSY).  Errors are logged with the file and the reason, and returned:
 * -EINVAL (bad options, mode change), -EBADMSG (an unreadable or corrupt
 * file), -EKEYREJECTED (a key that does not match its certificate, or a
 * CA not signed by the configured upstream), -errno of a failed syscall.
 */
int ca_open(const struct ca_opts *opts, struct ca **ret);
void ca_free(struct ca *ca);

/* Events reported by ca_tick. */
enum {
	CA_EV_BUNDLE = 1 << 0,	 /* the set of trusted X.509 CAs or JWT keys changed:
				  * bump spiffe_sequence and republish the bundle */
	CA_EV_X509_SIGNER = 1 << 1, /* a new X.509 CA became active */
	CA_EV_JWT_SIGNER = 1 << 2,  /* a new JWT key became active */
};

/*
 * Runs rotation as of now (0: time(NULL)): prepares, activates and drops
 * authorities as their thresholds pass, and persists the result before
 * returning.  *ret_events (may be NULL) gets CA_EV_* bits.  On error the
 * CA keeps its previous state, so the next tick tries again.
 */
int ca_tick(struct ca *ca, time_t now, unsigned *ret_events);
/* The earliest time ca_tick has something to do: sleep until then. */
time_t ca_next_event(struct ca *ca);

const char *ca_trust_domain(const struct ca *ca);
/* A refresh hint for the bundle: a twelfth of the CA TTL, at most 5 min,
 * at least 1 s, so relying parties refresh many times in the L/3 window. */
int64_t ca_refresh_hint(const struct ca *ca);

/* What X.509-SVID minting needs from the active CA.  All members are
 * borrowed from a reference the struct holds; ca_x509_signer_put drops it. */
struct ca_x509_signer {
	EVP_PKEY *key;		     /* the CA's private key */
	X509 *cert;		     /* the CA's certificate, the SVID issuer */
	STACK_OF(X509) *chain;	     /* what follows the leaf in an SVID chain: empty when
				      * self-signed; our intermediate and the upstream
				      * intermediates in upstream mode */
	const unsigned char *chain_der; /* chain, DER-concatenated */
	size_t chain_der_len;
	time_t not_after;	     /* the CA's notAfter: SVIDs are capped at it */
	const char *trust_domain;
	void *ref;
};
int ca_x509_signer_get(struct ca *ca, struct ca_x509_signer *ret);
void ca_x509_signer_put(struct ca_x509_signer *s);

/* The active JWT key, held the same way. */
struct ca_jwt_signer {
	EVP_PKEY *key; /* P-256 private key */
	const char *kid;
	time_t not_after; /* JWT-SVID exp is capped at it */
	const char *trust_domain;
	void *ref;
};
int ca_jwt_signer_get(struct ca *ca, struct ca_jwt_signer *ret);
void ca_jwt_signer_put(struct ca_jwt_signer *s);

/* The X.509 authorities trusted now (next, active and retired CAs, or the
 * upstream roots), as a new stack of up-ref'd certificates. */
int ca_x509_authorities(struct ca *ca, STACK_OF(X509) **ret);

/* This trust domain's bundle as of now, for the given sequence number.
 * The caller keeps spiffe_sequence: it bumps it on CA_EV_BUNDLE. */
int ca_bundle(struct ca *ca, uint64_t sequence, struct bundle **ret);

/* Introspection, for attestctl, metrics and tests. */
enum ca_state {
	CA_STATE_NEXT,	  /* published, not yet signing */
	CA_STATE_ACTIVE,  /* signing */
	CA_STATE_RETIRED, /* published until its SVIDs have expired */
};
struct ca_authority_info {
	bool jwt;	  /* false: an X.509 CA; true: a JWT key */
	enum ca_state state;
	char id[48];	  /* X.509: serial in hex; JWT: kid */
	time_t start;	  /* when it was made: thresholds count from here */
	time_t not_after; /* end of life; leaves the bundle then */
	time_t prepare_at; /* when its successor is prepared */
	time_t activate_at; /* when its successor takes over */
};
/* A malloc'd array of every authority, X.509 first, oldest first. */
int ca_status(struct ca *ca, struct ca_authority_info **ret, size_t *ret_n);
const char *ca_state_name(enum ca_state s);

#endif
