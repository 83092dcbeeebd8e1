#!/usr/bin/env bash
# Sitting 19: where PostgreSQL's time goes with publishing off (0) or on (1). A fresh bench system with
# pg_stat_statements, 15 s of 64-client load, then the statistics reset and 20 s more; prints the top statements of all
# three databases (calls, total ms, ms per call, rows, WAL records and bytes), the orders tables' row counters and pg_stat_wal.
#   docs/benchmarks/sitting-19/pg-stat-statements.sh 1
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"; cd "$ROOT"; source bench/lib.sh
export OMS_EVENTS="$1" OMS_PG_STAT_STATEMENTS=1 OMS_SKIP_BUILD=1
start_fresh_system
"${LG[@]}" --clients 64 --duration 15s --warmup 0s >/dev/null 2>&1
PSQL=(/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p 25432 -U postgres -qAt -F'|')
"${PSQL[@]}" -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
"${PSQL[@]}" -d orders -c "select pg_stat_reset()" >/dev/null
"${LG[@]}" --clients 64 --duration 20s --warmup 0s | grep orders/s
"${PSQL[@]}" -d postgres -c "SELECT d.datname, calls, round(total_exec_time::numeric,0) ms, round((total_exec_time/calls)::numeric,3) per, rows, wal_records, wal_bytes, left(regexp_replace(query,'\s+',' ','g'),110) FROM pg_stat_statements s JOIN pg_database d ON d.oid=s.dbid ORDER BY total_exec_time DESC LIMIT 25"
"${PSQL[@]}" -d orders -c "select relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, autovacuum_count from pg_stat_user_tables order by relname"
"${PSQL[@]}" -d postgres -c "select * from pg_stat_wal"
