#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 900),
# seeded from the test vectors and the example data, and prints libFuzzer's
# final figures. Needs cargo-fuzz (`cargo install cargo-fuzz`); works on
# stable Rust (RUSTC_BOOTSTRAP lets cargo-fuzz use the sanitizer flags).
#
#   FUZZ_SECONDS=60 scripts/fuzz.sh            # every target, one minute each
#   FUZZ_SECONDS=60 scripts/fuzz.sh manifest   # one target
#
# A crash leaves its input in fuzz/artifacts/<target>/; keep it as a
# regression in tests/fuzz-regressions/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-900}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest bundle unpack)
export RUSTC_BOOTSTRAP=1
seeds="fuzz/corpus"

seed() {
    local target="$1"
    mkdir -p "$seeds/$target"
    case "$target" in
    manifest)
        for b in bundle-spec/vectors/*.airlock; do
            tar --zstd -xOf "$b" airlock/manifest.toml >"$seeds/manifest/$(basename "$b" .airlock).toml" 2>/dev/null || true
        done
        ;;
    bundle)
        for b in bundle-spec/vectors/*.airlock; do
            name="$(basename "$b" .airlock)"
            { printf '\0'; cat "$b"; } >"$seeds/bundle/$name.raw"
            { printf '\1'; zstd -dc <"$b" 2>/dev/null || true; } >"$seeds/bundle/$name.tar"
        done
        ;;
    unpack)
        cp examples/data/*.tar.gz examples/data/*.zip "$seeds/unpack/"
        ;;
    esac
}

for t in "${targets[@]}"; do
    seed "$t"
    echo "== fuzzing $t for ${seconds}s"
    (cd fuzz && cargo fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=1048576 \
        -print_final_stats=1 2>&1) | tee "fuzz/$t.log" | grep -E '^(#[0-9]+ +DONE|stat::|==|SUMMARY|Done)' || true
    grep -q 'stat::number_of_executed_units' "fuzz/$t.log" || { echo "fuzzing $t failed; see fuzz/$t.log"; exit 1; }
done
