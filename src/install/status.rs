//! `status`: what a cache holds and what its previous generation costs
//! (read only).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::layout::trivy_cache;
use crate::manifest::ArtifactKind;

use super::generation::real_dir;
use super::{absolute, stage, ImportError};
use crate::error::PathIo;

/// One component of a cache, as `status` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentStatus {
    /// Cache-relative path (`db`, `vex/repositories/default`...).
    pub path: PathBuf,
    /// Bytes of its files.
    pub bytes: u64,
    /// For the databases: Version, UpdatedAt, NextUpdate, DownloadedAt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<crate::artifact::DbMetadata>,
    /// Bytes of the previous generation of it kept for `rollback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_bytes: Option<u64>,
}

/// What a cache holds, and what `rollback` would cost to keep.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStatus {
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The components present.
    pub components: Vec<ComponentStatus>,
    /// Total bytes of the previous generation (disk that rollback costs).
    pub previous_bytes: u64,
}

/// Bytes of the regular files under `root`, which must be a real directory:
/// links are never followed (nor is another file system entered).
fn tree_bytes(root: &Path) -> u64 {
    if !real_dir(root) {
        return 0;
    }
    walkdir::WalkDir::new(root)
        .follow_root_links(false)
        .same_file_system(true)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .fold(0u64, |t, m| t.saturating_add(m.len()))
}

/// Reports the components of a Trivy cache airlock manages (read only).
pub fn status(cache_dir: &Path) -> Result<CacheStatus, ImportError> {
    if !cache_dir.is_dir() {
        let missing = io::Error::from(io::ErrorKind::NotFound);
        return Err(PathIo::new("cannot read", cache_dir, missing).into());
    }
    let previous = cache_dir.join(stage::PREVIOUS_DIR);
    let mut rels: Vec<PathBuf> = ArtifactKind::ALL
        .iter()
        .map(|k| PathBuf::from(trivy_cache::component(*k)))
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for base in [cache_dir, previous.as_path()] {
        let repos = base.join(trivy_cache::VEX_REPOSITORIES);
        if !(real_dir(base) && real_dir(&base.join("vex")) && real_dir(&repos)) {
            continue;
        }
        if let Ok(entries) = fs::read_dir(&repos) {
            names.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name()),
            );
        }
    }
    rels.extend(
        names
            .into_iter()
            .map(|n| Path::new(trivy_cache::VEX_REPOSITORIES).join(n)),
    );
    let mut components = Vec::new();
    for rel in rels {
        let live = cache_dir.join(&rel);
        let kept = previous.join(&rel);
        if !real_dir(&live) && !real_dir(&kept) {
            continue;
        }
        let meta_path = live.join("metadata.json");
        let metadata = fs::symlink_metadata(&meta_path)
            .ok()
            .filter(|m| m.is_file() && m.len() <= crate::artifact::db::MAX_METADATA)
            .and_then(|_| fs::read(&meta_path).ok())
            .and_then(|b| crate::artifact::DbMetadata::parse(&b).ok());
        components.push(ComponentStatus {
            bytes: tree_bytes(&live),
            metadata: if rel.starts_with("policy") {
                None
            } else {
                metadata
            },
            previous_bytes: real_dir(&kept).then(|| tree_bytes(&kept)),
            path: rel,
        });
    }
    Ok(CacheStatus {
        cache_dir: absolute(cache_dir)?,
        previous_bytes: tree_bytes(&previous),
        components,
    })
}

/// Work in progress and what interrupted runs left in a cache directory
/// (`status`; read only, no lock is taken: see [`crate::cleanup::held`]).
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    /// The pid of the live process holding the cache lock, if one does,
    /// unless it is known to be a rollback: an import (or, when its command
    /// line cannot be read, possibly a rollback: see `holder_known`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_in_progress: Option<u32>,
    /// The pid of a live `airlock rollback` holding the cache lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_in_progress: Option<u32>,
    /// Whether the lock holder's command (import or rollback) was read.
    #[serde(skip)]
    pub holder_known: bool,
    /// Import's staging areas (held by the process that holds the cache
    /// lock, if any; otherwise the next import removes them), a previous
    /// generation an interrupted import set aside, and other airlock
    /// temporary files or folders there.
    pub leftovers: Vec<crate::cleanup::held::Leftover>,
}

/// What a leftover in a cache directory is, and so what the next import
/// does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverKind {
    /// An import's staging area (or temporary file): the next import
    /// removes it.
    Staging,
    /// The previous generation an interrupted import set aside (no
    /// `.airlock-previous` beside it): the next import puts it back.
    SetAside,
    /// Another command's temporary file or folder (`sign`'s
    /// `.airlock-sign-*.partial`...): the next import removes it, as does
    /// the next run of its kind writing there.
    Other,
}

/// The [`LeftoverKind`] of `path`, a leftover [`activity`] found.
pub fn leftover_kind(path: &Path) -> LeftoverKind {
    let name = path.file_name().map(|n| n.to_string_lossy());
    let Some(name) = name.filter(|n| n.starts_with(stage::STAGING_PREFIX)) else {
        return LeftoverKind::Other;
    };
    let previous = path.parent().map(|d| d.join(stage::PREVIOUS_DIR));
    let free = previous.is_some_and(|p| fs::symlink_metadata(p).is_err());
    if name.starts_with(stage::ASIDE_PREFIX) && free && path.is_dir() {
        LeftoverKind::SetAside
    } else {
        LeftoverKind::Staging
    }
}

/// What [`Activity`] shows for `cache_dir`.
pub fn activity(cache_dir: &Path) -> Activity {
    use crate::cleanup::held;
    let holder = held::lock_holder(&cache_dir.join(stage::LOCK_FILE));
    let mut leftovers = held::find(
        cache_dir,
        |n| n.len() > stage::STAGING_PREFIX.len() && n.starts_with(stage::STAGING_PREFIX),
        holder,
    );
    leftovers.extend(held::leftovers(cache_dir));
    leftovers.sort_by(|a, b| a.path.cmp(&b.path));
    let command = holder.and_then(command_of);
    let rollback = command.as_deref() == Some("rollback");
    Activity {
        import_in_progress: holder.filter(|_| !rollback),
        rollback_in_progress: holder.filter(|_| rollback),
        holder_known: matches!(command.as_deref(), Some("import" | "rollback")),
        leftovers,
    }
}

/// The subcommand a process runs (`import`, `rollback`): the first word
/// after the program's name on its command line (`airlock` takes no
/// option before it), if `/proc` shows it.
fn command_of(pid: u32) -> Option<String> {
    let line = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let word = line.split(|&b| b == 0).nth(1)?;
    Some(String::from_utf8_lossy(word).into_owned())
}
