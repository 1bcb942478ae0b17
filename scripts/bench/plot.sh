#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scripts/bench/plot.sh DIR: PNG figures from a bench run's DIR/results.json
# and DIR/latency/*.us, with gnuplot (Debian: gnuplot-nox).
#   match.png       matcher_match time per call vs entries
#   latency_cdf.png connect -> first X509SVIDResponse, CDF per target
#   exec_rate.png   fork+exec rate per repetition, without and with attestd
set -euo pipefail
D=${1:-build/bench}
PY=/usr/bin/python3

"$PY" - "$D" <<'PYEOF'
import json, sys
d = sys.argv[1]
r = json.load(open(f"{d}/results.json"))
with open(f"{d}/match.dat", "w") as f:
    for n, us in sorted(r["match_us"].items(), key=lambda kv: int(kv[0])):
        f.write(f"{n} {us}\n")
with open(f"{d}/exec_rate_plot.dat", "w") as f:
    for i, run in enumerate(r["exec_rate_runs"]):
        f.write(f"{i + 1} {run['run']} {run['rate']}\n")
PYEOF

curves=""
for t in floor attestd baseline; do
	f=$D/latency/$t.us
	[ -s "$f" ] || continue
	awk -v n="$(wc -l <"$f")" '{print $1, NR / n}' "$f" >"$D/latency/$t.cdf"
	case $t in
	floor) label="bare gRPC connect + round trip (floor)" color="#888888" ;;
	attestd) label="attestd" color="#1f77b4" ;;
	baseline) label="baseline attestor (per-call /proc + sha256)" color="#d62728" ;;
	esac
	curves="$curves${curves:+, }\"$D/latency/$t.cdf\" using 1:2 with lines lw 2 lc rgb \"$color\" title \"$label\""
done

gnuplot <<EOF
set terminal pngcairo size 900,540 font ",11"
set grid

set output "$D/match.png"
set title "matcher\\\\_match: time per call vs registration entries (15 process selectors)"
set xlabel "entries (log scale)"
set ylabel "µs per call"
set logscale x
set xrange [500:200000]
set yrange [0:*]
set key off
plot "$D/match.dat" using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f77b4"

unset logscale x
set xrange [*:*]
set output "$D/exec_rate.png"
set title "fork+exec rate per repetition, in run order (execstorm)"
set xlabel "repetition"
set ylabel "execs/s"
set yrange [0:*]
set xtics 1
set style fill solid 0.8
set boxwidth 0.7
set key below
plot "$D/exec_rate_plot.dat" using 1:(strcol(2) eq "A" ? \$3 : 1/0) with boxes lc rgb "#888888" title "without attestd", \
     "$D/exec_rate_plot.dat" using 1:(strcol(2) eq "B" ? \$3 : 1/0) with boxes lc rgb "#1f77b4" title "with attestd"

set output "$D/latency_cdf.png"
set title "connect to first X509SVIDResponse, workload executable of 20 MB"
set xlabel "µs (log scale)"
set ylabel "fraction of connections"
set logscale x
set xtics auto
set yrange [0:1]
set key inside bottom right opaque
plot $curves
EOF
echo "  BENCH    plots: $D/match.png $D/exec_rate.png $D/latency_cdf.png" >&2
