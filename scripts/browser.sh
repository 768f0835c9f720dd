#!/usr/bin/env bash
# The one web page, in a real browser: Swagger UI at /docs/ in headless Chromium
# (Debian's package, installed with apt when missing), driven by playwright-core (npm,
# pinned in scripts/browser/package-lock.json; it uses the system Chromium and downloads
# no browser). Saves a screenshot to target/browser/docs.png.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/services.sh
trap stop_started_services EXIT

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium with apt"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  command -v chromium >/dev/null 2>&1 || die "chromium is missing; install it (apt-get install chromium)"
fi
command -v npm >/dev/null 2>&1 || die "npm is missing; install Node.js"
if ! cmp -s scripts/browser/package-lock.json scripts/browser/node_modules/.installed-lock 2>/dev/null; then
  (cd scripts/browser && npm ci --no-audit --no-fund --silent)
  cp scripts/browser/package-lock.json scripts/browser/node_modules/.installed-lock
fi

key="fido_browser_$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
hash=$(python3 -c "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())" "$key")
port=$(free_port)
work=$(mktemp -d)
binary="$PWD/target/debug/fido"
[ -x "$binary" ] || cargo build --locked -q -p fido-api --bin fido
(cd "$work" && unset REDIS_URL DB_URI && API_KEYS="browser:$hash:read+write" PORT="$port" \
  FIDO__LOG__FORMAT=text FIDO__METRICS__ADDR= exec "$binary" >"$work/fido.log" 2>&1) &
STARTED_PIDS+=("$!")
wait_for_port "$port" 30 "fido"

mkdir -p target/browser
CHROMIUM=$(command -v chromium) node scripts/browser/docs-ui.mjs \
  "http://127.0.0.1:$port" "$key" "$PWD/target/browser/docs.png"
rm -rf "$work"
