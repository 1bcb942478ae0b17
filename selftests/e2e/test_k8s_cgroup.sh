#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Kubernetes-shaped cgroups made by hand, as the kubelet lays them out with
# the cgroupfs and the systemd drivers (besteffort, burstable, guaranteed):
# a process moved into one is attested with its k8s:pod-uid and
# container:id, an entry on the pod uid matches it, and `attestctl
# selectors --cgroup` agrees.  Prints TAP.  Needs root, cgroup v2 and BPF.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
PY=/usr/bin/python3
if [ -f /sys/fs/cgroup/unified/cgroup.procs ]; then CG2=/sys/fs/cgroup/unified; else CG2=/sys/fs/cgroup; fi

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=$((failed + 1)); }

tmp=$(mktemp -d /tmp/attestd-e2e-k8s.XXXXXX)
daemon=""
pids=()
dirs=()
cleanup() {
	local p d
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	# innermost first
	for d in $(printf '%s\n' "${dirs[@]}" | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-); do
		rmdir "$d" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

hex64() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
uuid() { cat /proc/sys/kernel/random/uuid; }

# mkcg PATH: mkdir -p, remembering every level this test made
mkcg() {
	local p="" part
	IFS=/ read -ra parts <<<"${1#/}"
	for part in "${parts[@]}"; do
		p="$p/$part"
		if [ ! -d "$CG2$p" ]; then
			mkdir "$CG2$p" || return 1
			dirs+=("$CG2$p")
		fi
	done
}

# has JSON SELECTOR: the attest --json output lists SELECTOR
has() { "$PY" -c 'import json,sys; sys.exit(0 if sys.argv[2] in json.loads(sys.argv[1])[sys.argv[3]] else 1)' "$1" "$2" "${3:-selectors}"; }

"$ATTESTD" --data-dir "$tmp/data" --socket "$tmp/api.sock" --admin-socket "$tmp/admin.sock" \
	--docker-socket "" >"$tmp/attestd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$tmp/admin.sock" ] && break; sleep 0.1; done
[ -S "$tmp/admin.sock" ] || { echo "1..1"; not_ok "attestd started"; sed 's/^/# /' "$tmp/attestd.log"; exit 1; }
ADM=(--admin-socket "$tmp/admin.sock")

# case NAME CGROUP_PATH POD_UID CONTAINER_ID RUNTIME(or -)
run_case() {
	local name=$1 cg=$2 pod=$3 cid=$4 rt=$5 pid out i
	mkcg "$cg" || { not_ok "$name: cgroup $cg made"; return; }
	sh -c 'echo $$ > "$1/cgroup.procs" && exec sleep 300' sh "$CG2$cg" &
	pid=$!
	pids+=("$pid")
	for i in $(seq 50); do
		out=$("$CTL" "${ADM[@]}" attest --pid "$pid" --json 2>/dev/null)
		has "$out" "cgroup:path:$cg" 2>/dev/null && break
		sleep 0.1
	done
	if has "$out" "k8s:pod-uid:$pod" && has "$out" "container:id:$cid"; then
		ok "$name: k8s:pod-uid and container:id from $cg"
	else
		not_ok "$name: k8s:pod-uid and container:id from $cg"
		echo "# $out"
	fi
	if [ "$rt" != - ]; then
		if has "$out" "container:runtime:$rt"; then ok "$name: container:runtime:$rt"
		else not_ok "$name: container:runtime:$rt"; fi
	fi
	out=$("$CTL" selectors --cgroup "$cg" --json)
	if has "$out" "k8s:pod-uid:$pod" && has "$out" "container:id:$cid"; then
		ok "$name: attestctl selectors --cgroup agrees"
	else
		not_ok "$name: attestctl selectors --cgroup agrees"
		echo "# $out"
	fi
}

echo "1..10"
pod1=$(uuid) cid1=$(hex64)
run_case "cgroupfs besteffort" "/kubepods/besteffort/pod$pod1/$cid1" "$pod1" "$cid1" -
pod2=$(uuid) cid2=$(hex64)
run_case "systemd burstable" \
	"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${pod2//-/_}.slice/cri-containerd-$cid2.scope" \
	"$pod2" "$cid2" containerd
pod3=$(uuid) cid3=$(hex64)
run_case "cgroupfs guaranteed" "/kubepods/pod$pod3/$cid3" "$pod3" "$cid3" -

# An entry on the pod uid gives the pod's container its identity, and only it.
if "$CTL" "${ADM[@]}" entry create --spiffe-id spiffe://example.org/ns/demo/sa/web \
	--selector "k8s:pod-uid:$pod2" >/dev/null; then
	ok "entry on k8s:pod-uid created"
else
	not_ok "entry on k8s:pod-uid created"
fi
sleep 0.3
out=$("$CTL" "${ADM[@]}" attest --pid "${pids[1]}" --json)
if has "$out" spiffe://example.org/ns/demo/sa/web spiffe_ids; then ok "the pod's process matches it"
else not_ok "the pod's process matches it"; echo "# $out"; fi
out=$("$CTL" "${ADM[@]}" attest --pid "${pids[0]}" --json)
if has "$out" spiffe://example.org/ns/demo/sa/web spiffe_ids; then not_ok "another pod's process does not"
else ok "another pod's process does not"; fi
[ "$failed" -eq 0 ]
