//! A review of `airlock status` and its neighbours as an outsider would
//! attack them: a cache whose metadata claims to come from the future, an
//! audit log with a forged line, names and labels carrying control
//! characters, and `trivy-config` without `--cache-dir`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::fixtures::rfc3339_from_now;
use crate::support::*;

/// airlock with `args`, none of the variables that decide the cache
/// directory set except `env`.
fn run(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(airlock_bin());
    cmd.args(args).stdin(Stdio::null());
    for k in ["AIRLOCK_CACHE_DIR", "TRIVY_CACHE_DIR", "XDG_CACHE_HOME"] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run airlock")
}

/// A trivy-db directory in `cache` whose metadata says it was built at
/// `updated` (next update a day later).
fn db_at(cache: &Path, updated: &str, next: &str) {
    let dir = cache.join("db");
    std::fs::create_dir_all(&dir).unwrap();
    let meta = serde_json::json!({"Version": 2, "NextUpdate": next, "UpdatedAt": updated,
        "DownloadedAt": updated});
    write(&dir.join("metadata.json"), meta.to_string().as_bytes());
    write(&dir.join("trivy.db"), b"db");
}

/// An import record of `db` into `cache` with these labels, chained to
/// `prev`.
fn import_line(cache: &Path, prev: &str, sha: &str, labels: Value) -> String {
    let line = serde_json::json!({
        "time": rfc3339_from_now(-60), "decision": "accepted", "cache_dir": s(cache),
        "manifest_sha256": sha, "signers": [], "labels": labels,
        "installed": [{"component": "db", "path": s(&cache.join("db"))}], "prev": prev,
    });
    format!("{line}\n")
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn status_does_not_call_metadata_from_the_future_fresh() {
    let t = TestDir::new();
    let cache = t.join("cache");
    db_at(
        &cache,
        &rfc3339_from_now(30 * 86_400),
        &rfc3339_from_now(31 * 86_400),
    );
    let out = run(
        &[
            "status",
            "--cache-dir",
            s(&cache),
            "--max-age",
            "7d",
            "--skip",
            "java-db",
            "--skip",
            "checks",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("airlock: stale: trivy-db is of unknown age (its UpdatedAt ")
            && first.ends_with(" is in the future), the limit is 7d 0h"),
        "{err}"
    );
}

#[test]
fn status_does_not_present_provenance_from_a_broken_audit_chain_as_fact() {
    let t = TestDir::new();
    let cache = t.join("cache");
    db_at(&cache, &rfc3339_from_now(-86_400), &rfc3339_from_now(0));
    let good = import_line(&cache, GENESIS, "aaaa", serde_json::json!({}));
    // A forged line appended by hand: its prev is not the hash of the line
    // before it.
    let forged = import_line(
        &cache,
        GENESIS,
        "ffff",
        serde_json::json!({"ticket": "FORGED"}),
    );
    write(
        &cache.join("airlock-audit.jsonl"),
        format!("{good}{forged}").as_bytes(),
    );
    let out = run(&["status", "--json", "--cache-dir", s(&cache)], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let db = &v["freshness"]["components"][0];
    assert_eq!(db["name"], "trivy-db");
    assert_eq!(db["bundle"], Value::Null, "{db}");
    let unknown: Vec<&str> = db["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    let log = cache.join("airlock-audit.jsonl");
    let want = format!(
        "the bundle it came from: the audit log's hash chain breaks ({}: line 2: prev is {GENESIS:?}, but the line before hashes to {}); `airlock audit` shows where",
        log.display(),
        hex(good.as_bytes())
    );
    assert_eq!(unknown, [want.as_str()]);
    // The intact chain is believed.
    let chained = import_line(&cache, &hex(good.as_bytes()), "bbbb", serde_json::json!({}));
    write(&log, format!("{good}{chained}").as_bytes());
    let out = run(&["status", "--json", "--cache-dir", s(&cache)], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["freshness"]["components"][0]["bundle"]["manifest_sha256"],
        "bbbb"
    );
}

#[test]
fn status_prints_labels_and_repository_names_on_one_line_each() {
    let t = TestDir::new();
    let cache = t.join("cache");
    db_at(&cache, &rfc3339_from_now(-86_400), &rfc3339_from_now(0));
    let line = import_line(
        &cache,
        GENESIS,
        "aaaa",
        serde_json::json!({"t": "a\u{1b}[2J\nb"}),
    );
    write(&cache.join("airlock-audit.jsonl"), line.as_bytes());
    std::fs::create_dir_all(cache.join("vex/repositories/x\ny")).unwrap();
    let out = run(&["status", "--cache-dir", s(&cache)], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains(", labels t=a\\u{1b}[2J\\u{a}b\n"), "{text}");
    assert!(
        text.contains("  vex:x\\u{a}y    missing") || text.contains("  vex:x\\u{a}y "),
        "{text}"
    );
    assert!(
        !text.lines().any(|l| l == "b" || l.starts_with("y ")),
        "{text}"
    );
}

#[test]
fn trivy_config_defaults_its_cache_dir_as_trivy_does() {
    let t = TestDir::new();
    let cache = t.join("trivy-cache");
    // trivy-config refuses a cache without a DB (Trivy would go online).
    db_at(&cache, "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z");
    let out = run(&["trivy-config"], &[("TRIVY_CACHE_DIR", &cache)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains(&format!("dir: {}\n", cache.display())),
        "{yaml}"
    );
}

#[test]
fn usage_errors_print_no_credentials_and_no_control_characters() {
    let url = "https://user:s3cret@reg.example/x";
    for json in [false, true] {
        let mut args = vec!["verify", "--key", "k", "b.airlock", url];
        if json {
            args.push("--json");
        }
        let out = run(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: unexpected argument 'https://***@reg.example/x' found\n"),
            "{err}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("s3cret"),
            "{out:?}"
        );
        let out = run(&["status", "\u{1b}[2J\nairlock: forged\r"], &[]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(
                "error: unexpected argument '\\u{1b}[2J\\u{a}airlock: forged\\u{d}' found\n"
            ),
            "{err}"
        );
    }
    // Help is untouched: on stdout, exit 0.
    let out = run(&["status", "--help"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--max-age"));
}

#[test]
fn man_replaces_a_symbolic_link_in_its_directory_instead_of_writing_through_it() {
    let t = TestDir::new();
    let out = t.join("man");
    std::fs::create_dir_all(&out).unwrap();
    let victim = t.join("victim");
    write(&victim, b"keep me");
    std::os::unix::fs::symlink(&victim, out.join("airlock-status.1")).unwrap();
    let done = run(&["man", "--out", s(&out)], &[]);
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let page = out.join("airlock-status.1");
    assert!(std::fs::symlink_metadata(&page).unwrap().is_file());
    assert!(String::from_utf8(std::fs::read(&page).unwrap())
        .unwrap()
        .contains("max\\-age"));
    assert_no_leftovers(&out, ".airlock-man-");
}

#[test]
fn status_does_not_call_a_database_fresh_when_only_its_metadata_is_there() {
    let t = TestDir::new();
    let cache = t.join("cache");
    db_at(&cache, &rfc3339_from_now(-86_400), &rfc3339_from_now(0));
    std::fs::remove_file(cache.join("db/trivy.db")).unwrap();
    let out = run(
        &[
            "status",
            "--cache-dir",
            s(&cache),
            "--max-age",
            "7d",
            "--skip",
            "java-db",
            "--skip",
            "checks",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(9), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().next().unwrap_or_default(),
        "airlock: stale: trivy-db is missing (no db/trivy.db in the cache)",
        "{err}"
    );
}

#[test]
fn a_zero_limit_is_refused_for_what_it_is() {
    let out = run(&["status", "--max-db-age", "0d"], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "airlock: error: --max-db-age \"0d\" is no limit: it must be more than 0 (7d, 36h)\n"
    );
}

#[test]
fn an_empty_airlock_variable_counts_as_unset_as_trivy_does_with_its_own() {
    let t = TestDir::new();
    let cache = t.join("trivy-cache");
    // trivy-config refuses a cache without a DB (Trivy would go online).
    db_at(&cache, "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z");
    let empty = Path::new("");
    for args in [&["status", "--json"][..], &["trivy-config"][..]] {
        let out = run(
            args,
            &[("AIRLOCK_CACHE_DIR", empty), ("TRIVY_CACHE_DIR", &cache)],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(s(&cache)), "{text}");
    }
}
