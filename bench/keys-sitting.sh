#!/usr/bin/env bash
# The API-key sitting (docs/benchmarks.md, sitting 13): a baseline checkout (another build, e.g. main before a change,
# already built in Release) against this one, open and with an API key plus a rate limit that never binds
# (OMS_API_KEYS=1); each arm is bench/ab.sh with its own 15-s pgbench ceiling before every run; arms interleaved.
#
#   git worktree add --detach ../baseline <commit> && (cd ../baseline && dotnet build -c Release Oms.slnx)
#   bench/keys-sitting.sh ../baseline [rounds]      # default 2 rounds
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASELINE="$(cd "${1:?usage: bench/keys-sitting.sh BASELINE_CHECKOUT [rounds]}" && pwd)"
for round in $(seq "${2:-2}"); do
  (cd "$BASELINE" && OMS_AB_CEILING=1 bench/ab.sh "base-r$round")
  (cd "$ROOT" && OMS_AB_CEILING=1 bench/ab.sh "open-r$round")
  (cd "$ROOT" && OMS_AB_CEILING=1 OMS_API_KEYS=1 bench/ab.sh "keys-r$round")
done
