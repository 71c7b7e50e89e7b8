#!/usr/bin/env bash
# `make run`: starts a local monitor-agent (this machine's real /proc, GPU auto), simulated GPU
# servers (sim-fleet: sim-gpu-01.., simulated load, GPU jobs and processes, a lost GPU, a
# failing unit and a server that goes down and comes back) and the aggregator with a demo
# config and SQLite database under build/demo/, prints the dashboard URL and the admin token,
# and stops everything on Ctrl-C.
# Environment: BUILD (default build), DEMO (default $BUILD/demo), AGENT_PORT (9109), WEB_PORT
# (8080), SIM=0 (no simulated servers; removes those of earlier runs from the database),
# SIM_SERVERS (1-8, default 4), SIM_PORT (first simulated server's port, default 9201),
# DATABASE: the aggregator's database (the one config line that changes): unset, a SQLite file
# under $DEMO/data; a postgresql:// URI, that database; "postgresql", a local PostgreSQL 15
# server (Debian's postgresql-15, make deps) kept under $DEMO/pg between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DEMO=${DEMO:-$BUILD/demo}
AGENT_PORT=${AGENT_PORT:-9109}
WEB_PORT=${WEB_PORT:-8080}
SIM=${SIM:-1}
SIM_SERVERS=${SIM_SERVERS:-4}
SIM_PORT=${SIM_PORT:-9201}
mkdir -p "$DEMO/data"
DEMO_ABS=$(cd "$DEMO" && pwd)
BUILD_ABS=$(cd "$BUILD" && pwd)
DATABASE=${DATABASE:-data/monitor.db}
PG_STARTED=no
if [ "$DATABASE" = postgresql ]; then
  DATABASE=$(/usr/bin/python3 tests/integration/pgserver.py start "$DEMO_ABS/pg" --keep --db lanmon)
  PG_STARTED=yes
fi

# Tokens are generated once and kept, so a restarted demo keeps its database and sessions.
new_token() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
[ -s "$DEMO/agent.token" ] || new_token > "$DEMO/agent.token"
[ -s "$DEMO/admin.token" ] || new_token > "$DEMO/admin.token"
chmod 600 "$DEMO/agent.token" "$DEMO/admin.token"
# The local agent serves HTTPS with a key made once (as the packages do); the aggregator pins it
# at its first poll.
if [ ! -s "$DEMO/tls/agent.key" ] || [ ! -s "$DEMO/tls/agent.crt" ]; then
  mkdir -p "$DEMO/tls"
  "$BUILD/bin/monitor-agent" --gen-cert --cert "$DEMO/tls/agent.crt" --key "$DEMO/tls/agent.key" \
    --name "127.0.0.1,localhost" --force >/dev/null
fi

cat > "$DEMO/agent.yaml" <<YAML
# Demo agent: this machine's /proc, GPUs if an NVIDIA driver is present.
node_id: "$(hostname -s 2>/dev/null || echo localhost)"
listen: "127.0.0.1:$AGENT_PORT"
token_file: "$DEMO_ABS/agent.token"
disks: ["/"]
services_allowlist: ["*.service"]
gpu: auto
tls: { cert_file: "$DEMO_ABS/tls/agent.crt", key_file: "$DEMO_ABS/tls/agent.key" }
YAML

cat > "$DEMO/aggregator.yaml" <<YAML
# Demo aggregator: loopback only, database under $DEMO/data (or DATABASE=). The simulated
# servers are added (and with SIM=0 removed) through the admin API by scripts/demo-sim.py.
listen: "127.0.0.1:$WEB_PORT"
database: "$DATABASE"
admin_token_file: "admin.token"
web_root: "$BUILD_ABS/web"
poll: { interval: 5s, timeout: 2s, max_response_bytes: 1048576 }
history: { retention_days: 30, bucket: 1h, checkpoint: 60s }
servers:
  - { name: "$(hostname -s 2>/dev/null || echo localhost)", host: 127.0.0.1, agent_port: $AGENT_PORT, token_file: "agent.token", services: [], enabled: true, tls: true }
YAML

PIDS=()
cleanup() {
  trap - INT TERM EXIT
  kill -TERM "${PIDS[@]}" 2>/dev/null || true
  wait "${PIDS[@]}" 2>/dev/null || true
  if [ "$PG_STARTED" = yes ]; then
    /usr/bin/python3 tests/integration/pgserver.py stop "$DEMO_ABS/pg" --keep
  fi
  echo "demo stopped"
}
trap cleanup INT TERM EXIT

"$BUILD/bin/monitor-agent" --config "$DEMO/agent.yaml" &
PIDS+=($!)
if [ "$SIM" != 0 ]; then
  "$BUILD/bin/sim-fleet" --base-port "$SIM_PORT" --servers "$SIM_SERVERS" \
    --token-file "$DEMO/agent.token" 2>"$DEMO/sim-fleet.log" &
  SIM_PID=$!
  PIDS+=("$SIM_PID")
fi
"$BUILD/bin/monitor-aggregator" --config "$DEMO/aggregator.yaml" &
AGG_PID=$!
PIDS+=("$AGG_PID")

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
# A demo database from before TLS has the local agent with tls off: turn it on.
scripts/demo-sim.py "http://127.0.0.1:$WEB_PORT" "$DEMO/admin.token" "$DEMO/agent.token" \
  tls-local < /dev/null
if [ "$SIM" != 0 ]; then
  last_port=$((SIM_PORT + SIM_SERVERS - 1))
  for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$last_port/v1/health" >/dev/null 2>&1 && break
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! curl -fsS "http://127.0.0.1:$last_port/v1/health" >/dev/null 2>&1; then
    cat "$DEMO/sim-fleet.log" >&2
    echo "demo: the simulated servers did not start; choose other ports with" \
      "SIM_PORT=<port> or run without them: make run SIM=0" >&2
    exit 1
  fi
  "$BUILD/bin/sim-fleet" --base-port "$SIM_PORT" --servers "$SIM_SERVERS" --print-servers |
    scripts/demo-sim.py "http://127.0.0.1:$WEB_PORT" "$DEMO/admin.token" "$DEMO/agent.token" sync
else
  scripts/demo-sim.py "http://127.0.0.1:$WEB_PORT" "$DEMO/admin.token" "$DEMO/agent.token" \
    remove < /dev/null
fi
echo
echo "  Dashboard:   http://127.0.0.1:$WEB_PORT/"
echo "  Admin token: $(cat "$DEMO/admin.token")   (asked for when you add, edit or delete servers)"
echo "  Agent:       https://127.0.0.1:$AGENT_PORT/v1/health   (this machine; TLS key pin"
echo "               $("$BUILD/bin/monitor-agent" --print-pin --cert "$DEMO/tls/agent.crt"))"
echo "  Database:    $(printf '%s' "$DATABASE" | sed -E 's#(://[^:/@]*):[^@/]*@#\1@#')"
if [ "$SIM" != 0 ]; then
  last=$(printf 'sim-gpu-%02d' "$SIM_SERVERS")
  echo "  Simulated:   sim-gpu-01 .. $last on 127.0.0.1:$SIM_PORT.. -- NOT real machines: made-up"
  echo "               GPU jobs, users and load. sim-gpu-03 goes down for 40 s every 5 minutes;"
  echo "               in every 10 minutes sim-gpu-04 loses a GPU (minutes 3-5) and"
  echo "               sim-gpu-02's jupyterhub.service fails (minutes 6-8)."
  echo "               Turn the simulation off with:  make run SIM=0"
fi
echo "  Press Ctrl-C to stop."
echo
wait -n "${PIDS[@]}" || true
