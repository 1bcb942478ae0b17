#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Packaging: the DaemonSet manifest parses and asks for what attestd needs
# and no more; its config file is one attestd accepts; the systemd unit
# verifies and is sandboxed; the capability set both grant is enough to
# attest another user's process and hash its 0700 executable; the image
# built by scripts/build-image.sh runs (in a private dockerd when there is
# one).  Prints TAP.  Processes are stopped by PID.
set -u
BUILD=${BUILD:-build}
ATTESTD=$BUILD/attestd
CTL=$BUILD/attestctl
PY=/usr/bin/python3
MANIFEST=deploy/kubernetes/attestd.yaml
UNIT=deploy/systemd/attestd.service
CAPS="BPF PERFMON SYS_RESOURCE SYS_PTRACE DAC_READ_SEARCH"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; failed=$((failed + 1)); }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { sed 's/^/# /' "$@"; }

[ -x "$ATTESTD" ] || { echo "1..0 # SKIP $ATTESTD not built"; exit 0; }
tmp=$(mktemp -d /tmp/attestd-e2e-pkg.XXXXXX)
chmod 755 "$tmp"
pids=()
dockerd_pid=""
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$dockerd_pid" ]; then
		kill -TERM "$dockerd_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$tmp" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the manifest ---
if "$PY" - "$MANIFEST" "$CAPS" "$tmp/attestd.json" >"$tmp/manifest.out" 2>&1 <<'EOF'; then
import json, sys, yaml
path, caps, out = sys.argv[1], set(sys.argv[2].split()), sys.argv[3]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
kinds = {d["kind"]: d for d in docs}
for k in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"):
    assert k in kinds, "no " + k
rules = kinds["ClusterRole"]["rules"]
assert rules == [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}], rules
pod = kinds["DaemonSet"]["spec"]["template"]["spec"]
assert pod["hostPID"] is True
assert pod["serviceAccountName"] == kinds["ServiceAccount"]["metadata"]["name"]
c = pod["containers"][0]
sc = c["securityContext"]
assert not sc.get("privileged"), "privileged"
assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
assert sc["capabilities"]["drop"] == ["ALL"]
assert set(sc["capabilities"]["add"]) == caps, sc["capabilities"]["add"]
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
for p, ro in (("/sys/kernel/btf", True), ("/sys/fs/cgroup", True), ("/sys/fs/bpf", True), ("/run/attestd", False)):
    assert p in mounts, "no mount at " + p
    assert bool(mounts[p].get("readOnly")) == ro, p + " readOnly"
    assert vols[mounts[p]["name"]]["hostPath"]["path"] == p, p + " hostPath"
for probe, want in (("livenessProbe", "/live"), ("readinessProbe", "/ready")):
    g = c[probe]["httpGet"]
    assert (g["host"], g["port"], g["path"]) == ("127.0.0.1", 9989, want), g
cfg = json.loads(kinds["ConfigMap"]["data"]["attestd.json"])
assert cfg["metrics-addr"] == "127.0.0.1:9989"
assert not cfg["admin-socket"].startswith("/run/attestd/"), "admin socket shared with workloads"
args = c["args"]
conf = [a.split("=", 1)[1] for a in args if a.startswith("--config=")][0]
cm_mount = [m["mountPath"] for m in c["volumeMounts"] if vols[m["name"]].get("configMap")][0]
assert conf == cm_mount + "/attestd.json", (conf, cm_mount)
assert "--node-name=$(NODE_NAME)" in args and "--store=$(ATTESTD_STORE)" in args
env = {e["name"]: e for e in c["env"]}
assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
assert "secretKeyRef" in env["ATTESTD_STORE"]["valueFrom"]
json.dump(cfg, open(out, "w"))
EOF
	ok "DaemonSet manifest parses: hostPID, capabilities not privileged, mounts, probes, RBAC nodes/proxy only"
else
	not_ok "DaemonSet manifest parses: hostPID, capabilities not privileged, mounts, probes, RBAC nodes/proxy only"
	diag "$tmp/manifest.out"
fi

# The ConfigMap's file is one attestd reads: a bad flag after it is the first complaint.
if [ -s "$tmp/attestd.json" ]; then
	"$ATTESTD" --config "$tmp/attestd.json" --node-name node-1 --ringbuf-size 3 >"$tmp/cfg.out" 2>&1
	rc=$?
	if [ $rc -eq 2 ] && grep -q -- "--ringbuf-size" "$tmp/cfg.out"; then
		ok "attestd accepts the ConfigMap's config file"
	else
		not_ok "attestd accepts the ConfigMap's config file (exit $rc)"
		diag "$tmp/cfg.out"
	fi
else
	not_ok "attestd accepts the ConfigMap's config file (no file)"
fi

# --- the systemd unit ---
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr ' ' '\n' | sed 's/^CAP_//' | sort | xargs)
want_caps=$(echo "$CAPS" | tr ' ' '\n' | sort | xargs)
if [ "$unit_caps" = "$want_caps" ]; then
	ok "systemd unit and DaemonSet grant the same capabilities ($want_caps)"
else
	not_ok "systemd unit and DaemonSet grant the same capabilities: unit has '$unit_caps'"
fi
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/bin/attestd|$(realpath "$ATTESTD")|" "$UNIT" >"$tmp/attestd.service"
	if systemd-analyze verify "$tmp/attestd.service" >"$tmp/verify.out" 2>&1 && [ ! -s "$tmp/verify.out" ]; then
		ok "systemd-analyze verify: no complaints"
	else
		not_ok "systemd-analyze verify"
		diag "$tmp/verify.out"
	fi
	# The threshold is in tenths: 40 is an exposure of 4.0.
	if systemd-analyze security --offline=yes --threshold=40 "$tmp/attestd.service" >"$tmp/security.out" 2>&1; then
		ok "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$tmp/security.out")"
	else
		not_ok "systemd-analyze security: exposure above 4.0"
		tail -3 "$tmp/security.out" | diag
	fi
else
	skip "systemd-analyze verify" "no systemd-analyze"
	skip "systemd-analyze security" "no systemd-analyze"
fi

# --- the capability set is enough ---
caps_arg=$(echo "$CAPS" | tr 'A-Z' 'a-z' | sed 's/[a-z_]*/+&/g;s/ /,/g')
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	skip "attestd runs with only its capabilities" "needs root and setpriv"
else
	cp "$(command -v sleep)" "$tmp/private-exe"
	chown 4242:4242 "$tmp/private-exe"
	chmod 0700 "$tmp/private-exe"
	setpriv --reuid=4242 --regid=4242 --clear-groups -- "$tmp/private-exe" 1000 &
	wl=$!
	pids+=("$wl")
	sleep 0.2
	setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all,"$caps_arg" -- \
		"$ATTESTD" --data-dir "$tmp/data" --socket "$tmp/api.sock" \
		--admin-socket "$tmp/admin.sock" >"$tmp/capd.log" 2>&1 &
	d=$!
	pids+=("$d")
	got=""
	for _ in $(seq 100); do
		got=$("$CTL" --admin-socket "$tmp/admin.sock" attest --pid "$wl" 2>/dev/null)
		echo "$got" | grep -q 'unix:sha256:' && break
		kill -0 "$d" 2>/dev/null || break
		sleep 0.1
	done
	if echo "$got" | grep -q "unix:path:$tmp/private-exe" && echo "$got" | grep -q 'unix:sha256:' &&
		echo "$got" | grep -q 'unix:uid:4242'; then
		ok "with only $CAPS: another uid's process attested, its 0700 executable hashed"
	elif grep -q "not privileged\|no BTF\|lacks BPF" "$tmp/capd.log"; then
		skip "attestd runs with only its capabilities" "$(head -1 "$tmp/capd.log")"
	else
		not_ok "with only $CAPS: another uid's process attested, its 0700 executable hashed"
		echo "$got" | diag
		diag "$tmp/capd.log"
	fi
	kill -TERM "$d" 2>/dev/null
	wait "$d" 2>/dev/null
fi

# --- the image ---
if scripts/build-image.sh --output "$tmp/rootfs.tar" >"$tmp/image.out" 2>&1 &&
	tar tf "$tmp/rootfs.tar" | grep -qx './usr/bin/attestd' &&
	tar tf "$tmp/rootfs.tar" | grep -q 'libpq.so.5$'; then
	ok "build-image.sh: rootfs with attestd, attestctl and their libraries ($(du -h "$tmp/rootfs.tar" | cut -f1))"
else
	not_ok "build-image.sh: rootfs with attestd, attestctl and their libraries"
	diag "$tmp/image.out"
fi

# A dockerd of our own (its own data, exec root, pid file and socket), never the host's.
if [ "$(id -u)" -eq 0 ] && command -v dockerd >/dev/null && command -v docker >/dev/null; then
	dd=$tmp/docker
	mkdir -p "$dd"
	dockerd --data-root "$dd/data" --exec-root "$dd/exec" --pidfile "$dd/dockerd.pid" \
		--host "unix://$dd/docker.sock" --bridge=none --iptables=false --ip6tables=false \
		--ip-forward=false --ip-masq=false --userland-proxy=false >"$dd/dockerd.log" 2>&1 &
	dockerd_pid=$!
	up=0
	for _ in $(seq 100); do
		docker -H "unix://$dd/docker.sock" version >/dev/null 2>&1 && { up=1; break; }
		kill -0 "$dockerd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ $up -eq 1 ]; then
		tag=attestd:e2e-$$
		if scripts/build-image.sh --tag "$tag" --docker-host "unix://$dd/docker.sock" \
			>"$tmp/import.out" 2>&1 &&
			v=$(docker -H "unix://$dd/docker.sock" run --rm --network none "$tag" --version 2>&1) &&
			[ "${v%% *}" = attestd ]; then
			ok "docker import: the image runs attestd ($v)"
		else
			not_ok "docker import: the image runs attestd"
			diag "$tmp/import.out"
			echo "${v:-}" | diag
		fi
		docker -H "unix://$dd/docker.sock" rmi -f "$tag" >/dev/null 2>&1
	else
		skip "docker import: the image runs attestd" "a private dockerd did not start here"
	fi
	kill -TERM "$dockerd_pid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
	wait "$dockerd_pid" 2>/dev/null
	dockerd_pid=""
	umount "$dd/data/overlay2" 2>/dev/null
else
	skip "docker import: the image runs attestd" "needs root, dockerd and docker"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
