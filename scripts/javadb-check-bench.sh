#!/usr/bin/env bash
# Times the Java DB check (PRAGMA quick_check and the schema checks, what
# import runs before a trivy-java.db may replace a working one) on a
# generated SQLite file shaped like trivy-java.db. Not part of the test
# suite: a measurement, run by hand.
#
#   ROWS=10000000 scripts/javadb-check-bench.sh     # about 1 GiB
#   AIRLOCK_PRAGMA=integrity_check scripts/javadb-check-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${ROWS:-2000000}"
db="target/bench/trivy-java.db"
mkdir -p target/bench
if [ ! -f "$db.$rows" ]; then
    rm -f "$db".*
    python3 - "$db.$rows" "$rows" <<'PY'
import hashlib, sqlite3, sys
path, rows = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(path)
c.executescript("""
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT,
  foreign key (artifact_id) references artifacts(id));
CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
CREATE INDEX indices_artifact_idx ON indices(artifact_id);
CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);
""")
artifacts = max(1, rows // 10)
c.executemany("INSERT INTO artifacts VALUES (?, ?, ?)",
              ((i, f"org.example.g{i % 5000}", f"artifact-{i}") for i in range(artifacts)))
c.executemany("INSERT INTO indices VALUES (?, ?, ?, 'jar')",
              ((i % artifacts, f"1.{i % 100}.{i % 7}", hashlib.sha1(str(i).encode()).digest())
               for i in range(rows)))
c.commit()
c.close()
PY
fi
ls -l "$db.$rows"
# Built first, so the figures below are the check's, not the compiler's.
cargo test --release --lib --no-run --quiet 2>/dev/null
AIRLOCK_JAVA_DB="$PWD/$db.$rows" /usr/bin/time -f "%e s elapsed, %M KiB peak RSS" \
    cargo test --release --lib java_db_check_time -- --ignored --nocapture 2>&1 |
    grep -E "bytes checked|elapsed|test result"
