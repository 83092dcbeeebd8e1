#!/usr/bin/env bash
# A hot SKU against spread load (issue 14, item 1): 64 clients placing one-line orders over 1,000 SKUs, over 10 SKUs and
# all on 1 SKU, on one build, in one sitting. Every arm gets a fresh system (bench/run-system.sh, Release) and a warmup;
# the arms are interleaved round by round (round 2 runs them in reverse order, so drift on a shared box hits both ends).
#
#   bench/hot-sku.sh                         # the sitting: orders/s and p50/p99 per run and per arm, 1 SKU / 1,000 SKUs
#   OMS_HOT_BASELINE=main bench/hot-sku.sh   # also arms on another build (a git revision, exported to a scratch folder and
#                                            # built there), for before/after on the same sitting: base:1000 and base:1
#
# Settings (environment; the defaults are the sitting's, a smoke test shortens them):
#   OMS_HOT_ARMS="1000 10 1"   arms: SKU counts on this build; base:N = N SKUs on OMS_HOT_BASELINE's build
#   OMS_HOT_ROUNDS=2           rounds (every arm once per round)
#   OMS_HOT_RUNS=2             measured runs per arm and round
#   OMS_HOT_WARMUP=20          seconds of load before an arm's measured runs (JIT, pools)
#   OMS_HOT_DURATION=15        seconds of one measured run (after a 3-s warmup of its own)
#   OMS_HOT_CLIENTS=64
#   OMS_HOT_OUT                results folder (default bench/results/<UTC time>-hot-sku): one load generator JSON per run,
#                              hot-sku.json (every run, the means per arm, the ratio) and summary.txt (what is printed)
# plus everything bench/run-system.sh reads: give each concurrent user of the box its own ports and state folder, e.g.
#   OMS_PG_PORT=26432 OMS_ORDERS_PORT=19001 OMS_INVENTORY_PORT=19002 OMS_PAYMENTS_PORT=19003 OMS_TRACE_SINK_PORT=19317 \
#   OMS_BENCH_DIR=/tmp/oms-hot-bench bench/hot-sku.sh
#
# Per arm: orders/s = the mean over its runs; p50 = the mean of the runs' p50; p99 = the worst run's p99 (the target is a
# bound). Every run checks conservation of stock (the load generator's exit code); a run that fails it fails the sitting.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS="${OMS_HOT_ROUNDS:-2}"
RUNS="${OMS_HOT_RUNS:-2}"
WARMUP="${OMS_HOT_WARMUP:-20}"
DURATION="${OMS_HOT_DURATION:-15}"
CLIENTS="${OMS_HOT_CLIENTS:-64}"
BASELINE="${OMS_HOT_BASELINE:-}"
DEFAULT_ARMS="1000 10 1"
[[ -n "$BASELINE" ]] && DEFAULT_ARMS="base:1000 1000 10 1 base:1"
read -r -a ARMS <<<"${OMS_HOT_ARMS:-$DEFAULT_ARMS}"
OUT="${OMS_HOT_OUT:-$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)-hot-sku}"
mkdir -p "$OUT"
STATE="${OMS_BENCH_DIR:-$ROOT/.data/bench}"
LG=(dotnet "$ROOT/bench/Oms.LoadGen/bin/Release/net10.0/Oms.LoadGen.dll"
    --orders-url "http://127.0.0.1:${OMS_ORDERS_PORT:-18001}" --inventory-url "http://127.0.0.1:${OMS_INVENTORY_PORT:-18002}"
    --clients "$CLIENTS")

build_of() { git -C "$1" rev-parse --short HEAD 2>/dev/null || cat "$1/.oms-revision"; }
BUILD="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+dirty')"

# This build (the services, the trace sink and the load generator: not the whole solution, which takes minutes on a busy
# box), and the baseline's services in a scratch folder.
build_release() { local p; for p in "$@"; do dotnet build -c Release --nologo -v q "$p" >/dev/null; done; }
build_release src/Orders.Api src/Inventory.Api src/Payments.Api bench/Oms.TraceSink bench/Oms.LoadGen
BASE_ROOT=""
if [[ -n "$BASELINE" ]]; then
  BASE_ROOT="$(mktemp -d /tmp/oms-hot-base-XXXXXX)"
  git archive "$BASELINE" | tar -x -C "$BASE_ROOT"
  git rev-parse --short "$BASELINE" >"$BASE_ROOT/.oms-revision"
  (cd "$BASE_ROOT" && build_release src/Orders.Api src/Inventory.Api src/Payments.Api bench/Oms.TraceSink)
fi

stop_system() { "$1/bench/run-system.sh" stop >/dev/null 2>&1 || true; }
current_root="$ROOT"
trap 'stop_system "$current_root"; [[ -n "$BASE_ROOT" ]] && rm -rf "$BASE_ROOT"' EXIT

# A fresh system from the build at $1 (fresh data: the state folder is emptied).
start_system() {
  stop_system "$current_root"
  current_root="$1"
  rm -rf "$STATE"
  OMS_BENCH_DIR="$STATE" OMS_SKIP_BUILD=1 "$1/bench/run-system.sh" start >/dev/null
}

field() { jq -r "$1" "$2"; }
summary() { tee -a "$OUT/summary.txt"; }

echo "== hot SKU: arms ${ARMS[*]} (SKUs), $CLIENTS clients, $ROUNDS round(s) x $RUNS run(s) of ${DURATION}s after ${WARMUP}s warmup;" \
     "build $BUILD${BASELINE:+, base = $BASELINE ($(build_of "$BASE_ROOT"))}; $(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)" | summary
failed=0
for round in $(seq 1 "$ROUNDS"); do
  order=("${ARMS[@]}")
  if (( round % 2 == 0 )); then order=(); for ((i = ${#ARMS[@]} - 1; i >= 0; i--)); do order+=("${ARMS[i]}"); done; fi
  for arm in "${order[@]}"; do
    skus="${arm#base:}"
    root="$ROOT"; [[ "$arm" == base:* ]] && root="$BASE_ROOT"
    start_system "$root"
    "${LG[@]}" --skus "$skus" --duration "${WARMUP}s" --warmup 0s >/dev/null 2>&1 || true
    for run in $(seq 1 "$RUNS"); do
      out="$OUT/run-${arm/:/-}-r$round-$run.json"
      if ! "${LG[@]}" --skus "$skus" --duration "${DURATION}s" --warmup 3s --json >"$out" 2>"$out.log"; then
        failed=1
        echo "$arm round $round run $run: the load generator failed (exit code; conservation?): see $out.log" | summary
      fi
      [[ -s "$out" ]] || continue
      printf '%-9s round %s run %s: %7.0f orders/s  p50 %6.1f ms  p99 %6.1f ms  errors %s  stock %s\n' "$arm" "$round" "$run" \
        "$(field .orders_per_s "$out")" "$(field .latency_ms.p50_ms "$out")" "$(field .latency_ms.p99_ms "$out")" \
        "$(field .errors "$out")" "$(field 'if .conservation.ok then "conserved" else "NOT CONSERVED" end' "$out")" | summary
    done
  done
done
stop_system "$current_root"

# Every run, from its file name (run-<arm>-r<round>-<run>.json) and the load generator's JSON.
runs_json="$(for f in "$OUT"/run-*.json; do
  [[ -s "$f" ]] || continue
  name="$(basename "$f" .json)"; name="${name#run-}"
  arm="${name%-r*}"; rest="${name##*-r}"
  jq -c --arg arm "${arm/-/:}" --argjson round "${rest%-*}" --argjson run "${rest#*-}" \
    '{arm: $arm, build: (if ($arm | startswith("base:")) then "base" else "this" end), skus: ($arm | sub("^base:"; "") | tonumber),
      round: $round, run: $run, orders_per_s, p50_ms: .latency_ms.p50_ms, p99_ms: .latency_ms.p99_ms, errors,
      conserved: .conservation.ok, status_codes, final_statuses}' "$f"
done | jq -s '.')"
# The "arms" shape of tools/Oms.BenchCharts (bench/README or /work/notes/bench-json.md), arms in the order given.
order_json="$(printf '%s\n' "${ARMS[@]}" | jq -R . | jq -s -c .)"
jq -n --argjson runs "$runs_json" --argjson order "$order_json" --arg build "$BUILD" \
   --arg base "${BASELINE:+$BASELINE ($(build_of "$BASE_ROOT"))}" --argjson clients "$CLIENTS" \
   --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
   --argjson duration "$DURATION" --argjson warmup "$WARMUP" '
  def mean(f): (map(f) | add) / length;
  def arm_label(a): (a | sub("^base:"; "")) as $n | "\($n) SKU\(if $n == "1" then "" else "s" end)\(if (a | startswith("base:")) then " (base)" else "" end)";
  [ $order[] as $a | $runs | map(select(.arm == $a)) | select(length > 0)
    | {label: arm_label($a), arm: $a, build: .[0].build, skus: .[0].skus, runs: length,
       orders_per_s: mean(.orders_per_s), p50_ms: mean(.p50_ms), p99_ms: (map(.p99_ms) | max),
       errors: (map(.errors) | add), conserved: all(.conserved),
       rounds: map({round, run, orders_per_s, p50_ms, p99_ms})} ] as $arms
  | def arm(a): ($arms | map(select(.arm == a)) | first);
  def ratio(name; a; b; target): if arm(a) and arm(b) then [{label: name, value: (arm(a).orders_per_s / arm(b).orders_per_s), target: target}] else [] end;
  {kind: "arms", title: "Hot SKU vs spread, \($clients) clients", note: "load average at the end: \($load)",
   git: $build, date: $at, baseline: (if $base == "" then null else $base end), clients: $clients,
   duration_s: $duration, warmup_s: $warmup, target_p99_ms: 100,
   arms: $arms,
   ratios: (ratio("1 SKU / 1000 SKUs"; "1"; "1000"; 0.9) + ratio("10 SKUs / 1000 SKUs"; "10"; "1000"; 0.9)
            + ratio("1000 SKUs: this build / base"; "1000"; "base:1000"; 1.0) + ratio("1 SKU: this build / base"; "1"; "base:1"; null)),
   runs: $runs}' >"$OUT/hot-sku.json"

{
  echo "-- per arm (orders/s: mean of runs; p50: mean; p99: worst run)"
  jq -r '.arms[] | "\(.label | (. + "                    ")[0:18]) \(.orders_per_s | round) orders/s  p50 \(.p50_ms * 10 | round / 10) ms  p99 \(.p99_ms * 10 | round / 10) ms  (\(.runs) runs, \(.errors) errors\(if .conserved then "" else ", NOT CONSERVED" end))"' "$OUT/hot-sku.json"
  jq -r '.ratios[] | "\(.label) = \(.value * 100 | round / 100)x\(if .target then " (target >= \(.target)x)" else "" end)"' "$OUT/hot-sku.json"
  echo "p99 target: <= 100 ms. results: $OUT (hot-sku.json: the \"arms\" shape of tools/Oms.BenchCharts)"
} | summary
exit "$failed"
