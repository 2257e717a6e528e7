#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the real tools the
# tests use (see install-test-tools.sh), then runs every test. Fails, never
# skips, when a tool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-tools.sh
export AIRLOCK_TRIVY="$PWD/target/tools/trivy"
cargo fmt --check
# Dependency policy (deny.toml) and the declared minimum Rust version.
scripts/check-deps.sh
scripts/check-msrv.sh
cargo clippy --locked --all-targets --all-features -- -D warnings
# Without the feature too: tests that need it are compiled only with it.
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --features fault-injection
