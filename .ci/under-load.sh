#!/usr/bin/env bash
# The flakiness check: .ci/run on fresh clones of this checkout's HEAD, N times in a row, each with two CPU-burning
# loops beside it (stopped by PID after). shared/ is copied beside each clone, read-only, as CI lays it out.
#   .ci/under-load.sh [runs]        default 3; logs in /tmp/ci-under-load-<n>.log; exit 1 if any run failed
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="$(cd "$ROOT/../shared" && pwd)" || { echo "../shared not found beside the checkout"; exit 1; }
failed=0
for n in $(seq "${1:-3}"); do
  dir=$(mktemp -d /tmp/ci-under-load.XXXX)
  git clone -q "$ROOT" "$dir/p" && mkdir "$dir/shared" && cp -r "$SHARED/." "$dir/shared/" && chmod -R a-w "$dir/shared"
  yes > /dev/null & burn1=$!
  yes > /dev/null & burn2=$!
  start=$(date +%s)
  (cd "$dir/p" && CI=true bash .ci/run > "/tmp/ci-under-load-$n.log" 2>&1 < /dev/null); rc=$?
  kill "$burn1" "$burn2"
  echo "run $n ($(git -C "$dir/p" log --oneline -1 | cut -c1-7)): exit $rc in $(( $(date +%s) - start )) s; $(tail -1 "/tmp/ci-under-load-$n.log")"
  [ "$rc" -eq 0 ] || failed=1
  chmod -R u+w "$dir" && rm -rf "$dir"
done
exit "$failed"
