#!/usr/bin/env bash
# airlock benchmark (issue 12): export, verify and import of realistic
# inputs beside standard tools doing the same work in the same run, with
# each ratio against the issue's targets, the peak memory of every airlock
# command and a description of the machine.
#
#   scripts/bench.sh                       # 1 GiB and 4 GiB of databases
#   BENCH_MIB="256" scripts/bench.sh       # other sizes, in MiB (a small smoke run)
#   AIRLOCK_BIN=path/to/airlock scripts/bench.sh   # skip the release build
#   BENCH_DATA=DIR scripts/bench.sh        # keep the inputs in DIR/<MiB>/in
#                                          # and reuse them on the next run
#
# A size is the databases' size before compression: 7/8 a real SQLite Java
# DB (trivy-java-db's schema and indexes, random SHA-1s, packed as
# javadb.tar.gz with gzip -6: it inflates like the real one), 1/8 a valid
# bbolt trivy.db of JSON-like pages (db.tar.gz). The two are made side by
# side, the SQLite rows by SQLite itself; without BENCH_DATA they are made
# again on every run and removed at exit, with it they are made once
# (DIR/<MiB>/in/{javadb,db}.tar.gz, written under a temporary name and
# renamed when complete) and reused while both files are there: delete the
# directory to make new ones. Every command runs once, the file cache warm (inputs were
# just written); import writes into the page cache (no sync): the numbers
# say what the CPU and memory allow, not a slow disk.
#
# Needs: python3 (with its sqlite3 module), GNU tar, gzip, zstd, openssl,
# libdeflate-gunzip, minisign, sha256sum and GNU time (/usr/bin/time). It
# installs nothing: a missing tool is named with the package that has it.
# Scratch files go under ${TMPDIR:-/tmp} and are removed at exit.
set -euo pipefail
if [ -n "${BENCH_DATA:-}" ]; then
    mkdir -p "$BENCH_DATA"
    BENCH_DATA=$(cd "$BENCH_DATA" && pwd)
fi
cd "$(dirname "$0")/.."
sizes="${BENCH_MIB:-1024 4096}"

# tool:debian-package
missing=0
for need in python3:python3 tar:tar gzip:gzip zstd:zstd openssl:openssl \
    libdeflate-gunzip:libdeflate-tools minisign:minisign sha256sum:coreutils \
    /usr/bin/time:time; do
    tool=${need%%:*} pkg=${need##*:}
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench.sh: $tool is missing: install it (Debian: apt-get install $pkg)" >&2
        missing=1
    fi
done
if ! python3 -c 'import sqlite3' 2>/dev/null; then
    echo "bench.sh: python3's sqlite3 module is missing (Debian: apt-get install libpython3-stdlib)" >&2
    missing=1
fi
[ "$missing" = 0 ] || exit 2

if [ -n "${AIRLOCK_BIN:-}" ]; then
    bin=$AIRLOCK_BIN
else
    cargo build --release --locked --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/airlock"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# java_db PATH BYTES: a SQLite Java DB of about BYTES with trivy-java-db's
# schema and indexes. The rows are made by SQLite itself (a recursive CTE,
# C rather than a Python loop): random SHA-1s, artifact ids, versions and
# archive types drawn from fixed word lists.
java_db() {
    # About 110 bytes per index row with its indexes.
    python3 - "$1" "$(($2 / 110 + 1))" <<'PY'
import random, sqlite3, sys
path, rows = sys.argv[1], int(sys.argv[2])
rnd = random.Random(12)
db = sqlite3.connect(path)
db.executescript("""
PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; PRAGMA threads=2;
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,
  FOREIGN KEY (artifact_id) REFERENCES artifacts (id));
CREATE TEMP TABLE w(i INTEGER PRIMARY KEY, s TEXT);
CREATE TEMP TABLE v(i INTEGER PRIMARY KEY, s TEXT);
CREATE TEMP TABLE t(i INTEGER PRIMARY KEY, s TEXT);
""")
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 10))) for _ in range(4000)]
vers = ["%d.%d.%d%s" % (rnd.randint(0, 9), rnd.randint(0, 30), rnd.randint(0, 40), rnd.choice(["", ".Final", "-SNAPSHOT", ".RELEASE", "-jre"])) for _ in range(5000)]
db.executemany("INSERT INTO temp.w VALUES (?,?)", enumerate(words))
db.executemany("INSERT INTO temp.v VALUES (?,?)", enumerate(vers))
db.executemany("INSERT INTO temp.t VALUES (?,?)", enumerate(["jar", "jar", "jar", "aar", "pom"]))
narts = max(rows // 12, 1)
# The rows are made by SQLite itself (C, not a Python loop): a lookup by
# random rowid per row picks the words and versions.
db.execute("""
WITH RECURSIVE c(x, r) AS (SELECT 1, random() UNION ALL SELECT x + 1, random() FROM c WHERE x < ?1)
INSERT INTO artifacts SELECT x, 'org.' || a.s || '.' || b.s, d.s || '-' || e.s FROM c
  JOIN temp.w a ON a.i = (r & 4095) % 4000 JOIN temp.w b ON b.i = ((r >> 12) & 4095) % 4000
  JOIN temp.w d ON d.i = ((r >> 24) & 4095) % 4000 JOIN temp.w e ON e.i = ((r >> 36) & 4095) % 4000""", (narts,))
db.execute("""
WITH RECURSIVE c(x, r) AS (SELECT 1, random() UNION ALL SELECT x + 1, random() FROM c WHERE x < ?1)
INSERT INTO indices SELECT ((r >> 24) & 1099511627775) % ?2 + 1, v.s, randomblob(20), t.s FROM c
  JOIN temp.v v ON v.i = (r & 16777215) % 5000 JOIN temp.t t ON t.i = ((r >> 56) & 255) % 5""", (rows, narts))
db.executescript("""
CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);
CREATE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
CREATE INDEX indices_artifact_idx ON indices(artifact_id, version);
""")
db.commit(); db.close()
PY
}

# trivy_db PATH BYTES: a valid bbolt file (two meta pages, a freelist, the
# root bucket holding an empty `vulnerability` bucket), then pages of
# JSON-like advisories that no bucket points to.
trivy_db() {
    python3 - "$1" "$(($2 / 4096 * 4096 + 5 * 4096))" <<'PY'
import random, struct, sys
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
rnd = random.Random(7)
sev = ["LOW", "MEDIUM", "HIGH", "CRITICAL", "UNKNOWN"]
def block():
    out = bytearray()
    while len(out) < 1 << 20:
        out += (b'{"VulnerabilityID":"CVE-%d-%d","PkgName":"lib%s","InstalledVersion":"%d.%d.%d",'
                b'"FixedVersion":"%d.%d.%d","Severity":"%s","Title":"%s","References":["https://%s.example/%x"]}'
                % (rnd.randint(1999, 2026), rnd.randint(1, 99999), rnd.randbytes(3).hex().encode(),
                   rnd.randint(0, 9), rnd.randint(0, 30), rnd.randint(0, 40), rnd.randint(0, 9),
                   rnd.randint(0, 30), rnd.randint(0, 40), sev[rnd.randint(0, 4)].encode(),
                   b" ".join(rnd.choice([b"overflow", b"in", b"the", b"parser", b"allows", b"remote", b"attackers", b"denial", b"of", b"service"]) for _ in range(8)),
                   rnd.randbytes(4).hex().encode(), rnd.getrandbits(48)))
    return bytes(out[: 1 << 20])
blocks = [block() for _ in range(16)]
with open(path, "wb") as f:
    f.write(meta(0, 0) + meta(1, 1) + page(2, 0x10) + page(3, 0x02, 1, root) + page(4, 0x02))
    left = total - 5 * ps
    while left:
        n = min(left, 1 << 20)
        f.write(rnd.choice(blocks)[:n])
        left -= n
PY
}

# gzip6 < IN > OUT: gzip -6 on every core, as pigz does: 4 MiB pieces
# deflated side by side (zlib lets go of Python's lock), each ended with a
# sync flush so they join into one deflate stream, in one gzip member (one
# member, as published layers are: airlock reads only the first).
gzip6() {
    python3 -c '
import collections, concurrent.futures, os, struct, sys, zlib
inp, out = sys.stdin.buffer, sys.stdout.buffer
def deflate(piece, last):
    c = zlib.compressobj(6, zlib.DEFLATED, -15, 8)
    return c.compress(piece) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")
crc, size, queue = 0, 0, collections.deque()
workers = max(os.cpu_count() or 1, 1)
with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    piece = inp.read(4 << 20)
    while True:
        after = inp.read(4 << 20)
        crc, size = zlib.crc32(piece, crc), size + len(piece)
        queue.append(pool.submit(deflate, piece, not after))
        while len(queue) > 2 * workers or (not after and queue):
            out.write(queue.popleft().result())
        if not after:
            break
        piece = after
out.write(struct.pack("<II", crc, size & 0xFFFFFFFF))
'
}

# layer DIR NAME DB VERSION: DIR/in/NAME (gzip -6, see gzip6) of metadata.json and the
# database file DIR/DB/<file>, which is removed after.
layer() {
    local d=$1 name=$2 sub=$3 version=$4
    printf '{"Version":%s,"NextUpdate":"2026-11-26T00:00:00Z","UpdatedAt":"2026-11-25T00:00:00Z","DownloadedAt":"0001-01-01T00:00:00Z"}' \
        "$version" > "$d/$sub/metadata.json"
    local file
    file=$(cd "$d/$sub" && ls -- *.db)
    tar -C "$d/$sub" -cf - metadata.json "$file" | gzip6 > "$d/in/$name.partial"
    mv "$d/in/$name.partial" "$d/in/$name"
    rm -f "$d/$sub/$file"
}

# make_inputs MIB DIR: DIR/in/javadb.tar.gz and DIR/in/db.tar.gz, the two
# databases made and packed side by side (one per core). Kept ones (both
# files present, from an earlier run with the same BENCH_DATA) are reused.
make_inputs() {
    local mib=$1 d=$2
    if [ -f "$d/in/javadb.tar.gz" ] && [ -f "$d/in/db.tar.gz" ]; then
        echo "bench.sh: reusing the ${mib} MiB inputs in $d/in" >&2
        return
    fi
    mkdir -p "$d/j" "$d/t" "$d/in"
    local total=$((mib * 1024 * 1024)) start=$SECONDS
    echo "bench.sh: generating ${mib} MiB of databases in $d" >&2
    (java_db "$d/j/trivy-java.db" "$((total * 7 / 8))" && layer "$d" javadb.tar.gz j 1) &
    local java=$!
    (trivy_db "$d/t/trivy.db" "$((total / 8))" && layer "$d" db.tar.gz t 2) &
    local trivy=$!
    local ok=0
    wait "$java" || ok=1
    wait "$trivy" || ok=1
    if [ "$ok" != 0 ]; then
        echo "bench.sh: generating the inputs failed" >&2
        exit 1
    fi
    rm -rf "$d/j" "$d/t"
    echo "bench.sh: generated ${mib} MiB of databases in $((SECONDS - start)) s" >&2
}

# measure KEY CMD...: runs CMD once; records "seconds peak_KiB" in $work/m.KEY
measure() {
    local key=$1; shift
    if ! /usr/bin/time -f "%e %M" -o "$work/m.$key" "$@" >/dev/null 2>"$work/err.$key"; then
        echo "bench.sh: $key failed:" >&2
        cat "$work/err.$key" >&2
        exit 1
    fi
}
secs() { cut -d' ' -f1 "$work/m.$1"; }
mib() { awk '{printf "%.1f", $2 / 1024}' "$work/m.$1"; }

# run_size MIB: every measurement at one size
run_size() {
    local m=$1 d="$work/s$1"
    # The inputs: kept under BENCH_DATA, or made in the scratch directory.
    local data="$d"
    [ -z "${BENCH_DATA:-}" ] || data="$BENCH_DATA/$m"
    make_inputs "$m" "$data"
    mkdir -p "$d"
    local in="$data/in" created=2026-11-25T00:00:00Z
    "$bin" keygen --out "$d/k" --unencrypted >/dev/null
    AIRLOCK_PASSPHRASE=bench "$bin" keygen --out "$d/e" >/dev/null
    minisign -G -W -p "$d/m.pub" -s "$d/m.key" >/dev/null
    # What the manual procedure ships: the layers, their sums, a signature.
    # (Beside the scratch files, so kept inputs stay as they were made.)
    (cd "$in" && sha256sum db.tar.gz javadb.tar.gz > "$d/SHA256SUMS")
    minisign -S -s "$d/m.key" -m "$d/SHA256SUMS" >/dev/null

    echo "bench.sh: measuring at ${m} MiB" >&2
    measure "export.$m" "$bin" export -q -o "$d/b.airlock" --sign-key "$d/k.key" \
        --trivy-db "$in/db.tar.gz" --java-db "$in/javadb.tar.gz" --created "$created"
    measure "tar.$m" tar --zstd -cf "$d/base.tar.zst" -C "$in" db.tar.gz javadb.tar.gz
    AIRLOCK_PASSPHRASE=bench measure "exportenc.$m" "$bin" export -q -o "$d/e.airlock" \
        --sign-key "$d/e.key" --trivy-db "$in/db.tar.gz" --java-db "$in/javadb.tar.gz" \
        --created "$created"
    measure "verify.$m" "$bin" verify -q "$d/b.airlock" --key "$d/k.pub"
    measure "floor.$m" sh -c "openssl dgst -sha256 '$d/b.airlock' && \
        libdeflate-gunzip -c '$in/db.tar.gz' && libdeflate-gunzip -c '$in/javadb.tar.gz'"
    measure "gzip.$m" sh -c "gzip -dc '$in/db.tar.gz' && gzip -dc '$in/javadb.tar.gz'"
    measure "import.$m" "$bin" import -q "$d/b.airlock" --key "$d/k.pub" --cache-dir "$d/cache"
    mkdir -p "$d/manual/db" "$d/manual/java-db"
    measure "manual.$m" sh -c "cd '$in' && sha256sum -c --quiet '$d/SHA256SUMS' && \
        minisign -Vq -p '$d/m.pub' -m '$d/SHA256SUMS' && \
        tar -xzf db.tar.gz -C '$d/manual/db' && tar -xzf javadb.tar.gz -C '$d/manual/java-db'"
    layers=$(stat -c %s "$in/db.tar.gz" "$in/javadb.tar.gz" | awk '{s += $1} END {printf "%.1f", s / 1048576}')
    echo "$m $layers" >> "$work/sizes"
    rm -rf "$d"
}

for m in $sizes; do
    run_size "$m"
done

# row WORK AIRLOCK_KEY BASE_KEY BASE_NAME KIND TARGET: one table row;
# KIND "slower": airlock/base must be <= TARGET; "faster": base/airlock (the
# speed-up) must be >= TARGET; "info-slower"/"info-faster": the same ratio,
# shown without a target.
row() {
    local what=$1 a=$2 b=$3 name=$4 kind=$5 target=$6
    local ta tb
    ta=$(secs "$a") tb=$(secs "$b")
    awk -v w="$what" -v ta="$ta" -v ma="$(mib "$a")" -v n="$name" -v tb="$tb" \
        -v k="$kind" -v t="$target" 'BEGIN {
        if (ta < 0.01) ta = 0.01; if (tb < 0.01) tb = 0.01
        if (k == "slower") { r = ta / tb; ok = (r <= t); goal = sprintf("<= %.1fx", t) }
        else if (k == "faster") { r = tb / ta; ok = (r >= t); goal = sprintf(">= %.1fx", t) }
        else if (k == "info-slower") { r = ta / tb; ok = -1; goal = "(shown)" }
        else { r = tb / ta; ok = -1; goal = "(shown)" }
        printf "| %s | %.2f | %s | %s | %.2f | %.2fx | %s | %s |\n", w, ta, ma, n, tb, r, goal,
            ok < 0 ? "-" : (ok ? "met" : "MISSED")
    }'
}

echo
echo "## airlock benchmark"
echo
printf 'machine: %s; %s cores; %s memory; Linux %s; scratch %s (%s)\n' \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)" \
    "$(free -h | awk '/^Mem:/ {print $2}')" "$(uname -r)" \
    "$(df -T "$work" | awk 'NR == 2 {print $2}')" "${TMPDIR:-/tmp}"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| work | airlock s | airlock peak MiB | standard tools | s | ratio | target | |"
echo "|---|---|---|---|---|---|---|---|"
while read -r m layers; do
    echo "| **${m} MiB of databases** (${layers} MiB of layers) | | | | | | | |"
    row "export" "export.$m" "tar.$m" "tar --zstd -c" slower 1.5
    row "export, encrypted key" "exportenc.$m" "tar.$m" "tar --zstd -c" info-slower 0
    row "verify" "verify.$m" "floor.$m" "openssl dgst -sha256, then libdeflate-gunzip -c" faster 1.0
    row "verify" "verify.$m" "gzip.$m" "gzip -dc" info-faster 0
    row "import" "import.$m" "manual.$m" "sha256sum -c, minisign -V, tar -xzf" faster 3.0
    for c in export verify import; do
        awk -v c="$c" -v k="$(mib "$c.$m")" 'BEGIN {
            printf "| %s peak RSS | | %s | | | | <= 64 MiB | %s |\n", c, k, (k <= 64 ? "met" : "MISSED") }'
    done
done < "$work/sizes"
read -r -a all <<< "$sizes"
if [ "${#all[@]}" -ge 2 ]; then
    lo=${all[0]} hi=${all[${#all[@]}-1]}
    echo "| **scaling ${hi} MiB / ${lo} MiB** | | | | | | | |"
    for c in export verify import; do
        awk -v c="$c" -v t1="$(secs "$c.$lo")" -v t2="$(secs "$c.$hi")" \
            -v m1="$(mib "$c.$lo")" -v m2="$(mib "$c.$hi")" -v f="$((hi / lo))" 'BEGIN {
            if (t1 < 0.01) t1 = 0.01
            limit = 4.2 * f / 4; r = t2 / t1; d = (m2 - m1) / m1 * 100
            printf "| %s time | | | | | %.2fx | <= %.1fx | %s |\n", c, r, limit, (r <= limit ? "met" : "MISSED")
            printf "| %s peak RSS | | %+.0f %% | | | | within 10 %% | %s |\n", c, d, (d <= 10 && d >= -10 ? "met" : "MISSED")
        }'
    done
fi
