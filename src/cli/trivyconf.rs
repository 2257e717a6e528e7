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
    let cache = std::path::absolute(&a.cache_dir)
        .with_context(|| format!("cannot resolve {}", a.cache_dir.display()))?;
    let Some(cache_text) = cache.to_str() else {
        return Err(Failure::usage(format!(
            "the cache directory {} is not UTF-8, which a trivy.yaml cannot name",
            airlock::text::escape(&cache.to_string_lossy())
        )));
    };
    let installed = Installed::read(&cache)
        .with_context(|| format!("cannot read the cache {}", cache.display()))?;
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
            let shown = airlock::text::escape(&out.to_string_lossy()).into_owned();
            println!("wrote {shown} (Trivy reads it with --config FILE)");
            Ok(())
        }
    }
}

/// Writes `path`, which must not exist, whole or not at all.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path, ".airlock-trivy-yaml-", ".partial", 0o644)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    match f.commit(Replace::Never) {
        Ok(()) => Ok(()),
        Err(CommitError::Exists(_)) => Err(Failure::usage(format!(
            "{} exists; airlock writes a new file only",
            airlock::text::escape(&path.to_string_lossy())
        ))),
        Err(e) => Err(e.into_io()).with_context(|| format!("cannot write {}", path.display())),
    }
}
