#!/usr/bin/env bash
# `make test`: installs and starts what the tests need, then runs every check.
# Safe to run again and again; works whether or not the services are already running.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/services.sh
trap stop_started_services EXIT

step "Python venv (Fernet interop, MongoDB-compatible test server)"
ensure_venv
export FIDO_PYTHON="$PWD/.venv/bin/python"
export FIDO_SECANTUSD="$PWD/.venv/bin/secantusd-py"

step "Format"
cargo fmt --all -- --check

step "Clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Domain crate: every dependency on its allow-list"
bash scripts/check-domain-deps.sh

step "Docs (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "Deployment files (no engine needed)"
bash scripts/check-deploy.sh

step "Services"
ensure_mongodb
ensure_redis
ensure_rabbitmq

step "Tests"
# Doc tests first: the test runner's summary line should close the run.
cargo test --workspace --doc --locked --quiet
# Every run below selects tests from the whole workspace (never `-p fido-api`), so that
# one feature set serves them all and nothing is compiled twice.
if command -v cargo-nextest >/dev/null 2>&1; then
  runner=(cargo nextest run --locked --no-fail-fast --workspace)
  show_output=(--no-capture)
  http_suite=(-E 'binary_id(fido-api::api)')
  soak=(-E 'binary_id(fido-api::api) & test(soak)')
else
  runner=(cargo test --locked --no-fail-fast --workspace)
  show_output=()
  http_suite=(--test api)
  soak=(--test api -- soak)
fi
mkdir -p target/test-services
FIDO_EVENT_SAMPLES="$PWD/target/test-services/event-samples.json" "${runner[@]}"

step "Events: real feed output against docs/events.schema.json"
.venv/bin/python - <<'PY'
import json, pathlib
from jsonschema import Draft202012Validator
schema = json.loads(pathlib.Path("docs/events.schema.json").read_text())
Draft202012Validator.check_schema(schema)
events = json.loads(pathlib.Path("target/test-services/event-samples.json").read_text())
assert {e["type"] for e in events} == {"transaction.created", "transaction.updated", "transaction.deleted"}, events
validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
for event in events:
    validator.validate(event)
print(f"{len(events)} events of every type match the schema")
PY

step "Soak: 60 s of mixed traffic, then exact reconciliation"
FIDO_SOAK_SECS=${FIDO_SOAK_SECS:-60} "${runner[@]}" "${show_output[@]}" "${soak[@]}"

step "Fuzz: schemathesis against the OpenAPI document (bounded)"
bash scripts/fuzz.sh

step "Clients of the original: a client generated from /openapi.json exercises every operation"
bash scripts/compat.sh

step "The one web page: Swagger UI driven in headless Chromium (screenshot: target/browser/docs.png)"
bash scripts/browser.sh

step "HTTP tests again, on the production topology: MongoDB and Redis"
# On fresh test servers (see fresh_mongodb): the tests that load the server for a while
# (the nextest group `load` in .config/nextest.toml) on one of their own, after the rest.
fresh_mongodb secantusdb-http
if command -v cargo-nextest >/dev/null 2>&1; then
  FIDO_TEST_STORE=mongodb FIDO_TEST_CACHE=redis "${runner[@]}" -E "binary_id(fido-api::api) & !group(load)"
  fresh_mongodb secantusdb-load
  FIDO_TEST_STORE=mongodb FIDO_TEST_CACHE=redis "${runner[@]}" -E "binary_id(fido-api::api) & group(load)"
else
  FIDO_TEST_STORE=mongodb FIDO_TEST_CACHE=redis "${runner[@]}" "${http_suite[@]}"
fi
print_step_times
step "All checks passed"
