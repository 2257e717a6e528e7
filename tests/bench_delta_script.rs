//! Issue 13: `scripts/bench-delta.sh` runs anywhere its tools are installed
//! and prints its whole table. At a tiny size (nothing is timed here): it
//! exits 0, the delta it measured rebuilt next's databases byte for byte
//! (the script compares them with a full import's and fails otherwise),
//! the delta bundle is smaller than the full one, every row is printed,
//! and no scratch file is left.

use std::process::Command;

use crate::support::*;

#[test]
fn the_delta_benchmark_prints_every_row_at_a_tiny_size_and_cleans_up() {
    let t = TestDir::new();
    let scratch = t.join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-delta.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("BENCH_MIB", "2 4")
        .env("AIRLOCK_BIN", airlock_bin())
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("\nmachine: "), "{stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    let starts = |prefix: &str| rows.iter().filter(|r| r.starts_with(prefix)).count();
    for (prefix, count) in [
        (
            "| databases | full bundle MiB | delta bundle MiB | delta / full |",
            1,
        ),
        ("| 2 MiB (", 1),
        ("| 4 MiB (", 1),
        ("| databases | work | full: wall s |", 1),
        ("| 2 MiB | export | ", 1),
        ("| 2 MiB | import | ", 1),
        ("| 4 MiB | export | ", 1),
        ("| 4 MiB | import | ", 1),
        (
            "| databases | database | file MiB | gzip layer MiB | airlock delta | xdelta3 -9 | bsdiff |",
            1,
        ),
        ("| 2 MiB | trivy.db | ", 1),
        ("| 2 MiB | trivy-java.db | ", 1),
        ("| 4 MiB | trivy.db | ", 1),
        ("| 4 MiB | trivy-java.db | ", 1),
    ] {
        assert_eq!(starts(prefix), count, "{prefix:?} in\n{stdout}");
    }
    assert_eq!(rows.len(), 2 + 2 + 2 * 2 + 1 + 2 * 2, "{stdout}");
    // Every figure is a number, none missing (a failed measurement prints
    // nothing or an error, never a row of zeros).
    for r in rows
        .iter()
        .filter(|r| r.contains(" | export | ") || r.contains(" | import | "))
    {
        let cells: Vec<&str> = r.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 8, "{r}");
        for c in &cells[2..] {
            assert!(c.parse::<f64>().is_ok(), "{c:?} in {r}");
        }
        let (full_rss, delta_rss): (f64, f64) =
            (cells[4].parse().unwrap(), cells[7].parse().unwrap());
        assert!(full_rss > 1.0 && delta_rss > 1.0, "{r}");
    }
    // The delta is smaller than the full bundle at both sizes.
    let fractions: Vec<f64> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("delta_fraction_percent="))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(fractions.len(), 2, "{stderr}");
    assert!(
        fractions.iter().all(|f| *f > 0.0 && *f < 100.0),
        "{fractions:?}"
    );
    // The standard tools ran on every database (tiny files are under
    // bsdiff's size limit): each cell is "<MiB> MiB = <percent> %", the
    // tools' with their time.
    for r in rows
        .iter()
        .filter(|r| r.contains(" | trivy.db | ") || r.contains(" | trivy-java.db | "))
    {
        let cells: Vec<&str> = r.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 7, "{r}");
        for (i, c) in cells[4..].iter().enumerate() {
            let (mib, rest) = c
                .split_once(" MiB = ")
                .unwrap_or_else(|| panic!("{c:?} in {r}"));
            assert!(mib.parse::<f64>().unwrap() > 0.0, "{r}");
            let pct = rest.split(" %").next().unwrap();
            assert!(pct.parse::<f64>().unwrap() > 0.0, "{r}");
            assert_eq!(rest.ends_with(" s)"), i > 0, "{r}");
        }
    }
    let best: Vec<f64> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("best_delta_fraction_percent="))
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(best.len(), 2, "{stderr}");
    // The best of the tools (airlock among them) is never worse than airlock.
    for (b, f) in best.iter().zip(&fractions) {
        assert!(*b > 0.0 && b <= f, "{best:?} {fractions:?}");
    }
    assert!(!stderr.contains("failed"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&scratch).unwrap().collect();
    assert!(left.is_empty(), "scratch files left: {left:?}");
}
