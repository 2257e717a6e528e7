//! The exit code of each class of failure, through the real binary: one
//! representative failure per [`ExitClass`] (and the usage nuances README.md
//! documents), each asserting its exact exit code and the line of stderr
//! that says why. The codes come from the errors' `class()` (issue 18).

use std::collections::BTreeSet;
use std::path::Path;

use airlock::error::ExitClass;

use crate::support::*;

/// Exports the fixture checks bundle created at `when` into `out`.
fn export_checks(inputs: &Inputs, key: &Path, out: &Path, when: &str) {
    airlock_ok(&[
        "export",
        "-o",
        s(out),
        "--sign-key",
        s(key),
        "--checks",
        s(&inputs.checks),
        "--created",
        when,
    ]);
}

#[test]
fn each_class_of_failure_exits_with_its_documented_code() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, public) = keygen(t.path(), "builder");
    let (_, stranger) = keygen(t.path(), "stranger");
    let new = t.join("new.airlock");
    let old = t.join("old.airlock");
    export_checks(&inputs, &key, &new, "2026-02-01T00:00:00Z");
    // Another version of the checks: identical content made earlier would
    // be "already installed", not a downgrade (issue 15).
    write(&inputs.checks, &fixtures::checks_bundle_tar_gz_other());
    export_checks(&inputs, &key, &old, "2026-01-01T00:00:00Z");
    let cache = t.join("cache");
    import_ok(&new, &public, &cache, &[]);
    let not_a_bundle = t.join("not-a-bundle.airlock");
    write(&not_a_bundle, b"this is a text file, not a bundle\n");
    let bad_db = t.join("bad").join("db.tar.gz");
    write(&bad_db, b"this is a text file, not a gzip stream\n");
    let missing_key = t.join("missing.pub");
    let out = t.join("out.airlock");
    let overlap = t.join("overlap");
    let overlap_vex = overlap.join("vex");
    // Two bundles under one series and sequence, with other content (the
    // checks input is the other version now; then the first again).
    let (seq_a, seq_b) = (t.join("weekly-3a.airlock"), t.join("weekly-3b.airlock"));
    for bundle in [&seq_a, &seq_b] {
        airlock_ok(&[
            "export",
            "-o",
            s(bundle),
            "--sign-key",
            s(&key),
            "--checks",
            s(&inputs.checks),
            "--created",
            "2026-02-01T00:00:00Z",
            "--series",
            "weekly",
            "--sequence",
            "3",
        ]);
        write(&inputs.checks, &fixtures::checks_bundle_tar_gz());
    }
    let cache_eq = t.join("cache-eq");
    import_ok(&seq_a, &public, &cache_eq, &[]);
    let empty_cache = t.join("empty-cache");
    std::fs::create_dir_all(&empty_cache).unwrap();
    let bad_policy = t.join("policy.toml");
    write(&bad_policy, b"threshold = \"two\"\n");

    #[rustfmt::skip]
    let table: Vec<(ExitClass, Vec<&str>, &str)> = vec![
        (ExitClass::HostFailure,
         vec!["verify", s(&new), "--key", s(&missing_key)],
         "airlock: error: cannot read key file"),
        (ExitClass::Usage,
         vec!["export", "-o", s(&out), "--sign-key", s(&key), "--checks", s(&inputs.checks),
              "--created", "2999-01-01T00:00:00Z"],
         "airlock: error: --created 2999-01-01T00:00:00Z is in the future"),
        (ExitClass::Usage,
         vec!["import", s(&new), "--key", s(&public), "--cache-dir", s(&overlap),
              "--vex-dir", s(&overlap_vex)],
         "overlap; the static VEX repository must live outside the Trivy cache"),
        (ExitClass::Usage,
         vec!["split", s(&new), "--key", s(&public), "--sign-key", s(&key), "--split", "lots"],
         "airlock: error: --split \"lots\" is not a size"),
        (ExitClass::NotProven,
         vec!["verify", s(&new), "--key", s(&stranger)],
         "airlock: error: no signature by a trusted key"),
        (ExitClass::Damaged,
         vec!["verify", s(&not_a_bundle), "--key", s(&public)],
         "airlock: error: not an airlock bundle: the file does not start with a zstd frame"),
        (ExitClass::BadInput,
         vec!["export", "-o", s(&out), "--sign-key", s(&key), "--trivy-db", s(&bad_db),
              "--created", CREATED],
         "db.tar.gz is damaged"),
        (ExitClass::Downgrade,
         vec!["import", s(&old), "--key", s(&public), "--cache-dir", s(&cache)],
         "this would be a downgrade"),
        (ExitClass::Equivocation,
         vec!["import", s(&seq_b), "--key", s(&public), "--cache-dir", s(&cache_eq),
              "--allow-downgrade"],
         "airlock: error: refused: equivocation: series \"weekly\" sequence 3 was imported on this host as manifest sha256 "),
        (ExitClass::BadPolicy,
         vec!["verify", s(&new), "--trust", s(&bad_policy)],
         "policy.toml:1:13: invalid type: string \"two\", expected usize"),
        (ExitClass::Stale,
         vec!["status", "--cache-dir", s(&empty_cache), "--max-age", "7d"],
         "airlock: stale: trivy-db is missing (no db in the cache)"),
    ];

    let mut seen = BTreeSet::new();
    for (class, args, line) in &table {
        let stderr = airlock_fails(args, i32::from(class.code()));
        assert!(
            stderr.lines().any(|l| l.contains(line)),
            "airlock {args:?} ({class:?}): expected a line with {line:?} in stderr:\n{stderr}"
        );
        seen.insert(class.code());
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "the table covers every class"
    );
    assert!(!out.exists(), "a refused export left its output");
}

#[test]
fn a_failure_reported_as_json_carries_its_exit_code() {
    let t = TestDir::new();
    let inputs = write_inputs(t.path());
    let (key, _) = keygen(t.path(), "builder");
    let (_, stranger) = keygen(t.path(), "stranger");
    let bundle = t.join("b.airlock");
    export_checks(&inputs, &key, &bundle, CREATED);
    let out = airlock(&["verify", s(&bundle), "--key", s(&stranger), "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 3);
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no signature by a trusted key")),
        "{v}"
    );
}

/// A library error's whole text (message and sources) and its advice.
fn said<E>(e: E) -> (String, Option<airlock::error::Hint>)
where
    E: airlock::error::Classify + std::error::Error + 'static,
{
    (airlock::error::chain_text(&e), e.hint())
}

/// Library errors whose advice names a flag: the message names none, and
/// the advice comes apart, as a value the command line words.
#[test]
fn library_errors_name_no_flag_and_keep_their_advice_apart() {
    use airlock::error::{FlagHint, Hint};
    use airlock::export::ExportError;
    use airlock::install::ImportError;
    use airlock::registry::RegistryError;

    let flag = |f| Some(Hint::Flag(f));
    let table = [
        (said(ExportError::NoKey), None),
        (said(ExportError::NoSources), flag(FlagHint::NameSources)),
        (
            said(ExportError::Exists("out.airlock".into())),
            flag(FlagHint::ReplaceBundle),
        ),
        (
            said(ImportError::Overlap {
                vex_dir: "/c/vex".into(),
                cache_dir: "/c".into(),
            }),
            None,
        ),
        (
            said(ImportError::Downgrade {
                reasons: vec!["sequence 4 after 5".into()],
                never: false,
            }),
            flag(FlagHint::AllowDowngrade),
        ),
        (
            said(airlock::keys::KeyError::EncryptedSecretKey),
            flag(FlagHint::Passphrase),
        ),
        (
            said(RegistryError::PlainHttpCredentials {
                host: "reg:5000".into(),
                base: "http://reg:5000".into(),
            }),
            flag(FlagHint::PlainHttp {
                host: "reg:5000".into(),
                serves: "speaks only plain http",
            }),
        ),
        (
            said(RegistryError::Unauthorized {
                host: "reg".into(),
                how: "basic credentials",
                scope: "repository:x:pull".into(),
            }),
            flag(FlagHint::Credentials { host: "reg".into() }),
        ),
        (
            said(airlock::bundle::parts::parse_size("lots").unwrap_err()),
            None,
        ),
        (
            said(airlock::policy::TrustPolicy::any_of(Vec::new()).unwrap_err()),
            flag(FlagHint::TrustKeys),
        ),
    ];
    for ((text, hint), expected) in &table {
        assert!(
            !text.contains("hint:") && !text.contains("--"),
            "a library message with advice or a flag: {text}"
        );
        assert_eq!(hint, expected, "{text}");
    }
}
