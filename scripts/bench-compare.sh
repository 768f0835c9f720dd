#!/usr/bin/env bash
# `make bench-compare BASE=<git revision>`: builds the release binary of BASE (in a
# temporary worktree, sharing this tree's target folder so dependencies are reused) and of
# the working tree, then compares their cached read paths (scripts/bench/compare.py).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
base=${BASE:?set BASE to a git revision, e.g. make bench-compare BASE=main}
command -v wrk >/dev/null 2>&1 || die "wrk is missing; run make bench once (it installs wrk)"
out="$PWD/target/compare"
mkdir -p "$out"
worktree=$(mktemp -d)
trap 'git worktree remove --force "$worktree" >/dev/null 2>&1 || true' EXIT
step "Building $base"
git worktree add --detach "$worktree" "$base" >/dev/null
(cd "$worktree" && CARGO_TARGET_DIR="$out/target" cargo build --release --locked -p fido-api --bin fido)
cp "$out/target/release/fido" "$out/fido-base"
step "Building the working tree"
CARGO_TARGET_DIR="$out/target" cargo build --release --locked -p fido-api --bin fido
cp "$out/target/release/fido" "$out/fido-new"
step "Comparing (cached list and statistics)"
python3 scripts/bench/compare.py "$out/fido-base" "$out/fido-new"
