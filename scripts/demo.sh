#!/usr/bin/env bash
# `make demo`: start the local Cohere emulator and an example connector endpoint on loopback,
# then run validate -> plan -> apply -> plan against connectors/, and stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."

ENDPOINT_PORT=8766   # the example connectors in connectors/ point at this port
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

wait_for() {  # wait_for URL: poll until something answers on that port
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); socket.create_connection((p.hostname,p.port),0.2).close()" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "demo: nothing is listening on $1" >&2
  return 1
}

# One demo token for both service-auth connectors; the endpoint checks it on every query.
export DEMO_CONNECTOR_TOKEN="demo-token-$RANDOM$RANDOM"
export DOCS_CONNECTOR_TOKEN="$DEMO_CONNECTOR_TOKEN"
export TICKETS_CONNECTOR_TOKEN="$DEMO_CONNECTOR_TOKEN"
export TEAM_DRIVE_CLIENT_SECRET="demo-client-secret-$RANDOM"
export CONN_RECONCILE_FINGERPRINT_KEY="demo-fingerprint-key-$RANDOM"
export CO_API_URL="http://127.0.0.1:8765"   # the emulator's default port (conn-reconcile emulator --help)
export CO_API_KEY="demo-api-key"
STATE="$WORK/state.json"

python -m conn_reconcile.emulator.endpoint --port "$ENDPOINT_PORT" --auth-type bearer --token-env DEMO_CONNECTOR_TOKEN &
PIDS+=($!)
conn-reconcile emulator --api-key "$CO_API_KEY" &
PIDS+=($!)
wait_for "http://127.0.0.1:$ENDPOINT_PORT"
wait_for "$CO_API_URL"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step conn-reconcile validate connectors
step conn-reconcile --state "$STATE" plan --dir connectors || true
step conn-reconcile --state "$STATE" apply --dir connectors --auto-approve
set +e
step conn-reconcile --state "$STATE" plan --dir connectors --detailed-exitcode
code=$?
set -e
if [ "$code" -ne 0 ]; then
  echo "demo: the second plan was not clean (exit $code)" >&2
  exit 1
fi
printf '\nDemo complete: the org converged (second plan: no changes).\n'
