# Shared helpers of the scripts. Sourced, not run.

# A step of a script; steps are timed, and print_step_times shows the table.
STEP_NAMES=()
STEP_SECONDS=()
STEP_STARTED=$SECONDS
step() {
  if [ "${#STEP_NAMES[@]}" -gt 0 ]; then
    STEP_SECONDS+=($((SECONDS - STEP_STARTED)))
  fi
  STEP_NAMES+=("$*")
  STEP_STARTED=$SECONDS
  printf '\n==> %s\n' "$*"
}

print_step_times() {
  local i total=0
  STEP_SECONDS+=($((SECONDS - STEP_STARTED)))
  printf '\nStage times:\n'
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %5ss  %s\n' "${STEP_SECONDS[$i]:-0}" "${STEP_NAMES[$i]}"
    total=$((total + ${STEP_SECONDS[$i]:-0}))
  done
  printf '  %5ss  total\n' "$total"
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A venv under ./.venv with the Python packages the tests use (pinned).
ensure_venv() {
  local req="scripts/requirements-test.txt"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || die "cannot create a Python venv (is python3-venv installed?)"
  fi
  if ! cmp -s "$req" .venv/.installed-requirements 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" .venv/.installed-requirements
  fi
}
