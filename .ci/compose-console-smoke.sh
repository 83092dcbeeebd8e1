#!/usr/bin/env bash
# The compose profile "console" for real: `docker compose --profile console up --build -d` starts the default six
# containers plus the console; all seven become healthy; an order placed through the order service shows in the
# console (port 8000): / and /orders answer 200, /orders lists the order, its page shows its timeline, and the
# page's scripts are served from the image (blazor.web.js: without it nothing on the pages is interactive).
# Always ends with `down -v`. Needs a Docker engine with the images (on these machines the stand-ins of
# ../shared/docker-standins, whose compose.sh is used when `docker compose` is missing); writes a .env with random
# secrets when there is none (and removes it afterwards).
#   .ci/compose-console-smoke.sh          Exit 0 only when every check passed. Needs ports 8000-8003 free.
set -uo pipefail
cd "$(dirname "$0")/.."

TIMEOUT="${SMOKE_TIMEOUT:-300}"
ORDER=http://127.0.0.1:8001 INVENTORY=http://127.0.0.1:8002 CONSOLE=http://127.0.0.1:8000
T_START=$(date +%s)
say() { printf '[compose-console %4ss] %s\n' "$(( $(date +%s) - T_START ))" "$*"; }

if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
elif [ -x ../shared/docker-standins/compose.sh ]; then COMPOSE=(../shared/docker-standins/compose.sh)
else COMPOSE=(docker-compose); fi
PROJECT=(--profile console)
in_project() { docker ps "$@" --filter label=com.docker.compose.project=oms -q; }

# down -v at the end would delete an existing "oms" stack's databases: refuse to touch one.
if [ -n "$(in_project -a)$(docker volume ls -q --filter label=com.docker.compose.project=oms)" ]; then
  say "ERROR: an 'oms' compose project (containers or volumes) exists already; this check ends with down -v. Remove it first."
  exit 1
fi

MADE_ENV=0 UP_LOG="$(mktemp /tmp/compose-console-up.XXXXXX)"
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    say "failure: container states and the console's log"
    docker ps -a --filter label=com.docker.compose.project=oms --format '{{.Names}}\t{{.Status}}'
    docker logs --tail 20 "$(in_project -a --filter label=com.docker.compose.service=console | head -1)" 2>&1
  fi
  say "tearing down (down -v)"
  "${COMPOSE[@]}" "${PROJECT[@]}" down -v --remove-orphans >/dev/null 2>&1 || say "WARNING: down -v failed"
  [ "$MADE_ENV" -eq 1 ] && rm -f .env
  say "done, exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f .env ]; then
  # Every key of .env.example with a random value (as .ci/run does).
  (umask 077; sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' .env.example | while read -r key; do echo "$key=$(openssl rand -hex 24)"; done > .env)
  MADE_ENV=1
fi

say "${COMPOSE[*]} --profile console up --build -d (log: $UP_LOG)"
"${COMPOSE[@]}" "${PROJECT[@]}" up --build -d >"$UP_LOG" 2>&1 || { tail -30 "$UP_LOG"; say "ERROR: up failed"; exit 1; }
deadline=$(( $(date +%s) + TIMEOUT ))
until [ "$(in_project --filter health=healthy | wc -l)" -ge 7 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { say "ERROR: $(in_project --filter health=healthy | wc -l) of 7 containers healthy after ${TIMEOUT}s"; exit 1; }
  sleep 2
done
say "7 containers healthy"

PASSED=0 FAILED=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then PASSED=$((PASSED+1)); echo "PASS $1"
  else FAILED=$((FAILED+1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
get() { # get URL -> CODE, BODY
  local out; out="$(mktemp)"
  CODE="$(curl -sS -o "$out" -w '%{http_code}' --max-time 30 "$1" || true)"; BODY="$(cat "$out")"; rm -f "$out"
}

check "the console container is healthy" healthy \
  "$(docker inspect -f '{{.State.Health.Status}}' "$(in_project --filter label=com.docker.compose.service=console | head -1)" 2>/dev/null)"
SKU="COMPOSE-$(openssl rand -hex 4)"
curl -sS -o /dev/null --max-time 30 -X POST "$INVENTORY/api/v1/stock/items" -H 'Content-Type: application/json' -d "{\"item_sku\":\"$SKU\",\"quantity\":10}"
ID="$(curl -sS --max-time 30 -X POST "$ORDER/api/v1/orders" -H 'Content-Type: application/json' \
  -d "{\"item_sku\":\"$SKU\",\"quantity\":2,\"amount\":100,\"idempotency_key\":\"$SKU-1\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin).get("order_id", ""))' 2>/dev/null)"
check "an order placed through the order service" 1 "$([ -n "$ID" ] && echo 1 || echo 0)"

get "$CONSOLE/"; check "console: / (overview) answers" 200 "$CODE"
get "$CONSOLE/orders"; check "console: /orders answers" 200 "$CODE"
check "console: /orders lists the order" 1 "$(grep -q "$ID" <<<"$BODY" && echo 1 || echo 0)"
SCRIPTS="$(grep -o '<script src="[^"]*"' <<<"$BODY" | sed 's/^<script src="//; s/"$//; s#^/##')"
MISSING="$(for s in $SCRIPTS; do [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$CONSOLE/$s")" = 200 ] || echo "$s"; done)"
check "console: the page's scripts are served from the image (incl. blazor.web.js)" "1:" \
  "$(grep -q 'blazor.web' <<<"$SCRIPTS" && echo 1 || echo 0):$(echo $MISSING)"
get "$CONSOLE/orders/$ID"; check "console: the order's page answers" 200 "$CODE"
check "console: the order's page shows its timeline" 1 "$(grep -q order.confirmed <<<"$BODY" && echo 1 || echo 0)"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] || { say "ERROR: $FAILED check(s) failed"; exit 1; }
