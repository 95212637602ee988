#!/usr/bin/env bash
# Registry push, pull and re-push throughput of the `copy` example against `skopeo copy`, and
# our peak memory for two layer sizes.
#
#   benches/registry.sh                 # busybox + 200 MB random + 200 MB text layers (gzip)
#   SIZE=64 benches/registry.sh         # smaller layers (MB each)
#   RUNS=3 SMALL=50                     # runs per timing (median and best shown); MB per layer
#                                       # of the second image, used for the memory check
#
# A Debian `docker-registry` (Distribution 2.8) is started on a free 127.0.0.1 port with its
# storage and config in a temp dir (on /dev/shm when it has room) and killed on exit. The image
# is an OCI layout: busybox (from /bin/busybox), SIZE MB of random bytes and SIZE MB of text,
# each a gzip'd tar (as the peers' figures were measured). Compared, runs interleaved:
#   push:    skopeo copy --dest-tls-verify=false --preserve-digests oci:DIR:TAG docker://…
#            vs copy oci:DIR:TAG docker://… (a fresh repository each run)
#   pull:    skopeo copy --src-tls-verify=false docker://… oci:FRESH:TAG  vs  copy docker://… oci:…
#   re-push: the same push again, every blob present: wall time and the requests the registry
#            logged for it.
# MB/s are of the blobs' (compressed) bytes. Ratios > 1 mean we are faster.
set -euo pipefail

SIZE=${SIZE:-200}
SMALL=${SMALL:-50}
RUNS=${RUNS:-3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
need=$(( (SIZE * 2 + SMALL * 2) * 6 ))
BASE=${BENCH_DIR:-}
if [[ -z $BASE ]]; then
    BASE=/tmp
    if avail=$(df -Pm /dev/shm 2>/dev/null | awk 'NR==2 {print $4}') && (( avail > need )); then
        BASE=/dev/shm
    fi
fi
WORK=$(mktemp -d "$BASE/boxwright-registry-bench.XXXXXX")
REG_PID=""
cleanup() {
    if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for tool in /usr/bin/docker-registry /usr/bin/skopeo python3 gzip bc; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

cd "$REPO"
cargo build --release -q -p boxwright-registry-client --example copy
COPY="$REPO/target/release/examples/copy"

# --- registry ---------------------------------------------------------------------------------
# start_registry: a fresh registry (new port, empty storage) as $HOST, its log $WORK/access.log.
# Each run gets its own, so that skopeo's blob-info cache (which remembers where it saw a blob
# and mounts it from there instead of uploading) cannot turn a push into a mount.
start_registry() {
    if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    rm -rf "$WORK/data"
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    HOST=127.0.0.1:$port
    cat >"$WORK/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $WORK/data
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $HOST
EOF
    /usr/bin/docker-registry serve "$WORK/config.yml" >"$WORK/access.log" 2>"$WORK/registry.log" &
    REG_PID=$!
    for _ in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return
        sleep 0.1
    done
    echo "the registry did not start:" >&2; cat "$WORK/registry.log" >&2; exit 1
}

# --- images -----------------------------------------------------------------------------------
# make_image DIR MB: an OCI layout tagged `v1` with busybox + MB random + MB text layers.
make_image() {
    python3 - "$1" "$2" <<'EOF'
import gzip, hashlib, io, json, os, random, subprocess, sys, tarfile
root, mb = sys.argv[1], int(sys.argv[2])
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, mode in files:
            i = tarfile.TarInfo(name); i.size = len(data); i.mode = mode; i.mtime = 0
            t.addfile(i, io.BytesIO(data))
    raw = raw.getvalue()
    gz = subprocess.run(["gzip", "-1", "-n", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    desc = put(gz)
    desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    return desc, "sha256:" + hashlib.sha256(raw).hexdigest()
rng = random.Random(20261127)
bb = open("/bin/busybox", "rb").read()
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
         for _ in range(5000)]
text = bytearray()
while len(text) < mb << 20:
    text += b" ".join(rng.choices(words, k=12)) + b"\n"
layers = [
    layer([("bin/busybox", bb, 0o755)]),
    layer([("data/random.bin", rng.randbytes(mb << 20), 0o644)]),
    layer([("data/text.txt", bytes(text[: mb << 20]), 0o644)]),
]
config = json.dumps({"architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["/bin/busybox", "sh"]},
    "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]}}).encode()
cdesc = put(config); cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": cdesc, "layers": [l for l, _ in layers]}).encode()
mdesc = put(manifest); mdesc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
mdesc["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
with open(os.path.join(root, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
print(sum(l["size"] for l, _ in layers) + cdesc["size"])
EOF
}
echo "making images (SIZE=$SIZE MB and $SMALL MB layers) in $WORK"
BYTES=$(make_image "$WORK/img" "$SIZE")
SMALL_BYTES=$(make_image "$WORK/small" "$SMALL")
printf 'image: %.1f MB of blobs (gzip); small image: %.1f MB\n' "$(bc -l <<<"$BYTES/1000000")" "$(bc -l <<<"$SMALL_BYTES/1000000")"

# --- timing helpers ---------------------------------------------------------------------------
now() { date +%s.%N; }
# timed VAR CMD...: runs CMD (quietly), appends its wall seconds to the array VAR.
timed() {
    local var=$1; shift
    local t0 t1
    t0=$(now)
    "$@" >/dev/null 2>"$WORK/last.err" || { echo "failed: $*" >&2; cat "$WORK/last.err" >&2; exit 1; }
    t1=$(now)
    eval "$var+=($(bc -l <<<"$t1 - $t0"))"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
logged() { grep -c 'HTTP/1.1"' "$WORK/access.log" || true; }

SK_PUSH=() OUR_PUSH=() SK_PULL=() OUR_PULL=() SK_RE=() OUR_RE=()
SK_REQ=0 OUR_REQ=0
for i in $(seq "$RUNS"); do
    start_registry
    # Who pushes first alternates (the second upload of a blob the registry stores already
    # skips a rename there).
    sk_push() { timed SK_PUSH skopeo copy -q --dest-tls-verify=false --preserve-digests "oci:$WORK/img:v1" "docker://$HOST/bench/skopeo:v1"; }
    our_push() { timed OUR_PUSH "$COPY" "oci:$WORK/img:v1" "docker://$HOST/bench/ours:v1"; }
    if (( i % 2 )); then sk_push; our_push; else our_push; sk_push; fi
    rm -rf "$WORK/pull-sk" "$WORK/pull-ours"
    timed SK_PULL skopeo copy -q --src-tls-verify=false "docker://$HOST/bench/ours:v1" "oci:$WORK/pull-sk:v1"
    timed OUR_PULL "$COPY" "docker://$HOST/bench/skopeo:v1" "oci:$WORK/pull-ours:v1"
    rm -rf "$WORK/pull-sk" "$WORK/pull-ours"
    sleep 0.2
    before=$(logged)
    timed SK_RE skopeo copy -q --dest-tls-verify=false --preserve-digests "oci:$WORK/img:v1" "docker://$HOST/bench/skopeo:v1"
    sleep 0.2; mid=$(logged)
    timed OUR_RE "$COPY" "oci:$WORK/img:v1" "docker://$HOST/bench/ours:v1"
    sleep 0.2; after=$(logged)
    SK_REQ=$((mid - before)) OUR_REQ=$((after - mid))
done

mbs() { bc -l <<<"$BYTES / 1000000 / $1"; }
row() { # name skopeo-times ours-times
    local name=$1 sk=$2 ours=$3
    printf '%-8s skopeo %7.1f MB/s (median %.3f s, best %.3f s)   ours %7.1f MB/s (median %.3f s, best %.3f s)   ours/skopeo %.2fx\n' \
        "$name" "$(mbs "$(median $sk)")" "$(median $sk)" "$(best $sk)" \
        "$(mbs "$(median $ours)")" "$(median $ours)" "$(best $ours)" \
        "$(bc -l <<<"$(median $sk) / $(median $ours)")"
}
echo
echo "runs: $RUNS, interleaved; throughput from the medians"
row push "${SK_PUSH[*]}" "${OUR_PUSH[*]}"
row pull "${SK_PULL[*]}" "${OUR_PULL[*]}"
printf '%-8s skopeo %7.1f ms, %d requests   ours %7.1f ms, %d requests   skopeo/ours %.2fx\n' re-push \
    "$(bc -l <<<"$(median "${SK_RE[@]}") * 1000")" "$SK_REQ" \
    "$(bc -l <<<"$(median "${OUR_RE[@]}") * 1000")" "$OUR_REQ" \
    "$(bc -l <<<"$(median "${SK_RE[@]}") / $(median "${OUR_RE[@]}")")"

# --- peak memory ------------------------------------------------------------------------------
# peak_kb CMD...: the peak RSS of CMD in KiB.
peak_kb() {
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/last.err"
        tail -1 "$WORK/rss"
    else
        "$@" >/dev/null 2>"$WORK/last.err" &
        local pid=$! peak=0 v
        while kill -0 "$pid" 2>/dev/null; do
            v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
            [[ -n $v ]] && peak=$v
            sleep 0.02
        done
        wait "$pid"
        echo "$peak"
    fi
}
echo
for img in small img; do
    mb=$([[ $img == small ]] && echo "$SMALL" || echo "$SIZE")
    push_kb=$(peak_kb "$COPY" "oci:$WORK/$img:v1" "docker://$HOST/mem/$img:v1")
    rm -rf "$WORK/pull-mem"
    pull_kb=$(peak_kb "$COPY" "docker://$HOST/mem/$img:v1" "oci:$WORK/pull-mem:v1")
    rm -rf "$WORK/pull-mem"
    printf 'peak RSS, %4d MB layers: push %6.1f MiB, pull %6.1f MiB\n' "$mb" \
        "$(bc -l <<<"$push_kb/1024")" "$(bc -l <<<"$pull_kb/1024")"
done
