#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fleet mode end to end: two attestd instances on this host (--node-name
# node-a and node-b) share one PostgreSQL store in a private cluster and one
# upstream CA.  An entry created through node A's admin socket is matched on
# node B within a second; node-scoped entries (parent_id = a node's SPIFFE
# ID) apply only on their node; with PostgreSQL stopped, node B keeps
# attesting its cached entries; restarted, both resync; the SVIDs of both
# nodes verify against the one upstream root.  Prints TAP.
# Needs root, BPF, and the postgresql package.  Processes are killed by PID.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
PY=/usr/bin/python3
TD=example.org
UID_W=4343

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=$((failed + 1)); }
check() { # check NAME CMD...
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
diag() { sed 's/^/# /' "$@"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
[ -x "$ATTESTD" ] && [ -x "$CTL" ] || skip_all "$ATTESTD or $CTL not built"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] && [ -x "$pgbin/postgres" ] || skip_all "no PostgreSQL server (apt-get install postgresql)"
id postgres >/dev/null 2>&1 || skip_all "no postgres user"
command -v setpriv >/dev/null || skip_all "no setpriv"
command -v openssl >/dev/null || skip_all "no openssl"

tmp=$(mktemp -d /tmp/attestd-e2e-fleet.XXXXXX)
chmod 755 "$tmp"
pg=$tmp/pg
pgpid=""
da="" db=""
workload=""

# alive PID: running (a child that exited stays a zombie until waited for)
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null; }

stop_pid() { # stop_pid PID SIGNAL: signal it, wait up to 10 s, then SIGKILL; its exit status
	local p=$1 sig=$2
	[ -n "$p" ] || return 0
	kill -"$sig" "$p" 2>/dev/null || return 0
	for _ in $(seq 200); do
		if ! alive "$p"; then
			wait "$p" 2>/dev/null
			return
		fi
		sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 137
}

cleanup() {
	stop_pid "$da" TERM
	stop_pid "$db" TERM
	stop_pid "$workload" KILL 2>/dev/null
	stop_pid "$pgpid" INT
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- a private PostgreSQL: unix socket only, run as postgres, its PID is ours ---
mkdir -p "$pg" && chown postgres: "$pg"
if ! setpriv --reuid=postgres --regid=postgres --init-groups -- \
	"$pgbin/initdb" -D "$pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
	--no-sync --no-instructions >"$tmp/initdb.log" 2>&1; then
	echo "1..0 # SKIP initdb failed"
	diag "$tmp/initdb.log"
	exit 0
fi

pg_start() {
	setpriv --reuid=postgres --regid=postgres --init-groups -- \
		"$pgbin/postgres" -D "$pg/data" -k "$pg" -c listen_addresses= -c fsync=off \
		-c shared_buffers=16MB >>"$tmp/postgres.log" 2>&1 &
	pgpid=$!
	for _ in $(seq 200); do
		"$pgbin/pg_isready" -q -h "$pg" -d postgres && return 0
		sleep 0.05
	done
	return 1
}
pg_stop() { stop_pid "$pgpid" INT; pgpid=""; }

pg_start || { echo "1..0 # SKIP postgres did not start"; diag "$tmp/postgres.log"; exit 0; }
"$pgbin/psql" -q -h "$pg" -U postgres -d postgres -c "CREATE DATABASE attestd" >/dev/null
STORE="postgresql:///attestd?host=$pg&user=postgres"

# --- one upstream CA for the fleet ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/O=attestd e2e/CN=fleet root" -keyout "$tmp/root.key" -out "$tmp/root.pem" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	>/dev/null 2>&1 || { echo "1..0 # SKIP cannot make a root CA"; exit 0; }

# start_node NAME: attestd for node NAME in $tmp/NAME, pid in $started
start_node() {
	local nm=$1
	mkdir -p "$tmp/$nm"
	"$ATTESTD" --node-name "$nm" --store "$STORE" --data-dir "$tmp/$nm/data" \
		--socket "$tmp/$nm/api.sock" --admin-socket "$tmp/$nm/admin.sock" \
		--upstream-ca-cert "$tmp/root.pem" --upstream-ca-key "$tmp/root.key" \
		--trust-domain "$TD" --log-level info >>"$tmp/$nm.log" 2>&1 &
	started=$!
}

eventually() { # eventually TRIES CMD...: CMD succeeds within TRIES x 50 ms
	local tries=$1
	shift
	for _ in $(seq "$tries"); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

ctl() { # ctl NODE ARGS...
	local nm=$1
	shift
	"$CTL" --admin-socket "$tmp/$nm/admin.sock" "$@"
}

serving() { ctl "$1" ps >/dev/null 2>&1; }

# ids NODE: the SPIFFE IDs NODE's attestd gives the workload, sorted, comma-separated
ids() {
	ctl "$1" attest --pid "$workload" --json 2>>"$tmp/attest.err" |
		"$PY" -c 'import json,sys; print(",".join(sorted(json.load(sys.stdin)["spiffe_ids"])))'
}
has_ids() { [ "$(ids "$1")" = "$2" ]; }

start_node node-a
da=$started
start_node node-b
db=$started
if eventually 200 serving node-a && eventually 200 serving node-b; then
	ok "two attestd nodes serve on one PostgreSQL store"
else
	not_ok "two attestd nodes serve on one PostgreSQL store"
	diag "$tmp/node-a.log" "$tmp/node-b.log"
	echo "1..$n"
	exit 1
fi
check "each node logs its node SPIFFE ID" \
	grep -q "node_id=spiffe://$TD/attestd/node/node-b" "$tmp/node-b.log"

# The workload both nodes see (one kernel): uid $UID_W.
setpriv --reuid=$UID_W --regid=$UID_W --clear-groups -- sleep 1000 &
workload=$!
eventually 100 has_ids node-b "" || true

# --- an entry created on node A reaches node B within a second ---
G=spiffe://$TD/fleet/everywhere
ONLY_A=spiffe://$TD/fleet/only-a
ONLY_B=spiffe://$TD/fleet/only-b
t0=$(date +%s%N)
ctl node-a entry create --spiffe-id "$G" --selector unix:uid:$UID_W >/dev/null
rc=$?
if [ $rc -eq 0 ] && eventually 20 has_ids node-b "$G"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	ok "entry created on node A is matched on node B within a second (${ms} ms)"
else
	not_ok "entry created on node A is matched on node B within a second"
	echo "# node-b says: $(ids node-b)"
	diag "$tmp/node-b.log"
fi

# --- node-scoped entries: only on their node ---
ctl node-a entry create --spiffe-id "$ONLY_B" --selector unix:uid:$UID_W \
	--parent-id "spiffe://$TD/attestd/node/node-b" >/dev/null
ctl node-b entry create --spiffe-id "$ONLY_A" --selector unix:uid:$UID_W \
	--parent-id "spiffe://$TD/attestd/node/node-a" >/dev/null
if eventually 20 has_ids node-a "$G,$ONLY_A" && eventually 20 has_ids node-b "$G,$ONLY_B"; then
	ok "node-scoped entries apply only on their node"
else
	not_ok "node-scoped entries apply only on their node"
	echo "# node-a: $(ids node-a); node-b: $(ids node-b)"
fi
nlist=$(ctl node-b entry list --json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))')
check "entry list shows the whole fleet's entries on every node" test "$nlist" = 3

# --- one root of trust: both nodes' SVIDs verify against the upstream root ---
fetch_once() { # fetch_once NODE: a fresh process of uid $UID_W fetches its SVIDs from NODE
	local dir=$tmp/$1/svid
	mkdir -p "$dir" && chown $UID_W "$dir"
	setpriv --reuid=$UID_W --regid=$UID_W --clear-groups -- \
		"$CTL" fetch x509 --socket "$tmp/$1/api.sock" --write "$dir" >"$dir.out" 2>&1 || return 1
	openssl verify -CAfile "$tmp/root.pem" -untrusted "$dir/svid.0.pem" "$dir/svid.0.pem" \
		>>"$dir.out" 2>&1
}
# The fetching process is new: attestd may answer "not attested yet; retry" at first.
fetch_verify() { eventually 40 fetch_once "$1"; }
if fetch_verify node-a && fetch_verify node-b; then
	ok "X.509-SVIDs from both nodes verify against the one upstream root"
else
	not_ok "X.509-SVIDs from both nodes verify against the one upstream root"
	diag "$tmp/node-a/svid.out" "$tmp/node-b/svid.out"
fi

# --- the database goes away: identities stay ---
pg_stop
sleep 0.5
: >"$tmp/attest.err"
if has_ids node-b "$G,$ONLY_B"; then
	ok "with PostgreSQL stopped, node B still attests its cached SPIFFE IDs"
else
	not_ok "with PostgreSQL stopped, node B still attests its cached SPIFFE IDs"
	echo "# node-b: $(ids node-b)"
	diag "$tmp/attest.err"
fi
check "node B logs the outage" eventually 60 grep -q "database unreachable" "$tmp/node-b.log"
if ctl node-a entry create --spiffe-id "spiffe://$TD/fleet/lost" --selector unix:uid:1 \
	>/dev/null 2>"$tmp/create-down.err"; then
	not_ok "a write during the outage fails with one line"
else
	ok "a write during the outage fails with one line: $(head -1 "$tmp/create-down.err")"
fi
check "node B keeps serving the Workload API during the outage" fetch_verify node-b

# A change made while node B cannot hear: written straight into the database
# with the trigger off, once PostgreSQL is back; only a resync finds it.
pg_start || not_ok "PostgreSQL restarts"
"$pgbin/psql" -q -h "$pg" -U postgres -d attestd -v ON_ERROR_STOP=1 >/dev/null 2>"$tmp/psql.err" <<EOF
SET session_replication_role = replica;
DELETE FROM entry_selectors WHERE entry_pk = (SELECT pk FROM entries WHERE spiffe_id = '$ONLY_B');
DELETE FROM entries WHERE spiffe_id = '$ONLY_B';
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = 'attestd' AND pid <> pg_backend_pid();
EOF
if eventually 160 has_ids node-b "$G"; then
	ok "after the restart node B resyncs (a change it was never told of is applied)"
else
	not_ok "after the restart node B resyncs (a change it was never told of is applied)"
	echo "# node-b: $(ids node-b)"
	diag "$tmp/psql.err"
	tail -20 "$tmp/node-b.log" | diag
fi
check "node B logs the reconnect" grep -q "database reachable again" "$tmp/node-b.log"
AFTER=spiffe://$TD/fleet/after # sorts before $G
ok_write() { ctl node-a entry create --spiffe-id "$AFTER" --selector unix:uid:$UID_W >/dev/null 2>&1; }
if eventually 120 ok_write && eventually 20 has_ids node-b "$AFTER,$G"; then
	ok "writes work again and reach node B"
else
	not_ok "writes work again and reach node B"
fi

# --- moving stores: entry list --json from the fleet, entry create --data into a SQLite node ---
ctl node-a entry list --json >"$tmp/export.json"
mkdir -p "$tmp/node-c"
"$ATTESTD" --node-name node-c --data-dir "$tmp/node-c/data" --socket "$tmp/node-c/api.sock" \
	--admin-socket "$tmp/node-c/admin.sock" --trust-domain "$TD" >>"$tmp/node-c.log" 2>&1 &
dc=$!
same_ids() {
	"$PY" - "$tmp/export.json" "$tmp/import.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(f))["entries"] for f in sys.argv[1:])
key = lambda e: (e["id"], e["spiffe_id"], e["parent_id"], e["revision"] > 0, e.get("created_at"))
sys.exit(0 if a and sorted(map(key, a)) == sorted(map(key, b)) else 1)
PYEOF
}
if eventually 200 serving node-c && ctl node-c entry create --data "$tmp/export.json" >/dev/null &&
	ctl node-c entry list --json >"$tmp/import.json" && same_ids; then
	ok "entries exported from PostgreSQL import into SQLite with their ids, parents and times"
else
	not_ok "entries exported from PostgreSQL import into SQLite with their ids, parents and times"
	diag "$tmp/node-c.log"
fi
stop_pid "$dc" TERM

# --- clean shutdown of both ---
stop_pid "$da" TERM
rc_a=$?
stop_pid "$db" TERM
da="" db=""
check "both nodes stop on SIGTERM" test $rc_a -eq 0
check "no sanitizer or crash reports in the logs" \
	sh -c "! grep -qE 'runtime error|AddressSanitizer|Segmentation' '$tmp/node-a.log' '$tmp/node-b.log'"

echo "1..$n"
[ "$failed" -eq 0 ]
