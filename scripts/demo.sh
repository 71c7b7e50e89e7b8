#!/usr/bin/env bash
# `make run`: starts a local monitor-agent (this machine's real /proc, GPU auto) and the
# aggregator with a demo config and SQLite database under build/demo/, prints the dashboard
# URL and the admin token, and stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DEMO="$BUILD/demo"
AGENT_PORT=${AGENT_PORT:-9109}
WEB_PORT=${WEB_PORT:-8080}
mkdir -p "$DEMO/data"

# Tokens are generated once and kept, so a restarted demo keeps its database and sessions.
new_token() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
[ -s "$DEMO/agent.token" ] || new_token > "$DEMO/agent.token"
[ -s "$DEMO/admin.token" ] || new_token > "$DEMO/admin.token"
chmod 600 "$DEMO/agent.token" "$DEMO/admin.token"

cat > "$DEMO/agent.yaml" <<YAML
# Demo agent: this machine's /proc, GPUs if an NVIDIA driver is present.
node_id: "$(hostname -s 2>/dev/null || echo localhost)"
listen: "127.0.0.1:$AGENT_PORT"
token_file: "$PWD/$DEMO/agent.token"
disks: ["/"]
services_allowlist: ["*.service"]
gpu: auto
YAML

cat > "$DEMO/aggregator.yaml" <<YAML
# Demo aggregator: loopback only, database under build/demo/data.
listen: "127.0.0.1:$WEB_PORT"
database: "data/monitor.db"
admin_token_file: "admin.token"
web_root: "$PWD/$BUILD/web"
poll: { interval: 5s, timeout: 2s, max_response_bytes: 1048576 }
history: { retention_days: 30, bucket: 1h, checkpoint: 60s }
servers:
  - { name: "$(hostname -s 2>/dev/null || echo localhost)", host: 127.0.0.1, agent_port: $AGENT_PORT, token_file: "agent.token", services: [], enabled: true }
YAML

"$BUILD/bin/monitor-agent" --config "$DEMO/agent.yaml" &
AGENT_PID=$!
"$BUILD/bin/monitor-aggregator" --config "$DEMO/aggregator.yaml" &
AGG_PID=$!
cleanup() {
  trap - INT TERM EXIT
  kill -TERM "$AGENT_PID" "$AGG_PID" 2>/dev/null || true
  wait "$AGENT_PID" "$AGG_PID" 2>/dev/null || true
  echo "demo stopped"
}
trap cleanup INT TERM EXIT

up=no
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$WEB_PORT/api/health" >/dev/null 2>&1; then up=yes; break; fi
  kill -0 "$AGG_PID" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" != yes ]; then
  echo "demo: the aggregator did not start (see its message above)" >&2
  exit 1
fi
echo
echo "  Dashboard:   http://127.0.0.1:$WEB_PORT/"
echo "  Admin token: $(cat "$DEMO/admin.token")   (asked for when you add, edit or delete servers)"
echo "  Agent:       http://127.0.0.1:$AGENT_PORT/v1/health"
echo "  Press Ctrl-C to stop."
echo
wait -n "$AGENT_PID" "$AGG_PID" || true
