#!/usr/bin/env bash
# Loads orders, their lines and their timelines into a freshly migrated orders database with COPY, and optionally the
# SKUs into the inventory database. Used by bench/console.sh (1 M orders) and bench/ten-million.sh (up to 10 M).
#
#   OMS_PG_PORT=25462 OMS_LOAD_ORDERS=1000000 bench/load-orders.sh
#
# Every order is a pure function of its number g (1 = the newest) and the load's start time, so each table is its own
# COPY FROM STDIN fed by a COPY TO STDOUT of a generate_series query (the timeline's reads the loaded orders):
#   order_id     md5 of g (random-looking, like the service's random ids)
#   created_at   the newest OMS_LOAD_RECENT of the orders over the last hour, the rest spread evenly over OMS_LOAD_SPAN before
#   status       from a multiplicative hash of g: ~4 % FAILED (five reasons), ~3 % CANCELLED, the rest CONFIRMED; exactly
#                OMS_LOAD_PENDING PENDING, the newest ones (OMS_LOAD_PENDING_AT=newest: in flight) or one every n/pending
#                orders (spread: stuck ones, each on its own heap page) with a lease far in the future, so the recovery
#                worker leaves them alone
#   lines        OMS_LOAD_MULTI_LINE of the orders (per mille) have 2-4 lines on distinct SKUs (orders.lines + order_lines);
#                the rest one line. SKUs SKU-0000… of skewed popularity (the first SKU gets ~1/sqrt(OMS_LOAD_SKUS) of the orders)
#   timeline     the events its status implies (1, 2, 4 or 6), as OrderStore writes them (read from the loaded orders)
# The tables must be empty (a fresh database): each is TRUNCATEd and loaded with COPY FREEZE in one transaction (rows
# written frozen and all-visible, as an old table's are after vacuum), with its indexes dropped during the load and built
# afterwards from their own definitions (pg_get_indexdef), which is far cheaper than maintaining a random-key B-tree per
# row. Then VACUUM ANALYZE. Prints the time each step took and the total as "loaded in N ms".
#
# Settings (environment): OMS_PG_PORT (required), OMS_LOAD_ORDERS (required), OMS_LOAD_SKUS (default 1000),
# OMS_LOAD_PENDING (default 20), OMS_LOAD_PENDING_AT (newest|spread, default newest), OMS_LOAD_RECENT (fraction in the
# last hour, default 0.05), OMS_LOAD_SPAN (default '23 hours'), OMS_LOAD_MULTI_LINE (per mille, default 0),
# OMS_LOAD_INVENTORY=1 (also load the SKUs into inventory.items with OMS_LOAD_STOCK each, default 1000000).
set -euo pipefail

: "${OMS_PG_PORT:?}" "${OMS_LOAD_ORDERS:?}"
N="$OMS_LOAD_ORDERS"
SKUS="${OMS_LOAD_SKUS:-1000}"
PENDING="${OMS_LOAD_PENDING:-20}"
PENDING_AT="${OMS_LOAD_PENDING_AT:-newest}"
RECENT="${OMS_LOAD_RECENT:-0.05}"
SPAN="${OMS_LOAD_SPAN:-23 hours}"
MULTI="${OMS_LOAD_MULTI_LINE:-0}"
STOCK="${OMS_LOAD_STOCK:-1000000}"
# SKU-0000 for 1,000 SKUs (as before), SKU-00000 for 100,000.
WIDTH=$(( ${#SKUS} - 1 > 4 ? ${#SKUS} - 1 : 4 ))
case "$PENDING_AT" in
  newest) PENDING_EVERY=0 ;;
  spread) PENDING_EVERY=$(( PENDING > 0 ? N / PENDING : 0 )) ;;
  *) echo "OMS_LOAD_PENDING_AT: newest or spread" >&2; exit 2 ;;
esac
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1)"
PGBIN="${PGBIN:-$(dirname "$(command -v psql)")}"
psql_db() { local db="$1"; shift; "$PGBIN/psql" -X -h 127.0.0.1 -p "$OMS_PG_PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 -qAt "$@"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
T0="$(psql_db orders -c "SELECT now()")"
VARS=(-v n="$N" -v skus="$SKUS" -v width="$WIDTH" -v pending="$PENDING" -v pending_every="$PENDING_EVERY"
      -v recent="$RECENT" -v span="$SPAN" -v multi="$MULTI" -v t0="$T0")

# One row per order with everything the three tables need. The SKU of line j is the order's skewed base SKU moved by
# j * 7919 (a prime not dividing the SKU count), so an order's lines are distinct SKUs.
BASE="
WITH base AS (
  SELECT g, md5('order-' || g)::uuid AS order_id, h, lines, status, created_at,
         CASE status WHEN 'PENDING' THEN created_at WHEN 'CANCELLED' THEN created_at + interval '1.02 seconds'
                     ELSE created_at + interval '0.2 seconds' END AS updated_at,
         CASE status WHEN 'PENDING' THEN 1 WHEN 'FAILED' THEN 2 WHEN 'CONFIRMED' THEN 4 ELSE 6 END AS last_sequence,
         CASE status WHEN 'FAILED' THEN (ARRAY['INSUFFICIENT_STOCK', 'PAYMENT_DECLINED', 'UNKNOWN_ITEM', 'INVENTORY_UNAVAILABLE',
                                               'PAYMENT_UNAVAILABLE'])[(1 + h % 5)::int] END AS failure_reason,
         (10 + g % 90)::numeric(12,2) AS price, base_sku
  FROM generate_series(1, :n) AS g,
       LATERAL (SELECT (g::bigint * 2654435761) % 1000 AS h,
                       CASE WHEN (abs(hashint8extended(g, 7)) % 1000) < :multi THEN 2 + (g % 3)::int ELSE 1 END AS lines,
                       floor(:skus * power((abs(hashint8extended(g, 11)) % 1000000) / 1e6, 2))::bigint AS base_sku,
                       CASE WHEN g <= :n * :recent THEN timestamptz :'t0' - interval '2 seconds' - (g / (:n * :recent))::float8 * interval '58 minutes'
                            ELSE timestamptz :'t0' - interval '1 hour' - ((g - :n * :recent) / (:n * (1 - :recent)))::float8 * interval :'span'
                       END AS created_at) AS x,
       LATERAL (SELECT CASE WHEN (:pending_every = 0 AND g <= :pending) OR (:pending_every > 0 AND g % :pending_every = 0 AND g / :pending_every <= :pending)
                            THEN 'PENDING' WHEN h < 40 THEN 'FAILED' WHEN h < 70 THEN 'CANCELLED' ELSE 'CONFIRMED' END AS status) AS y
),
line AS (
  SELECT b.*, j, 'SKU-' || lpad(((base_sku + j * 7919) % :skus)::text, :width, '0') AS sku, 1 + ((g + j) % 5)::int AS quantity
  FROM base b CROSS JOIN LATERAL generate_series(0, b.lines - 1) AS j
),
-- One-line orders (most) without a subquery: the line is the base SKU.
ord AS (
  SELECT b.*, 'SKU-' || lpad(base_sku::text, :width, '0') AS first_sku,
         CASE WHEN lines = 1 THEN 1 + (g % 5)::int
              ELSE (SELECT sum(1 + (g + j) % 5)::int FROM generate_series(0, lines - 1) AS j) END AS quantity,
         CASE WHEN lines > 1 THEN (SELECT jsonb_agg(jsonb_build_object('item_sku', 'SKU-' || lpad(((base_sku + j * 7919) % :skus)::text, :width, '0'),
                                                                   'quantity', 1 + (g + j) % 5) ORDER BY j)
                                   FROM generate_series(0, lines - 1) AS j) END AS items
  FROM base b
)"

# load_table <table> <columns> <select over base/line/ord>
load_table() {
  local table="$1" columns="$2" select="$3" start
  start=$(date +%s%N)
  printf 'COPY (%s\n%s) TO STDOUT;\n' "$BASE" "$select" |
    psql_db orders "${VARS[@]}" -f - |
    psql_db orders -c "BEGIN" -c "TRUNCATE $table" -c "COPY $table ($columns) FROM STDIN (FREEZE)" -c "COMMIT"
  echo "  $table: $(psql_db orders -c "SELECT count(*) FROM $table") rows in $(ms_since "$start") ms"
}

load_start=$(date +%s%N)
echo "== $N orders ($PENDING PENDING, $PENDING_AT; $MULTI per mille multi-line; $SKUS SKUs) and their timelines, by COPY"
# The indexes go during the load and come back from their own definitions; constraints that own an index (primary
# keys, unique) likewise.
TABLES="'orders', 'order_lines', 'order_events'"
RESTORE="$(psql_db orders -c "
  SELECT CASE WHEN c.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
              ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) END || ';'
  FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u')
  WHERE i.indrelid::regclass::text IN ($TABLES) ORDER BY i.indrelid::regclass::text, c.oid IS NULL")"
psql_db orders -c "
  DO \$\$ DECLARE r record; BEGIN
    FOR r IN SELECT i.indrelid::regclass AS t, i.indexrelid::regclass AS ix, c.conname FROM pg_index i
             LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u')
             WHERE i.indrelid::regclass::text IN ($TABLES) LOOP
      IF r.conname IS NULL THEN EXECUTE format('DROP INDEX %s', r.ix);
      ELSE EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname); END IF;
    END LOOP; END \$\$"

load_table orders \
  "order_id, idempotency_key, item_sku, quantity, amount, status, failure_reason, in_request, lease_token, lease_until, attempts, created_at, updated_at, last_sequence, cancel_requested_at, lines" \
  "SELECT order_id, 'bench-' || g, CASE WHEN lines = 1 THEN first_sku END, quantity, quantity * price, status, failure_reason,
          false, md5('lease-' || g)::uuid, timestamptz :'t0' + interval '30 days', 1, created_at, updated_at, last_sequence,
          CASE status WHEN 'CANCELLED' THEN created_at + interval '1 second' END, items
   FROM ord"
load_table order_lines "order_id, item_sku, quantity, status, created_at" \
  "SELECT order_id, sku, quantity, status, created_at FROM line WHERE lines > 1"
# The timeline as the service writes it (OrderStore: one event per transition, the confirm's three at one time), from the
# loaded orders (a sequential read of them costs less than computing them again).
load_table order_events "event_id, order_id, sequence, type, occurred_at, data" \
  "SELECT gen_random_uuid(), o.order_id, e.sequence, e.type, e.occurred_at, e.data
   FROM orders o CROSS JOIN LATERAL (VALUES
       (1, 'order.created', o.created_at, jsonb_build_object('items', coalesce(o.lines, jsonb_build_array(jsonb_build_object(
           'item_sku', o.item_sku, 'quantity', o.quantity))), 'amount', o.amount)),
       (2, CASE o.status WHEN 'FAILED' THEN 'order.failed' ELSE 'order.stock_reserved' END, o.created_at + interval '0.2 seconds',
           CASE o.status WHEN 'FAILED' THEN jsonb_build_object('failure_reason', o.failure_reason) ELSE '{}' END),
       (3, 'order.payment_authorized', o.created_at + interval '0.2 seconds', jsonb_build_object('amount', o.amount)),
       (4, 'order.confirmed', o.created_at + interval '0.2 seconds', '{}'::jsonb),
       (5, 'order.cancel_requested', o.cancel_requested_at, '{\"reason\": \"customer changed their mind\"}'::jsonb),
       (6, 'order.cancelled', o.updated_at, '{}'::jsonb)
   ) AS e(sequence, type, occurred_at, data)
   WHERE e.sequence <= o.last_sequence"

start=$(date +%s%N)
psql_db orders -c "SET maintenance_work_mem = '1GB'" -c "$RESTORE"
echo "  indexes: $(psql_db orders -c "SELECT count(*) FROM pg_index WHERE indrelid::regclass::text IN ($TABLES)") built in $(ms_since "$start") ms"

if [[ "${OMS_LOAD_INVENTORY:-0}" == 1 ]]; then
  start=$(date +%s%N)
  psql_db inventory -v skus="$SKUS" -v width="$WIDTH" -v stock="$STOCK" -f - <<'SQL' | psql_db inventory -c "COPY items (sku, available) FROM STDIN"
COPY (SELECT 'SKU-' || lpad(s::text, :width, '0'), :stock FROM generate_series(0, :skus - 1) AS s) TO STDOUT;
SQL
  echo "  inventory items: $(psql_db inventory -c "SELECT count(*) FROM items") rows in $(ms_since "$start") ms"
  psql_db inventory -c "VACUUM ANALYZE items"
fi

start=$(date +%s%N)
psql_db orders -c "VACUUM ANALYZE orders" -c "VACUUM ANALYZE order_lines" -c "VACUUM ANALYZE order_events"
echo "  vacuum analyze: $(ms_since "$start") ms"
echo "loaded in $(ms_since "$load_start") ms"
