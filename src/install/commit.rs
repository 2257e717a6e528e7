//! Committing a checked, staged import: Trivy's metadata written into the
//! staged components, everything flushed, every swap planned (each under its
//! [`ComponentId`]), the older generation set aside, the swaps made all or
//! none, the host state advanced, and the replaced trees kept as the
//! previous generation.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::artifact::vex;
use crate::bundle::reader::Verified;
use crate::layout::{trivy_cache, vex_repo};
use crate::manifest::{ArtifactKind, Manifest};

use super::collect::{CheckedVex, Collector};
use super::component::ComponentId;
use super::{absolute, generation, guard, stage};
use super::{ImportError, ImportOptions, ImportReport, InstalledComponent, InstalledVex};
use crate::error::PathIo;

/// What each swap replaced: where the older tree now is, by component.
type Replaced = BTreeMap<ComponentId, Option<PathBuf>>;

/// Writes Trivy's metadata into the staged components, flushes them, and
/// swaps them in.
pub(super) fn commit(
    mut collector: Collector<'_>,
    opts: &ImportOptions,
    verified: &Verified,
    checked: Vec<CheckedVex>,
) -> Result<ImportReport, ImportError> {
    let m = &verified.manifest;
    let stage = collector
        .cache_stage()
        .expect("install mode has a staging area")
        .to_path_buf();
    write_metadata(&collector, opts, m, &stage)?;
    let repo_urls = write_vex_metadata(&collector, opts, m, &stage)?;
    let swaps = plan_swaps(&collector, opts, m, &checked, &stage)?;
    let replaced = swap_setting_aside(&opts.cache_dir, swaps, &mut collector.staging_guards)?;
    // The import is done; failing to keep the old trees only costs the
    // rollback, and failing to record the state weakens the next import's
    // downgrade check: both are said as such.
    let mut warnings = record_state(&collector, opts, verified);
    crate::fault::point("state saved");
    let state_before = collector.state.clone().unwrap_or_default();
    if let Err(e) = generation::keep_previous(&opts.cache_dir, &replaced, &state_before) {
        warnings.push(format!(
            "the import is complete, but the replaced components could not be kept, so `airlock rollback` is not available: {e}"
        ));
    }
    let with_static_dir = collector.vex_stage.is_some();
    let forced = std::mem::take(&mut collector.judged.forced);
    let repaired = std::mem::take(&mut collector.judged.repairs);
    let now = seen_now(&collector, opts);
    // Removes the staging areas (now holding the previous generation) and
    // releases the lock.
    crate::fault::point("before clean-up");
    drop(collector);
    crate::fault::point("cleaned up");
    let installed = Installed {
        replaced: &replaced,
        repo_urls,
        with_static_dir,
    };
    let mut report = installed.report(opts, verified, checked, forced, warnings, now)?;
    report.repaired = repaired;
    Ok(report)
}

/// The import's "now" for staleness: the later of the clock and the
/// newest time the host has seen, as the policy's ages are judged.
fn seen_now(collector: &Collector<'_>, opts: &ImportOptions) -> time::OffsetDateTime {
    let now = guard::effective_now(opts.now, &collector.state.clone().unwrap_or_default());
    guard::effective_now(now, &collector.vex_state.clone().unwrap_or_default())
}

/// The report of a bundle whose content is installed already: nothing was
/// staged or swapped; the state only remembers the bundle's series and
/// sequence ([`super::seen::remember`]).
pub(super) fn unchanged(
    mut collector: Collector<'_>,
    opts: &ImportOptions,
    verified: &Verified,
    checked: Vec<CheckedVex>,
) -> Result<ImportReport, ImportError> {
    let warnings = remember(&collector, opts, verified);
    let now = seen_now(&collector, opts);
    let compared = std::mem::take(&mut collector.judged.compared);
    let same_content_as = collector.judged.same_content_as.take();
    drop(collector);
    let replaced = Replaced::new();
    let m = &verified.manifest;
    let installed = Installed {
        replaced: &replaced,
        repo_urls: repo_urls(opts, m)?,
        with_static_dir: opts.vex_dir.is_some() && !m.vex.is_empty(),
    };
    let mut report = installed.report(opts, verified, checked, Vec::new(), warnings, now)?;
    report.already_installed = true;
    report.compared = compared;
    report.same_content_as = same_content_as;
    Ok(report)
}

/// Remembers the series and sequence of a bundle found installed, in the
/// cache's (and the static VEX directory's) state, when they are new
/// there; returns a warning for each state that could not be written.
fn remember(collector: &Collector<'_>, opts: &ImportOptions, verified: &Verified) -> Vec<String> {
    let m = &verified.manifest;
    let sha = verified.manifest_sha256.hex();
    let mut warnings = Vec::new();
    let mut save = |dir: &Path, before: &guard::State, learnt: bool| {
        // Found on disk, unrecorded: the state becomes what an import of
        // it would have made.
        let after = match learnt {
            true => guard::advance(before.clone(), m, &sha, opts.now, false),
            false => super::seen::remember(before.clone(), m, &sha, opts.now),
        };
        if after == *before {
            return;
        }
        if let Err(e) = guard::save(dir, &after) {
            warnings.push(format!(
                "nothing was changed, but the series and sequence of this bundle could not be recorded in {}: {e}",
                dir.join(guard::STATE_FILE).display()
            ));
        }
    };
    let state = collector.state.clone().unwrap_or_default();
    save(&opts.cache_dir, &state, collector.judged.learnt);
    if let (Some(vex_state), Some(dir)) = (&collector.vex_state, &opts.vex_dir) {
        save(dir, vex_state, false);
    }
    warnings
}

/// The URL repository.yaml names for each VEX repository: under the
/// static directory's URL when there is one (as [`write_vex_metadata`]
/// writes it).
fn repo_urls(
    opts: &ImportOptions,
    m: &Manifest,
) -> Result<BTreeMap<String, Option<String>>, ImportError> {
    let base = base_url(opts)?;
    Ok(m.vex
        .iter()
        .map(|v| {
            let url = base.as_ref().map(|b| vex_repo::repository_url(b, &v.name));
            (v.name.to_string(), url)
        })
        .collect())
}

/// The URL the static VEX directory is served under, if there is one.
fn base_url(opts: &ImportOptions) -> Result<Option<String>, ImportError> {
    Ok(match (&opts.vex_url, &opts.vex_dir) {
        (Some(u), _) => Some(u.trim_end_matches('/').to_string()),
        (None, Some(d)) => Some(vex_repo::file_url(&absolute(d)?)),
        (None, None) => None,
    })
}

/// Writes each artifact's `metadata.json` as Trivy keeps it.
fn write_metadata(
    collector: &Collector<'_>,
    opts: &ImportOptions,
    m: &Manifest,
    stage: &Path,
) -> Result<(), ImportError> {
    for d in &m.deltas {
        // The delta's metadata.json, checked against the manifest when it
        // was applied, with DownloadedAt as Trivy keeps it.
        let meta = collector
            .layers
            .get(&d.kind)
            .and_then(|l| l.metadata.as_ref());
        let Some(meta) = meta else {
            return Err(ImportError::Inconsistent(format!(
                "{} lacks its metadata",
                d.kind
            )));
        };
        let meta_path = stage
            .join(trivy_cache::component(d.kind))
            .join("metadata.json");
        stage::write_file(&meta_path, &trivy_cache::db_metadata(meta, opts.now))?;
        crate::fault::point("metadata written");
    }
    for a in &m.artifacts {
        let meta_path = stage
            .join(trivy_cache::component(a.kind))
            .join("metadata.json");
        let published = collector
            .layers
            .get(&a.kind)
            .and_then(|l| l.metadata.as_ref());
        let bytes = match (&a.checks, published) {
            (None, Some(meta)) => trivy_cache::db_metadata(meta, opts.now),
            (Some(c), _) => {
                trivy_cache::policy_metadata(&a.manifest_digest.oci(), c.major_version, opts.now)
            }
            (None, None) => {
                return Err(ImportError::Inconsistent(format!(
                    "{} lacks its metadata",
                    a.kind
                )))
            }
        };
        // The layer's own metadata.json gives way to the one Trivy keeps.
        if meta_path.exists() {
            fs::remove_file(&meta_path).map_err(PathIo::at("cannot replace", &meta_path))?;
        }
        stage::write_file(&meta_path, &bytes)?;
        crate::fault::point("metadata written");
    }
    Ok(())
}

/// Writes each VEX repository's manifest (its location rewritten to the
/// static directory's URL, when there is one) and `cache.json`; returns the
/// URL to put in repository.yaml, by repository.
fn write_vex_metadata(
    collector: &Collector<'_>,
    opts: &ImportOptions,
    m: &Manifest,
    stage: &Path,
) -> Result<BTreeMap<String, Option<String>>, ImportError> {
    let base_url = base_url(opts)?;
    let mut repo_urls = BTreeMap::new();
    for v in &m.vex {
        let original = collector
            .vex_manifests
            .get(v.name.as_str())
            .ok_or_else(|| {
                ImportError::Inconsistent(format!(
                    "vex-repository.json of VEX repository {:?} was never read",
                    v.name
                ))
            })?;
        let repo_dir = stage.join(trivy_cache::VEX_REPOSITORIES).join(&v.name);
        let (manifest_bytes, location, repo_url) = match &base_url {
            Some(base) => {
                let loc = vex_repo::location(base, &v.name, v.archive_format.name(), &v.subdir);
                let rewritten =
                    vex::rewrite_location(original, &loc).map_err(|source| ImportError::Vex {
                        name: v.name.to_string(),
                        source,
                    })?;
                let url = vex_repo::repository_url(base, &v.name);
                (rewritten, loc, Some(url))
            }
            None => (original.clone(), v.original_location.clone(), None),
        };
        stage::write_file(&repo_dir.join("vex-repository.json"), &manifest_bytes)?;
        stage::write_file(
            &repo_dir.join("cache.json"),
            &trivy_cache::vex_cache_json(opts.now, &location),
        )?;
        if let Some(vs) = &collector.vex_stage {
            let wk = vs.path().join(&v.name).join(".well-known");
            fs::create_dir_all(&wk).map_err(PathIo::at("cannot create", &wk))?;
            stage::write_file(&wk.join("vex-repository.json"), &manifest_bytes)?;
        }
        repo_urls.insert(v.name.to_string(), repo_url);
        crate::fault::point("vex metadata written");
    }
    Ok(repo_urls)
}

/// Everything is staged and checked: flushes, then plans every swap under
/// its component's identity (opening every parent, so foreseeable failures
/// come before any change).
fn plan_swaps(
    collector: &Collector<'_>,
    opts: &ImportOptions,
    m: &Manifest,
    checked: &[CheckedVex],
    stage: &Path,
) -> Result<stage::Swapper<ComponentId>, ImportError> {
    stage::fsync_tree(stage)?;
    if let Some(vs) = &collector.vex_stage {
        stage::fsync_tree(vs.path())?;
    }
    crate::fault::point("staging flushed");
    let mut swaps = stage::Swapper::default();
    for kind in m.installed_kinds() {
        let name = trivy_cache::component(kind);
        let id = ComponentId::Artifact(kind);
        swaps.plan(id, stage.join(name), &opts.cache_dir, Path::new(name))?;
    }
    for c in checked {
        let id = ComponentId::VexRepository(c.name.clone());
        let rel = Path::new(trivy_cache::VEX_REPOSITORIES).join(&c.name);
        swaps.plan(id, stage.join(&rel), &opts.cache_dir, &rel)?;
        if let (Some(vs), Some(dir)) = (&collector.vex_stage, &opts.vex_dir) {
            let id = ComponentId::StaticVex(c.name.clone());
            swaps.plan(id, vs.path().join(&c.name), dir, Path::new(&c.name))?;
        }
    }
    Ok(swaps)
}

/// Makes the swaps, all or none. The older generation steps aside first
/// (under [`stage::ASIDE_PREFIX`]); it comes back if the swaps fail, if a
/// signal ends the import before they begin (an interrupt hook), and, after
/// a crash, at the next import ([`stage::remove_leftovers`]). The staging
/// areas' signal registrations go at the point of no return, once signals
/// are held: from then on the import runs to its end and record.
fn swap_setting_aside(
    cache: &Path,
    swaps: stage::Swapper<ComponentId>,
    staging_guards: &mut Vec<crate::cleanup::Guard>,
) -> Result<Replaced, ImportError> {
    use crate::cleanup::interrupt;
    let previous = cache.join(stage::PREVIOUS_DIR);
    let aside = cache.join(format!("{}{}", stage::ASIDE_PREFIX, std::process::id()));
    let moved_aside = fs::symlink_metadata(&previous).is_ok();
    // Registered before the rename: a signal at any moment from here to the
    // point of no return puts the older generation back.
    let _undo = moved_aside.then(|| {
        let (aside, previous) = (aside.clone(), previous.clone());
        interrupt::on_interrupt(move |_| stage::put_back(&aside, &previous).err())
    });
    if moved_aside {
        // In a section: a signal's hook runs either before the rename
        // (none is made) or after it (it is undone), never during it.
        let section = interrupt::critical();
        let renamed = fs::rename(&previous, &aside);
        drop(section);
        renamed.map_err(PathIo::at(
            "cannot set aside the older generation",
            &previous,
        ))?;
        crate::fault::point("older generation set aside");
    }
    // From the first swap, a signal waits for the import to end and be
    // recorded (see install::transaction::interrupted); held first, then
    // the staging areas leave the handler's list.
    interrupt::point_of_no_return();
    staging_guards.clear();
    let replaced = match swaps.run() {
        Ok(replaced) => replaced,
        Err(e) => {
            if moved_aside {
                let _ = fs::rename(&aside, &previous);
            }
            return Err(e.into());
        }
    };
    crate::fault::point("swaps done");
    if moved_aside {
        // Renamed out of the set-aside name first: a crash while it is
        // removed leaves a staging leftover, never an older generation the
        // next import would put back over this one's.
        let discard = cache.join(format!(
            "{}old-{}",
            stage::STAGING_PREFIX,
            std::process::id()
        ));
        if fs::rename(&aside, &discard).is_ok() {
            let _ = fs::remove_dir_all(&discard);
        }
        crate::fault::point("older generation removed");
    }
    Ok(replaced.into_iter().collect())
}

/// Advances the cache's (and the static VEX directory's) recorded state;
/// returns a warning for each that could not be written.
fn record_state(
    collector: &Collector<'_>,
    opts: &ImportOptions,
    verified: &Verified,
) -> Vec<String> {
    let m = &verified.manifest;
    let sha = verified.manifest_sha256.hex();
    let forced = !collector.judged.forced.is_empty();
    let mut warnings = Vec::new();
    let state = collector.state.clone().unwrap_or_default();
    let state = guard::advance(state, m, &sha, opts.now, forced);
    if let Err(e) = guard::save(&opts.cache_dir, &state) {
        warnings.push(format!(
            "the import is complete, but its record in {} could not be written, so the next import cannot check for a downgrade against it: {e}",
            guard::STATE_FILE
        ));
    }
    if let (Some(vex_state), Some(dir)) = (collector.vex_state.clone(), &opts.vex_dir) {
        let vex_state = guard::advance_vex_dir(vex_state, m, &sha, opts.now, forced);
        if let Err(e) = guard::save(dir, &vex_state) {
            warnings.push(format!(
                "the import is complete, but its record in {} could not be written, so the next import into this VEX directory cannot check for a downgrade against it: {e}",
                dir.join(guard::STATE_FILE).display()
            ));
        }
    }
    warnings
}

/// What the swaps did, for the report.
struct Installed<'a> {
    replaced: &'a Replaced,
    repo_urls: BTreeMap<String, Option<String>>,
    with_static_dir: bool,
}

impl Installed<'_> {
    /// Whether the component `id` replaced an older tree.
    fn replaced(&self, id: &ComponentId) -> bool {
        self.replaced.get(id).is_some_and(Option::is_some)
    }

    /// The VEX repositories of the bundle as installed.
    fn vex(
        &mut self,
        opts: &ImportOptions,
        checked: Vec<CheckedVex>,
        cache_abs: &Path,
    ) -> Vec<InstalledVex> {
        let mut vex = Vec::new();
        for c in checked {
            let id = ComponentId::VexRepository(c.name.clone());
            vex.push(InstalledVex {
                repository_url: self.repo_urls.remove(&c.name).flatten(),
                cache_path: cache_abs.join(trivy_cache::VEX_REPOSITORIES).join(&c.name),
                replaced: self.replaced(&id),
                id,
                static_dir: match &opts.vex_dir {
                    Some(dir) if self.with_static_dir => Some(dir.join(&c.name)),
                    _ => None,
                },
                name: c.name,
                packages: c.packages,
            });
        }
        vex
    }

    fn report(
        mut self,
        opts: &ImportOptions,
        verified: &Verified,
        checked: Vec<CheckedVex>,
        forced: Vec<String>,
        mut warnings: Vec<String>,
        now: time::OffsetDateTime,
    ) -> Result<ImportReport, ImportError> {
        let m = &verified.manifest;
        // Absolute, as the audit log records them (issue 15).
        let cache_abs = absolute(&opts.cache_dir)?;
        let components = components(m, &cache_abs, &self);
        let vex = self.vex(opts, checked, &cache_abs);
        let repository_yaml = (!vex.is_empty()).then(|| {
            trivy_cache::repository_yaml(
                &vex.iter()
                    .map(|v: &InstalledVex| (v.name.clone(), v.repository_url.clone()))
                    .collect::<Vec<_>>(),
            )
        });
        let installed = holds(m, &vex, &cache_abs, &mut warnings);
        Ok(ImportReport {
            manifest_sha256: verified.manifest_sha256.hex(),
            series: m.series.as_ref().map(|s| s.to_string()),
            sequence: m.sequence,
            forced,
            created: m.created.to_string(),
            labels: m.labels.clone(),
            signers: verified.signers.clone(),
            cache_dir: cache_abs.clone(),
            trivy_flags: trivy_cache::trivy_flags(&cache_abs, &installed),
            scan_commands: crate::layout::scan::scan_commands(&cache_abs, &installed),
            components,
            vex,
            repository_yaml,
            stale: crate::freshness::warnings(m, now),
            already_installed: false,
            compared: Vec::new(),
            same_content_as: None,
            repaired: Vec::new(),
            warnings,
        })
    }
}

/// The artifacts of the bundle as installed components.
fn components(
    m: &Manifest,
    cache_abs: &Path,
    installed: &Installed<'_>,
) -> Vec<InstalledComponent> {
    m.artifacts
        .iter()
        .map(|a| {
            let id = ComponentId::Artifact(a.kind);
            InstalledComponent {
                kind: a.kind,
                path: cache_abs.join(trivy_cache::component(a.kind)),
                replaced: installed.replaced(&id),
                id,
                schema_version: a.database.as_ref().map(|d| d.schema_version),
                updated_at: a.database.as_ref().map(|d| d.updated_at.to_string()),
                next_update: a.database.as_ref().map(|d| d.next_update.to_string()),
                manifest_digest: a.manifest_digest.oci(),
            }
        })
        .chain(m.deltas.iter().map(|d| {
            let id = ComponentId::Artifact(d.kind);
            InstalledComponent {
                kind: d.kind,
                path: cache_abs.join(trivy_cache::component(d.kind)),
                replaced: installed.replaced(&id),
                id,
                schema_version: Some(d.database.schema_version),
                updated_at: Some(d.database.updated_at.to_string()),
                next_update: Some(d.database.next_update.to_string()),
                // No OCI manifest travels with a delta: the content is
                // named by the rebuilt database file's digest.
                manifest_digest: d.database.sha256.oci(),
            }
        }))
        .collect()
}

/// What the cache holds after the import, for the scan commands.
fn holds(
    m: &Manifest,
    vex: &[InstalledVex],
    cache_abs: &Path,
    warnings: &mut Vec<String>,
) -> crate::layout::scan::Installed {
    // From what the cache holds now, not from this bundle (issue 15).
    // The import is done: a cache that cannot be listed only costs the
    // commands what earlier imports left (said as a warning).
    crate::layout::scan::Installed::read(cache_abs).unwrap_or_else(|e| {
        warnings.push(format!(
            "cannot list {}: {e}; the scan commands name only this bundle's data",
            cache_abs.display()
        ));
        crate::layout::scan::Installed {
            db: m.installed_kinds().contains(&ArtifactKind::TrivyDb),
            java_db: m.installed_kinds().contains(&ArtifactKind::JavaDb),
            checks: m.artifacts.iter().any(|a| a.kind == ArtifactKind::Checks),
            vex: vex.iter().map(|v| v.name.clone()).collect(),
        }
    })
}
