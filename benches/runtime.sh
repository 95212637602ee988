#!/usr/bin/env bash
# Container start latency: `/bin/true` in a fresh container, end to end, root file system
# prepared in advance — the `sandbox` example (release build) against `crun run` on an
# equivalent OCI bundle, and `podman run --rm --network=none` for reference.
#
#   benches/runtime.sh                 # 300 runs each (hyperfine), podman 20 runs
#   RUNS=100 PODMAN=0 benches/runtime.sh
#
# Prints each median and the ratio sandbox / crun (below 1: we start faster).
#
# Fairness: both get the same busybox root file system on tmpfs, a new pid/mount/ipc/uts/net
# namespace and a pivot_root. crun's default bundle (`crun spec`) has a read-only root, no seccomp
# and three capabilities; the sandbox does more (Docker's seccomp profile, masked paths, devices,
# mqueue), so the ratio is if anything unfavourable to us.
#
# crun 1.8 refuses this machine's hybrid cgroup layout (v1 controllers beside a cgroup2 mount
# that has none of them), so hyperfine runs BOTH tools inside one private mount namespace where
# /sys/fs/cgroup/unified is unmounted: the trick costs nothing per run and the sandbox does not
# need it (it runs the same in either layout).
set -euo pipefail

RUNS=${RUNS:-300}
PODMAN=${PODMAN:-1}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /dev/shm/boxwright-runtime-bench.XXXXXX)
IMAGE=localhost/boxwright-bench-busybox:latest
cleanup() {
    rm -rf "$WORK"
    if [[ $PODMAN == 1 ]] && command -v podman >/dev/null; then
        podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT INT TERM

for tool in hyperfine crun python3; do
    command -v "$tool" >/dev/null || { echo "runtime.sh: $tool is needed (apt-get install -y $tool)" >&2; exit 1; }
done
[[ -x /bin/busybox ]] || { echo "runtime.sh: /bin/busybox is needed (apt-get install -y busybox-static)" >&2; exit 1; }

cd "$REPO"
cargo build --release -q -p boxwright-runtime --example sandbox
SANDBOX="$REPO/target/release/examples/sandbox"

# The root file system: busybox + applet links + passwd/group.
ROOTFS="$WORK/bundle/rootfs"
mkdir -p "$ROOTFS"/{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in $(/bin/busybox --list); do
    [[ $a == busybox ]] || ln -s /bin/busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"

# The crun bundle over the same root.
(cd "$WORK/bundle" && crun spec)
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
spec = json.load(open(p))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
json.dump(spec, open(p, "w"))
PY
mkdir -p "$WORK/crun-state"
CRUN="crun --root $WORK/crun-state run --bundle $WORK/bundle bench"

# Sanity: both run and exit 0.
"$SANDBOX" "$ROOTFS" -- /bin/true
unshare --mount --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; exec $CRUN"

unshare --mount --propagation private bash -c "
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    hyperfine -N --warmup 20 --runs $RUNS --export-json '$WORK/start.json' \
        -n sandbox '$SANDBOX $ROOTFS -- /bin/true' \
        -n 'crun run' '$CRUN'
"

if [[ $PODMAN == 1 ]] && command -v podman >/dev/null; then
    tar -C "$ROOTFS" -c . | podman import -q - "$IMAGE" >/dev/null
    # Hard rlimits are fixed on our machines: podman must not try to raise them. podman's crun
    # refuses the hybrid cgroup layout too, so it runs with runc.
    hyperfine -N --warmup 2 --runs 20 --export-json "$WORK/podman.json" \
        -n 'podman run --rm --network=none (runc)' \
        "podman --runtime runc run --rm --network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 $IMAGE /bin/true" ||
        { rm -f "$WORK/podman.json"; echo "runtime.sh: podman run failed; reference skipped" >&2; }
fi

python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
rows = []
for f in ("start.json", "podman.json"):
    path = os.path.join(work, f)
    if os.path.exists(path) and os.path.getsize(path) > 0:
        rows += json.load(open(path))["results"]
med = {r["command"]: r["median"] * 1000 for r in rows}
print()
print("container start, /bin/true, median (ms)")
for name, ms in med.items():
    print(f"  {name:32} {ms:8.2f}")
ratio = med["sandbox"] / med["crun run"]
print(f"  ratio sandbox / crun run: {ratio:.2f} ({'faster' if ratio < 1 else 'slower'} than crun)")
PY
