#!/usr/bin/env bash
# Where the CPU goes under load, as reported in docs/benchmarks.md ("Where the CPU goes"): starts the system
# (bench/run-system.sh, fresh data, Release builds already there, perf maps on), drives it with the load generator,
# and in the middle of the run
#   1. `perf record -a -g` for 10 s: each process's share of all samples, user and kernel, and the order
#      service's top symbols;
#   2. `perf trace -s` of the order service for 4 s: its system calls per order (orders counted in its database;
#      perf trace slows the process down, so treat these as ± 20 %).
# Writes bench/results/profile-<time>/ and stops the system. Needs perf.
#
#   bench/profile.sh                       # 64 clients, profiled from 45 s into the run
#   OMS_PROFILE_CLIENTS=16 OMS_PROFILE_AT=20 bench/profile.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }
CLIENTS="${OMS_PROFILE_CLIENTS:-64}"
AT="${OMS_PROFILE_AT:-45}"   # the JIT is still busy 20-30 s into a run from a cold start
STATE="${OMS_BENCH_DIR:-$ROOT/.data/bench}"
PGPORT="${OMS_PG_PORT:-25432}"
OUT="$ROOT/bench/results/profile-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
source bench/lib.sh
DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 start_fresh_system
pid_of() { cat "$STATE/$1.pid"; }
ORDERS="$(pid_of Orders.Api)"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV | head -1)"
[[ -x "$PGBIN/psql" ]] || PGBIN="$(dirname "$(command -v psql)")"
orders_count() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -d orders -qAt -c "SELECT count(*) FROM orders"; }

"${LG[@]}" --clients "$CLIENTS" --duration "$((AT + 20))s" --warmup 2s >"$OUT/loadgen.txt" 2>&1 &
LOADGEN=$!
sleep "$AT"
perf record -F 1999 -a -g -o "$OUT/perf.data" -- sleep 10 >/dev/null 2>&1
before="$(orders_count)"
perf trace -s -p "$ORDERS" -o "$OUT/trace-orders.txt" -- sleep 4 >/dev/null 2>&1 || true
after="$(orders_count)"
wait "$LOADGEN" || true

# 1. Samples per process, user and kernel.
perf script -i "$OUT/perf.data" -G -F pid,ip,sym,dso 2>/dev/null >"$OUT/samples.txt"
{
  for s in Orders.Api Inventory.Api Payments.Api Oms.TraceSink; do [[ -f "$STATE/$s.pid" ]] && echo "$(pid_of "$s") $s"; done
  echo "$LOADGEN Oms.LoadGen"
  for p in $(pgrep -u postgres postgres); do echo "$p postgres"; done
} >"$OUT/pids.txt"
echo "== share of all CPU samples over 10 s at $CLIENTS clients, $AT s into the run (user / kernel)"
awk 'NR == FNR {name[$1] = $2; next}
     {n = ($1 in name) ? name[$1] : "other"; k = ($0 ~ /kernel\.kallsyms/) ? "kernel" : "user"; c[n, k]++; t++}
     END {for (key in c) {split(key, a, SUBSEP); s[a[1]] += c[key]}
          for (p in s) printf "%-14s %5.1f %%  (user %5.1f %%, kernel %5.1f %%)\n", p, 100 * s[p] / t, 100 * c[p, "user"] / t, 100 * c[p, "kernel"] / t}' \
  "$OUT/pids.txt" "$OUT/samples.txt" | sort -k2 -rn | tee "$OUT/shares.txt"

# 2. The order service's top symbols, as a share of its own samples.
echo "== the order service's top symbols (share of its samples)"
awk -v p="$ORDERS" '$1 == p {$1 = ""; $2 = ""; sub(/^ +/, ""); sub(/\[Optimized(Tier1)?\]/, ""); c[$0]++; t++}
     END {for (s in c) printf "%5.1f %%  %s\n", 100 * c[s] / t, substr(s, 1, 150)}' "$OUT/samples.txt" \
  | sort -rn | awk 'NR <= 25' | tee "$OUT/orders-symbols.txt"

# The scheduler's part of it: wake-ups, context switches, preemption on the way back to user mode.
awk -v p="$ORDERS" '$1 == p {t++; if ($0 ~ /(_raw_spin_unlock_irqrestore|finish_task_switch|irqentry_exit_to_user_mode|__schedule|try_to_wake_up|enqueue_task|dequeue_task|pick_next_task|update_curr)/) n++}
     END {printf "scheduler symbols (wake-ups, context switches): %.1f %% of the order service'"'"'s samples\n", 100 * n / t}' \
  "$OUT/samples.txt" | tee -a "$OUT/orders-symbols.txt"
awk -v p="$ORDERS" '$1 == p {t++; if ($0 ~ /(OpenTelemetry|System\.Diagnostics\.Activity|DiagnosticListener|DiagnosticsHandler|MetricsHandler|NpgsqlActivitySource|System\.Diagnostics\.Metrics)/) n++}
     END {printf "telemetry symbols (metrics, activities, propagation, OTLP export): %.1f %% of the order service'"'"'s samples\n", 100 * n / t}' \
  "$OUT/samples.txt" | tee -a "$OUT/orders-symbols.txt"

# 3. System calls of the order service per order.
echo "== the order service's system calls per order ($((after - before)) orders while traced)"
awk -v n="$((after - before))" '/^ *[a-z_0-9]+ +[0-9]+ +[0-9]+ / {c[$1] += $2; e[$1] += $3}
     END {if (n > 0) for (k in c) if (c[k] / n >= 0.05) printf "%-14s %5.2f per order (%.2f returned an error, e.g. EAGAIN)\n", k, c[k] / n, e[k] / n}' \
  "$OUT/trace-orders.txt" | sort -k2 -rn | tee "$OUT/orders-syscalls.txt"
grep -E "^(orders/s|latency)" "$OUT/loadgen.txt"
echo "results in $OUT"
