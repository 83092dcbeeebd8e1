#!/usr/bin/env bash
# One benchmark sitting: starts the system (bench/run-system.sh), then for each client count runs the pgbench
# ceiling and the load generator back to back (so each ratio compares numbers taken minutes apart at most),
# records the services' RSS and PostgreSQL commits per order, writes everything to bench/results/<time>/
# with a summary table (summary.md) and run.json (the rows, for the charts: tools/Oms.BenchCharts), then stops the system.
#
#   bench/run.sh                         # clients 1 16 64 256, 30 s each after 5 s warmup
#   OMS_BENCH_CLIENTS="64" OMS_BENCH_DURATION=20s bench/run.sh
#
# Environment: OMS_BENCH_CLIENTS, OMS_BENCH_DURATION (load generator, e.g. 30s), OMS_BENCH_WARMUP (5s),
# OMS_CEILING_DURATION (seconds, 30), OMS_BENCH_MIX (load generator --mix), OMS_BENCH_LINES (--lines, lines per
# order, 1), OMS_KEEP_RUNNING=1 to leave
# the system up, plus everything bench/run-system.sh reads.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENTS=(${OMS_BENCH_CLIENTS:-1 16 64 256})
DURATION="${OMS_BENCH_DURATION:-30s}"
WARMUP="${OMS_BENCH_WARMUP:-5s}"
MIX="${OMS_BENCH_MIX:-confirmed=100}"
LINES="${OMS_BENCH_LINES:-1}"
export OMS_CEILING_DURATION="${OMS_CEILING_DURATION:-30}"
PGPORT="${OMS_PG_PORT:-25432}"
STATE="${OMS_BENCH_DIR:-$ROOT/.data/bench}"
OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1)"
[[ -x "$PGBIN/psql" ]] || PGBIN="$(dirname "$(command -v psql)")"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "dotnet: $(dotnet --version)"
  echo "postgres: $("$PGBIN/postgres" --version)"
  echo "git: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' (dirty)')"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "tracing: $([[ "${OMS_TRACING:-1}" == 1 ]] && echo "on, sample ratio ${OMS_TRACE_SAMPLE_RATIO:-0.1}, OTLP/HTTP to bench/Oms.TraceSink" || echo off)"
} | tee "$OUT/machine.txt"

(cd "$ROOT" && dotnet build -c Release --nologo -v q bench/Oms.LoadGen >/dev/null)
"$ROOT/bench/run-system.sh" start | tee "$OUT/system.txt"
trap '[[ "${OMS_KEEP_RUNNING:-0}" == 1 ]] || "$ROOT/bench/run-system.sh" stop >/dev/null' EXIT

commits() {
  "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -qAt -c \
    "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database WHERE datname IN ('orders', 'inventory', 'payments')"
}

rss() {
  local s
  for s in Orders.Api Inventory.Api Payments.Api; do
    printf '%s %s\n' "$s" "$(ps -o rss= -p "$(cat "$STATE/$s.pid")" | tr -d ' ')"
  done
}

for c in "${CLIENTS[@]}"; do
  echo "== $c clients: ceiling"
  "$ROOT/bench/ceiling.sh" "$c" | tee "$OUT/ceiling-$c.txt"
  echo "== $c clients: load generator ($DURATION after $WARMUP warmup)"
  before="$(commits)"
  set +e
  dotnet "$ROOT/bench/Oms.LoadGen/bin/Release/net10.0/Oms.LoadGen.dll" --orders-url "http://127.0.0.1:${OMS_ORDERS_PORT:-18001}" \
    --inventory-url "http://127.0.0.1:${OMS_INVENTORY_PORT:-18002}" --clients "$c" --duration "$DURATION" --warmup "$WARMUP" \
    --mix "$MIX" --lines "$LINES" --json >"$OUT/loadgen-$c.json" 2>"$OUT/loadgen-$c.progress"
  status=$?
  set -e
  after="$(commits)"
  rss >"$OUT/rss-$c.txt"
  echo "$before $after" >"$OUT/commits-$c.txt"
  echo "exit $status" >>"$OUT/loadgen-$c.progress"
  tail -3 "$OUT/loadgen-$c.progress"
  cat "$OUT/rss-$c.txt"
done

# What the services exported to the stand-in collector over the whole sitting (empty with OMS_TRACING=0).
"$ROOT/bench/run-system.sh" status | tee "$OUT/system-end.txt"

python3 - "$OUT" "${CLIENTS[@]}" <<'PY' | tee "$OUT/summary.md"
import json, re, sys
out, clients = sys.argv[1], sys.argv[2:]
rows = []
print("| clients | orders/s | p50 ms | p90 ms | p99 ms | max ms | errors | ceiling orders/s | ratio | commits/order | RSS MB orders / inventory / payments |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for c in clients:
    lg = json.load(open(f"{out}/loadgen-{c}.json"))
    ceil = float(re.search(r"orders/s\s+([0-9.]+)", open(f"{out}/ceiling-{c}.txt").read()).group(1))
    before, after = map(int, open(f"{out}/commits-{c}.txt").read().split())
    rss = [int(l.split()[1]) / 1024 for l in open(f"{out}/rss-{c}.txt") if l.strip()]
    l = lg["latency_ms"]
    # Seeding (one commit per SKU) and the final stock reads (one per SKU) are not the orders' work.
    skus = lg["conservation"]["skus_checked"]
    ok = "" if lg["conservation"]["ok"] else " NOT CONSERVED"
    print(f"| {c} | {lg['orders_per_s']:.0f} | {l['p50_ms']:.2f} | {l['p90_ms']:.2f} | {l['p99_ms']:.2f} | {l['max_ms']:.1f} | {lg['errors']}{ok} | "
          f"{ceil:.0f} | {lg['orders_per_s'] / ceil:.2f} | {(after - before - 2 * skus) / max(lg['orders_total'], 1):.2f} | "
          f"{' / '.join(f'{r:.0f}' for r in rss)} |")
    rows.append({"clients": int(c), "orders_per_s": lg["orders_per_s"], "p50_ms": l["p50_ms"], "p90_ms": l["p90_ms"], "p99_ms": l["p99_ms"],
                 "max_ms": l["max_ms"], "errors": lg["errors"], "conserved": lg["conservation"]["ok"], "ceiling_orders_per_s": ceil,
                 "commits_per_order": round((after - before - 2 * skus) / max(lg["orders_total"], 1), 2), "rss_mb": [round(r) for r in rss]})
# For tools/Oms.BenchCharts (kind "clients-sweep": its README has the shape).
machine = dict(l.split(": ", 1) for l in open(f"{out}/machine.txt").read().splitlines() if ": " in l)
json.dump({"kind": "clients-sweep", "title": f"Orders/s and latency by clients, the system beside the ceiling ({machine.get('date', '')})",
           "note": f"git {machine.get('git', '?')}, {machine.get('nproc', '?')} cores, loadavg at start {machine.get('loadavg at start', '?')}",
           "rows": rows}, open(f"{out}/run.json", "w"), indent=1)
PY
echo "results in $OUT"
# commits/order: PostgreSQL transactions (pg_stat_database.xact_commit of the three databases) per order sent,
# seeding and the final stock reads excluded; the recovery worker's poll (one a second) and health checks remain.
