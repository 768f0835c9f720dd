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
# The two revisions share one target folder (dependencies are built once), but cargo can
# take one revision's compiled workspace crates for the other's (same names, versions and
# features): they are removed before each build, so each binary is built from its own
# sources. Checked after the build: the two binaries must differ.
members=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json,sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
forget_workspace() {
  # shellcheck disable=SC2086  # one word per package flag
  CARGO_TARGET_DIR="$out/target" cargo clean --release --quiet $members 2>/dev/null || true
}
step "Building $base"
git worktree add --detach "$worktree" "$base" >/dev/null
forget_workspace
(cd "$worktree" && CARGO_TARGET_DIR="$out/target" cargo build --release --locked -p fido-api --bin fido)
cp "$out/target/release/fido" "$out/fido-base"
step "Building the working tree"
forget_workspace
CARGO_TARGET_DIR="$out/target" cargo build --release --locked -p fido-api --bin fido
cp "$out/target/release/fido" "$out/fido-new"
if cmp -s "$out/fido-base" "$out/fido-new" && [ -n "$(git diff "$base" --stat -- crates Cargo.lock)" ]; then
  die "the two builds are identical although the sources differ: stale build products"
fi
step "Comparing (cached list and statistics)"
python3 scripts/bench/compare.py "$out/fido-base" "$out/fido-new"
