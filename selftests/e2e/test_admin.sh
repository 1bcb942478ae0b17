#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# attestd and attestctl end to end, over the admin socket: a workload of
# uid 4242 in its own cgroup, exec'd through a symlink, started before and
# after attestd, must be attested with its uid, real exe path and cgroup;
# attestctl's exit codes and one-line errors; the socket's mode and life.
# Prints TAP.  Needs root, cgroup v2 at /sys/fs/cgroup/unified and BPF.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
CG2=/sys/fs/cgroup/unified
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
[ -f "$CG2/cgroup.procs" ] || skip_all "no cgroup v2 at $CG2"
command -v setpriv >/dev/null || skip_all "no setpriv"

tmp=$(mktemp -d /tmp/attestd-e2e-admin.XXXXXX)
chmod 755 "$tmp" # the uid 4242 workload execs through a symlink in here
cg_pre=attestd-e2e-$$-pre
cg_post=attestd-e2e-$$-post
daemon=""
workloads=()

cleanup() {
	local p
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	for p in "${workloads[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rmdir "$CG2/$cg_pre" "$CG2/$cg_post" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ln -s "$(command -v sleep)" "$tmp/workload"
exe_real=$(realpath "$tmp/workload")

# start_workload CGROUP: a uid 4242 sleeper in CGROUP, exec'd via the symlink; pid in $wpid.
start_workload() {
	mkdir -p "$CG2/$1" || return 1
	sh -c 'echo $$ > "$1/cgroup.procs" && exec setpriv --reuid '$UID_W' --regid '$UID_W' \
		--clear-groups -- "$2" 1000' sh "$CG2/$1" "$tmp/workload" &
	wpid=$!
	workloads+=("$wpid")
	# Until the exec through the symlink has happened.
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$wpid/exe" 2>/dev/null)" = "$exe_real" ] && return 0
		sleep 0.05
	done
	return 1
}

# The start time (ticks since boot) of PID: field 22 of /proc/PID/stat.
start_ticks() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }

# attested PID CGROUP JSONFILE: attest --json lists PID with what we gave it.
attested() {
	"$CTL" --admin-socket "$tmp/admin.sock" attest --pid "$1" --json >"$3" 2>"$3.err" || return 1
	"$PY" - "$3" "$1" "$(start_ticks "$1")" "$UID_W" "$exe_real" "/$2" <<'EOF'
import json, sys
f, pid, ticks, uid, exe, cg = sys.argv[1:]
d = json.load(open(f))
sel = d["selectors"]
want = ["unix:uid:" + uid, "unix:path:" + exe, "cgroup:path:" + cg]
ok = d["pid"] == int(pid) and d["start_time"] == int(ticks) and \
     isinstance(d["spiffe_ids"], list) and all(w in sel for w in want)
sys.exit(0 if ok else 1)
EOF
}

# eventually CMD...: CMD succeeds within 10 s (the tracker works asynchronously).
eventually() {
	for _ in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# --- a workload that exists before attestd does ---
if start_workload "$cg_pre"; then ok "workload before attestd started"; else
	not_ok "workload before attestd started"
fi
pre=$wpid

"$ATTESTD" --socket "$tmp/api.sock" --admin-socket "$tmp/admin.sock" \
	--data-dir "$tmp/data" --log-level info >"$tmp/attestd.log" 2>&1 &
daemon=$!
if eventually test -S "$tmp/admin.sock" && eventually "$CTL" --admin-socket "$tmp/admin.sock" ps >/dev/null 2>&1; then
	ok "attestd serves the admin socket"
else
	not_ok "attestd serves the admin socket"
	diag "$tmp/attestd.log"
	echo "1..$n"
	exit 1
fi

check "admin socket is mode 0600" test "$(stat -c %a "$tmp/admin.sock")" = 600

if eventually attested "$pre" "$cg_pre" "$tmp/pre.json"; then
	ok "attest --json: process started before attestd has uid, real exe, cgroup"
else
	not_ok "attest --json: process started before attestd has uid, real exe, cgroup"
	diag "$tmp/pre.json" "$tmp/pre.json.err"
fi

# --- a workload that attestd sees exec ---
start_workload "$cg_post"
post=$wpid
if eventually attested "$post" "$cg_post" "$tmp/post.json"; then
	ok "attest --json: process started after attestd has uid, real exe, cgroup"
else
	not_ok "attest --json: process started after attestd has uid, real exe, cgroup"
	diag "$tmp/post.json" "$tmp/post.json.err"
fi

"$CTL" --admin-socket "$tmp/admin.sock" attest --pid "$post" >"$tmp/attest.txt" 2>&1
rc=$?
check "attest: human output lists the selectors, one per line" \
	test $rc -eq 0 -a "$(grep -cxE "  (unix:uid:$UID_W|unix:path:$exe_real|cgroup:path:/$cg_post)" "$tmp/attest.txt")" -eq 3

"$CTL" --admin-socket "$tmp/admin.sock" ps --json >"$tmp/ps.json" 2>"$tmp/ps.err"
rc=$?
if [ $rc -eq 0 ] && "$PY" - "$tmp/ps.json" "$pre" "$post" "$exe_real" <<'EOF'; then
import json, sys
f, pre, post, exe = sys.argv[1:]
procs = {p["pid"]: p for p in json.load(open(f))["processes"]}
ok = all(int(x) in procs and "unix:path:" + exe in procs[int(x)]["selectors"]
         and "start_time" in procs[int(x)] for x in (pre, post))
sys.exit(0 if ok else 1)
EOF
	ok "ps --json lists both workloads"
else
	not_ok "ps --json lists both workloads"
	diag "$tmp/ps.err"
fi

"$CTL" --admin-socket "$tmp/admin.sock" ps >"$tmp/ps.txt" 2>&1
check "ps: a table with a header and both workloads" \
	test "$(head -1 "$tmp/ps.txt" | tr -s ' ' | sed 's/^ //')" = "PID START EXE CGROUP SPIFFE IDS" -a \
	"$(grep -cE "^ *($pre|$post) " "$tmp/ps.txt")" -eq 2

# --- errors and usage ---
"$CTL" --admin-socket "$tmp/admin.sock" attest --pid 2147483647 >"$tmp/o" 2>"$tmp/e"
rc=$?
check "attest of an untracked pid: exit 1, one line" \
	test $rc -eq 1 -a "$(wc -l <"$tmp/e")" -eq 1 -a ! -s "$tmp/o"

"$CTL" --admin-socket "$tmp/nowhere/admin.sock" ps >"$tmp/o" 2>"$tmp/e"
rc=$?
check "no daemon: exit 1, one line saying so" \
	test $rc -eq 1 -a "$(wc -l <"$tmp/e")" -eq 1 -a ! -s "$tmp/o" -a \
	"$(grep -c 'cannot reach attestd' "$tmp/e")" -eq 1

setpriv --reuid $UID_W --regid $UID_W --clear-groups -- \
	"$CTL" --admin-socket "$tmp/admin.sock" ps >"$tmp/o" 2>"$tmp/e"
rc=$?
check "non-root caller: exit 1, one line" test $rc -eq 1 -a "$(wc -l <"$tmp/e")" -eq 1

usage_rc() { "$CTL" --admin-socket "$tmp/admin.sock" "$@" >/dev/null 2>&1; echo $?; }
check "usage: attest without --pid exits 2" test "$(usage_rc attest)" -eq 2
check "usage: attest --pid abc exits 2" test "$(usage_rc attest --pid abc)" -eq 2
check "usage: attest --pid -1 exits 2" test "$(usage_rc attest --pid -1)" -eq 2
check "usage: attest --pid 12x exits 2" test "$(usage_rc attest --pid 12x)" -eq 2
check "usage: unknown command exits 2" test "$(usage_rc frobnicate)" -eq 2
check "usage: no command exits 2" test "$(usage_rc)" -eq 2
check "--help exits 0" test "$(usage_rc --help)" -eq 0 -a "$(usage_rc attest --help)" -eq 0

# --- the socket's life ---
"$ATTESTD" --socket "$tmp/api2.sock" --admin-socket "$tmp/admin.sock" \
	--data-dir "$tmp/data2" >"$tmp/second.log" 2>&1
rc=$?
check "a second attestd on the same admin socket exits non-zero, 'in use'" \
	test $rc -ne 0 -a "$(grep -c 'in use' "$tmp/second.log")" -ge 1
serves() { "$CTL" --admin-socket "$tmp/admin.sock" ps >/dev/null 2>&1; }
check "the first attestd still serves" serves

kill -TERM "$daemon"
wait "$daemon"
rc=$?
daemon=""
check "SIGTERM: attestd exits 0" test $rc -eq 0
check "SIGTERM: the admin socket is removed" test ! -e "$tmp/admin.sock"

echo "1..$n"
[ "$failed" -eq 0 ]
