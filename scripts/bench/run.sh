#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `make bench`: measures attestd against baselines taken in this same run
# and writes $BUILD/bench/results.json (keys: shared/design.md, "Benchmark
# results"; method: docs/performance.md), prints a table and draws
# $BUILD/bench/*.png.  Every comparison is A/B inside the run, A and B
# interleaved; absolute numbers are printed but mean nothing across runs.
#
# Must run as root (attestd loads BPF).  Each attestd started here has its
# own data dir and sockets under a temporary dir and is stopped by PID;
# every process this script starts is recorded and killed by PID on exit.
#
# Env: BUILD (default build), BENCH_QUICK=1 (fewer, shorter repetitions,
# for trying the script out; not for figures), BENCH_KEEP=1 (keep the
# temporary dir).
set -uo pipefail

BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
OUT=$BUILD/bench
PY=/usr/bin/python3
QUICK=${BENCH_QUICK:-0}
TMP=$(mktemp -d /tmp/attestd-bench.XXXXXX)
PIDS=$TMP/pids
MEMCG=
: >"$PIDS"
mkdir -p "$OUT" "$TMP/parts"
rm -f "$OUT"/*.json "$OUT"/*.us "$OUT"/*.dat "$OUT"/*.png

if [ "$QUICK" = 1 ]; then
	EXEC_ORDER="A B B A" EXEC_SECS=2 LAT_ROUNDS=2 LAT_PER=20 JWT_SECS=2 JWT_ROUNDS=2
	MEM_PROCS=2000 LAT_PROCS=500 LAT_ENTRIES=1000 MEM_ENTRIES=10000 MINT_REPS=1
else
	EXEC_ORDER="A B B A A B B A A B B A A B B A A B B A" EXEC_SECS=2 LAT_ROUNDS=12 LAT_PER=50 JWT_SECS=6
	JWT_ROUNDS=3 MEM_PROCS=10000 LAT_PROCS=2000 LAT_ENTRIES=10000 MEM_ENTRIES=100000 MINT_REPS=3
fi
WORKERS=$(nproc)

say() { printf '  %-8s %s\n' BENCH "$*" >&2; }
die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

cleanup() {
	local pid
	while read -r pid; do
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	done <"$PIDS"
	for f in "$TMP"/*.pids; do
		[ -f "$f" ] || continue
		while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$f"
	done
	wait 2>/dev/null
	[ -n "$MEMCG" ] && rmdir "$MEMCG" 2>/dev/null
	mkdir -p "$OUT/logs"
	for d in "$TMP"/*/; do
		[ -f "$d/log" ] && cp "$d/log" "$OUT/logs/$(basename "$d").log"
	done
	[ "${BENCH_KEEP:-0}" = 1 ] && echo "bench: kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "must run as root: attestd loads BPF programs"
[ -x "$PY" ] || die "$PY is missing (Debian's python3)"
command -v bpftool >/dev/null || die "bpftool is missing (make deps)"
for b in attestd attestctl selftests/execstorm selftests/sleeper selftests/bench_spawn; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run make bench, not this script"
done

# --- the C benchmarks that link libattest.a -------------------------------
# Built here by hand until the Makefile has a rule for bench/*.c (same
# flags as the Makefile's user/ objects).
PKGS="libbpf grpc libprotobuf-c json-c sqlite3 libcap openssl libcurl"
build_bench() {
	local src bin cflags libs
	cflags="-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
-Wno-missing-field-initializers -Wno-format-truncation -D_GNU_SOURCE -pthread \
-I$BUILD -I$BUILD/gen -Ibpf -Iuser -Iselftests $(pkg-config --cflags $PKGS)"
	libs="$(pkg-config --libs $PKGS) -lelf -lz -lm"
	mkdir -p "$BUILD/bench"
	for src in bench/*.c; do
		bin=$BUILD/bench/$(basename "$src" .c)
		if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$BUILD/libattest.a" -nt "$bin" ]; then
			printf '  %-8s %s\n' CC "$bin" >&2
			# shellcheck disable=SC2086
			cc $cflags "$src" "$BUILD/libattest.a" -pthread -Wl,--as-needed $libs -o "$bin" ||
				die "cannot build $bin"
		fi
	done
}
build_bench

# Copies of everything run here: others rebuild $BUILD while this runs.
BIN=$TMP/bin
mkdir -p "$BIN"
for b in attestd attestctl selftests/execstorm selftests/sleeper selftests/bench_spawn \
	bench/bench_match bench/bench_mint bench/bench_entries bench/bench_latency \
	bench/baseline_attestor; do
	for ((i = 0; i < 50; i++)); do
		cp "$BUILD/$b" "$BIN/" 2>/dev/null && cmp -s "$BUILD/$b" "$BIN/${b##*/}" && break
		sleep 0.2
	done
done
"$BIN/attestd" --version >/dev/null || die "cannot run a copy of $BUILD/attestd"

# --- helpers ---------------------------------------------------------------
track() { echo "$1" >>"$PIDS"; }

# start_attestd NAME [ARGS...]: sets APID and ADIR.  With IN_MEMCG set, attestd
# starts inside that memory cgroup (so its BPF maps are charged there).
start_attestd() {
	local name=$1 i
	shift
	ADIR=$TMP/$name
	mkdir -p "$ADIR"
	if [ -n "${IN_MEMCG:-}" ]; then
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$IN_MEMCG" \
			"$BIN/attestd" --data-dir "$ADIR/data" --socket "$ADIR/api.sock" \
			--admin-socket "$ADIR/admin.sock" "$@" >"$ADIR/log" 2>&1 &
	else
		"$BIN/attestd" --data-dir "$ADIR/data" --socket "$ADIR/api.sock" \
			--admin-socket "$ADIR/admin.sock" "$@" >"$ADIR/log" 2>&1 &
	fi
	APID=$!
	track "$APID"
	for ((i = 0; i < 300; i++)); do
		grep -q 'attestd started' "$ADIR/log" && return 0
		kill -0 "$APID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$ADIR/log" >&2
	die "attestd ($name) did not start"
}

stop_attestd() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# The id of map NAME among the BPF maps process PID holds open.
map_id() {
	local pid=$1 name=$2 id
	for id in $(cat /proc/"$pid"/fdinfo/* 2>/dev/null | awk '/^map_id:/{print $2}' | sort -un); do
		if [ "$(bpftool -j map show id "$id" 2>/dev/null | jq -r .name)" = "$name" ]; then
			echo "$id"
			return 0
		fi
	done
	return 1
}

# "LOST EVENTS" from attestd PID's stats map, summed over CPUs.
stats_of() {
	local id
	id=$(map_id "$1" stats) || {
		echo "0 0"
		return
	}
	bpftool -j map dump id "$id" | jq -r '
		def slot(k): [.[] | select(.formatted.key == k) | .formatted.values[].value] | add // 0;
		"\(slot(0)) \(slot(2))"'
}

memlock_of() { # bytes_memlock of attestd PID's map NAME
	local id
	id=$(map_id "$1" "$2") && bpftool -j map show id "$id" | jq -r .bytes_memlock || echo 0
}

cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' /proc/"$1"/stat; } # utime+stime
rss_of() { awk '/^VmRSS:/{print $2 * 1024}' /proc/"$1"/status; }
kmem() { [ -n "$MEMCG" ] && cat "$MEMCG/memory.kmem.usage_in_bytes" || echo 0; }

# spawn N PIDFILE: N sleepers under a bench_spawn parent; sets SPAWNER.
spawn() {
	local n=$1 pidfile=$2 i
	rm -f "$pidfile"
	"$BIN/bench_spawn" "$n" "$pidfile" "$BIN/sleeper" \
		>"$pidfile.out" 2>&1 &
	SPAWNER=$!
	track "$SPAWNER"
	for ((i = 0; i < 1200; i++)); do
		[ -f "$pidfile" ] && return 0
		kill -0 "$SPAWNER" 2>/dev/null || break
		sleep 0.05
	done
	cat "$pidfile.out" >&2
	die "bench_spawn $n did not finish"
}

unspawn() {
	kill -TERM "$SPAWNER" 2>/dev/null
	wait "$SPAWNER" 2>/dev/null
}

# Waits until attestd (admin socket $1) tracks every pid in $2; 0 when it does.
wait_tracked() {
	local sock=$1 pidfile=$2 i
	for ((i = 0; i < 120; i++)); do
		"$BIN/attestctl" --json --admin-socket "$sock" ps >"$TMP/ps.json" 2>/dev/null &&
			"$PY" scripts/bench/report.py tracked "$TMP/ps.json" "$pidfile" >/dev/null &&
			return 0
		sleep 0.5
	done
	return 1
}

# storm SECONDS: "RATE EXECS CPU_SECONDS" of an execstorm run, CPU time
# (user+sys, the workers' and their children's, BPF programs included)
# from wait4's rusage.
storm() {
	"$PY" -c '
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
out = p.stdout.read()
_, _, ru = os.wait4(p.pid, 0)
f = dict(kv.split("=") for kv in out.split())
print(f["rate"], f["execs"], round(ru.ru_utime + ru.ru_stime, 3))' "$BIN/execstorm" "$1" "$WORKERS"
}

# --- machine ---------------------------------------------------------------
others=$(bpftool -j map show 2>/dev/null | jq '[.[] | select(.name == "procs")] | length')
"$PY" - "$others" >"$TMP/parts/machine.json" <<'EOF'
import json, os, platform, sys
cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
print(json.dumps({"machine": {"cpu": cpu, "cores": os.cpu_count(),
                              "kernel": platform.release(),
                              "memory_mb": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20},
                  "other_trackers_loaded": int(sys.argv[1])}))
EOF
echo "{\"exec_secs\":$EXEC_SECS,\"exec_workers\":$WORKERS,\"exec_order\":\"$EXEC_ORDER\"}" \
	>"$TMP/parts/config.json"
say "machine: $(jq -c .machine "$TMP/parts/machine.json"); other attestd trackers loaded: $others"

# --- matcher ---------------------------------------------------------------
say "matcher: time per match at 1k..100k entries"
"$BIN/bench_match" >"$TMP/parts/match.json" || die "bench_match failed"

# --- minting ---------------------------------------------------------------
# Alternate bench_mint and openssl speed, MINT_REPS times each.
say "minting: x509svid_mint vs openssl speed ecdsap256 (sign) and EVP keygen"
for ((i = 0; i < MINT_REPS; i++)); do
	"$BIN/bench_mint" 1.5 2>/dev/null >>"$TMP/mint.jsonl" || die "bench_mint failed"
	openssl speed -seconds 2 ecdsap256 2>/dev/null |
		awk '/256 bits ecdsa/{print "{\"openssl_sign_per_s\":" $(NF-1) "}"}' >>"$TMP/mint.jsonl"
done
"$PY" scripts/bench/report.py mint "$TMP/mint.jsonl" >"$TMP/parts/mint.json"

# --- exec rate, A/B --------------------------------------------------------
say "exec rate: execstorm ${EXEC_SECS}s x $WORKERS workers, order $EXEC_ORDER (A without attestd, B with)"
: >"$OUT/exec_rate.dat"
for x in $EXEC_ORDER; do
	if [ "$x" = A ]; then
		read -r r n cpu < <(storm "$EXEC_SECS")
		echo "A $r 0 0 0 $n $cpu" >>"$OUT/exec_rate.dat"
	else
		start_attestd exec
		sleep 0.5
		read -r l0 e0 < <(stats_of "$APID")
		c0=$(cpu_ticks "$APID")
		read -r r n cpu < <(storm "$EXEC_SECS")
		sleep 0.2
		c1=$(cpu_ticks "$APID")
		read -r l1 e1 < <(stats_of "$APID")
		stop_attestd "$APID"
		echo "B $r $((l1 - l0)) $((e1 - e0)) $((c1 - c0)) $n $cpu" >>"$OUT/exec_rate.dat"
	fi
	say "  $(tail -1 "$OUT/exec_rate.dat")"
done

# --- where an exec's cost goes ----------------------------------------------
# One more storm with attestd loaded and the kernel's BPF run-time stats on
# (BPF_ENABLE_STATS: on while a helper holds the fd, off when it exits): ns
# of BPF per exec, by program, and attestd's CPU per exec.  Not in the A/B
# figures, since the stats themselves cost a little.
say "exec cost: BPF run time and attestd CPU per exec (BPF_ENABLE_STATS)"
prog_stats() { # "name run_time_ns run_cnt" for each BPF program attestd PID holds
	local id
	for id in $(cat /proc/"$1"/fdinfo/* 2>/dev/null | awk '/^prog_id:/{print $2}' | sort -un); do
		bpftool -j prog show id "$id" | jq -r '"\(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"'
	done
}
start_attestd profile
"$PY" -c '
import ctypes, platform, signal
nr = {"x86_64": 321, "aarch64": 280}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
attr = (ctypes.c_uint32 * 32)()  # union bpf_attr: enable_stats.type = BPF_STATS_RUN_TIME
print(libc.syscall(nr, 32, attr, ctypes.sizeof(attr)), flush=True)
signal.pause()' >"$TMP/bpfstats.fd" 2>&1 &
HOLD=$!
track "$HOLD"
sleep 0.5
prog_stats "$APID" >"$TMP/prog0.txt"
c0=$(cpu_ticks "$APID")
read -r r n cpu < <(storm "$EXEC_SECS")
sleep 0.2
c1=$(cpu_ticks "$APID")
prog_stats "$APID" >"$TMP/prog1.txt"
kill "$HOLD"
wait "$HOLD" 2>/dev/null
stop_attestd "$APID"
"$PY" scripts/bench/report.py profile "$TMP/prog0.txt" "$TMP/prog1.txt" "$r" "$n" \
	"$((c1 - c0))" "$(cat "$TMP/bpfstats.fd")" >"$TMP/parts/profile.json"
say "  $(cat "$TMP/parts/profile.json")"

# --- event loss with a 4 KiB ring buffer -----------------------------------
say "event loss: attestd --ringbuf-size 4096 under execstorm, 20 sleepers started mid-storm"
start_attestd tiny --ringbuf-size 4096 --resync-interval 1
read -r l0 e0 < <(stats_of "$APID")
"$BIN/execstorm" 4 "$WORKERS" >"$TMP/tiny.storm" &
STORM=$!
track "$STORM"
sleep 1.5
spawn 20 "$TMP/tiny.pids"
wait "$STORM"
sleep 3 # two resync intervals after the last loss
read -r l1 e1 < <(stats_of "$APID")
"$BIN/attestctl" --json --admin-socket "$ADIR/admin.sock" ps >"$TMP/tiny.ps1.json"
sleep 1.2
"$BIN/attestctl" --json --admin-socket "$ADIR/admin.sock" ps >"$TMP/tiny.ps2.json"
resyncs=$(grep -c 'ring buffer lost events; resyncing' "$ADIR/log")
logged=$(grep 'ring buffer lost events; resyncing' "$ADIR/log" | tail -1 | sed -n 's/.*lost_total=\([0-9]*\).*/\1/p')
"$PY" scripts/bench/report.py repair "$TMP/tiny.ps1.json" "$TMP/tiny.ps2.json" "$TMP/tiny.pids" \
	"$((l1 - l0))" "$((e1 - e0))" "$resyncs" "${logged:-0}" >"$TMP/parts/tiny.json"
unspawn
stop_attestd "$APID"
say "  $(cat "$TMP/parts/tiny.json")"

# --- memory per process and per entry --------------------------------------
cg=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
if [ -n "$cg" ] && [ -d "/sys/fs/cgroup/memory$cg" ] &&
	mkdir "/sys/fs/cgroup/memory$cg/attestd-bench.$$" 2>/dev/null; then
	MEMCG=/sys/fs/cgroup/memory$cg/attestd-bench.$$
	kmem_method="memory cgroup v1 kmem delta of attestd's own memcg"
else
	kmem_method="none (no cgroup v1 memory controller): see memlock estimate"
fi
say "memory: attestd RSS, kernel memory and procs map over $MEM_PROCS sleepers${MEMCG:+ (memcg $MEMCG)}"
IN_MEMCG=$MEMCG start_attestd mem
sleep 1
rss0=$(rss_of "$APID") kmem0=$(kmem) ml0=$(memlock_of "$APID" procs)
spawn "$MEM_PROCS" "$TMP/mem.pids"
wait_tracked "$ADIR/admin.sock" "$TMP/mem.pids" || die "attestd did not track $MEM_PROCS sleepers"
sleep 1
rss1=$(rss_of "$APID") kmem1=$(kmem) ml1=$(memlock_of "$APID" procs)
unspawn
sleep 5 # exits processed, freed BPF map elements through their RCU grace periods
rss2=$(rss_of "$APID") kmem2=$(kmem) ml2=$(memlock_of "$APID" procs)
# Entries, when attestd can take them over its admin API.
ent_rc=3 rss3=0 rss4=0
if "$BIN/bench_entries" "$ADIR/admin.sock" 0 >/dev/null 2>&1; then
	rss3=$(rss_of "$APID")
	"$BIN/bench_entries" "$ADIR/admin.sock" "$MEM_ENTRIES" >"$TMP/mem.entries.json"
	ent_rc=$?
	sleep 1
	rss4=$(rss_of "$APID")
fi
stop_attestd "$APID"
"$PY" - >"$TMP/parts/mem.json" <<EOF
import json
n, ne = $MEM_PROCS, $MEM_ENTRIES
r = {"user_bytes_per_process": round(($rss1 - $rss0) / n),
     "kernel_bytes_per_process": round(($kmem1 - $kmem0) / n) if $kmem1 else None,
     "kernel_bytes_per_process_memlock": round(($ml1 - $ml0) / n),
     "kernel_bytes_method": "$kmem_method",
     "kernel_bytes_per_process_5s_after_exit": round(($kmem2 - $kmem0) / n) if $kmem1 else None,
     "kernel_bytes_per_process_memlock_5s_after_exit": round(($ml2 - $ml0) / n),
     "user_bytes_per_process_returned_after_exit": round(($rss1 - $rss2) / n),
     "memory_processes": n,
     "procs_value_size": 1264}
if $ent_rc == 0:
    r["user_bytes_per_entry_attestd"] = round(($rss4 - $rss3) / ne)
    r["user_bytes_per_entry_attestd_entries"] = ne
print(json.dumps(r))
EOF
say "  $(cat "$TMP/parts/mem.json")"

# --- attestation latency ---------------------------------------------------
say "latency: $LAT_PROCS live processes, $LAT_ENTRIES entries, workload exe >= 20 MB"
CLIENT=$TMP/client20m
cp "$BIN/bench_latency" "$CLIENT"
head -c $((20 << 20)) /dev/urandom >>"$CLIENT"
sha=$(sha256sum "$CLIENT" | cut -d' ' -f1)
spawn "$LAT_PROCS" "$TMP/lat.pids"
for mode in baseline floor; do
	mkdir -p "$TMP/$mode"
	extra=(--entries "$LAT_ENTRIES")
	[ $mode = floor ] && extra=(--no-attest)
	"$BIN/baseline_attestor" --socket "$TMP/$mode/api.sock" --data-dir "$TMP/$mode/data" \
		--workload-exe "$CLIENT" "${extra[@]}" >"$TMP/$mode/log" 2>&1 &
	track $!
	eval "${mode}_pid=$!"
done
for ((i = 0; i < 300; i++)); do
	grep -q serving "$TMP/baseline/log" && grep -q serving "$TMP/floor/log" && break
	sleep 0.1
done
targets=(floor="$TMP/floor/api.sock" baseline="$TMP/baseline/api.sock")
pending=
start_attestd lat
lat_pid=$APID
if [ ! -S "$ADIR/api.sock" ]; then
	pending="attestd does not serve the Workload API on --socket yet"
else
	"$BIN/bench_entries" "$ADIR/admin.sock" "$LAT_ENTRIES" unix:uid:0 "unix:sha256:$sha" \
		>"$TMP/lat.entries.json" 2>"$TMP/lat.entries.err"
	case $? in
	0) targets+=(attestd="$ADIR/api.sock") ;;
	3) pending="attestd's admin API cannot create entries yet (CreateEntries)" ;;
	*) pending="creating entries failed: $(head -1 "$TMP/lat.entries.err")" ;;
	esac
fi
[ -n "$pending" ] && say "  attestd pending: $pending"
wait_tracked "$ADIR/admin.sock" "$TMP/lat.pids" || say "  warning: attestd did not track all sleepers"
mkdir -p "$OUT/latency"
"$CLIENT" x509 "$OUT/latency" "$LAT_ROUNDS" "$LAT_PER" "${targets[@]}" >"$TMP/lat.x509.json" ||
	die "latency client failed"
"$CLIENT" jwt "$JWT_SECS" "$JWT_ROUNDS" "${targets[@]}" >"$TMP/lat.jwt.json" ||
	die "JWT client failed"
stop_attestd "$lat_pid"
kill -TERM "$baseline_pid" "$floor_pid" 2>/dev/null
wait "$baseline_pid" "$floor_pid" 2>/dev/null
unspawn
"$PY" scripts/bench/report.py latency "$TMP/lat.x509.json" "$TMP/lat.jwt.json" "$pending" \
	"$LAT_PROCS" "$LAT_ENTRIES" "$(stat -c %s "$CLIENT")" >"$TMP/parts/latency.json"

# --- results ---------------------------------------------------------------
"$PY" scripts/bench/report.py results "$TMP/parts" "$OUT/exec_rate.dat" "$OUT/results.json" \
	"$QUICK" | tee "$TMP/table.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || die "cannot write results"
if command -v gnuplot >/dev/null; then
	scripts/bench/plot.sh "$OUT" || say "plots failed"
else
	say "gnuplot not installed: no plots (apt-get install gnuplot-nox)"
fi

# --- REPORT=1: the table and plots into docs/ --------------------------------
if [ "${REPORT:-0}" = 1 ]; then
	cp "$OUT"/*.png docs/perf/ 2>/dev/null || say "no plots to copy"
	"$PY" - docs/performance.md "$TMP/table.txt" "$(git rev-parse --short HEAD 2>/dev/null)" <<'PYEOF'
import sys, datetime
doc, table, rev = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
begin, end = "<!-- bench:latest -->", "<!-- /bench:latest -->"
block = (f"{begin}\n### Latest `make bench REPORT=1`\n\nmain at {rev}, "
         f"{datetime.date.today()}:\n\n```\n{table.rstrip()}\n```\n{end}")
if begin in doc:
    doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
else:
    doc = doc.replace("\n## Method, figure by figure", "\n" + block + "\n\n## Method, figure by figure", 1)
open(sys.argv[1], "w").write(doc)
PYEOF
	say "docs/performance.md and docs/perf/*.png updated"
fi
