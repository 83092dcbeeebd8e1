#!/usr/bin/env bash
# The operator console on big data (issue 13, item 5): a million orders in the orders database, and the server time of
# the console's orders pages and order detail page (target: under 300 ms), next to the API calls they are made of.
#
#   bench/console.sh                                  # 1,000,000 orders
#   OMS_CONSOLE_BENCH_ORDERS=10000 bench/console.sh   # a smoke test
#
# 1. Starts a fresh bench system (bench/run-system.sh: private PostgreSQL + the three services, Release) in its own state
#    folder and ports, so a bench system on the default ports can stay up beside it.
# 2. Loads OMS_CONSOLE_BENCH_ORDERS orders with their timelines into the orders database with COPY (bench/load-orders.sh):
#    5% created in the last hour, the rest over the 23 hours before; ~93% CONFIRMED, 4% FAILED (five reasons), 3% CANCELLED,
#    the newest 20 PENDING (with a lease far in the future, so the recovery worker leaves them); ~1,000 SKUs of skewed
#    popularity (SKU-0000 ~3% of orders), one line each. Each order's timeline is the events its status implies
#    (1, 2, 4 or 6). Then VACUUM ANALYZE, as autovacuum would.
# 3. Starts the console (src/Oms.Console, Release) on OMS_CONSOLE_PORT pointed at the bench services (Services__*),
#    with the bench's API key when OMS_API_KEYS=1. Without the console project the API part still runs.
# 4. Measures, OMS_CONSOLE_BENCH_SAMPLES times each after a warm-up (one curl per case over one kept-alive connection,
#    loopback): the console's /orders (first page, status=FAILED, sku=SKU-0042, page 21 via after), /orders/{id}
#    (a different order each time) and the Overview /, and the order service's API calls behind them. Prints p50, p99
#    and max of the total response time (time_total: the whole page, not only its first byte).
#
# The stats endpoint runs uncached here (Stats__CacheFor=0), so its line is the cost of its query on this table.
#
# Settings (environment): OMS_CONSOLE_BENCH_ORDERS (default 1000000), OMS_CONSOLE_BENCH_SAMPLES (default 300),
# OMS_CONSOLE_PORT (default 18060), OMS_BENCH_DIR (default <repo>/.data/console-bench), OMS_PG_PORT (default 25462),
# OMS_ORDERS_PORT / OMS_INVENTORY_PORT / OMS_PAYMENTS_PORT (default 18061 / 18062 / 18063), OMS_SKIP_BUILD=1,
# OMS_KEEP=1 (leave the system and the console running at the end; bench/run-system.sh stop and kill the console's pid
# in <state>/Oms.Console.pid), plus what bench/run-system.sh reads (OMS_API_KEYS, OMS_EVENTS, ...; tracing off by default).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OMS_BENCH_DIR="${OMS_BENCH_DIR:-$ROOT/.data/console-bench}"
export OMS_PG_PORT="${OMS_PG_PORT:-25462}"
export OMS_ORDERS_PORT="${OMS_ORDERS_PORT:-18061}" OMS_INVENTORY_PORT="${OMS_INVENTORY_PORT:-18062}" OMS_PAYMENTS_PORT="${OMS_PAYMENTS_PORT:-18063}"
export OMS_TRACING="${OMS_TRACING:-0}"
# Every stats request runs its query: the measured line is its real cost, not the cache's.
export Stats__CacheFor=00:00:00
STATE="$OMS_BENCH_DIR"
ORDER_COUNT="${OMS_CONSOLE_BENCH_ORDERS:-1000000}"
SAMPLES="${OMS_CONSOLE_BENCH_SAMPLES:-300}"
WARMUP=20
PAGE_SIZE=50        # the console's Console:PageSize default
DEEP_PAGE=21        # "a later page": the one after following next 20 times
PENDING=20
CONSOLE_PORT="${OMS_CONSOLE_PORT:-18060}"
ORDERS="http://127.0.0.1:$OMS_ORDERS_PORT"
CONSOLE="http://127.0.0.1:$CONSOLE_PORT"
CONSOLE_DLL="$ROOT/src/Oms.Console/bin/Release/net10.0/Oms.Console.dll"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1)"
PGBIN="${PGBIN:-$(dirname "$(command -v psql)")}"
psql_orders() { "$PGBIN/psql" -X -h 127.0.0.1 -p "$OMS_PG_PORT" -U postgres -d orders -v ON_ERROR_STOP=1 -qAt "$@"; }
CONSOLE_PID=""

stop_all() {
  [[ "${OMS_KEEP:-0}" == 1 ]] && { echo "left running (OMS_KEEP=1): console pid ${CONSOLE_PID:-none}, bench/run-system.sh stop with OMS_BENCH_DIR=$STATE"; return; }
  if [[ -n "$CONSOLE_PID" ]]; then
    kill "$CONSOLE_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$CONSOLE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$CONSOLE_PID" 2>/dev/null || true
  fi
  "$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true
}
trap stop_all EXIT

HAVE_CONSOLE=0
[[ -f "$ROOT/src/Oms.Console/Oms.Console.csproj" ]] && HAVE_CONSOLE=1
if [[ "${OMS_SKIP_BUILD:-0}" != 1 ]]; then
  for p in Orders.Api Inventory.Api Payments.Api; do dotnet build -c Release --nologo -v q "$ROOT/src/$p" >/dev/null; done
  [[ "$HAVE_CONSOLE" == 1 ]] && dotnet build -c Release --nologo -v q "$ROOT/src/Oms.Console" >/dev/null
fi
[[ "$HAVE_CONSOLE" == 1 && ! -f "$CONSOLE_DLL" ]] && { echo "$CONSOLE_DLL missing: build it or unset OMS_SKIP_BUILD" >&2; exit 1; }

echo "== a fresh bench system in $STATE"
"$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true
rm -rf "$STATE"
OMS_SKIP_BUILD=1 "$ROOT/bench/run-system.sh" start >/dev/null
API_KEY=""
[[ "${OMS_API_KEYS:-0}" == 1 ]] && API_KEY="$(cat "$STATE/api-key")"
AUTH=()
[[ -n "$API_KEY" ]] && AUTH=(-H "Authorization: Bearer $API_KEY")

OMS_LOAD_ORDERS="$ORDER_COUNT" OMS_LOAD_PENDING="$PENDING" OMS_LOAD_PENDING_AT=newest OMS_LOAD_SKUS=1000 \
  OMS_LOAD_RECENT=0.05 OMS_LOAD_SPAN='23 hours' OMS_LOAD_MULTI_LINE=0 "$ROOT/bench/load-orders.sh"
psql_orders -F ' ' -c "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1" | sed 's/^/  /'
psql_orders -F ' ' -c "SELECT 'last hour', count(*) FROM orders WHERE created_at >= now() - interval '1 hour'" \
  -c "SELECT 'events', count(*) FROM order_events" \
  -c "SELECT 'orders heap + indexes', pg_size_pretty(pg_total_relation_size('orders'))" | sed 's/^/  /'

if [[ "$HAVE_CONSOLE" == 1 ]]; then
  echo "== the console on $CONSOLE"
  (
    cd "$ROOT/src/Oms.Console"
    export ASPNETCORE_URLS="$CONSOLE" Urls="$CONSOLE" ASPNETCORE_ENVIRONMENT=Production
    export Services__Orders="$ORDERS" Services__Inventory="http://127.0.0.1:$OMS_INVENTORY_PORT" Services__Payments="http://127.0.0.1:$OMS_PAYMENTS_PORT"
    export Console__ApiKey="$API_KEY" Logging__LogLevel__Default=Warning
    exec nohup dotnet "$CONSOLE_DLL" >"$STATE/Oms.Console.log" 2>&1
  ) &
  CONSOLE_PID=$!
  echo "$CONSOLE_PID" >"$STATE/Oms.Console.pid"
  ready=0
  for _ in $(seq 1 120); do
    curl -fsS "$CONSOLE/health/ready" >/dev/null 2>&1 && { ready=1; break; }
    kill -0 "$CONSOLE_PID" 2>/dev/null || break
    sleep 0.5
  done
  [[ "$ready" == 1 ]] || { echo "the console did not start; see $STATE/Oms.Console.log" >&2; tail -20 "$STATE/Oms.Console.log" >&2; exit 1; }
else
  echo "== no src/Oms.Console here: measuring the API only"
fi

# The cursor of page $DEEP_PAGE, as the API's next carries it (the console passes it through as ?after=).
cursor=""
for _ in $(seq 2 "$DEEP_PAGE"); do
  cursor="$(curl -fsS "${AUTH[@]}" "$ORDERS/api/v1/orders?limit=$PAGE_SIZE${cursor:+&after=$cursor}" | jq -r '.next')"
done
mapfile -t IDS < <(psql_orders -c "SELECT order_id FROM orders ORDER BY random() LIMIT $((SAMPLES + WARMUP))")

# measure <label> <url>...: one curl, the URLs in order over one connection; prints the label and p50/p99/max in ms of
# the measured ones (the first $WARMUP are the warm-up).
measure() {
  local label="$1"; shift
  local times
  local args=() url
  # -o per URL: curl applies each -o to one URL only.
  for url in "$@"; do args+=(-o /dev/null "$url"); done
  times="$(curl -sS "${AUTH[@]}" -w '%{http_code} %{time_total}\n' "${args[@]}")"
  local bad
  bad="$(awk '$1 != 200' <<<"$times" | head -1)"
  [[ -z "$bad" ]] || { echo "$label: a request answered ${bad%% *}" >&2; exit 1; }
  tail -n +$((WARMUP + 1)) <<<"$times" | awk '{print $2 * 1000}' | sort -n | awk -v label="$label" '
    { t[NR] = $1 }
    END { p50 = t[int((NR - 1) * 0.50) + 1]; p99 = t[int((NR - 1) * 0.99) + 1];
          printf "%-44s %7d %9.1f %9.1f %9.1f\n", label, NR, p50, p99, t[NR] }'
}
repeat() { local url="$1"; for _ in $(seq 1 $((SAMPLES + WARMUP))); do printf '%s\n' "$url"; done; }

echo "== server time on loopback ($ORDER_COUNT orders; $SAMPLES samples each after $WARMUP warm-up)"
printf '%-44s %7s %9s %9s %9s\n' "request" "n" "p50 ms" "p99 ms" "max ms"
if [[ "$HAVE_CONSOLE" == 1 ]]; then
  mapfile -t urls < <(repeat "$CONSOLE/orders");                        measure "console /orders" "${urls[@]}"
  mapfile -t urls < <(repeat "$CONSOLE/orders?status=FAILED");          measure "console /orders?status=FAILED" "${urls[@]}"
  mapfile -t urls < <(repeat "$CONSOLE/orders?sku=SKU-0042");           measure "console /orders?sku=SKU-0042" "${urls[@]}"
  mapfile -t urls < <(repeat "$CONSOLE/orders?after=$cursor");          measure "console /orders?after= (page $DEEP_PAGE)" "${urls[@]}"
  mapfile -t urls < <(printf "$CONSOLE/orders/%s\n" "${IDS[@]}");       measure "console /orders/{id} (a different one each)" "${urls[@]}"
  mapfile -t urls < <(repeat "$CONSOLE/");                              measure "console / (Overview)" "${urls[@]}"
fi
API="$ORDERS/api/v1/orders"
mapfile -t urls < <(repeat "$API?limit=$PAGE_SIZE");                    measure "api GET /orders" "${urls[@]}"
mapfile -t urls < <(repeat "$API?limit=$PAGE_SIZE&status=FAILED");      measure "api GET /orders?status=FAILED" "${urls[@]}"
mapfile -t urls < <(repeat "$API?limit=$PAGE_SIZE&item_sku=SKU-0042");  measure "api GET /orders?item_sku=SKU-0042" "${urls[@]}"
mapfile -t urls < <(repeat "$API?limit=$PAGE_SIZE&after=$cursor");      measure "api GET /orders?after= (page $DEEP_PAGE)" "${urls[@]}"
mapfile -t urls < <(printf "$API/%s\n" "${IDS[@]}");                    measure "api GET /orders/{id}" "${urls[@]}"
mapfile -t urls < <(printf "$API/%s/events\n" "${IDS[@]}");             measure "api GET /orders/{id}/events" "${urls[@]}"
mapfile -t urls < <(repeat "$API/stats");                               measure "api GET /orders/stats (uncached)" "${urls[@]}"
echo "target: every console page under 300 ms"
