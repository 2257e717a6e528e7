//! `airlock trivy-config`: Trivy's configuration file for a cache, the
//! settings the printed scan commands carry ([`airlock::layout::trivy_config`]).

use std::io::Write as _;
use std::path::Path;

use airlock::fsio::{AtomicFile, CommitError, Replace};
use airlock::layout::scan::Installed;
use airlock::layout::trivy_config::{for_cache, Repositories, TrivyConfigError, Which};

use super::args::TrivyConfigArgs;
use super::failure::{Context as _, Failure, Result};

pub(super) fn trivy_config(a: TrivyConfigArgs) -> Result<()> {
    let given = super::cache_dir::or_default(&a.cache_dir);
    let cache = std::path::absolute(&given)
        .with_context(|| format!("cannot resolve {}", super::show::path_line(&given)))?;
    let installed = Installed::read(&cache)
        .with_context(|| format!("cannot read the cache {}", super::show::path_line(&cache)))?;
    let repos = Repositories {
        db: a.db_repository,
        java_db: a.java_db_repository,
        checks: a.checks_bundle_repository,
    };
    let yaml = for_cache(&cache, &installed, &repos).map_err(refusal)?;
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

/// The library's refusal in the command line's words (its flags).
fn refusal(e: TrivyConfigError) -> Failure {
    let flag = |w: Which| match w {
        Which::Db => "--db-repository",
        Which::JavaDb => "--java-db-repository",
        Which::Checks => "--checks-bundle-repository",
    };
    match e {
        TrivyConfigError::Credentials { which, shown } => Failure::usage(format!(
            "{} {shown:?} carries credentials, which a trivy.yaml must not hold",
            flag(which)
        ))
        .with_hint("give the reference without them; Trivy takes registry credentials from TRIVY_USERNAME/TRIVY_PASSWORD or `trivy registry login`"),
        TrivyConfigError::Reference { which, reason } => {
            Failure::usage(format!("{}: {reason}", flag(which)))
        }
        TrivyConfigError::NoDb(cache) => Failure::usage(format!(
            "{cache} holds no vulnerability DB (db/trivy.db and db/metadata.json), and no --db-repository names an internal one: a scan with this trivy.yaml would download it from the Internet"
        ))
        .with_hint("import a bundle into that cache first, or give --db-repository REF (after import --push)"),
        e => Failure::usage(e.to_string()),
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
