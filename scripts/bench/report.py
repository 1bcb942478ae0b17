#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The JSON side of scripts/bench/run.sh: checks on attestctl output, the
derived figures, results.json and the table.  Debian's /usr/bin/python3,
standard library only.

  report.py tracked PS.json PIDFILE              exit 0 when every pid is tracked
  report.py repair PS1 PS2 PIDFILE LOST EVENTS RESYNCS LOGGED_LOST
  report.py mint MINT.jsonl
  report.py profile PROG0 PROG1 RATE EXECS ATTESTD_TICKS STATS_FD
  report.py latency X509.json JWT.json PENDING PROCS ENTRIES CLIENT_BYTES
  report.py results PARTS_DIR EXEC_RATE.dat OUT.json QUICK
"""
import glob
import json
import os
import statistics
import sys


def load_ps(path):
    with open(path) as f:
        return {p["pid"]: p for p in json.load(f)["processes"]}


def pids_of(path):
    with open(path) as f:
        return [int(x) for x in f if x.strip()]


def start_time(pid):
    """Field 22 of /proc/PID/stat, or None when the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def cmd_tracked(ps, pidfile):
    table = load_ps(ps)
    missing = [p for p in pids_of(pidfile) if p not in table]
    print(json.dumps({"missing": len(missing)}))
    return 1 if missing else 0


def cmd_repair(ps1, ps2, pidfile, lost, events, resyncs, logged):
    t1, t2 = load_ps(ps1), load_ps(ps2)
    ours = pids_of(pidfile)
    tracked = sum(1 for p in ours if p in t2 and t2[p]["start_time"] == start_time(p))
    # Stale: in both listings with the same start time, yet gone (or another
    # process) now; a process that exits between two listings is not stale.
    stale = [p for p, r in t2.items()
             if p in t1 and t1[p]["start_time"] == r["start_time"]
             and start_time(p) != r["start_time"]]
    print(json.dumps({"tiny_ringbuf": {
        "ringbuf_bytes": 4096, "lost_events": int(lost), "events": int(events),
        "loss_logged": int(resyncs) > 0, "resyncs_logged": int(resyncs),
        "lost_total_logged": int(logged),
        "sleepers_started_mid_storm": len(ours), "sleepers_tracked_after": tracked,
        "stale_records_after": len(stale),
        "repaired": int(lost) > 0 and int(resyncs) > 0 and tracked == len(ours) and not stale}}))
    return 0


def combine(sign, keygen):
    return 1 / (1 / sign + 1 / keygen)


def cmd_mint(path):
    reps, cur = [], None
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            if "mint_per_s" in d:
                cur = dict(d)
            elif "openssl_sign_per_s" in d and cur:
                cur.update(d)
                reps.append(cur)
                cur = None
    med = lambda k: statistics.median(x[k] for x in reps)
    ratios = [x["mint_per_s"] / combine(x["openssl_sign_per_s"], x["keygen_per_s"]) for x in reps]
    inproc = [x["mint_per_s"] / combine(x["evp_sign_per_s"], x["keygen_per_s"]) for x in reps]
    print(json.dumps({
        "mint_ratio": round(statistics.median(ratios), 3),
        "mint_ratio_reps": [round(x, 3) for x in ratios],
        "mint_ratio_inprocess": round(statistics.median(inproc), 3),
        "mint_per_s": round(med("mint_per_s")), "openssl_sign_per_s": round(med("openssl_sign_per_s")),
        "keygen_per_s": round(med("keygen_per_s")), "evp_sign_per_s": round(med("evp_sign_per_s")),
        "openssl_sign_keygen_per_s": round(combine(med("openssl_sign_per_s"), med("keygen_per_s"))),
        "mint_ratio_method": "per repetition, x509svid_mint_with/s over 1/(1/sign + 1/keygen), sign "
                             "from `openssl speed -seconds 2 ecdsap256` right after, keygen from "
                             "EVP_PKEY_keygen P-256 in bench_mint; median of the repetitions. "
                             "mint_ratio_inprocess: the same with sign from EVP_PKEY_sign in "
                             "bench_mint, in 0.25 s slices alternating with minting"}))
    return 0


def cmd_profile(p0, p1, rate, nexecs, ticks, statsfd):
    def load(p):
        with open(p) as f:
            return {n: (int(t), int(c)) for n, t, c in (l.split() for l in f if l.strip())}
    a, b = load(p0), load(p1)
    execs = int(nexecs)
    progs = {}
    for n, (t, c) in b.items():
        t0, c0 = a.get(n, (0, 0))
        if c > c0:
            progs[n] = {"runs": c - c0, "ns_per_run": round((t - t0) / (c - c0))}
    total = sum(b[n][0] - a.get(n, (0, 0))[0] for n in b)
    print(json.dumps({
        "exec_profile": {"execs_per_s": int(rate), "bpf_stats_fd": int(statsfd),
                         "bpf_ns_per_exec": round(total / execs) if execs else None,
                         "attestd_cpu_us_per_exec": round(int(ticks) / os.sysconf("SC_CLK_TCK") / execs * 1e6, 1) if execs else None,
                         "programs": progs}}))
    return 0


def cmd_latency(x509, jwt, pending, procs, entries, client_bytes):
    with open(x509) as f:
        x = json.load(f)
    with open(jwt) as f:
        j = json.load(f)
    a, b, fl = x.get("attestd"), x["baseline"], x["floor"]
    r = {"grpc_rtt_p99_us": fl["p99_us"], "grpc_rtt_p50_us": fl["p50_us"],
         "baseline_first_svid_p50_us": b["p50_us"], "baseline_first_svid_p99_us": b["p99_us"],
         "baseline_jwt_svid_per_s": j["baseline"]["per_s"], "floor_jwt_svid_per_s": j["floor"]["per_s"],
         "latency_connections": b["n"], "latency_errors": {k: v["errors"] for k, v in x.items()},
         "latency_live_processes": int(procs), "latency_entries": int(entries),
         "latency_client_bytes": int(client_bytes),
         "first_svid_p50_us": None, "first_svid_p99_us": None, "first_svid_speedup": None,
         "jwt_svid_per_s": None}
    if a and a["n"]:
        r.update({"first_svid_p50_us": a["p50_us"], "first_svid_p99_us": a["p99_us"],
                  "first_svid_speedup": round(b["p99_us"] / a["p99_us"], 2),
                  "jwt_svid_per_s": j["attestd"]["per_s"]})
    elif pending:
        r["pending"] = pending
    else:
        r["pending"] = "attestd answered no FetchX509SVID (see latency_errors)"
    print(json.dumps(r))
    return 0


def fmt(v, unit=""):
    if v is None:
        return "pending"
    if isinstance(v, float):
        v = f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def cmd_results(parts, exec_dat, out, quick):
    r = {}
    for p in sorted(glob.glob(os.path.join(parts, "*.json"))):
        with open(p) as f:
            r.update(json.load(f))
    a, b, lost, events, rows, cpu = [], [], 0, 0, [], []
    hz = os.sysconf("SC_CLK_TCK")
    with open(exec_dat) as f:
        for line in f:
            k, rate, l, e, ticks, n, wcpu = line.split()
            rows.append({"run": k, "rate": int(rate), "lost": int(l), "events": int(e),
                         "execs": int(n), "storm_cpu_s": float(wcpu),
                         "attestd_cpu_s": int(ticks) / hz})
            # CPU per exec, the storm's own plus attestd's
            rows[-1]["cpu_us_per_exec"] = (float(wcpu) + int(ticks) / hz) / int(n) * 1e6
            if k == "B":
                cpu.append(int(ticks) / hz / int(n))
            (a if k == "A" else b).append(int(rate))
            if k == "B":
                lost += int(l)
                events += int(e)
    lossless = [x["rate"] for x in rows if x["run"] == "B" and x["lost"] == 0]
    # The order is A B B A ...: rows (0,1), (2,3), ... are neighbours in time.
    pairs = [(rows[i], rows[i + 1]) for i in range(0, len(rows) - 1, 2)]
    pair_ratios = [(y if y["run"] == "B" else x)["rate"] / (x if x["run"] == "A" else y)["rate"]
                   for x, y in pairs if {x["run"], y["run"]} == {"A", "B"}]
    cpu_ratios = [(x if x["run"] == "A" else y)["cpu_us_per_exec"] /
                  (y if y["run"] == "B" else x)["cpu_us_per_exec"]
                  for x, y in pairs if {x["run"], y["run"]} == {"A", "B"}]
    for x in rows:
        x["cpu_us_per_exec"] = round(x["cpu_us_per_exec"], 1)
    r.update({
        "exec_cpu_ratio": round(statistics.median(cpu_ratios), 3),
        "exec_cpu_pair_ratios": [round(x, 3) for x in cpu_ratios],
        "exec_rate_ratio": round(statistics.median(pair_ratios), 3),
        "exec_rate_pair_ratios": [round(x, 3) for x in pair_ratios],
        "exec_rate_ratio_of_means": round(statistics.mean(b) / statistics.mean(a), 3),
        "exec_rate_without": round(statistics.mean(a)), "exec_rate_with": round(statistics.mean(b)),
        "exec_rate_runs": rows,
        "lossless_exec_rate": max(lossless) if lossless else None,
        "lost_events": lost, "exec_events": events,
        "exec_attestd_cpu_us_per_exec": round(statistics.mean(cpu) * 1e6, 1),
        "quick": quick == "1",
    })
    if r.get("user_bytes_per_entry_attestd") is not None:
        r["user_bytes_per_entry_matcher"] = r["user_bytes_per_entry"]
        r["user_bytes_per_entry"] = r["user_bytes_per_entry_attestd"]
        r["user_bytes_per_entry_method"] = ("attestd RSS delta over %d entries created over "
                                            "the admin API" % r["user_bytes_per_entry_attestd_entries"])
    if r.get("kernel_bytes_per_process") is None:
        r["kernel_bytes_per_process"] = r.get("kernel_bytes_per_process_memlock")
        r["kernel_bytes_method"] = "procs map bytes_memlock delta (the kernel's estimate)"
    keys = ["exec_rate_ratio", "lossless_exec_rate", "lost_events", "first_svid_p50_us",
            "first_svid_p99_us", "first_svid_speedup", "grpc_rtt_p99_us", "jwt_svid_per_s",
            "match_us", "mint_ratio", "kernel_bytes_per_process", "user_bytes_per_process",
            "user_bytes_per_entry", "machine"]
    ordered = {k: r.get(k) for k in keys}
    ordered.update({k: v for k, v in sorted(r.items()) if k not in ordered})
    with open(out, "w") as f:
        json.dump(ordered, f, indent=2)
        f.write("\n")

    m, t = r["match_us"], r.get("tiny_ringbuf", {})
    pend = r.get("pending")
    table = [
        ("fork+exec rate (execs/s)", fmt(r["exec_rate_with"]), fmt(r["exec_rate_without"]) + " without",
         fmt(r["exec_rate_ratio"]), ">= 0.95"),
        ("CPU per fork+exec (us), incl. attestd", fmt(statistics.median(
            x["cpu_us_per_exec"] for x in rows if x["run"] == "B")) + " us",
         fmt(statistics.median(x["cpu_us_per_exec"] for x in rows if x["run"] == "A")) + " us",
         fmt(r["exec_cpu_ratio"]), "-"),
        ("lossless exec rate (execs/s)", fmt(r["lossless_exec_rate"]), "-", "-", "machine's max"),
        ("lost events, 4 MiB ring buffer", fmt(lost), "-", "-", "0"),
        ("lost events, 4 KiB ring buffer", fmt(t.get("lost_events")),
         f"{t.get('sleepers_tracked_after')}/{t.get('sleepers_started_mid_storm')} tracked",
         f"{t.get('stale_records_after')} stale", "counted, repaired"),
        ("first X509SVID p50 (us)", fmt(r["first_svid_p50_us"]), fmt(r["baseline_first_svid_p50_us"]),
         fmt(ratio(r["baseline_first_svid_p50_us"], r["first_svid_p50_us"])), "-"),
        ("first X509SVID p99 (us)", fmt(r["first_svid_p99_us"]), fmt(r["baseline_first_svid_p99_us"]),
         fmt(r["first_svid_speedup"]), "> 1 (speedup)"),
        ("gRPC connect+RTT p99 (us), floor", fmt(r["grpc_rtt_p99_us"]), "-",
         fmt(ratio(r["first_svid_p99_us"], r["grpc_rtt_p99_us"])), "-"),
        ("JWT-SVIDs/s, one connection", fmt(r["jwt_svid_per_s"]), fmt(r["baseline_jwt_svid_per_s"]),
         fmt(ratio(r["jwt_svid_per_s"], r["baseline_jwt_svid_per_s"])), "-"),
    ]
    for n in ("1000", "10000", "100000"):
        table.append((f"match_us, {int(n):,} entries", fmt(m[n]), fmt(m["1000"]) + " at 1,000",
                      fmt(ratio(m[n], m["1000"])), "flat"))
    table += [
        ("X.509-SVIDs minted/s", fmt(r["mint_per_s"]), fmt(r["openssl_sign_keygen_per_s"]) + " openssl",
         fmt(r["mint_ratio"]), "-"),
        ("kernel bytes per process", fmt(r["kernel_bytes_per_process"]), "1,264 value",
         fmt(ratio(r["kernel_bytes_per_process"], 1264)), "-"),
        ("user bytes per process", fmt(r["user_bytes_per_process"]), "-", "-", "-"),
        ("user bytes per entry", fmt(r["user_bytes_per_entry"]), "-", "-", "-"),
    ]
    w = [max(len(row[i]) for row in table + [("figure", "value", "baseline", "ratio", "goal")])
         for i in range(5)]
    line = lambda row: "  ".join(c.ljust(w[i]) for i, c in enumerate(row)).rstrip()
    print(line(("figure", "value", "baseline", "ratio", "goal")))
    print(line(tuple("-" * x for x in w)))
    for row in table:
        print(line(row))
    mc = r["machine"]
    print(f"\nmachine: {mc['cpu']}, {mc['cores']} cores, Linux {mc['kernel']}; "
          f"other attestd trackers loaded during the run: {r['other_trackers_loaded']}")
    if pend:
        print(f"pending: {pend}")
    if quick == "1":
        print("BENCH_QUICK=1: short repetitions, not figures to quote")
    print(f"wrote {out}")
    return 0


def main(argv):
    cmds = {"tracked": cmd_tracked, "repair": cmd_repair, "mint": cmd_mint, "profile": cmd_profile,
            "latency": cmd_latency, "results": cmd_results}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
