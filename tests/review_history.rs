//! Outside review of issue 15 items 3, 4, 5 (downgrade by content,
//! already installed, equivocation, audited rollback, staleness). Each
//! test reproduced a finding (once `#[ignore = "finding: …"]`); each passes now.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::registry::Registry;
use crate::support::*;

use crate::support::db_builder::Builder;

fn rfc(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn days_ago(d: i64) -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    rfc(now - time::Duration::days(d))
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The database file of the installed trivy-db.
fn db_file(cache: &Path) -> PathBuf {
    cache.join("db").join("trivy.db")
}

#[test]
fn reimporting_over_a_deleted_database_repairs_it() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let updated = days_ago(1);
    let bundle = b.db_bundle("day", &updated, &updated, &[]);
    b.import_json(&bundle, &cache);
    let good = std::fs::read(db_file(&cache)).expect("trivy.db installed");
    // The operator's disk lost the database (or someone removed it).
    std::fs::remove_file(db_file(&cache)).unwrap();
    let out = b.import(&bundle, &cache, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        !stdout(&out).contains("holds its content"),
        "the cache does not hold its content: {}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read(db_file(&cache)).ok(),
        Some(good),
        "re-importing the bundle must put the database back"
    );
}

#[test]
fn reimporting_over_a_database_changed_by_hand_restores_it() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let updated = days_ago(1);
    let bundle = b.db_bundle("day", &updated, &updated, &[]);
    b.import_json(&bundle, &cache);
    let good = std::fs::read(db_file(&cache)).unwrap();
    std::fs::write(db_file(&cache), b"tampered or truncated").unwrap();
    let report = b.import_json(&bundle, &cache);
    assert!(
        report.get("already_installed").is_none(),
        "the live database is not the bundle's: {report}"
    );
    assert_eq!(std::fs::read(db_file(&cache)).unwrap(), good);
}

#[test]
fn stale_warnings_at_import_are_judged_against_the_newest_time_seen() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    // This host has seen 20 days later than its clock now says (its clock
    // was set back, e.g. a dead RTC battery): import judges ages by that.
    let seen = rfc(time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        + time::Duration::days(20));
    std::fs::write(
        cache.join(".airlock-state.json"),
        format!("{{\"newest_seen\": \"{seen}\"}}\n"),
    )
    .unwrap();
    // By the clock 3 days old; by the newest time seen, 23 days old.
    let updated = days_ago(3);
    let bundle = b.db_bundle("old", &updated, &updated, &[]);
    let out = b.import(&bundle, &cache, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stderr(&out).contains("warning: the trivy-db is 2"),
        "a 23-day-old database by this host's own history goes in without a word: {}",
        stderr(&out)
    );
}

#[test]
fn rollback_does_not_forget_what_a_sequence_was() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let one = b.db_bundle(
        "one",
        &days_ago(3),
        &days_ago(3),
        &["--series", "weekly", "--sequence", "1"],
    );
    let two = b.db_bundle(
        "two",
        &days_ago(2),
        &days_ago(2),
        &["--series", "weekly", "--sequence", "2"],
    );
    // Another sequence 2, of other content: the builder equivocates.
    let evil = b.db_bundle(
        "evil",
        &days_ago(1),
        &days_ago(1),
        &["--series", "weekly", "--sequence", "2"],
    );
    b.import_json(&one, &cache);
    b.import_json(&two, &cache);
    let out = airlock(&["rollback", "--cache-dir", s(&cache)]);
    assert!(out.status.success(), "{out:?}");
    let out = b.import(&evil, &cache, &[]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "sequence 2 was imported here as another manifest (the audit log says so): {out:?}"
    );
}

#[test]
fn the_same_content_under_one_sequence_is_judged_alike_whenever_made() {
    let b = Builder::new();
    let updated = days_ago(3);
    let later = days_ago(2);
    let seq = ["--series", "weekly", "--sequence", "3"];
    let one = b.db_bundle("one", &updated, &updated, &seq);
    let same_time = b.db_bundle(
        "same-time",
        &updated,
        &updated,
        &[
            "--series",
            "weekly",
            "--sequence",
            "3",
            "--label",
            "ticket=CHG-2",
        ],
    );
    let made_later = b.db_bundle(
        "made-later",
        &updated,
        &later,
        &[
            "--series",
            "weekly",
            "--sequence",
            "3",
            "--label",
            "ticket=CHG-2",
        ],
    );
    let cache = b.t.join("cache");
    b.import_json(&one, &cache);
    let a = b.import(&same_time, &cache, &[]);
    let c = b.import(&made_later, &cache, &[]);
    assert_eq!(
        a.status.code(),
        c.status.code(),
        "identical content, one sequence, two verdicts:\n{}\n{}",
        stdout(&a) + &stderr(&a),
        stdout(&c) + &stderr(&c)
    );
}

#[test]
fn an_already_installed_report_with_a_vex_dir_names_the_same_repository_url() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let (cache, vex_dir) = (t.join("cache"), t.join("vex"));
    let run = || {
        let out = airlock(&[
            "import",
            s(&e.bundle),
            "--key",
            s(&e.public),
            "--cache-dir",
            s(&cache),
            "--vex-dir",
            s(&vex_dir),
            "--json",
        ]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = run();
    let again = run();
    assert_eq!(again["already_installed"], true, "{again}");
    assert_eq!(
        again["repository_yaml"], first["repository_yaml"],
        "the repository.yaml to use did not change"
    );
    assert_eq!(
        again["vex"][0]["repository_url"],
        first["vex"][0]["repository_url"]
    );
}

#[test]
fn reimporting_with_a_vex_dir_restores_a_removed_static_repository() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let (cache, vex_dir) = (t.join("cache"), t.join("vex"));
    let args = |json: bool| {
        let mut v = vec![
            "import".to_string(),
            s(&e.bundle).to_string(),
            "--key".into(),
            s(&e.public).into(),
            "--cache-dir".into(),
            s(&cache).into(),
            "--vex-dir".into(),
            s(&vex_dir).into(),
        ];
        if json {
            v.push("--json".into());
        }
        v
    };
    let run = |json| {
        let a = args(json);
        airlock(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert!(run(false).status.success());
    let served: Vec<PathBuf> = std::fs::read_dir(&vex_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    assert_eq!(served.len(), 1, "{served:?}");
    let before = tree_hash(&served[0]);
    std::fs::remove_dir_all(&served[0]).unwrap();
    let out = run(false);
    assert!(out.status.success(), "{out:?}");
    assert!(
        served[0].is_dir(),
        "the fleet downloads from {}; it is gone and the import said: {}",
        served[0].display(),
        stdout(&out)
    );
    assert_eq!(tree_hash(&served[0]), before);
}

#[test]
fn a_push_only_import_warns_of_a_stale_database() {
    let t = TestDir::new();
    let e = export_fixtures(&t); // trivy-db UpdatedAt 2024-01-01
    let reg = Registry::plain(&t.join("registry"));
    let target = format!("{}/aquasec", reg.host());
    let out = airlock(&[
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--push",
        &target,
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stderr(&out).contains("warning: the trivy-db is "),
        "pushed to the fleet without a word: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = airlock(&[
        "import",
        s(&e.bundle),
        "--key",
        s(&e.public),
        "--push",
        &target,
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = json.to_string();
    assert!(text.contains("the trivy-db is "), "{text}");
}

#[test]
fn a_sequence_accepted_as_already_installed_is_remembered() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let x = days_ago(3);
    let weekly = b.db_bundle("weekly", &x, &x, &["--series", "weekly", "--sequence", "1"]);
    // The same database under another series, made no later.
    let monthly = b.db_bundle(
        "monthly",
        &x,
        &x,
        &["--series", "monthly", "--sequence", "1"],
    );
    // The builder then says something else under monthly sequence 1.
    let other = b.db_bundle(
        "monthly-other",
        &days_ago(2),
        &days_ago(2),
        &["--series", "monthly", "--sequence", "1"],
    );
    b.import_json(&weekly, &cache);
    let report = b.import_json(&monthly, &cache);
    assert_eq!(report["already_installed"], true, "{report}");
    // The audit log records monthly sequence 1 as accepted here.
    let log = std::fs::read_to_string(cache.join("airlock-audit.jsonl")).unwrap();
    assert!(log.lines().nth(1).unwrap().contains("\"monthly\""), "{log}");
    let out = b.import(&other, &cache, &[]);
    assert_eq!(
        out.status.code(),
        Some(8),
        "monthly sequence 1 was accepted here as another manifest: {}{}",
        stdout(&out),
        stderr(&out)
    );
}
