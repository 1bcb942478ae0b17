#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Registration entries end to end, through attestctl and the admin socket of
# a real attestd: create, list (table and --json), show, update, delete; bad
# input refused with exit 1 and the store unchanged; a --data batch of a few
# thousand entries, all or nothing; an entry on unix:uid:4242 gives a uid
# 4242 process its SPIFFE ID and deleting it takes the ID away; kill -9
# during a loop of creates loses no acknowledged entry and leaves the
# database intact.  Closes with the time of a 100,000-entry --data create
# and of listing them (reported, not asserted).  Prints TAP.  Needs root
# and BPF (attestd runs), setpriv, sqlite3.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
PY=/usr/bin/python3
UID_W=4242
BIG=${ENTRIES_BIG:-100000}

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
command -v sqlite3 >/dev/null || skip_all "no sqlite3"

tmp=$(mktemp -d /tmp/attestd-e2e-entries.XXXXXX)
data=$tmp/data
sock=$tmp/admin.sock
daemon=""
workload=""
loop=""

cleanup() {
	[ -n "$loop" ] && kill -KILL "$loop" 2>/dev/null && wait "$loop" 2>/dev/null
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	[ -n "$workload" ] && kill -KILL "$workload" 2>/dev/null && wait "$workload" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ctl() { "$CTL" --admin-socket "$sock" "$@"; }

# eventually CMD...: CMD succeeds within 10 s.
eventually() {
	for _ in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

start_daemon() { # start_daemon LOG
	"$ATTESTD" --socket "$tmp/api.sock" --admin-socket "$sock" --data-dir "$data" \
		--log-level warn >"$1" 2>&1 &
	daemon=$!
	eventually ctl entry list --json >/dev/null 2>&1
}

# json_get FILE EXPR: prints EXPR evaluated on the JSON in FILE (as d).
json_get() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# one_line_err RC WANT_RC ERRFILE OUTFILE: exit status as wanted, one stderr line, no stdout.
one_line_err() { [ "$1" -eq "$2" ] && [ "$(wc -l <"$3")" -eq 1 ] && [ ! -s "$4" ]; }

if start_daemon "$tmp/attestd.log"; then ok "attestd serves entry calls"; else
	not_ok "attestd serves entry calls"
	diag "$tmp/attestd.log"
	echo "1..$n"
	exit 1
fi

# --- create, show, list ---
ctl entry create --spiffe-id spiffe://example.org/web --selector unix:uid:1000 \
	--selector k8s:ns:prod --x509-ttl 90m --jwt-ttl 120 --dns-name web.example.org \
	--hint web --json >"$tmp/c.json" 2>"$tmp/c.err"
rc=$?
if [ $rc -eq 0 ] && "$PY" - "$tmp/c.json" <<'EOF'; then
import json, sys
d = json.load(open(sys.argv[1]))
want = {"id": str, "spiffe_id": str, "parent_id": str, "selectors": list, "x509_svid_ttl": int,
        "jwt_svid_ttl": int, "dns_names": list, "hint": str, "federates_with": list, "revision": int}
ok = all(isinstance(d.get(k), t) for k, t in want.items()) and \
     d["spiffe_id"] == "spiffe://example.org/web" and d["parent_id"] == "" and \
     d["selectors"] == ["k8s:ns:prod", "unix:uid:1000"] and d["x509_svid_ttl"] == 5400 and \
     d["jwt_svid_ttl"] == 120 and d["dns_names"] == ["web.example.org"] and d["hint"] == "web" and \
     d["federates_with"] == [] and d["revision"] == 1 and len(d["id"]) == 36
sys.exit(0 if ok else 1)
EOF
	ok "entry create --json: design.md's shape, TTLs parsed, selectors sorted"
else
	not_ok "entry create --json: design.md's shape, TTLs parsed, selectors sorted"
	diag "$tmp/c.json" "$tmp/c.err"
fi
id=$(json_get "$tmp/c.json" 'd["id"]' 2>/dev/null)

ctl entry show "$id" --json >"$tmp/s.json" 2>&1
check "entry show --json prints the entry as created" cmp -s "$tmp/c.json" "$tmp/s.json"

ctl entry show "$id" >"$tmp/s.txt" 2>&1
check "entry show: one field per line" \
	test "$(grep -cE "^(id +$id|spiffe id +spiffe://example.org/web|x509 svid ttl +90m .*|revision +1)$" "$tmp/s.txt")" -eq 4

ctl entry create --spiffe-id spiffe://example.org/api --selector unix:uid:2000 >"$tmp/c2.txt" 2>&1
check "entry create (text) exits 0" test $? -eq 0

ctl entry list >"$tmp/l.txt" 2>&1
rc=$?
check "entry list: an aligned table, header and one row per entry" \
	test $rc -eq 0 -a "$(head -1 "$tmp/l.txt" | tr -s ' ')" = "SPIFFE ID SELECTORS X509 TTL JWT TTL ID" -a \
	"$(wc -l <"$tmp/l.txt")" -eq 3 -a \
	"$(grep -cE "^spiffe://example.org/web +k8s:ns:prod,unix:uid:1000 +90m +2m +$id$" "$tmp/l.txt")" -eq 1
# Where the last column (ID) starts, on every line: one place if the table is aligned.
id_col() { awk '{ print length($0) - length($NF) }' "$1" | sort -u | wc -l; }
check "entry list: columns line up" test "$(id_col "$tmp/l.txt")" -eq 1

ctl entry list --json >"$tmp/l.json" 2>&1
check "entry list --json: {\"entries\":[...]} sorted by SPIFFE ID" \
	test "$(json_get "$tmp/l.json" '",".join(e["spiffe_id"] for e in d["entries"])')" = \
	"spiffe://example.org/api,spiffe://example.org/web"
ctl entry list --selector unix:uid:1000 --json >"$tmp/f.json" 2>&1
check "entry list --selector filters" test "$(json_get "$tmp/f.json" 'len(d["entries"])')" = 1
ctl entry list --spiffe-id spiffe://example.org/api --json >"$tmp/f.json" 2>&1
check "entry list --spiffe-id filters" \
	test "$(json_get "$tmp/f.json" 'd["entries"][0]["spiffe_id"]')" = spiffe://example.org/api

# --- update ---
ctl entry update "$id" --hint changed --x509-ttl 2h --json >"$tmp/u.json" 2>"$tmp/u.err"
rc=$?
check "entry update: given fields replaced, others kept, revision 2" \
	test $rc -eq 0 -a "$(json_get "$tmp/u.json" '(d["hint"], d["x509_svid_ttl"], d["jwt_svid_ttl"], d["dns_names"], d["revision"])')" = \
	"('changed', 7200, 120, ['web.example.org'], 2)"
ctl entry update "$id" --dns-name '' --selector unix:uid:1000 --json >"$tmp/u.json" 2>"$tmp/u.err"
check "entry update: an empty list value empties the list; selectors replaced" \
	test "$(json_get "$tmp/u.json" '(d["dns_names"], d["selectors"], d["hint"], d["revision"])')" = \
	"([], ['unix:uid:1000'], 'changed', 3)"

# --- bad input: exit 1, one line, the store unchanged ---
ctl entry list --json >"$tmp/before.json"
bad() { # bad NAME WANT_RC GREP ARGS...: exit WANT_RC, GREP in stderr; for exit 1, one line
	local name=$1 want=$2 pat=$3 good=0
	shift 3
	ctl "$@" >"$tmp/o" 2>"$tmp/e"
	local rc=$?
	if [ "$want" -eq 1 ]; then one_line_err $rc 1 "$tmp/e" "$tmp/o" || good=1; else
		[ $rc -eq "$want" ] && [ ! -s "$tmp/o" ] || good=1
	fi
	if [ $good -eq 0 ] && head -1 "$tmp/e" | grep -q -- "$pat"; then ok "$name"; else
		not_ok "$name (exit $rc)"
		diag "$tmp/e"
	fi
}
bad "uppercase trust domain: exit 1, the reason" 1 \
	"^attestctl: invalid SPIFFE ID 'spiffe://Example.org/x': trust domain must be lowercase$" \
	entry create --spiffe-id spiffe://Example.org/x --selector unix:uid:1
bad "another trust domain: refused by attestd" 1 "not in trust domain example.org" \
	entry create --spiffe-id spiffe://other.org/x --selector unix:uid:1
bad "unknown selector type: exit 1" 1 "invalid selector 'aws:iid:x'" \
	entry create --spiffe-id spiffe://example.org/x --selector aws:iid:x
bad "TTL out of range: refused by attestd" 1 "x509_svid_ttl" \
	entry create --spiffe-id spiffe://example.org/x --selector unix:uid:1 --x509-ttl 5s
bad "duplicate registration: exit 1" 1 "exists" \
	entry create --spiffe-id spiffe://example.org/api --selector unix:uid:2000
bad "update to an invalid value: exit 1" 1 "trust domain" \
	entry update "$id" --spiffe-id spiffe://other.org/x
bad "show of an unknown id: exit 1" 1 "no entry" entry show 0b9ee0a8-4a7e-4b3f-9a51-0c8c6f7f2a10
bad "delete of a non-id: exit 1" 1 "not an entry id" entry delete ../etc/passwd
bad "usage: a DUR that is none exits 2" 2 "not a duration" \
	entry create --spiffe-id spiffe://example.org/x --selector unix:uid:1 --jwt-ttl 5x
printf '{"entries":[{"spiffe_id":"spiffe://example.org/ok","selectors":["unix:uid:1"]},{"spiffe_id":7}]}' >"$tmp/bad1.json"
bad "--data with a malformed entry: exit 1, names it" 1 "entries\[1\]: spiffe_id" entry create --data "$tmp/bad1.json"
"$PY" - "$tmp/bad2.json" <<'EOF'
import json, sys
e = [{"spiffe_id": "spiffe://example.org/batch/%d" % i, "selectors": ["unix:uid:%d" % (50000 + i)]}
     for i in range(500)]
e[250]["selectors"] = ["unix:uid:0250"]
json.dump({"entries": e}, open(sys.argv[1], "w"))
EOF
bad "--data with one invalid entry of 500: exit 1, names it" 1 "entry 250: selectors\[0\]" \
	entry create --data "$tmp/bad2.json"
bad "--data of a missing file: exit 1" 1 "cannot read" entry create --data "$tmp/nonesuch.json"
ctl entry list --json >"$tmp/after.json"
check "the refused input changed nothing (list before = after)" cmp -s "$tmp/before.json" "$tmp/after.json"

usage_rc() { ctl "$@" >/dev/null 2>&1; echo $?; }
check "usage: create without --selector exits 2" \
	test "$(usage_rc entry create --spiffe-id spiffe://example.org/x)" -eq 2
check "usage: show without an id exits 2" test "$(usage_rc entry show)" -eq 2
check "usage: update with no flags exits 2" test "$(usage_rc entry update "$id")" -eq 2
check "usage: --data with entry flags exits 2" \
	test "$(usage_rc entry create --data "$tmp/bad1.json" --hint x)" -eq 2
h=0
for s in create list show update delete; do [ "$(usage_rc entry $s --help)" -eq 0 ] || h=1; done
check "--help on every entry subcommand exits 0" test $h -eq 0

# --- delete ---
ctl entry delete "$id" --json >"$tmp/d.json" 2>&1
rc=$?
check "entry delete --json" test $rc -eq 0 -a "$(json_get "$tmp/d.json" 'd["id"]')" = "$id"
check "a deleted entry is gone" test "$(usage_rc entry show "$id")" -eq 1

# --- a batch from a file ---
"$PY" - "$tmp/batch.json" 3000 batch <<'EOF'
import json, sys
path, n, p = sys.argv[1], int(sys.argv[2]), sys.argv[3]
json.dump({"entries": [{"spiffe_id": "spiffe://example.org/%s/%d" % (p, i),
                        "selectors": ["unix:uid:%d" % (100000 + i), "k8s:ns:%s" % p]}
                       for i in range(n)]}, open(path, "w"))
EOF
ctl entry create --data "$tmp/batch.json" >"$tmp/b.out" 2>"$tmp/b.err"
rc=$?
check "--data of 3000 entries: exit 0, 'created 3000 entries', quiet on stderr when piped" \
	test $rc -eq 0 -a "$(cat "$tmp/b.out")" = "created 3000 entries" -a ! -s "$tmp/b.err"
ctl entry list --selector k8s:ns:batch --json >"$tmp/b.json" 2>&1
check "all 3000 are listed" test "$(json_get "$tmp/b.json" 'len(d["entries"])')" = 3000
bad "the same file again: every one a duplicate, exit 1" 1 "entry 0:" entry create --data "$tmp/batch.json"
ctl entry list --selector k8s:ns:batch --json >"$tmp/b2.json" 2>&1
check "... and still 3000" test "$(json_get "$tmp/b2.json" 'len(d["entries"])')" = 3000

# --- an entry gives a process its identity ---
setpriv --reuid $UID_W --regid $UID_W --clear-groups sleep 300 &
workload=$!
has_id() { ctl attest --pid "$workload" --json 2>/dev/null | "$PY" -c \
	'import json,sys; sys.exit(0 if "spiffe://example.org/uid4242" in json.load(sys.stdin)["spiffe_ids"] else 1)'; }
tracked() { ctl attest --pid "$workload" >/dev/null 2>&1; }
eventually tracked
ctl entry create --spiffe-id spiffe://example.org/uid4242 --selector unix:uid:$UID_W --json >"$tmp/w.json" 2>&1
wid=$(json_get "$tmp/w.json" 'd["id"]' 2>/dev/null)
check "attest --pid of a uid 4242 process lists the entry's SPIFFE ID" eventually has_id
ctl entry delete "$wid" >/dev/null 2>&1
no_id() { tracked && ! has_id; }
check "deleting the entry takes the SPIFFE ID away" eventually no_id
kill -KILL "$workload" 2>/dev/null
wait "$workload" 2>/dev/null
workload=""

# --- kill -9 during a loop of creates ---
rm -f "$tmp/stop" "$tmp/acked"
(
	i=0
	while [ ! -e "$tmp/stop" ]; do
		i=$((i + 1))
		if out=$(ctl entry create --spiffe-id "spiffe://example.org/crash/$i" \
			--selector "unix:uid:$((200000 + i))" --json 2>/dev/null); then
			echo "$out" >>"$tmp/acked"
		fi
	done
) &
loop=$!
sleep 1.5
kill -KILL "$daemon"
wait "$daemon" 2>/dev/null
daemon=""
touch "$tmp/stop"
wait "$loop"
loop=""
acked=$(wc -l <"$tmp/acked" 2>/dev/null || echo 0)
check "creates were acknowledged before the kill ($acked)" test "$acked" -gt 0
check "after kill -9: PRAGMA integrity_check says ok" \
	test "$(sqlite3 "$data/store.db" 'PRAGMA integrity_check')" = ok
if start_daemon "$tmp/attestd2.log"; then ok "attestd restarts on the same data dir"; else
	not_ok "attestd restarts on the same data dir"
	diag "$tmp/attestd2.log"
fi
ctl entry list --json >"$tmp/all.json" 2>&1
if "$PY" - "$tmp/acked" "$tmp/all.json" <<'EOF'; then
import json, sys
acked = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
have = {e["id"]: e for e in json.load(open(sys.argv[2]))["entries"]}
missing = [a["id"] for a in acked if a["id"] not in have or have[a["id"]]["spiffe_id"] != a["spiffe_id"]]
if missing:
    print("# missing after restart: %d of %d, e.g. %s" % (len(missing), len(acked), missing[0]))
sys.exit(1 if missing else 0)
EOF
	ok "every acknowledged create survived kill -9"
else
	not_ok "every acknowledged create survived kill -9"
fi

# --- the closing numbers: a big --data create and a list (not asserted) ---
"$PY" - "$tmp/big.json" "$BIG" big <<'EOF'
import json, sys
path, n, p = sys.argv[1], int(sys.argv[2]), sys.argv[3]
json.dump({"entries": [{"spiffe_id": "spiffe://example.org/%s/%d" % (p, i),
                        "selectors": ["unix:uid:%d" % (300000 + i), "k8s:ns:%s" % p]}
                       for i in range(n)]}, open(path, "w"))
EOF
t0=$(date +%s%N)
ctl entry create --data "$tmp/big.json" >"$tmp/big.out" 2>"$tmp/big.err"
rc=$?
t1=$(date +%s%N)
ctl entry list >"$tmp/big.txt" 2>&1
t2=$(date +%s%N)
ctl entry list --json >"$tmp/big-list.json" 2>&1
t3=$(date +%s%N)
check "--data of $BIG entries: exit 0" test $rc -eq 0 -a "$(cat "$tmp/big.out")" = "created $BIG entries"
total=$(($(wc -l <"$tmp/big.txt") - 1))
ms() { echo $((($2 - $1) / 1000000)); }
echo "# $BIG entries: entry create --data $(ms "$t0" "$t1") ms; then with $total entries stored:" \
	"entry list $(ms "$t1" "$t2") ms, entry list --json $(ms "$t2" "$t3") ms"

kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=""
check "SIGTERM: attestd exits 0" test $rc -eq 0
check "the store is intact at the end" test "$(sqlite3 "$data/store.db" 'PRAGMA integrity_check')" = ok

echo "1..$n"
[ "$failed" -eq 0 ]
