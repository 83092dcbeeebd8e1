#!/usr/bin/env bash
# One arm of a memory comparison at 256 clients, as in docs/benchmarks.md ("Levers"): fresh data, start the system
# (bench/run-system.sh, Release builds already there), 20 s of load at 64 clients to warm up, then 30 s at 256
# clients; prints orders/s and the RSS of each service at the end of that run, and stops the system. Settings come
# from the environment, e.g.
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
run="$("${LG[@]}" --clients 256 --duration 30s --warmup 10s 2>/dev/null | sed -n '2,3p' | tr '\n' ' ')"
echo "$label 256 clients: $run"
echo "$label RSS: $(ps -o rss=,args= -C dotnet | grep -oE '^ *[0-9]+ .*(Orders|Inventory|Payments)\.Api' | awk '{n=$NF; sub(/.*\//,"",n); printf "%s %d MB  ", n, $1/1024}')"
