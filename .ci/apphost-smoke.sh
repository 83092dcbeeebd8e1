#!/usr/bin/env bash
# Runs the local runner as a user would (dotnet run --project src/Oms.AppHost), waits for the three services,
# checks the README's four scenarios with curl, checks that each service is connected as its runtime role,
# that the broker the AppHost started (container or local node) receives the scenarios' order events on oms.events,
# that the operator console (port 8000) answers on its pages and shows the happy path's order, and stops the AppHost
# with SIGTERM (as Ctrl-C would; a background job of a script ignores SIGINT).
#   .ci/apphost-smoke.sh [container|local]      (OMS_POSTGRES_MODE, default container)
# Exit 0 only when every check passed. Needs ports 8000-8003, 9002-9003 and 18888-18890 free. In container mode
# the data volumes (PostgreSQL's, and RabbitMQ's when its image is there) are removed afterwards when this run created them.
set -uo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-container}"
TIMEOUT="${APPHOST_SMOKE_TIMEOUT:-300}"
LOG="$(mktemp /tmp/apphost-smoke.XXXXXX)"
VOLUME=oms-postgres15-data
RABBITMQ_VOLUME=oms-rabbitmq-data
ORDER=http://127.0.0.1:8001 INVENTORY=http://127.0.0.1:8002 PAYMENT=http://127.0.0.1:8003 CONSOLE=http://127.0.0.1:8000
T_START=$(date +%s)
say() { printf '[apphost-smoke %4ss] %s\n' "$(( $(date +%s) - T_START ))" "$*"; }

MADE_VOLUME=0 MADE_RABBITMQ_VOLUME=0
if [ "$MODE" = container ] && ! docker volume inspect "$VOLUME" >/dev/null 2>&1; then MADE_VOLUME=1; fi
if [ "$MODE" = container ] && ! docker volume inspect "$RABBITMQ_VOLUME" >/dev/null 2>&1; then MADE_RABBITMQ_VOLUME=1; fi

PID=""
# Aspire's orchestrator (dcp) outlives the AppHost briefly while it removes the container and its network.
DCP_BEFORE="$(pgrep -f '/tools/dcp ' | sort)"
new_dcp() { comm -13 <(echo "$DCP_BEFORE") <(pgrep -f '/tools/dcp ' | sort) | grep . ; }
stop_apphost() {
  [ -n "$PID" ] || return 0
  kill -0 "$PID" 2>/dev/null || { PID=""; return 0; }
  say "stopping the AppHost (SIGTERM to its process group $PID)"
  kill -TERM -- "-$PID" 2>/dev/null
  local deadline=$(( $(date +%s) + 90 ))
  while kill -0 "$PID" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
  if kill -0 "$PID" 2>/dev/null; then say "WARNING: still running after 90 s: SIGKILL"; kill -KILL -- "-$PID" 2>/dev/null; fi
  PID=""
}
cleanup() {
  local rc=$?
  stop_apphost
  local deadline=$(( $(date +%s) + 60 ))
  while [ -n "$(new_dcp)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
  if [ -n "$(new_dcp)" ]; then say "WARNING: dcp still running after 60 s: stopping it"; kill $(new_dcp) 2>/dev/null; fi
  if [ "$rc" -ne 0 ]; then say "failure: last lines of the AppHost's output ($LOG)"; tail -40 "$LOG"; fi
  if [ "$MADE_VOLUME" -eq 1 ]; then
    # Aspire removes its container shortly after the AppHost exits; the volume can go once no container uses it.
    local deadline=$(( $(date +%s) + 60 ))
    while [ -n "$(docker ps -aq --filter volume="$VOLUME")" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
    docker volume rm "$VOLUME" >/dev/null 2>&1 || say "WARNING: could not remove volume $VOLUME"
  fi
  if [ "$MADE_RABBITMQ_VOLUME" -eq 1 ] && docker volume inspect "$RABBITMQ_VOLUME" >/dev/null 2>&1; then
    local deadline=$(( $(date +%s) + 60 ))
    while [ -n "$(docker ps -aq --filter volume="$RABBITMQ_VOLUME")" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
    docker volume rm "$RABBITMQ_VOLUME" >/dev/null 2>&1 || say "WARNING: could not remove volume $RABBITMQ_VOLUME"
  fi
  say "done, exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "dotnet run --project src/Oms.AppHost with OMS_POSTGRES_MODE=$MODE (output: $LOG)"
# Its own process group, so that the stop signal reaches dotnet run and the AppHost.
setsid env OMS_POSTGRES_MODE="$MODE" dotnet run --project src/Oms.AppHost >"$LOG" 2>&1 &
PID=$!

deadline=$(( $(date +%s) + TIMEOUT ))
until curl -fs -o /dev/null --max-time 5 "$ORDER/health/ready" && curl -fs -o /dev/null --max-time 5 "$INVENTORY/health/ready" \
      && curl -fs -o /dev/null --max-time 5 "$PAYMENT/health/ready"; do
  if ! kill -0 "$PID" 2>/dev/null; then wait "$PID"; code=$?; PID=""; say "ERROR: the AppHost exited (code $code) before the services were ready"; exit 1; fi
  [ "$(date +%s)" -lt "$deadline" ] || { say "ERROR: services not ready within ${TIMEOUT}s"; exit 1; }
  sleep 2
done
say "services ready"

PASSED=0 FAILED=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then PASSED=$((PASSED+1)); echo "PASS $1"
  else FAILED=$((FAILED+1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
req() { # req METHOD URL [JSON] -> CODE, BODY, HDRS
  local out; out="$(mktemp)"
  local args=(-sS -X "$1" -D "$out.h" -o "$out" -w '%{http_code}' --max-time 30 "$2")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' -d "$3")
  CODE="$(curl "${args[@]}" || true)"; BODY="$(cat "$out")"; HDRS="$(tr -d '\r' < "$out.h")"; rm -f "$out" "$out.h"
}
field() { python3 -c 'import json,sys
try: v=json.loads(sys.argv[1]).get(sys.argv[2])
except Exception: v="<not json>"
print("" if v is None else v)' "$BODY" "$1"; }

# The broker: the banner's Events line names it, its management URL and where its password is. A queue bound to
# oms.events (the exchange declared as the relay declares it) collects what the scenarios publish.
# (The banner comes once Aspire's own health checks saw the services ready, which can be after ours did.)
deadline=$(( $(date +%s) + 60 ))
until grep -q '^  Events ' "$LOG" || [ "$(date +%s)" -ge "$deadline" ]; do sleep 1; done
EVENTS_LINE="$(grep -m1 '^  Events ' "$LOG" | sed 's/^ *//')"
say "$EVENTS_LINE"
MGMT="$(printf '%s\n' "$EVENTS_LINE" | grep -o 'management http://localhost:[0-9]*' | cut -d' ' -f2)"
check "banner: a broker with its management URL" 1 "$([ -n "$MGMT" ] && echo 1 || echo 0)"
CREDS="$(printf '%s\n' "$EVENTS_LINE" | sed -n 's/.*password in \([^)]*\)).*/\1/p')"
if [ -n "$CREDS" ]; then RMQ_PASSWORD="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["oms"])' "$CREDS")"
else RMQ_PASSWORD="$(dotnet user-secrets list --project src/Oms.AppHost 2>/dev/null | sed -n 's/^Parameters:rabbitmq-password = //p')"; fi
QUEUE="apphost-smoke-$(openssl rand -hex 4)"
mgmt() { curl -sS -u "oms:$RMQ_PASSWORD" -H 'content-type: application/json' --max-time 10 "$@"; }
mgmt -o /dev/null -X PUT "$MGMT/api/exchanges/%2F/oms.events" -d '{"type":"topic","durable":true,"auto_delete":false,"internal":false,"arguments":{}}'
mgmt -o /dev/null -X PUT "$MGMT/api/queues/%2F/$QUEUE" -d '{"durable":false,"auto_delete":false,"arguments":{}}'
mgmt -o /dev/null -X POST "$MGMT/api/bindings/%2F/e/oms.events/q/$QUEUE" -d '{"routing_key":"#","arguments":{}}'
check "management API: queue bound to oms.events" 1 "$(mgmt "$MGMT/api/queues/%2F/$QUEUE/bindings" | python3 -c 'import json,sys; print(sum(b["source"] == "oms.events" for b in json.load(sys.stdin)))' 2>/dev/null)"

SKU="APPHOST-$(openssl rand -hex 4)"
echo "== scenarios (SKU $SKU)"
req POST "$INVENTORY/api/v1/stock/items" "{\"item_sku\":\"$SKU\",\"quantity\":10}"
check "seed stock 10: HTTP 2xx" 2 "${CODE:0:1}"
req POST "$ORDER/api/v1/orders" "{\"item_sku\":\"$SKU\",\"quantity\":2,\"amount\":100,\"idempotency_key\":\"$SKU-1\"}"
check "1 happy path: HTTP" 201 "$CODE"; check "1 happy path: status" CONFIRMED "$(field status)"; ID1="$(field order_id)"
req GET "$INVENTORY/api/v1/stock/$SKU"; check "1 happy path: stock after" 8 "$(field quantity)"
req POST "$ORDER/api/v1/orders" "{\"item_sku\":\"$SKU\",\"quantity\":2,\"amount\":1500,\"idempotency_key\":\"$SKU-2\"}"
check "2 payment declined: status" FAILED "$(field status)"; check "2 payment declined: reason" PAYMENT_DECLINED "$(field failure_reason)"
req GET "$INVENTORY/api/v1/stock/$SKU"; check "2 payment declined: stock released" 8 "$(field quantity)"
req POST "$ORDER/api/v1/orders" "{\"item_sku\":\"$SKU\",\"quantity\":20,\"amount\":100,\"idempotency_key\":\"$SKU-3\"}"
check "3 insufficient stock: status" FAILED "$(field status)"; check "3 insufficient stock: reason" INSUFFICIENT_STOCK "$(field failure_reason)"
req POST "$ORDER/api/v1/orders" "{\"item_sku\":\"$SKU\",\"quantity\":2,\"amount\":100,\"idempotency_key\":\"$SKU-1\"}"
check "4 idempotent replay: HTTP" 200 "$CODE"
check "4 idempotent replay: Idempotent-Replayed" true "$(printf '%s\n' "$HDRS" | sed -n 's/^[Ii]dempotent-[Rr]eplayed: *//p' | head -1)"
check "4 idempotent replay: same order" "$ID1" "$(field order_id)"
req GET "$INVENTORY/api/v1/stock/$SKU"; check "4 idempotent replay: stock unchanged" 8 "$(field quantity)"

if [ "$MODE" = container ]; then
  # Least privilege in the container too: every connection to a service database is that database's runtime role.
  container="$(docker ps -q --filter name=postgres- --filter volume="$VOLUME" | head -1)"
  # (Aspire's container asks for the superuser's password on the socket too; it is in the container's environment.)
  sessions="$(docker exec "$container" sh -c 'PGPASSWORD="$POSTGRES_PASSWORD" exec psql -U postgres -d postgres -Atc "$0"' \
    "SELECT string_agg(DISTINCT datname || ':' || usename, ' ' ORDER BY datname || ':' || usename) FROM pg_stat_activity WHERE datname IN ('orders', 'inventory', 'payments')" 2>&1)"
  check "services connected as their runtime roles" "inventory:inventory orders:orders payments:payments" "$sessions"
fi

# The happy path's order, as CloudEvents on oms.events: created, stock reserved, payment authorized, confirmed.
events_of() { # the types of order $1's events in the queue so far, in sequence order
  mgmt -X POST "$MGMT/api/queues/%2F/$QUEUE/get" -d '{"count":1000,"ackmode":"ack_requeue_true","encoding":"auto"}' | python3 -c '
import json, sys
seen = {}
for m in json.load(sys.stdin):
    e = json.loads(m["payload"])
    if e.get("subject") == sys.argv[1]: seen[int(e["sequence"])] = e["type"]
print(" ".join(seen[k] for k in sorted(seen)))' "$1" 2>/dev/null
}
EXPECTED="order.created order.stock_reserved order.payment_authorized order.confirmed"
deadline=$(( $(date +%s) + 60 ))
until [ "$(events_of "$ID1")" = "$EXPECTED" ] || [ "$(date +%s)" -ge "$deadline" ]; do sleep 1; done
check "events: the happy path's order on oms.events, in sequence" "$EXPECTED" "$(events_of "$ID1")"
mgmt -o /dev/null -X DELETE "$MGMT/api/queues/%2F/$QUEUE"

# The operator console, started by the AppHost once the services are ready: its pages answer and show the orders.
deadline=$(( $(date +%s) + 120 ))
# (The banner waits for Aspire's health check of the console too, which can come after ours.)
until { curl -fs -o /dev/null --max-time 5 "$CONSOLE/health/ready" && grep -q '^  Console ' "$LOG"; } \
      || [ "$(date +%s)" -ge "$deadline" ]; do sleep 1; done
say "$(grep -m1 '^  Console ' "$LOG" | sed 's/^ *//')"
check "banner: the console's URL" 1 "$(grep -q '^  Console    http://localhost:8000 ' "$LOG" && echo 1 || echo 0)"
req GET "$CONSOLE/"; check "console: / (overview) answers" 200 "$CODE"
req GET "$CONSOLE/orders"; check "console: /orders answers" 200 "$CODE"
check "console: /orders lists the happy path's order" 1 "$(grep -q "$ID1" <<<"$BODY" && echo 1 || echo 0)"
# The page's scripts (Blazor's, the component library's) are served: without them nothing on it is interactive.
SCRIPTS="$(grep -o '<script src="[^"]*"' <<<"$BODY" | sed 's/^<script src="//; s/"$//; s#^/##')"
MISSING="$(for s in $SCRIPTS; do [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$CONSOLE/$s")" = 200 ] || echo "$s"; done)"
check "console: the page's scripts are served ($(echo $SCRIPTS | wc -w) incl. blazor.web.js)" "1:" \
  "$(grep -q 'blazor.web' <<<"$SCRIPTS" && echo 1 || echo 0):$(echo $MISSING)"
req GET "$CONSOLE/orders/$ID1"; check "console: the order's page answers" 200 "$CODE"
check "console: the order's page shows it CONFIRMED with its timeline" 1 \
  "$(grep -q CONFIRMED <<<"$BODY" && grep -q order.confirmed <<<"$BODY" && echo 1 || echo 0)"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] || { say "ERROR: $FAILED check(s) failed"; exit 1; }
