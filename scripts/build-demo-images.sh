#!/usr/bin/env bash
# Build the local images of the demo stack (demo/README.md). Nothing is pulled: there is no
# registry. The base is a Debian bookworm rootfs made by debootstrap and `docker import`ed; the
# other images are `docker build`s FROM that local tag.
#
#   titan-demo/base:bookworm     python3 + psycopg2, busybox (wget), PostgreSQL 15, redis-server,
#                                nats-server (Debian's: the demo's nats runs the real server)
#   titan-demo/standin:latest    base + demo/standin (every Titan service, nats, grafana, exchange)
#   titan-demo/postgres:latest   base + an entrypoint that behaves like the official postgres image
#
# Idempotent and fast when cached: each image carries a label with the hash of its inputs
# (package list and recipe for the base; source files and base image id for the others) and is
# skipped when an image with that tag and label already exists. Progress goes to stderr.
# Environment: TITAN_DEMO_MIRROR (Debian mirror; default: the one apt is configured with),
# TITAN_DEMO_REBUILD=1 (ignore the caches).
set -euo pipefail

cd "$(dirname "$0")/.."

SUITE=bookworm
# One debootstrap for everything the stand-ins need. postgresql-15 (not the "postgresql"
# metapackage) pins the major version the postgres entrypoint uses.
PACKAGES=python3-minimal,python3-psycopg2,busybox,postgresql-15,redis-server,nats-server
# Bump when the rootfs customisation below changes (it is part of the cache key).
BASE_RECIPE=5

BASE_TAG=titan-demo/base:bookworm
STANDIN_TAG=titan-demo/standin:latest
POSTGRES_TAG=titan-demo/postgres:latest
DEMO_LABEL=org.titan-deploy.demo
HASH_LABEL=org.titan-deploy.demo.inputs-sha256

export DOCKER_BUILDKIT=0 # the legacy builder never tries to resolve a local FROM in a registry

START=$(date +%s)
log() { printf 'build-demo-images: [%3ss] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

image_label() { # TAG LABEL -> the label's value, empty when the image or the label is missing
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

ensure_engine() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if [ -x scripts/engine.sh ] || [ -f scripts/engine.sh ]; then
    log "Docker engine does not answer: running scripts/engine.sh"
    bash scripts/engine.sh
  else
    die "Docker engine does not answer (docker info failed)"
  fi
}

ensure_host_tools() {
  local missing=()
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${missing[*]}"
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The Debian mirror apt is configured with (deb822 .sources or one-line .list files).
detect_mirror() {
  if [ -n "${TITAN_DEMO_MIRROR:-}" ]; then
    printf '%s\n' "$TITAN_DEMO_MIRROR"
    return 0
  fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # a stanza whose Suites include "$SUITE" itself (not only -security/-updates)
    uri=$(awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
        }
        if (ok && uris != "") { print uris; exit }
      }' "$f")
    if [ -n "$uri" ]; then
      printf '%s\n' "$uri"
      return 0
    fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$SUITE" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; exit }
      }' "$f")
    if [ -n "$uri" ]; then
      printf '%s\n' "$uri"
      return 0
    fi
  done
  printf '%s\n' http://deb.debian.org/debian
}

build_base() {
  local key
  key=$(printf 'suite=%s\npackages=%s\nrecipe=%s\n' "$SUITE" "$PACKAGES" "$BASE_RECIPE" | sha256sum | cut -c1-64)
  if [ "${TITAN_DEMO_REBUILD:-0}" != 1 ] && [ "$(image_label "$BASE_TAG" "$HASH_LABEL")" = "$key" ]; then
    log "$BASE_TAG is up to date (inputs ${key:0:12}); skipping debootstrap"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
  ensure_host_tools
  local mirror root
  mirror=$(detect_mirror)
  root=$(mktemp -d /var/tmp/titan-demo-rootfs.XXXXXX)
  # shellcheck disable=SC2064 # expand $root now
  trap "rm -rf '$root'" EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror (about a minute) ..."
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mirror" \
    >"$root.log" 2>&1; then
    tail -30 "$root.log" >&2
    rm -f "$root.log"
    die "debootstrap failed (last lines above)"
  fi
  rm -f "$root.log"
  log "debootstrap done; customising the rootfs"
  # Users: grafana runs as uid 472 (prod `user: "472"`), the Titan stand-ins as 1000:1000.
  chroot "$root" groupadd -g 472 grafana
  chroot "$root" useradd -r -u 472 -g 472 -M -d /var/lib/grafana -s /usr/sbin/nologin grafana
  chroot "$root" groupadd -g 1000 titan
  chroot "$root" useradd -u 1000 -g 1000 -M -d /nonexistent -s /usr/sbin/nologin titan
  # The prod healthchecks run `wget -q -O /dev/null URL`: busybox's wget answers them.
  ln -sf /usr/bin/busybox "$root/usr/local/bin/wget"
  # The cluster postgresql-15's postinst created: the demo image initialises its own PGDATA.
  rm -rf "$root/var/lib/postgresql/15" "$root/etc/postgresql/15"
  # Size: the .debs, apt lists, docs, translations, and LLVM (only PostgreSQL's JIT uses it; the
  # entrypoint sets jit=off).
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/usr/lib/x86_64-linux-gnu/libLLVM-* \
    "$root"/usr/lib/postgresql/15/lib/llvmjit* "$root"/usr/lib/postgresql/15/lib/bitcode
  rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
  log "importing the rootfs as $BASE_TAG ($(du -sh "$root" | cut -f1))"
  tar -C "$root" --numeric-owner -c . | docker import \
    --change "LABEL $DEMO_LABEL=1" \
    --change "LABEL $HASH_LABEL=$key" \
    --change "LABEL org.titan-deploy.demo.packages=$PACKAGES" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$BASE_TAG" >/dev/null
  docker tag "$BASE_TAG" "titan-demo/base:bookworm-${key:0:12}"
  # Untag the bases of older recipes (our own tags only; an image still in use stays).
  local old
  for old in $(docker images --format '{{.Repository}}:{{.Tag}}' titan-demo/base); do
    case $old in
      "$BASE_TAG" | "titan-demo/base:bookworm-${key:0:12}") ;;
      titan-demo/base:bookworm-*) docker rmi "$old" >/dev/null 2>&1 || true ;;
    esac
  done
  rm -rf "$root"
  trap - EXIT
  log "built $BASE_TAG (also tagged titan-demo/base:bookworm-${key:0:12})"
}

# build TAG DOCKERFILE CONTEXT FILE...: docker build unless an image with the same inputs exists.
build_derived() {
  local tag=$1 dockerfile=$2 context=$3
  shift 3
  local base_id key
  base_id=$(docker image inspect -f '{{.Id}}' "$BASE_TAG")
  key=$({
    printf 'base=%s\n' "$base_id"
    (cd "$context" && sha256sum "$dockerfile" "$@")
  } | sha256sum | cut -c1-64)
  if [ "${TITAN_DEMO_REBUILD:-0}" != 1 ] && [ "$(image_label "$tag" "$HASH_LABEL")" = "$key" ]; then
    log "$tag is up to date (inputs ${key:0:12})"
    return 0
  fi
  log "docker build $tag"
  local out
  if ! out=$(docker build -q --pull=false -f "$context/$dockerfile" \
    --label "$DEMO_LABEL=1" --label "$HASH_LABEL=$key" -t "$tag" "$context" 2>&1); then
    printf '%s\n' "$out" >&2
    die "docker build $tag failed"
  fi
  log "built $tag"
}

ensure_engine
build_base
# shellcheck disable=SC2046 # file names have no spaces
build_derived "$STANDIN_TAG" images/standin.Dockerfile demo \
  $(cd demo && find standin -name '*.py' | LC_ALL=C sort)
build_derived "$POSTGRES_TAG" images/postgres.Dockerfile demo images/postgres-entrypoint.py
log "done: $BASE_TAG $STANDIN_TAG $POSTGRES_TAG"
