#!/usr/bin/env bash
# Compatibility with clients of the original service: generate a Python client with the
# pinned openapi-python-client from this service's /openapi.json, then run
# scripts/compat/exercise.py, which uses only that client's functions and models — named
# after the original service's operationIds and schemas — to exercise every operation,
# including PATCH with nulls and naive date-times. It fails if a name drifts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/services.sh
trap stop_started_services EXIT

req="scripts/requirements-compat.txt"
if [ ! -x .venv-compat/bin/python ]; then
  python3 -m venv .venv-compat || die "cannot create a Python venv (is python3-venv installed?)"
fi
if ! cmp -s "$req" .venv-compat/.installed-requirements 2>/dev/null; then
  .venv-compat/bin/pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" .venv-compat/.installed-requirements
fi

key="fido_compat_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
hash=$(python3 -c "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())" "$key")
port=$(free_port)
work=$(mktemp -d)
binary="$PWD/target/debug/fido"
[ -x "$binary" ] || cargo build --locked -q -p fido-api --bin fido
(cd "$work" && API_KEYS="compat:$hash:read+write" PORT="$port" FIDO__LOG__FORMAT=text \
  REDIS_URL= FIDO__METRICS__ADDR= exec "$binary" >"$work/fido.log" 2>&1) &
STARTED_PIDS+=("$!")
wait_for_port "$port" 30 "fido"

out="$PWD/target/compat"
rm -rf "$out"
mkdir -p "$out"
python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" \
  "http://127.0.0.1:$port/openapi.json" >"$out/openapi.json"
.venv-compat/bin/openapi-python-client generate --path "$out/openapi.json" \
  --config scripts/compat/generator.yaml --meta none --output-path "$out/fido_client" >"$out/generate.log" 2>&1 \
  || { cat "$out/generate.log" >&2; die "the client could not be generated"; }
PYTHONPATH="$out" FIDO_COMPAT_URL="http://127.0.0.1:$port" FIDO_COMPAT_KEY="$key" \
  .venv-compat/bin/python scripts/compat/exercise.py
rm -rf "$work"
