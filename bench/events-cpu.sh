#!/usr/bin/env bash
# Where the CPU goes with publishing off or on (docs/benchmarks.md, sitting 15): a fresh bench system, 25 s of warmup
# load, then 20 s of measured load at 64 clients with `pidstat` sampling the services, PostgreSQL and RabbitMQ over 12 s.
#   bench/events-cpu.sh 0    # publishing off
#   bench/events-cpu.sh 1    # publishing on (no consumer: no queue is bound)
# Prints the load generator's orders/s and the CPU % summed per process name (200 % = both cores). Needs pidstat (sysstat).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source bench/lib.sh
command -v pidstat >/dev/null || { echo "pidstat missing: apt-get install sysstat" >&2; exit 1; }
export OMS_EVENTS="${1:?usage: bench/events-cpu.sh 0|1}"
OUT="$(mktemp -d /tmp/oms-events-cpu-XXXXXX)"
start_fresh_system
"${LG[@]}" --clients 64 --duration 25s --warmup 0s >/dev/null 2>&1
"${LG[@]}" --clients 64 --duration 20s --warmup 3s >"$OUT/load.txt" 2>"$OUT/load.log" &
sleep 6   # into the measured window of the load above (its 3 s warmup included), not a wait for a condition
pidstat -u -C "dotnet|beam|postgres" 12 1 | awk '/Average/' >"$OUT/pidstat.txt"
wait
grep -E '^orders/s' "$OUT/load.txt"
awk 'NR>1 {c[$NF]+=$8} END {for (k in c) printf "%-10s %6.1f %% CPU\n", k, c[k]}' "$OUT/pidstat.txt" | sort -k2 -nr
