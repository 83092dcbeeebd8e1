#!/usr/bin/env bash
# Ten million orders (issue 14, item 3): what a big orders database costs.
#
#   bench/ten-million.sh                                # 10,000,000 orders (loaded once, then reused)
#   OMS_BIG_ORDERS=1000000 bench/ten-million.sh         # the 1 M row of the cost-growth table
#   OMS_BIG_ORDERS=100000 OMS_BIG_ROUNDS=1 bench/ten-million.sh   # a smoke run
#
# 1. The big system: bench/run-system.sh on its own state folder per size ($OMS_BIG_DIR/orders-<N>; tracing off). The
#    first time, a fresh system loads (bench/load-orders.sh, COPY) N orders with their lines and timelines: one year of
#    orders (0.1 % in the last hour), ~4 % FAILED, ~3 % CANCELLED, exactly 1,000 PENDING spread evenly over the table
#    (stuck orders, each on its own heap page, leases far in the future), 10 % of orders with 2-4 lines; and 100,000
#    SKUs in the inventory database. A marker file keeps the load (with its settings and time) so later runs reuse it;
#    OMS_BIG_RELOAD=1 loads again. Later runs find the orders the earlier runs' load generator placed (~1 % of 10 M).
# 2. On the big system, quiet: table and index sizes; the list queries of GET /api/v1/orders with each filter (status,
#    item_sku, both, a created-before cursor = a jump to a point in time, page 21 by following next) and the timeline
#    and the order of a different random order each time: p50/p99/max over OMS_BIG_SAMPLES requests (curl, one
#    kept-alive loopback connection, after a warm-up). Target p99 <= 20 ms.
# 3. The recovery worker's scans, its real SQL (read from src/Orders.Api/OrderStore.cs: ClaimExpiredAsync and
#    CountPendingOlderThanAsync) under EXPLAIN (ANALYZE, BUFFERS): as loaded (no lease due), and with every PENDING
#    order's lease expired (in a transaction rolled back), with the worker's batch size and with a batch of all of them.
#    Shared buffers touched are compared with the pages of the orders table: they must follow PENDING, not the table.
# 4. Throughput at 64 clients (bench/Oms.LoadGen): the big system vs an empty one (a fresh system per round, same
#    ports), OMS_BIG_ROUNDS rounds with the arms' order alternating, each OMS_BIG_WARMUP warm-up plus OMS_BIG_DURATION
#    measured. Target: big >= 0.9 x empty. During the big arm, pg_stat_user_tables of the three databases is sampled
#    every 5 s: dead tuples and inserts per second per table, autovacuum runs, and how long the load takes to reach
#    autovacuum's trigger at this size with PostgreSQL's defaults and with the table's own settings (the migrations).
#    Then the recovery scans once more, right after the load (dead index entries not yet vacuumed).
#
# Prints everything and writes bench/results/<time>-ten-million-<N>/: ten-million.json (everything),
# ten-million-throughput.json (kind "arms") and ten-million-queries.json (kind "latencies") for tools/Oms.BenchCharts,
# and the plans as text.
#
# Settings (environment): OMS_BIG_ORDERS (10000000), OMS_BIG_SKUS (100000), OMS_BIG_PENDING (1000), OMS_BIG_MULTI_LINE
# (per mille, 100), OMS_BIG_DIR (<repo>/.data/ten-million), OMS_BIG_ROUNDS (2), OMS_BIG_WARMUP (20s), OMS_BIG_DURATION
# (30s), OMS_BIG_CLIENTS (64), OMS_BIG_SAMPLES (300), OMS_BIG_RELOAD=1, OMS_BIG_STEPS (default "queries recovery
# throughput"; any subset), OMS_PG_PORT (26434), OMS_ORDERS_PORT / OMS_INVENTORY_PORT / OMS_PAYMENTS_PORT
# (21001 / 21002 / 21003), OMS_SKIP_BUILD=1, OMS_KEEP=1 (leave the big system running at the end).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${OMS_BIG_ORDERS:-10000000}"
SKUS="${OMS_BIG_SKUS:-100000}"
PENDING="${OMS_BIG_PENDING:-1000}"
MULTI="${OMS_BIG_MULTI_LINE:-100}"
BIG_DIR="${OMS_BIG_DIR:-$ROOT/.data/ten-million}"
ROUNDS="${OMS_BIG_ROUNDS:-2}"
WARMUP="${OMS_BIG_WARMUP:-20s}"
DURATION="${OMS_BIG_DURATION:-30s}"
CLIENTS="${OMS_BIG_CLIENTS:-64}"
SAMPLES="${OMS_BIG_SAMPLES:-300}"
STEPS=" ${OMS_BIG_STEPS:-queries recovery throughput} "
export OMS_PG_PORT="${OMS_PG_PORT:-26434}"
export OMS_ORDERS_PORT="${OMS_ORDERS_PORT:-21001}" OMS_INVENTORY_PORT="${OMS_INVENTORY_PORT:-21002}" OMS_PAYMENTS_PORT="${OMS_PAYMENTS_PORT:-21003}"
export OMS_TRACING=0
# The stats endpoint runs its query on every request: its line is the query's cost, not the cache's.
export Stats__CacheFor=00:00:00
BIG_STATE="$BIG_DIR/orders-$N"
EMPTY_STATE="$BIG_DIR/empty"
PAGE_SIZE=50
DEEP_PAGE=21
WARMUP_REQUESTS=20
ORDERS="http://127.0.0.1:$OMS_ORDERS_PORT"
API="$ORDERS/api/v1/orders"
LABEL="$(awk -v n="$N" 'BEGIN { if (n >= 1e6 && n % 1e6 == 0) print n / 1e6 " M"; else if (n >= 1e3 && n % 1e3 == 0) print n / 1e3 " k"; else print n }')"
OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-ten-million-$N"
mkdir -p "$OUT"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1)"
PGBIN="${PGBIN:-$(dirname "$(command -v psql)")}"
psql_db() { local db="$1"; shift; "$PGBIN/psql" -X -h 127.0.0.1 -p "$OMS_PG_PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 -qAt "$@"; }
LG=(dotnet "$ROOT/bench/Oms.LoadGen/bin/Release/net10.0/Oms.LoadGen.dll" --orders-url "$ORDERS"
    --inventory-url "http://127.0.0.1:$OMS_INVENTORY_PORT")
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

system() { OMS_BENCH_DIR="$1" OMS_SKIP_BUILD=1 "$ROOT/bench/run-system.sh" "$2" >/dev/null; }
stop_all() {
  [[ "${OMS_KEEP:-0}" == 1 ]] && { echo "left running (OMS_KEEP=1): OMS_BENCH_DIR=$BIG_STATE bench/run-system.sh stop"; return; }
  system "$EMPTY_STATE" stop 2>/dev/null || true
  system "$BIG_STATE" stop 2>/dev/null || true
}
trap stop_all EXIT

if [[ "${OMS_SKIP_BUILD:-0}" != 1 ]]; then
  for p in src/Orders.Api src/Inventory.Api src/Payments.Api bench/Oms.LoadGen; do dotnet build -c Release --nologo -v q "$ROOT/$p" >/dev/null; done
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; results in $OUT"
system "$EMPTY_STATE" stop 2>/dev/null || true

# ---------------------------------------------------------------------------------------------------------------- 1.
LOAD_SETTINGS="orders=$N skus=$SKUS pending=$PENDING multi=$MULTI loader=$(sha1sum "$ROOT/bench/load-orders.sh" | cut -c1-12)"
if [[ "${OMS_BIG_RELOAD:-0}" != 1 && -f "$BIG_STATE/loaded" && "$(head -1 "$BIG_STATE/loaded")" == "$LOAD_SETTINGS" ]]; then
  echo "== reusing the $LABEL orders loaded in $BIG_STATE ($(sed -n 2p "$BIG_STATE/loaded"))"
  system "$BIG_STATE" start
else
  echo "== a fresh big system in $BIG_STATE"
  system "$BIG_STATE" stop 2>/dev/null || true
  rm -rf "$BIG_STATE"
  system "$BIG_STATE" start
  # The order service migrated the database; it waits out the load: its recovery worker reads the orders table every
  # second, and while the load has the indexes dropped each of those reads is a sequential scan of it.
  orders_pid="$(cat "$BIG_STATE/Orders.Api.pid")"
  kill "$orders_pid"; for _ in $(seq 1 100); do kill -0 "$orders_pid" 2>/dev/null || break; sleep 0.1; done
  OMS_LOAD_ORDERS="$N" OMS_LOAD_SKUS="$SKUS" OMS_LOAD_PENDING="$PENDING" OMS_LOAD_PENDING_AT=spread OMS_LOAD_RECENT=0.001 \
    OMS_LOAD_SPAN='365 days' OMS_LOAD_MULTI_LINE="$MULTI" OMS_LOAD_INVENTORY=1 "$ROOT/bench/load-orders.sh" | tee "$OUT/load.txt"
  system "$BIG_STATE" start   # the order service again
  printf '%s\n%s at %s\n' "$LOAD_SETTINGS" "$(grep -o 'loaded in [0-9]* ms' "$OUT/load.txt")" "$(date -u +%FT%TZ)" >"$BIG_STATE/loaded"
fi
LOADED_MS="$(sed -n 2p "$BIG_STATE/loaded" | grep -o '[0-9]* ms' | cut -d' ' -f1)"
PGDATA="$(cat "$BIG_STATE/pgdata" 2>/dev/null || echo "$BIG_STATE/pg")"

sizes() {
  echo "== sizes"
  { for db in orders inventory payments; do
      psql_db "$db" -F '|' -c "
        SELECT '$db', c.relname, c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid),
               (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname <> 'schemaversions' ORDER BY pg_total_relation_size(c.oid) DESC"
    done; } >"$OUT/sizes.txt"
  awk -F'|' 'BEGIN { printf "  %-10s %-18s %12s %10s %10s %10s %8s\n", "database", "table", "rows (est)", "heap MB", "indexes MB", "total MB", "indexes" }
             { printf "  %-10s %-18s %12d %10.0f %10.0f %10.0f %8d\n", $1, $2, $3, $4/1048576, $5/1048576, $6/1048576, $7 }' "$OUT/sizes.txt"
  psql_db orders -F '|' -c "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes WHERE relname = 'orders' ORDER BY 2 DESC" >"$OUT/index-sizes.txt"
  awk -F'|' '{ printf "    %-30s %8.1f MB\n", $1, $2/1048576 }' "$OUT/index-sizes.txt"
  psql_db orders -F ' ' -c "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1" >"$OUT/statuses.txt"
  sed 's/^/  /' "$OUT/statuses.txt"
}
sizes

# ---------------------------------------------------------------------------------------------------------------- 2.
: >"$OUT/queries.tsv"
# measure <label> <url>...: the URLs in order over one connection; the first $WARMUP_REQUESTS are the warm-up. Appends
# label, n, p50, p99, max (ms) to queries.tsv and prints them.
measure() {
  local label="$1"; shift
  local args=() url times bad
  for url in "$@"; do args+=(-o /dev/null "$url"); done
  times="$(curl -sS -w '%{http_code} %{time_total}\n' "${args[@]}")"
  bad="$(awk '$1 != 200' <<<"$times" | head -1)"
  [[ -z "$bad" ]] || { echo "$label: a request answered ${bad%% *}" >&2; exit 1; }
  tail -n +$((WARMUP_REQUESTS + 1)) <<<"$times" | awk '{print $2 * 1000}' | sort -n | awk -v label="$label" '
    { t[NR] = $1 }
    END { p50 = t[int((NR - 1) * 0.50) + 1]; p99 = t[int((NR - 1) * 0.99) + 1];
          printf "%s\t%d\t%.2f\t%.2f\t%.2f\n", label, NR, p50, p99, t[NR] }' | tee -a "$OUT/queries.tsv" |
    awk -F'\t' '{ printf "  %-52s %5d %8.1f %8.1f %8.1f\n", $1, $2, $3, $4, $5 }'
}
repeat() { local url="$1"; for _ in $(seq 1 $((SAMPLES + WARMUP_REQUESTS))); do printf '%s\n' "$url"; done; }
# The API's cursor for "older than <timestamp>": base64url of (created_at ticks big-endian, order id); the largest id
# makes it include every order of that instant.
cursor_at() {
  python3 -c 'import base64, struct, sys; from datetime import datetime, timezone
t = datetime.fromisoformat(sys.argv[1]).astimezone(timezone.utc)
ticks = (t - datetime(1, 1, 1, tzinfo=timezone.utc)) // __import__("datetime").timedelta(microseconds=1) * 10
print(base64.urlsafe_b64encode(struct.pack(">q", ticks) + b"\xff" * 16).decode().rstrip("="))' "$1"
}
# page_cursor <n> <query>: "<page> <cursor>" of page n of a list (or its last page when it has fewer), following next
# as a client does.
page_cursor() {
  local n="$1" query="$2" cursor="" next page=1
  while (( page < n )); do
    next="$(curl -fsS "$API?limit=$PAGE_SIZE${query:+&$query}${cursor:+&after=$cursor}" | jq -r '.next // empty')"
    [[ -n "$next" ]] || break
    cursor="$next"; page=$((page + 1))
  done
  echo "$page $cursor"
}

if [[ "$STEPS" == *" queries "* ]]; then
  echo "== list queries, the timeline and the order ($SAMPLES samples each after $WARMUP_REQUESTS warm-up; target p99 <= 20 ms)"
  printf '  %-52s %5s %8s %8s %8s\n' "GET /api/v1/orders…" "n" "p50 ms" "p99 ms" "max ms"
  # The most popular SKU (~1/sqrt(SKUs) of the orders: 0.3 % with 100,000) and the least.
  POPULAR="SKU-$(printf "%0$(( ${#SKUS} - 1 > 4 ? ${#SKUS} - 1 : 4 ))d" 0)"
  RARE="SKU-$(printf "%0$(( ${#SKUS} - 1 > 4 ? ${#SKUS} - 1 : 4 ))d" $((SKUS - 1)))"
  MONTH_AGO="$(cursor_at "$(date -u -d '30 days ago' +%FT%TZ)")"
  HALF_YEAR_AGO="$(cursor_at "$(date -u -d '180 days ago' +%FT%TZ)")"
  read -r DEEP_N DEEP < <(page_cursor "$DEEP_PAGE" "")
  read -r DEEP_SKU_N DEEP_SKU < <(page_cursor "$DEEP_PAGE" "item_sku=$POPULAR")
  CASES=(
    "no filter|"
    "status=PENDING|status=PENDING"
    "status=FAILED|status=FAILED"
    "status=CANCELLED|status=CANCELLED"
    "status=CONFIRMED|status=CONFIRMED"
    "item_sku=$POPULAR|item_sku=$POPULAR"
    "item_sku=$RARE (rare)|item_sku=$RARE"
    "item_sku=NO-ORDERS (none)|item_sku=NO-ORDERS"
    "item_sku=$POPULAR&status=FAILED|item_sku=$POPULAR&status=FAILED"
    "item_sku=$POPULAR&status=PENDING|item_sku=$POPULAR&status=PENDING"
    "created before 30 days ago|after=$MONTH_AGO"
    "created before 180 days ago, status=FAILED|status=FAILED&after=$HALF_YEAR_AGO"
    "created before 180 days ago, item_sku=$POPULAR|item_sku=$POPULAR&after=$HALF_YEAR_AGO"
    "page $DEEP_N (following next)|after=$DEEP"
    "page $DEEP_SKU_N of item_sku=$POPULAR|item_sku=$POPULAR${DEEP_SKU:+&after=$DEEP_SKU}"
  )
  for c in "${CASES[@]}"; do
    mapfile -t urls < <(repeat "$API?limit=$PAGE_SIZE&${c#*|}")
    measure "${c%%|*}" "${urls[@]}"
  done
  mapfile -t IDS < <(psql_db orders -c "SELECT order_id FROM orders TABLESAMPLE SYSTEM (1) ORDER BY random() LIMIT $((SAMPLES + WARMUP_REQUESTS))")
  mapfile -t urls < <(printf "$API/%s/events\n" "${IDS[@]}"); measure "/{id}/events (the timeline, a random order each)" "${urls[@]}"
  mapfile -t urls < <(printf "$API/%s\n" "${IDS[@]}");        measure "/{id} (a random order each)" "${urls[@]}"
  mapfile -t urls < <(repeat "$API/stats");                    measure "/stats (uncached: the last hour, per minute)" "${urls[@]}"
fi

# ---------------------------------------------------------------------------------------------------------------- 3.
# The worker's SQL as the service sends it: the raw string literal of each method in OrderStore.cs, {Columns} filled in.
python3 - "$ROOT/src/Orders.Api/OrderStore.cs" "$OUT" <<'PY'
import re, sys
src, out = open(sys.argv[1]).read(), sys.argv[2]
columns = "".join(re.findall(r'"([^"]*)"', re.search(r'private const string Columns =(.*?);', src, re.S).group(1)))
def sql_of(method):
    body = src[src.index(method + "("):]
    m = re.search(r'\$?"""\n(.*?)\n\s*"""', body, re.S)
    return "\n".join(l.strip() for l in m.group(1).replace("{Columns}", columns).splitlines())
open(f"{out}/claim.sql", "w").write(sql_of("ClaimExpiredAsync"))
open(f"{out}/count.sql", "w").write(sql_of("CountPendingOlderThanAsync"))
PY
# recovery_scans <label>: the plans and the shared buffers each touched (hit + read), against the table's pages.
: >"$OUT/recovery.tsv"
recovery_scans() {
  local label="$1" batch lease give_up plans
  batch="$(jq -r '.Recovery.BatchSize // 32' "$ROOT/src/Orders.Api/appsettings.json" 2>/dev/null || echo 32)"
  lease="30 seconds"
  give_up="$(jq -r '.Recovery.GiveUpAfter // "00:01:00"' "$ROOT/src/Orders.Api/appsettings.json" 2>/dev/null || echo 00:01:00)"
  local claim count
  claim="$(cat "$OUT/claim.sql")"; count="$(cat "$OUT/count.sql")"
  local lease_sql="interval '$lease'" give_up_sql="interval '$give_up'"
  claim="${claim//\$2/$lease_sql}"
  plans="$OUT/recovery-$label.txt"
  {
    echo "BEGIN;"
    echo "\\echo '### as loaded: the claim, batch $batch (no lease due)'"
    echo "EXPLAIN (ANALYZE, BUFFERS) ${claim//\$1/$batch};"
    echo "\\echo '### as loaded: the count of stuck orders (GiveUpAfter $give_up)'"
    echo "EXPLAIN (ANALYZE, BUFFERS) ${count//\$1/$give_up_sql};"
    echo "\\echo '### expiring every PENDING lease (rolled back)'"
    echo "UPDATE orders SET lease_until = now() - interval '1 minute' WHERE status = 'PENDING';"
    echo "\\echo '### all due: the claim, batch $batch'"
    echo "EXPLAIN (ANALYZE, BUFFERS) ${claim//\$1/$batch};"
    echo "\\echo '### all due: the claim, batch 1000 (as many as the load has PENDING)'"
    echo "EXPLAIN (ANALYZE, BUFFERS) ${claim//\$1/1000};"
    echo "ROLLBACK;"
  } >"$OUT/recovery-$label.sql"
  psql_db orders -f "$OUT/recovery-$label.sql" >"$plans"
  local pages pending
  pages="$(psql_db orders -c "SELECT relpages FROM pg_class WHERE relname = 'orders'")"
  pending="$(psql_db orders -c "SELECT count(*) FROM orders WHERE status = 'PENDING'")"
  python3 - "$plans" "$label" "$pages" "$pending" <<'PY' | tee -a "$OUT/recovery.tsv"
import re, sys
plans, label, pages, pending = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# The top node's buffers (everything, the claim's UPDATE of every index included) and the scans' alone: the first
# Buffers line under each "CTE" (the claim's cancelling and pending scans) or, without CTEs, the top node's.
case, total, scan, in_cte = None, None, 0, False
for line in open(plans):
    if line.startswith("### "):
        case, total, scan, in_cte = (None if "expiring" in line else line[4:].strip()), None, 0, False
        continue
    if case is None or line.startswith("Planning"): continue
    if re.match(r"^\s*CTE \w+", line): in_cte = True; continue
    m = re.search(r"Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?", line)
    if m:
        n = int(m.group(1) or 0) + int(m.group(2) or 0)
        if total is None: total = n
        elif in_cte: scan += n; in_cte = False
    m = re.search(r"Execution Time: ([\d.]+) ms", line)
    if m:
        print(f"{label}\t{case}\t{total}\t{scan or total}\t{float(m.group(1)):.2f}\t{pending}\t{pages}"); case = None
PY
}
if [[ "$STEPS" == *" recovery "* ]]; then
  echo "== the recovery worker's scans (shared buffers touched vs the orders table's pages)"
  recovery_scans quiet | awk -F'\t' '{ printf "  %-70s scans %6d, in all %6d buffers %8.2f ms  (%d PENDING, table %d pages)\n", $2, $4, $3, $5, $6, $7 }'
  # The rolled-back UPDATE left an aborted version on each PENDING order's page: vacuumed, as autovacuum would.
  psql_db orders -c "VACUUM orders"
fi

# ---------------------------------------------------------------------------------------------------------------- 4.
TABLES_SQL="SELECT current_database(), relname, n_live_tup, n_dead_tup, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
                   n_ins_since_vacuum, autovacuum_count, autoanalyze_count, extract(epoch FROM clock_timestamp())
            FROM pg_stat_user_tables WHERE relname <> 'schemaversions'"
sample_tables() { for db in orders inventory payments; do psql_db "$db" -F '|' -c "$TABLES_SQL"; done; }
# Each table's autovacuum settings: its own reloptions, else the server's.
table_settings() {
  for db in orders inventory payments; do
    psql_db "$db" -F '|' -c "
      SELECT current_database(), c.relname, c.reltuples::bigint,
             coalesce((SELECT split_part(o, '=', 2) FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum_vacuum_threshold=%'), current_setting('autovacuum_vacuum_threshold')),
             coalesce((SELECT split_part(o, '=', 2) FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum_vacuum_scale_factor=%'), current_setting('autovacuum_vacuum_scale_factor')),
             coalesce((SELECT split_part(o, '=', 2) FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum_vacuum_insert_threshold=%'), current_setting('autovacuum_vacuum_insert_threshold')),
             coalesce((SELECT split_part(o, '=', 2) FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum_vacuum_insert_scale_factor=%'), current_setting('autovacuum_vacuum_insert_scale_factor')),
             current_setting('autovacuum_vacuum_threshold'), current_setting('autovacuum_vacuum_scale_factor'),
             current_setting('autovacuum_vacuum_insert_threshold'), current_setting('autovacuum_vacuum_insert_scale_factor')
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname <> 'schemaversions'"
  done
}

# run_arm <arm> <state> <round>: the load generator's JSON in $OUT/<arm>-<round>.json.
run_arm() {
  local arm="$1" state="$2" round="$3" sampler=""
  if [[ "$arm" == empty ]]; then system "$state" stop 2>/dev/null || true; rm -rf "$state"; fi
  system "$state" start
  if [[ "$arm" == big ]]; then
    table_settings >"$OUT/table-settings.txt"
    ( while true; do sample_tables; sleep 5; done ) >"$OUT/tables-$arm-$round.txt" 2>/dev/null &
    sampler=$!
  fi
  "${LG[@]}" --clients "$CLIENTS" --duration "$DURATION" --warmup "$WARMUP" --json >"$OUT/$arm-$round.json" 2>"$OUT/$arm-$round.log" ||
    { echo "the load generator failed ($arm, round $round): see $OUT/$arm-$round.log" >&2; tail -5 "$OUT/$arm-$round.log" >&2; }
  if [[ -n "$sampler" ]]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
  jq -r --arg arm "$arm" --arg round "$round" \
    '"  round \($round) \($arm):\t\(.orders_per_s | floor) orders/s  p50 \(.latency_ms.p50_ms) ms  p99 \(.latency_ms.p99_ms) ms  errors \(.errors)  conservation \(.conservation.ok)"' \
    "$OUT/$arm-$round.json" 2>/dev/null || true
  [[ "$arm" == big && "$round" == "$ROUNDS" && "$STEPS" == *" recovery "* ]] && recovery_scans after-load >/dev/null
  system "$state" stop
}

if [[ "$STEPS" == *" throughput "* ]]; then
  echo "== throughput at $CLIENTS clients: the $LABEL-order database vs an empty one ($ROUNDS rounds, $WARMUP warm-up + $DURATION each)"
  system "$BIG_STATE" stop
  for round in $(seq 1 "$ROUNDS"); do
    if (( round % 2 == 1 )); then run_arm big "$BIG_STATE" "$round"; run_arm empty "$EMPTY_STATE" "$round"
    else run_arm empty "$EMPTY_STATE" "$round"; run_arm big "$BIG_STATE" "$round"; fi
  done
  if [[ "$STEPS" == *" recovery "* ]]; then
    echo "== the recovery worker's scans right after the last big run (before its dead index entries are vacuumed)"
    awk -F'\t' '$1 == "after-load" { printf "  %-70s scans %6d, in all %6d buffers %8.2f ms  (%d PENDING, table %d pages)\n", $2, $4, $3, $5, $6, $7 }' "$OUT/recovery.tsv"
  fi
  system "$BIG_STATE" start
fi

# ---------------------------------------------------------------------------------------------------------------- JSON
python3 - "$OUT" "$N" "$LABEL" "$ROUNDS" "$CLIENTS" "${LOADED_MS:-0}" "$BIG_STATE" "$PGDATA" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import glob, json, os, sys
from collections import defaultdict
out, n, label, rounds, clients, loaded_ms, state, pgdata, loadavg, git = sys.argv[1:]
n, rounds, clients = int(n), int(rounds), int(clients)
note = f"{n:,} orders; load average {loadavg} at the end (2 cores shared)"

def rows(path):
    return [l.rstrip("\n").split(sep) for l in open(path)] if os.path.exists(path) else []
sep = "|"
sizes = [dict(database=r[0], table=r[1], rows=int(r[2]), heap_bytes=int(r[3]), index_bytes=int(r[4]), total_bytes=int(r[5]), indexes=int(r[6]))
         for r in rows(f"{out}/sizes.txt")]
index_sizes = {r[0]: int(r[1]) for r in rows(f"{out}/index-sizes.txt")}
statuses = {r.split()[0]: int(r.split()[1]) for r in open(f"{out}/statuses.txt")} if os.path.exists(f"{out}/statuses.txt") else {}
sep = "\t"
queries = [dict(label=r[0], series=label, n=int(r[1]), p50_ms=float(r[2]), p99_ms=float(r[3]), max_ms=float(r[4]))
           for r in rows(f"{out}/queries.tsv")]
recovery = [dict(when=r[0], statement=r[1], shared_buffers=int(r[2]), scan_shared_buffers=int(r[3]), execution_ms=float(r[4]),
                 pending=int(r[5]), orders_pages=int(r[6]))
            for r in rows(f"{out}/recovery.tsv")]

arms = []
for arm, arm_label in (("big", f"{label} orders"), ("empty", "empty")):
    runs = []
    for r in range(1, rounds + 1):
        p = f"{out}/{arm}-{r}.json"
        if os.path.exists(p) and os.path.getsize(p) > 0:
            j = json.load(open(p))
            runs.append(dict(round=r, orders_per_s=j["orders_per_s"], p50_ms=j["latency_ms"]["p50_ms"], p99_ms=j["latency_ms"]["p99_ms"],
                             errors=j["errors"], conservation_ok=j["conservation"]["ok"]))
    if runs:
        mean = lambda k: round(sum(x[k] for x in runs) / len(runs), 2)
        arms.append(dict(label=arm_label, arm=arm, orders_per_s=mean("orders_per_s"), p50_ms=mean("p50_ms"), p99_ms=mean("p99_ms"), rounds=runs))
ratio = None
if len(arms) == 2 and arms[1]["orders_per_s"] > 0:
    ratio = round(arms[0]["orders_per_s"] / arms[1]["orders_per_s"], 3)

# Dead tuples and inserts per second per table over the big arm's sampled window (first and last sample of each round),
# and how long that load takes to reach autovacuum's trigger with the defaults and with the table's settings.
settings = {}
sep = "|"
for r in rows(f"{out}/table-settings.txt"):
    settings[(r[0], r[1])] = dict(reltuples=max(int(r[2]), 0), threshold=float(r[3]), scale=float(r[4]), ins_threshold=float(r[5]),
                                  ins_scale=float(r[6]), default_threshold=float(r[7]), default_scale=float(r[8]),
                                  default_ins_threshold=float(r[9]), default_ins_scale=float(r[10]))
vacuum = []
for path in sorted(glob.glob(f"{out}/tables-big-*.txt")):
    series = defaultdict(list)
    for r in rows(path):
        if len(r) == 12: series[(r[0], r[1])].append(r)
    for key, s in sorted(series.items()):
        if len(s) < 2: continue
        a, b = s[0], s[-1]
        dt = float(b[11]) - float(a[11])
        if dt <= 0: continue
        dead_rate = max(int(b[3]) - int(a[3]), 0) / dt
        upd_rate = (int(b[5]) - int(a[5])) / dt
        del_rate = (int(b[7]) - int(a[7])) / dt
        ins_rate = (int(b[4]) - int(a[4])) / dt
        hot = (int(b[6]) - int(a[6])) / dt
        st = settings.get(key)
        entry = dict(database=key[0], table=key[1], window_s=round(dt, 1), live=int(b[2]), dead_at_end=int(b[3]),
                     dead_per_s=round(dead_rate, 1), updates_per_s=round(upd_rate, 1), hot_updates_per_s=round(hot, 1),
                     deletes_per_s=round(del_rate, 1), inserts_per_s=round(ins_rate, 1),
                     autovacuums_in_window=int(b[9]) - int(a[9]), autoanalyzes_in_window=int(b[10]) - int(a[10]), file=os.path.basename(path))
        if st:
            # Dead tuples come from updates that are not HOT-pruned and deletes: the rate they arrive at under this load.
            arrive = max(upd_rate + del_rate, 1e-9)
            def secs(th, sc, rate): return round((th + sc * st["reltuples"]) / rate, 1) if rate > 0 else None
            entry.update(reltuples=st["reltuples"],
                         vacuum_trigger_default=round(st["default_threshold"] + st["default_scale"] * st["reltuples"]),
                         vacuum_trigger_table=round(st["threshold"] + st["scale"] * st["reltuples"]),
                         s_to_vacuum_default=secs(st["default_threshold"], st["default_scale"], arrive) if upd_rate + del_rate > 0 else None,
                         s_to_vacuum_table=secs(st["threshold"], st["scale"], arrive) if upd_rate + del_rate > 0 else None,
                         s_to_insert_vacuum_default=secs(st["default_ins_threshold"], st["default_ins_scale"], ins_rate),
                         s_to_insert_vacuum_table=secs(st["ins_threshold"], st["ins_scale"], ins_rate))
        vacuum.append(entry)
# Per order placed (the orders table's inserts): dead versions and inserts each table gets, and how many orders the
# load places before autovacuum triggers, with the defaults and with the table's settings. Independent of the machine's speed.
order_rate = {e["file"]: e["inserts_per_s"] for e in vacuum if e["database"] == "orders" and e["table"] == "orders"}
for e in vacuum:
    rate = order_rate.get(e["file"])
    if not rate or "reltuples" not in e: continue
    dead_per_order = (e["updates_per_s"] + e["deletes_per_s"]) / rate
    ins_per_order = e["inserts_per_s"] / rate
    e.update(dead_per_order=round(dead_per_order, 3), inserts_per_order=round(ins_per_order, 3))
    if dead_per_order > 0:
        e.update(orders_to_vacuum_default=round(e["vacuum_trigger_default"] / dead_per_order),
                 orders_to_vacuum_table=round(e["vacuum_trigger_table"] / dead_per_order))

common = dict(date=os.path.basename(out)[:16], git=git, note=note)
everything = dict(common, orders=n, loaded_ms=int(loaded_ms or 0), state_folder=state, pgdata=pgdata, statuses=statuses, sizes=sizes,
                  orders_index_bytes=index_sizes, queries=queries, recovery=recovery, throughput=dict(clients=clients, arms=arms, ratio=ratio),
                  autovacuum=vacuum, machine_loadavg_end=loadavg)
json.dump(everything, open(f"{out}/ten-million.json", "w"), indent=1)
if arms:
    json.dump(dict(common, kind="arms", title=f"Orders/s at {clients} clients: {label} orders vs an empty database", clients=clients, arms=arms,
                   ratios=[dict(label=f"{label} / empty", value=ratio, target=0.9)] if ratio is not None else []),
              open(f"{out}/ten-million-throughput.json", "w"), indent=1)
if queries:
    json.dump(dict(common, kind="latencies", title=f"List queries and the timeline on {label} orders", target_p99_ms=20, items=queries),
              open(f"{out}/ten-million-queries.json", "w"), indent=1)

# summary.md: the tables of docs/benchmarks.md, "Ten million orders", for this run.
md = [f"### {label} orders ({everything['date']}, `{git}`; load average {loadavg} at the end)", ""]
if loaded_ms and int(loaded_ms) > 0: md += [f"Loaded in {int(loaded_ms) / 1000:.0f} s. " + ", ".join(f"{v:,} {k}" for k, v in statuses.items()) + ".", ""]
if sizes:
    md += ["| table | rows | heap MB | indexes MB | total MB |", "|---|---:|---:|---:|---:|"]
    md += [f"| {x['database']}.{x['table']} | {x['rows']:,} | {x['heap_bytes'] / 2**20:,.0f} | {x['index_bytes'] / 2**20:,.0f} | {x['total_bytes'] / 2**20:,.0f} |"
           for x in sizes if x["total_bytes"] > 2**20]
    md.append("")
if queries:
    md += ["| GET /api/v1/orders… (limit 50) | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|"]
    md += [f"| {q['label']} | {q['p50_ms']:.1f} | {q['p99_ms']:.1f} | {q['max_ms']:.1f} |" for q in queries]
    md.append("")
if recovery:
    md += ["| recovery worker statement | when | scans' buffers | statement's buffers | ms | PENDING | orders pages |", "|---|---|---:|---:|---:|---:|---:|"]
    md += [f"| {r['statement']} | {r['when']} | {r['scan_shared_buffers']:,} | {r['shared_buffers']:,} | {r['execution_ms']:.2f} | {r['pending']:,} | {r['orders_pages']:,} |" for r in recovery]
    md.append("")
if arms:
    md += ["| arm | orders/s | p50 ms | p99 ms | rounds (orders/s) |", "|---|---:|---:|---:|---|"]
    md += [f"| {a['label']} | {a['orders_per_s']:.0f} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} | {', '.join('%.0f' % x['orders_per_s'] for x in a['rounds'])} |" for a in arms]
    md += ["", f"Ratio {label} / empty: **{ratio}** (target ≥ 0.9).", ""]
if vacuum:
    md += ["| table (big arm, round) | inserts/order | dead versions/order | HOT share of updates | orders until autovacuum: defaults → table |", "|---|---:|---:|---:|---|"]
    for v in vacuum:
        if "dead_per_order" not in v or (v["dead_per_order"] == 0 and v["inserts_per_order"] == 0): continue
        hot = f"{v['hot_updates_per_s'] / v['updates_per_s']:.0%}" if v["updates_per_s"] > 0 else "–"
        to = f"{v['orders_to_vacuum_default']:,} → {v['orders_to_vacuum_table']:,}" if "orders_to_vacuum_default" in v else "–"
        md.append(f"| {v['database']}.{v['table']} ({v['file'][11:-4]}) | {v['inserts_per_order']} | {v['dead_per_order']} | {hot} | {to} |")
    md.append("")
open(f"{out}/summary.md", "w").write("\n".join(md))

if arms:
    print("== throughput: " + " vs ".join("%s %.0f orders/s (p99 %.0f ms)" % (a["label"], a["orders_per_s"], a["p99_ms"]) for a in arms)
          + (f"; ratio {ratio} (target >= 0.9)" if ratio is not None else ""))
if vacuum:
    print("== autovacuum under this load (big arm): dead tuples/s, and seconds of it until autovacuum triggers: defaults -> table settings")
    for v in vacuum:
        if v["dead_per_s"] == 0 and v["inserts_per_s"] == 0: continue
        print(f"  {v['database']}.{v['table']:<18} ins/s {v['inserts_per_s']:>8.1f} upd/s {v['updates_per_s']:>8.1f} (HOT {v['hot_updates_per_s']:>8.1f}) "
              f"del/s {v['deletes_per_s']:>7.1f} dead {v['dead_at_end']:>8} autovacuums {v['autovacuums_in_window']}"
              + (f" | vacuum after {v.get('s_to_vacuum_default')} s -> {v.get('s_to_vacuum_table')} s; insert vacuum after "
                 f"{v.get('s_to_insert_vacuum_default')} s -> {v.get('s_to_insert_vacuum_table')} s" if "reltuples" in v else "")
              + (f" | dead/order {v['dead_per_order']}: vacuum after {v['orders_to_vacuum_default']:,} orders -> {v['orders_to_vacuum_table']:,}"
                 if "orders_to_vacuum_default" in v else ""))
PY
echo "results in $OUT"
