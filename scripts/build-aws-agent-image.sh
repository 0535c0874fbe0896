#!/usr/bin/env bash
# Build the image of titan-deploy's AWS Secrets Manager renderer (the agent path's sidecar for
# `backend: {type: aws-secretsmanager, agent: ...}`; README "Secrets managers"):
# scripts/aws-agent/{Dockerfile,render.py} FROM the local titan-demo/base:bookworm, plus
# Debian's python3-boto3 (apt inside the build: needs a Debian mirror).
#
#   scripts/build-aws-agent-image.sh [TAG]      default TAG: titan-deploy/aws-agent:local
#
# Cached like scripts/build-demo-images.sh: the image carries a label with the hash of its
# inputs (the two files and the base image's id) and is not rebuilt while that matches.
# TITAN_DEMO_REBUILD=1 ignores the cache. Prints the tag on stdout; progress on stderr.
set -euo pipefail

cd "$(dirname "$0")/aws-agent"
TAG=${1:-titan-deploy/aws-agent:local}
BASE=titan-demo/base:bookworm
HASH_LABEL=org.titan-deploy.aws-agent.inputs-sha256
export DOCKER_BUILDKIT=0 # the legacy builder never tries to resolve a local FROM in a registry

base_id=$(docker image inspect -f '{{.Id}}' "$BASE" 2>/dev/null) ||
  { echo "build-aws-agent-image: no image $BASE (make demo-images)" >&2; exit 1; }
key=$({ echo "$base_id"; sha256sum Dockerfile render.py; } | sha256sum | cut -c1-64)
have=$(docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$TAG" 2>/dev/null || true)
if [ "${TITAN_DEMO_REBUILD:-0}" != 1 ] && [ "$have" = "$key" ]; then
  echo "build-aws-agent-image: $TAG is up to date" >&2
  echo "$TAG"
  exit 0
fi
echo "build-aws-agent-image: docker build $TAG" >&2
if ! out=$(docker build -q --pull=false --label "$HASH_LABEL=$key" -t "$TAG" . 2>&1); then
  printf '%s\n' "$out" | tail -20 >&2
  echo "build-aws-agent-image: docker build $TAG failed" >&2
  exit 1
fi
echo "$TAG"
