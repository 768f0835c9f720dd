# Starting the services the tests need. Sourced by scripts/test.sh, not run.
# Each function exports the URL the tests read, and leaves a server it started to be
# stopped by stop_started_services (called from an EXIT trap).

STARTED_PIDS=()

stop_started_services() {
  for pid in "${STARTED_PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # port seconds what
  local port=$1 deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || die "$3 did not listen on 127.0.0.1:$port within $2 s"
    sleep 0.2
  done
}

# MongoDB: an existing MONGODB_URI (a real MongoDB) wins; otherwise the pinned
# MongoDB-wire-compatible SecantusDB from the venv, in memory, on a free port.
MONGODB_GIVEN=${MONGODB_URI:-}
MONGODB_PID=
ensure_mongodb() { # [log name]
  if [ -n "$MONGODB_GIVEN" ]; then
    echo "using MONGODB_URI from the environment"
    return
  fi
  local port log
  port=$(free_port)
  log="target/test-services/${1:-secantusdb}.log"
  mkdir -p "$(dirname "$log")"
  .venv/bin/secantusd-py --host 127.0.0.1 --port "$port" --storage-path :memory: >"$log" 2>&1 &
  MONGODB_PID=$!
  STARTED_PIDS+=("$MONGODB_PID")
  wait_for_port "$port" 60 "SecantusDB (log: $log)"
  export MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true&retryWrites=false"
  echo "SecantusDB listening on 127.0.0.1:$port (log: $log)"
}

# A new, empty SecantusDB in place of the one this script started (a real MongoDB from
# the environment stays). The test server keeps every session's transaction state for
# its whole life and every transactional command walks it, so it slows down as a run
# goes on: a stage that measures or bounds time starts on a fresh one.
fresh_mongodb() { # [log name]
  [ -n "$MONGODB_GIVEN" ] && return
  if [ -n "$MONGODB_PID" ]; then
    kill "$MONGODB_PID" 2>/dev/null || true
    wait "$MONGODB_PID" 2>/dev/null || true
  fi
  ensure_mongodb "$@"
}

redis_answers() { # port
  local reply
  # The group keeps `2>/dev/null` from applying to the whole shell, as a bare `exec` would.
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  [[ "$reply" == +PONG* ]]
}

# Redis: a private redis-server on a free port, started here and stopped at the end
# (installed with apt when missing); FIDO_TEST_REDIS_URL overrides on purpose.
ensure_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing redis-server with apt"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    command -v redis-server >/dev/null 2>&1 || die "redis-server is missing; install it (e.g. apt-get install redis-server)"
  fi
  export FIDO_REDIS_SERVER
  FIDO_REDIS_SERVER=$(command -v redis-server)
  # Tests never write where a deployment could read: not the machine's Redis on 6379,
  # not a REDIS_URL inherited from the environment, but a private server of their own
  # (FIDO_TEST_REDIS_URL names another server on purpose, e.g. a throwaway one in CI).
  if [ -n "${FIDO_TEST_REDIS_URL:-}" ]; then
    export REDIS_URL="$FIDO_TEST_REDIS_URL"
    echo "using FIDO_TEST_REDIS_URL"
    return
  fi
  local port log
  port=$(free_port)
  log="target/test-services/redis.log"
  mkdir -p "$(dirname "$log")"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no >"$log" 2>&1 &
  STARTED_PIDS+=("$!")
  wait_for_port "$port" 30 "redis-server (log: $log)"
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "redis-server listening on 127.0.0.1:$port (log: $log)"
}

amqp_answers() { # port
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  exec 3<&- 3>&-
}

# RabbitMQ: the machine's broker on 5672 (guest/guest), started when it is not running
# (installed with apt when missing). The tests publish to exchanges and queues of their own
# (unique names, auto-deleted), and never stop the broker. FIDO_TEST_AMQP_URL names
# another broker on purpose.
ensure_rabbitmq() {
  if [ -n "${FIDO_TEST_AMQP_URL:-}" ]; then
    echo "using FIDO_TEST_AMQP_URL"
    return
  fi
  export FIDO_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
  if amqp_answers 5672; then
    echo "RabbitMQ answers on 127.0.0.1:5672"
    return
  fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing rabbitmq-server with apt"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    fi
    command -v rabbitmq-server >/dev/null 2>&1 || die "rabbitmq-server is missing; install it (e.g. apt-get install rabbitmq-server)"
  fi
  echo "starting RabbitMQ (rabbitmq-server -detached)"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for_port 5672 120 "RabbitMQ"
  # The port opens before the broker accepts logins; give it a moment to finish booting.
  command -v rabbitmqctl >/dev/null 2>&1 && timeout 60 rabbitmqctl await_startup >/dev/null 2>&1 || sleep 5
  echo "RabbitMQ started on 127.0.0.1:5672"
}
