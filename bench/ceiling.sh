#!/usr/bin/env bash
# The PostgreSQL ceiling: pgbench running exactly one order's four transactions (bench/pgbench/order.sql)
# against the same PostgreSQL the services use (started by bench/run-system.sh), in a scratch database
# bench_ceiling holding copies of the three services' tables (their migrations applied as they are).
#
#   bench/ceiling.sh [clients...]        default: 1 16 64 256
#
# Environment: OMS_PG_PORT (25432), OMS_CEILING_DURATION seconds per client count (30),
# OMS_CEILING_SKUS (1024, the load generator's default --skus), OMS_CEILING_JSON=1 for one JSON line per run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGPORT="${OMS_PG_PORT:-25432}"
DURATION="${OMS_CEILING_DURATION:-30}"
SKUS="${OMS_CEILING_SKUS:-1024}"
CLIENTS=("$@")
[[ ${#CLIENTS[@]} == 0 ]] && CLIENTS=(1 16 64 256)

PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1)"
[[ -x "$PGBIN/pgbench" ]] || PGBIN="$(dirname "$(command -v pgbench)")"
export PGHOST="${OMS_PG_HOST:-127.0.0.1}" PGPORT PGUSER=postgres   # OMS_PG_HOST as in bench/run-system.sh
export PGOPTIONS="-c client_min_messages=warning"                   # no NOTICE for DROP DATABASE IF EXISTS
psql() { "$PGBIN/psql" -v ON_ERROR_STOP=1 -qAt "$@"; }

# A fresh scratch database with the real schemas of the three services.
psql -d postgres -c "DROP DATABASE IF EXISTS bench_ceiling" >/dev/null
psql -d postgres -c "CREATE DATABASE bench_ceiling" >/dev/null
for m in "$ROOT"/src/Orders.Api/Migrations/*.sql "$ROOT"/src/Inventory.Api/Migrations/*.sql "$ROOT"/src/Payments.Api/Migrations/*.sql; do
  psql -d bench_ceiling -f "$m" >/dev/null
done
psql -d bench_ceiling -c "INSERT INTO items (sku, available) SELECT 'ceil-' || i, 1000000000 FROM generate_series(1, $SKUS) i" >/dev/null
psql -d bench_ceiling -c "VACUUM ANALYZE" >/dev/null

for c in "${CLIENTS[@]}"; do
  j=$(( c < $(nproc) ? c : $(nproc) ))
  out="$("$PGBIN/pgbench" -n -M prepared -c "$c" -j "$j" -T "$DURATION" -D skus="$SKUS" -f "$ROOT/bench/pgbench/order.sql" bench_ceiling 2>&1)" \
    || { echo "$out" >&2; exit 1; }
  tps="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")"
  lat="$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")"
  failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")"
  if [[ "${OMS_CEILING_JSON:-0}" == 1 ]]; then
    echo "{\"clients\":$c,\"orders_per_s\":$tps,\"latency_avg_ms\":$lat,\"failed\":${failed:-0}}"
  else
    printf 'ceiling  clients %4d  orders/s %9.1f  latency avg %7.3f ms  failed %s\n' "$c" "$tps" "$lat" "${failed:-0}"
  fi
done
