//! Generations: what an import replaced is kept as the previous generation
//! ([`stage::PREVIOUS_DIR`]), with the state from before that import beside
//! it ([`guard::PREVIOUS_STATE_FILE`]); `rollback` ([`super::rollback`])
//! swaps it back.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::component::ComponentId;
use super::{guard, stage, ImportError};
use crate::error::PathIo;

/// Keeps what this import replaced in the cache as the previous generation,
/// for `airlock rollback`. The generation is assembled under a staging name
/// and renamed to [`stage::PREVIOUS_DIR`] only when complete, so rollback
/// never finds a partial one.
pub(super) fn keep_previous(
    cache: &Path,
    replaced: &BTreeMap<ComponentId, Option<PathBuf>>,
    state_before: &guard::State,
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
    // What the state was when these trees were installed: rollback puts it
    // back with them. Written before the generation appears, so a
    // generation never goes with an older import's state.
    guard::save_path(&cache.join(guard::PREVIOUS_STATE_FILE), state_before)?;
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
