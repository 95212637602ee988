#!/usr/bin/env bash
# Start-to-ready of a test container: busybox's httpd with a published port, ready once
# `GET /` answers 2xx, then removed — the `test-harness` example (release build, feature
# `run` only: what a test suite compiles) against `podman run -d -p` with the same readiness
# poll (curl in a loop) and `podman rm -f`, in one run (hyperfine).
#
#   benches/harness.sh              # 50 runs of the harness, 20 of podman
#   RUNS=100 benches/harness.sh
#
# Both sides do the whole job: start the container from an image given by name, publish the
# port on 127.0.0.1, wait until the page answers 2xx, remove the container (SIGKILL). The
# example also fetches the page once more and checks nothing is left (a few hundred µs).
# Prints the medians and the ratio harness / podman (goal ≤ 0.2).
#
# podman refuses this machine's hybrid cgroup layout unless /sys/fs/cgroup/unified is
# unmounted, so both run inside one private mount namespace where it is (the harness runs the
# same either way); podman runs with runc and explicit ulimits, as in benches/run.sh.
set -euo pipefail

RUNS=${RUNS:-50}
PODMAN_RUNS=${PODMAN_RUNS:-20}
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /dev/shm/boxwright-harness-bench.XXXXXX)
IMAGE=localhost/boxwright-harness-bench:latest
cleanup() {
    podman rm -f -t 0 boxwright-harness-bench >/dev/null 2>&1 || true
    podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for tool in hyperfine podman curl python3 slirp4netns; do
    command -v "$tool" >/dev/null || { echo "harness.sh: $tool is needed (apt-get install -y $tool)" >&2; exit 1; }
done
[[ -x /bin/busybox ]] || { echo "harness.sh: /bin/busybox is needed (apt-get install -y busybox-static)" >&2; exit 1; }

cd "$REPO"
cargo build --release -q --no-default-features --features run --example test-harness
HARNESS="$REPO/target/release/examples/test-harness"
export BOXWRIGHT_ROOT="$WORK/root"

# The same busybox tree for podman (the example makes its busybox:1.36 from the same files
# on its first run, the warmup).
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS"/{bin,etc,tmp,root}
cp /bin/busybox "$ROOTFS/bin/busybox"
for a in $(/bin/busybox --list); do
    [[ $a == busybox ]] || ln -s busybox "$ROOTFS/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\n' >"$ROOTFS/etc/group"
tar -C "$ROOTFS" -cf "$WORK/rootfs.tar" .
podman import -q "$WORK/rootfs.tar" "$IMAGE" >/dev/null

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/podman-once.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
podman --runtime runc run -d -q --name boxwright-harness-bench \
    --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
    -p 127.0.0.1:$PORT:80 $IMAGE sh -c 'echo hello > index.html && exec httpd -f -p 80' >/dev/null
until curl -fsS -o /dev/null http://127.0.0.1:$PORT/ 2>/dev/null; do sleep 0.002; done
podman --runtime runc rm -f -t 0 boxwright-harness-bench >/dev/null
SH
chmod +x "$WORK/podman-once.sh"

unshare --mount --propagation private bash -c "
    set -e
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    # Sanity: each runs to the end and exits 0 (the first run makes busybox:1.36).
    '$HARNESS'
    '$WORK/podman-once.sh'
    hyperfine -N --warmup 3 --runs $RUNS --export-json '$WORK/harness.json' \
        -n 'harness: start, GET / 2xx, drop' '$HARNESS --quiet'
    hyperfine -N --warmup 2 --runs $PODMAN_RUNS --export-json '$WORK/podman.json' \
        -n 'podman run -d -p, curl loop, rm -f' '$WORK/podman-once.sh'
"

python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
rows = []
for f in ("harness.json", "podman.json"):
    rows += json.load(open(os.path.join(work, f)))["results"]
print()
print("busybox httpd with a published port: start to ready (GET / 2xx) and removal, median (ms)")
med = {}
for r in rows:
    med[r["command"]] = r["median"] * 1000
    print(f"  {r['command']:40} {r['median'] * 1000:8.1f}  (min {r['min'] * 1000:.1f}, max {r['max'] * 1000:.1f})")
ours = med["harness: start, GET / 2xx, drop"]
theirs = med["podman run -d -p, curl loop, rm -f"]
print(f"  ratio harness / podman: {ours / theirs:.3f} (goal <= 0.2)")
PY
