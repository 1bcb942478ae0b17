#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# PID 1 of the vmtest guest (busybox initramfs built by scripts/vmtest.sh).
# Mounts what the kernel tests need, runs /vmtest/test_kernel with the filter
# in /vmtest/args (one argument a line), prints its TAP between VMTEST-BEGIN
# and VMTEST-END, then "VMTEST-RC=<exit status>", and powers off.  If this
# script dies instead, the kernel panics (init exited), panic=-1 reboots and
# qemu's -no-reboot ends the VM: the host sees no marker and fails the run.
export PATH=/bin
bb=/bin/busybox

$bb mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The initramfs may lack /dev/console (built without root): reattach stdio.
exec </dev/console >/dev/console 2>&1
$bb --install -s /bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup || echo "vmtest-init: cannot mount cgroup2"
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
hostname vmtest

# Only errors and worse on the console while tests print: a routine kernel
# message written into the middle of a TAP line would garble it.  The whole
# kernel log is dumped after a failure.
echo 4 >/proc/sys/kernel/printk

[ -f /vmtest/env ] && . /vmtest/env
set --
if [ -f /vmtest/args ]; then
	while IFS= read -r a; do
		set -- "$@" "$a"
	done </vmtest/args
fi

echo "VMTEST-KERNEL=$(uname -r)"
if [ -r /sys/kernel/btf/vmlinux ]; then echo "VMTEST-BTF=yes"; else echo "VMTEST-BTF=no"; fi
n0=$(dmesg | wc -l)
echo "VMTEST-BEGIN"
cd /vmtest && ./test_kernel "$@"
rc=$?
echo "VMTEST-END"
if [ "$rc" -ne 0 ]; then
	dmesg | tail -n +"$((n0 + 1))" >/tmp/dmesg.new
	if [ -s /tmp/dmesg.new ]; then
		echo "# kernel messages while the tests ran:"
		sed 's/^/# dmesg: /' /tmp/dmesg.new
	fi
fi
echo "VMTEST-RC=$rc"
sync
poweroff -f
# poweroff did not stop the machine: a reboot does, with qemu's -no-reboot.
sleep 5
reboot -f
