#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Operations end to end: attestd with --metrics-addr 127.0.0.1:<free port>
# and --log-format json; a uid 4242 workload (a python3-grpcio client
# holding a FetchX509SVID stream) and attestctl fetch x509 get SVIDs; then
# /metrics carries the series with sensible values and valid exposition
# text, /live and /ready are 200, attestctl healthcheck exits 0; explain
# names the selector a near-miss entry wants; watch shows the release, a
# refusal and, once the entry is deleted, the revocation; each logged once
# as JSON with no key material.  Real faults: the SQLite store file moved
# away under attestd (and back), PostgreSQL stopped under a second attestd
# (if installed), and a BPF link closed inside attestd with gdb (if
# installed): /ready 503 and healthcheck exit 1 with the reason, /live 200.
# Prints TAP.  Needs root, BPF, curl, python3-grpcio.  Processes are killed
# by PID.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
PY=/usr/bin/python3
UID_W=4242
UID_X=4243
TD=example.org

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=$((failed + 1)); }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check NAME CMD...
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
diag() { sed 's/^/# /' "$@"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
[ -x "$ATTESTD" ] && [ -x "$CTL" ] || skip_all "$ATTESTD or $CTL not built"
command -v curl >/dev/null || skip_all "no curl"
command -v setpriv >/dev/null || skip_all "no setpriv"
"$PY" -c 'import grpc, grpc_tools' 2>/dev/null || skip_all "no python3-grpcio / python3-grpc-tools"

top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/attestd-e2e-ops.XXXXXX)
chmod 755 "$tmp" # the uid 4242 workload runs from here
daemon="" watcher="" workload="" pgpid="" d2=""

alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null; }
stop_pid() { # stop_pid PID SIGNAL: signal it, wait up to 10 s, then SIGKILL
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
	stop_pid "$watcher" TERM
	stop_pid "$workload" KILL
	stop_pid "$daemon" TERM
	stop_pid "$d2" TERM
	stop_pid "$pgpid" INT
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

eventually() { # eventually TRIES CMD...: CMD succeeds within TRIES x 100 ms
	local tries=$1
	shift
	for _ in $(seq "$tries"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_code() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "http://$1$2"; }
is_code() { [ "$(http_code "$1" "$2")" = "$3" ]; }
ctl() { "$CTL" --admin-socket "$tmp/admin.sock" "$@"; }
# metric NAME{LABELS}: its value in $tmp/metrics ("" if absent)
metric() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/metrics"; }
ge() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
eq() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'; }

port=$(free_port)
addr=127.0.0.1:$port
"$ATTESTD" --socket "$tmp/api.sock" --admin-socket "$tmp/admin.sock" --data-dir "$tmp/data" \
	--trust-domain "$TD" --metrics-addr "$addr" --log-format json >"$tmp/attestd.log" 2>&1 &
daemon=$!
if eventually 100 ctl ps >/dev/null 2>&1; then ok "attestd serves the admin socket"; else
	not_ok "attestd serves the admin socket"
	diag "$tmp/attestd.log"
	echo "1..$n"
	exit 1
fi

# --- health when all is well ---
check "GET /live is 200" is_code "$addr" /live 200
if eventually 50 is_code "$addr" /ready 200; then ok "GET /ready is 200"; else
	not_ok "GET /ready is 200"
	diag "$tmp/body"
fi
check "/ready lists every check as ok" test "$(grep -cE '^(loop|bpf|events|store|ca|socket) ok ' "$tmp/body")" -eq 6
ctl healthcheck >"$tmp/hc.out" 2>"$tmp/hc.err"
rc=$?
check "attestctl healthcheck: exit 0, 'live and ready'" \
	test $rc -eq 0 -a "$(cat "$tmp/hc.out")" = "attestd is live and ready" -a ! -s "$tmp/hc.err"
ctl healthcheck --json >"$tmp/hc.json" 2>/dev/null
check "attestctl healthcheck --json: live, ready, six checks" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["live"] and d["ready"] and d["reason"] == "" and len(d["checks"]) == 6
         and all(c["ok"] for c in d["checks"]) else 1)' "$tmp/hc.json"
check "GET of an unknown path is 404, POST is 405" \
	test "$(http_code "$addr" /nothing)" = 404 -a \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$addr/metrics")" = 405

# --- entries, a watcher, a workload with a stream, a fetch, a refusal ---
ctl entry create --spiffe-id "spiffe://$TD/ops/w" --selector unix:uid:$UID_W --json >"$tmp/e1.json"
id_w=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$tmp/e1.json" 2>/dev/null)
ctl entry create --spiffe-id "spiffe://$TD/ops/near" --selector unix:uid:$UID_W \
	--selector unix:path:/nonexistent/bin/server >/dev/null
check "two entries created" test -n "$id_w"

ctl watch --json >"$tmp/watch.out" 2>"$tmp/watch.err" &
watcher=$!
check "attestctl watch subscribes" eventually 50 grep -q '^watching identities' "$tmp/watch.err"

if "$PY" -m grpc_tools.protoc -I "$top/proto" --python_out "$tmp" --grpc_python_out "$tmp" \
	"$top/proto/workload.proto" "$top/proto/struct.proto" 2>"$tmp/protoc.err"; then
	ok "python stubs generated from proto/workload.proto"
else
	not_ok "python stubs generated from proto/workload.proto"
	diag "$tmp/protoc.err"
fi
cat >"$tmp/holder.py" <<'EOF'
# Holds a FetchX509SVID stream: prints "svids ID,..." per message, then "end CODE".
import sys, time
sys.path.insert(0, sys.argv[1])
import grpc
import workload_pb2 as w
import workload_pb2_grpc as wg
stub = wg.SpiffeWorkloadAPIStub(grpc.insecure_channel("unix:" + sys.argv[2]))
deadline, got = time.time() + 10, False
while True:
    try:
        for m in stub.FetchX509SVID(w.X509SVIDRequest(),
                                    metadata=[("workload.spiffe.io", "true")]):
            got = True
            print("svids " + ",".join(s.spiffe_id for s in m.svids), flush=True)
        print("end OK", flush=True)
        break
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAVAILABLE and not got and time.time() < deadline:
            time.sleep(0.1)
            continue
        print("end " + e.code().name, flush=True)
        break
EOF
setpriv --reuid $UID_W --regid $UID_W --clear-groups -- "$PY" "$tmp/holder.py" "$tmp" "$tmp/api.sock" \
	>"$tmp/holder.out" 2>"$tmp/holder.err" &
workload=$!
if eventually 100 grep -q "^svids spiffe://$TD/ops/w$" "$tmp/holder.out"; then
	ok "workload stream gets spiffe://$TD/ops/w"
else
	not_ok "workload stream gets spiffe://$TD/ops/w"
	diag "$tmp/holder.out" "$tmp/holder.err"
fi
cp "$CTL" "$tmp/attestctl" && chmod 755 "$tmp/attestctl"
setpriv --reuid $UID_W --regid $UID_W --clear-groups -- "$tmp/attestctl" fetch x509 \
	--socket "$tmp/api.sock" >"$tmp/fetch.out" 2>&1
check "attestctl fetch x509 as uid $UID_W prints its SPIFFE ID" grep -qx "spiffe://$TD/ops/w" "$tmp/fetch.out"
setpriv --reuid $UID_X --regid $UID_X --clear-groups -- "$tmp/attestctl" fetch x509 \
	--socket "$tmp/api.sock" >"$tmp/fetch2.out" 2>&1
check "attestctl fetch x509 as uid $UID_X (no entry) is refused" grep -q "permission denied" "$tmp/fetch2.out"

# --- /metrics ---
curl -s --max-time 5 "http://$addr/metrics" >"$tmp/metrics"
check "/metrics is valid exposition text: HELP and TYPE before samples, name{labels} value" "$PY" - "$tmp/metrics" <<'EOF'
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? '
                    r'(-?[0-9.e+-]+|\+Inf|-Inf|NaN)$')
typed, helped = {}, set()
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("# HELP "):
        helped.add(line.split()[2]); continue
    if line.startswith("# TYPE "):
        _, _, name, t = line.split(); typed[name] = t; continue
    m = sample.match(line)
    if not m: sys.exit("bad line: " + line)
    name = m.group(1)
    base = re.sub(r'_(bucket|sum|count)$', '', name) if name not in typed else name
    if base not in typed or base not in helped: sys.exit("no HELP/TYPE for " + name)
    if typed[base] == "counter" and not name.endswith("_total"): sys.exit("counter without _total: " + name)
EOF
check "metrics: Workload API calls by rpc and code (stream ended CANCELLED by attestctl)" \
	ge "$(metric 'attestd_workload_api_calls_total{rpc="FetchX509SVID",code="CANCELLED"}')" 1
check "metrics: the refused call counted PERMISSION_DENIED" \
	ge "$(metric 'attestd_workload_api_calls_total{rpc="FetchX509SVID",code="PERMISSION_DENIED"}')" 1
lat_count=$(metric 'attestd_workload_api_latency_seconds_count{rpc="FetchX509SVID"}')
check "metrics: latency histogram, +Inf bucket equals _count, _sum under 10 s" sh -c '
	[ "$1" -ge 3 ] && [ "$1" = "$2" ] && awk -v s="$3" "BEGIN { exit !(s > 0 && s < 10) }"' _ \
	"$lat_count" "$(metric 'attestd_workload_api_latency_seconds_bucket{rpc="FetchX509SVID",le="+Inf"}')" \
	"$(metric 'attestd_workload_api_latency_seconds_sum{rpc="FetchX509SVID"}')"
check "metrics: identities released (x509) and refused" sh -c '[ "$1" -ge 2 ] && [ "$2" -ge 1 ]' _ \
	"$(metric 'attestd_identities_released_total{type="x509"}')" \
	"$(metric 'attestd_identities_refused_total{code="PERMISSION_DENIED"}')"
check "metrics: SVIDs minted, one open stream" sh -c '[ "$1" -ge 1 ] && [ "$2" -eq 1 ]' _ \
	"$(metric 'attestd_svids_minted_total{type="x509"}')" "$(metric attestd_workload_api_streams)"
check "metrics: 2 entries, tracked processes, ring buffer events, no loss" sh -c '
	[ "$1" -eq 2 ] && [ "$2" -ge 10 ] && [ "$3" -ge 10 ] && [ "$4" -eq 0 ]' _ \
	"$(metric attestd_entries)" "$(metric attestd_tracked_processes)" \
	"$(metric attestd_ringbuf_events_total)" "$(metric attestd_ringbuf_lost_events_total)"
check "metrics: startup resync, matched attestations, admin CreateEntry calls" sh -c '
	[ "$1" -eq 1 ] && [ "$2" -ge 1 ] && [ "$3" -eq 2 ]' _ \
	"$(metric 'attestd_resyncs_total{reason="startup"}')" \
	"$(metric 'attestd_attestations_total{result="matched"}')" \
	"$(metric 'attestd_admin_api_calls_total{rpc="CreateEntry",code="OK"}')"
check "metrics: ready and live are 1, every health check ok" sh -c '
	[ "$1" = 1 ] && [ "$2" = 1 ] && [ "$3" -eq 6 ]' _ "$(metric attestd_ready)" "$(metric attestd_live)" \
	"$(grep -c '^attestd_health_check_ok{check="[a-z]*"} 1$' "$tmp/metrics")"
if [ "$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null)" = 1 ]; then
	check "metrics: BPF run time per program (bpf_stats on)" \
		ge "$(metric 'attestd_bpf_prog_runs_total{prog="handle_exec"}')" 1
else
	check "metrics: bpf_stats off, so no run-time series" sh -c '
		[ "$1" = 0 ] && ! grep -q "^attestd_bpf_prog_run" "$2"' _ \
		"$(metric attestd_bpf_stats_enabled)" "$tmp/metrics"
fi

# --- explain: the near miss names the selector it wants ---
wpid=$(pgrep -u $UID_W -f "$tmp/holder.py" | head -1)
ctl explain --pid "$wpid" >"$tmp/explain.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -qE "^spiffe://$TD/ops/w +matches" "$tmp/explain.out" &&
	grep -qE "^spiffe://$TD/ops/near +missing 1 of 2" "$tmp/explain.out" &&
	grep -qE '^    lacks unix:path:/nonexistent/bin/server  \(has unix:path:/' "$tmp/explain.out"; then
	ok "explain: the near miss lacks unix:path:/nonexistent/bin/server"
else
	not_ok "explain: the near miss lacks unix:path:/nonexistent/bin/server"
	diag "$tmp/explain.out"
fi
ctl explain --pid "$wpid" --json >"$tmp/explain.json" 2>&1
check "explain --json: matches first, then the near miss with what is missing" "$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
e = d["entries"]
sys.exit(0 if d["pid"] == int(sys.argv[2]) and len(e) == 2 and e[0]["matches"]
         and not e[1]["matches"] and [m["selector"] for m in e[1]["missing"]]
             == ["unix:path:/nonexistent/bin/server"]
         and e[1]["missing"][0]["process_has"][0].startswith("unix:path:/") else 1)' \
	"$tmp/explain.json" "$wpid"
check "explain of an untracked pid: exit 1, one line" sh -c \
	'! "$1" --admin-socket "$2" explain --pid 2147483647 >/dev/null 2>"$3" && [ "$(wc -l <"$3")" -eq 1 ]' \
	_ "$CTL" "$tmp/admin.sock" "$tmp/e.err"

# --- revoke: the entry goes, the stream is ended, watch says so ---
ctl entry delete "$id_w" >/dev/null
if eventually 100 grep -q "^end PERMISSION_DENIED" "$tmp/holder.out"; then
	ok "entry deleted: the workload's stream ends PERMISSION_DENIED"
else
	not_ok "entry deleted: the workload's stream ends PERMISSION_DENIED"
	diag "$tmp/holder.out"
fi
watched() { # watched EVENT PID: a line of watch --json with that event for that pid
	"$PY" -c '
import json, sys
ev, pid = sys.argv[2], int(sys.argv[3])
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["event"] == ev and d["pid"] == pid and (ev == "refused" or d["spiffe_id"].endswith("/ops/w")):
        sys.exit(0)
sys.exit(1)' "$tmp/watch.out" "$1" "$2"
}
check "watch: the workload's identity released" eventually 30 watched released "$wpid"
check "watch: the workload's identity revoked" eventually 30 watched revoked "$wpid"
check "watch: lines are JSON with the reason of the revocation" "$PY" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
r = [e for e in evs if e["event"] == "revoked"]
sys.exit(0 if r and "no registration entry matches" in r[0]["reason"] and r[0]["exe"] else 1)' "$tmp/watch.out"
check "watch: the refused fetch of uid $UID_X" "$PY" -c '
import json, sys
sys.exit(0 if any(json.loads(l)["event"] == "refused" and json.loads(l)["uid"] == int(sys.argv[2])
                  for l in open(sys.argv[1])) else 1)' "$tmp/watch.out" $UID_X
stop_pid "$watcher" TERM
watcher=""

# --- the log: one JSON object per line; each identity once; no key material ---
check "log: every line is a JSON object" "$PY" -c '
import json, sys
for l in open(sys.argv[1]):
    if not isinstance(json.loads(l), dict): sys.exit(1)' "$tmp/attestd.log"
check "log: the workload's release and revocation once each, with pid, exe, entry" "$PY" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
pid, eid = sys.argv[2], sys.argv[3]
rel = [l for l in lines if l["msg"] == "identity released" and l.get("pid") == pid]
rev = [l for l in lines if l["msg"] == "identity revoked" and l.get("pid") == pid]
sys.exit(0 if len(rel) == 1 and len(rev) == 1 and rel[0]["entry"] == eid and rel[0]["exe"]
         and rev[0]["entry"] == eid and rev[0]["reason"] else 1)' "$tmp/attestd.log" "$wpid" "$id_w"
check "log: no key material or tokens" sh -c '! grep -qE "PRIVATE KEY|BEGIN CERT|eyJ[A-Za-z0-9_-]{20}" "$1"' \
	_ "$tmp/attestd.log"

# --- a real store fault: the SQLite file moved away under attestd ---
mv "$tmp/data/store.db" "$tmp/data/store.db.moved"
if eventually 50 is_code "$addr" /ready 503 && grep -q "^not ready: store: database file" "$tmp/body"; then
	ok "store file moved away: /ready is 503 with the reason"
else
	not_ok "store file moved away: /ready is 503 with the reason"
	diag "$tmp/body"
fi
check "store file moved away: /live is still 200" is_code "$addr" /live 200
ctl healthcheck >"$tmp/hc.out" 2>"$tmp/hc.err"
rc=$?
check "store file moved away: healthcheck exit 1, one line naming the store" \
	test $rc -eq 1 -a "$(wc -l <"$tmp/hc.err")" -eq 1 -a \
	"$(grep -c '^attestctl: not ready: store: database file .* is gone' "$tmp/hc.err")" -eq 1
mv "$tmp/data/store.db.moved" "$tmp/data/store.db"
check "store file back: /ready is 200 again" eventually 50 is_code "$addr" /ready 200
check "store file back: healthcheck exit 0" sh -c '"$1" --admin-socket "$2" healthcheck >/dev/null' _ "$CTL" "$tmp/admin.sock"

# --- a real detach: gdb closes a BPF link fd inside attestd ---
link_fd=""
for f in /proc/$daemon/fdinfo/*; do
	grep -q '^link_type:' "$f" 2>/dev/null && { link_fd=$(basename "$f"); break; }
done
if ! command -v gdb >/dev/null; then
	skip "BPF link closed inside attestd: /ready 503, healthcheck 1" "no gdb"
elif [ -z "$link_fd" ]; then
	not_ok "BPF link closed inside attestd: found a link fd"
else
	timeout 60 gdb -p "$daemon" -batch -ex "call (int)close($link_fd)" >"$tmp/gdb.log" 2>&1
	if eventually 50 is_code "$addr" /ready 503 && grep -q "^not ready: bpf: handle_.* is detached" "$tmp/body"; then
		ok "BPF link closed inside attestd: /ready is 503 naming the program"
	else
		not_ok "BPF link closed inside attestd: /ready is 503 naming the program"
		diag "$tmp/body" "$tmp/gdb.log"
	fi
	ctl healthcheck >/dev/null 2>"$tmp/hc.err"
	rc=$?
	check "BPF link closed: healthcheck exit 1 with the reason" \
		test $rc -eq 1 -a "$(grep -c 'not ready: bpf: handle_.* is detached' "$tmp/hc.err")" -eq 1
fi
stop_pid "$workload" KILL
workload=""
stop_pid "$daemon" TERM
daemon=""

# --- a real outage: PostgreSQL stopped under a second attestd ---
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/postgres" ] || ! id postgres >/dev/null 2>&1; then
	skip "PostgreSQL stopped: /ready 503, healthcheck 1, and back" "no PostgreSQL server"
else
	pg=$tmp/pg
	mkdir -p "$pg" && chown postgres: "$pg"
	pg_start() {
		setpriv --reuid=postgres --regid=postgres --init-groups -- \
			"$pgbin/postgres" -D "$pg/data" -k "$pg" -c listen_addresses= -c fsync=off \
			-c shared_buffers=16MB >>"$tmp/postgres.log" 2>&1 &
		pgpid=$!
		eventually 100 "$pgbin/pg_isready" -q -h "$pg" -d postgres
	}
	if setpriv --reuid=postgres --regid=postgres --init-groups -- "$pgbin/initdb" -D "$pg/data" \
		-A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions \
		>"$tmp/initdb.log" 2>&1 && pg_start &&
		"$pgbin/psql" -q -h "$pg" -U postgres -d postgres -c "CREATE DATABASE attestd" >/dev/null; then
		port2=$(free_port)
		"$ATTESTD" --socket "$tmp/api2.sock" --admin-socket "$tmp/admin2.sock" \
			--data-dir "$tmp/data2" --store "postgresql:///attestd?host=$pg&user=postgres" \
			--metrics-addr "127.0.0.1:$port2" >"$tmp/attestd2.log" 2>&1 &
		d2=$!
		check "PostgreSQL store: /ready is 200" eventually 100 is_code "127.0.0.1:$port2" /ready 200
		stop_pid "$pgpid" INT
		pgpid=""
		if eventually 100 is_code "127.0.0.1:$port2" /ready 503 && grep -q "^not ready: store: " "$tmp/body"; then
			ok "PostgreSQL stopped: /ready is 503 naming the store"
		else
			not_ok "PostgreSQL stopped: /ready is 503 naming the store"
			diag "$tmp/body"
		fi
		"$CTL" --admin-socket "$tmp/admin2.sock" healthcheck >/dev/null 2>"$tmp/hc.err"
		rc=$?
		check "PostgreSQL stopped: healthcheck exit 1, 'not ready: store: ...'" \
			test $rc -eq 1 -a "$(grep -c '^attestctl: not ready: store: ' "$tmp/hc.err")" -eq 1
		check "PostgreSQL stopped: /live is still 200" is_code "127.0.0.1:$port2" /live 200
		pg_start
		check "PostgreSQL back: /ready is 200 again" eventually 150 is_code "127.0.0.1:$port2" /ready 200
		stop_pid "$d2" TERM
		d2=""
	else
		skip "PostgreSQL stopped: /ready 503, healthcheck 1, and back" "cannot start a private cluster"
		diag "$tmp/initdb.log"
	fi
fi

echo "1..$n"
[ "$failed" -eq 0 ]
