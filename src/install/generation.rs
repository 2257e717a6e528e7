//! Generations: what an import replaced is kept as the previous generation
//! ([`stage::PREVIOUS_DIR`]), and `rollback` swaps it back.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::layout::trivy_cache;
use crate::manifest::ArtifactKind;

use super::component::ComponentId;
use super::{absolute, stage, ImportError};
use crate::error::PathIo;

/// Keeps what this import replaced in the cache as the previous generation,
/// for `airlock rollback`. The generation is assembled under a staging name
/// and renamed to [`stage::PREVIOUS_DIR`] only when complete, so rollback
/// never finds a partial one.
pub(super) fn keep_previous(
    cache: &Path,
    replaced: &BTreeMap<ComponentId, Option<PathBuf>>,
) -> Result<(), ImportError> {
    let building = tempfile::Builder::new()
        .prefix(&format!("{}generation-", stage::STAGING_PREFIX))
        .tempdir_in(cache)
        .map_err(PathIo::at("cannot create a directory in", cache))?;
    let mut kept = 0;
    for (id, old) in replaced {
        // The static VEX directory's trees keep no generation.
        if let (Some(rel), Some(old)) = (id.cache_path(), old) {
            let dst = building.path().join(rel);
            let parent = dst.parent().expect("a component has a parent");
            fs::create_dir_all(parent).map_err(PathIo::at("cannot create", parent))?;
            fs::rename(old, &dst)
                .map_err(PathIo::at("cannot keep the previous generation in", &dst))?;
            crate::fault::point("component kept");
            kept += 1;
        }
    }
    if kept == 0 {
        return Ok(());
    }
    stage::fsync_tree(building.path())?;
    crate::fault::point("generation flushed");
    let path = building.keep();
    let previous = cache.join(stage::PREVIOUS_DIR);
    if let Err(e) = fs::rename(&path, &previous) {
        let _ = fs::remove_dir_all(&path);
        return Err(PathIo::new("cannot keep the previous generation in", &previous, e).into());
    }
    crate::fault::point("generation kept");
    File::open(cache)
        .and_then(|d| d.sync_all())
        .map_err(PathIo::at("cannot flush", cache))?;
    Ok(())
}

/// Whether `p` is a directory itself, not a link to one.
pub(super) fn real_dir(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The components put back (cache-relative paths).
    pub restored: Vec<PathBuf>,
}

/// Puts back the trees the last import replaced (kept in
/// [`stage::PREVIOUS_DIR`]), each swapped atomically, all or none. The
/// trees swapped out become the previous generation in turn, so a second
/// rollback undoes the first. Components the last import added (absent
/// before it) are left in place.
pub fn rollback(cache_dir: &Path) -> Result<RollbackReport, ImportError> {
    if !cache_dir.is_dir() {
        return Err(ImportError::NoPreviousGeneration(cache_dir.to_path_buf()));
    }
    let _lock = stage::lock(cache_dir)?;
    let previous = cache_dir.join(stage::PREVIOUS_DIR);
    let mut rels = Vec::new();
    // Only real directories: never swap a link into the cache.
    for kind in ArtifactKind::ALL {
        let rel = PathBuf::from(trivy_cache::component(kind));
        if real_dir(&previous) && real_dir(&previous.join(&rel)) {
            rels.push(rel);
        }
    }
    let repos = previous.join(trivy_cache::VEX_REPOSITORIES);
    let entries = fs::read_dir(&repos)
        .ok()
        .filter(|_| real_dir(&previous) && real_dir(&previous.join("vex")) && real_dir(&repos));
    if let Some(entries) = entries {
        let mut names: Vec<_> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            rels.push(Path::new(trivy_cache::VEX_REPOSITORIES).join(n));
        }
    }
    if rels.is_empty() {
        return Err(ImportError::NoPreviousGeneration(cache_dir.to_path_buf()));
    }
    let mut swaps = stage::Swapper::default();
    for rel in &rels {
        swaps.plan((), previous.join(rel), cache_dir, rel)?;
    }
    swaps.run()?;
    Ok(RollbackReport {
        cache_dir: absolute(cache_dir)?,
        restored: rels,
    })
}
