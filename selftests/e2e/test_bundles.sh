#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Federation (issue #4) end to end, through attestctl and a real attestd:
# bundle set of a foreign trust domain's SPIFFE bundle, bundle list (table
# and --json), still there after a restart (<data-dir>/bundles), served over
# the Workload API to a uid 4242 workload whose entry federates with it;
# garbage and attestd's own trust domain refused with exit 1 and nothing
# listed; bundle delete, and again (exit 1).  Prints TAP.  Needs root and BPF
# (attestd runs), setpriv, python3 with cryptography.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
PY=/usr/bin/python3
UID_W=4242

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=$((failed + 1)); }
check() { # check NAME CMD... : ok if CMD succeeds
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
diag() { sed 's/^/# /' "$@"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
[ -x "$ATTESTD" ] && [ -x "$CTL" ] || skip_all "$ATTESTD or $CTL not built"
command -v setpriv >/dev/null || skip_all "no setpriv"
"$PY" -c 'import cryptography' 2>/dev/null || skip_all "no python3 cryptography"

tmp=$(mktemp -d /tmp/attestd-e2e-bundles.XXXXXX)
chmod 0755 "$tmp"
data=$tmp/data
sock=$tmp/admin.sock
api=$tmp/api.sock
daemon=""

cleanup() {
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ctl() { "$CTL" --admin-socket "$sock" "$@"; }

eventually() { # eventually CMD...: CMD succeeds within 10 s
	for _ in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

start_daemon() { # start_daemon LOG
	"$ATTESTD" --socket "$api" --admin-socket "$sock" --data-dir "$data" \
		--log-level warn >"$1" 2>&1 &
	daemon=$!
	eventually ctl bundle list --json >/dev/null 2>&1
}

stop_daemon() {
	kill -TERM "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	daemon=""
}

json_get() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# A SPIFFE bundle for spiffe://other.org: one self-signed EC P-256 CA.
"$PY" - "$tmp/other.json" <<'PYEOF'
import base64, datetime, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "other.org")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier("spiffe://other.org")]), critical=False)
        .sign(key, hashes.SHA256()))
nums = key.public_key().public_numbers()
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
jwk = {"use": "x509-svid", "kty": "EC", "crv": "P-256",
       "x": b64u(nums.x.to_bytes(32, "big")), "y": b64u(nums.y.to_bytes(32, "big")),
       "x5c": [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
json.dump({"keys": [jwk], "spiffe_sequence": 1}, open(sys.argv[1], "w"))
PYEOF
check "foreign bundle generated" test -s "$tmp/other.json"

if start_daemon "$tmp/attestd.log"; then ok "attestd serves bundle calls"; else
	not_ok "attestd serves bundle calls"
	diag "$tmp/attestd.log"
	echo "1..$n"
	exit 1
fi

check "bundle set --help exits 0" test "$(ctl bundle set --help >/dev/null 2>&1; echo $?)" -eq 0
check "bundle set without --file exits 2" test "$(ctl bundle set --trust-domain other.org >/dev/null 2>&1; echo $?)" -eq 2

ctl bundle list --json >"$tmp/o" 2>"$tmp/e"
check "bundle list --json: empty at first" test "$(json_get "$tmp/o" 'd["bundles"]')" = "[]"

ctl bundle set --trust-domain other.org --file "$tmp/other.json" >"$tmp/o" 2>"$tmp/e"
rc=$?
check "bundle set other.org: exit 0" test $rc -eq 0
grep -q other.org "$tmp/o" || diag "$tmp/e"
check "bundle file written, mode 0644" test "$(stat -c %a "$data/bundles/other.org.json" 2>/dev/null)" = 644

ctl bundle list >"$tmp/o" 2>"$tmp/e"
check "bundle list: table shows other.org with 1 X.509 authority" \
	grep -Eq '^other\.org +1 +0 +1$' "$tmp/o"
ctl bundle list --json >"$tmp/o" 2>"$tmp/e"
check "bundle list --json: the documented shape" \
	test "$(json_get "$tmp/o" 'd["bundles"]')" = \
	"[{'trust_domain': 'other.org', 'x509_authorities': 1, 'jwt_authorities': 0, 'sequence': 1}]"

stop_daemon
if start_daemon "$tmp/attestd2.log"; then ok "attestd restarts"; else
	not_ok "attestd restarts"
	diag "$tmp/attestd2.log"
fi
ctl bundle list --json >"$tmp/o" 2>"$tmp/e"
check "after a restart: other.org still listed (persisted)" \
	test "$(json_get "$tmp/o" '[b["trust_domain"] for b in d["bundles"]]')" = "['other.org']"

ctl entry create --spiffe-id spiffe://example.org/fed --selector unix:uid:$UID_W \
	--federates-with other.org >/dev/null 2>"$tmp/e"
check "entry with --federates-with other.org created" test $? -eq 0

wl() { setpriv --reuid $UID_W --regid $UID_W --clear-groups -- "$CTL" "$@"; }
fetch_ok() { wl fetch x509 --socket "$api" --json >"$tmp/fx" 2>"$tmp/fe"; }
if eventually fetch_ok; then ok "uid $UID_W workload: fetch x509 --json works"; else
	not_ok "uid $UID_W workload: fetch x509 --json works"
	diag "$tmp/fe"
fi
wl bundle show --socket "$api" --json >"$tmp/o" 2>"$tmp/e"
check "uid $UID_W workload: bundle show serves spiffe://other.org" \
	test "$(json_get "$tmp/o" '"spiffe://other.org" in d["bundles"]')" = True
wl bundle show --socket "$api" --format jwks --trust-domain other.org >"$tmp/o" 2>"$tmp/e"
check "uid $UID_W workload: bundle show --format jwks has other.org's bundle" test $? -eq 0

printf 'not a bundle' >"$tmp/garbage.json"
ctl bundle set --trust-domain garbage.org --file "$tmp/garbage.json" >"$tmp/o" 2>"$tmp/e"
rc=$?
check "bundle set of garbage: exit 1, one line" test $rc -eq 1 -a "$(wc -l <"$tmp/e")" -eq 1
diag "$tmp/e"
ctl bundle list --json >"$tmp/o"
check "garbage: nothing new listed, no file" \
	test "$(json_get "$tmp/o" '[b["trust_domain"] for b in d["bundles"]]')" = "['other.org']" -a \
	! -e "$data/bundles/garbage.org.json"

ctl bundle set --trust-domain example.org --file "$tmp/other.json" >"$tmp/o" 2>"$tmp/e"
rc=$?
check "bundle set of attestd's own trust domain: exit 1" test $rc -eq 1
diag "$tmp/e"
ctl bundle set --trust-domain 'Bad/TD' --file "$tmp/other.json" >"$tmp/o" 2>"$tmp/e"
check "bundle set of an invalid trust domain: exit 1" test $? -eq 1

ctl bundle delete other.org >"$tmp/o" 2>"$tmp/e"
check "bundle delete other.org: exit 0" test $? -eq 0
ctl bundle list --json >"$tmp/o"
check "other.org gone from the list and the disk" \
	test "$(json_get "$tmp/o" 'd["bundles"]')" = "[]" -a ! -e "$data/bundles/other.org.json"
ctl bundle delete other.org >"$tmp/o" 2>"$tmp/e"
rc=$?
check "bundle delete other.org again: exit 1, one line" test $rc -eq 1 -a "$(wc -l <"$tmp/e")" -eq 1
ctl bundle delete example.org >"$tmp/o" 2>"$tmp/e"
check "bundle delete of attestd's own trust domain: exit 1" test $? -eq 1

stop_daemon

echo "1..$n"
[ "$failed" -eq 0 ]
