#!/usr/bin/env bash
# The runtime's cgroup tests on pure cgroup v2, in a VM.
#
# Our machines (and CI's) have the hybrid cgroup layout, so a plain `cargo test` only runs the
# v1 path of crates/runtime/src/cgroup.rs. This script boots Debian's kernel under qemu with
# `cgroup_no_v1=all` and cgroup2 mounted at /sys/fs/cgroup as systemd mounts it (nsdelegate,
# memory_recursiveprot), and runs the modules named on the command line (default: cgroups) of
# the runtime's test binary (tests/all.rs: `all MODULE::`, one module after the other) there,
# as root, from a leaf cgroup of their own (as a systemd service runs), twice: first with no
# controller enabled below the root (a bare kernel), then with +memory +pids +cpu in the root's
# cgroup.subtree_control (as systemd leaves it). After each pass no container's cgroup may be
# left under /sys/fs/cgroup/boxwright. It prints the VM's console and exits 0 only when the VM
# reports that every module's tests passed.
#
# Needs, as root on Debian 12, with Debian's package mirror reachable (after `apt-get update`):
#   apt-get install qemu-system-x86 busybox-static
# and the Rust toolchain that builds the tests. The kernel is `apt-get download`ed (the
# linux-image-*-amd64 that linux-image-amd64 depends on) and unpacked with `dpkg -x` into a
# temporary directory: nothing is installed into the host's /boot or /lib/modules. KVM is used
# when /dev/kvm boots a probe VM, else qemu's software emulation (TCG).
#
# Usage: crates/runtime/tests/vm/cgroup2.sh [MODULE...]   e.g. `cgroup2.sh cgroups isolation`
# Environment:
#   BOXWRIGHT_VM_KERNEL_DEB  a linux-image .deb already downloaded (skips apt-get download)
#   BOXWRIGHT_VM_ACCEL       kvm or tcg (skips the KVM probe)
#   BOXWRIGHT_VM_TIMEOUT     seconds before the VM is killed (default 1500)
#   BOXWRIGHT_VM_KEEP        set: keep the work directory (its path is printed)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(cgroups)
timeout_s="${BOXWRIGHT_VM_TIMEOUT:-1500}"

say() { printf 'cgroup2-vm: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for tool in qemu-system-x86_64 cargo dpkg ldd; do
    command -v "$tool" >/dev/null || die "$tool is missing (see the packages at the top of $0)"
done
[ -x /bin/busybox ] && /bin/busybox --list | grep -x cpio >/dev/null ||
    die "/bin/busybox (busybox-static, with cpio) is missing"

work="$(mktemp -d /tmp/boxwright-cgroup2-vm.XXXXXX)"
if [ -n "${BOXWRIGHT_VM_KEEP:-}" ]; then
    say "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi
start=$(date +%s)

# --- The kernel: Debian's, unpacked, never installed.
deb="${BOXWRIGHT_VM_KERNEL_DEB:-}"
if [ -z "$deb" ]; then
    pkg="$(apt-cache depends linux-image-amd64 |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)"
    [ -n "$pkg" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-get update?)"
    say "downloading $pkg"
    (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null)
    deb="$(ls "$work"/linux-image-*.deb)"
fi
dpkg -x "$deb" "$work/kernel"
vmlinuz="$(ls "$work"/kernel/boot/vmlinuz-* | head -n1)"
kver="${vmlinuz##*/vmlinuz-}"
moddir="$work/kernel/lib/modules/$kver"
[ -d "$moddir" ] || die "no modules for $kver in $deb"
say "kernel $kver"

# --- The test binary, and the modules of it to run.
root="$work/root"
mkdir -p "$root"/{bin,etc,tests,modules,tmp,proc,sys,dev,root,newroot}
say "building the tests"
exe="$(cd "$repo" && cargo test --locked -q -p boxwright-runtime --test all --no-run \
    --message-format=json |
    grep -F '"reason":"compiler-artifact"' | grep -F '"kind":["test"]' |
    grep -F '"name":"all"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n1)"
[ -n "$exe" ] && [ -x "$exe" ] || die "no test executable for tests/all.rs"
cp "$exe" "$root/tests/all"
# Its shared libraries (and the dynamic loader), at the paths it looks for them.
ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do cp -L --parents "$lib" "$root"; done
: >"$root/tests/order"
for t in "${tests[@]}"; do
    # The filter `$t::` must select that module's tests and no other's: a misspelt module
    # would otherwise pass with no test run.
    names="$("$exe" --list --format=terse "$t::" | sed -n 's/: test$//p')"
    [ -n "$names" ] || die "no module $t in tests/all.rs"
    if printf '%s\n' "$names" | grep -v "^$t::" >/dev/null; then
        die "the filter $t:: selects tests outside the module $t"
    fi
    say "module $t: $(printf '%s\n' "$names" | wc -l) tests"
    echo "$t" >>"$root/tests/order"
done

# --- Busybox (also the tests' image: they copy /bin/busybox into their root file systems).
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n' >"$root/etc/hosts"
printf 'nameserver 127.0.0.1\n' >"$root/etc/resolv.conf"
echo cgroup2-vm >"$root/etc/hostname"

# --- Kernel modules, with what they depend on (read from each module's .modinfo), loaded in
# order by the VM's init. Compressed modules are decompressed: busybox's insmod wants a plain
# ELF file.
: >"$root/modules/order"
add_module() {
    local name="$1" file dep
    grep -qx "$name" "$root/modules/order" && return 0
    file="$(find "$moddir" -name "$name.ko" -o -name "$name.ko.xz" -o -name "$name.ko.zst" \
        -o -name "$name.ko.gz" | head -n1)"
    if [ -z "$file" ]; then
        # Built in: nothing to load.
        grep -q "/$name.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
        die "no module $name in $kver"
    fi
    case "$file" in
    *.xz) xz -dc "$file" >"$root/modules/$name.ko" ;;
    *.zst) zstd -qdc "$file" >"$root/modules/$name.ko" ;;
    *.gz) gzip -dc "$file" >"$root/modules/$name.ko" ;;
    *) cp "$file" "$root/modules/$name.ko" ;;
    esac
    for dep in $(tr '\0' '\n' <"$root/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$dep"
    done
    echo "$name" >>"$root/modules/order"
}
add_module overlay

# --- The VM's init: stage 1 runs on the initramfs, where pivot_root (which every container
# start makes) is refused; it copies everything into a tmpfs and switch_roots there.
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
export PATH=/bin
mount -t tmpfs -o mode=755 root /newroot
for e in /*; do
    case "$e" in /newroot | /proc | /sys | /dev) ;; *) cp -a "$e" /newroot/ ;; esac
done
mkdir -p /newroot/proc /newroot/sys /newroot/dev
exec switch_root /newroot /stage2
echo "BOXWRIGHT-VM-RESULT: FAIL (switch_root failed)"
poweroff -f
EOF
cat >"$root/stage2" <<'EOF'
#!/bin/sh
export PATH=/bin HOME=/root TMPDIR=/tmp RUST_BACKTRACE=1
fail() { echo "BOXWRIGHT-VM-RESULT: FAIL ($*)"; sync; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
chmod 1777 /tmp
# Pure v2, as systemd mounts it on Debian 12.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || fail "mounting cgroup2"
grep -q ' cgroup ' /proc/mounts && fail "a cgroup v1 hierarchy is mounted"
for m in $(cat /modules/order); do insmod "/modules/$m.ko" || fail "insmod $m"; done
mkdir /sys/fs/cgroup/ci && echo $$ >/sys/fs/cgroup/ci/cgroup.procs || fail "moving to /ci"
ip link set lo up
cd /tmp
status=0
# Runs every module's tests once; then no container's cgroup may be left behind.
run_tests() {
    echo "cgroup2 ($1): controllers '$(cat /sys/fs/cgroup/cgroup.controllers)'," \
        "root subtree_control '$(cat /sys/fs/cgroup/cgroup.subtree_control)'," \
        "tests in $(cat /proc/self/cgroup)"
    for t in $(cat /tests/order); do
        echo "=== $t ($1)"
        /tests/all --test-threads=2 "$t::"
        rc=$?
        echo "=== $t ($1): exit status $rc"
        [ "$rc" = 0 ] || status=$rc
    done
    left="$(find /sys/fs/cgroup/boxwright -mindepth 1 -type d 2>/dev/null)"
    if [ -n "$left" ]; then
        echo "=== cgroups left behind: $left"
        status=1
    fi
    rmdir /sys/fs/cgroup/boxwright 2>/dev/null
}
# First as a bare kernel boots: no controller enabled below the root, so the runtime must
# enable what it needs itself.
run_tests "bare root"
# Then as systemd leaves it: the controllers enabled in the root's cgroup.subtree_control.
echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control || fail "enabling controllers"
run_tests "systemd's root"
if [ "$status" = 0 ]; then
    echo "BOXWRIGHT-VM-RESULT: PASS"
else
    echo "BOXWRIGHT-VM-RESULT: FAIL (exit status $status)"
fi
sync
poweroff -f
EOF
chmod 755 "$root/init" "$root/stage2"
(cd "$root" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$work/initramfs.cpio"
say "initramfs: $(du -m "$work/initramfs.cpio" | cut -f1) MB"

# --- KVM where it works (a probe VM that must print a line), else TCG.
accel="${BOXWRIGHT_VM_ACCEL:-}"
if [ -z "$accel" ]; then
    accel=tcg
    if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        mkdir -p "$work/probe/bin"
        cp /bin/busybox "$work/probe/bin/busybox"
        printf '#!/bin/busybox sh\n/bin/busybox echo KVM-PROBE-OK\n/bin/busybox poweroff -f\n' \
            >"$work/probe/init"
        chmod 755 "$work/probe/init"
        (cd "$work/probe" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$work/probe.cpio"
        if timeout -k 5 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nographic \
            -no-reboot -kernel "$vmlinuz" -initrd "$work/probe.cpio" \
            -append "console=ttyS0 quiet panic=-1" </dev/null 2>/dev/null |
            tr -d '\r' | grep '^KVM-PROBE-OK$' >/dev/null; then
            accel=kvm
        fi
    fi
fi
case "$accel" in
kvm) qaccel=(-accel kvm -cpu host) ;;
tcg) qaccel=(-accel tcg,thread=multi -cpu max) ;;
*) die "BOXWRIGHT_VM_ACCEL must be kvm or tcg" ;;
esac
say "booting ($accel, timeout ${timeout_s}s; $(($(date +%s) - start))s of preparation)"

boot=$(date +%s)
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 "${qaccel[@]}" -m 2048 -smp 2 -nographic \
    -no-reboot -kernel "$vmlinuz" -initrd "$work/initramfs.cpio" \
    -append "console=ttyS0 loglevel=3 panic=-1 cgroup_no_v1=all" </dev/null 2>&1 |
    tee "$work/console.log"
qemu_status=${PIPESTATUS[0]}
set -e
result="$(tr -d '\r' <"$work/console.log" | grep -a '^BOXWRIGHT-VM-RESULT: ' | tail -n1 || true)"
say "VM ran $(($(date +%s) - boot))s (qemu exit status $qemu_status); total $(($(date +%s) - start))s"
case "$result" in
"BOXWRIGHT-VM-RESULT: PASS") say "PASS: ${tests[*]} on cgroup v2" ;;
"") die "FAIL: no result from the VM (timed out or crashed)" ;;
*) die "${result#BOXWRIGHT-VM-RESULT: }" ;;
esac
