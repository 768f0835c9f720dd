# Shared helpers of the scripts. Sourced, not run.

step() { printf '\n==> %s\n' "$*"; }
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
