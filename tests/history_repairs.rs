//! Issue 15, review of the history work (tests/review_history.rs): "already
//! installed" judged from the disk, what the no-op and the repair say, and
//! what every sequence was, remembered through a forced import.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::fixtures::*;
use crate::support::*;

use crate::support::db_builder::Builder;

/// A trivy-db bundle updated `days` ago (created then), with `extra` flags.
fn db_bundle(b: &Builder, name: &str, days: i64, extra: &[&str]) -> PathBuf {
    let updated = rfc3339_from_now(-days * 86_400);
    b.db_bundle(name, &updated, &updated, extra)
}

fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn manifest_sha(report: &Value) -> String {
    report["manifest_sha256"].as_str().unwrap().to_string()
}

#[test]
fn a_forced_import_does_not_forget_what_a_sequence_was() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let one = db_bundle(&b, "one", 3, &["--series", "weekly", "--sequence", "1"]);
    let two = db_bundle(&b, "two", 2, &["--series", "weekly", "--sequence", "2"]);
    let evil = db_bundle(&b, "evil", 1, &["--series", "weekly", "--sequence", "2"]);
    assert!(b.import(&one, &cache, &[]).status.success());
    assert!(b.import(&two, &cache, &[]).status.success());
    // Backing out sequence 2 on purpose, forced.
    let out = b.import(&one, &cache, &["--allow-downgrade"]);
    assert!(out.status.success(), "{out:?}");
    let out = b.import(&evil, &cache, &["--allow-downgrade"]);
    assert_eq!(out.status.code(), Some(8), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("refused: equivocation: series \"weekly\" sequence 2 was imported on this host as manifest sha256 "),
        "{out:?}"
    );
}

#[test]
fn a_no_op_says_what_it_compared_and_a_repair_what_differed() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let day = db_bundle(&b, "day", 1, &[]);
    assert!(b.import(&day, &cache, &[]).status.success());
    let out = b.import(&day, &cache, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        lines(&out)[1],
        "compared with the bundle's signed digests and totals: db/trivy.db (SHA-256)"
    );
    std::fs::remove_file(cache.join("db").join("trivy.db")).unwrap();
    let out = b.import(&day, &cache, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        lines(&out)[0],
        "db/trivy.db is missing: reinstalling",
        "{out:?}"
    );
    let log = std::fs::read_to_string(cache.join(AUDIT_LOG)).unwrap();
    let repair: Value = serde_json::from_str(log.lines().nth(2).unwrap()).unwrap();
    assert_eq!(repair["decision"], "accepted");
    assert_eq!(repair["repaired"][0], "db/trivy.db is missing", "{repair}");
    let again = b.import(&day, &cache, &["--json"]);
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["already_installed"], true, "{report}");
    assert_eq!(report["compared"][0], "db/trivy.db (SHA-256)");
    let out = airlock_ok(&["audit", "--cache-dir", s(&cache)]);
    assert!(
        out.contains(": 4 lines, chain intact (2 accepted, 0 forced, 0 refused, 2 already installed); head sha256 "),
        "{out}"
    );
}

#[test]
fn a_checks_tree_changed_by_hand_is_reinstalled() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    import_ok(&e.bundle, &e.public, &cache, &[]);
    let content = cache.join("policy").join("content");
    let good = tree_hash(&content);
    let (name, _) = good
        .iter()
        .find(|(_, v)| v.starts_with("file "))
        .expect("a checks file");
    let file = content.join(name);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"\n# changed by hand\n");
    std::fs::write(&file, bytes).unwrap();
    let out = import_ok(&e.bundle, &e.public, &cache, &[]);
    assert_eq!(
        out.lines().next(),
        Some("policy/content differs from the bundle: reinstalling"),
        "{out}"
    );
    assert_eq!(tree_hash(&content), good);
}

#[test]
fn the_same_content_under_another_manifest_says_the_manifest_differs() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let seq = ["--series", "weekly", "--sequence", "3"];
    let one = db_bundle(&b, "one", 2, &seq);
    let first = b.import(&one, &cache, &["--json"]);
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    // The same database, exported again under the same number with a label.
    let input = b.t.join("one.tar.gz");
    let relabelled = b.t.join("relabelled.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&relabelled),
        "--sign-key",
        s(&b.key),
        "--trivy-db",
        s(&input),
        "--series",
        "weekly",
        "--sequence",
        "3",
        "--label",
        "ticket=CHG-2",
    ]);
    let out = b.import(&relabelled, &cache, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(lines(&out)[0].starts_with("already installed: "), "{out:?}");
    assert_eq!(
        lines(&out)[2],
        format!(
            "its manifest differs from manifest sha256 {}, imported here under the same series and sequence, but its content is the same: no equivocation",
            manifest_sha(&first)
        )
    );
    let log = std::fs::read_to_string(cache.join(AUDIT_LOG)).unwrap();
    let noop: Value = serde_json::from_str(log.lines().nth(1).unwrap()).unwrap();
    assert_eq!(noop["already_installed"], true);
    assert_eq!(
        noop["same_content_as"],
        manifest_sha(&first).as_str(),
        "{noop}"
    );
}

#[test]
fn after_a_rollback_without_its_kept_state_the_bundle_now_installed_is_already_installed() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let one = db_bundle(&b, "one", 3, &["--series", "weekly", "--sequence", "1"]);
    let two = db_bundle(&b, "two", 2, &["--series", "weekly", "--sequence", "2"]);
    assert!(b.import(&one, &cache, &[]).status.success());
    assert!(b.import(&two, &cache, &[]).status.success());
    // An older airlock kept no state with the previous generation.
    std::fs::remove_file(cache.join(".airlock-state.previous.json")).unwrap();
    let out = airlock(&["rollback", "--cache-dir", s(&cache)]);
    assert!(out.status.success(), "{out:?}");
    let db = tree_hash(&cache.join("db"));
    let out = b.import(&one, &cache, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(lines(&out)[0].starts_with("already installed: "), "{out:?}");
    assert_eq!(tree_hash(&cache.join("db")), db);
    // What is installed is known again: the same bundle is a no-op with
    // nothing more to learn, and sequence 2 imports again.
    let state = std::fs::read(cache.join(".airlock-state.json")).unwrap();
    let again = b.import(&one, &cache, &[]);
    assert!(
        lines(&again)[0].starts_with("already installed: "),
        "{again:?}"
    );
    assert_eq!(
        std::fs::read(cache.join(".airlock-state.json")).unwrap(),
        state
    );
    let out = b.import(&two, &cache, &["--json"]);
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.get("already_installed").is_none(), "{report}");
}
