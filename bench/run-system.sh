#!/usr/bin/env bash
# Starts the whole system for benchmarking as local processes, or stops it.
#
#   bench/run-system.sh start     # private PostgreSQL + the three services (Release), waits for /health/ready
#   bench/run-system.sh stop
#   bench/run-system.sh status
#   bench/run-system.sh postgres  # only the private PostgreSQL (bench/list-explain.sh); stop stops it
#   bench/run-system.sh broker-stop / broker-start   # with OMS_EVENTS=1: an outage of the broker (bench/events.sh)
#   bench/run-system.sh services-stop   # only the three services (PostgreSQL stays up, warm): `start` starts them again
#                                       # cold (bench/cold-start.sh)
#
# PostgreSQL runs from the machine's binaries (as the postgres user when root) with durable commits:
# fsync and synchronous_commit stay on. Settings (environment):
#   OMS_BENCH_DIR   state folder (data, logs, pids)            default: <repo>/.data/bench
#   OMS_PG_PORT     PostgreSQL port                            default: 25432 (below the ephemeral port range)
#   OMS_ORDERS_PORT / OMS_INVENTORY_PORT / OMS_PAYMENTS_PORT    default: 18001 / 18002 / 18003 (not 8001-8003: other runs on the box may hold those)
#   OMS_SERVICE_TOKEN  the service token (generated when unset)
#   OMS_PG_STAT_STATEMENTS=1  also load pg_stat_statements (for profiling; small overhead)
#   OMS_PG_OPTIONS  extra postgres options, e.g. "-c commit_delay=100"
#   OMS_PG_HOST     how the services reach PostgreSQL: 127.0.0.1 (default) or its socket folder (<state>/pg)
#   OMS_CONNECTION_OPTIONS  appended to the services' connection strings, e.g. "Multiplexing=false"
#   OMS_POOL_SIZE   Maximum Pool Size per service (default: the services' own, max(8, 4 x cores))
#   OMS_H2C=0       HTTP/1.1 from the order service to inventory and payments; default 1: HTTP/2 cleartext to
#                   their internal endpoints (InternalUrls) on port +100, as the services are wired by default
#   OMS_TRACING=0   metrics only. Default 1: tracing on, as the issue's targets ask ("telemetry left on, sampled
#                   tracing is fine"): the services export sampled traces (and their metrics and warnings) over
#                   OTLP/HTTP to bench/Oms.TraceSink, a stand-in collector on OMS_TRACE_SINK_PORT (default 18317)
#   OMS_TRACE_SAMPLE_RATIO  fraction of traces kept (Telemetry:TraceSampleRatio)   default: 0.1
#   OMS_API_KEYS=1  API keys on: every service gets one key ("bench", every scope) and a rate limit; the key is OMS_API_KEY,
#                   else generated and kept in <state>/api-key (the load generator reads OMS_API_KEY; bench/lib.sh exports it)
#   OMS_RATE_LIMIT  RateLimit:PermitsPerSecond per API key (per client address when open)
#                   default: off; 1000000 with OMS_API_KEYS=1 (configured, never binding)
#   OMS_EVENTS=1    publishing on: a private RabbitMQ node from the machine's binaries (data in <state>/rabbitmq, its own
#                   epmd, guest over loopback, no management plugin) on OMS_RABBITMQ_PORT (default 18672; its Erlang
#                   distribution on +1, its epmd on +2), and the order service gets ConnectionStrings__events. Default 0:
#                   no broker, ConnectionStrings__events empty, publishing off (no outbox rows)
#   OMS_RABBITMQ_NICE  the broker's nice value (default 0), e.g. 19: it gets the CPU the rest leaves (sitting 19)
#   OMS_SKIP_BUILD=1  do not run dotnet build first
#   OMS_SERVICES_DIR  run <dir>/<Service>/<Service>.dll (a `dotnet publish` output, e.g. ReadyToRun) instead of the
#                   Release build output src/<Service>/bin/Release/net10.0 (implies no build of the services)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${OMS_BENCH_DIR:-$ROOT/.data/bench}"
PGDATA="$STATE/pg"
# Moved out of reach-trouble by relocate_pgdata (see there); the state folder remembers where.
[[ -f "$STATE/pgdata" ]] && PGDATA="$(cat "$STATE/pgdata")"
PGPORT="${OMS_PG_PORT:-25432}"
ORDERS_PORT="${OMS_ORDERS_PORT:-18001}"
INVENTORY_PORT="${OMS_INVENTORY_PORT:-18002}"
PAYMENTS_PORT="${OMS_PAYMENTS_PORT:-18003}"
SINK_PORT="${OMS_TRACE_SINK_PORT:-18317}"
H2C="${OMS_H2C:-1}"
INVENTORY_H2C_PORT=$((INVENTORY_PORT + 100))
PAYMENTS_H2C_PORT=$((PAYMENTS_PORT + 100))
TRACING="${OMS_TRACING:-1}"
SERVICES=(Orders.Api Inventory.Api Payments.Api)
EVENTS="${OMS_EVENTS:-0}"
RMQ_DIR="$STATE/rabbitmq"
RMQ_PORT="${OMS_RABBITMQ_PORT:-18672}"
RMQ_SBIN=/usr/lib/rabbitmq/bin
EVENTS_URI="amqp://guest:guest@127.0.0.1:$RMQ_PORT/"

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    [[ -x "$d/initdb" ]] && { echo "$d"; return; }
  done
  dirname "$(command -v initdb)"
}
PGBIN="$(pg_bin)"

as_pg() { if [[ $(id -u) == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
psql_admin() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

# As root, PostgreSQL runs as the postgres user, who cannot reach a state folder under /root or a 0700 temp folder
# (a fresh clone in `mktemp -d`): then its data lives under /var/lib/oms-bench/<hash of the state folder> instead.
# A state folder without data means fresh data there too, so `rm -rf .data/bench` still starts from scratch.
relocate_pgdata() {
  [[ $(id -u) == 0 && ! -f "$STATE/pgdata" ]] || return 0
  runuser -u postgres -- test -x "$STATE" 2>/dev/null && return 0
  PGDATA="/var/lib/oms-bench/$(printf '%s' "$STATE" | md5sum | cut -c1-12)/pg"
  rm -rf "$PGDATA"
  mkdir -p "$PGDATA"
  chown postgres "$(dirname "$PGDATA")" "$PGDATA"
  chmod 700 "$PGDATA"
  echo "$PGDATA" >"$STATE/pgdata"
  echo "the postgres user cannot reach $STATE: PostgreSQL data in $PGDATA"
}

start_postgres() {
  mkdir -p "$STATE"
  relocate_pgdata
  if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
    mkdir -p "$PGDATA"
    [[ $(id -u) == 0 ]] && chown postgres "$STATE" "$PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 >/dev/null
  fi
  [[ $(id -u) == 0 ]] && chown postgres "$STATE"
  if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    echo "postgres already running on $PGPORT"
    return
  fi
  local preload=""
  [[ "${OMS_PG_STAT_STATEMENTS:-0}" == 1 ]] && preload="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
  # Durable: fsync, synchronous_commit and full_page_writes keep their defaults (on).
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 60 -l "$PGDATA/server.log" -o \
    "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1 -c max_connections=600 -c shared_buffers=512MB \
     -c max_wal_size=4GB -c checkpoint_timeout=15min $preload ${OMS_PG_OPTIONS:-}" start >/dev/null
  echo "postgres started on 127.0.0.1:$PGPORT (data $PGDATA)"
}

create_databases() {
  local db
  for db in orders inventory payments; do
    if [[ -z "$(psql_admin -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$db'")" ]]; then
      psql_admin -d postgres -c "CREATE ROLE $db LOGIN"
    fi
    if [[ -z "$(psql_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
      psql_admin -d postgres -c "CREATE DATABASE $db OWNER $db"
      # Each service's role reaches only its own database.
      psql_admin -d postgres -c "REVOKE CONNECT ON DATABASE $db FROM PUBLIC; GRANT CONNECT ON DATABASE $db TO $db"
    fi
  done
  [[ "${OMS_PG_STAT_STATEMENTS:-0}" == 1 ]] && psql_admin -d postgres -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" || true
}

# start_service <project> <port> <database> [internal h2c port]
start_service() {
  local name="$1" port="$2" db="$3" internal_port="${4:-}"
  local dll="$ROOT/src/$name/bin/Release/net10.0/$name.dll"
  [[ -n "${OMS_SERVICES_DIR:-}" ]] && dll="$OMS_SERVICES_DIR/$name/$name.dll"
  local pidfile="$STATE/$name.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$pidfile"))"
    return
  fi
  (
    cd "$ROOT/src/$name"
    export ASPNETCORE_URLS="http://127.0.0.1:$port"
    export Urls="$ASPNETCORE_URLS"   # appsettings.json's "Urls" would win over ASPNETCORE_URLS; a plain env var wins over it
    export ASPNETCORE_ENVIRONMENT=Production
    export "ConnectionStrings__$db=Host=${OMS_PG_HOST:-127.0.0.1};Port=$PGPORT;Username=$db;Database=$db${OMS_POOL_SIZE:+;Maximum Pool Size=$OMS_POOL_SIZE}${OMS_CONNECTION_OPTIONS:+;$OMS_CONNECTION_OPTIONS}"
    export OMS_SERVICE_TOKEN="$TOKEN"
    export InternalUrls="${internal_port:+http://127.0.0.1:$internal_port}"
    if [[ "$H2C" == 1 ]]; then
      export Saga__Http2=true Saga__InventoryUrl="http://127.0.0.1:$INVENTORY_H2C_PORT" Saga__PaymentUrl="http://127.0.0.1:$PAYMENTS_H2C_PORT"
    else
      export Saga__Http2=false Saga__InventoryUrl="http://127.0.0.1:$INVENTORY_PORT" Saga__PaymentUrl="http://127.0.0.1:$PAYMENTS_PORT"
    fi
    if [[ "$TRACING" == 1 ]]; then
      export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT"
      export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
      export Telemetry__TraceSampleRatio="${OMS_TRACE_SAMPLE_RATIO:-0.1}"
    fi
    unset OMS_API_KEY   # the services get only its hash
    if [[ "${OMS_API_KEYS:-0}" == 1 ]]; then
      export Auth__ApiKeys__0__Name=bench Auth__ApiKeys__0__Hash="$API_KEY_HASH"
      export Auth__ApiKeys__0__Scopes__0="orders:read orders:write stock:read stock:write payments:read"
    fi
    [[ -n "$RATE_LIMIT" ]] && export RateLimit__PermitsPerSecond="$RATE_LIMIT"
    # Empty: publishing off. Only the order service publishes.
    export ConnectionStrings__events=""
    [[ "$EVENTS" == 1 && "$db" == orders ]] && export ConnectionStrings__events="$EVENTS_URI"
    export Logging__LogLevel__Default=Warning
    export Logging__LogLevel__Microsoft=Warning
    exec nohup dotnet "$dll" >"$STATE/$name.log" 2>&1
  ) &
  echo $! >"$pidfile"
}

start_sink() {
  local pidfile="$STATE/Oms.TraceSink.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return; fi
  (exec nohup dotnet "$ROOT/bench/Oms.TraceSink/bin/Release/net10.0/Oms.TraceSink.dll" --urls "http://127.0.0.1:$SINK_PORT" \
     >"$STATE/Oms.TraceSink.log" 2>&1) &
  echo $! >"$pidfile"
  local i
  for i in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$SINK_PORT/stats" >/dev/null 2>&1 && return 0
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.5
  done
  echo "trace sink did not start; see $STATE/Oms.TraceSink.log" >&2
  return 1
}

# The broker's environment: everything of its own under $RMQ_DIR (not /etc/rabbitmq, not /var/lib/rabbitmq, not the
# machine's epmd on 4369), so it runs as root or anyone, next to other nodes.
rmq_env() {
  export HOME="$RMQ_DIR" RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf" RABBITMQ_NODENAME="oms-bench-$RMQ_PORT@localhost" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$RMQ_PORT" RABBITMQ_DIST_PORT=$((RMQ_PORT + 1)) ERL_EPMD_PORT=$((RMQ_PORT + 2)) \
    RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia" RABBITMQ_LOG_BASE="$RMQ_DIR/log" RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config" RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins" \
    RABBITMQ_PLUGINS_EXPAND_DIR="$RMQ_DIR/plugins-expand" RABBITMQ_PID_FILE="$RMQ_DIR/node.pid"
}

broker_pid() { [[ -f "$RMQ_DIR/node.pid" ]] && kill -0 "$(cat "$RMQ_DIR/node.pid")" 2>/dev/null && cat "$RMQ_DIR/node.pid"; }

cmd_broker_start() {
  [[ -x "$RMQ_SBIN/rabbitmq-server" ]] || { echo "$RMQ_SBIN/rabbitmq-server missing: apt-get install rabbitmq-server" >&2; return 1; }
  if broker_pid >/dev/null; then echo "rabbitmq already running (pid $(broker_pid))"; return; fi
  mkdir -p "$RMQ_DIR/log"
  printf 'listeners.tcp.1 = 127.0.0.1:%s\nlog.console = false\nlog.file.level = warning\n' "$RMQ_PORT" >"$RMQ_DIR/rabbitmq.conf"
  echo '[].' >"$RMQ_DIR/enabled_plugins"
  : >"$RMQ_DIR/rabbitmq-env.conf"
  (
    rmq_env
    epmd -port "$ERL_EPMD_PORT" -daemon
    rm -f "$RABBITMQ_PID_FILE"
    exec nice -n "${OMS_RABBITMQ_NICE:-0}" nohup "$RMQ_SBIN/rabbitmq-server" >>"$RMQ_DIR/console.log" 2>&1 </dev/null
  ) &
  local i
  # Ready = its AMQP listener accepts (it opens last in the boot).
  for i in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$RMQ_PORT") 2>/dev/null; then echo "rabbitmq started on 127.0.0.1:$RMQ_PORT (pid $(broker_pid), data $RMQ_DIR)"; return 0; fi
    sleep 0.25
  done
  echo "rabbitmq did not open 127.0.0.1:$RMQ_PORT within 60 s; see $RMQ_DIR/console.log and $RMQ_DIR/log" >&2
  tail -20 "$RMQ_DIR/console.log" >&2
  return 1
}

# A clean stop (SIGTERM: the node shuts down in order), SIGKILL after 30 s; its epmd stays, as on a real host.
cmd_broker_stop() {
  local pid
  pid="$(broker_pid)" || { echo "rabbitmq not running"; return 0; }
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  echo "rabbitmq stopped"
}

wait_ready() {
  local name="$1" port="$2" i
  for i in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then
      # Ready, and it is ours: another process on that port would make the answer meaningless.
      sleep 0.5
      kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null && return 0
      echo "$name exited although something answers on port $port (taken by another process?); see $STATE/$name.log" >&2
      return 1
    fi
    if ! kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
      echo "$name exited; see $STATE/$name.log" >&2
      tail -20 "$STATE/$name.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "$name not ready after 60 s; see $STATE/$name.log" >&2
  return 1
}

cmd_start() {
  if [[ "${OMS_SKIP_BUILD:-0}" != 1 ]]; then
    [[ -n "${OMS_SERVICES_DIR:-}" ]] || (cd "$ROOT" && for s in "${SERVICES[@]}"; do dotnet build -c Release --nologo -v q "src/$s" >/dev/null; done)
    [[ "$TRACING" == 1 ]] && (cd "$ROOT" && dotnet build -c Release --nologo -v q bench/Oms.TraceSink >/dev/null)
  fi
  start_postgres
  create_databases
  mkdir -p "$STATE"
  if [[ -z "${OMS_SERVICE_TOKEN:-}" ]]; then
    if [[ -f "$STATE/token" ]]; then TOKEN="$(cat "$STATE/token")"
    else TOKEN="$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')"; echo "generated service token (kept in $STATE/token)"; fi
  else TOKEN="$OMS_SERVICE_TOKEN"; fi
  (umask 077; echo "$TOKEN" >"$STATE/token")
  RATE_LIMIT="${OMS_RATE_LIMIT:-}"
  if [[ "${OMS_API_KEYS:-0}" == 1 ]]; then
    if [[ -n "${OMS_API_KEY:-}" ]]; then API_KEY="$OMS_API_KEY"
    elif [[ -f "$STATE/api-key" ]]; then API_KEY="$(cat "$STATE/api-key")"
    else API_KEY="$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"; echo "generated API key (kept in $STATE/api-key)"; fi
    (umask 077; echo "$API_KEY" >"$STATE/api-key")
    # Only the hash reaches the services' environment.
    API_KEY_HASH="$(printf %s "$API_KEY" | sha256sum | cut -d' ' -f1)"
    RATE_LIMIT="${RATE_LIMIT:-1000000}"
  fi
  [[ "$TRACING" == 1 ]] && start_sink
  [[ "$EVENTS" == 1 ]] && cmd_broker_start
  # Inventory and payments first: the order service calls them.
  # With h2c, inventory and payments also listen on an internal HTTP/2-only endpoint (port + 100; Kestrel speaks
  # h2c only on an Http2-only endpoint), and the order service calls them there.
  local internal=("" "")
  [[ "$H2C" == 1 ]] && internal=("$INVENTORY_H2C_PORT" "$PAYMENTS_H2C_PORT")
  start_service Inventory.Api "$INVENTORY_PORT" inventory "${internal[0]}"
  start_service Payments.Api "$PAYMENTS_PORT" payments "${internal[1]}"
  start_service Orders.Api "$ORDERS_PORT" orders
  wait_ready Inventory.Api "$INVENTORY_PORT"
  wait_ready Payments.Api "$PAYMENTS_PORT"
  wait_ready Orders.Api "$ORDERS_PORT"
  cmd_status
}

cmd_status() {
  local s
  echo "postgres   pid $(head -1 "$PGDATA/postmaster.pid" 2>/dev/null || echo -)  127.0.0.1:$PGPORT"
  for s in "${SERVICES[@]}"; do
    local port
    case $s in Orders.Api) port=$ORDERS_PORT ;; Inventory.Api) port=$INVENTORY_PORT ;; *) port=$PAYMENTS_PORT ;; esac
    echo "$s pid $(cat "$STATE/$s.pid" 2>/dev/null || echo -)  http://127.0.0.1:$port"
  done
  if broker_pid >/dev/null; then echo "rabbitmq pid $(broker_pid)  $EVENTS_URI (publishing on)"; fi
  if [[ -f "$STATE/Oms.TraceSink.pid" ]]; then
    echo "trace sink pid $(cat "$STATE/Oms.TraceSink.pid")  http://127.0.0.1:$SINK_PORT (sample ratio ${OMS_TRACE_SAMPLE_RATIO:-0.1})"
    curl -fsS "http://127.0.0.1:$SINK_PORT/stats" 2>/dev/null | sed 's/^/  /' || true
  fi
}

# SIGTERM (a graceful shutdown), SIGKILL after 5 s.
stop_processes() {
  local s pid
  for s in "$@"; do
    if [[ -f "$STATE/$s.pid" ]]; then
      pid="$(cat "$STATE/$s.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$STATE/$s.pid"
    fi
  done
}

cmd_stop() {
  stop_processes "${SERVICES[@]}" Oms.TraceSink
  cmd_broker_stop >/dev/null
  [[ -d "$RMQ_DIR" ]] && (rmq_env; epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true)
  if [[ -f "$PGDATA/postmaster.pid" ]]; then as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null || true; fi
  echo "stopped"
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  postgres) start_postgres ;;
  broker-start) cmd_broker_start ;;
  broker-stop) cmd_broker_stop ;;
  services-stop) stop_processes "${SERVICES[@]}"; echo "services stopped" ;;
  *) echo "usage: $0 start|stop|status|postgres|broker-start|broker-stop|services-stop" >&2; exit 2 ;;
esac
