#!/usr/bin/env bash
# The cost of publishing order events (issue 12), on one build (Release, bench/run-system.sh):
#
#   bench/events.sh ab      (a) 64-client throughput with publishing off vs on, arms interleaved, a fresh system each
#                           (OMS_EVENTS=0 / 1), and (b) the relay lag p50/p99 under that load (the on arm's load
#                           generator runs a consumer: --events-uri)
#   bench/events.sh drain   (c) backlog drain: full load, the broker stopped for OMS_EVENTS_OUTAGE seconds, started
#                           again; the backlog peak and the drain rate, from the outbox table (sampled every second)
#   bench/events.sh         both
#
# Settings (environment; the defaults are the real sitting's, a smoke test shortens them):
#   OMS_EVENTS_ROUNDS=2     A/B rounds (off, on per round)
#   OMS_EVENTS_RUNS=3       measured runs per arm and round
#   OMS_EVENTS_WARMUP=25    seconds of load before the measured runs of an arm (JIT, pools)
#   OMS_EVENTS_DURATION=15  seconds of one measured run
#   OMS_EVENTS_CLIENTS=64
#   OMS_EVENTS_OUTAGE=60    seconds the broker is down in the drain part
#   OMS_EVENTS_BEFORE=20    seconds of load before the outage (the steady backlog is taken from its last 10 s)
#   OMS_EVENTS_AFTER=120    seconds the load goes on once the broker is back (the drain runs under full load while it lasts;
#                           the load runs BEFORE + OUTAGE + START_MARGIN + AFTER seconds in all)
#   OMS_EVENTS_START_MARGIN=60  room in the load's length for the broker's start, slow on a saturated box
#   OMS_EVENTS_DRAIN_LIMIT=600  longest wait for the backlog to drain after the broker is back
# plus everything bench/run-system.sh reads (OMS_TRACING, OMS_BENCH_LINES, ...).
#
# Relay lag = consumer receive time - the CloudEvent's `time`, which is the order transaction's timestamp (PostgreSQL
# now(), taken at the transaction's start): an upper bound of commit -> delivery at a consumer, i.e. of commit -> broker
# confirm plus the broker's hop to the consumer. The consumer runs in the load generator (one more process on the box:
# the on arm pays for it, so the ratio errs against publishing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source bench/lib.sh

part="${1:-all}"
ROUNDS="${OMS_EVENTS_ROUNDS:-2}"
RUNS="${OMS_EVENTS_RUNS:-3}"
WARMUP="${OMS_EVENTS_WARMUP:-25}"
DURATION="${OMS_EVENTS_DURATION:-15}"
CLIENTS="${OMS_EVENTS_CLIENTS:-64}"
OUTAGE="${OMS_EVENTS_OUTAGE:-60}"
BEFORE="${OMS_EVENTS_BEFORE:-20}"
AFTER="${OMS_EVENTS_AFTER:-120}"
START_MARGIN="${OMS_EVENTS_START_MARGIN:-60}"
DRAIN_LIMIT="${OMS_EVENTS_DRAIN_LIMIT:-600}"
EVENTS_URI="amqp://guest:guest@127.0.0.1:${OMS_RABBITMQ_PORT:-18672}/"   # the node of bench/run-system.sh
PSQL=(psql -h 127.0.0.1 -p "${OMS_PG_PORT:-25432}" -U postgres -d orders -qAt)
OUT="$(mktemp -d /tmp/oms-events-XXXXXX)"

build_info() { echo "build $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src || echo '+dirty'), $(date -u '+%Y-%m-%d %H:%M UTC'), $CLIENTS clients"; }

# (a) + (b)
ab() {
  local round arm run out
  echo "== A/B: publishing off vs on, $ROUNDS round(s) x $RUNS run(s) of ${DURATION}s after ${WARMUP}s warmup; $(build_info)"
  for round in $(seq 1 "$ROUNDS"); do
    for arm in off on; do
      local events=0 lag=()
      [[ $arm == on ]] && { events=1; [[ "${OMS_EVENTS_LAG:-1}" == 1 ]] && lag=(--events-uri "$EVENTS_URI" --events-wait 10s); }
      export OMS_EVENTS=$events
      start_fresh_system
      "${LG[@]}" --clients "$CLIENTS" --duration "${WARMUP}s" --warmup 0s >/dev/null 2>&1
      for run in $(seq 1 "$RUNS"); do
        out="$OUT/ab-$round-$arm-$run.txt"
        "${LG[@]}" --clients "$CLIENTS" --duration "${DURATION}s" --warmup 3s "${lag[@]}" >"$out" 2>"$out.log" || true
        echo "$arm round $round run $run: $(sed -n 's/^orders\/s *\([0-9.]*\).*/\1 orders\/s/p' "$out")  $(sed -n 's/^latency ms \(p50 [0-9.]*\).*\(p99 [0-9.]*\).*/\1 \2 ms/p' "$out")" \
             "$(sed -n 's/^relay lag  ms \(p50 [0-9.]*\).*\(p99 [0-9.]*\).*max \([0-9.]*\)  (\([0-9]*\) events.*/ relay lag \1 \2 max \3 ms over \4 events/p' "$out")"
      done
    done
  done
  "$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true
  # Means per arm, the ratio, and the relay lag of every on run (p50 and p99 over the runs: their range).
  local off on
  off="$(cat "$OUT"/ab-*-off-*.txt | sed -n 's/^orders\/s *\([0-9.]*\).*/\1/p' | awk '{s+=$1; n++} END {if (n) printf "%.0f", s/n}')"
  on="$(cat "$OUT"/ab-*-on-*.txt | sed -n 's/^orders\/s *\([0-9.]*\).*/\1/p' | awk '{s+=$1; n++} END {if (n) printf "%.0f", s/n}')"
  echo "mean orders/s: off ${off:-?}, on ${on:-?}; on/off = $(awk -v a="${on:-0}" -v b="${off:-0}" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "?"}')x (target >= 0.9x)"
  # Each round's own ratio (its on arm's mean over its off arm's, the two started minutes apart): how much of the spread
  # is the box drifting between rounds rather than the build.
  local ratios
  ratios="$(for round in $(seq 1 "$ROUNDS"); do
    for arm in off on; do cat "$OUT"/ab-"$round"-"$arm"-*.txt | sed -n 's/^orders\/s *\([0-9.]*\).*/\1/p' | awk '{s+=$1; n++} END {printf "%s ", n ? s/n : 0}'; done
    echo; done | awk '$1 > 0 {printf "%.2f\n", $2/$1}')"
  echo "on/off per round: $(echo $ratios); median $(echo "$ratios" | sort -n | awk '{r[NR]=$1} END {if (!NR) print "?"; else if (NR % 2) print r[(NR+1)/2]; else printf "%.3f", (r[NR/2]+r[NR/2+1])/2}')"
  echo "relay lag over the on runs: $(cat "$OUT"/ab-*-on-*.txt | sed -n 's/^relay lag  ms p50 \([0-9.]*\).*p99 \([0-9.]*\)  p99.9.*/\1 \2/p' \
    | awk '{p50[NR]=$1; p99[NR]=$2} END {if (!NR) {print "none measured"; exit} a=p50[1]; b=p50[1]; c=p99[1]; d=p99[1];
      for (i = 2; i <= NR; i++) {if (p50[i]<a) a=p50[i]; if (p50[i]>b) b=p50[i]; if (p99[i]<c) c=p99[i]; if (p99[i]>d) d=p99[i]}
      printf "p50 %s-%s ms, p99 %s-%s ms (%d runs)", a, b, c, d, NR}')"
}

# Events waiting in the outbox (rows cover a range of sequences), and rows.
backlog() { "${PSQL[@]}" -c "SELECT coalesce(sum(last_sequence - first_sequence + 1), 0), count(*) FROM outbox WHERE sent_at IS NULL" | tr '|' ' '; }
gauge() { curl -fsS "http://127.0.0.1:${OMS_ORDERS_PORT:-18001}/metrics" 2>/dev/null | awk '/^oms_outbox_(backlog|oldest_age_seconds)[ {]/ {printf "%s=%s ", $1, $2}'; }
now() { date +%s.%N; }

# (c)
# The backlog is sampled from the outbox table: every second before and during the outage, every 0.25 s once the broker is
# back. The relay resumes when its reconnect backoff (Events:ReconnectDelay doubling up to Events:MaxReconnectDelay) next
# tries the broker, so "broker back -> resumed" and the drain itself are reported apart.
drain() {
  echo "== drain: $CLIENTS clients; broker stopped after ${BEFORE}s for ${OUTAGE}s, load on until ${AFTER}s after it is back; $(build_info)"
  export OMS_EVENTS=1
  start_fresh_system
  local load=$((BEFORE + OUTAGE + START_MARGIN + AFTER)) samples="$OUT/drain-samples.txt"
  "${LG[@]}" --clients "$CLIENTS" --duration "${load}s" --warmup 0s --events-uri "$EVENTS_URI" --events-wait 5s >"$OUT/drain-lg.txt" 2>"$OUT/drain-lg.log" &
  local lg=$! t0 t
  t0="$(now)"
  since() { awk -v t="$(now)" -v from="$1" 'BEGIN {printf "%.2f", t - from}'; }
  sample() { local b; b="$(backlog)"; echo "$(since "$t0") $b" >>"$samples"; }
  : >"$samples"
  while (( $(since "$t0" | cut -d. -f1) < BEFORE )); do sample; sleep 1; done
  local steady
  steady="$(awk -v from=$((BEFORE - 10)) '$1 >= from {if ($2 > m) m = $2} END {print m+0}' "$samples")"
  local down back
  down="$(now)"
  "$ROOT/bench/run-system.sh" broker-stop >/dev/null
  echo "broker stopped at $(awk -v d="$down" -v t0="$t0" 'BEGIN {printf "%.1f", d - t0}') s (steady backlog before it: $steady events)"
  while (( $(since "$down" | cut -d. -f1) < OUTAGE )); do sample; sleep 1; done
  echo "gauges at the end of the outage (refreshed every Events:GaugeInterval): $(gauge)"
  local starting
  starting="$(now)"
  "$ROOT/bench/run-system.sh" broker-start >/dev/null
  back="$(now)"
  local t_back
  t_back="$(awk -v b="$back" -v t0="$t0" 'BEGIN {printf "%.2f", b - t0}')"
  sample
  echo "broker back at $t_back s, down $(awk -v a="$down" -v b="$back" 'BEGIN {printf "%.1f", b - a}') s in all (its start took $(awk -v a="$starting" -v b="$back" 'BEGIN {printf "%.1f", b - a}') s)"
  # Drained = back at the steady level of before the outage (under load some events are always on their way).
  local drained=""
  while (( $(since "$back" | cut -d. -f1) < DRAIN_LIMIT )); do
    sleep 0.25
    sample
    if (( $(tail -1 "$samples" | awk '{print $2}') <= steady )); then drained="$(tail -1 "$samples" | awk '{print $1}')"; break; fi
  done
  local lg_running=1
  kill -0 "$lg" 2>/dev/null || lg_running=0
  local peak resume_at plateau
  # The plateau: the backlog once the broker was back, until the relay resumed (the last sample before it first fell).
  read -r peak resume_at plateau < <(awk -v tb="$t_back" '{if ($2 > m) m = $2} $1 >= tb && !done {if (n && $2 < last) done = 1; else {at = $1; last = $2; n++}} END {print m+0, at, last}' "$samples")
  echo "backlog peak: $peak events (outbox table; samples: $samples)"
  if [[ -z "$drained" ]]; then
    echo "NOT drained within ${DRAIN_LIMIT}s of the broker's return: backlog $(tail -1 "$samples" | awk '{print $2}') events"
  else
    local secs created
    secs="$(awk -v a="$resume_at" -v b="$drained" 'BEGIN {printf "%.2f", b - a}')"
    # Events committed meanwhile (the load goes on): the relay published the backlog plus those.
    created="$("${PSQL[@]}" -c "SELECT count(*) FROM order_events WHERE occurred_at >= to_timestamp($t0 + $resume_at) AND occurred_at < to_timestamp($t0 + $drained)")"
    echo "relay resumed $(awk -v a="$t_back" -v b="$resume_at" 'BEGIN {printf "%.1f", b - a}') s after the broker was back (backlog $plateau); drained to the steady level ($steady) $secs s later" \
         "($([[ $lg_running == 1 ]] && echo 'under full load throughout' || echo 'the load had ended'))"
    echo "drain rate: net $(awk -v p="$plateau" -v s="$steady" -v d="$secs" 'BEGIN {printf "%.0f", (p - s) / d}') events/s (backlog down)," \
         "relay $(awk -v p="$plateau" -v s="$steady" -v c="$created" -v d="$secs" 'BEGIN {printf "%.0f", (p - s + c) / d}') events/s published (the backlog plus the $created events committed meanwhile); resolution 0.25 s"
  fi
  wait "$lg" || true
  echo "load: $(sed -n 's/^orders\/s *\([0-9.]*\).*/\1 orders\/s over the whole run/p' "$OUT/drain-lg.txt")"
  sed -n 's/^relay lag  ms \(.*\)/consumer: relay lag ms \1/p' "$OUT/drain-lg.txt"
  echo "backlog when the run ended: $(backlog | awk '{print $1}') events; gauges: $(gauge)"
  "$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true
}

case "$part" in
  ab) ab ;;
  drain) drain ;;
  all) ab; drain ;;
  *) echo "usage: $0 [ab|drain|all]" >&2; exit 2 ;;
esac
echo "load generator outputs: $OUT"
