//! Locating and running the real Trivy binary in tests.
//!
//! Every run is isolated: its own `--cache-dir`, HOME/XDG_DATA_HOME/XDG_CACHE_HOME
//! under the test's directories, no inherited `TRIVY_*` variables, no trivy.yaml
//! (`--config ""`), no version check or telemetry.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Scan subcommands that accept --skip-version-check / --disable-telemetry.
const SCAN_COMMANDS: &[&str] = &[
    "image",
    "i",
    "filesystem",
    "fs",
    "rootfs",
    "repository",
    "repo",
    "config",
    "conf",
    "sbom",
    "vm",
    "kubernetes",
    "k8s",
];

/// $AIRLOCK_TRIVY, else <crate root>/target/tools/trivy, else `trivy` on PATH.
/// Never skips: without a binary every test that needs it fails loudly.
pub fn trivy_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("AIRLOCK_TRIVY") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "AIRLOCK_TRIVY={} is not a file", p.display());
        return p;
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/trivy");
    if local.is_file() {
        return local;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join("trivy");
            if cand.is_file() {
                return cand;
            }
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "Trivy binary not found in CI: set AIRLOCK_TRIVY, or install it at {} or on PATH \
             (.ci/run must install it before the tests)",
            local.display()
        );
    }
    panic!(
        "Trivy binary not found: run the test setup first (it installs Trivy 0.76 at {}), \
         or set AIRLOCK_TRIVY=/path/to/trivy, or put `trivy` on PATH",
        local.display()
    );
}

/// Runs `trivy <args...>` with an isolated cache dir and home.
/// `args` start with the subcommand (e.g. `["rootfs", "-f", "json", dir]`).
pub fn trivy(cache_dir: &Path, xdg_data_home: &Path, args: &[&str]) -> Output {
    trivy_with_env(cache_dir, xdg_data_home, args, &[])
}

/// As [`trivy`], with extra environment variables.
pub fn trivy_with_env(
    cache_dir: &Path,
    xdg_data_home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    std::fs::create_dir_all(xdg_data_home).unwrap();
    let home = xdg_data_home.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(trivy_bin());
    cmd.args(args);
    cmd.arg("--cache-dir").arg(cache_dir);
    if !args.contains(&"--config") {
        cmd.args(["--config", ""]);
    }
    if args.first().is_some_and(|a| SCAN_COMMANDS.contains(a)) {
        cmd.args(["--skip-version-check", "--disable-telemetry"]);
    }
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TRIVY_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("HOME", &home)
        .env("XDG_DATA_HOME", xdg_data_home)
        .env("XDG_CACHE_HOME", xdg_data_home.join("cache"))
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env("TRIVY_SKIP_VERSION_CHECK", "true")
        .env("TRIVY_DISABLE_TELEMETRY", "true")
        .env("TRIVY_NO_PROGRESS", "true")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", trivy_bin().display()))
}

/// Runs Trivy and returns stdout parsed as JSON; panics with stderr on a
/// non-zero exit or non-JSON output.
pub fn trivy_json(cache_dir: &Path, xdg: &Path, args: &[&str]) -> serde_json::Value {
    let out = trivy(cache_dir, xdg, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "trivy {args:?} failed ({}):\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "trivy {args:?}: stdout is not JSON ({e}):\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The flags that keep `trivy rootfs` off the network.
pub const SKIP_UPDATES: &[&str] = &[
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--skip-vex-repo-update",
];

/// `trivy rootfs -f json --scanners vuln <extra...> <rootfs>` parsed; panics with stderr on failure.
pub fn rootfs_report(
    cache_dir: &Path,
    xdg: &Path,
    rootfs: &Path,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec!["rootfs", "-f", "json", "--scanners", "vuln"];
    args.extend_from_slice(extra);
    args.push(rootfs.to_str().unwrap());
    trivy_json(cache_dir, xdg, &args)
}

/// Sorted VulnerabilityIDs (all results) from `trivy rootfs -f json` with all
/// `--skip-*-update` flags; `extra` is appended (e.g. `["--vex", "repo"]`).
pub fn rootfs_vuln_ids(cache_dir: &Path, xdg: &Path, rootfs: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = SKIP_UPDATES.to_vec();
    args.extend_from_slice(extra);
    vuln_ids(&rootfs_report(cache_dir, xdg, rootfs, &args))
}

/// Sorted VulnerabilityIDs of a report's `Vulnerabilities`.
pub fn vuln_ids(report: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = results(report)
        .flat_map(|r| r["Vulnerabilities"].as_array().cloned().unwrap_or_default())
        .map(|v| v["VulnerabilityID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Sorted (VulnerabilityID, Status) of `ExperimentalModifiedFindings`, which
/// Trivy fills only with `--show-suppressed` (e.g. findings a VEX suppressed).
pub fn suppressed_vulns(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = results(report)
        .flat_map(|r| {
            r["ExperimentalModifiedFindings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| m["Type"] == "vulnerability")
        .map(|m| {
            (
                m["Finding"]["VulnerabilityID"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                m["Status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Sorted IDs of FAILED misconfigurations from `trivy config -f json --skip-check-update`.
pub fn config_check_ids(cache_dir: &Path, xdg: &Path, project: &Path) -> Vec<String> {
    config_check_ids_with(cache_dir, xdg, project, &["--skip-check-update"])
}

/// As [`config_check_ids`] with other flags instead of `--skip-check-update`.
pub fn config_check_ids_with(
    cache_dir: &Path,
    xdg: &Path,
    project: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args = vec!["config", "-f", "json"];
    args.extend_from_slice(extra);
    args.push(project.to_str().unwrap());
    misconfig_ids(&trivy_json(cache_dir, xdg, &args))
}

/// Sorted IDs of FAILED misconfigurations in a `trivy config -f json` report.
pub fn misconfig_ids(report: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = results(report)
        .flat_map(|r| {
            r["Misconfigurations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|m| m["Status"] == "FAIL")
        .map(|m| m["ID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn results(report: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    report["Results"].as_array().into_iter().flatten()
}
