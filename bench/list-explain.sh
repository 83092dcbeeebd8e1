#!/usr/bin/env bash
# What each list query of the order service reads on a million orders (issue 10, item 8), before and after the
# list indexes (migration 0002) and the SQL per filter combination:
#
#   bench/list-explain.sh
#
# 1. Starts the bench's private PostgreSQL (bench/run-system.sh postgres; its own state folder and port, so a bench
#    system can stay up beside it) and an empty database, and applies the service's migrations by starting the
#    order service (Release build) once.
# 2. Fills it with OMS_LIST_ORDERS orders (default 1,000,000) in one INSERT ... SELECT generate_series: ~1,000 SKUs
#    of skewed popularity, 96% CONFIRMED, ~3.5% FAILED, PENDING only among the newest (in flight).
# 3. Before: in a transaction that is rolled back, puts back the indexes of migration 0001 alone and runs the list
#    query of main before the fix (one text with "$n IS NULL OR ..." for every filter) under EXPLAIN (ANALYZE, BUFFERS).
# 4. After: starts the service with auto_explain on for its database, asks GET /api/v1/orders for each filter
#    combination (first page, and the 10th page by following `next`), and prints the plans PostgreSQL logged for
#    the exact statements the service ran.
# 5. A summary per query: rows read (scanned rows plus rows a filter threw away), shared buffers, execution time.
#
# Settings (environment): OMS_BENCH_DIR (default <repo>/.data/list-explain), OMS_PG_PORT (default 25442),
# OMS_ORDERS_PORT (default 18041), OMS_LIST_ORDERS, OMS_SKIP_BUILD=1 (use the existing Release build).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OMS_BENCH_DIR="${OMS_BENCH_DIR:-$ROOT/.data/list-explain}"
export OMS_PG_PORT="${OMS_PG_PORT:-25442}"
STATE="$OMS_BENCH_DIR"
ORDERS_PORT="${OMS_ORDERS_PORT:-18041}"
ORDER_COUNT="${OMS_LIST_ORDERS:-1000000}"
DB=orders_lists
ROLE=orders_lists
PAGE=50
DEEP_PAGE=10
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1)"
PGBIN="${PGBIN:-$(dirname "$(command -v psql)")}"
psql_admin() { "$PGBIN/psql" -X -h 127.0.0.1 -p "$OMS_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
OUT="$STATE/out"
SERVICE_PID=""

stop_service() {
  [[ -n "$SERVICE_PID" ]] || return 0
  kill "$SERVICE_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SERVICE_PID" 2>/dev/null || true
  SERVICE_PID=""
}
trap 'stop_service; "$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true' EXIT

start_service() {
  (
    cd "$ROOT/src/Orders.Api"
    export ASPNETCORE_URLS="http://127.0.0.1:$ORDERS_PORT" Urls="http://127.0.0.1:$ORDERS_PORT" ASPNETCORE_ENVIRONMENT=Production
    export ConnectionStrings__orders="Host=127.0.0.1;Port=$OMS_PG_PORT;Username=$ROLE;Database=$DB"
    export OMS_SERVICE_TOKEN="list-explain-$RANDOM$RANDOM"
    # Never called: every PENDING order below holds a lease far in the future, so the recovery worker leaves it.
    export Saga__InventoryUrl="http://127.0.0.1:9" Saga__PaymentUrl="http://127.0.0.1:9" Saga__Http2=false
    export Logging__LogLevel__Default=Warning
    exec dotnet "$ROOT/src/Orders.Api/bin/Release/net10.0/Orders.Api.dll" >>"$STATE/Orders.Api.log" 2>&1
  ) &
  SERVICE_PID=$!
  for _ in $(seq 1 240); do
    curl -fsS "http://127.0.0.1:$ORDERS_PORT/health/ready" >/dev/null 2>&1 && return 0
    kill -0 "$SERVICE_PID" 2>/dev/null || { tail -20 "$STATE/Orders.Api.log" >&2; return 1; }
    sleep 0.5
  done
  echo "the order service was not ready after 2 minutes; see $STATE/Orders.Api.log" >&2
  return 1
}

[[ "${OMS_SKIP_BUILD:-0}" == 1 ]] || dotnet build -c Release --nologo -v q "$ROOT/src/Orders.Api" >/dev/null
mkdir -p "$STATE" "$OUT"
rm -f "$OUT"/*
"$ROOT/bench/run-system.sh" postgres
PGDATA="$(cat "$STATE/pgdata" 2>/dev/null || echo "$STATE/pg")"

echo "== a fresh database, migrated by the order service"
psql_admin -d postgres -c "DROP DATABASE IF EXISTS $DB"
psql_admin -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'" | grep -q 1 || psql_admin -d postgres -c "CREATE ROLE $ROLE LOGIN"
psql_admin -d postgres -c "CREATE DATABASE $DB OWNER $ROLE"
start_service
stop_service
psql_admin -d "$DB" -c "SELECT scriptname FROM schemaversions ORDER BY schemaversionsid" -tA | sed 's/^/applied /'

echo "== $ORDER_COUNT orders"
time psql_admin -d "$DB" -v n="$ORDER_COUNT" <<'SQL'
SELECT setseed(0.42);
-- SKU-0000 is the most popular (~3% of orders), SKU-0999 the least (~0.05%). Orders are 90 days apart at most,
-- newest last; the newest 1% are PENDING half of the time (in flight), older ones were decided.
INSERT INTO orders (order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, in_request,
                    lease_token, lease_until, attempts, created_at, updated_at)
SELECT gen_random_uuid(), 'list-' || g, sku, 1 + g % 5, 10 + g % 990, status,
       CASE status WHEN 'FAILED' THEN CASE WHEN g % 2 = 0 THEN 'PAYMENT_DECLINED' ELSE 'INSUFFICIENT_STOCK' END END,
       false, gen_random_uuid(), now() + interval '30 days', 1, t, t
FROM generate_series(1, :n) AS g,
     LATERAL (SELECT 'SKU-' || lpad(floor(1000 * power(random(), 2))::int::text, 4, '0') AS sku,
                     timestamptz '2026-08-01 00:00:00Z' + g * (interval '90 days' / :n) AS t,
                     random() AS r) AS x,
     LATERAL (SELECT CASE WHEN g > :n * 0.99 AND r < 0.5 THEN 'PENDING'
                          WHEN r < 0.035 THEN 'FAILED' ELSE 'CONFIRMED' END AS status) AS y;
VACUUM ANALYZE orders;
SQL
psql_admin -d "$DB" -c "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1"
psql_admin -d "$DB" -c "SELECT count(DISTINCT item_sku) AS skus, pg_size_pretty(pg_table_size('orders')) AS heap FROM orders"
psql_admin -d "$DB" -c "SELECT indexrelname AS index, pg_size_pretty(pg_relation_size(indexrelid)) AS size FROM pg_stat_user_indexes WHERE relname = 'orders' ORDER BY 1"

# label | query string of GET /api/v1/orders | the old query's (status, sku) arguments
CASES=(
  "no filter||NULL,NULL"
  "status=CONFIRMED|status=CONFIRMED|'CONFIRMED',NULL"
  "status=PENDING|status=PENDING|'PENDING',NULL"
  "status=FAILED|status=FAILED|'FAILED',NULL"
  "item_sku=SKU-0042|item_sku=SKU-0042|NULL,'SKU-0042'"
  "item_sku=SKU-0999|item_sku=SKU-0999|NULL,'SKU-0999'"
  "item_sku=NO-ORDERS (none)|item_sku=NO-ORDERS|NULL,'NO-ORDERS'"
  "SKU-0042 + CONFIRMED|item_sku=SKU-0042&status=CONFIRMED|'CONFIRMED','SKU-0042'"
  "SKU-0042 + FAILED|item_sku=SKU-0042&status=FAILED|'FAILED','SKU-0042'"
  "NO-ORDERS + FAILED|item_sku=NO-ORDERS&status=FAILED|'FAILED','NO-ORDERS'"
)

echo "== before: the indexes of migration 0001 and main's list query (rolled back afterwards)"
{
  echo "BEGIN;"
  echo "DROP INDEX orders_pending_newest, orders_confirmed_newest, orders_failed_newest,"
  echo "           orders_pending_sku_newest, orders_confirmed_sku_newest, orders_failed_sku_newest;"
  echo "CREATE INDEX orders_newest ON orders (created_at DESC, order_id DESC);"
  echo "ANALYZE orders;"
  # OrderStore.ListAsync before issue 10: one statement for every filter. The service prepares it; its first
  # executions are planned for the values given (custom plans), as here.
  echo "SET plan_cache_mode = force_custom_plan;"
  echo "PREPARE list_page(text, text, timestamptz, uuid, int) AS
        SELECT order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, compensate_reason, stuck_at,
               in_request, lease_token, lease_until > now(), attempts, created_at, updated_at FROM orders
        WHERE (\$1::text IS NULL OR status = \$1)
          AND (\$2::text IS NULL OR item_sku = \$2)
          AND (\$3::timestamptz IS NULL OR (created_at, order_id) < (\$3, \$4))
        ORDER BY created_at DESC, order_id DESC
        LIMIT \$5;"
  for c in "${CASES[@]}"; do
    IFS='|' read -r label query args <<<"$c"
    echo "\\echo '### before | $label | page 1'"
    echo "EXPLAIN (ANALYZE, BUFFERS) EXECUTE list_page($args, NULL, '00000000-0000-0000-0000-000000000000', $((PAGE + 1)));"
    # Page $DEEP_PAGE, when there is one: its cursor is the last row of page $((DEEP_PAGE - 1)), as the API's next carries it.
    status="${args%%,*}" sku="${args#*,}"
    matches="FROM orders WHERE ($status::text IS NULL OR status = $status) AND ($sku::text IS NULL OR item_sku = $sku)"
    echo "SELECT count(*) > $((PAGE * (DEEP_PAGE - 1))) AS deep FROM (SELECT 1 $matches LIMIT $((PAGE * (DEEP_PAGE - 1) + 1))) AS p \\gset"
    echo "\\if :deep"
    echo "SELECT created_at AS c, order_id AS i FROM (SELECT created_at, order_id $matches ORDER BY created_at DESC, order_id DESC LIMIT $((PAGE * (DEEP_PAGE - 1)))) AS p ORDER BY created_at, order_id LIMIT 1 \\gset"
    echo "\\echo '### before | $label | page $DEEP_PAGE'"
    echo "EXPLAIN (ANALYZE, BUFFERS) EXECUTE list_page($args, :'c', :'i', $((PAGE + 1)));"
    echo "\\endif"
  done
  echo "ROLLBACK;"
} >"$OUT/before.sql"
psql_admin -d "$DB" -f "$OUT/before.sql" | tee "$OUT/before.txt"

echo "== after: the service's own statements, as auto_explain logged them"
psql_admin -d postgres -c "ALTER DATABASE $DB SET session_preload_libraries = 'auto_explain'" \
  -c "ALTER DATABASE $DB SET auto_explain.log_min_duration = 0" -c "ALTER DATABASE $DB SET auto_explain.log_analyze = on" \
  -c "ALTER DATABASE $DB SET auto_explain.log_buffers = on" -c "ALTER DATABASE $DB SET auto_explain.log_timing = on"
LOG_START=$(stat -c %s "$PGDATA/server.log")
start_service
: >"$OUT/requests.txt"
for c in "${CASES[@]}"; do
  IFS='|' read -r label query args <<<"$c"
  url="http://127.0.0.1:$ORDERS_PORT/api/v1/orders?limit=$PAGE${query:+&$query}"
  next=""
  for page in $(seq 1 "$DEEP_PAGE"); do
    body="$(curl -fsS "$url${next:+&after=$next}")"
    echo "$label|$page|$(jq '.items | length' <<<"$body")" >>"$OUT/requests.txt"
    next="$(jq -r '.next // empty' <<<"$body")"
    [[ -n "$next" ]] || break
  done
done
stop_service
psql_admin -d postgres -c "ALTER DATABASE $DB RESET ALL"
tail -c +"$((LOG_START + 1))" "$PGDATA/server.log" >"$OUT/after.log"

python3 - "$OUT" "$DEEP_PAGE" <<'PY'
import re, sys
out, deep = sys.argv[1], int(sys.argv[2])

def measure(lines):
    """rows read: rows every scan node returned plus the rows its filter threw away; the top node's buffers.
    EXPLAIN gives a node's rows per loop (per worker, for a parallel scan): times its loops."""
    rows = loops = 0
    top_buffers = None
    for line in lines:
        m = re.search(r"actual time=\S+ rows=(\d+) loops=(\d+)", line)
        if m:
            loops = int(m.group(2))
            if re.search(r"(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)", line): rows += int(m.group(1)) * loops
        m = re.search(r"Rows Removed by (?:Filter|Index Recheck): (\d+)", line)
        if m: rows += int(m.group(1)) * loops
        m = re.search(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?", line)
        if m and top_buffers is None: top_buffers = int(m.group(1) or 0) + int(m.group(2) or 0)
    return rows, top_buffers or 0

# Before: psql's output, one block per "### before | label | page n" marker.
before, key, block = {}, None, []
for line in open(f"{out}/before.txt"):
    if line.startswith("### before"):
        key, block = tuple(p.strip() for p in line.split("|")[1:3]), []
        continue
    if key is None: continue
    block.append(line)
    m = re.search(r"Execution Time: ([\d.]+) ms", line)
    if m:
        before[key] = (*measure(block), float(m.group(1)))
        key = None

# After: the service's list statements in the order they were asked.
entries, current = [], None
for line in open(f"{out}/after.log", errors="replace"):
    if re.match(r"^\d{4}-\d\d-\d\d ", line):
        if current: entries.append(current)
        current = [line] if "plan:" in line else None
    elif current is not None:
        current.append(line)
if current: entries.append(current)
lists = [e for e in entries if any("ORDER BY created_at DESC, order_id DESC" in l for l in e)]
requests = [l.rstrip("\n").split("|") for l in open(f"{out}/requests.txt")]
assert len(lists) == len(requests), f"{len(lists)} list plans logged for {len(requests)} requests"
after = {}
with open(f"{out}/after.txt", "w") as plans:
    for (label, page, items), entry in zip(requests, lists):
        plans.write(f"### after | {label} | page {page} ({items} orders)\n" + "".join(entry) + "\n")
        duration = float(re.search(r"duration: ([\d.]+) ms", entry[0]).group(1))
        after[(label, f"page {page}")] = (*measure(entry), duration)
print(open(f"{out}/after.txt").read())

print(f"{'query':<28} {'page':<8} | {'before: rows read':>17} {'buffers':>8} {'ms':>8} | {'after: rows read':>16} {'buffers':>8} {'ms':>6}")
for label in dict.fromkeys(l for l, _, _ in requests):
    for page in ("page 1", f"page {deep}"):
        b, a = before.get((label, page)), after.get((label, page))
        if not b and not a: continue
        fb = f"{b[0]:>17,} {b[1]:>8,} {b[2]:>8.1f}" if b else f"{'-':>17} {'-':>8} {'-':>8}"
        fa = f"{a[0]:>16,} {a[1]:>8,} {a[2]:>6.2f}" if a else f"{'-':>16} {'-':>8} {'-':>6}"
        print(f"{label:<28} {page:<8} | {fb} | {fa}")
PY
