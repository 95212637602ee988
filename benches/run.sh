#!/usr/bin/env bash
# `docker run --rm IMAGE /bin/true` by image name, end to end: resolve the name, prepare the
# image's snapshots, mount the overlay with a fresh upper dir, apply the image's config, run,
# remove the container — `bw` (the facade's CLI example, release build) against
# `podman run --rm --network=none` on the same image, and `crun run` on a prepared bundle of the
# same files (which does none of the image work: the floor).
#
#   benches/run.sh                  # 100 runs of bw and crun, 20 of podman (hyperfine)
#   RUNS=50 benches/run.sh
#
# Prints the medians and the ratios bw / podman (goal ≤ 0.1) and bw / crun.
#
# crun and podman refuse this machine's hybrid cgroup layout unless /sys/fs/cgroup/unified is
# unmounted, so everything runs inside one private mount namespace where it is (bw runs the same
# either way); podman runs with runc, as in benches/runtime.sh.
set -euo pipefail

RUNS=${RUNS:-100}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /dev/shm/boxwright-run-bench.XXXXXX)
IMAGE=localhost/boxwright-run-bench:latest
cleanup() {
    podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for tool in hyperfine crun podman python3; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is needed (apt-get install -y $tool)" >&2; exit 1; }
done
[[ -x /bin/busybox ]] || { echo "run.sh: /bin/busybox is needed (apt-get install -y busybox-static)" >&2; exit 1; }

cd "$REPO"
cargo build --release -q --example bw
BW="$REPO/target/release/examples/bw"
export BOXWRIGHT_ROOT="$WORK/root"

# One busybox root file system, as a tar for bw and podman and as crun's bundle.
ROOTFS="$WORK/bundle/rootfs"
mkdir -p "$ROOTFS"/{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in $(/bin/busybox --list); do
    [[ $a == busybox ]] || ln -s /bin/busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
tar -C "$ROOTFS" -cf "$WORK/rootfs.tar" .
"$BW" import "$WORK/rootfs.tar" "$IMAGE" >/dev/null
podman import -q "$WORK/rootfs.tar" "$IMAGE" >/dev/null
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
PODMAN="podman --runtime runc run --rm --network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 $IMAGE /bin/true"

unshare --mount --propagation private bash -c "
    set -e
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    # Sanity: each runs and exits 0.
    $BW run --rm $IMAGE /bin/true
    $CRUN
    $PODMAN
    hyperfine -N --warmup 5 --runs $RUNS --export-json '$WORK/fast.json' \
        -n 'bw run --rm' '$BW run --rm $IMAGE /bin/true' \
        -n 'crun run' '$CRUN'
    hyperfine -N --warmup 2 --runs 20 --export-json '$WORK/podman.json' \
        -n 'podman run --rm --network=none' '$PODMAN'
"
# Nothing is left behind: --rm removed every container.
test -z "$("$BW" ps -aq)"

python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
rows = []
for f in ("fast.json", "podman.json"):
    rows += json.load(open(os.path.join(work, f)))["results"]
med = {r["command"]: r["median"] * 1000 for r in rows}
print()
print("run --rm IMAGE /bin/true by name, median (ms)")
for name, ms in med.items():
    print(f"  {name:34} {ms:8.2f}")
bw = med["bw run --rm"]
print(f"  ratio bw / podman: {bw / med['podman run --rm --network=none']:.3f} (goal <= 0.1)")
print(f"  ratio bw / crun:   {bw / med['crun run']:.2f} (crun runs a prepared bundle: no image work)")
PY
