#!/usr/bin/env bash
# Sitting 19's comparison of builds (a scratch script, kept to show how the figures were made): publishing off on the
# main build, then publishing on for each build in ARMS, a fresh system per arm, interleaved over ROUNDS rounds;
# 64 clients, 25 s warmup, 3 x 15 s runs per arm. Each build is a `dotnet publish -c Release` of the three services
# into /tmp/svc-<arm>/<Service>/ (main: afba824; cork, cursor, proto: afba824 + prototype-<...>.patch of this folder).
#   ARMS="off main proto" ROUNDS=2 docs/benchmarks/sitting-19/ab-builds.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"; cd "$ROOT"; source bench/lib.sh
export OMS_SKIP_BUILD=1
for round in $(seq 1 ${ROUNDS:-2}); do
  for arm in ${ARMS:-off main proto}; do
    if [[ $arm == off ]]; then export OMS_EVENTS=0 OMS_SERVICES_DIR=/tmp/svc-main; else export OMS_EVENTS=1 OMS_SERVICES_DIR=/tmp/svc-$arm; fi
    start_fresh_system
    "${LG[@]}" --clients 64 --duration 25s --warmup 0s >/dev/null 2>&1
    for run in 1 2 3; do
      echo "$arm round $round run $run: $("${LG[@]}" --clients 64 --duration 15s --warmup 3s 2>/dev/null | sed -n 's/^orders\/s *\([0-9.]*\).*/\1/p')"
    done
  done
done
"$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true
