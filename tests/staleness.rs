//! Issue 15, item 5: a stale database is warned about by every command
//! without a policy (export, verify, inspect, import, status), and
//! `inspect --trust` and `verify` judge a policy's age limits alike.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::fixtures::*;
use crate::support::*;

const DAY: i64 = 86_400;

/// A key pair and db-only bundles whose times are relative to now.
struct Setup {
    t: TestDir,
    key: PathBuf,
    public: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let t = TestDir::new();
        let (key, public) = keygen(t.path(), "builder");
        Setup { t, key, public }
    }

    /// A bundle `name` created `created_ago` seconds ago, carrying a
    /// trivy-db updated `updated_ago` seconds ago, its NextUpdate a day
    /// after; returns it and the two times.
    fn bundle(&self, name: &str, created_ago: i64, updated_ago: i64) -> (PathBuf, String, String) {
        // Five minutes more, so that the ages print as whole days.
        let updated = rfc3339_from_now(-updated_ago - 300);
        let next = rfc3339_from_now(-updated_ago - 300 + DAY);
        let input = self.t.join(&format!("{name}.tar.gz"));
        write(&input, &trivy_db_tar_gz(2, &updated, &next));
        let bundle = self.t.join(&format!("{name}.airlock"));
        let created = rfc3339_from_now(-created_ago);
        let out = airlock(&[
            "export",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&self.key),
            "--trivy-db",
            s(&input),
            "--created",
            &created,
        ]);
        assert!(out.status.success(), "{out:?}");
        (bundle, updated, next)
    }

    /// A trust policy trusting the builder, with `limits` lines.
    fn policy(&self, name: &str, limits: &str) -> PathBuf {
        let p = self.t.join(name);
        let text = format!(
            "threshold = 1\n{limits}\n[[key]]\nname = \"builder\"\nrole = \"builder\"\nfile = {:?}\n",
            s(&self.public)
        );
        write(&p, text.as_bytes());
        p
    }
}

fn warnings(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("airlock: warning: "))
        .map(str::to_string)
        .collect()
}

fn ok(out: std::process::Output) -> std::process::Output {
    assert!(out.status.success(), "{out:?}");
    out
}

#[test]
fn a_stale_database_is_warned_about_by_every_command_without_a_policy() {
    let st = Setup::new();
    let (bundle, updated, next) = st.bundle("old", 0, 10 * DAY);
    let line = format!(
        "airlock: warning: the trivy-db is 10d 0h old (UpdatedAt {updated}) and its NextUpdate {next} passed 9d 0h ago"
    );
    let text = line.trim_start_matches("airlock: warning: ").to_string();
    // Each command says it on stderr, or with --json in its report only
    // (stderr then carries JSON progress events).
    let said = |args: &[&str], field: &str| {
        let out = ok(airlock(args));
        assert_eq!(warnings(&out), std::slice::from_ref(&line), "{args:?}");
        let json = ok(airlock(&[args, &["--json"]].concat()));
        assert_eq!(warnings(&json), Vec::<String>::new(), "{args:?} --json");
        let v: Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(v[field], serde_json::json!([text]), "{args:?} --json");
        v
    };
    let input = st.t.join("old.tar.gz");
    let (again, again_json) = (st.t.join("again.airlock"), st.t.join("again-json.airlock"));
    let export = ok(airlock(&[
        "export",
        "-o",
        s(&again),
        "--sign-key",
        s(&st.key),
        "--trivy-db",
        s(&input),
    ]));
    assert_eq!(warnings(&export), std::slice::from_ref(&line));
    let export = ok(airlock(&[
        "export",
        "-o",
        s(&again_json),
        "--sign-key",
        s(&st.key),
        "--trivy-db",
        s(&input),
        "--json",
    ]));
    let v: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(v["warnings"], serde_json::json!([text]));

    said(&["verify", s(&bundle), "--key", s(&st.public)], "warnings");
    let quiet = ok(airlock(&[
        "verify",
        s(&bundle),
        "--key",
        s(&st.public),
        "--quiet",
    ]));
    assert!(quiet.stderr.is_empty(), "--quiet: {quiet:?}");
    said(&["inspect", s(&bundle)], "warnings");

    let (cache, other) = (st.t.join("cache"), st.t.join("other"));
    let out = ok(airlock(&[
        "import",
        s(&bundle),
        "--key",
        s(&st.public),
        "--cache-dir",
        s(&other),
    ]));
    assert_eq!(warnings(&out), std::slice::from_ref(&line));
    let import = ok(airlock(&[
        "import",
        s(&bundle),
        "--key",
        s(&st.public),
        "--cache-dir",
        s(&cache),
        "--json",
    ]));
    let v: Value = serde_json::from_slice(&import.stdout).unwrap();
    assert_eq!(v["stale"], serde_json::json!([text]));
    // A stale database is no failure of the import: nothing else is said.
    assert!(v.get("warnings").is_none(), "{v}");

    said(&["status", "--cache-dir", s(&cache)], "warnings");

    // A fresh database: not a word.
    let (fresh, _, _) = st.bundle("fresh", 0, 3600);
    let out = ok(airlock(&["verify", s(&fresh), "--key", s(&st.public)]));
    assert_eq!(warnings(&out), Vec::<String>::new());
    let out = ok(airlock(&["inspect", s(&fresh)]));
    assert_eq!(warnings(&out), Vec::<String>::new());
}

#[test]
fn a_next_update_long_passed_is_warned_about_alone() {
    let st = Setup::new();
    // Three days old: within the week, but its NextUpdate passed 2 days ago.
    let (bundle, updated, next) = st.bundle("late", 0, 3 * DAY);
    let out = ok(airlock(&["inspect", s(&bundle)]));
    assert_eq!(
        warnings(&out),
        [format!(
            "airlock: warning: the trivy-db's NextUpdate {next} passed 2d 0h ago (UpdatedAt {updated})"
        )]
    );
}

/// `verify --trust P` and `inspect --trust P`: whether each accepts the
/// bundle, and the reason verify gives when it refuses.
fn verdicts(bundle: &Path, policy: &Path) -> (bool, bool, Option<String>, Option<String>) {
    let verify = airlock(&["verify", s(bundle), "--trust", s(policy)]);
    let inspect = airlock(&["inspect", s(bundle), "--trust", s(policy), "--json"]);
    assert!(inspect.status.success(), "{inspect:?}");
    let v: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let refused = String::from_utf8_lossy(&verify.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("airlock: error: refused by the trust policy: "))
        .map(str::to_string);
    if !verify.status.success() {
        assert_eq!(verify.status.code(), Some(6), "{verify:?}");
    }
    (
        verify.status.success(),
        v["policy_satisfied"].as_bool().unwrap(),
        refused,
        v["policy_unmet"].as_str().map(str::to_string),
    )
}

#[test]
fn inspect_and_verify_judge_every_age_limit_of_a_policy_alike() {
    let st = Setup::new();
    let (fresh, _, _) = st.bundle("fresh", 3600, 3600);
    let (old_bundle, _, _) = st.bundle("old-bundle", 40 * DAY, 3600 + 40 * DAY);
    let (old_db, _, _) = st.bundle("old-db", 3600, 20 * DAY);
    let none = st.policy("none.toml", "");
    let max_age = st.policy("max-age.toml", "max_age = \"30d\"");
    let max_db_age = st.policy("max-db-age.toml", "max_db_age = \"14d\"");
    let both = st.policy("both.toml", "max_age = \"30d\"\nmax_db_age = \"14d\"");
    #[rustfmt::skip]
    let table = [
        (&fresh, &none, true), (&fresh, &max_age, true), (&fresh, &max_db_age, true), (&fresh, &both, true),
        (&old_bundle, &none, true), (&old_bundle, &max_age, false), (&old_bundle, &max_db_age, false),
        (&old_bundle, &both, false),
        (&old_db, &none, true), (&old_db, &max_age, true), (&old_db, &max_db_age, false), (&old_db, &both, false),
    ];
    for (bundle, policy, want) in table {
        let (verified, satisfied, refused, unmet) = verdicts(bundle, policy);
        let row = format!("{} under {}", bundle.display(), policy.display());
        assert_eq!(
            (verified, satisfied),
            (want, want),
            "{row}: verify and inspect"
        );
        // The same reason, word for word.
        assert_eq!(refused, unmet, "{row}: the reasons");
        if !want {
            let why = unmet.unwrap();
            assert!(why.contains("the policy's max_"), "{row}: {why}");
        }
    }
    // Inspect says it in words too.
    let out = ok(airlock(&["inspect", s(&old_db), "--trust", s(&max_db_age)]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with(
            "policy:   NOT satisfied: the trivy-db in this bundle is 20d 0h old (UpdatedAt "
        ) && l.ends_with("), the policy's max_db_age is 14d 0h")),
        "{text}"
    );
}
