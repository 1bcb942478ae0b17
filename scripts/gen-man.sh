#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Man pages from the programs' own --help texts, with help2man (Debian's
# help2man package): $BUILD/man/attestd.8 and $BUILD/man/attestctl.8, the
# latter with every command's --help as a subsection.  The texts are the
# ones users see, so the pages cannot drift from the programs.
#   scripts/gen-man.sh            (BUILD=build by default; run after make)
set -euo pipefail
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if ! command -v help2man >/dev/null; then
	echo "gen-man: help2man is not installed (apt-get install help2man)" >&2
	exit 1
fi
for p in attestd attestctl; do
	[ -x "$BUILD/$p" ] || { echo "gen-man: $BUILD/$p is not built (make)" >&2; exit 1; }
done
out=$BUILD/man
mkdir -p "$out"
ver=$("$BUILD/attestd" --version | awk '{ print $2 }')
inc=$(mktemp -d)
trap 'rm -rf "$inc"' EXIT

# A --help text as a literal block (roff escapes for backslashes and leading dots).
literal() { printf '.nf\n'; sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\&'/"; printf '.fi\n'; }

cat >"$inc/attestd.h2m" <<'EOF'
[DESCRIPTION]
.B attestd
watches exec, fork, exit and cgroup moves with eBPF, derives each process's
selectors from what the kernel reported, matches them against registration
entries, and serves the matching SPIFFE identities (X.509-SVIDs and JWT-SVIDs)
over the SPIFFE Workload API on a unix socket.  The caller of a Workload API
call is identified by the kernel (SO_PEERCRED, SO_PEERPIDFD), never by what it
says.  Operators use
.BR attestctl (8)
over the admin socket.

[METRICS AND HEALTH]
With
.BI \-\-metrics\-addr= HOST:PORT
(":PORT" or "PORT" alone bind to 127.0.0.1) attestd serves, over plain
HTTP/1.1 with GET only:
.TP
.B /metrics
Prometheus text format: Workload API and admin API calls by method and status
with latency histograms, identities released, revoked and refused, SVIDs
minted and renewed, entries, tracked processes, ring buffer events and losses,
resyncs, store errors, per-program BPF run time when kernel.bpf_stats_enabled
is 1.
.TP
.B /live
200 while the main loop runs, else 503.
.TP
.B /ready
200 when live, the BPF programs are attached and reporting events, the store
answers, the CA signs and the Workload API socket is in place; else 503 with
the reason on the first line.
.PP
The endpoints have no authentication: bind them to loopback or a network only
the monitoring system reaches.

[LOGS]
One line per event on standard error: key=value by default, one JSON object per
line with
.BR \-\-log\-format=json .
Every identity released, revoked or refused is logged once with the pid, uid,
executable, SPIFFE ID, entry id or the reason; never key material or tokens.

[SIGNALS]
.TP
.B SIGTERM, SIGINT
Clean shutdown: streams closed, BPF links detached, store closed.
.TP
.B SIGHUP
Reload the configuration (the log level and format).

[FILES]
.TP
.I /var/lib/attestd/store.db
The registration store (SQLite), unless \-\-store names PostgreSQL.
.TP
.I /var/lib/attestd/ca/
The CA keys and certificates, mode 0600.
.TP
.I /run/attestd/api.sock
The Workload API socket (mode 0666).
.TP
.I /run/attestd/admin.sock
The admin API socket (mode 0600, root only).

[EXIT STATUS]
0 after a clean shutdown; 1 with a one-line reason when attestd cannot start
(no BTF, no privilege, socket in use, store or CA unreadable); 2 for a usage
error.

[SEE ALSO]
.BR attestctl (8)
EOF

help2man --no-info --section 8 --version-string "$ver" --source "attestd $ver" \
	--name "eBPF-based SPIFFE workload attestor and Workload API server" \
	--include "$inc/attestd.h2m" --output "$out/attestd.8" "$BUILD/attestd"

# attestctl: the top-level help, then each command's as a subsection.
{
	cat <<'EOF'
[DESCRIPTION]
.B attestctl
talks to
.BR attestd (8):
to its admin socket (root only) for processes, entries and operations, and to
the Workload API socket for fetch, validate and bundle, where the answer is what
the calling process itself is entitled to.  Every command takes
.BR \-\-json .
EOF
	printf '\n[COMMANDS]\n'
	# "  NAME [SUB]      help": the name is the first 14 columns after the indent.
	"$BUILD/attestctl" --help | awk '/^Commands:/ { on = 1; next }
		on && /^  [a-z]/ { name = substr($0, 3, 14); sub(/ +$/, "", name); print name }' |
		while read -r cmd; do
		printf '.SS "attestctl %s"\n' "$cmd"
		# shellcheck disable=SC2086
		"$BUILD/attestctl" $cmd --help | literal
	done
	cat <<'EOF'

[EXIT STATUS]
0 on success; 1 on an error, with one line on standard error (healthcheck: 1
when attestd is not live and ready, with the reason); 2 for a usage error.

[ENVIRONMENT]
.TP
.B SPIFFE_ENDPOINT_SOCKET
The Workload API socket for fetch, validate and bundle (unix:///path), unless
\-\-socket is given.

[FILES]
.TP
.I /run/attestd/admin.sock
The default admin socket.
.TP
.I /run/attestd/api.sock
The default Workload API socket.

[SEE ALSO]
.BR attestd (8)
EOF
} >"$inc/attestctl.h2m"

help2man --no-info --section 8 --version-string "$ver" --source "attestd $ver" \
	--name "operate attestd: processes, registration entries, SVIDs, health, explain, watch" \
	--include "$inc/attestctl.h2m" --output "$out/attestctl.8" "$BUILD/attestctl"

echo "gen-man: wrote $out/attestd.8 $out/attestctl.8"
