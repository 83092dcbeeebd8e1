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
LG=(dotnet bench/Oms.LoadGen/bin/Release/net10.0/Oms.LoadGen.dll
    --orders-url "http://127.0.0.1:${OMS_ORDERS_PORT:-18001}" --inventory-url "http://127.0.0.1:${OMS_INVENTORY_PORT:-18002}")
[[ -f bench/Oms.LoadGen/bin/Release/net10.0/Oms.LoadGen.dll ]] || dotnet build -c Release >/dev/null

bench/run-system.sh stop >/dev/null 2>&1 || true
rm -rf "${OMS_BENCH_DIR:-$ROOT/.data/bench}"
OMS_SKIP_BUILD="${OMS_SKIP_BUILD:-1}" bench/run-system.sh start >/dev/null
trap 'bench/run-system.sh stop >/dev/null 2>&1 || true' EXIT

"${LG[@]}" --clients 64 --duration 20s --warmup 2s >/dev/null 2>&1
run="$("${LG[@]}" --clients 256 --duration 30s --warmup 10s 2>/dev/null | sed -n '2,3p' | tr '\n' ' ')"
echo "$label 256 clients: $run"
echo "$label RSS: $(ps -o rss=,args= -C dotnet | grep -oE '^ *[0-9]+ .*(Orders|Inventory|Payments)\.Api' | awk '{n=$NF; sub(/.*\//,"",n); printf "%s %d MB  ", n, $1/1024}')"
