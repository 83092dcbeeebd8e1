# Sourced by bench/ab.sh, bench/rss.sh and bench/profile.sh (after they set ROOT): the load generator's command
# line, and a fresh system for one measurement.
LG=(dotnet "$ROOT/bench/Oms.LoadGen/bin/Release/net10.0/Oms.LoadGen.dll"
    --orders-url "http://127.0.0.1:${OMS_ORDERS_PORT:-18001}" --inventory-url "http://127.0.0.1:${OMS_INVENTORY_PORT:-18002}"
    --lines "${OMS_BENCH_LINES:-1}")

# Fresh data, the system started from the Release builds, stopped when the script exits. The solution is built in
# Release once per script run (a stale build would measure old code), unless OMS_SKIP_BUILD=1.
# Settings for the services come from the environment of the call, e.g. `DOTNET_gcServer=0 start_fresh_system`.
# With OMS_API_KEYS=1 the system requires an API key: one is made here (unless OMS_API_KEY is set) and exported, so that
# run-system.sh configures its hash and the load generator sends it (it reads OMS_API_KEY).
start_fresh_system() {
  if [[ "${OMS_API_KEYS:-0}" == 1 && -z "${OMS_API_KEY:-}" ]]; then
    OMS_API_KEY="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    export OMS_API_KEY
  fi
  if [[ "${OMS_SKIP_BUILD:-0}" != 1 && -z "${OMS_BENCH_BUILT:-}" ]]; then
    dotnet build -c Release --nologo -v q "$ROOT/Oms.slnx" >/dev/null
    OMS_BENCH_BUILT=1
  fi
  "$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true
  rm -rf "${OMS_BENCH_DIR:-$ROOT/.data/bench}"
  OMS_SKIP_BUILD=1 "$ROOT/bench/run-system.sh" start >/dev/null
  trap '"$ROOT/bench/run-system.sh" stop >/dev/null 2>&1 || true' EXIT
}
