#!/usr/bin/env bash
# A flash sale, exactly right (issue 14, item 2): OMS_FLASH_STOCK units of one SKU, OMS_FLASH_ORDERS orders from
# OMS_FLASH_CLIENTS clients, every order taking 1 unit (the load generator's --scenario flash-sale). Exactly STOCK orders
# must end CONFIRMED and every other one FAILED with INSUFFICIENT_STOCK, with 0 errors and the SKU's shelf at 0; the
# load generator checks that (and conservation on every SKU) and exits 1 otherwise, which fails the sitting.
# Arms (baskets), each on a fresh system (bench/run-system.sh, Release) after a warmup of steady load, interleaved round
# by round (even rounds in reverse order, so drift on a shared box hits both ends):
#   1      one-line orders on the hot SKU
#   3      baskets of 3 lines: the hot SKU + 2 lines on plentiful SKUs
#   3:50   baskets of 3 lines, 50 % of them the hot SKU alone: one-line and multi-line orders racing for the same units
#
#   bench/flash-sale.sh          # the sitting: per sale orders/s, p50/p99, outcomes and the verdict; per arm the means
#
# Settings (environment; the defaults are the sitting's, a smoke test shortens them):
#   OMS_FLASH_ARMS="1 3 3:50"  arms: <lines>[:<percent of one-line baskets>]
#   OMS_FLASH_ROUNDS=2         rounds (every arm once per round)
#   OMS_FLASH_STOCK=1000       units on sale
#   OMS_FLASH_ORDERS=20000     orders per sale
#   OMS_FLASH_CLIENTS=256
#   OMS_FLASH_SETTLE=180       seconds the load generator may replay PENDING (202) orders after the sale until they are final
#                              (an order still PENDING then makes the sale not exact: its outcome is unknown)
#   OMS_FLASH_WARMUP=20        seconds of steady load (64 clients over 1,024 SKUs) before each sale: JIT, pools; a real
#                              sale hits running servers
#   OMS_FLASH_OUT              results folder (default bench/results/<UTC time>-flash-sale): the load generator's JSON per
#                              sale, flash-sale.json (every sale, the figures per arm; kind "arms" for tools/Oms.BenchCharts)
#                              and summary.txt (what is printed)
# plus everything bench/run-system.sh reads: give each concurrent user of the box its own ports and state folder, e.g.
#   OMS_PG_PORT=26433 OMS_ORDERS_PORT=20001 OMS_INVENTORY_PORT=20002 OMS_PAYMENTS_PORT=20003 OMS_TRACE_SINK_PORT=20317 \
#   OMS_BENCH_DIR=/tmp/oms-flash-bench bench/flash-sale.sh
#
# Per arm: orders/s (the sale's orders over its length, first request to last answer) = the mean over its sales; p50 = the
# mean of the sales' p50; p99 = the worst sale's p99. Latency is every order's, the refused ones included.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

read -r -a ARMS <<<"${OMS_FLASH_ARMS:-1 3 3:50}"
ROUNDS="${OMS_FLASH_ROUNDS:-2}"
STOCK="${OMS_FLASH_STOCK:-1000}"
ORDERS="${OMS_FLASH_ORDERS:-20000}"
CLIENTS="${OMS_FLASH_CLIENTS:-256}"
WARMUP="${OMS_FLASH_WARMUP:-20}"
SETTLE="${OMS_FLASH_SETTLE:-180}"
OUT="${OMS_FLASH_OUT:-$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)-flash-sale}"
mkdir -p "$OUT"
STATE="${OMS_BENCH_DIR:-$ROOT/.data/bench}"
LG=(dotnet "$ROOT/bench/Oms.LoadGen/bin/Release/net10.0/Oms.LoadGen.dll"
    --orders-url "http://127.0.0.1:${OMS_ORDERS_PORT:-18001}" --inventory-url "http://127.0.0.1:${OMS_INVENTORY_PORT:-18002}")
for arm in "${ARMS[@]}"; do
  [[ "$arm" =~ ^[0-9]+(:[0-9]+)?$ ]] || { echo "OMS_FLASH_ARMS: '$arm' is not <lines>[:<percent>]" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 2; }

BUILD="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench/Oms.LoadGen || echo '+dirty')"
# The services, the trace sink and the load generator (not the whole solution: minutes on a busy box).
for project in src/Orders.Api src/Inventory.Api src/Payments.Api bench/Oms.TraceSink bench/Oms.LoadGen; do
  dotnet build -c Release --nologo -v q "$project" >/dev/null
done

stop_system() { "$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true; }
trap stop_system EXIT
start_system() {
  stop_system
  rm -rf "$STATE"
  OMS_BENCH_DIR="$STATE" OMS_SKIP_BUILD=1 "$ROOT/bench/run-system.sh" start >/dev/null
}

lines_of() { echo "${1%%:*}"; }
percent_of() { [[ "$1" == *:* ]] && echo "${1#*:}" || echo 0; }
label_of() {
  local lines percent
  lines="$(lines_of "$1")"; percent="$(percent_of "$1")"
  if [[ "$lines" == 1 ]]; then echo "one-line"; elif [[ "$percent" == 0 ]]; then echo "$lines-line baskets"
  else echo "$lines-line, $percent % one-line"; fi
}
summary() { tee -a "$OUT/summary.txt"; }

echo "== flash sale: $STOCK units, $ORDERS orders, $CLIENTS clients; arms ${ARMS[*]} (<lines>[:<% one-line>]), $ROUNDS round(s)," \
     "${WARMUP}s warmup on each fresh system; build $BUILD; $(date -u '+%Y-%m-%d %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)" | summary
failed=0
for round in $(seq 1 "$ROUNDS"); do
  order=("${ARMS[@]}")
  if (( round % 2 == 0 )); then order=(); for ((i = ${#ARMS[@]} - 1; i >= 0; i--)); do order+=("${ARMS[i]}"); done; fi
  for arm in "${order[@]}"; do
    start_system
    "${LG[@]}" --clients 64 --duration "${WARMUP}s" --warmup 0s >/dev/null 2>&1 || true
    lines="$(lines_of "$arm")"; percent="$(percent_of "$arm")"
    basket=(--lines "$lines")
    [[ "$percent" != 0 ]] && basket+=(--single-line-percent "$percent")
    out="$OUT/sale-${arm/:/-}-r$round.json"
    if ! "${LG[@]}" --scenario flash-sale --stock "$STOCK" --count "$ORDERS" --clients "$CLIENTS" "${basket[@]}" --settle "${SETTLE}s" --json >"$out" 2>"$out.log"; then
      failed=1
      echo "$arm round $round: the flash sale is WRONG (or the load generator failed): $(jq -r '.flash_sale.problems // [] | join("; ")' "$out" 2>/dev/null) see $out.log" | summary
    fi
    [[ -s "$out" ]] || continue
    jq -r --arg name "$(label_of "$arm")" --arg round "$round" '
      "\($name | .[0:24] | . + " " * (24 - length)) round \($round): \(.orders_total) orders in \(.measured_s) s = \(.orders_per_s | round) orders/s" +
      "  p50 \(.latency_ms.p50_ms | . * 10 | round / 10) ms  p99 \(.latency_ms.p99_ms | . * 10 | round / 10) ms" +
      "  -> \(.flash_sale.confirmed) CONFIRMED, \(.flash_sale.insufficient_stock) INSUFFICIENT_STOCK, \(.flash_sale.hot_available) left," +
      " \(.errors) errors, status \(.status_codes | to_entries | map("\(.key): \(.value)") | join(" "))  \(if .flash_sale.ok then "EXACT" else "WRONG" end)"' "$out" | summary
  done
done
stop_system

# Every sale, from its file name (sale-<lines>[-<percent>]-r<round>.json) and the load generator's JSON.
sales_json="$(for f in "$OUT"/sale-*.json; do
  [[ -s "$f" ]] || continue
  name="$(basename "$f" .json)"; name="${name#sale-}"
  arm="${name%-r*}"; arm="${arm/-/:}"
  jq -c --arg arm "$arm" --arg name "$(label_of "$arm")" --argjson round "${name##*-r}" \
    '{arm: $arm, label: $name, round: $round, lines, single_line_percent: .flash_sale.single_line_percent, orders: .orders_total,
      seconds: .measured_s, orders_per_s, p50_ms: .latency_ms.p50_ms, p90_ms: .latency_ms.p90_ms, p99_ms: .latency_ms.p99_ms,
      max_ms: .latency_ms.max_ms, errors, exact: .flash_sale.ok, confirmed: .flash_sale.confirmed,
      insufficient_stock: .flash_sale.insufficient_stock, hot_available: .flash_sale.hot_available, outcomes: .flash_sale.outcomes,
      problems: .flash_sale.problems, status_codes, conserved: .conservation.ok}' "$f"
done | jq -s '.')"
order_json="$(printf '%s\n' "${ARMS[@]}" | jq -R . | jq -s -c .)"
# The "arms" shape of tools/Oms.BenchCharts (/work/notes/bench-json.md, tools/Oms.BenchCharts/README.md), arms in the order given.
jq -n --argjson sales "$sales_json" --argjson order "$order_json" --arg build "$BUILD" --argjson clients "$CLIENTS" \
   --argjson stock "$STOCK" --argjson orders "$ORDERS" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '
  def mean(f): (map(f) | add) / length;
  [ $order[] as $a | $sales | map(select(.arm == $a)) | select(length > 0)
    | {label: .[0].label, arm: $a, lines: .[0].lines, single_line_percent: .[0].single_line_percent, sales: length,
       orders_per_s: (mean(.orders_per_s) | . * 10 | round / 10), p50_ms: (mean(.p50_ms) | . * 10 | round / 10),
       p99_ms: (map(.p99_ms) | max | . * 10 | round / 10), exact: all(.exact), errors: (map(.errors) | add),
       rounds: map({round, orders_per_s, p50_ms, p99_ms, exact})} ] as $arms
  | {kind: "arms", title: "Flash sale: \($stock) units, \($orders) orders, \($clients) clients",
     note: "\(if ($sales | length > 0 and all(.exact)) then "every sale exact: \($stock) CONFIRMED, the rest INSUFFICIENT_STOCK, 0 errors"
             else "NOT every sale exact: see sales[].problems" end); load \($load)",
     git: $build, date: $at, clients: $clients, stock: $stock, orders: $orders, all_exact: ($sales | length > 0 and all(.exact)),
     arms: $arms, sales: $sales}' >"$OUT/flash-sale.json"

jq -r '.arms[] | "\(.label | .[0:24] | . + " " * (24 - length)) mean \(.orders_per_s | round) orders/s  p50 \(.p50_ms) ms  worst p99 \(.p99_ms) ms  over \(.sales) sale(s): \(if .exact then "every one exact" else "NOT EXACT" end)"' \
  "$OUT/flash-sale.json" | summary
echo "results: $OUT (flash-sale.json, summary.txt, one load generator JSON per sale)"
exit "$failed"
