#!/usr/bin/env bash
# `make test`: installs and starts what the tests need, then runs every check.
# Safe to run again and again; works whether or not the services are already running.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

step "Python venv for the Fernet interop tests"
ensure_venv
export FIDO_PYTHON="$PWD/.venv/bin/python"

step "Format"
cargo fmt --all -- --check

step "Clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Domain crate holds no I/O crates"
bash scripts/check-domain-deps.sh

step "Docs (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "Tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  # Doc tests first: nextest's summary line should close the run.
  cargo test --workspace --doc --locked --quiet
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
step "All checks passed"
