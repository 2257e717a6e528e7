//! Issue 15, item 6: the scan commands import prints fit the cache, and the
//! printed `trivy rootfs` command, run verbatim by a shell with the real
//! Trivy on PATH, scans a root file system offline.

use std::path::Path;
use std::process::Command;

use crate::support::fixtures::*;
use crate::support::*;

/// Runs `line` with `sh -c` as root of `root` (a copy of the example root
/// file system): in a user and mount namespace, `/bin/sh`, its C library,
/// the real Trivy (as `trivy` on PATH) and the cache are bound into the copy,
/// which becomes `/`. Trivy's report format comes from TRIVY_FORMAT, so the
/// command line itself is exactly as printed.
const IN_ROOT: &str = r#"set -e
R=$1; C=$2; T=$3; LINE=$4
mkdir -p "$R/bin" "$R/lib/x86_64-linux-gnu" "$R/lib64" "$R/usr/local/bin" "$R/tmp" "$R$C"
for f in /bin/sh /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2; do
  touch "$R$f"; mount --bind "$f" "$R$f"
done
touch "$R/usr/local/bin/trivy"; mount --bind "$T" "$R/usr/local/bin/trivy"
mount --bind "$C" "$R$C"
exec env -i PATH=/usr/local/bin HOME=/tmp TRIVY_FORMAT=json TRIVY_SCANNERS=vuln /usr/sbin/chroot "$R" /bin/sh -c "$LINE""#;

fn run_as_root_of(root: &Path, cache: &Path, line: &str) -> serde_json::Value {
    let trivy = crate::support::trivy::trivy_bin();
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            IN_ROOT,
            "sh",
        ])
        .args([s(root), s(cache), s(&trivy), line])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn example_rootfs(t: &TestDir) -> std::path::PathBuf {
    let root = t.join("root");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/rootfs");
    run_ok(Command::new("cp").arg("-r").arg(&src).arg(&root));
    root
}

/// The printed lines that start with `trivy `, without their indent.
fn printed_commands(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  trivy "))
        .map(|l| format!("trivy {l}"))
        .collect()
}

#[test]
fn the_printed_rootfs_command_scans_a_root_file_system_verbatim() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("trivy cache");
    let out = import_ok(&e.bundle, &e.public, &cache, &[]);
    let q = format!("'{}'", cache.display());
    let lines = printed_commands(&out);
    assert_eq!(
        lines,
        [
            format!("trivy rootfs --cache-dir {q} --skip-db-update --skip-java-db-update --skip-check-update --vex repo --skip-vex-repo-update --offline-scan --skip-version-check --disable-telemetry /"),
            format!("trivy fs --cache-dir {q} --skip-db-update --skip-check-update --vex repo --skip-vex-repo-update --offline-scan --skip-version-check --disable-telemetry ."),
            format!("trivy image --cache-dir {q} --skip-db-update --skip-java-db-update --skip-check-update --vex repo --skip-vex-repo-update --offline-scan --skip-version-check --disable-telemetry IMAGE"),
            format!("trivy config --cache-dir {q} --skip-check-update --skip-version-check --disable-telemetry ."),
        ],
        "{out}"
    );
    assert!(
        out.contains(
            "Scan with this cache (no network needed; replace / . or IMAGE with what to scan):\n"
        ),
        "{out}"
    );
    let report = run_as_root_of(&example_rootfs(&t), &cache, &lines[0]);
    // CVE-2099-1002 is suppressed by the imported VEX repository.
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], JAR_CVE]
    );
}

#[test]
fn a_bundle_without_vex_keeps_the_installed_vex_repository_in_the_commands() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    import_ok(&e.bundle, &e.public, &cache, &[]);
    // A later bundle with a newer vulnerability DB only.
    let db = t.join("db2.tar.gz");
    write(
        &db,
        &trivy_db_tar_gz(2, "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"),
    );
    let b2 = t.join("db-only.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&b2),
        "--sign-key",
        s(&e.key),
        "--trivy-db",
        s(&db),
        "--created",
        "2026-11-26T12:00:00Z",
    ]);
    let out = import_ok(&b2, &e.public, &cache, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rootfs = &v["scan_commands"][0];
    assert_eq!(rootfs["target"], "rootfs", "{out}");
    let c = cache.display();
    assert_eq!(
        rootfs["command"],
        format!("trivy rootfs --cache-dir {c} --skip-db-update --skip-java-db-update --skip-check-update --vex repo --skip-vex-repo-update --offline-scan --skip-version-check --disable-telemetry /"),
        "{out}"
    );
    assert_eq!(rootfs["argv"][0], "trivy");
    assert_eq!(rootfs["argv"][3], c.to_string());
    assert_eq!(
        v["scan_commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["target"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["rootfs", "fs", "image", "config"]
    );
    let report = run_as_root_of(
        &example_rootfs(&t),
        &cache,
        rootfs["command"].as_str().unwrap(),
    );
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], JAR_CVE]
    );
}

#[test]
fn a_cache_with_only_a_db_gets_no_config_command_and_no_vex() {
    let t = TestDir::new();
    let (key, public) = keygen(t.path(), "builder");
    let db = t.join("db.tar.gz");
    write(&db, &trivy_db_tar_gz(2, UPDATED_AT, NEXT_UPDATE));
    let b = t.join("db.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&b),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&db),
    ]);
    let cache = t.join("cache");
    let out = import_ok(&b, &public, &cache, &[]);
    let c = cache.display();
    assert_eq!(
        printed_commands(&out),
        [
            format!("trivy rootfs --cache-dir {c} --skip-db-update --skip-files '**/*.jar' --skip-files '**/*.war' --skip-files '**/*.ear' --skip-files '**/*.par' --offline-scan --skip-version-check --disable-telemetry /"),
            format!("trivy fs --cache-dir {c} --skip-db-update --offline-scan --skip-version-check --disable-telemetry ."),
            format!("trivy image --cache-dir {c} --skip-db-update --skip-files '**/*.jar' --skip-files '**/*.war' --skip-files '**/*.ear' --skip-files '**/*.par' --offline-scan --skip-version-check --disable-telemetry IMAGE"),
        ],
        "{out}"
    );
}
