#!/usr/bin/env bash
# Streaming benchmark: export, verify and import of a large synthetic
# vulnerability DB, against standard tools doing the same byte work in the
# same run (GNU tar + zstd + gzip), with peak memory of every step.
#
#   scripts/bench.sh            # 512 MiB trivy.db (valid bbolt, incompressible)
#   BENCH_MIB=2048 scripts/bench.sh
#
# Prints wall time, peak RSS and the ratio airlock/baseline. Memory must stay
# flat whatever BENCH_MIB is; time should stay within a small factor of the
# baseline (airlock also hashes every byte and checks every entry).
set -euo pipefail
cd "$(dirname "$0")/.."
mib="${BENCH_MIB:-512}"
cargo build --release --locked --quiet
bin="$PWD/target/release/airlock"
work="$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "preparing a ${mib} MiB trivy.db layer in $work" >&2
mkdir -p "$work/layer" "$work/in"
# A valid bbolt file (import checks that Trivy can open it): two meta pages, a
# freelist, the root bucket holding an empty `vulnerability` bucket, then
# incompressible pages that no bucket points to, up to the size asked for.
python3 - "$work/layer/trivy.db" "$((mib * 1024 * 1024))" <<'PY'
import struct, sys
path, total = sys.argv[1], int(sys.argv[2])
ps = 4096
def page(pgid, flags, count=0, body=b""):
    p = struct.pack("<QHHI", pgid, flags, count, 0) + body
    return p + b"\0" * (ps - len(p))
def meta(pgid, txid):
    m = struct.pack("<IIIIQQQQQ", 0xED0CDAED, 2, ps, 0, 3, 0, 2, total // ps, txid)
    h = 0xcbf29ce484222325
    for b in m:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return page(pgid, 0x04, body=m + struct.pack("<Q", h))
key = b"vulnerability"
root = struct.pack("<IIII", 1, 16, len(key), 16) + key + struct.pack("<QQ", 4, 0)
with open(path, "wb") as f:
    f.write(meta(0, 0) + meta(1, 1) + page(2, 0x10) + page(3, 0x02, 1, root) + page(4, 0x02))
    with open("/dev/urandom", "rb") as r:
        left = total - 5 * ps
        while left:
            n = min(left, 1 << 20)
            f.write(r.read(n))
            left -= n
PY
printf '{"Version":2,"NextUpdate":"2026-11-26T00:00:00Z","UpdatedAt":"2026-11-25T00:00:00Z","DownloadedAt":"0001-01-01T00:00:00Z"}' \
    > "$work/layer/metadata.json"
tar -C "$work/layer" -cf - metadata.json trivy.db | gzip -1 > "$work/in/db.tar.gz"
rm -f "$work/layer/trivy.db"
"$bin" keygen --out "$work/k" --unencrypted >/dev/null

# measure NAME CMD...: runs CMD, records "seconds peak_kib"
declare -A secs rss
measure() {
    local name=$1; shift
    sync
    /usr/bin/time -f "%e %M" -o "$work/time.$name" "$@" >/dev/null
    read -r secs[$name] rss[$name] < "$work/time.$name"
}

measure base_pack   tar --zstd -cf "$work/base.tar.zst" -C "$work/in" db.tar.gz
measure export      "$bin" export -o "$work/b.airlock" --sign-key "$work/k.key" --trivy-db "$work/in/db.tar.gz" --created 2026-11-25T00:00:00Z
mkdir -p "$work/x1" "$work/x2"
measure base_check  sh -c "zstd -dc '$work/base.tar.zst' | tar -xOf - db.tar.gz | gzip -dc | sha256sum"
measure verify      "$bin" verify "$work/b.airlock" --key "$work/k.pub"
measure base_unpack sh -c "tar --zstd -xf '$work/base.tar.zst' -C '$work/x1' && tar -xzf '$work/x1/db.tar.gz' -C '$work/x2' && sync"
measure import      sh -c "'$bin' import '$work/b.airlock' --key '$work/k.pub' --cache-dir '$work/cache' && sync"

printf '\nairlock streaming benchmark: %s MiB trivy.db, bundle %s bytes\n' "$mib" "$(stat -c %s "$work/b.airlock")"
printf '%-8s %10s %12s   %-12s %10s %12s   %s\n' step seconds peak_MiB baseline seconds peak_MiB ratio
for pair in export:base_pack verify:base_check import:base_unpack; do
    a=${pair%%:*} b=${pair##*:}
    ratio=$(python3 -c "print(f'{${secs[$a]}/max(${secs[$b]},0.01):.2f}x')")
    printf '%-8s %10s %12.1f   %-12s %10s %12.1f   %s\n' "$a" "${secs[$a]}" "$(python3 -c "print(${rss[$a]}/1024)")" \
        "$b" "${secs[$b]}" "$(python3 -c "print(${rss[$b]}/1024)")" "$ratio"
done
