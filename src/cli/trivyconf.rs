//! `airlock trivy-config`: Trivy's configuration file for a cache, the
//! settings the printed scan commands carry ([`airlock::layout::trivy_config`]).

use std::io::Write as _;
use std::path::Path;

use airlock::fsio::{AtomicFile, CommitError, Replace};
use airlock::layout::scan::Installed;
use airlock::layout::trivy_config::{trivy_yaml, Repositories};

use super::args::TrivyConfigArgs;
use super::failure::{Context as _, Failure, Result};

pub(super) fn trivy_config(a: TrivyConfigArgs) -> Result<()> {
    let given = super::cache_dir::or_default(&a.cache_dir);
    let cache = std::path::absolute(&given)
        .with_context(|| format!("cannot resolve {}", super::show::path_line(&given)))?;
    let Some(cache_text) = cache.to_str() else {
        return Err(Failure::usage(format!(
            "the cache directory {} is not UTF-8, which a trivy.yaml cannot name",
            super::show::path_line(&cache)
        )));
    };
    let installed = Installed::read(&cache)
        .with_context(|| format!("cannot read the cache {}", super::show::path_line(&cache)))?;
    for (flag, r) in a
        .db_repository
        .iter()
        .map(|r| ("--db-repository", r))
        .chain(
            a.java_db_repository
                .iter()
                .map(|r| ("--java-db-repository", r)),
        )
        .chain(
            a.checks_bundle_repository
                .iter()
                .map(|r| ("--checks-bundle-repository", r)),
        )
    {
        check_reference(flag, r)?;
    }
    if !installed.db && a.db_repository.is_empty() {
        // Without either, Trivy downloads the DB from the Internet at the
        // first scan: no file airlock writes says "offline" and means that.
        return Err(Failure::usage(format!(
            "{} holds no vulnerability DB (db/trivy.db and db/metadata.json), and no --db-repository names an internal one: a scan with this trivy.yaml would download it from the Internet",
            airlock::text::escape(cache_text)
        ))
        .with_hint("import a bundle into that cache first, or give --db-repository REF (after import --push)"));
    }
    let repos = Repositories {
        db: a.db_repository,
        java_db: a.java_db_repository,
        checks: a.checks_bundle_repository,
    };
    let yaml = trivy_yaml(cache_text, &installed, &repos);
    match &a.out {
        None => {
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
            Ok(())
        }
        Some(out) => {
            write_new(out, yaml.as_bytes())?;
            let shown = super::show::path_line(out);
            println!("wrote {shown} (Trivy reads it with --config FILE)");
            Ok(())
        }
    }
}

/// `r` must be a registry reference Trivy can pull from, without
/// credentials: the file would carry them to every host it is copied to,
/// and the message that refuses one never quotes it.
fn check_reference(flag: &str, r: &str) -> Result<()> {
    let shown = airlock::redact::url(r);
    if matches!(shown, std::borrow::Cow::Owned(_)) {
        return Err(Failure::usage(format!(
            "{flag} {shown:?} carries credentials, which a trivy.yaml must not hold"
        ))
        .with_hint("give the reference without them; Trivy takes registry credentials from TRIVY_USERNAME/TRIVY_PASSWORD or `trivy registry login`"));
    }
    match airlock::source::docker_ref::parse(r) {
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::usage(format!("{flag}: {e}"))),
    }
}

/// Writes `path`, which must not exist, whole or not at all.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path, ".airlock-trivy-yaml-", ".partial", 0o644)
        .with_context(|| format!("cannot create {}", super::show::path_line(path)))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", super::show::path_line(path)))?;
    match f.commit(Replace::Never) {
        Ok(()) => Ok(()),
        Err(CommitError::Exists(_)) => Err(Failure::usage(format!(
            "{} exists; airlock writes a new file only",
            super::show::path_line(path)
        ))),
        Err(e) => Err(e.into_io())
            .with_context(|| format!("cannot write {}", super::show::path_line(path))),
    }
}
