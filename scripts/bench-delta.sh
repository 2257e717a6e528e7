#!/usr/bin/env bash
# airlock delta benchmark (issue 13): a delta bundle against a full one for
# databases rebuilt from scratch with about 1 % of their records changed.
#
#   scripts/bench-delta.sh                      # 256 MiB and 1024 MiB of databases
#   BENCH_MIB="256" scripts/bench-delta.sh      # other sizes, in MiB
#   AIRLOCK_BIN=path/to/airlock scripts/bench-delta.sh   # skip the release build
#
# A size is the databases' size before compression: 3/5 a real SQLite Java
# DB (trivy-java-db's schema and indexes), 2/5 a bbolt-like trivy.db (4 KiB
# leaf pages of JSON advisories in key order). "next" is each database
# REBUILT from scratch from the same records with 1 % of them changed, 0.1 %
# removed and 0.3 % added: in the Java DB every row after the first change
# has another rowid (as upstream's rebuild gives), in trivy.db every page
# after it holds other records.
#
# Measured, each command once with the file cache warm: the full bundle of
# next and the delta bundle of next against the base bundle (sizes, and the
# delta as a fraction of the full: target <= 3 %); export and import times
# (wall, and CPU = user + sys) and peak RSS (GNU time's maximum resident
# set, which counts mapped file pages too) of the delta against the full
# bundle; the machine.
#
# Beside airlock, the same base and next files go through the standard
# byte-delta tools (BENCH_COMPARE=0 skips them): `xdelta3 -9` (VCDIFF, LZ77
# against the base, the source window sized to the base) and `bsdiff`
# (suffix-sorted approximate matches and byte differences, bzip2: the best
# general delta known for files whose records change a few bytes each, at
# 17 times the old file in memory, its manual says, so only for files up to
# BENCH_BSDIFF_MAX_MIB, 256 by default). Each tool's delta of each database
# is shown as a fraction of that database's gzip layer; the last line adds,
# per database, the smallest delta any of them made and gives it as a
# fraction of the full bundle: the target no byte-level delta can beat on
# these files.
#
# Needs: python3 (with sqlite3), GNU tar, gzip, zstd, and GNU time
# (/usr/bin/time); xdelta3 and bsdiff for the comparison.
# Scratch files go under ${TMPDIR:-/tmp} and are removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${BENCH_MIB:-256 1024}"

missing=0
needs="python3:python3 tar:tar gzip:gzip zstd:zstd /usr/bin/time:time"
[ "${BENCH_COMPARE:-1}" = 0 ] || needs="$needs xdelta3:xdelta3 bsdiff:bsdiff"
for need in $needs; do
    tool=${need%%:*} pkg=${need##*:}
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench-delta.sh: $tool is missing: install it (Debian: apt-get install $pkg)" >&2
        missing=1
    fi
done
if ! python3 -c 'import sqlite3' 2>/dev/null; then
    echo "bench-delta.sh: python3's sqlite3 module is missing (Debian: apt-get install libpython3-stdlib)" >&2
    missing=1
fi
[ "$missing" = 0 ] || exit 2

if [ -n "${AIRLOCK_BIN:-}" ]; then
    bin=$AIRLOCK_BIN
else
    cargo build --release --locked --quiet
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/airlock"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-delta.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# gen_java PATH MIB PERMILLE: the Java DB; PERMILLE > 0 rebuilds it changed.
gen_java() {
    python3 - "$@" <<'PY'
import random, sqlite3, sys
path, mib, permille = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = max(mib * 1024 * 1024 // 110, 100)
rnd, chg = random.Random(12), random.Random(34)
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(3, 10))) for _ in range(4000)]
narts = max(rows // 12, 1)
arts = [(i, "org.%s.%s" % (rnd.choice(words), rnd.choice(words)), "%s-%s" % (rnd.choice(words), rnd.choice(words))) for i in range(1, narts + 1)]
vers = ["%d.%d.%d%s" % (rnd.randint(0, 9), rnd.randint(0, 30), rnd.randint(0, 40), rnd.choice(["", ".Final", "-SNAPSHOT", ".RELEASE", "-jre"])) for _ in range(5000)]
def indices():
    for _ in range(rows):
        row = (rnd.randint(1, narts), rnd.choice(vers), rnd.randbytes(20), rnd.choice(["jar", "jar", "jar", "aar", "pom"]))
        if permille:
            x = chg.randrange(10000)
            if x < permille * 6:      # changed: another version and sha1
                row = (row[0], chg.choice(vers), chg.randbytes(20), row[3])
            elif x < permille * 7:    # removed
                continue
            elif x < permille * 10:   # a new release beside it
                yield row
                row = (row[0], chg.choice(vers), chg.randbytes(20), row[3])
        yield row
db = sqlite3.connect(path)
db.executescript("""
PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-200000;
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,
  FOREIGN KEY (artifact_id) REFERENCES artifacts (id));
""")
db.executemany("INSERT INTO artifacts VALUES (?,?,?)", arts)
db.executemany("INSERT INTO indices VALUES (?,?,?,?)", indices())
db.executescript("""
CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);
CREATE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
CREATE INDEX indices_artifact_idx ON indices(artifact_id, version);
""")
db.commit(); db.close()
PY
}

# gen_bolt PATH MIB PERMILLE: a bbolt file (two meta pages, a freelist, a
# root bucket holding an empty `vulnerability` bucket, then leaf pages of
# advisories in key order that no bucket points to: Trivy opens it, airlock
# checks it); PERMILLE > 0 rebuilds it changed.
gen_bolt() {
    python3 - "$@" <<'PY'
import random, struct, sys
path, mib, permille = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ps = 4096
total = max(mib << 20, 16 * ps) // ps * ps
rnd, chg = random.Random(7), random.Random(8)
sev = [b"LOW", b"MEDIUM", b"HIGH", b"CRITICAL", b"UNKNOWN"]
W = [b"overflow", b"in", b"the", b"parser", b"allows", b"remote", b"attackers", b"denial", b"of", b"service"]
def rec(r, i):
    k = b"CVE-%d-%07d" % (2000 + i % 26, i)
    v = (b'{"PkgName":"lib%s","FixedVersion":"%d.%d.%d","Severity":"%s","Title":"%s","References":["https://%s.example/%x"]}'
         % (r.randbytes(3).hex().encode(), r.randint(0, 9), r.randint(0, 30), r.randint(0, 40), sev[r.randint(0, 4)],
            b" ".join(r.choice(W) for _ in range(8)), r.randbytes(4).hex().encode(), r.getrandbits(48)))
    return k, v
def records():
    i = 0
    while True:
        k, v = rec(rnd, i)
        i += 1
        if permille:
            x = chg.randrange(10000)
            if x < permille * 6:
                v = rec(chg, i)[1]
            elif x < permille * 7:
                continue
            elif x < permille * 10:
                yield k, v
                k, v = k + b"a", rec(chg, i)[1]
        yield k, v
def page(pgid, flags, count=0, body=b""):
    p = struct.pack("<QHHI", pgid, flags, count, 0) + body
    return p + b"\0" * (ps - len(p))
def meta(pgid, txid):
    m = struct.pack("<IIIIQQQQQ", 0xED0CDAED, 2, ps, 0, 3, 0, 2, total // ps, txid)
    h = 0xcbf29ce484222325
    for b in m:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return page(pgid, 0x04, body=m + struct.pack("<Q", h))
def leaf(pgid, items):
    n = len(items)
    elems, data = b"", b""
    for j, (k, v) in enumerate(items):
        elems += struct.pack("<IIII", 0, 16 * n - 16 * j + len(data), len(k), len(v))
        data += k + v
    return page(pgid, 0x02, n, elems + data)
key = b"vulnerability"
root = struct.pack("<IIII", 1, 16, len(key), 16) + key + struct.pack("<QQ", 4, 0)
with open(path, "wb") as f:
    f.write(meta(0, 0) + meta(1, 1) + page(2, 0x10) + page(3, 0x02, 1, root) + page(4, 0x02))
    pgid, items, used = 5, [], 16
    for k, v in records():
        if used + 16 + len(k) + len(v) > ps:
            f.write(leaf(pgid, items))
            pgid, items, used = pgid + 1, [], 16
            if pgid * ps >= total:
                break
        items.append((k, v))
        used += 16 + len(k) + len(v)
PY
}

# layers DIR VERSION: DIR/db.tar.gz and DIR/javadb.tar.gz from DIR/t, DIR/j
layers() {
    local d=$1 updated=$2
    for x in t j; do
        printf '{"Version":%s,"NextUpdate":"%s","UpdatedAt":"%s","DownloadedAt":"0001-01-01T00:00:00Z"}' \
            "$([ $x = t ] && echo 2 || echo 1)" "$updated" "$updated" > "$d/$x/metadata.json"
    done
    tar -C "$d/t" -cf - metadata.json trivy.db | gzip -6 > "$d/db.tar.gz"
    tar -C "$d/j" -cf - metadata.json trivy-java.db | gzip -6 > "$d/javadb.tar.gz"
}

# measure KEY CMD...: runs CMD once; records "wall cpu peak_KiB" in $work/m.KEY
measure() {
    local key=$1; shift
    if ! /usr/bin/time -f "%e %U %S %M" -o "$work/t.$key" "$@" >/dev/null 2>"$work/err.$key"; then
        echo "bench-delta.sh: $key failed:" >&2
        cat "$work/err.$key" >&2
        exit 1
    fi
    awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$work/t.$key" > "$work/m.$key"
}
field() { cut -d' ' -f"$2" "$work/m.$1"; }

# tool_size KEY CMD...: runs CMD once (timed); prints the size of $work/out.
tool_size() {
    local key=$1; shift
    rm -f "$work/out"
    measure "$key" "$@"
    stat -c %s "$work/out"
}

# compare DIR MIB: each database's delta by airlock and by the standard
# tools; appends "MIB name file_bytes layer_bytes airlock xdelta3 bsdiff
# xdelta3_s bsdiff_s full_bundle_bytes" to $work/compare ("-": not run).
compare() {
    local d=$1 m=$2 max=$((${BENCH_BSDIFF_MAX_MIB:-256} << 20))
    local x name file layer ours xd bs xs bt listing
    listing=$(zstd -dc "$d/delta.airlock" | tar -tvf -)
    for x in t j; do
        if [ $x = t ]; then name=trivy.db layer=db.tar.gz; else name=trivy-java.db layer=javadb.tar.gz; fi
        file=$(stat -c %s "$d/next/$x/$name")
        ours=$(awk -v p="/$name.delta" 'substr($6, length($6) - length(p) + 1) == p {print $3}' <<<"$listing")
        echo "bench-delta.sh: xdelta3 -9 and bsdiff of $name at ${m} MiB" >&2
        xd=$(tool_size "xd.$m.$x" xdelta3 -e -9 -f -B "$(( (file > 16777216 ? file : 16777216) ))" \
            -s "$d/base/$x/$name" "$d/next/$x/$name" "$work/out")
        xs=$(field "xd.$m.$x" 1)
        if [ "$file" -le "$max" ]; then
            bs=$(tool_size "bs.$m.$x" bsdiff "$d/base/$x/$name" "$d/next/$x/$name" "$work/out")
            bt=$(field "bs.$m.$x" 1)
        else
            bs=- bt=-
        fi
        echo "$m $name $file $(stat -c %s "$d/next/$layer") ${ours:--} $xd $bs $xs $bt $(stat -c %s "$d/full.airlock")" >> "$work/compare"
    done
    rm -f "$work/out"
}

run_size() {
    local m=$1 d="$work/s$1"
    local tm=$((m * 2 / 5)) jm=$((m - m * 2 / 5))
    [ "$tm" -ge 1 ] || tm=1
    mkdir -p "$d/base/t" "$d/base/j" "$d/next/t" "$d/next/j"
    echo "bench-delta.sh: generating ${m} MiB of databases (base and next) in $d" >&2
    gen_bolt "$d/base/t/trivy.db" "$tm" 0 &
    gen_bolt "$d/next/t/trivy.db" "$tm" 10 &
    gen_java "$d/base/j/trivy-java.db" "$jm" 0 &
    gen_java "$d/next/j/trivy-java.db" "$jm" 10 &
    wait
    layers "$d/base" 2026-11-24T00:00:00Z
    layers "$d/next" 2026-11-25T00:00:00Z
    local dbs
    dbs=$(stat -c %s "$d/next/t/trivy.db" "$d/next/j/trivy-java.db" | awk '{s += $1} END {printf "%.1f", s / 1048576}')
    "$bin" keygen --out "$d/k" --unencrypted >/dev/null
    local src_base=(--trivy-db "$d/base/db.tar.gz" --java-db "$d/base/javadb.tar.gz")
    local src_next=(--trivy-db "$d/next/db.tar.gz" --java-db "$d/next/javadb.tar.gz")
    "$bin" export -q -o "$d/base.airlock" --sign-key "$d/k.key" "${src_base[@]}" --created 2026-11-24T12:00:00Z >/dev/null
    "$bin" import -q "$d/base.airlock" --key "$d/k.pub" --cache-dir "$d/cache-base" >/dev/null

    echo "bench-delta.sh: measuring at ${m} MiB" >&2
    measure "xfull.$m" "$bin" export -q -o "$d/full.airlock" --sign-key "$d/k.key" "${src_next[@]}" \
        --created 2026-11-25T12:00:00Z
    measure "xdelta.$m" "$bin" export -q -o "$d/delta.airlock" --sign-key "$d/k.key" "${src_next[@]}" \
        --created 2026-11-25T12:00:00Z --base "$d/base.airlock"
    cp -a "$d/cache-base" "$d/cache-full"
    cp -a "$d/cache-base" "$d/cache-delta"
    measure "ifull.$m" "$bin" import -q "$d/full.airlock" --key "$d/k.pub" --cache-dir "$d/cache-full"
    measure "idelta.$m" "$bin" import -q "$d/delta.airlock" --key "$d/k.pub" --cache-dir "$d/cache-delta"
    for f in db/trivy.db java-db/trivy-java.db; do
        if ! cmp -s "$d/cache-full/$f" "$d/cache-delta/$f"; then
            echo "bench-delta.sh: $f from the delta differs from the full import's" >&2
            exit 1
        fi
    done
    echo "$m $dbs $(stat -c %s "$d/full.airlock") $(stat -c %s "$d/delta.airlock")" >> "$work/sizes"
    [ "${BENCH_COMPARE:-1}" = 0 ] || compare "$d" "$m"
    rm -rf "$d"
}

# compare_table: prints what compare() recorded.
compare_table() {
    echo
    echo "| databases | database | file MiB | gzip layer MiB | airlock delta | xdelta3 -9 | bsdiff |"
    echo "|---|---|---|---|---|---|---|"
    awk '
    function cell(b, layer, t, none) {
        if (b == "-") return none
        return sprintf("%.2f MiB = %.1f %%%s", b / 1048576, b / layer * 100, t == "" ? "" : " (" t " s)")
    }
    {
        printf "| %s MiB | %s | %.1f | %.1f | %s | %s | %s |\n", $1, $2, $3 / 1048576, $4 / 1048576,
            cell($5, $4, "", "carried whole"), cell($6, $4, $8, "not run"), cell($7, $4, $9, "not run")
        best = $5
        if ($6 != "-" && (best == "-" || $6 < best)) best = $6
        if ($7 != "-" && (best == "-" || $7 < best)) best = $7
        sum[$1] += best; full[$1] = $10
        if (!($1 in seen)) { order[++n] = $1; seen[$1] = 1 }
    }
    END {
        print ""
        for (i = 1; i <= n; i++) {
            m = order[i]
            printf "%s MiB: the smallest delta of each database, by any tool above, is %.2f %% of the full bundle (target <= 3 %%)\n", m, sum[m] / full[m] * 100
            printf "best_delta_fraction_percent=%.3f size_mib=%s\n", sum[m] / full[m] * 100, m > "/dev/stderr"
        }
    }' "$work/compare"
}

for m in $sizes; do
    run_size "$m"
done

echo
echo "## airlock delta benchmark"
echo
printf 'machine: %s; %s cores; %s memory; Linux %s; scratch %s (%s)\n' \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)" \
    "$(free -h | awk '/^Mem:/ {print $2}')" "$(uname -r)" \
    "$(df -T "$work" | awk 'NR == 2 {print $2}')" "${TMPDIR:-/tmp}"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| databases | full bundle MiB | delta bundle MiB | delta / full | target | |"
echo "|---|---|---|---|---|---|"
while read -r m dbs full delta; do
    awk -v m="$m" -v dbs="$dbs" -v f="$full" -v d="$delta" 'BEGIN {
        r = d / f * 100
        printf "| %s MiB (%s MiB of next) | %.1f | %.2f | %.2f %% | <= 3 %% | %s |\n", m, dbs, f / 1048576, d / 1048576, r, (r <= 3 ? "met" : "MISSED")
        printf "delta_fraction_percent=%.3f size_mib=%s\n", r, m > "/dev/stderr"
    }'
done < "$work/sizes"
echo
echo "| databases | work | full: wall s | CPU s | peak RSS MiB | delta: wall s | CPU s | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
while read -r m _; do
    for w in export import; do
        k=i
        [ "$w" = export ] && k=x
        awk -v m="$m" -v w="$w" -v fw="$(field "${k}full.$m" 1)" -v fc="$(field "${k}full.$m" 2)" \
            -v fr="$(field "${k}full.$m" 3)" -v dw="$(field "${k}delta.$m" 1)" \
            -v dc="$(field "${k}delta.$m" 2)" -v dr="$(field "${k}delta.$m" 3)" 'BEGIN {
            printf "| %s MiB | %s | %.2f | %.2f | %.1f | %.2f | %.2f | %.1f |\n", m, w, fw, fc, fr / 1024, dw, dc, dr / 1024
        }'
    done
done < "$work/sizes"
[ "${BENCH_COMPARE:-1}" = 0 ] || compare_table
