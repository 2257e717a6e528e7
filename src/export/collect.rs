//! Export's first step: every source into a prepared artifact (read from
//! the user's files, pulled from registries, or rebuilt under the work
//! folder), with the registry references tried and skipped on the way.

use std::path::Path;

use super::{io, ExportError, ExportPlan, SourceSpec};
use crate::manifest::ArtifactKind;
use crate::progress::Progress;
use crate::source::{self, pull::Skipped, Prepared};
use crate::timestamp::format_time;

/// Every source of `plan`, prepared in `work`, with the registry references
/// tried and skipped on the way.
pub(super) fn collect(
    plan: &ExportPlan,
    work: &Path,
    progress: &dyn Progress,
) -> Result<(Vec<Prepared>, Vec<Skipped>), ExportError> {
    let mut prepared = Vec::new();
    let mut skipped = Vec::new();
    for spec in &plan.sources {
        match spec {
            SourceSpec::Layer {
                kind,
                path,
                checks_version,
            } => {
                let checks = match kind {
                    ArtifactKind::Checks => {
                        Some(source::files::checks_info(checks_version.as_deref())?)
                    }
                    _ => None,
                };
                prepared.push(source::files::layer_file(*kind, path, checks)?);
            }
            SourceSpec::Vex {
                name,
                manifest,
                archive,
            } => prepared.push(source::files::vex_files(name, manifest, archive)?),
            SourceSpec::Registry { kind, references } => {
                let now = format_time(time::OffsetDateTime::now_utc());
                let (p, s) =
                    source::pull::pull(*kind, references, work, &plan.network, &now, progress)?;
                skipped.extend(s);
                prepared.push(p);
            }
            SourceSpec::VexUrl { name, url } => {
                prepared.push(source::vexhub::fetch(name, url, work, &plan.network)?)
            }
            SourceSpec::Cache(dir) => {
                let sub = work.join(format!("cache-{}", prepared.len()));
                std::fs::create_dir(&sub).map_err(io("cannot create", &sub))?;
                prepared.extend(source::cache::from_cache(dir, &sub)?);
            }
        }
    }
    Ok((prepared, skipped))
}
