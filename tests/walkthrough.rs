//! Issue 15, item 10: the README's two-person walkthrough, run verbatim on
//! the shipped examples. The lines between the `walkthrough:begin` and
//! `walkthrough:end` markers are run one command at a time with `sh -c`
//! from the repository root, with airlock on PATH; the only change is the
//! work folder (`/tmp/airlock-walkthrough` becomes the test's own).

use std::path::Path;
use std::process::{Command, Stdio};

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
