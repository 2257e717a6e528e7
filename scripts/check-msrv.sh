#!/usr/bin/env bash
# Cargo.toml's rust-version must be the real minimum Rust version (issue 14):
#   1. at least the highest `rust-version` any locked dependency declares
#      (cargo metadata over Cargo.lock, every platform), checked always;
#   2. airlock itself builds with it: `cargo +VERSION check` (required when CI=true), when that
#      toolchain is installed (install-test-tools.sh tries `rustup toolchain
#      install`); otherwise said plainly as NOT CHECKED.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r declared needed by < <(cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
m = json.load(sys.stdin)
key = lambda v: tuple(int(x) for x in v.split(".")) + (0,) * (3 - len(v.split(".")))
ws = set(m["workspace_members"])
own = [p for p in m["packages"] if p["id"] in ws][0]
deps = [(p["rust_version"], p["name"]) for p in m["packages"] if p.get("rust_version") and p["id"] not in ws]
v, name = max(deps, key=lambda d: key(d[0]))
print(own.get("rust_version") or "none", v, name)
')
python3 - "$declared" "$needed" "$by" <<'PY'
import sys
declared, needed, by = sys.argv[1:]
key = lambda v: tuple(int(x) for x in v.split(".")) + (0,) * (3 - len(v.split(".")))
if declared == "none" or key(declared) < key(needed):
    sys.exit(f"msrv: Cargo.toml declares rust-version {declared}, but the locked {by} needs {needed}")
print(f"msrv: rust-version {declared} (the locked dependencies need at most {needed}, {by})", file=sys.stderr)
PY

if rustup run "$declared" rustc --version >/dev/null 2>&1; then
    echo "msrv: cargo +$declared check" >&2
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/msrv" \
        cargo "+$declared" check --locked --all-targets --features fault-injection --quiet
    echo "msrv: builds with Rust $declared" >&2
elif [ "${CI:-}" = true ]; then
    echo "msrv: the Rust $declared toolchain is missing (scripts/install-test-tools.sh installs it: rustup toolchain install $declared --profile minimal); CI=true needs it" >&2
    exit 1
else
    echo "msrv: NOT CHECKED that airlock builds with Rust $declared: that toolchain is not installed (rustup toolchain install $declared failed)" >&2
fi
