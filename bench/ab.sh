#!/usr/bin/env bash
# One arm of an A/B comparison at 64 clients, as used for the "Levers" in docs/benchmarks.md:
# fresh data, start the system (bench/run-system.sh, already built in Release), 25 s of load to warm the JIT,
# three measured 15-s runs at 64 clients, one 8-s run at 1 client, CPU per process during the last
# 64-client run, CPU per order at 1 client, RSS, stop. Settings come from the environment, e.g.
#
#   bench/ab.sh pool-default
#   OMS_POOL_SIZE=100 bench/ab.sh pool-100
#   DOTNET_gcServer=0 bench/ab.sh workstation-gc
#   OMS_H2C=0 bench/ab.sh http11
#   OMS_BENCH_LINES=5 bench/ab.sh lines-5                # orders of 5 lines (distinct SKUs)
#   OMS_API_KEYS=1 bench/ab.sh keys        # an API key on every request, a rate limit of 1,000,000/s (never binds)
#   OMS_CONNECTION_OPTIONS=Multiplexing=false bench/ab.sh no-multiplexing
#   OMS_AB_CEILING=1 OMS_PG_OPTIONS="-c commit_delay=200" bench/ab.sh commit-delay   # a 15-s pgbench ceiling before each run
#   OMS_AB_CEILING=1 OMS_PG_HOST="$PWD/.data/bench/pg" bench/ab.sh unix-socket
#   for round in 1 2; do OMS_TRACING=0 bench/ab.sh off; bench/ab.sh on; done        # arms interleaved, as in the docs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
label="${1:-run}"
source bench/lib.sh
start_fresh_system

cpu_of() { [[ -n "$1" ]] && awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu_snapshot() {
  for name in Orders.Api Inventory.Api Payments.Api Oms.TraceSink; do echo "$name $(cpu_of "$(pgrep -f "$name.dll" | head -1)")"; done
  echo "postgres $(for p in $(pgrep -u postgres postgres); do cpu_of "$p"; done | awk '{s+=$1} END {print s+0}')"
}

"${LG[@]}" --clients 64 --duration 25s --warmup 2s >/dev/null 2>&1
for i in 1 2 3; do
  [[ "${OMS_AB_CEILING:-0}" == 1 ]] && echo "$label $(OMS_CEILING_DURATION=15 bench/ceiling.sh 64 2>/dev/null)"
  # After the ceiling, so that the window sees only the load generator's run.
  if [[ $i == 3 ]]; then (sleep 5; cpu_snapshot > /tmp/oms-ab-cpu1; sleep 10; cpu_snapshot > /tmp/oms-ab-cpu2) & fi
  echo "$label 64 clients run $i: $("${LG[@]}" --clients 64 --duration 15s --warmup 3s 2>/dev/null | sed -n '2,3p' | tr '\n' ' ')"
done
wait
echo "$label CPU (cores) during run 3: $(paste /tmp/oms-ab-cpu1 /tmp/oms-ab-cpu2 | awk '{printf "%s %.2f  ", $1, ($4-$2)/1000}')"
cpu_snapshot > /tmp/oms-ab-cpu1
one="$("${LG[@]}" --clients 1 --duration 8s --warmup 2s 2>/dev/null | sed -n '2,3p' | tr '\n' ' ')"
cpu_snapshot > /tmp/oms-ab-cpu2
echo "$label 1 client: $one"
# CPU per order at 1 client: the services (with the trace sink) and PostgreSQL, over all orders of that run.
sent="$(sed -n 's/.*, \([0-9]*\) sent in all.*/\1/p' <<<"$one")"
echo "$label 1 client CPU ms/order: $(paste /tmp/oms-ab-cpu1 /tmp/oms-ab-cpu2 | awk -v n="${sent:-0}" \
  '$1 == "postgres" {pg += $4 - $2; next} {svc += $4 - $2} END {if (n > 0) printf "services %.2f  postgres %.2f", svc * 10 / n, pg * 10 / n}')"
echo "$label RSS: $(ps -o rss=,args= -C dotnet | grep -oE '^ *[0-9]+ .*(Orders|Inventory|Payments)\.Api' | awk '{n=$NF; sub(/.*\//,"",n); printf "%s %d MB  ", n, $1/1024}')"
