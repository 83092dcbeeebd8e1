#!/usr/bin/env bash
# Where the CPU goes with publishing off or on (docs/benchmarks.md, sitting 15): a fresh bench system, 25 s of warmup
# load, then 20 s of measured load at 64 clients with `pidstat` sampling the services, PostgreSQL and RabbitMQ over 12 s.
#   bench/events-cpu.sh 0    # publishing off
#   bench/events-cpu.sh 1    # publishing on (no consumer: no queue is bound)
# Prints the load generator's orders/s and the CPU % per process (each service by name; 200 % = both cores) and per order.
# Needs pidstat (sysstat).
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
rate="$(sed -n 's/^orders\/s *\([0-9.]*\).*/\1/p' "$OUT/load.txt")"
# dotnet processes by what they run (the pid files of bench/run-system.sh; the load generator is the dotnet left over).
declare -A NAME
for f in "${OMS_BENCH_DIR:-$ROOT/.data/bench}"/*.pid; do [[ -f $f ]] && NAME[$(cat "$f")]="$(basename "$f" .pid)"; done
while read -r _ _ pid _ _ _ _ cpu _ command; do echo "${NAME[$pid]:-$command} $cpu"; done < <(awk 'NR>1' "$OUT/pidstat.txt") \
  | awk -v rate="$rate" '{c[$1]+=$2} END {for (k in c) printf "%-16s %6.1f %% CPU  %6.1f us/order\n", k, c[k], c[k] * 10000 / rate}' | sort -k2 -nr
