#!/usr/bin/env bash
# Cold start under load (issue 14 item 4): the three services are started fresh (PostgreSQL stays up and warm, as it
# does when a deployment scales out), and 64 clients start the moment they answer ready. Per arm and round:
#   cold     the load generator's first OMS_COLD_WINDOW seconds (no warmup): orders/s and p99 over the window and
#            per second (--json per_second)
#   warmed   right after, on the same processes: OMS_COLD_WARM seconds after a OMS_COLD_WARMUP s warmup (the reference)
# ratio = cold orders/s / warmed orders/s (target >= 0.8). Arms run interleaved (round 1: every arm, round 2: ...).
#
#   bench/cold-start.sh                      # arms: jit warmup r2r r2r-warmup
#   bench/cold-start.sh jit tc-off pgo-off    # any arms below
#
# Arms (how the services run; everything else is bench/run-system.sh's defaults):
#   jit         the Release build output as it is (dotnet build): JIT, the services' defaults (warm-up off)
#   r2r         `dotnet publish -r linux-x64 -p:PublishReadyToRun=true` (precompiled code for the first calls)
#   tc-off      DOTNET_TieredCompilation=0 (fully optimised JIT at the first call, no tiering)
#   pgo-off     DOTNET_TieredPGO=0 (no instrumented tier on the way up)
#   tc-nodelay  DOTNET_TC_CallCountingDelayMs=0 (tier-up starts at once; by default it waits while new methods still
#               get compiled, which under load at startup is most of the first seconds)
#   warmup-nodelay  warmup and tc-nodelay together
#   warmup      Warmup__Enabled=true: the warm-up before readiness (Oms.ServiceDefaults' Warmup; off by default)
#   pool-min    Minimum Pool Size=OMS_COLD_POOL_MIN (default 16) in the connection strings
#   r2r-warmup  r2r with the warm-up
# Settings (environment): OMS_COLD_ROUNDS (2), OMS_COLD_CLIENTS (64), OMS_COLD_WINDOW (30), OMS_COLD_WARMUP (10),
# OMS_COLD_WARM (20), plus everything bench/run-system.sh reads (use its port variables to run beside other systems).
#
# Writes bench/results/<time>/: cold-<arm>-<round>.json and warm-<arm>-<round>.json (the load generator's --json),
# ready-<arm>-<round>.txt (ms from the services' start to all three ready), summary.md, and for the charts
# (tools/Oms.BenchCharts): cold-start.json (kind "cold-start": the per-second curves) and cold-start-ratios.json
# (kind "arms": first window vs warmed per arm).
#
# The load generator seeds its SKUs (1,024 POSTs to inventory) before its first order: inventory's stock-item path is
# the one thing warmed before the cold window; the order path through all three services is not.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source bench/lib.sh

ARMS=("$@")
[[ ${#ARMS[@]} == 0 ]] && ARMS=(jit warmup r2r r2r-warmup)
ROUNDS="${OMS_COLD_ROUNDS:-2}"
CLIENTS="${OMS_COLD_CLIENTS:-64}"
WINDOW="${OMS_COLD_WINDOW:-30}"
WARMUP="${OMS_COLD_WARMUP:-10}"
WARM="${OMS_COLD_WARM:-20}"
POOL_MIN="${OMS_COLD_POOL_MIN:-16}"
OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-cold-start"
PUBLISHED="${OMS_BENCH_DIR:-$ROOT/.data/bench}-published"
mkdir -p "$OUT"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc), loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (dirty src)')"
  echo "arms: ${ARMS[*]}; $ROUNDS round(s); $CLIENTS clients; cold window ${WINDOW}s; warmed ${WARM}s after ${WARMUP}s"
} | tee "$OUT/machine.txt"

# What runs, built once (not the whole solution: the tests are not needed); the ReadyToRun publish only when an arm needs it.
if [[ "${OMS_SKIP_BUILD:-0}" != 1 ]]; then
  for p in src/Orders.Api src/Inventory.Api src/Payments.Api bench/Oms.LoadGen bench/Oms.TraceSink; do
    dotnet build -c Release --nologo -v q "$p" >/dev/null
  done
fi
if printf '%s\n' "${ARMS[@]}" | grep -q '^r2r'; then
  for s in Orders.Api Inventory.Api Payments.Api; do
    echo "publishing $s with ReadyToRun ..."
    dotnet publish "src/$s" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -p:UseAppHost=false \
      -o "$PUBLISHED/r2r/$s" --nologo -v q >/dev/null
  done
fi

# A fresh system (fresh data) once; then only the services restart, cold, per measurement.
export OMS_BENCH_BUILT=1 OMS_SKIP_BUILD=1
start_fresh_system

# Runs bench/run-system.sh start with the arm's settings (in a subshell: they reach only the services).
start_arm() {
  local arm="$1"
  (
    case "$arm" in
      jit) ;;
      r2r) export OMS_SERVICES_DIR="$PUBLISHED/r2r" ;;
      r2r-warmup) export OMS_SERVICES_DIR="$PUBLISHED/r2r" Warmup__Enabled=true ;;
      tc-off) export DOTNET_TieredCompilation=0 ;;
      pgo-off) export DOTNET_TieredPGO=0 ;;
      tc-nodelay) export DOTNET_TC_CallCountingDelayMs=0 ;;
      warmup-nodelay) export Warmup__Enabled=true DOTNET_TC_CallCountingDelayMs=0 ;;
      warmup) export Warmup__Enabled=true ;;
      pool-min) export OMS_CONNECTION_OPTIONS="Minimum Pool Size=$POOL_MIN${OMS_CONNECTION_OPTIONS:+;$OMS_CONNECTION_OPTIONS}" ;;
      *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    "$ROOT/bench/run-system.sh" start >/dev/null
  )
}

ms_now() { date +%s%3N; }

for round in $(seq 1 "$ROUNDS"); do
  for arm in "${ARMS[@]}"; do
    "$ROOT/bench/run-system.sh" services-stop >/dev/null
    t0="$(ms_now)"
    start_arm "$arm"
    echo "$(( $(ms_now) - t0 ))" >"$OUT/ready-$arm-$round.txt"
    "${LG[@]}" --clients "$CLIENTS" --duration "${WINDOW}s" --warmup 0s --json >"$OUT/cold-$arm-$round.json" 2>"$OUT/cold-$arm-$round.log" || true
    "${LG[@]}" --clients "$CLIENTS" --duration "${WARM}s" --warmup "${WARMUP}s" --json >"$OUT/warm-$arm-$round.json" 2>"$OUT/warm-$arm-$round.log" || true
    python3 - "$OUT" "$arm" "$round" <<'PY'
import json, sys
out, arm, r = sys.argv[1:]
c, w = (json.load(open(f"{out}/{k}-{arm}-{r}.json")) for k in ("cold", "warm"))
ready = int(open(f"{out}/ready-{arm}-{r}.txt").read())
print(f"{arm} round {r}: ready after {ready} ms; first {c['measured_s']:.0f} s {c['orders_per_s']:.0f} orders/s p99 {c['latency_ms']['p99_ms']:.1f} ms "
      f"(errors {c['errors']}); warmed {w['orders_per_s']:.0f} orders/s p99 {w['latency_ms']['p99_ms']:.1f} ms; "
      f"ratio {c['orders_per_s'] / max(w['orders_per_s'], 1e-9):.2f}")
PY
  done
done

python3 - "$OUT" "$ROUNDS" "$CLIENTS" "$WINDOW" "${ARMS[@]}" <<'PY' | tee "$OUT/summary.md"
import json, statistics, sys
out, rounds, clients, window, arms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
def load(kind, arm, r): return json.load(open(f"{out}/{kind}-{arm}-{r}.json"))
def fig(j): return {"orders_per_s": j["orders_per_s"], "p50_ms": j["latency_ms"]["p50_ms"], "p99_ms": j["latency_ms"]["p99_ms"]}
runs, bars, ratios = [], [], []
print(f"| arm | ready ms | first {window} s orders/s | p50 ms | p99 ms | warmed orders/s | p99 ms | cold / warmed | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for arm in arms:
    cold, warm, rs, ready = [], [], [], []
    for r in range(1, rounds + 1):
        c, w = load("cold", arm, r), load("warm", arm, r)
        ms = int(open(f"{out}/ready-{arm}-{r}.txt").read())
        ratio = c["orders_per_s"] / max(w["orders_per_s"], 1e-9)
        cold.append(fig(c)); warm.append(fig(w)); rs.append(ratio); ready.append(ms)
        runs.append({"label": f"{arm} #{r}", "arm": arm, "round": r, "ready_ms": ms,
                     "points": [{k: p[k] for k in ("t_s", "orders_per_s", "p50_ms", "p99_ms", "errors")} for p in c.get("per_second", [])],
                     "first_window": fig(c), "warmed": fig(w), "ratio": round(ratio, 3)})
        print(f"| {arm} #{r} | {ms} | {c['orders_per_s']:.0f} | {c['latency_ms']['p50_ms']:.1f} | {c['latency_ms']['p99_ms']:.1f} | "
              f"{w['orders_per_s']:.0f} | {w['latency_ms']['p99_ms']:.1f} | {ratio:.2f} | {c['errors'] + w['errors']} |")
    mean = lambda xs, k: round(statistics.mean(x[k] for x in xs), 1)
    bars.append({"label": f"{arm} first {window} s", "rounds": cold, **{k: mean(cold, k) for k in ("orders_per_s", "p50_ms", "p99_ms")}})
    bars.append({"label": f"{arm} warmed", "rounds": warm, **{k: mean(warm, k) for k in ("orders_per_s", "p50_ms", "p99_ms")}})
    ratios.append({"label": f"{arm}: first {window} s / warmed", "value": round(statistics.mean(rs), 3), "target": 0.8})
    print(f"| **{arm}** mean | {statistics.mean(ready):.0f} | {mean(cold, 'orders_per_s'):.0f} | {mean(cold, 'p50_ms')} | {mean(cold, 'p99_ms')} | "
          f"{mean(warm, 'orders_per_s'):.0f} | {mean(warm, 'p99_ms')} | **{statistics.mean(rs):.2f}** | |")
json.dump({"kind": "cold-start", "title": f"Cold start under {clients} clients", "clients": clients, "window_s": window,
           "target_ratio": 0.8, "runs": runs}, open(f"{out}/cold-start.json", "w"), indent=1)
json.dump({"kind": "arms", "title": f"Cold start: first {window} s vs warmed, {clients} clients", "clients": clients,
           "arms": bars, "ratios": ratios}, open(f"{out}/cold-start-ratios.json", "w"), indent=1)
PY
echo "results in $OUT (machine busy? loadavg now: $(cut -d' ' -f1-3 /proc/loadavg))"
