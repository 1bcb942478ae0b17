#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# attestd against real Docker containers: a dockerd of the test's own (its
# socket, data root, exec root and pidfile in a temp dir), an image imported
# from a busybox-static rootfs, containers run with a label and env vars.
# attest --pid of a container's process must list container:id,
# container:runtime:docker, docker:label, docker:image_id, and docker:env
# only for allow-listed keys; an entry on docker selectors must match.
# Also attestctl selectors --cgroup on the container's real cgroup path.
# Prints TAP.  Needs root, dockerd (docker.io) and a static /bin/busybox.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
PY=/usr/bin/python3

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
# In CI a missing tool is a failure: install-deps.sh installs it there.
need() {
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - $1"
		echo "1..1"
		exit 1
	fi
	skip_all "$1"
}

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
[ -x "$ATTESTD" ] && [ -x "$CTL" ] || skip_all "$ATTESTD or $CTL not built"
command -v dockerd >/dev/null || need "no dockerd (apt-get install docker.io)"
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || need "no docker client"
BUSYBOX=/bin/busybox
if [ ! -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
	need "no static $BUSYBOX (apt-get install busybox-static)"
fi

tmp=$(mktemp -d /tmp/attestd-e2e-docker.XXXXXX)
dsock=$tmp/docker.sock
dockerd_pid=""
daemon=""
containers=()

dk() { DOCKER_HOST=unix://$dsock "$DOCKER" "$@"; }

stop_attestd() { # the exit status is attestd's (a sanitizer's report makes it non-zero)
	local rc
	[ -n "$daemon" ] || return 0
	kill -TERM "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	rc=$?
	daemon=""
	return $rc
}

cleanup() {
	local c m
	stop_attestd
	for c in "${containers[@]}"; do dk rm -f "$c" >/dev/null 2>&1; done
	if [ -n "$dockerd_pid" ]; then
		kill -TERM "$dockerd_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$dockerd_pid" 2>/dev/null
		wait "$dockerd_pid" 2>/dev/null
	fi
	# What dockerd left mounted under the temp dir (netns, shm), innermost first.
	for m in $(awk -v t="$tmp" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# eventually CMD...: CMD succeeds within 10 s.
eventually() {
	for _ in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# --- a dockerd of our own ---
dockerd --host "unix://$dsock" --data-root "$tmp/data" --exec-root "$tmp/exec" \
	--pidfile "$tmp/dockerd.pid" --iptables=false --ip6tables=false --bridge=none \
	--storage-driver=vfs >"$tmp/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 300); do
	dk version >/dev/null 2>&1 && break
	kill -0 "$dockerd_pid" 2>/dev/null || break
	sleep 0.1
done
if dk version >/dev/null 2>&1; then
	ok "dockerd starts (own socket, data root, exec root)"
else
	not_ok "dockerd starts (own socket, data root, exec root)"
	tail -20 "$tmp/dockerd.log" | diag
	echo "1..$n"
	exit 1
fi

# --- an image from a busybox-static rootfs ---
mkdir -p "$tmp/rootfs/bin"
cp "$BUSYBOX" "$tmp/rootfs/bin/busybox"
for a in sh sleep cat; do ln -s busybox "$tmp/rootfs/bin/$a"; done
tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
img=$(dk import "$tmp/rootfs.tar" attestd-e2e:busybox 2>"$tmp/import.err")
check "docker import of the busybox rootfs" test -n "$img"
[ -n "$img" ] || diag "$tmp/import.err"

# run_container NAME ARGS...: a detached sleeper; its id in $cid, host pid in $cpid.
run_container() {
	local name=$1
	shift
	cid=$(dk run -d --network none --name "$name" "$@" attestd-e2e:busybox sleep 300 \
		2>"$tmp/run.err") || { diag "$tmp/run.err"; return 1; }
	containers+=("$cid")
	cpid=$(dk inspect -f '{{.State.Pid}}' "$cid")
	[ -n "$cpid" ] && [ "$cpid" -gt 0 ]
}

if run_container web-$$ --label app=web -e TEAM=blue -e SECRET=hunter2; then
	ok "container with a label and env vars runs"
else
	not_ok "container with a label and env vars runs"
fi
web=$cid web_pid=$cpid
image_id=$(dk inspect -f '{{.Image}}' "$web")

# --- attestctl selectors on the container's real cgroup path (offline) ---
cg=$(sed -n 's/^0:://p' "/proc/$web_pid/cgroup")
[ "$cg" = / ] && cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' "/proc/$web_pid/cgroup")
"$CTL" selectors --cgroup "$cg" --json >"$tmp/sel.json" 2>&1
check "selectors --cgroup $cg: container:id and runtime docker" \
	test "$(cat "$tmp/sel.json")" = "{\"selectors\":[\"container:id:$web\",\"container:runtime:docker\"]}"
"$CTL" selectors --cgroup "/docker/$web/$(echo "$web" | tr 0-9a-f a-f0-9)" --json >"$tmp/o" 2>"$tmp/e"
rc=$?
check "selectors --cgroup /docker/A/B (two containers at one level): exit 1" \
	test $rc -eq 1 -a ! -s "$tmp/o" -a "$(wc -l <"$tmp/e")" -eq 1
check "selectors --cgroup on no container: {\"selectors\":[]}" \
	test "$("$CTL" selectors --cgroup /user.slice --json)" = '{"selectors":[]}'

# --- attestd with the engine's socket and TEAM allow-listed ---
start_attestd() { # start_attestd TAG ARGS...
	local tag=$1
	shift
	"$ATTESTD" --socket "$tmp/$tag-api.sock" --admin-socket "$tmp/admin.sock" \
		--data-dir "$tmp/$tag-data" --docker-socket "$dsock" --log-level debug "$@" \
		>"$tmp/$tag.log" 2>&1 &
	daemon=$!
	eventually test -S "$tmp/admin.sock" &&
		eventually "$CTL" --admin-socket "$tmp/admin.sock" ps >/dev/null 2>&1
}

# has_selectors PID WANT... [-- UNWANTED...]: attest --json lists every WANT and no UNWANTED.
has_selectors() {
	local pid=$1
	shift
	"$CTL" --admin-socket "$tmp/admin.sock" attest --pid "$pid" --json >"$tmp/attest.json" \
		2>"$tmp/attest.err" || return 1
	"$PY" - "$tmp/attest.json" "$@" <<'EOF'
import json, sys
sel = set(json.load(open(sys.argv[1]))["selectors"])
args = sys.argv[2:]
cut = args.index("--") if "--" in args else len(args)
want, unwanted = args[:cut], args[cut + 1:]
sys.exit(0 if all(w in sel for w in want) and not any(u in sel for u in unwanted) else 1)
EOF
}

if start_attestd allow --docker-env-allow TEAM; then
	ok "attestd starts with --docker-socket and --docker-env-allow TEAM"
else
	not_ok "attestd starts with --docker-socket and --docker-env-allow TEAM"
	diag "$tmp/allow.log"
	echo "1..$n"
	exit 1
fi

want_web=("container:id:$web" container:runtime:docker docker:label:app:web
	"docker:image_id:$image_id" docker:env:TEAM=blue)
if eventually has_selectors "$web_pid" "${want_web[@]}" -- docker:env:SECRET=hunter2; then
	ok "container started before attestd: container:id, runtime, label, image_id, env TEAM (not SECRET)"
else
	not_ok "container started before attestd: container:id, runtime, label, image_id, env TEAM (not SECRET)"
	diag "$tmp/attest.json" "$tmp/attest.err"
fi

if run_container api-$$ --label app=api -e OTHER=1 &&
	eventually has_selectors "$cpid" "container:id:$cid" container:runtime:docker \
		docker:label:app:api "docker:image_id:$image_id" -- docker:env:OTHER=1 docker:label:app:web; then
	ok "container started after attestd: its own id and label, no env that is not allow-listed"
else
	not_ok "container started after attestd: its own id and label, no env that is not allow-listed"
	diag "$tmp/attest.json" "$tmp/attest.err"
fi
api_pid=$cpid

# A process exec'd into the running container gets the same container selectors.
dk exec -d "$web" sleep 299 >/dev/null 2>&1
execd=$(pgrep -f '^sleep 299$' | head -1)
if [ -n "$execd" ] && eventually has_selectors "$execd" "container:id:$web" docker:label:app:web; then
	ok "docker exec'd process: same container:id and docker:label"
else
	not_ok "docker exec'd process: same container:id and docker:label"
fi

# An entry on docker selectors matches the container, and only it.
"$CTL" --admin-socket "$tmp/admin.sock" entry create --spiffe-id spiffe://example.org/web \
	--selector docker:label:app:web --selector container:runtime:docker >"$tmp/entry.out" 2>&1
ids_of() {
	"$CTL" --admin-socket "$tmp/admin.sock" attest --pid "$1" --json 2>/dev/null |
		"$PY" -c 'import json,sys; print(",".join(json.load(sys.stdin)["spiffe_ids"]))'
}
matched() { [ "$(ids_of "$web_pid")" = spiffe://example.org/web ] && [ -z "$(ids_of "$api_pid")" ]; }
if eventually matched; then
	ok "entry docker:label:app:web + container:runtime:docker matches the web container only"
else
	not_ok "entry docker:label:app:web + container:runtime:docker matches the web container only"
	diag "$tmp/entry.out"
fi

check "the log never shows the engine unreachable" \
	test "$(grep -c 'cannot ask the docker engine' "$tmp/allow.log")" -eq 0
if stop_attestd; then ok "SIGTERM: attestd with the metadata worker exits 0"; else
	not_ok "SIGTERM: attestd with the metadata worker exits 0"
	tail -20 "$tmp/allow.log" | diag
fi

# --- without the allow-list: no docker:env at all ---
if start_attestd noallow && eventually has_selectors "$web_pid" docker:label:app:web \
	"container:id:$web" -- docker:env:TEAM=blue docker:env:SECRET=hunter2; then
	ok "without --docker-env-allow: docker:label but no docker:env"
else
	not_ok "without --docker-env-allow: docker:label but no docker:env"
	diag "$tmp/attest.json" "$tmp/noallow.log"
fi
stop_attestd

echo "1..$n"
[ "$failed" -eq 0 ]
