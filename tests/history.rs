//! Issue 15, items 3 and 4: rollback is an audited operation that updates
//! the import state; a bundle is judged by its content (identical content
//! is "already installed", one series and sequence with two contents is an
//! equivocation, exit 8), through the real binary.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::*;

use crate::support::db_builder::Builder;

fn state(cache: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(cache.join(".airlock-state.json")).unwrap()).unwrap()
}

fn log(cache: &Path) -> Vec<Value> {
    std::fs::read_to_string(cache.join("airlock-audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const MON: &str = "2026-11-23T00:00:00Z";
const TUE: &str = "2026-11-24T00:00:00Z";

#[test]
fn rollback_is_recorded_in_the_audit_log_and_the_state_with_its_versions() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let monday = b.db_bundle(
        "monday",
        MON,
        MON,
        &["--series", "weekly", "--sequence", "1"],
    );
    let tuesday = b.db_bundle(
        "tuesday",
        TUE,
        TUE,
        &["--series", "weekly", "--sequence", "2"],
    );
    let mon_sha = b.import_json(&monday, &cache)["manifest_sha256"].clone();
    let mon_content = state(&cache)["contents"]["db"].clone();
    let tue_sha = b.import_json(&tuesday, &cache)["manifest_sha256"].clone();
    let tue_content = state(&cache)["contents"]["db"].clone();
    assert!(mon_content.as_str().unwrap().starts_with("sha256:"));
    assert_ne!(mon_content, tue_content);

    let out = airlock_ok(&["rollback", "--cache-dir", s(&cache), "--json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    let from = json!({"manifest_sha256": tue_sha, "series": "weekly", "sequence": 2});
    let to = json!({"manifest_sha256": mon_sha, "series": "weekly", "sequence": 1});
    let components = json!([{
        "component": "db",
        "from": {"content": tue_content, "updated_at": TUE},
        "to": {"content": mon_content, "updated_at": MON},
    }]);
    assert_eq!(report["restored"], json!(["db"]));
    assert_eq!(report["from"], from);
    assert_eq!(report["to"], to);
    assert_eq!(report["components"], components);
    assert_eq!(report["audit"]["line"], 3);

    // The audit record: who, when, from which bundle to which, versions.
    let lines = log(&cache);
    let last = &lines[2];
    assert_eq!(last["decision"], "rolled-back");
    assert_eq!(last["rollback"]["from"], from);
    assert_eq!(last["rollback"]["to"], to);
    assert_eq!(last["rollback"]["components"], components);
    assert_eq!(last["manifest_sha256"], mon_sha);
    assert_eq!(
        (&last["series"], &last["sequence"]),
        (&json!("weekly"), &json!(1))
    );
    assert!(
        last["user"].as_str().is_some_and(|u| !u.is_empty()),
        "{last}"
    );
    assert!(last["time"].as_str().unwrap().ends_with('Z'), "{last}");
    assert_eq!(last["cache_dir"], s(&cache));
    assert!(
        last.get("bundle").is_none() && last.get("installed").is_none(),
        "{last}"
    );
    let audit = airlock_ok(&["audit", "--cache-dir", s(&cache)]);
    assert!(
        audit.contains(": 3 lines, chain intact (2 accepted, 0 forced, 0 refused, 1 rolled back); head sha256 "),
        "{audit}"
    );

    // The state is what is installed now.
    let st = state(&cache);
    assert_eq!(st["series"]["weekly"]["sequence"], 1);
    assert_eq!(st["series"]["weekly"]["manifest_sha256"], mon_sha);
    assert_eq!(st["last_manifest_sha256"], mon_sha);
    assert_eq!(st["databases"]["trivy-db"], MON);
    assert_eq!(st["contents"]["db"], mon_content);
    assert_eq!(st["components"]["db"], MON);

    // Monday's bundle, installed now, is "already installed"; Tuesday's
    // imports again as the newer one.
    let db_before = tree_hash(&cache.join("db"));
    let out = b.import(&monday, &cache, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out).lines().next().unwrap(),
        format!(
            "already installed: {} (manifest sha256 {}, series \"weekly\" sequence 1): {} holds its content; nothing was changed",
            monday.display(),
            mon_sha.as_str().unwrap(),
            cache.display()
        )
    );
    assert_eq!(tree_hash(&cache.join("db")), db_before);
    assert_eq!(state(&cache), st, "a no-op leaves the state as it was");
    let lines = log(&cache);
    assert_eq!(lines[3]["decision"], "accepted");
    assert_eq!(lines[3]["already_installed"], true);
    assert!(lines[3].get("installed").is_none(), "{}", lines[3]);
    let again = b.import_json(&tuesday, &cache);
    assert_eq!(again["components"][0]["replaced"], true);
    assert_eq!(state(&cache)["series"]["weekly"]["sequence"], 2);

    // A second rollback undoes the first, and says so in words.
    airlock_ok(&["rollback", "--cache-dir", s(&cache)]);
    let out = airlock_ok(&["rollback", "--cache-dir", s(&cache)]);
    let words: Vec<&str> = out.lines().collect();
    assert_eq!(words[0], format!("rolled back in {}:", cache.display()));
    assert_eq!(
        words[1],
        format!("  db: UpdatedAt {MON} -> UpdatedAt {TUE}")
    );
    assert_eq!(
        words[2],
        format!(
            "from manifest sha256 {} (series \"weekly\" sequence 1) to manifest sha256 {} (series \"weekly\" sequence 2)",
            mon_sha.as_str().unwrap(),
            tue_sha.as_str().unwrap()
        )
    );
    assert!(words[3].starts_with(&format!(
        "recorded in {} (line 7, sha256 ",
        cache.join("airlock-audit.jsonl").display()
    )));
    assert_eq!(state(&cache)["series"]["weekly"]["sequence"], 2);
}

#[test]
fn reimporting_the_installed_bundle_changes_nothing_and_says_so() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let monday = b.db_bundle("monday", MON, MON, &[]);
    let first = b.import_json(&monday, &cache);
    let (st, db) = (state(&cache), tree_hash(&cache.join("db")));
    let report = b.import_json(&monday, &cache);
    assert_eq!(report["already_installed"], true);
    assert_eq!(report["manifest_sha256"], first["manifest_sha256"]);
    assert_eq!(report["components"][0]["replaced"], false);
    assert_eq!((state(&cache), tree_hash(&cache.join("db"))), (st, db));
    assert!(
        !cache.join(".airlock-previous").exists(),
        "nothing was swapped"
    );
    let lines = log(&cache);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["already_installed"], true);
    assert!(first.get("already_installed").is_none(), "{first}");
    assert!(lines[0].get("already_installed").is_none(), "{}", lines[0]);
}

#[test]
fn identical_databases_made_at_another_time_are_already_installed_not_a_downgrade() {
    let b = Builder::new();
    // A disaster-recovery snapshot: the same database, exported later.
    let earlier = b.db_bundle("earlier", MON, "2026-11-24T00:00:00Z", &[]);
    let snapshot = b.db_bundle("snapshot", MON, "2026-11-25T00:00:00Z", &[]);
    let cache = b.t.join("cache");
    b.import_json(&snapshot, &cache);
    let out = b.import(&earlier, &cache, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout(&out).starts_with(&format!(
            "already installed: {} (manifest sha256 ",
            earlier.display()
        )),
        "{out:?}"
    );
    // The other way round, the later one is imported (the state follows it).
    let other = b.t.join("other");
    b.import_json(&earlier, &other);
    let report = b.import_json(&snapshot, &other);
    assert!(report.get("already_installed").is_none(), "{report}");
    assert_eq!(state(&other)["components"]["db"], "2026-11-25T00:00:00Z");
    // A database genuinely older than the installed one stays a downgrade,
    // said in one short line.
    let older = b.db_bundle("older", "2026-11-01T00:00:00Z", "2026-11-26T00:00:00Z", &[]);
    let out = b.import(&older, &cache, &[]);
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let err = stderr(&out);
    assert_eq!(
        err.lines().next().unwrap(),
        format!("airlock: error: refused: this would be a downgrade: the trivy-db in this bundle (UpdatedAt 2026-11-01T00:00:00Z) is older than the installed one (UpdatedAt {MON})")
    );
}

#[test]
fn one_sequence_with_two_contents_is_an_equivocation_never_a_downgrade() {
    let b = Builder::new();
    let cache = b.t.join("cache");
    let one = b.db_bundle("one", MON, MON, &["--series", "weekly", "--sequence", "3"]);
    let two = b.db_bundle("two", TUE, MON, &["--series", "weekly", "--sequence", "3"]);
    let one_sha = b.import_json(&one, &cache)["manifest_sha256"].clone();
    let two_sha = airlock_ok(&["inspect", s(&two), "--json"]);
    let two_sha: Value = serde_json::from_str(&two_sha).unwrap();
    let two_sha = two_sha["manifest_sha256"].as_str().unwrap().to_string();
    let before = tree_hash(&cache.join("db"));
    for extra in [&[][..], &["--allow-downgrade"][..]] {
        let out = b.import(&two, &cache, extra);
        assert_eq!(out.status.code(), Some(8), "{out:?}");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines,
            [
                format!("airlock: error: refused: equivocation: series \"weekly\" sequence 3 was imported on this host as manifest sha256 {}; this bundle, also sequence 3, is manifest sha256 {two_sha}", one_sha.as_str().unwrap()),
                "hint: one builder issued two different bundles under one sequence: it is compromised or confused; contact the builder and compare the two manifest sha256 above; no flag overrides this; nothing was written".to_string(),
            ],
            "{err}"
        );
        assert!(!err.contains("--allow-downgrade"), "{err}");
    }
    assert_eq!(tree_hash(&cache.join("db")), before);
    let lines = log(&cache);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["decision"], "refused");
    assert!(lines[2]["reason"]
        .as_str()
        .unwrap()
        .starts_with("refused: equivocation: "));
}
