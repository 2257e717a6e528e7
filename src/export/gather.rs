//! Export's sources: Trivy's defaults, the hosts they reach, and export's
//! first step, every source into a prepared artifact (read from the user's
//! files, pulled from registries, or rebuilt under the work folder), with
//! the registry references tried and skipped on the way.

use std::path::Path;

use super::{ExportError, ExportPlan, SourceSpec};
use crate::error::PathIo;
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
    // The layer files, checked side by side first (issue 12); each result
    // is used, or its refusal reported, in the sources' order below.
    let mut checked = super::checks::layers_side_by_side(&plan.sources, progress);
    for (index, spec) in plan.sources.iter().enumerate() {
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
                let done = match checked.iter().position(|(i, _)| *i == index) {
                    Some(at) => checked.swap_remove(at).1?,
                    None => {
                        progress.begin(&format!("check {kind}"), file_len(path));
                        let one = source::files::check_layer(*kind, path, progress)?;
                        progress.end();
                        one
                    }
                };
                prepared.push(source::files::layer_file_checked(
                    *kind, path, checks, done,
                )?);
            }
            SourceSpec::Vex {
                name,
                manifest,
                archive,
            } => {
                progress.begin(&format!("check vex {name}"), file_len(archive));
                prepared.push(source::files::vex_files(name, manifest, archive, progress)?);
                progress.end();
            }
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
                std::fs::create_dir(&sub).map_err(PathIo::at("cannot create", &sub))?;
                // Read, rebuilt into tarballs, and checked: the total is
                // not known before.
                progress.begin("read cache", 0);
                prepared.extend(source::cache::from_cache(dir, &sub, progress)?);
                progress.end();
            }
        }
    }
    Ok((prepared, skipped))
}

/// A file's length for a progress total (0, unknown, if it cannot be read:
/// reading it reports the error).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Trivy's own sources (as of Trivy 0.76): its default registries for the
/// three artifacts, and the default VEX repository.
pub fn default_sources() -> Vec<SourceSpec> {
    let mut sources: Vec<SourceSpec> = [
        ArtifactKind::TrivyDb,
        ArtifactKind::JavaDb,
        ArtifactKind::Checks,
    ]
    .into_iter()
    .map(|kind| SourceSpec::Registry {
        kind,
        references: source::pull::default_references(kind),
    })
    .collect();
    sources.push(SourceSpec::VexUrl {
        name: "default".into(),
        url: source::vexhub::VEXHUB.into(),
    });
    sources
}

/// The hosts `sources` reach over the network (`host[:port]`): registries
/// and VEX servers, for the network options (proxy and TLS settings that
/// name them).
pub fn source_hosts(sources: &[SourceSpec]) -> Vec<String> {
    sources
        .iter()
        .flat_map(|spec| match spec {
            SourceSpec::Registry { references, .. } => references
                .iter()
                .filter_map(|r| source::pull::Reference::parse(r).ok())
                .map(|r| r.host)
                .collect(),
            SourceSpec::VexUrl { url, .. } => crate::registry::HostPort::of_url(url)
                .map(|h| vec![h.to_string()])
                .unwrap_or_default(),
            _ => vec![],
        })
        .collect()
}
