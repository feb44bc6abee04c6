#!/usr/bin/env bash
# Build the CPU image and run it, for real, on a machine that has no Docker engine running and cannot pull base
# images (CI's): install Debian's docker.io and debootstrap where missing, start dockerd, build a Debian bookworm
# base with debootstrap (with this machine's CA bundle in it, which the container needs to reach the package
# index through this network) and `docker import` it, build docker/Dockerfile on it, run `gpubp train --epochs 1`
# and `gpubp info` in the container, check what they print, that the run's files belong to the image's non-root
# user and that a new named volume on its cache folder does too (as compose.yaml mounts one), then stop the engine
# this script started. The base image is kept between runs (it is rebuilt when the CA bundle changes); the gpubp
# image and the volume are removed. Prints how long it took. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
base=gpubp-ci-base:bookworm
image=gpubp:ci
volume=gpubp-ci-cache-$$
ca=/etc/ssl/certs/ca-certificates.crt
work=$(mktemp -d)
engine_pid=

log() { echo "docker/ci.sh: $*"; }

cleanup() {
  docker volume rm -f "$volume" >/dev/null 2>&1 || true
  docker image rm -f "$image" >/dev/null 2>&1 || true
  if [ -n "$engine_pid" ]; then
    kill "$engine_pid" 2>/dev/null || true
    wait "$engine_pid" 2>/dev/null || true
    log "stopped the Docker engine it started"
  fi
  rm -rf "$work"
  log "took $(( $(date +%s) - started )) s"
}
trap cleanup EXIT

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing docker.io and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  dockerd >"$work/dockerd.log" 2>&1 &
  engine_pid=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { cat "$work/dockerd.log"; log "the Docker engine did not start"; exit 1; }
  log "started the Docker engine"
fi

ca_hash=$(sha256sum "$ca" | cut -c1-16)
if [ "$(docker image inspect -f '{{ index .Config.Labels "ca" }}' "$base" 2>/dev/null)" != "$ca_hash" ]; then
  log "building the Debian bookworm base image with debootstrap"
  root="$work/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$root" \
    >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
  cp "$ca" "$root$ca"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change "LABEL ca=$ca_hash" --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
else
  log "reusing the base image $base"
fi

log "building docker/Dockerfile on $base"
docker build -q -f docker/Dockerfile --build-arg "BASE_IMAGE=$base" -t "$image" . >/dev/null

mkdir -m 0777 "$work/runs"
docker run --rm -v "$work/runs:/home/gpubp/runs" "$image" train --epochs 1 --out runs/ci >"$work/train.txt" 2>&1 \
  || { cat "$work/train.txt"; log "gpubp train failed in the container"; exit 1; }
docker run --rm "$image" info >"$work/info.txt" 2>&1 || { cat "$work/info.txt"; log "gpubp info failed"; exit 1; }
cat "$work/train.txt" "$work/info.txt"

grep -q '^device: cpu' "$work/train.txt"
grep -q '^epoch   1/1  cost' "$work/train.txt"
grep -q '^done: test accuracy' "$work/train.txt"
grep -q '^GPU usable: no' "$work/info.txt"
owner=$(stat -c %u "$work/runs/ci/model.npz")
[ "$owner" = 10001 ] || { log "the model belongs to uid $owner, not the image's user 10001"; exit 1; }
cache_owner=$(docker run --rm -v "$volume:/home/gpubp/.cache" --entrypoint stat "$image" -c %u /home/gpubp/.cache/cupy)
[ "$cache_owner" = 10001 ] || { log "a new volume on the cache belongs to uid $cache_owner, not 10001"; exit 1; }
log "ok: the image trains and reports, as uid $owner, with a cache volume it owns"
