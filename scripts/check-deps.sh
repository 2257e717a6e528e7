#!/usr/bin/env bash
# The dependency policy in deny.toml (issue 14): licenses, bans and sources
# always; RustSec advisories where the advisory database can be fetched, and
# otherwise a plain "advisories: NOT CHECKED" line (never a silent pass).
set -euo pipefail
cd "$(dirname "$0")/.."
deny=target/tools/cargo-deny/bin/cargo-deny
[ -x "$deny" ] || { echo "cargo-deny is not installed: run scripts/install-test-tools.sh" >&2; exit 1; }

"$deny" --locked check licenses bans sources

# The advisory database is a git repository cargo-deny clones or updates;
# whether it can be reached is known only by trying.
if "$deny" --locked fetch db >/dev/null 2>&1; then
    "$deny" --locked check advisories
else
    echo "advisories: NOT CHECKED (the RustSec advisory database cannot be fetched from here)" >&2
fi
