#!/usr/bin/env bash
# One arm of a memory comparison at 256 clients, as in docs/benchmarks.md ("Levers"): fresh data, start the system
# (bench/run-system.sh, Release builds already there), 20 s of load at 64 clients to warm up, then 30 s at 256
# clients; prints orders/s and the RSS of each service at the end of that run, and stops the system. 28 s into the
# 256-client run it also prints where the order service's memory is: private/shared from /proc/<pid>/smaps_rollup,
# the largest mappings from smaps, and the GC's committed bytes from its /metrics. Settings come from the
# environment, e.g.
#
#   bench/rss.sh default
#   DOTNET_gcServer=0 bench/rss.sh workstation-gc
#   DOTNET_GCConserveMemory=7 bench/rss.sh conserve-7
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
label="${1:-run}"
source bench/lib.sh
start_fresh_system

"${LG[@]}" --clients 64 --duration 20s --warmup 2s >/dev/null 2>&1
"${LG[@]}" --clients 256 --duration 30s --warmup 10s >/tmp/oms-rss-run.txt 2>/dev/null &
loadgen=$!
sleep 28
orders="$(cat "${OMS_BENCH_DIR:-$ROOT/.data/bench}/Orders.Api.pid")"
echo "$label order service memory during the run:"
grep -E '^(Rss|Shared_Clean|Private_Dirty|Anonymous):' "/proc/$orders/smaps_rollup" | sed 's/^/  /'
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$6; if (name == "") name="[anon]"} /^Rss:/{rss[name]+=$2}
     END {for (n in rss) if (rss[n] > 2000) printf "  %8d kB %s\n", rss[n], n}' "/proc/$orders/smaps" | sort -rn | head -8
curl -s "http://127.0.0.1:${OMS_ORDERS_PORT:-18001}/metrics" | grep -E '^dotnet_gc_last_collection_(memory_committed_size|heap_size)_bytes' | sed 's/{otel_scope_name="System.Runtime",*/{/; s/^/  /'
wait "$loadgen"
run="$(sed -n '2,3p' /tmp/oms-rss-run.txt | tr '\n' ' ')"
echo "$label 256 clients: $run"
echo "$label RSS: $(ps -o rss=,args= -C dotnet | grep -oE '^ *[0-9]+ .*(Orders|Inventory|Payments)\.Api' | awk '{n=$NF; sub(/.*\//,"",n); printf "%s %d MB  ", n, $1/1024}')"
