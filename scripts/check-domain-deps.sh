#!/usr/bin/env bash
# The domain crate's dependency tree is an allow-list: every crate in it (direct or
# transitive, normal dependencies only) must be named in crates/domain/allowed-dependencies.txt.
# Anything else — a database driver, a web framework, an async runtime — fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."
allowed=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' crates/domain/allowed-dependencies.txt | grep -v '^$' | sort -u)
tree=$(cargo tree -p fido-domain -e normal --prefix none --locked | awk '{print $1}' | sort -u)
unlisted=$(comm -23 <(echo "$tree") <(echo "$allowed"))
if [ -n "$unlisted" ]; then
  echo "fido-domain depends on crates that crates/domain/allowed-dependencies.txt does not allow:" >&2
  echo "$unlisted" >&2
  exit 1
fi
stale=$(comm -13 <(echo "$tree") <(echo "$allowed"))
if [ -n "$stale" ]; then
  echo "note: allowed but no longer used by fido-domain (remove them from the list): $(echo $stale)"
fi
echo "fido-domain: $(echo "$tree" | wc -l) crates in its tree, every one on the allow-list"
