//! A temporary directory with a builder's key pair that exports db-only
//! bundles and imports them (the history tests: rollback, already installed,
//! equivocation, repairs).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::fixtures::trivy_db_tar_gz;
use super::{airlock, airlock_ok, keygen, s, write, TestDir};

/// A temporary directory with a key pair, for db-only bundles.
pub struct Builder {
    pub t: TestDir,
    pub key: PathBuf,
    pub public: PathBuf,
}

impl Builder {
    pub fn new() -> Self {
        let t = TestDir::new();
        let (key, public) = keygen(t.path(), "builder");
        Builder { t, key, public }
    }

    /// Exports a trivy-db with `updated_at` (NextUpdate a day later) into
    /// `name`, created `created`, with more flags (`--series`, `--sequence`).
    pub fn db_bundle(
        &self,
        name: &str,
        updated_at: &str,
        created: &str,
        extra: &[&str],
    ) -> PathBuf {
        let input = self.t.join(&format!("{name}.tar.gz"));
        write(
            &input,
            &trivy_db_tar_gz(2, updated_at, &a_day_after(updated_at)),
        );
        let bundle = self.t.join(&format!("{name}.airlock"));
        let mut args = vec![
            "export",
            "-o",
            s(&bundle),
            "--sign-key",
            s(&self.key),
            "--trivy-db",
            s(&input),
            "--created",
            created,
        ];
        args.extend_from_slice(extra);
        airlock_ok(&args);
        bundle
    }

    /// Imports `bundle` into `cache` with more flags; the output, whatever it is.
    pub fn import(&self, bundle: &Path, cache: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "import",
            s(bundle),
            "--key",
            s(&self.public),
            "--cache-dir",
            s(cache),
        ];
        args.extend_from_slice(extra);
        airlock(&args)
    }

    /// Imports `bundle` (which must succeed) and returns its `--json` report.
    pub fn import_json(&self, bundle: &Path, cache: &Path) -> Value {
        let out = self.import(bundle, cache, &["--json"]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).expect("a JSON report")
    }
}

/// `t` (RFC 3339) plus a day: a database's NextUpdate.
pub fn a_day_after(t: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(t, &Rfc3339).unwrap() + time::Duration::days(1);
    t.format(&Rfc3339).unwrap()
}
