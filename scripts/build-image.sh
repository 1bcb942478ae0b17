#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds attestd's OCI image from what `make` built, without a registry and
# without a base image: a minimal root filesystem holding build/attestd,
# build/attestctl, exactly the shared libraries they load (from ldd), the
# CA certificates (TLS to PostgreSQL and the kubelet) and a passwd file,
# packed as a tarball and imported into docker with `docker import`.
#
#   scripts/build-image.sh [--tag attestd:0.1.0] [--output FILE.tar] [--docker-host unix:///...]
#
# With --output only the rootfs tarball is written (no docker needed); it can be imported
# anywhere: docker import / podman import / ctr images import after wrapping.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$top/build}
tag=attestd:$(sed -n 's/.*printf("attestd \([0-9.]*\)\\n").*/\1/p' "$top/user/config.c" | head -1)
[ "$tag" = "attestd:" ] && tag=attestd:latest
output=""
docker_host=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--tag) tag=$2; shift 2 ;;
	--output) output=$2; shift 2 ;;
	--docker-host) docker_host=$2; shift 2 ;;
	-h|--help) usage 0 ;;
	*) echo "build-image: unknown argument '$1'" >&2; usage 2 >&2 ;;
	esac
done

bins=("$BUILD/attestd" "$BUILD/attestctl")
for b in "${bins[@]}"; do
	[ -x "$b" ] || { echo "build-image: $b is not built (run make)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/attestd-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{usr/bin,etc/ssl/certs,etc/attestd,run/attestd,var/lib/attestd,tmp,proc,sys,dev}
chmod 1777 "$root/tmp"
chmod 0700 "$root/var/lib/attestd"

install -m 0755 "${bins[@]}" "$root/usr/bin/"

# Every library the binaries load, at the path the loader looks for it, and the loader.
libs=$(for b in "${bins[@]}"; do ldd "$b"; done |
	awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u)
[ -n "$libs" ] || { echo "build-image: ldd found no libraries" >&2; exit 1; }
for l in $libs; do
	mkdir -p "$root$(dirname "$l")"
	cp -L "$l" "$root$l"
done
for b in "${bins[@]}"; do
	interp=$(readelf -l "$b" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
	if [ -n "$interp" ] && [ ! -e "$root$interp" ]; then
		mkdir -p "$root$(dirname "$interp")"
		cp -L "$interp" "$root$interp"
	fi
done

# TLS trust for libpq (sslmode=verify-full) and libcurl (the kubelet).
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
fi
# libpq and glibc look the current user up; root and nobody are all there are.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"

# The loader must find everything it needs inside the rootfs.
for b in "${bins[@]}"; do
	n=$(basename "$b")
	if ! chroot "$root" "/usr/bin/$n" --help >/dev/null 2>&1; then
		if [ "$(id -u)" -eq 0 ]; then
			echo "build-image: /usr/bin/$n does not run inside the rootfs" >&2
			chroot "$root" "/usr/bin/$n" --help >&2 || true
			exit 1
		fi
	fi
done

tarball=$work/rootfs.tar
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$tarball" .
size=$(du -h "$tarball" | cut -f1)

if [ -n "$output" ]; then
	cp "$tarball" "$output"
	echo "build-image: wrote $output ($size); import it with: docker import $output $tag"
	exit 0
fi

docker=(docker)
[ -n "$docker_host" ] && docker+=(-H "$docker_host")
command -v docker >/dev/null || { echo "build-image: no docker client (use --output)" >&2; exit 1; }
id=$("${docker[@]}" import \
	--change 'ENTRYPOINT ["/usr/bin/attestd"]' \
	--change 'CMD ["--config", "/etc/attestd/config/attestd.json"]' \
	--change 'ENV SPIFFE_ENDPOINT_SOCKET=unix:///run/attestd/api.sock' \
	--change 'LABEL org.opencontainers.image.title=attestd org.opencontainers.image.licenses=Apache-2.0' \
	--message "attestd from $(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)" \
	"$tarball" "$tag")
echo "build-image: $tag ($size, $id)"
