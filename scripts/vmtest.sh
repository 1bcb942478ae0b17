#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs attestd's kernel tests (build/selftests/test_kernel, BPF built once on
# this host, CO-RE) inside a qemu VM on another kernel, under TCG software
# emulation only.  See docs/vmtest.md.
#
#   scripts/vmtest.sh [--kernel PATH] [--timeout SECS] [--verbose] [--no-skip]
#                     [-- TEST-FILTER...]
#
#   --kernel PATH  a bzImage/vmlinuz, or a linux-image-*.deb; default: the
#                  kernel Debian's linux-image-amd64 depends on (Debian 12:
#                  6.1), downloaded once into build/vmtest/kernels/
#   --timeout S    whole-VM limit in seconds (default 300, env VMTEST_TIMEOUT)
#   --verbose      libbpf and verifier logs in the guest (ATTESTD_LIBBPF_VERBOSE=1)
#   --no-skip      a skipped test fails the run (the default under CI=true)
#   -- FILTER...   substrings of test names, passed to test_kernel
#
# Env: BUILD (default build), QEMU (default qemu-system-x86_64),
# VMTEST_MEM (MiB, 1024), VMTEST_SMP (2), VMTEST_QEMU_ARGS (extra qemu args).
# Output: the guest's TAP, skipped tests by name, "N passed, N failed, N
# skipped".  Exit 0 only if the guest reported VMTEST-RC=0, at least one test
# passed, none failed, and the TAP plan was complete; 1 on a test failure or
# a guest that crashed or hung; 2 on a usage or setup error.
#
# KVM is never used: /dev/kvm on the machines this runs on must not be
# touched.  Any KVM option is refused, and qemu always gets -accel tcg.
set -uo pipefail

cwd=$PWD
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
BUILD=${BUILD:-build}
QEMU=${QEMU:-qemu-system-x86_64}
MEM=${VMTEST_MEM:-1024}
SMP=${VMTEST_SMP:-2}
TIMEOUT=${VMTEST_TIMEOUT:-300}
KCACHE=$top/build/vmtest/kernels
OUT=$BUILD/vmtest
CONSOLE=$OUT/console.log
kernel='' verbose=${ATTESTD_LIBBPF_VERBOSE:-} noskip=0
# As in selftests/run.sh: under CI a skipped kernel test is a failure.
[ "${CI:-}" = true ] && noskip=1
filter=()

die() { echo "vmtest: $*" >&2; exit 2; }
refuse_kvm() { die "refusing KVM ($1): vmtest runs under TCG software emulation only"; }
usage() { sed -n '7,17s/^# \{0,1\}//p' "$0" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case $1 in
	--) shift; filter=("$@"); break ;;
	*kvm* | *KVM*) refuse_kvm "$1" ;;
	--kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
	--kernel=*) kernel=${1#*=}; shift ;;
	--timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	--verbose) verbose=1; shift ;;
	--no-skip) noskip=1; shift ;;
	-h | --help) usage ;;
	*) echo "vmtest: unknown argument: $1" >&2; usage ;;
	esac
done
[ -z "$kernel" ] || [[ $kernel == /* ]] || kernel=$cwd/$kernel # --kernel is relative to the caller
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout needs seconds, got '$TIMEOUT'"
case $(basename "$QEMU") in *kvm*) refuse_kvm "QEMU=$QEMU" ;; esac
read -r -a extra <<<"${VMTEST_QEMU_ARGS:-}"
for a in "${extra[@]}"; do
	case $a in *kvm* | *KVM* | *hvf* | *whpx* | *xen*) refuse_kvm "VMTEST_QEMU_ARGS: $a" ;; esac
done
for a in "${filter[@]}"; do
	case $a in *$'\n'*) die "a test filter cannot hold a newline" ;; esac
done

# ---- dependencies (Debian packages, installed only when missing) ---------
need_pkgs() {
	local missing=() p
	for p in qemu-system-x86 busybox-static cpio; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	echo "vmtest: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } ||
		die "cannot install ${missing[*]}"
}
need_pkgs
command -v "$QEMU" >/dev/null || die "$QEMU not found"
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
	die "/bin/busybox is missing or not static (busybox-static provides it)"
fi

# ---- the kernel ---------------------------------------------------------
# Extracts boot/vmlinuz-* and boot/config-* of a linux-image .deb into DIR.
# (Like dpkg-deb -x, but without the 400 MB of modules, which the guest
# does not need: Debian's kernel has BPF, BTF, cgroup2, devtmpfs, tmpfs and
# the 8250 console built in.)
extract_deb() { # extract_deb DEB DIR
	local tmp=$2.tmp.$$
	rm -rf "$tmp" && mkdir -p "$tmp" || return 1
	dpkg-deb --fsys-tarfile "$1" | tar -C "$tmp" -x --wildcards './boot/vmlinuz-*' './boot/config-*' ||
		{ rm -rf "$tmp"; return 1; }
	rm -rf "$2" && mv "$tmp" "$2"
}

default_kernel() {
	local pkg dir deb
	mkdir -p "$KCACHE" || die "cannot create $KCACHE"
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
		echo "vmtest: apt lists empty, running apt-get update" >&2
		apt-get update -q >&2
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	if [ -z "$pkg" ]; then # offline: the newest kernel already fetched
		dir=$(ls -1d "$KCACHE"/linux-image-*/ 2>/dev/null | sort -V | tail -1)
		[ -n "$dir" ] || die "cannot resolve linux-image-amd64 (apt-cache depends) and nothing cached"
		pkg=$(basename "$dir")
	fi
	dir=$KCACHE/$pkg
	if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
		echo "vmtest: fetching $pkg (apt-get download)" >&2
		rm -f "$KCACHE/${pkg}"_*.deb
		(cd "$KCACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
			die "apt-get download $pkg failed"
		deb=$(ls -1 "$KCACHE/${pkg}"_*.deb | head -1)
		extract_deb "$deb" "$dir" || die "cannot extract $deb"
		rm -f "$deb"
	fi
	kernel=$(ls -1 "$dir"/boot/vmlinuz-* | head -1)
	kconfig=$(ls -1 "$dir"/boot/config-* 2>/dev/null | head -1)
}

kconfig=
if [ -z "$kernel" ]; then
	default_kernel
elif [[ $kernel == *.deb ]]; then
	[ -f "$kernel" ] || die "no such file: $kernel"
	d=$KCACHE/$(basename "$kernel" .deb)
	mkdir -p "$KCACHE" && extract_deb "$kernel" "$d" || die "cannot extract $kernel"
	kernel=$(ls -1 "$d"/boot/vmlinuz-* | head -1)
	kconfig=$(ls -1 "$d"/boot/config-* 2>/dev/null | head -1)
else
	[ -f "$kernel" ] || die "no such kernel image: $kernel"
	b=$(basename "$kernel")
	kd=$(dirname "$kernel")
	for c in "$kd/config-${b#vmlinuz-}" "$kd/../../../.config" "$kd/.config"; do
		[ -f "$c" ] && { kconfig=$c; break; }
	done
fi

# What the guest needs built in; the tests' own probe is the judge of BPF
# features, this only explains a guest that cannot even boot or mount.
if [ -n "$kconfig" ]; then
	for o in BLK_DEV_INITRD DEVTMPFS TMPFS SERIAL_8250_CONSOLE CGROUPS BPF_SYSCALL DEBUG_INFO_BTF; do
		grep -q "^CONFIG_$o=y" "$kconfig" ||
			echo "vmtest: warning: $(basename "$kconfig") lacks CONFIG_$o=y" >&2
	done
fi

# ---- the initramfs ------------------------------------------------------
bins=("$BUILD/selftests/test_kernel")
for h in selftests/helpers/*.c; do
	[ -e "$h" ] && bins+=("$BUILD/selftests/$(basename "$h" .c)")
done
for b in "${bins[@]}"; do
	[ -x "$b" ] || die "$b missing: run 'make $b' (or make vmtest)"
done

mkdir -p "$OUT" || die "cannot create $OUT"
exec 9>"$OUT/.lock"
flock -n 9 || die "another vmtest is running on $OUT"
root=$OUT/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,vmtest} || die "cannot create $root"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 scripts/vmtest/init.sh "$root/init"
printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
[ "$(id -u)" -eq 0 ] && mknod -m 600 "$root/dev/console" c 5 1

# The binaries keep their names side by side (fixture_helper() finds the
# helpers next to the test binary); their shared libraries and the dynamic
# loader go where ldd found them.
declare -A libs=()
for b in "${bins[@]}"; do
	install -m 0755 "$b" "$root/vmtest/$(basename "$b")"
	deps=$(ldd "$b" 2>&1) || continue # a static binary
	if grep -q 'not found' <<<"$deps"; then
		echo "$deps" >&2
		die "$b: shared libraries not found"
	fi
	while read -r l; do libs[$l]=1; done < <(awk '
		$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }' <<<"$deps")
done
for l in "${!libs[@]}"; do
	mkdir -p "$root$(dirname "$l")" && cp -L "$l" "$root$l" || die "cannot copy $l"
done
libdirs=$(for l in "${!libs[@]}"; do dirname "$l"; done | sort -u | paste -sd:)

{
	[ -n "$libdirs" ] && printf "export LD_LIBRARY_PATH='%s'\n" "$libdirs"
	[ -n "$verbose" ] && printf 'export ATTESTD_LIBBPF_VERBOSE=1\n'
} >"$root/vmtest/env"
: >"$root/vmtest/args"
for a in "${filter[@]}"; do printf '%s\n' "$a" >>"$root/vmtest/args"; done

initrd=$OUT/initramfs.cpio
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$initrd" ||
	die "cannot build $initrd"

# ---- boot ---------------------------------------------------------------
# Fixed options: checked for KVM like everything else a user can add.  Only
# -accel tcg; -nodefaults/-no-user-config keep qemu's config files out.
opts=(-accel tcg -nodefaults -no-user-config -machine pc -cpu qemu64 -m "$MEM" -smp "$SMP"
	-display none -monitor none -no-reboot "${extra[@]}")
for a in "${opts[@]}"; do
	case $a in *kvm* | *KVM*) refuse_kvm "$a" ;; esac
done
append="console=ttyS0 panic=-1 rdinit=/init"

rm -f "$CONSOLE"
echo "vmtest: booting $kernel (TCG, -m $MEM -smp $SMP, timeout ${TIMEOUT}s); console: $CONSOLE"
t0=$(date +%s.%N)
timeout -k 10 "$TIMEOUT" "$QEMU" "${opts[@]}" -kernel "$kernel" -initrd "$initrd" \
	-append "$append" -serial "file:$CONSOLE" </dev/null >"$OUT/qemu.log" 2>&1
qrc=$?
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')

# ---- verdict ------------------------------------------------------------
log=$OUT/console.txt
tr -d '\r' <"$CONSOLE" >"$log" 2>/dev/null || : >"$log"
tap=$OUT/tap.log
awk '/^VMTEST-BEGIN$/ { on = 1; next } /^VMTEST-END$/ { on = 0 } on' "$log" >"$tap"
cat "$tap"

grk=$(sed -n 's/^VMTEST-KERNEL=//p' "$log" | head -1)
mrc=$(sed -n 's/^VMTEST-RC=\([0-9][0-9]*\)$/\1/p' "$log" | tail -1)
pass=$(grep -E '^ok [0-9]+' "$tap" | grep -cvE '# SKIP' || true)
skip=$(grep -cE '^ok [0-9]+ .*# SKIP' "$tap" || true)
fail=$(grep -cE '^not ok [0-9]+' "$tap" || true)
plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$tap" | head -1)
bad=()

grep -E '^ok [0-9]+ .*# SKIP' "$tap" | sed -E 's/^ok [0-9]+ - ([^ ]+) # SKIP ?(.*)/# skipped: \1 (\2)/'
grep -E '^not ok [0-9]+' "$tap" | sed -E 's/^not ok [0-9]+ - /# failed: /'

if [ -z "$mrc" ]; then
	if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
		bad+=("guest hung: no VMTEST-RC marker within ${TIMEOUT}s")
	else
		bad+=("guest crashed or stopped early: no VMTEST-RC marker (qemu exit $qrc)")
	fi
	if [ -s "$log" ]; then
		echo "# last lines of $CONSOLE:" >&2
		tail -n 40 "$log" | sed 's/^/#   /' >&2
	else
		echo "# $CONSOLE is empty: the kernel printed nothing" >&2
	fi
	[ -s "$OUT/qemu.log" ] && sed 's/^/# qemu: /' "$OUT/qemu.log" >&2
	[ "$fail" -gt 0 ] || fail=1
else
	[ "$mrc" -eq 0 ] || bad+=("test_kernel exited $mrc in the guest")
	if [ "$mrc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
	if [ -n "$plan" ] && [ $((pass + skip + fail)) -lt "$plan" ]; then
		bad+=("TAP plan 1..$plan but $((pass + skip + fail)) results")
		fail=$((fail + 1))
	fi
fi
[ "$fail" -eq 0 ] || [ ${#bad[@]} -gt 0 ] || bad+=("$fail test(s) failed")
if [ "$noskip" -eq 1 ] && [ "$skip" -gt 0 ]; then
	bad+=("$skip test(s) skipped, and skips fail this run (--no-skip or CI=true)")
	fail=$((fail + skip))
	skip=0
fi
if [ ${#bad[@]} -eq 0 ] && [ "$pass" -eq 0 ]; then
	if [ "$skip" -gt 0 ]; then
		bad+=("no kernel test ran: all $skip skipped")
	else
		bad+=("no test matched the filter: ${filter[*]:-(none)}")
	fi
	fail=$((fail + 1))
fi
if [ ${#bad[@]} -gt 0 ] && [ -n "$mrc" ] && [ "$mrc" -ne 0 ]; then
	# the kernel messages the guest printed after a failure
	awk '/^VMTEST-END$/ { on = 1; next } /^VMTEST-RC=/ { on = 0 } on' "$log" >&2
fi

echo "# vmtest: kernel ${grk:-unknown} ($(basename "$kernel")), VM ${secs}s, console $CONSOLE"
for b in "${bad[@]}"; do echo "# vmtest: FAIL: $b"; done
echo "$pass passed, $fail failed, $skip skipped"
[ ${#bad[@]} -eq 0 ]
