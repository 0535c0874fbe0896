#!/usr/bin/env bash
# `make demo-swarm` / `make demo-swarm-down` (README "Several hosts"): the demo stack on a
# single-node Docker Swarm. `up` makes the engine a swarm manager only when it is in no swarm
# (and notes that it did, in .titan-deploy/demo-swarm-created); `down` removes the stack, its
# secret objects and its volumes, and leaves the swarm only when `up` created it: the engine ends
# as it was found.
set -euo pipefail
TD=${TD:-.venv/bin/titan-deploy}
PROJECT=titan-demo-swarm
MARK=.titan-deploy/demo-swarm-created
ARGS=(-f docker-compose.prod.yml -f demo/docker-compose.demo.yml -f demo/docker-compose.swarm.yml
      -p "$PROJECT" --swarm)

case "${1:-}" in
up)
  state=$(docker info --format '{{.Swarm.LocalNodeState}}')
  if [ "$state" = inactive ]; then
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    mkdir -p .titan-deploy && touch "$MARK"
    echo "demo-swarm: created a single-node swarm (make demo-swarm-down leaves it)" >&2
  elif [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != true ]; then
    echo "demo-swarm: the engine is in a swarm but not a manager: run it on a manager" >&2
    exit 3
  fi
  "$TD" init
  .venv/bin/python demo/gen_exchange_keys.py secrets --registry .titan-deploy/demo
  "$TD" check-secrets --fix
  "$TD" "${ARGS[@]}" up --timeout 300
  "$TD" "${ARGS[@]}" verify
  "$TD" "${ARGS[@]}" status
  "$TD" "${ARGS[@]}" audit-logs
  ;;
down)
  if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ]; then
    "$TD" "${ARGS[@]}" down
    # `docker stack rm` keeps volumes: the demo's data goes once its containers are gone
    for _ in $(seq 60); do
      [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$PROJECT")" ] && break
      sleep 1
    done
    docker volume ls -q --filter "label=com.docker.stack.namespace=$PROJECT" | xargs -r docker volume rm >/dev/null
  fi
  rm -f .titan-deploy/state.json
  if [ -f "$MARK" ]; then
    docker swarm leave --force >/dev/null
    rm -f "$MARK"
    echo "demo-swarm: left the swarm demo-swarm created (swarm inactive again)" >&2
  fi
  "$TD" render
  ;;
*)
  echo "usage: $0 up|down" >&2
  exit 2
  ;;
esac
