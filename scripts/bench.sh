#!/usr/bin/env bash
# `make bench`: micro-benchmarks (criterion) of the hot pure code, then the end-to-end
# harness (scripts/bench/bench.py) against the release binary. Prints tables and writes
# target/bench/bench.{json,md}. Never fails on a number.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/services.sh
trap stop_started_services EXIT

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "Installing wrk (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  fi
  command -v wrk >/dev/null 2>&1 || die "wrk is missing; install it (apt-get install wrk)"
fi
step "Python venv (the MongoDB-compatible test server)"
ensure_venv
ensure_redis

step "Micro-benchmarks (criterion)"
cargo bench --locked -p fido-domain -p fido-http -p fido-cipher-fernet --bench hot_paths --bench encode --bench cipher -- --noplot 2>&1 \
  | grep -E '^[a-z].*time:|^fernet|^amount|^page|time:' || true

step "Release build"
cargo build --release --locked -p fido-api --bin fido

step "End-to-end (wrk over 127.0.0.1)"
python3 scripts/bench/bench.py

step "Metrics: cached reads with metrics on vs off"
python3 scripts/bench/metrics.py

step "Traces: cached list with traces off, exported at full sampling, and at a 10 % ratio"
python3 scripts/bench/traces.py

step "Near cache: creates and the cached list with the Redis cache, near cache on vs off"
python3 scripts/bench/near.py

step "Finding: deep pages by cursor and by number, and a streamed export"
python3 scripts/bench/finding.py

step "Balances: at a past instant for a 100,000- and a 1,000-transaction user; running balances"
python3 scripts/bench/balances.py

step "Scale-out: creates with 1, 2, 3 replicas on one MongoDB-wire database, events on vs off; commit to feed"
.venv/bin/python scripts/bench/scaleout.py

step "Switch-over: the write pause of a live move of 100,000 transactions (fido copy --follow)"
.venv/bin/python scripts/bench/switchover.py

step "Bulk transfer: documents per second of import, copy and migrate into MongoDB-wire and SQLite"
.venv/bin/python scripts/bench/transfer.py

step "Events: the outbox's cost, and the delay to RabbitMQ"
ensure_rabbitmq
.venv/bin/python scripts/bench/events.py
