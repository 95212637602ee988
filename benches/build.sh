#!/usr/bin/env bash
# Image builds side by side: boxwright's `build` example (release) against `buildah build
# --layers` and, when Debian's docker.io is installed, `docker build` with BuildKit — same
# Dockerfile, same busybox base, on tmpfs.
#
#   benches/build.sh                 # contexts of 2,000 and 20,000 small files
#   SIZES="2000" RUNS=5 COLD_RUNS=3  # context sizes; hyperfine runs per warm / cold figure
#
# The Dockerfile:   FROM busybox:bench / COPY . /app / RUN find /app -type f | wc -l > /count
# For each context size: a cold build (empty cache: boxwright from a store holding only the
# base, buildah with its cache images pruned), a no-change rebuild, and a rebuild after one file
# changed (a new content before each run). Each figure is hyperfine's median; the ratios are
# boxwright / buildah and boxwright / docker (below 1: boxwright is faster). Then the peak RSS of
# boxwright's cold build of the biggest context (`/usr/bin/time -v`). No figure is asserted.
#
# buildah runs as root with its own storage under the work dir (overlay driver), `--isolation
# oci --runtime runc --network none` (crun refuses this machine's hybrid cgroups; chroot
# isolation cannot take `--network none`). Everything — the work dir, buildah's images,
# containers and mounts — is removed on exit.
#
# Docker: the script starts its own private engine, Debian's `dockerd` (docker.io, 20.10), with
# its data root, exec root and socket on the same tmpfs (`--iptables=false --bridge=none`), and
# drives it with the package's own CLI, `/usr/bin/docker` with DOCKER_BUILDKIT=1 (a newer
# `docker` earlier on PATH may lack buildx); builds use `--network none`; a cold build follows
# `docker builder prune -af`. The engine is stopped (SIGTERM, then waited for) on exit. Docker
# is skipped when the package is not installed or the engine does not answer; it is never
# installed by this script (`apt-get install docker.io`).
set -euo pipefail

SIZES=${SIZES:-"2000 20000"}
RUNS=${RUNS:-5}
COLD_RUNS=${COLD_RUNS:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BENCH_DIR:-/dev/shm}
WORK=$(mktemp -d "$BASE/boxwright-build-bench.XXXXXX")
BUILDAH=(buildah --root "$WORK/buildah/root" --runroot "$WORK/buildah/run" --storage-driver overlay)

cleanup() {
    set +e
    if [[ -d "$WORK/buildah" ]]; then
        "${BUILDAH[@]}" rm --all >/dev/null 2>&1
        "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1
    fi
    if [[ -n "${DK_PID:-}" ]]; then
        kill -TERM "$DK_PID" 2>/dev/null
        wait "$DK_PID" 2>/dev/null
    fi
    # Mounts left under the work dir (deepest first), then the dir.
    awk -v w="$WORK" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m"
    done
    rm -rf "$WORK"
    if [[ -n "${DK:-}" ]]; then
        awk -v w="$DK" '$2 ~ "^"w {print $2}' /proc/mounts | sort -r | while read -r m; do
            umount -l "$m"
        done
        rm -rf "$DK"
    fi
}
trap cleanup EXIT INT TERM

for tool in hyperfine buildah runc /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing" >&2; exit 1; }
done

cd "$REPO"
cargo build --release -q -p boxwright-builder --features runtime --example build
BW="$REPO/target/release/examples/build"

# A private Docker engine on tmpfs (short paths: the exec root holds unix sockets).
DOCKER_OK=""
DOCKER_BIN=/usr/bin/docker
if [[ -x /usr/sbin/dockerd && -x $DOCKER_BIN ]]; then
    DK=$(mktemp -d "$BASE/bwdk.XXXXXX")
    mkdir -p "$DK/cli"
    dockerd --iptables=false --bridge=none --data-root "$DK/data" --exec-root "$DK/x" \
        --pidfile "$DK/pid" -H "unix://$DK/d.sock" >"$DK/log" 2>&1 &
    DK_PID=$!
    DOCKER="DOCKER_BUILDKIT=1 DOCKER_CONFIG=$DK/cli $DOCKER_BIN -H unix://$DK/d.sock"
    for _ in $(seq 300); do
        if [[ -S "$DK/d.sock" ]] && eval "$DOCKER version" >/dev/null 2>&1; then
            DOCKER_OK=1
            break
        fi
        kill -0 "$DK_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$DOCKER_OK" ]] || { echo "docker: the private engine did not start:" >&2; tail -5 "$DK/log" >&2; }
else
    echo "docker: Debian's docker.io is not installed: docker build is skipped"
fi

# The busybox base: every applet linked, root in /etc/passwd.
mkdir -p "$WORK/bb/bin" "$WORK/bb/etc"
cp /bin/busybox "$WORK/bb/bin/busybox"
for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$WORK/bb/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$WORK/bb/etc/passwd"
printf 'root:x:0:\n' >"$WORK/bb/etc/group"

# boxwright: a store holding only the base, copied for every cold build.
"$BW" --root "$WORK/bw-base" --import-base "$WORK/bb" busybox:bench >/dev/null
# buildah: the same tree as a one-layer image.
ctr=$("${BUILDAH[@]}" from scratch)
"${BUILDAH[@]}" copy "$ctr" "$WORK/bb" / >/dev/null
"${BUILDAH[@]}" commit -q "$ctr" busybox:bench >/dev/null
"${BUILDAH[@]}" rm "$ctr" >/dev/null
if [[ -n "$DOCKER_OK" ]]; then
    tar -C "$WORK/bb" -c . | eval "$DOCKER import - busybox:bench" >/dev/null
fi

cat >"$WORK/Dockerfile" <<'EOF'
FROM busybox:bench
COPY . /app
RUN find /app -type f | wc -l > /count
EOF

# gen DIR N: N small files (20–200 bytes) in directories of 100.
gen() {
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261206)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write("file %d %s\n" % (i, "x" * rng.randint(10, 190)))
EOF
}

bw_build() { echo "\"$BW\" --root \"$WORK/bw\" -f \"$WORK/Dockerfile\" -t bench-app \"$1\" >/dev/null"; }
bh_build() {
    echo "${BUILDAH[*]} build -q --layers --pull=never --isolation oci --runtime runc --network none -f \"$WORK/Dockerfile\" -t bench-app \"$1\" >/dev/null 2>&1"
}
dk_build() { echo "$DOCKER build -q --network none -f \"$WORK/Dockerfile\" -t bench-app \"$1\" >/dev/null 2>&1"; }
bw_cold() { echo "rm -rf \"$WORK/bw\" && cp -a \"$WORK/bw-base\" \"$WORK/bw\""; }
bh_cold() { echo "${BUILDAH[*]} rmi -f bench-app >/dev/null 2>&1; ${BUILDAH[*]} rmi --prune >/dev/null 2>&1; true"; }
dk_cold() { echo "$DOCKER rmi -f bench-app >/dev/null 2>&1; $DOCKER builder prune -af >/dev/null 2>&1; true"; }
change() { echo "date +%s%N >\"$1/d000/f00000.txt\""; }

# median NAME JSON: hyperfine's median of command NAME, in seconds.
median() {
    python3 -c 'import json, sys
for r in json.load(open(sys.argv[2]))["results"]:
    if r["command"] == sys.argv[1]:
        print("%.4f" % r["median"])' "$1" "$2"
}

# bench LABEL RUNS KIND CTX: hyperfine over the tools for one figure; prints one line.
bench() {
    local label=$1 runs=$2 kind=$3 ctx=$4 json="$WORK/h.json"
    local args=(--style none --runs "$runs" --export-json "$json")
    local tools=(boxwright buildah)
    [[ -n "$DOCKER_OK" ]] && tools+=(docker)
    for tool in "${tools[@]}"; do
        local short=${tool:0:2}
        [[ $tool == boxwright ]] && short=bw
        [[ $tool == buildah ]] && short=bh
        [[ $tool == docker ]] && short=dk
        local prep
        case $kind in
            cold) prep=$("${short}_cold") ;;
            same) prep=true ;;
            change) prep=$(change "$ctx") ;;
        esac
        # A warm-up build so that the rebuilds start from a warm cache of this context.
        [[ $kind != cold ]] && eval "$("${short}_build" "$ctx")"
        args+=(--command-name "$tool" --prepare "$prep" "$("${short}_build" "$ctx")")
    done
    hyperfine "${args[@]}" >/dev/null
    local bw bh line
    bw=$(median boxwright "$json")
    bh=$(median buildah "$json")
    line=$(printf '%-22s boxwright %7.3f s   buildah %7.3f s' "$label" "$bw" "$bh")
    if [[ -n "$DOCKER_OK" ]]; then
        local dk
        dk=$(median docker "$json")
        line+=$(printf '   docker %7.3f s   bw/docker %5.2fx' "$dk" "$(bc -l <<<"$bw / $dk")")
    fi
    line+=$(printf '   bw/buildah %5.2fx' "$(bc -l <<<"$bw / $bh")")
    echo "$line"
}

dk_version=""
[[ -n "$DOCKER_OK" ]] && dk_version=", docker $(eval "$DOCKER version --format '{{.Server.Version}}'") (BuildKit)"
echo "boxwright $(git -C "$REPO" rev-parse --short HEAD), $(buildah --version)$dk_version, on $BASE, $(nproc) cores"
echo "medians: cold of $COLD_RUNS runs, rebuilds of $RUNS runs"
for n in $SIZES; do
    ctx="$WORK/ctx-$n"
    gen "$ctx" "$n"
    bench "$n files: cold" "$COLD_RUNS" cold "$ctx"
    bench "$n files: no change" "$RUNS" same "$ctx"
    bench "$n files: one change" "$RUNS" change "$ctx"
done

# Peak memory of boxwright's cold build of the biggest context.
biggest=$(printf '%s\n' $SIZES | sort -g | tail -1)
eval "$(bw_cold)"
/usr/bin/time -v "$BW" --root "$WORK/bw" -f "$WORK/Dockerfile" -t bench-app "$WORK/ctx-$biggest" \
    >/dev/null 2>"$WORK/time.txt"
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
printf 'boxwright peak RSS, cold build of %s files: %.1f MiB\n' "$biggest" "$(bc -l <<<"$rss / 1024")"
