#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Checks an X.509-SVID against the SPIFFE X509-SVID spec, independently of
attestd's C code: the parsing and the rules here are python3-cryptography's
and this file's, so a mistake in user/x509svid.c is not repeated here.

    check_x509svid.py --chain svid.pem --key svid.key --bundle bundle.pem
                      [--spiffe-id spiffe://td/path] [--trust-domain td]

--chain is PEM, leaf first then intermediates; --key is the private key,
PKCS#8 DER (as the Workload API sends it) or PEM; --bundle is the PEM CA
bundle.  Prints one line per rule, "ok" or "FAIL"; exits 0 when every rule
holds, 1 when one fails, 2 on bad usage or unreadable input.

Run it with /usr/bin/python3 (Debian's, which has python3-cryptography).
"""
import argparse
import re
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

TD_RE = re.compile(r"^[a-z0-9._-]{1,255}$")
SEG_RE = re.compile(r"^[a-zA-Z0-9._-]+$")


class Checker:
    def __init__(self):
        self.failed = 0

    def rule(self, ok, name, detail=""):
        if ok:
            print(f"ok: {name}")
        else:
            self.failed += 1
            print(f"FAIL: {name}" + (f": {detail}" if detail else ""))
        return ok


def parse_spiffe_id(s):
    """(trust domain, path) of a SPIFFE ID, or None when it is not one."""
    if not s.startswith("spiffe://") or len(s) > 2048:
        return None
    rest = s[len("spiffe://"):]
    td, slash, path = rest.partition("/")
    if not TD_RE.match(td):
        return None
    if slash:
        for seg in path.split("/"):
            if not SEG_RE.match(seg) or seg in (".", ".."):
                return None
    return td, ("/" + path if slash else "")


def load_pem_certs(data):
    """Every certificate in a PEM buffer (cryptography 38 has no
    load_pem_x509_certificates)."""
    out = []
    for m in re.finditer(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S):
        out.append(x509.load_pem_x509_certificate(m.group(0)))
    if not out:
        raise ValueError("no PEM certificate")
    return out


def ext(cert, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def signed_by(cert, issuer):
    pub = issuer.public_key()
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(pub, rsa.RSAPublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        else:
            pub.verify(cert.signature, cert.tbs_certificate_bytes)
    except (InvalidSignature, TypeError, ValueError):
        return False
    return cert.issuer == issuer.subject


def load_key(data):
    if data.lstrip().startswith(b"-----BEGIN"):
        return serialization.load_pem_private_key(data, password=None), False
    return serialization.load_der_private_key(data, password=None), True


def check_leaf(c, leaf, want_id, want_td):
    san = ext(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier) if san else []
    c.rule(len(uris) == 1, "exactly one URI SAN", f"found {uris}")
    sid = parse_spiffe_id(uris[0]) if len(uris) == 1 else None
    c.rule(sid is not None, "URI SAN is a valid spiffe:// ID", f"{uris}")
    if sid:
        c.rule(sid[1] != "", "SPIFFE ID has a non-root path", uris[0])
        if want_id:
            c.rule(uris[0] == want_id, "SPIFFE ID is the one asked for",
                   f"{uris[0]} != {want_id}")
        if want_td:
            c.rule(sid[0] == want_td, "SPIFFE ID is in the trust domain", sid[0])
    if san and not leaf.subject.rdns:
        c.rule(san.critical, "SAN critical when the subject is empty (RFC 5280 4.2.1.6)")

    bc = ext(leaf, ExtensionOID.BASIC_CONSTRAINTS)
    c.rule(bc is not None, "basicConstraints present")
    if bc:
        c.rule(bc.critical, "basicConstraints critical")
        c.rule(not bc.value.ca, "basicConstraints cA is false")

    ku = ext(leaf, ExtensionOID.KEY_USAGE)
    c.rule(ku is not None, "keyUsage present")
    if ku:
        c.rule(ku.critical, "keyUsage critical")
        c.rule(ku.value.digital_signature, "keyUsage has digitalSignature")
        c.rule(not ku.value.key_cert_sign, "keyUsage lacks keyCertSign")
        c.rule(not ku.value.crl_sign, "keyUsage lacks cRLSign")

    eku = ext(leaf, ExtensionOID.EXTENDED_KEY_USAGE)
    usages = list(eku.value) if eku else []
    c.rule(ExtendedKeyUsageOID.SERVER_AUTH in usages, "extKeyUsage has serverAuth")
    c.rule(ExtendedKeyUsageOID.CLIENT_AUTH in usages, "extKeyUsage has clientAuth")

    c.rule(leaf.version == x509.Version.v3, "version 3")
    serial = leaf.serial_number
    c.rule(serial > 0, "serial is positive", str(serial))
    c.rule(serial.bit_length() <= 159, "serial fits 20 octets (RFC 5280 4.1.2.2)")
    c.rule(serial.bit_length() > 64, "serial has more than 64 bits", str(serial.bit_length()))
    c.rule(leaf.not_valid_before < leaf.not_valid_after, "notBefore < notAfter")
    c.rule(ext(leaf, ExtensionOID.SUBJECT_KEY_IDENTIFIER) is not None, "subjectKeyIdentifier present")

    pub = leaf.public_key()
    c.rule(isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1",
           "leaf key is EC P-256", type(pub).__name__)


def main():
    ap = argparse.ArgumentParser(description="X509-SVID spec checker")
    ap.add_argument("--chain", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--spiffe-id")
    ap.add_argument("--trust-domain")
    a = ap.parse_args()
    try:
        with open(a.chain, "rb") as f:
            chain = load_pem_certs(f.read())
        with open(a.bundle, "rb") as f:
            bundle = load_pem_certs(f.read())
        with open(a.key, "rb") as f:
            key_bytes = f.read()
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    c = Checker()
    leaf = chain[0]
    check_leaf(c, leaf, a.spiffe_id, a.trust_domain)

    # The private key: PKCS#8, unencrypted, P-256, the pair of the leaf's key.
    try:
        key, is_der = load_key(key_bytes)
        c.rule(True, "private key loads unencrypted")
        if is_der:
            again = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
            c.rule(again == key_bytes, "private key DER is PKCS#8 PrivateKeyInfo")
        c.rule(isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1",
               "private key is EC P-256")
        c.rule(key.public_key().public_numbers() == leaf.public_key().public_numbers(),
               "private key matches the leaf certificate")
    except (ValueError, TypeError) as e:
        c.rule(False, "private key loads unencrypted", str(e))

    # The chain: each certificate signed by the next, the last by a bundle CA;
    # intermediates are CAs; the root itself is not sent.
    for i, cert in enumerate(chain[1:], 1):
        bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
        ku = ext(cert, ExtensionOID.KEY_USAGE)
        c.rule(bc is not None and bc.value.ca, f"chain[{i}] is a CA")
        c.rule(ku is not None and ku.value.key_cert_sign, f"chain[{i}] has keyCertSign")
        c.rule(cert.issuer != cert.subject or not signed_by(cert, cert),
               f"chain[{i}] is not a self-signed root")
    for i in range(len(chain) - 1):
        c.rule(signed_by(chain[i], chain[i + 1]), f"chain[{i}] is signed by chain[{i + 1}]")
    anchors = [ca for ca in bundle if signed_by(chain[-1], ca)]
    c.rule(len(anchors) > 0, "chain ends at a CA of the bundle")
    c.rule(not signed_by(leaf, leaf), "leaf is not self-signed")

    issuer = chain[1] if len(chain) > 1 else (anchors[0] if anchors else None)
    if issuer is not None:
        c.rule(leaf.not_valid_after <= issuer.not_valid_after, "leaf notAfter <= CA notAfter",
               f"{leaf.not_valid_after} > {issuer.not_valid_after}")
        aki = ext(leaf, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
        ski = ext(issuer, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
        c.rule(aki is not None and ski is not None and aki.value.key_identifier == ski.value.digest,
               "authorityKeyIdentifier is the CA's subjectKeyIdentifier")
    for cert in chain[1:] + anchors:
        if cert.not_valid_after < leaf.not_valid_after:
            c.rule(False, "no CA in the path expires before the leaf", str(cert.subject))

    print(f"{'FAIL' if c.failed else 'PASS'}: {c.failed} rule(s) failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
