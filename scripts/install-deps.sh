#!/usr/bin/env bash
# Install the Debian 12 packages attestd builds, runs and tests with.
# Idempotent: packages already present are not fetched again, and apt's
# lists are refreshed only when something is missing.
set -euo pipefail

pkgs=(
	# build
	make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
	protobuf-compiler protobuf-c-compiler libprotobuf-c-dev libgrpc-dev
	libssl-dev openssl libsqlite3-dev sqlite3 libjson-c-dev libcap-dev
	libcurl4-openssl-dev libpq-dev
	# tests: real gRPC clients, X.509 checks, sanitizers
	python3-grpcio python3-grpc-tools python3-cryptography python3-protobuf
	libclang-rt-14-dev procps util-linux
	# tests: the PostgreSQL store (a private cluster), manifest parsing
	postgresql python3-yaml
	# benchmarks
	jq gnuplot-nox
	# tests: real containers (a private dockerd; an image from a static busybox)
	docker.io busybox-static
	# operations (#11): man pages from --help; e2e scrapes /metrics, closes a BPF link in attestd
	help2man curl gdb
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
