//! Trivy's own configuration file (`trivy --config FILE`; `trivy.yaml` in
//! the working folder by default) carrying what the printed scan commands
//! carry ([`crate::layout::scan`]), so that a fleet copies one file instead
//! of a command line (issue 14).
//!
//! The keys are Trivy's (`pkg/flag`, each flag's `ConfigName`, and what
//! `trivy --generate-default-config` writes in 0.76): `cache.dir`,
//! `db.skip-update`, `db.java-skip-update`, `db.repository`,
//! `db.java-repository`, `misconfiguration.checks-bundle-repository`,
//! `rego.skip-check-update`, `scan.offline`, `scan.skip-version-check`,
//! `scan.disable-telemetry`, `scan.skip-files`, `vulnerability.vex`,
//! `vulnerability.skip-vex-repo-update`. Trivy reads the file for every
//! subcommand and ignores the keys a subcommand has no flag for, so one
//! file serves `rootfs`, `fs`, `image` and `config`.
//!
//! Every flag was seen to be needed with Trivy 0.76 in a network namespace
//! with no route, once the cache's own dates say "refresh": without
//! `db.skip-update`, `db.java-skip-update` or `vulnerability.skip-vex-repo-update`
//! the scan is FATAL; without `rego.skip-check-update` a `config` scan
//! silently falls back to Trivy's embedded checks; without
//! `scan.skip-version-check` or `scan.disable-telemetry` Trivy tries DNS.

use std::path::Path;

use crate::error::{Classify, ExitClass, Hint};
use crate::layout::scan::{Installed, JAR_FILES};

/// Internal registry repositories Trivy should update from (after
/// `import --push`), each a full reference (`host/path:tag`). A component
/// with a repository gets no skip flag: Trivy refreshes it from there when
/// the cache's copy is due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repositories {
    /// `db.repository` (`--db-repository`), in order of priority.
    pub db: Vec<String>,
    /// `db.java-repository` (`--java-db-repository`), in order of priority.
    pub java_db: Vec<String>,
    /// `misconfiguration.checks-bundle-repository` (one).
    pub checks: Option<String>,
}

/// Which of [`Repositories`] a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `db.repository`.
    Db,
    /// `db.java-repository`.
    JavaDb,
    /// `misconfiguration.checks-bundle-repository`.
    Checks,
}

/// Why no trivy.yaml is written for a cache: each is the caller's to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrivyConfigError {
    /// The cache's path is not UTF-8, which YAML cannot name.
    #[error("the cache directory {0} is not UTF-8, which a trivy.yaml cannot name")]
    NotUtf8(String),
    /// A repository carries credentials: the file would take them to every
    /// host it is copied to. `shown` has them redacted.
    #[error("repository {shown:?} carries credentials, which a trivy.yaml must not hold")]
    Credentials {
        /// Which repository.
        which: Which,
        /// The reference, credentials redacted.
        shown: String,
    },
    /// A repository Trivy could not pull from: not a reference.
    #[error("{reason}")]
    Reference {
        /// Which repository.
        which: Which,
        /// Why the grammar refuses it.
        reason: String,
    },
    /// Neither a vulnerability DB in the cache nor a repository to update
    /// it from: Trivy would download it from the Internet at the first
    /// scan, and no file airlock writes says "offline" and means that.
    #[error("{0} holds no vulnerability DB (db/trivy.db and db/metadata.json): a scan with this trivy.yaml would download it from the Internet")]
    NoDb(String),
}

impl Classify for TrivyConfigError {
    fn class(&self) -> ExitClass {
        match self {
            TrivyConfigError::NotUtf8(_)
            | TrivyConfigError::Credentials { .. }
            | TrivyConfigError::Reference { .. }
            | TrivyConfigError::NoDb(_) => ExitClass::Usage,
        }
    }

    fn hint(&self) -> Option<Hint> {
        None
    }
}

/// The trivy.yaml for the cache at `cache_dir` (absolute) holding
/// `installed`, after the rules: every repository a reference without
/// credentials, and a vulnerability DB in the cache or a repository for
/// it. (`trivy_yaml` writes the file's text.)
///
/// # Errors
/// [`TrivyConfigError`], the first rule broken.
pub fn for_cache(
    cache_dir: &Path,
    installed: &Installed,
    repos: &Repositories,
) -> Result<String, TrivyConfigError> {
    let Some(cache_text) = cache_dir.to_str() else {
        return Err(TrivyConfigError::NotUtf8(crate::text::path(cache_dir)));
    };
    let all = (repos.db.iter().map(|r| (Which::Db, r)))
        .chain(repos.java_db.iter().map(|r| (Which::JavaDb, r)))
        .chain(repos.checks.iter().map(|r| (Which::Checks, r)));
    for (which, r) in all {
        check_reference(which, r)?;
    }
    if !installed.db && repos.db.is_empty() {
        return Err(TrivyConfigError::NoDb(
            crate::text::escape(cache_text).into(),
        ));
    }
    Ok(trivy_yaml(cache_text, installed, repos))
}

/// `r` must be a registry reference Trivy can pull from, without
/// credentials; the refusal never quotes them.
fn check_reference(which: Which, r: &str) -> Result<(), TrivyConfigError> {
    let shown = crate::redact::url(r);
    if matches!(shown, std::borrow::Cow::Owned(_)) {
        return Err(TrivyConfigError::Credentials {
            which,
            shown: shown.into_owned(),
        });
    }
    crate::docker_ref::parse(r)
        .map(|_| ())
        .map_err(|e| TrivyConfigError::Reference {
            which,
            reason: e.to_string(),
        })
}

/// The trivy.yaml for a cache at `cache_dir` (absolute) holding
/// `installed`, with Trivy pointed at `repos` where given.
pub fn trivy_yaml(cache_dir: &str, installed: &Installed, repos: &Repositories) -> String {
    let q = yaml_str;
    let mut y = String::new();
    y.push_str("# Trivy configuration written by airlock: `trivy --config FILE rootfs|fs|image|config ...`\n");
    y.push_str(&format!("cache:\n  dir: {}\n", q(cache_dir)));
    let mut db = String::new();
    if !repos.db.is_empty() {
        db.push_str(&list("repository", &repos.db));
    } else if installed.db {
        db.push_str("  skip-update: true\n");
    }
    if !repos.java_db.is_empty() {
        db.push_str(&list("java-repository", &repos.java_db));
    } else if installed.java_db {
        db.push_str("  java-skip-update: true\n");
    }
    if !db.is_empty() {
        y.push_str("db:\n");
        y.push_str(&db);
    }
    match &repos.checks {
        Some(r) => y.push_str(&format!(
            "misconfiguration:\n  checks-bundle-repository: {}\n",
            q(r)
        )),
        None if installed.checks => y.push_str("rego:\n  skip-check-update: true\n"),
        None => {}
    }
    y.push_str("scan:\n  offline: true\n  skip-version-check: true\n  disable-telemetry: true\n");
    if !installed.java_db && repos.java_db.is_empty() {
        // As the printed commands: without a Java DB Trivy downloads one
        // at the first jar (FATAL offline), so the jars are left out.
        let jars: Vec<String> = JAR_FILES.iter().map(|s| s.to_string()).collect();
        y.push_str(&list("skip-files", &jars));
    }
    if !installed.vex.is_empty() {
        y.push_str("vulnerability:\n  vex:\n    - repo\n  skip-vex-repo-update: true\n");
    }
    y
}

/// `  key:` and one `    - item` line per item.
fn list(key: &str, items: &[String]) -> String {
    let mut s = format!("  {key}:\n");
    for i in items {
        s.push_str(&format!("    - {}\n", yaml_str(i)));
    }
    s
}

/// `s` as one line of YAML that reads back as exactly the string `s`:
/// bare when no YAML reader can take it for anything else (a path or a
/// reference of plain characters that holds a `/`, or a word that starts
/// with a letter and is none of YAML's booleans and nulls in any case),
/// else double-quoted, with `"`, `\` and every character
/// [`crate::text::is_unsafe`] refuses written as a YAML escape. Go's YAML
/// (Trivy's) reads a bare `0x10` as 16, `1_0` as 10, `2001-12-14` as a
/// date and `True` as `true`, and folds a raw NEL (U+0085) or line
/// separator inside quotes into a space: none of these is written raw.
pub fn yaml_str(s: &str) -> String {
    if is_plain(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if crate::text::is_unsafe(c) => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `s` reads back from YAML, bare, as the string `s`.
fn is_plain(s: &str) -> bool {
    const RESERVED: [&str; 14] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "inf", "nan", "infinity",
        "+inf", "-inf",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    let chars_ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:@+%_".contains(c));
    let start_ok = first == '/' || first.is_ascii_alphanumeric();
    // A `/` is in no number, date, boolean or null; without one, only a
    // word that starts with a letter and is not reserved.
    let not_scalar = s.contains('/')
        || (first.is_ascii_alphabetic() && !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)));
    chars_ok && start_ok && not_scalar && !s.ends_with(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_refuse_credentials_bad_references_and_a_cache_without_a_db() {
        let none = Installed::default();
        let with_db = Installed {
            db: true,
            ..Installed::default()
        };
        let cache = Path::new("/var/cache/trivy");
        let repos = |db: &[&str], checks: Option<&str>| Repositories {
            db: db.iter().map(|s| s.to_string()).collect(),
            java_db: Vec::new(),
            checks: checks.map(str::to_string),
        };
        match for_cache(cache, &none, &repos(&[], None)) {
            Err(TrivyConfigError::NoDb(c)) => assert_eq!(c, "/var/cache/trivy"),
            other => panic!("{other:?}"),
        }
        match for_cache(
            cache,
            &with_db,
            &repos(&[], Some("u:secret@reg.internal/checks:2")),
        ) {
            Err(TrivyConfigError::Credentials { which, shown }) => {
                assert_eq!(which, Which::Checks);
                assert!(!shown.contains("secret"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
        match for_cache(cache, &none, &repos(&["reg.internal/../db:2"], None)) {
            Err(
                e @ TrivyConfigError::Reference {
                    which: Which::Db, ..
                },
            ) => {
                assert_eq!(e.class(), ExitClass::Usage);
            }
            other => panic!("{other:?}"),
        }
        // A repository stands in for the missing DB.
        let yaml = for_cache(cache, &none, &repos(&["reg.internal/trivy-db:2"], None)).unwrap();
        assert!(yaml.contains("db:\n  repository:\n"), "{yaml}");
        use std::os::unix::ffi::OsStrExt as _;
        let odd = Path::new(std::ffi::OsStr::from_bytes(b"/var/\xff"));
        assert!(matches!(
            for_cache(odd, &with_db, &Repositories::default()),
            Err(TrivyConfigError::NotUtf8(_))
        ));
    }

    #[test]
    fn a_full_cache_gets_every_skip_and_vex() {
        let all = Installed {
            db: true,
            java_db: true,
            checks: true,
            vex: vec!["default".into()],
        };
        assert_eq!(
            trivy_yaml("/var/cache/trivy", &all, &Repositories::default()),
            "# Trivy configuration written by airlock: `trivy --config FILE rootfs|fs|image|config ...`\n\
             cache:\n  dir: /var/cache/trivy\n\
             db:\n  skip-update: true\n  java-skip-update: true\n\
             rego:\n  skip-check-update: true\n\
             scan:\n  offline: true\n  skip-version-check: true\n  disable-telemetry: true\n\
             vulnerability:\n  vex:\n    - repo\n  skip-vex-repo-update: true\n"
        );
    }

    #[test]
    fn repositories_replace_the_skip_flags_and_a_missing_java_db_skips_jars() {
        let db_only = Installed {
            db: true,
            ..Installed::default()
        };
        let repos = Repositories {
            db: vec!["registry.internal:5000/aquasec/trivy-db:2".into()],
            java_db: vec![],
            checks: Some("registry.internal:5000/aquasec/trivy-checks:2".into()),
        };
        assert_eq!(
            trivy_yaml("/c d/#x", &db_only, &repos),
            "# Trivy configuration written by airlock: `trivy --config FILE rootfs|fs|image|config ...`\n\
             cache:\n  dir: \"/c d/#x\"\n\
             db:\n  repository:\n    - registry.internal:5000/aquasec/trivy-db:2\n\
             misconfiguration:\n  checks-bundle-repository: registry.internal:5000/aquasec/trivy-checks:2\n\
             scan:\n  offline: true\n  skip-version-check: true\n  disable-telemetry: true\n  skip-files:\n    - \"**/*.jar\"\n    - \"**/*.war\"\n    - \"**/*.ear\"\n    - \"**/*.par\"\n"
        );
    }

    #[test]
    fn scalars_that_yaml_would_read_otherwise_are_quoted() {
        assert_eq!(yaml_str("/var/cache/trivy"), "/var/cache/trivy");
        assert_eq!(yaml_str("true"), "\"true\"");
        assert_eq!(yaml_str("1.5"), "\"1.5\"");
        assert_eq!(yaml_str("/a\nb"), "\"/a\\nb\"");
        assert_eq!(yaml_str("/a: b"), "\"/a: b\"");
        assert_eq!(yaml_str(""), "\"\"");
        assert_eq!(yaml_str("-x"), "\"-x\"");
    }

    #[test]
    fn what_go_yaml_would_retype_or_fold_is_quoted_and_escaped() {
        for (raw, written) in [
            ("0x10", "\"0x10\""),
            ("1_0", "\"1_0\""),
            ("2001-12-14", "\"2001-12-14\""),
            ("True", "\"True\""),
            ("NULL", "\"NULL\""),
            ("[::1]:5000", "\"[::1]:5000\""),
            (
                "10.0.0.1:5000/aquasec/trivy-db:2",
                "10.0.0.1:5000/aquasec/trivy-db:2",
            ),
            ("default", "default"),
            ("file:///a%20b/default", "file:///a%20b/default"),
            ("/a\u{85}b", "\"/a\\u0085b\""),
            ("/a\u{2028}b\u{feff}", "\"/a\\u2028b\\ufeff\""),
            ("/a\u{7f}\t\"\\", "\"/a\\u007f\\t\\\"\\\\\""),
            ("/a\u{e0041}", "\"/a\\U000e0041\""),
            ("/é", "\"/é\""),
        ] {
            assert_eq!(yaml_str(raw), written, "{raw:?}");
        }
    }

    #[test]
    fn repository_yaml_names_and_urls_are_scalars() {
        let y = crate::layout::trivy_cache::repository_yaml(&[
            ("null".into(), Some("http://h/a: b #c".into())),
            ("-".into(), None),
        ]);
        assert!(y.starts_with(
            "repositories:\n  - name: \"null\"\n    url: \"http://h/a: b #c\"\n    enabled: true\n"
        ), "{y}");
        assert!(y.contains("  - name: \"-\"\n    # no url"), "{y}");
    }
}
