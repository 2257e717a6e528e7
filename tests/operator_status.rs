//! Issue 14: `airlock status` as a monitoring check (each component's age
//! and origin, `--max-age` / `--max-db-age`, exit 9), on an import, on an
//! empty cache and on a cache the real Trivy wrote; and Trivy's default
//! cache directory (`TRIVY_CACHE_DIR`, `XDG_CACHE_HOME`) honoured by
//! `import` and `status`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::fixtures::*;
use crate::support::registry::Registry;
use crate::support::trivy::trivy;
use crate::support::*;

const DAY: i64 = 86_400;

/// airlock with `args` and exactly these environment variables of the
/// cache's (the others that would decide the cache directory removed).
fn airlock_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(airlock_bin());
    cmd.args(args).stdin(Stdio::null());
    for k in [
        "AIRLOCK_CACHE_DIR",
        "TRIVY_CACHE_DIR",
        "XDG_CACHE_HOME",
        "AIRLOCK_KEY",
        "AIRLOCK_TRUST",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run airlock")
}

/// A db-only bundle (UpdatedAt `updated_ago` seconds ago, plus five
/// minutes so that ages print as whole days), with a label and a series;
/// returns it, the public key and the UpdatedAt.
fn db_bundle(t: &TestDir, updated_ago: i64) -> (PathBuf, PathBuf, String) {
    let (key, public) = keygen(t.path(), "builder");
    let updated = rfc3339_from_now(-updated_ago - 300);
    let next = rfc3339_from_now(-updated_ago - 300 + DAY);
    let input = t.join("db.tar.gz");
    write(&input, &trivy_db_tar_gz(2, &updated, &next));
    let bundle = t.join("b.airlock");
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--trivy-db",
        s(&input),
        "--label",
        "ticket=CHG-42",
        "--series",
        "weekly",
        "--sequence",
        "7",
    ]);
    (bundle, public, updated)
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// The component named `name` of `status --json`'s freshness report.
fn component<'a>(v: &'a Value, name: &str) -> &'a Value {
    let all = v["freshness"]["components"].as_array().expect("components");
    all.iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

#[test]
fn status_after_a_fresh_import_exits_0_and_names_the_bundle_each_component_came_from() {
    let t = TestDir::new();
    let (bundle, public, updated) = db_bundle(&t, 3600);
    let cache = t.join("cache");
    let import: Value =
        serde_json::from_str(&import_ok(&bundle, &public, &cache, &["--json"])).unwrap();
    let check = [
        "status",
        "--cache-dir",
        s(&cache),
        "--max-db-age",
        "7d",
        "--skip",
        "java-db",
    ];
    let out = airlock(&check);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(
            |l| l.starts_with("  trivy-db     schema 2  1h 5m old (UpdatedAt ")
                && l.ends_with("  ok")
        ),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "  java-db      missing"),
        "{text}"
    );

    let out = airlock(&[&check[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let v = json(&out);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["freshness"]["fresh"], true);
    let names: Vec<&str> = v["freshness"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["trivy-db", "java-db", "checks"]);
    let db = component(&v, "trivy-db");
    assert_eq!(db["path"], "db");
    assert_eq!(db["present"], true);
    assert_eq!(db["schema"], 2);
    assert_eq!(db["updated_at"], updated.as_str());
    assert_eq!(db["next_update"], rfc3339_from_now_like(&updated, DAY));
    assert_eq!(db["age_from"], "UpdatedAt");
    assert_eq!(db["age_since"], updated.as_str());
    assert_eq!(db["age"], "1h 5m");
    let age = db["age_seconds"].as_u64().unwrap();
    assert!((3900..3960).contains(&age), "{age}");
    assert_eq!(db["limit_seconds"], 7 * DAY);
    assert_eq!(db["stale"], Value::Null);
    assert_eq!(db["skipped"], false);
    assert_eq!(db["unknown"], serde_json::json!([]));
    let b = &db["bundle"];
    assert_eq!(b["manifest_sha256"], import["manifest_sha256"]);
    assert_eq!(b["created"], import["created"]);
    assert_eq!(b["series"], "weekly");
    assert_eq!(b["sequence"], 7);
    assert_eq!(b["labels"], serde_json::json!({"ticket": "CHG-42"}));
    assert_eq!(b["decision"], "accepted");
    assert_eq!(b["log_line"], 1);
    assert_eq!(b["signers"].as_array().unwrap().len(), 1);
    assert_eq!(b["signers"][0]["key_id"], import["signers"][0]["key_id"]);
    assert!(b["imported_at"].as_str().unwrap().starts_with("20"), "{b}");
    let java = component(&v, "java-db");
    assert_eq!(
        (&java["present"], &java["skipped"], &java["stale"]),
        (&Value::Bool(false), &Value::Bool(true), &Value::Null)
    );
    // --max-db-age judges the databases only: the missing checks are not judged.
    assert_eq!(component(&v, "checks")["limit_seconds"], Value::Null);
}

/// `updated` plus `secs`, as the fixtures write NextUpdate.
fn rfc3339_from_now_like(updated: &str, secs: i64) -> String {
    let t = time::OffsetDateTime::parse(updated, &time::format_description::well_known::Rfc3339)
        .unwrap();
    (t + time::Duration::seconds(secs))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[test]
fn status_past_its_limit_exits_9_naming_each_stale_component_and_its_age() {
    let t = TestDir::new();
    let (bundle, public, updated) = db_bundle(&t, 10 * DAY);
    let cache = t.join("cache");
    import_ok(&bundle, &public, &cache, &[]);
    let out = airlock(&["status", "--cache-dir", s(&cache), "--max-db-age", "7d"]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        [
            format!(
                "airlock: stale: trivy-db is 10d 0h old (UpdatedAt {updated}), the limit is 7d 0h"
            ),
            "airlock: stale: java-db is missing (no java-db in the cache)".to_string(),
        ]
    );
    // --max-age judges every component; --max-db-age the databases instead.
    let out = airlock(&[
        "status",
        "--cache-dir",
        s(&cache),
        "--max-age",
        "1w",
        "--max-db-age",
        "36h",
        "--skip",
        "java-db",
    ]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        [
            format!(
                "airlock: stale: trivy-db is 10d 0h old (UpdatedAt {updated}), the limit is 1d 12h"
            ),
            "airlock: stale: checks is missing (no policy in the cache)".to_string(),
        ]
    );
    // Within a longer limit: fresh.
    let out = airlock(&[
        "status",
        "--cache-dir",
        s(&cache),
        "--max-db-age",
        "11d",
        "--skip",
        "java-db",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // --json: the report says it; stderr carries no stale line.
    let out = airlock(&[
        "status",
        "--cache-dir",
        s(&cache),
        "--max-db-age",
        "7d",
        "--skip",
        "java-db",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let v = json(&out);
    assert_eq!(v["freshness"]["fresh"], false);
    assert_eq!(
        component(&v, "trivy-db")["stale"],
        format!("trivy-db is 10d 0h old (UpdatedAt {updated}), the limit is 7d 0h")
    );
    assert_eq!(
        v.get("ok"),
        None,
        "one JSON document, not a failure object too"
    );
    // A duration that is not one is a usage error.
    let out = airlock(&["status", "--cache-dir", s(&cache), "--max-age", "7 days"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stderr_lines(&out), [
        "airlock: error: --max-age \"7 days\" is not a duration (a number and s, m, h, d or w: 7d, 36h)"
    ]);
}

#[test]
fn status_on_an_empty_cache_reports_every_component_missing() {
    let t = TestDir::new();
    let cache = t.join("empty");
    std::fs::create_dir_all(&cache).unwrap();
    let v: Value =
        serde_json::from_str(&airlock_ok(&["status", "--cache-dir", s(&cache), "--json"])).unwrap();
    assert_eq!(v["freshness"]["fresh"], true, "no limit, no verdict");
    for name in ["trivy-db", "java-db", "checks"] {
        let c = component(&v, name);
        assert_eq!(
            (&c["present"], &c["age"], &c["bundle"]),
            (&Value::Bool(false), &Value::Null, &Value::Null),
            "{name}"
        );
    }
    let out = airlock(&["status", "--cache-dir", s(&cache), "--max-age", "1d"]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        [
            "airlock: stale: trivy-db is missing (no db in the cache)",
            "airlock: stale: java-db is missing (no java-db in the cache)",
            "airlock: stale: checks is missing (no policy in the cache)",
        ]
    );
}

#[test]
fn status_reads_a_cache_the_real_trivy_wrote_and_says_what_it_cannot_know() {
    let t = TestDir::new();
    let reg = Registry::plain(&t.join("registry"));
    crate::registry_export::seed_fixtures(&t, &reg, "upstream");
    let cache = t.join("trivy-cache");
    let xdg = t.join("xdg");
    for (flag, what, repo) in [
        ("--db-repository", "--download-db-only", "trivy-db:2"),
        (
            "--java-db-repository",
            "--download-java-db-only",
            "trivy-java-db:1",
        ),
    ] {
        let r = format!("{}/upstream/{repo}", reg.host());
        let out = trivy(&cache, &xdg, &["image", what, flag, &r]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = airlock(&[
        "status",
        "--cache-dir",
        s(&cache),
        "--json",
        "--max-db-age",
        "7d",
    ]);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    let v = json(&out);
    let no_log = "the bundle it came from: no audit log (Trivy or another tool wrote this cache)";
    for (name, schema) in [("trivy-db", 2), ("java-db", 1)] {
        let c = component(&v, name);
        assert_eq!(c["present"], true, "{name}");
        assert_eq!(c["schema"], schema, "{name}");
        assert_eq!(c["updated_at"], UPDATED_AT, "{name}");
        assert_eq!(c["next_update"], NEXT_UPDATE, "{name}");
        // Trivy filled DownloadedAt when it downloaded.
        assert_ne!(c["downloaded_at"], "0001-01-01T00:00:00Z", "{name}");
        assert_eq!(c["bundle"], Value::Null, "{name}");
        assert_eq!(c["unknown"], serde_json::json!([no_log]), "{name}");
        let age = c["age"].as_str().unwrap();
        assert_eq!(
            c["stale"],
            format!("{name} is {age} old (UpdatedAt {UPDATED_AT}), the limit is 7d 0h")
        );
    }
    let out = airlock(&["status", "--cache-dir", s(&cache)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l == format!("               unknown: {no_log}")),
        "{text}"
    );
}

#[test]
fn trivys_default_cache_directory_is_honoured_by_import_and_status() {
    let t = TestDir::new();
    let (bundle, public, updated) = db_bundle(&t, 3600);
    let trivy_cache = t.join("from-trivy-cache-dir");
    let xdg = t.join("xdg-cache");
    let env = [
        ("TRIVY_CACHE_DIR", trivy_cache.as_path()),
        ("XDG_CACHE_HOME", xdg.as_path()),
    ];
    let out = airlock_env(&["import", s(&bundle), "--key", s(&public)], &env);
    assert!(out.status.success(), "{out:?}");
    assert!(trivy_cache.join("db/trivy.db").is_file());
    assert!(!xdg.exists(), "TRIVY_CACHE_DIR comes first");
    let out = airlock_env(&["status", "--json"], &env);
    let v = json(&out);
    assert_eq!(v["cache_dir"], s(&trivy_cache));
    assert_eq!(component(&v, "trivy-db")["updated_at"], updated.as_str());

    // Without TRIVY_CACHE_DIR: $XDG_CACHE_HOME/trivy.
    let env = [("XDG_CACHE_HOME", xdg.as_path())];
    let out = airlock_env(&["import", s(&bundle), "--key", s(&public)], &env);
    assert!(out.status.success(), "{out:?}");
    assert!(xdg.join("trivy/db/trivy.db").is_file());
    let v = json(&airlock_env(&["status", "--json"], &env));
    assert_eq!(v["cache_dir"], s(&xdg.join("trivy")));

    // AIRLOCK_CACHE_DIR (the flag's variable) before Trivy's.
    let mine = t.join("airlock-cache-dir");
    let env = [
        ("AIRLOCK_CACHE_DIR", mine.as_path()),
        ("TRIVY_CACHE_DIR", trivy_cache.as_path()),
    ];
    let out = airlock_env(&["import", s(&bundle), "--key", s(&public)], &env);
    assert!(out.status.success(), "{out:?}");
    assert!(mine.join("db/trivy.db").is_file());
}

#[test]
fn trivys_flag_names_export_from_a_local_registry() {
    let t = TestDir::new();
    let reg = Registry::plain(&t.join("registry"));
    let digests = crate::registry_export::seed_fixtures(&t, &reg, "upstream");
    let (key, public) = keygen(t.path(), "builder");
    let bundle = t.join("b.airlock");
    let r = |repo: &str| format!("{}/upstream/{repo}", reg.host());
    airlock_ok(&[
        "export",
        "-o",
        s(&bundle),
        "--sign-key",
        s(&key),
        "--db-repository",
        &r("trivy-db:2"),
        "--java-db-repository",
        &r("trivy-java-db:1"),
        "--checks-bundle-repository",
        &r("trivy-checks:2"),
    ]);
    let v: Value = serde_json::from_str(&airlock_ok(&[
        "inspect",
        s(&bundle),
        "--key",
        s(&public),
        "--json",
    ]))
    .unwrap();
    let arts = v["manifest"]["artifact"].as_array().unwrap();
    let got: Vec<(&str, &str)> = arts
        .iter()
        .map(|a| {
            (
                a["reference"].as_str().unwrap(),
                a["manifest_digest"].as_str().unwrap(),
            )
        })
        .collect();
    let (db, java, checks) = (r("trivy-db:2"), r("trivy-java-db:1"), r("trivy-checks:2"));
    assert_eq!(
        got,
        [
            (db.as_str(), digests[0].as_str()),
            (java.as_str(), digests[1].as_str()),
            (checks.as_str(), digests[2].as_str())
        ]
    );
}

#[test]
fn status_ages_the_checks_by_their_bundle_and_a_vex_repository_by_its_index() {
    let t = TestDir::new();
    let e = export_fixtures(&t);
    let cache = t.join("cache");
    let env = [("TRIVY_CACHE_DIR", cache.as_path())];
    let out = airlock_env(&["import", s(&e.bundle), "--key", s(&e.public)], &env);
    assert!(out.status.success(), "{out:?}");
    let v = json(&airlock_env(&["status", "--json"], &env));
    let names: Vec<&str> = v["freshness"]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["trivy-db", "java-db", "checks", "vex:default"]);
    let checks = component(&v, "checks");
    assert_eq!(
        (&checks["present"], &checks["schema"]),
        (&Value::Bool(true), &Value::from(2))
    );
    assert_eq!(
        (&checks["age_from"], &checks["age_since"]),
        (&Value::from("bundle created"), &Value::from(CREATED))
    );
    let vex = component(&v, "vex:default");
    assert_eq!(vex["path"], "vex/repositories/default");
    assert_eq!(
        (&vex["age_from"], &vex["updated_at"]),
        (&Value::from("index updated_at"), &Value::from(UPDATED_AT))
    );
    for c in v["freshness"]["components"].as_array().unwrap() {
        assert_eq!(c["bundle"]["created"], CREATED, "{c}");
        assert_eq!(c["unknown"], serde_json::json!([]), "{c}");
    }
    // `audit` without a flag checks the log of the same default cache.
    let out = airlock_env(&["audit"], &env);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with(&format!(
            "{}: 1 line, chain intact",
            s(&cache.join(AUDIT_LOG))
        )),
        "{said}"
    );
    // A VEX repository the last import installed that is gone is missing.
    std::fs::remove_dir_all(cache.join("vex/repositories/default")).unwrap();
    let out = airlock_env(&["status", "--max-age", "10000d"], &env);
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        ["airlock: stale: vex:default is missing (no vex/repositories/default in the cache)"]
    );
}
