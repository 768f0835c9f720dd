#!/usr/bin/env bash
# The domain crate must not depend on any I/O crate, directly or through another crate.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(actix-[a-z-]+|actix|mongodb|bson|redis|deadpool(-[a-z]+)?|fernet|rusqlite|libsqlite3-sys|moka|tokio|hyper|reqwest|openssl) '
tree=$(cargo tree -p fido-domain -e normal --prefix none --locked)
if found=$(grep -E "$forbidden" <<<"$tree" | sort -u) && [ -n "$found" ]; then
  echo "fido-domain depends on I/O crates:" >&2
  echo "$found" >&2
  exit 1
fi
echo "fido-domain: $(sort -u <<<"$tree" | wc -l) crates in its tree, none of them I/O"
