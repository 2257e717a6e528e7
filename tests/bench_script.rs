//! Issue 12: `scripts/bench.sh` runs anywhere its tools are installed and
//! prints its whole table. At a tiny size (nothing is timed here): it exits
//! 0, prints the machine line and every row, and leaves no scratch files.

use std::process::Command;

use crate::support::*;

#[test]
fn the_benchmark_script_prints_every_row_at_a_tiny_size_and_cleans_up() {
    let t = TestDir::new();
    let scratch = t.join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("BENCH_MIB", "1 2")
        .env("AIRLOCK_BIN", airlock_bin())
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    let starts = |prefix: &str| rows.iter().filter(|r| r.starts_with(prefix)).count();
    for (prefix, count) in [
        (
            "| work | airlock s | airlock peak MiB | standard tools |",
            1,
        ),
        ("| **1 MiB of databases** (", 1),
        ("| **2 MiB of databases** (", 1),
        ("| export | ", 2),
        ("| export, encrypted key | ", 2),
        ("| verify | ", 4),
        ("| import | ", 2),
        ("| export peak RSS | | ", 2 + 1),
        ("| verify peak RSS | | ", 2 + 1),
        ("| import peak RSS | | ", 2 + 1),
        ("| **scaling 2 MiB / 1 MiB** |", 1),
        ("| export time | ", 1),
        ("| verify time | ", 1),
        ("| import time | ", 1),
    ] {
        assert_eq!(starts(prefix), count, "{prefix:?} in\n{stdout}");
    }
    assert_eq!(rows.len(), 1 + 2 * 9 + 7, "{stdout}");
    for (row, tool) in [
        ("| export | ", "| tar --zstd -c |"),
        (
            "| verify | ",
            "| openssl dgst -sha256, then libdeflate-gunzip -c |",
        ),
        ("| verify | ", "| gzip -dc |"),
        ("| import | ", "| sha256sum -c, minisign -V, tar -xzf |"),
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(row) && r.contains(tool)),
            "{tool:?} in\n{stdout}"
        );
    }
    let machine = stdout.lines().find(|l| l.starts_with("machine: "));
    assert!(
        machine.is_some_and(|m| m.contains(" cores; ") && m.contains("; Linux ")),
        "{stdout}"
    );
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}
