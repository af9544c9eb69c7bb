#!/usr/bin/env bash
# Starts, stops or reports the long-running services the integration tests read from:
# Redis and RabbitMQ (an isolated node with the management API), on fixed loopback ports,
# with all their state in a per-run directory under target/test-services/.
#
#   scripts/test-services.sh start    # idempotent; writes target/test-services/env
#   scripts/test-services.sh status
#   scripts/test-services.sh stop     # by PID, including the epmd this script started
#
# The env file holds PRESCALE_TEST_REDIS_URL, PRESCALE_TEST_RABBITMQ_URL (management API) and
# PRESCALE_TEST_AMQP_URL; `set -a; . target/test-services/env; set +a` exports them (the tests
# also read the file directly). Prometheus is not started here: tests start their own
# instance (prescale-testkit). Ports can be moved with PRESCALE_TEST_REDIS_PORT,
# PRESCALE_TEST_AMQP_PORT, PRESCALE_TEST_RABBITMQ_PORT and PRESCALE_TEST_RABBITMQ_DIST_PORT.
# Needs the Debian packages redis-server and rabbitmq-server (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE="$PWD/target/test-services"
RUN="$BASE/run"
ENV_FILE="$BASE/env"
REDIS_PORT="${PRESCALE_TEST_REDIS_PORT:-16379}"
AMQP_PORT="${PRESCALE_TEST_AMQP_PORT:-25672}"
MGMT_PORT="${PRESCALE_TEST_RABBITMQ_PORT:-25673}"
DIST_PORT="${PRESCALE_TEST_RABBITMQ_DIST_PORT:-25674}"
EPMD_PORT=4369
READY_SECS="${PRESCALE_TEST_READY_SECS:-60}"
RABBITMQ_BIN=/usr/lib/rabbitmq/bin

log() { echo "test-services: $*" >&2; }

die_with_log() { # message, log file
  log "error: $1"
  if [ -f "$2" ]; then
    log "last lines of $2:"
    tail -n 30 "$2" >&2 || true
  fi
  exit 1
}

alive() { # pid file
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

listening() { # port
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN
}

wait_port_free() { # port, seconds
  local deadline=$((SECONDS + $2))
  while listening "$1"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

stop_pid() { # pid file, name
  local pidfile="$1" name="$2" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop in 30 s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
    log "$name stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

redis_start() {
  local dir="$RUN/redis"
  if alive "$dir/redis.pid"; then
    log "redis already running (pid $(cat "$dir/redis.pid"), port $REDIS_PORT)"
    return
  fi
  command -v redis-server >/dev/null || die_with_log "redis-server is not installed (Debian package redis-server)" /dev/null
  listening "$REDIS_PORT" && die_with_log "port $REDIS_PORT is taken by another process" /dev/null
  mkdir -p "$dir"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  local deadline=$((SECONDS + READY_SECS))
  until redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; do
    [ "$SECONDS" -lt "$deadline" ] || die_with_log "redis not ready within ${READY_SECS} s" "$dir/redis.log"
    sleep 0.05
  done
  # --daemonize writes the pid file just after it starts answering.
  until [ -s "$dir/redis.pid" ]; do sleep 0.05; done
  log "redis ready on 127.0.0.1:$REDIS_PORT (pid $(cat "$dir/redis.pid"))"
}

rabbitmq_env() {
  local dir="$RUN/rabbitmq"
  export HOME="$dir" RABBITMQ_NODENAME="$(cat "$dir/nodename")" ERL_EPMD_ADDRESS=127.0.0.1 \
    ERL_EPMD_PORT="$EPMD_PORT" ERL_CRASH_DUMP="$dir/erl_crash.dump" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/rabbit.pid" \
    RABBITMQ_DIST_PORT="$DIST_PORT" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

rabbitmq_start() {
  local dir="$RUN/rabbitmq"
  if alive "$dir/rabbit.pid"; then
    log "rabbitmq already running (pid $(cat "$dir/rabbit.pid"), amqp $AMQP_PORT, management $MGMT_PORT)"
    return
  fi
  [ -x "$RABBITMQ_BIN/rabbitmq-server" ] || die_with_log "rabbitmq-server is not installed (Debian package rabbitmq-server)" /dev/null
  for port in "$AMQP_PORT" "$MGMT_PORT" "$DIST_PORT"; do
    # A node stopped a moment ago may still hold its ports.
    wait_port_free "$port" 15 || die_with_log "port $port is taken by another process" /dev/null
  done
  rm -rf "$dir"
  mkdir -p "$dir/log"
  echo "prescale-test-$$@localhost" >"$dir/nodename"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
loopback_users.guest = true
# Queue counts in the management API within about 1 s instead of 5 s.
collect_statistics_interval = 500
management.sample_retention_policies.global.minute = 1
management.sample_retention_policies.basic.minute = 1
management.sample_retention_policies.detailed.10 = 1
CONF
  echo '[rabbitmq_management].' >"$dir/enabled_plugins"
  # Our own epmd, loopback only, unless one is already there (then it is not ours to stop).
  if ! listening "$EPMD_PORT"; then
    (cd "$dir" && exec epmd -address 127.0.0.1 -port "$EPMD_PORT" >"$dir/epmd.log" 2>&1) &
    echo $! >"$RUN/epmd.pid"
    local deadline=$((SECONDS + 10))
    until listening "$EPMD_PORT"; do
      [ "$SECONDS" -lt "$deadline" ] || die_with_log "epmd did not start" "$dir/epmd.log"
      sleep 0.05
    done
  fi
  (
    rabbitmq_env
    cd "$dir"
    "$RABBITMQ_BIN/rabbitmq-server" -detached >"$dir/start.log" 2>&1
  ) || die_with_log "rabbitmq-server -detached failed" "$dir/start.log"
  local deadline=$((SECONDS + READY_SECS))
  until [ -s "$dir/rabbit.pid" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die_with_log "rabbitmq wrote no pid file within ${READY_SECS} s" "$(ls "$dir"/log/*.log 2>/dev/null | head -n 1 || echo "$dir/start.log")"
    sleep 0.1
  done
  until curl -sf -u guest:guest "http://127.0.0.1:$MGMT_PORT/api/overview" >/dev/null 2>&1; do
    if ! alive "$dir/rabbit.pid"; then
      die_with_log "rabbitmq exited during start" "$(ls "$dir"/log/*.log 2>/dev/null | head -n 1 || echo "$dir/start.log")"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die_with_log "rabbitmq management API not ready within ${READY_SECS} s" "$(ls "$dir"/log/*.log 2>/dev/null | head -n 1 || echo "$dir/start.log")"
    sleep 0.2
  done
  log "rabbitmq ready: amqp 127.0.0.1:$AMQP_PORT, management http://127.0.0.1:$MGMT_PORT (pid $(cat "$dir/rabbit.pid"))"
}

write_env() {
  mkdir -p "$BASE"
  cat >"$ENV_FILE" <<ENV
PRESCALE_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT
PRESCALE_TEST_RABBITMQ_URL=http://guest:guest@127.0.0.1:$MGMT_PORT
PRESCALE_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2F
ENV
  log "wrote $ENV_FILE"
}

start() {
  mkdir -p "$RUN"
  redis_start
  rabbitmq_start
  write_env
}

stop() {
  stop_pid "$RUN/redis/redis.pid" redis
  stop_pid "$RUN/rabbitmq/rabbit.pid" rabbitmq
  stop_pid "$RUN/epmd.pid" epmd
  rm -f "$ENV_FILE"
}

status() {
  local rc=0
  if alive "$RUN/redis/redis.pid"; then
    echo "redis: running (pid $(cat "$RUN/redis/redis.pid"), redis://127.0.0.1:$REDIS_PORT)"
  else
    echo "redis: stopped"; rc=3
  fi
  if alive "$RUN/rabbitmq/rabbit.pid"; then
    echo "rabbitmq: running (pid $(cat "$RUN/rabbitmq/rabbit.pid"), management http://127.0.0.1:$MGMT_PORT, amqp 127.0.0.1:$AMQP_PORT)"
  else
    echo "rabbitmq: stopped"; rc=3
  fi
  return "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
