//! Issue 15, item 10: the README's two-person walkthrough, run verbatim on
//! the shipped examples. The lines between the `walkthrough:begin` and
//! `walkthrough:end` markers are run one command at a time with `sh -c`
//! from the repository root, with airlock on PATH; the only change is the
//! work folder (`/tmp/airlock-walkthrough` becomes the test's own).
//! Issue 14: the operator's walkthroughs (`walkthrough usb`, `dr`, `fleet`
//! blocks) run the same way, each in its own folder (`/tmp/airlock-NAME`
//! becomes the test's), and what they promise is checked with the real
//! Trivy: the written trivy.yaml scans, the restored cache equals the
//! snapshotted one, a scanner fed by the internal registry finds the IDs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::fixtures::*;
use crate::support::*;

const WORK: &str = "/tmp/airlock-walkthrough";

/// (expected exit code, command) for each command of the block.
fn walkthrough() -> Vec<(i32, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("<!-- walkthrough:begin -->\n```sh\n")
        .expect("begin marker");
    let rest = &readme[start..];
    let block = &rest[rest.find("```sh\n").unwrap() + 6
        ..rest
            .find("```\n<!-- walkthrough:end -->")
            .expect("end marker")];
    let mut commands = Vec::new();
    let mut expect = 0;
    let mut current = String::new();
    for line in block.lines() {
        if current.is_empty() && line.starts_with('#') {
            if let Some(i) = line.find("(exits ") {
                expect = line[i + 7..].trim_end_matches(')').parse().unwrap();
            }
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                commands.push((expect, std::mem::take(&mut current)));
                expect = 0;
            }
        }
    }
    assert!(current.is_empty(), "a command ends with a continuation");
    commands
}

fn run(work: &Path, command: &str) -> std::process::Output {
    let command = command.replace(WORK, s(work));
    let bin = airlock_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", &command])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .env_remove("AIRLOCK_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_readme_two_person_walkthrough_runs_verbatim_on_the_shipped_examples() {
    let t = TestDir::new();
    let work = t.join("walkthrough");
    let commands = walkthrough();
    assert_eq!(commands.len(), 10, "{commands:#?}");
    let mut outputs = Vec::new();
    for (expect, command) in &commands {
        let out = run(&work, command);
        assert_eq!(
            out.status.code(),
            Some(*expect),
            "{command}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(out);
    }
    // The first verify is refused for want of bob's approval.
    let first = commands
        .iter()
        .position(|(_, c)| c.starts_with("airlock verify"))
        .unwrap();
    assert_eq!(commands[first].0, 3);
    let err = String::from_utf8_lossy(&outputs[first].stderr);
    assert!(
        err.starts_with("airlock: error: 1 of the 2 required approvals"),
        "{err}"
    );
    // The second passes with both signatures counted.
    let last_verify = commands
        .iter()
        .rposition(|(_, c)| c.starts_with("airlock verify"))
        .unwrap();
    assert!(last_verify > first);
    let out = String::from_utf8_lossy(&outputs[last_verify].stdout);
    assert!(out.starts_with("OK: "), "{out}");
    assert_eq!(out.matches(": valid, counted").count(), 2, "{out}");
    assert!(out.contains("series example, sequence 1\n"), "{out}");
    // The import installed everything and recorded it.
    let cache = work.join("trivy-cache");
    for f in [
        "db/trivy.db",
        "java-db/trivy-java.db",
        "policy/content",
        "vex/repositories/default/vex-repository.json",
    ] {
        assert!(cache.join(f).exists(), "{f}");
    }
    let log = std::fs::read_to_string(cache.join(AUDIT_LOG)).unwrap();
    let entry: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(entry["decision"], "accepted", "{log}");
    // The cache it made scans as the examples promise.
    let xdg = t.join("xdg");
    let ids = crate::support::trivy::rootfs_vuln_ids(
        &cache,
        &xdg,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/rootfs"),
        &["--vex", "repo"],
    );
    assert_eq!(ids, [ZLIB_CVES[0], JAR_CVE]);
}

/// (expected exit code, command) for each command of the README block
/// between `<!-- walkthrough NAME:begin -->` and `<!-- walkthrough NAME:end -->`.
fn named_block(name: &str) -> Vec<(i32, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let begin = format!("<!-- walkthrough {name}:begin -->\n```sh\n");
    let end = format!("```\n<!-- walkthrough {name}:end -->");
    let start = readme.find(&begin).expect("begin marker") + begin.len();
    let stop = start + readme[start..].find(&end).expect("end marker");
    let mut commands = Vec::new();
    let mut expect = 0;
    let mut current = String::new();
    for line in readme[start..stop].lines() {
        if current.is_empty() && line.starts_with('#') {
            if let Some(i) = line.find("(exits ") {
                expect = line[i + 7..].trim_end_matches(')').parse().unwrap();
            }
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                commands.push((expect, std::mem::take(&mut current)));
                expect = 0;
            }
        }
    }
    assert!(current.is_empty(), "a command ends with a continuation");
    commands
}

/// Runs every command of the block `name` as [`run`] does, its work folder
/// `/tmp/airlock-NAME` replaced by `work` and each `(from, to)` of
/// `replace` applied; returns each command's output.
fn run_block(name: &str, work: &Path, replace: &[(&str, &str)]) -> Vec<(String, Output)> {
    let folder = format!("/tmp/airlock-{name}");
    let mut outputs = Vec::new();
    for (expect, command) in named_block(name) {
        let mut command = command.replace(&folder, s(work));
        for (from, to) in replace {
            command = command.replace(from, to);
        }
        let out = run(work, &command);
        assert_eq!(
            out.status.code(),
            Some(expect),
            "{command}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push((command, out));
    }
    outputs
}

/// The stdout of the first command of `outputs` starting with `prefix`.
fn stdout_of(outputs: &[(String, Output)], prefix: &str) -> String {
    let (_, out) = outputs
        .iter()
        .find(|(c, _)| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no command starts with {prefix}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn example(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data")
        .join(p)
}

#[test]
fn the_readme_monthly_usb_walkthrough_runs_verbatim() {
    let t = TestDir::new();
    let work = t.join("usb");
    let outputs = run_block("usb", &work, &[]);
    assert_eq!(
        outputs.len(),
        6,
        "{:#?}",
        outputs.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let verified = stdout_of(&outputs, "airlock verify");
    assert!(verified.starts_with("OK: "), "{verified}");
    assert!(
        verified.contains("series monthly, sequence 1\n"),
        "{verified}"
    );
    let sequence = std::fs::read_to_string(work.join("sequence")).unwrap();
    assert!(
        sequence.ends_with("series = \"monthly\"\nsequence = 1\n"),
        "{sequence}"
    );
    let imported = stdout_of(&outputs, "airlock import");
    assert!(imported.contains("  trivy-db  "), "{imported}");
    let cache = work.join("trivy-cache");
    assert_eq!(
        stdout_of(&outputs, "airlock trivy-config"),
        format!(
            "wrote {} (Trivy reads it with --config FILE)\n",
            work.join("trivy.yaml").display()
        )
    );
    // The written trivy.yaml scans the example root file system as promised.
    let xdg = t.join("xdg");
    let report = crate::support::trivy::trivy_json(
        &cache,
        &xdg,
        &[
            "rootfs",
            "--config",
            s(&work.join("trivy.yaml")),
            "-f",
            "json",
            s(&example("rootfs")),
        ],
    );
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], JAR_CVE]
    );
}

#[test]
fn the_readme_disaster_recovery_walkthrough_restores_the_same_cache() {
    let t = TestDir::new();
    let work = t.join("dr");
    let outputs = run_block("dr", &work, &[]);
    assert_eq!(
        outputs.len(),
        7,
        "{:#?}",
        outputs.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let verify = stdout_of(&outputs, "airlock verify");
    assert!(verify.starts_with("OK: "), "{verify}");
    let (original, restored) = (work.join("trivy-cache"), work.join("restored-cache"));
    for f in [
        "db/trivy.db",
        "java-db/trivy-java.db",
        "vex/repositories/default/0.1/index.json",
    ] {
        assert_eq!(
            std::fs::read(original.join(f)).unwrap(),
            std::fs::read(restored.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        tree_hash(&original.join("policy/content")),
        tree_hash(&restored.join("policy/content"))
    );
    let ids = crate::support::trivy::rootfs_vuln_ids(
        &restored,
        &t.join("xdg"),
        &example("rootfs"),
        &["--vex", "repo"],
    );
    assert_eq!(ids, [ZLIB_CVES[0], JAR_CVE]);
}

#[test]
fn the_readme_fleet_walkthrough_feeds_scanners_from_the_internal_registry() {
    let t = TestDir::new();
    let registry = crate::support::registry::Registry::plain(&t.join("registry"));
    let host = registry.host();
    let work = t.join("fleet");
    let outputs = run_block("fleet", &work, &[("127.0.0.1:5000", &host)]);
    assert_eq!(
        outputs.len(),
        5,
        "{:#?}",
        outputs.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let pushed = stdout_of(&outputs, "airlock import");
    assert!(
        pushed.contains(&format!("--db-repository {host}/aquasec/trivy-db:2")),
        "{pushed}"
    );
    // A scanner with an empty cache and the written trivy.yaml downloads
    // all three from the registry and finds the example's vulnerabilities.
    let scanner_cache = work.join("scanner-cache");
    let report = crate::support::trivy::trivy_json(
        &scanner_cache,
        &t.join("xdg"),
        &[
            "rootfs",
            "--config",
            s(&work.join("trivy.yaml")),
            "-f",
            "json",
            s(&example("rootfs")),
        ],
    );
    assert_eq!(
        crate::support::trivy::vuln_ids(&report),
        [ZLIB_CVES[0], ZLIB_CVES[1], JAR_CVE]
    );
    for f in ["db/trivy.db", "java-db/trivy-java.db"] {
        assert!(scanner_cache.join(f).is_file(), "{f}");
    }
    let ids = crate::support::trivy::config_check_ids_with(
        &scanner_cache,
        &t.join("xdg"),
        &example("project"),
        &["--config", s(&work.join("trivy.yaml"))],
    );
    assert_eq!(ids, [SENTINEL_CHECK_ID]);
}
