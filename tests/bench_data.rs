//! Issue 12: `scripts/bench.sh` with `BENCH_DATA=DIR` makes its inputs once
//! (DIR/<MiB>/in/javadb.tar.gz and db.tar.gz, nothing else kept) and the
//! next run reuses them unchanged; the inputs are the real thing (a SQLite
//! Java DB with trivy-java-db's tables and indexes, a trivy.db) that
//! airlock exports without a refusal.

use std::process::Command;

use crate::support::*;

/// Runs the script at 1 MiB with `data` as BENCH_DATA: its stderr.
fn bench(t: &TestDir, data: &std::path::Path) -> String {
    let scratch = t.join("tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("BENCH_MIB", "1")
        .env("BENCH_DATA", data)
        .env("AIRLOCK_BIN", airlock_bin())
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("| **1 MiB of databases** ("), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
    stderr
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut all: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    all.sort();
    all
}

#[test]
fn bench_data_is_made_once_and_reused_unchanged() {
    let t = TestDir::new();
    let data = t.join("data");
    let first = bench(&t, &data);
    assert!(
        first.contains(&format!(
            "bench.sh: generating 1 MiB of databases in {}",
            data.join("1").display()
        )),
        "{first}"
    );
    assert!(!first.contains("reusing"), "{first}");
    assert_eq!(files(&data), ["1/in/db.tar.gz", "1/in/javadb.tar.gz"]);
    let java = std::fs::read(data.join("1/in/javadb.tar.gz")).unwrap();
    let trivy = std::fs::read(data.join("1/in/db.tar.gz")).unwrap();

    let second = bench(&t, &data);
    assert!(
        second.contains(&format!(
            "bench.sh: reusing the 1 MiB inputs in {}",
            data.join("1/in").display()
        )),
        "{second}"
    );
    assert!(!second.contains("generating"), "{second}");
    assert_eq!(files(&data), ["1/in/db.tar.gz", "1/in/javadb.tar.gz"]);
    assert_eq!(
        std::fs::read(data.join("1/in/javadb.tar.gz")).unwrap(),
        java
    );
    assert_eq!(std::fs::read(data.join("1/in/db.tar.gz")).unwrap(), trivy);

    // Real inputs: the Java DB has trivy-java-db's tables and indexes, and
    // both layers pass every check of export.
    let unpacked = t.join("j");
    std::fs::create_dir(&unpacked).unwrap();
    crate::support::fixtures::untar_gz(&java, &unpacked);
    let db = rusqlite::Connection::open(unpacked.join("trivy-java.db")).unwrap();
    let mut names: Vec<String> = db
        .prepare("SELECT type || ' ' || name FROM sqlite_master ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "index artifacts_idx",
            "index indices_artifact_idx",
            "index indices_sha1_idx",
            "table artifacts",
            "table indices",
        ]
    );
    let rows: i64 = db
        .query_row("SELECT count(DISTINCT sha1) FROM indices", [], |r| r.get(0))
        .unwrap();
    assert!(rows > 7000, "{rows} rows");
    let (key, _) = keygen(t.path(), "builder");
    airlock_ok(&[
        "export",
        "-o",
        s(&t.join("b.airlock")),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&data.join("1/in/db.tar.gz")),
        "--java-db",
        s(&data.join("1/in/javadb.tar.gz")),
        "--created",
        "2026-11-25T00:00:00Z",
    ]);
}
