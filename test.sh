#!/usr/bin/env bash
# The tests, as a newcomer runs them on a fresh machine: installs what they need, then runs them.
#
# The tests use real parts, not mocks: namespaces and overlayfs (so they want root), a busybox
# root file system from Debian's busybox-static, a Distribution registry (docker-registry)
# started on 127.0.0.1, and the peer tools they compare with (skopeo, umoci, crun, runc, podman,
# buildah, oci-image-tool). As root with apt-get, the missing ones are installed first.
# Arguments go to `cargo test` (e.g. `./test.sh -p boxwright-runtime`).
set -euo pipefail
cd "$(dirname "$0")"

# Debian package -> a file it installs.
packages=(
    busybox-static:/bin/busybox skopeo:/usr/bin/skopeo umoci:/usr/bin/umoci
    podman:/usr/bin/podman oci-image-tool:/usr/bin/oci-image-tool zstd:/usr/bin/zstd
    crun:/usr/bin/crun runc:/usr/sbin/runc buildah:/usr/bin/buildah
    docker-registry:/usr/bin/docker-registry uidmap:/usr/bin/newuidmap
    slirp4netns:/usr/bin/slirp4netns docker.io:/usr/sbin/dockerd
)
missing=()
for entry in "${packages[@]}"; do
    [ -e "${entry#*:}" ] || missing+=("${entry%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "test.sh: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) or run as root" >&2
        exit 1
    fi
fi
# Debian's udev rules make /dev/net/tun 0666; some sandboxes keep it root's only. The rootless
# tests run slirp4netns as nobody, which opens it.
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ]; then chmod 0666 /dev/net/tun; fi

exec cargo test --locked --workspace --all-features "$@"
