//! What the cache and a static VEX directory hold now, compared with a
//! bundle's signed facts (issue 15): "already installed" is judged from the
//! disk, not from the recorded state alone, so a database deleted or
//! changed by hand, or a static repository removed, is put back by
//! re-importing the bundle.
//!
//! A database file is compared by its signed SHA-256 and size (one read of
//! the installed file); a static VEX directory's archive by the payload's
//! signed SHA-256; the checks bundle's and a cached VEX repository's trees
//! by their signed number of regular files and total size (the manifest
//! signs no per-file digest for them).

use std::fs;
use std::io::Read;
use std::path::Path;

use crate::artifact::vex;
use crate::digest::HashingReader;
use crate::layout::{trivy_cache, vex_repo};
use crate::manifest::{Manifest, Unpacked};

/// What was compared, and what differs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Compared {
    /// Each thing compared, as said to the user (`db/trivy.db (SHA-256)`).
    pub checked: Vec<String>,
    /// Each that differs from the bundle or is missing, as said to the user
    /// (`db/trivy.db differs from the bundle`).
    pub differs: Vec<String>,
}

/// Compares what `cache` (and `vex_dir`, when given) hold with what `m`
/// signs, component by component.
pub fn compare(m: &Manifest, cache: &Path, vex_dir: Option<&Path>) -> Compared {
    let mut out = Compared::default();
    for a in &m.artifacts {
        let component = trivy_cache::component(a.kind);
        match &a.database {
            Some(db) => {
                let rel = format!("{component}/{}", db.file.as_str());
                let found = file_digest(&cache.join(&rel));
                out.check(
                    format!("{rel} (SHA-256)"),
                    &rel,
                    found.map(|(d, size)| d == db.sha256 && size == db.size),
                );
            }
            None => {
                let rel = format!("{component}/{}", trivy_cache::layer_dir(a.kind));
                out.check(
                    format!("{rel} (files and size)"),
                    &rel,
                    tree_totals(&cache.join(&rel)).map(|t| same_totals(t, &a.unpacked)),
                );
            }
        }
    }
    for d in &m.deltas {
        let rel = format!(
            "{}/{}",
            trivy_cache::component(d.kind),
            d.database.file.as_str()
        );
        let found = file_digest(&cache.join(&rel));
        out.check(
            format!("{rel} (SHA-256)"),
            &rel,
            found.map(|(f, size)| f == d.database.sha256 && size == d.database.size),
        );
    }
    for v in &m.vex {
        let rel = format!(
            "{}/{}/{}",
            trivy_cache::VEX_REPOSITORIES,
            v.name,
            vex::SPEC_VERSION
        );
        out.check(
            format!("{rel} (files and size)"),
            &rel,
            tree_totals(&cache.join(&rel)).map(|t| same_totals(t, &v.unpacked)),
        );
        let Some(dir) = vex_dir else {
            continue;
        };
        let archive = dir
            .join(v.name.as_str())
            .join(vex_repo::archive_file(v.archive_format.name()));
        let signed = m.payloads.iter().find(|p| p.path == v.archive_path);
        let shown = archive.display().to_string();
        out.check(
            format!("{shown} (SHA-256)"),
            &shown,
            file_digest(&archive)
                .map(|(d, size)| signed.is_some_and(|p| p.sha256 == d && p.size == size)),
        );
    }
    out
}

impl Compared {
    /// Records one comparison: `same` is `None` when the thing is missing.
    fn check(&mut self, what: String, rel: &str, same: Option<bool>) {
        self.checked.push(what);
        match same {
            Some(true) => {}
            Some(false) => self.differs.push(format!("{rel} differs from the bundle")),
            None => self.differs.push(format!("{rel} is missing")),
        }
    }
}

/// The SHA-256 and size of a regular file (not followed through a link),
/// or `None` if there is none or it cannot be read.
fn file_digest(path: &Path) -> Option<(crate::digest::Sha256Digest, u64)> {
    if !fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let mut r = HashingReader::new(fs::File::open(path).ok()?);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    let (digest, size, _) = r.finish();
    Some((digest, size))
}

/// The number of regular files under `root` and their total size (links
/// are not followed), or `None` if `root` is not a real directory or
/// cannot be read.
fn tree_totals(root: &Path) -> Option<(u64, u64)> {
    if !fs::symlink_metadata(root).ok()?.is_dir() {
        return None;
    }
    let (mut files, mut size) = (0u64, 0u64);
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).ok()? {
            let entry = entry.ok()?;
            let meta = entry.path().symlink_metadata().ok()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                files += 1;
                size = size.saturating_add(meta.len());
            }
        }
    }
    Some((files, size))
}

fn same_totals((files, size): (u64, u64), signed: &Unpacked) -> bool {
    files == signed.files && size == signed.size
}
