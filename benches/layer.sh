#!/usr/bin/env bash
# Layer creation and application throughput against tar + zstd, and peak memory.
#
#   benches/layer.sh              # ~1 GB tree (SIZE=1024 MB)
#   SIZE=256 benches/layer.sh     # smaller
#   RUNS=3 MEM_SIZES="128 512"    # runs per timing (best is kept); tree sizes for the RSS check
#
# The tree lives on tmpfs (/dev/shm) so the disk does not dominate: about 60% in small files
# (1–64 KiB) and the rest in four big files, all cut from a seeded pool of semi-compressible data
# (half random bytes, half words), so every run sees the same bytes. Everything is removed on exit.
#
# Compared:
#   create: tar -C DIR -c . | zstd -3 -T0 | sha256sum   vs  `create` example (zstd -3, all cores,
#           and sha256 of both the tar stream and the blob)
#   apply:  zstd -d < blob | tar -x -C X                 vs  `apply` example (if present)
# Each figure is the best of RUNS, with the compared commands' runs interleaved so that a busy
# machine disturbs them alike; wall time (MB/s of the tar stream) and CPU time (user + sys of all
# processes and threads) are both shown. Peak RSS is measured for the MEM_SIZES trees.
set -euo pipefail

SIZE=${SIZE:-1024}
RUNS=${RUNS:-3}
MEM_SIZES=${MEM_SIZES:-"128 $SIZE"}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BASE=${BENCH_DIR:-/dev/shm}
WORK=$(mktemp -d "$BASE/boxwright-layer-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

cd "$REPO"
cargo build --release -q -p boxwright-layer-store --example create
CREATE="$REPO/target/release/examples/create"
APPLY=""
if [[ -f crates/layer-store/examples/apply.rs ]]; then
    cargo build --release -q -p boxwright-layer-store --example apply
    APPLY="$REPO/target/release/examples/apply"
fi

# gen DIR MB: a reproducible tree of about MB megabytes.
gen() {
    python3 - "$1" "$2" <<'EOF'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261126)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
         for _ in range(4000)]
pool = bytearray()
while len(pool) < 24 << 20:
    pool += rng.randbytes(2048)
    text = b" ".join(rng.choices(words, k=400))
    pool += text[:2048]
pool = bytes(pool)
def chunk(n):
    out = bytearray()
    while len(out) < n:
        off = rng.randrange(0, len(pool) - 65536)
        out += pool[off:off + min(65536, n - len(out))]
    return out
total = mb << 20
small = int(total * 0.6)
done = 0
i = 0
while done < small:
    d = os.path.join(root, "d%02d" % (i % 50), "s%03d" % (i // 50 % 200))
    if i < 10000:
        os.makedirs(d, exist_ok=True)
    n = rng.randint(1024, 65536)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(chunk(n))
    done += n
    i += 1
os.makedirs(os.path.join(root, "big"), exist_ok=True)
for b in range(4):
    left = (total - done) // (4 - b)
    with open(os.path.join(root, "big", "blob%d" % b), "wb") as f:
        w = 0
        while w < left:
            n = min(8 << 20, left - w)
            f.write(chunk(n))
            w += n
    done += left
print("%d small files, %d MB" % (i, done >> 20), file=sys.stderr)
EOF
}

# timed NAME CMD: appends "wall cpu" (seconds; cpu = user + sys of the command and its children)
# of one run of shell command CMD to $WORK/times.NAME. Runs of the commands being compared are
# interleaved, and the best of RUNS is kept, so that a busy machine disturbs them alike.
timed() {
    /usr/bin/time -f "%e %U %S" -o "$WORK/t" bash -c "$2" >/dev/null
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$WORK/t" >>"$WORK/times.$1"
}
best_wall() { sort -n "$WORK/times.$1" | head -1 | cut -d' ' -f1; }
best_cpu() { sort -n -k2 "$WORK/times.$1" | head -1 | cut -d' ' -f2; }

mbps() { echo "scale=0; $1 / 1048576 / $2" | bc -l; }

# peak RSS in KiB of a command
peak_rss() {
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'
    else
        "$@" >/dev/null &
        local pid=$! hwm=0 v
        while kill -0 "$pid" 2>/dev/null; do
            v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            ((v > hwm)) && hwm=$v
            sleep 0.05
        done
        wait "$pid"
        echo "$hwm"
    fi
}

TREE="$WORK/tree"
mkdir "$TREE"
gen "$TREE" "$SIZE"
BYTES=$(tar -C "$TREE" -c . | wc -c)
echo "tree: $(find "$TREE" -type f | wc -l) files, tar stream $((BYTES >> 20)) MiB, best of $RUNS"

for _ in $(seq "$RUNS"); do
    timed zstd "tar -C '$TREE' -c . | zstd -3 -T0 -q"
    timed tarsha "tar -C '$TREE' -c . | zstd -3 -T0 -q | sha256sum"
    timed ours "'$CREATE' '$TREE' /dev/null"
done
report() { # LABEL NAME [BASELINE]
    local wall cpu
    wall=$(best_wall "$2")
    cpu=$(best_cpu "$2")
    printf '%-38s %6.2f s  %5d MB/s  cpu %6.2f s' "$1" "$wall" "$(mbps "$BYTES" "$wall")" "$cpu"
    if [[ -n ${3:-} ]]; then printf '  (%.2fx)' "$(echo "$(best_wall "$3") / $wall" | bc -l)"; fi
    echo
}
report "create  tar|zstd -3 -T0 (no digest)" zstd
report "create  tar|zstd -3 -T0|sha256sum" tarsha
report "create  boxwright (both digests)" ours tarsha

BLOB="$WORK/layer.tar.zst"
"$CREATE" "$TREE" "$BLOB" >/dev/null
echo "blob: $(($(stat -c %s "$BLOB") >> 20)) MiB"
for _ in $(seq "$RUNS"); do
    timed untar "rm -rf '$WORK/x' && mkdir '$WORK/x' && zstd -d -q < '$BLOB' | tar -x -C '$WORK/x'"
    if [[ -n $APPLY ]]; then
        timed apply "rm -rf '$WORK/x' && mkdir '$WORK/x' && '$APPLY' '$BLOB' '$WORK/x'"
    fi
done
report "apply   zstd -d|tar -x" untar
if [[ -n $APPLY ]]; then
    report "apply   boxwright" apply untar
else
    echo "apply   boxwright: skipped (crates/layer-store/examples/apply.rs not present yet)"
fi
rm -rf "$WORK/x" "$BLOB"

for mb in $MEM_SIZES; do
    M="$WORK/mem$mb"
    mkdir "$M"
    gen "$M" "$mb" 2>/dev/null
    printf 'peak RSS create, %5d MB tree: %6d KiB\n' "$mb" "$(peak_rss "$CREATE" "$M" /dev/null)"
    if [[ -n $APPLY ]]; then
        "$CREATE" "$M" "$WORK/mem.blob" >/dev/null
        mkdir "$WORK/x"
        printf 'peak RSS apply,  %5d MB tree: %6d KiB\n' "$mb" \
            "$(peak_rss "$APPLY" "$WORK/mem.blob" "$WORK/x")"
        rm -rf "$WORK/x" "$WORK/mem.blob"
    fi
    rm -rf "$M"
done
