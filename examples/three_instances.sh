#!/usr/bin/env bash
# Three sessionful instances behind nginx on one Postgres, on this machine, without compose.
#
#     examples/three_instances.sh            # Ctrl-C stops everything
#     DATABASE_URL=postgresql://... examples/three_instances.sh
#     examples/three_instances.sh --smoke    # start, run one turn through nginx, stop
#
# Postgres: $DATABASE_URL if set; otherwise a throwaway server from scripts/with-postgres.sh
# (it needs PostgreSQL's binaries: apt-get install postgresql), removed when this script ends.
# Instances: `sessionful serve` on 127.0.0.1:8001, 8002 and 8003, one shared configuration
# (strategy persisted, the store on Postgres, the stub agent `echo`, one API key).
# Load balancer: nginx (apt-get install nginx-light) on 127.0.0.1:8000 with deploy/nginx.conf.
# BASE_PORT=9000 moves all four ports (9000, 9001-9003). Logs and files: in a temporary folder,
# printed at the start, removed at the end. docs/deployment.md explains the setup.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1

if [ -z "${DATABASE_URL:-}" ]; then
    if [ -z "${SESSIONFUL_TEST_POSTGRES_DSN:-}" ]; then
        # Rerun this script beside a throwaway Postgres.
        exec bash "$ROOT/scripts/with-postgres.sh" bash "${BASH_SOURCE[0]}" "$@"
    fi
    DATABASE_URL="$SESSIONFUL_TEST_POSTGRES_DSN"
fi

NGINX="$(command -v nginx || command -v /usr/sbin/nginx || true)"
if [ -z "$NGINX" ]; then
    echo "three_instances: nginx is not installed (Debian: apt-get install nginx-light)" >&2
    exit 1
fi
SERVE="$ROOT/.venv/bin/sessionful"
[ -x "$SERVE" ] || SERVE="$(command -v sessionful)"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"

BASE="${BASE_PORT:-8000}"
KEY="demo-key-0123456789abcdef"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/three-instances.XXXXXX")"
PIDS=()

cleanup() {
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$WORK/sessionful.toml" <<EOF
strategy = "persisted"
store = "$DATABASE_URL"

[[agents]]
id = "echo"
framework = "stub"
template_id = "echo"

[auth.api_keys]
"$KEY" = "demo"

[server]
host = "127.0.0.1"
EOF

for i in 1 2 3; do
    port=$((BASE + i))
    SESSIONFUL_SERVER__PORT="$port" "$SERVE" --config "$WORK/sessionful.toml" serve \
        >"$WORK/instance-$i.log" 2>&1 &
    PIDS+=("$!")
done

# deploy/nginx.conf with this run's ports; its files (pid, logs, temporary) in $WORK/nginx.
mkdir -p "$WORK/nginx"
sed -e "s/127\.0\.0\.1:8000;/127.0.0.1:$BASE;/" \
    -e "s/127\.0\.0\.1:8001 /127.0.0.1:$((BASE + 1)) /" \
    -e "s/127\.0\.0\.1:8002 /127.0.0.1:$((BASE + 2)) /" \
    -e "s/127\.0\.0\.1:8003 /127.0.0.1:$((BASE + 3)) /" \
    "$ROOT/deploy/nginx.conf" >"$WORK/nginx/nginx.conf"

wait_healthy() {
    for _ in $(seq 1 300); do
        if "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
            "http://127.0.0.1:$1/healthz" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "three_instances: nothing healthy on port $1; logs in $WORK" >&2
    tail -n 20 "$WORK"/instance-*.log >&2
    return 1
}
for i in 1 2 3; do
    wait_healthy $((BASE + i))
done

"$NGINX" -p "$WORK/nginx/" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" \
    -g 'daemon off;' >"$WORK/nginx/stderr.log" 2>&1 &
PIDS+=("$!")
wait_healthy "$BASE"

URL="http://127.0.0.1:$BASE"
echo "three instances on 127.0.0.1:$((BASE + 1))-$((BASE + 3)), nginx on $URL, Postgres at ${DATABASE_URL%%\?*}"
echo "files and logs: $WORK"

if [ "$SMOKE" = 1 ]; then
    "$PY" - "$URL" "$KEY" <<'EOF'
import sys

import httpx

url, key = sys.argv[1], sys.argv[2]
with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
    created = c.post("/v1/agents/echo/sessions", json={})
    created.raise_for_status()
    sid = created.json()["session_id"]
    for text in ("Hello", "Still there?"):
        turn = c.post(
            f"/v1/agents/echo/sessions/{sid}/messages",
            json={"messages": [{"role": "user", "content": text}]},
        )
        turn.raise_for_status()
        served_by = turn.headers.get("x-upstream")
        print(f"{turn.json()['messages'][-1]['content']}  (served by {served_by})")
EOF
    exit 0
fi

cat <<EOF

Talk to it through nginx:

  curl -s -X POST $URL/v1/agents/echo/sessions -H 'Authorization: Bearer $KEY'
  curl -si -X POST $URL/v1/agents/echo/sessions/SESSION_ID/messages \\
      -H 'Authorization: Bearer $KEY' -H 'Content-Type: application/json' \\
      -d '{"messages": [{"role": "user", "content": "Hello"}]}'

The X-Upstream header names the instance that answered; the same session keeps landing there.
Try \`kill -9\` on one instance (pids: ${PIDS[*]:0:3}): its sessions go on on another.
Ctrl-C stops everything.
EOF
wait
