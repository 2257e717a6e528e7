//! The file-system side of import: the lock, staging directories, writing
//! staged files (swapping them into place is [`super::swap`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::error::PathIo;
use crate::unpack::Sink;

/// Prefix of staging directories (leftovers of a crash are removed by the
/// next import).
pub const STAGING_PREFIX: &str = ".airlock-staging-";
/// Where the cache keeps the previous generation: the trees the last import
/// replaced (for `rollback`).
pub const PREVIOUS_DIR: &str = ".airlock-previous";

/// The name (+ pid) of the previous generation while an import has it set
/// aside: never removed as a leftover, but put back (see [`put_back`]).
pub const ASIDE_PREFIX: &str = ".airlock-staging-previous-";
/// The lock file in the cache directory (and in a VEX directory).
pub const LOCK_FILE: &str = ".airlock.lock";

/// File-system failures of the install step.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] PathIo),
    /// The target's file system has too little free space.
    #[error("not enough free space on the file system of {}: this import needs about {needed} bytes ({}) there, {available} bytes ({}) are free", crate::text::path(path), crate::text::bytes(*needed), crate::text::bytes(*available))]
    NoSpace {
        /// A directory on that file system.
        path: PathBuf,
        /// Bytes needed (content plus an allowance per file).
        needed: u64,
        /// Bytes available to this user.
        available: u64,
    },
    /// The target's file system has too few free inodes.
    #[error("not enough free inodes on the file system of {}: this import needs about {needed} there (one per file and directory it writes), {available} are free", crate::text::path(path))]
    NoInodes {
        /// A directory on that file system.
        path: PathBuf,
        /// Inodes needed (files and directories, plus a few).
        needed: u64,
        /// Inodes available to this user.
        available: u64,
    },
    /// Another import holds the lock.
    #[error(
        "another airlock import is running on {} (lock held on {})",
        crate::text::path(dir),
        crate::text::path(lock)
    )]
    Locked {
        /// The locked directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A parent of a component is a symbolic link or not a directory.
    #[error("{} is a symbolic link or not a directory; airlock does not follow links inside the target", crate::text::path(.0))]
    NotADirectory(PathBuf),
    /// Swapping failed part way; what was replaced has been put back.
    #[error("cannot swap in {}; the components already replaced were put back, the target is as it was before this import", crate::text::path(path))]
    SwapRolledBack {
        /// The component that failed.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Swapping failed part way and putting back failed too.
    #[error("cannot swap in {}, and cannot put back {}: these components are from the new bundle, the others are as before", crate::text::path(path), kept.iter().map(crate::text::path).collect::<Vec<_>>().join(", "))]
    SwapPartial {
        /// The component that failed.
        path: PathBuf,
        /// Components left at the new version.
        kept: Vec<PathBuf>,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl crate::error::Classify for StageError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            StageError::Io(_)
            | StageError::NoSpace { .. }
            | StageError::NoInodes { .. }
            | StageError::Locked { .. }
            | StageError::NotADirectory(_)
            | StageError::SwapRolledBack { .. }
            | StageError::SwapPartial { .. } => HostFailure,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            StageError::NoSpace { .. } => Hint::text("free some space (or import to another file system), then import again; nothing was written"),
            StageError::NoInodes { .. } => Hint::text("free some inodes (remove files there), or import to another file system; nothing was written"),
            StageError::Locked { .. } => Hint::text("wait for it to finish, then run this import again"),
            StageError::NotADirectory(_) => Hint::text("replace it with a real directory (or remove it), then import again"),
            StageError::SwapPartial { .. } => Hint::text("run the import again"),
            StageError::Io(_) | StageError::SwapRolledBack { .. } => None,
        }
    }
}

/// Writes the files of an archive under a staging root. Entry paths were
/// checked by `unpack`; the root is a fresh directory airlock created (mode
/// 0700, by tempfile), with no links in it, so joining them cannot escape.
pub(crate) struct DirSink {
    pub root: PathBuf,
}

impl Sink for DirSink {
    fn dir(&mut self, path: &str) -> io::Result<()> {
        // A signal's clean-up removes the staging root: create nothing more.
        crate::cleanup::interrupt::checkpoint();
        fs::create_dir_all(self.root.join(path))
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        crate::cleanup::interrupt::checkpoint();
        let p = self.root.join(path);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent)?;
        }
        let f = create_new(&p)?;
        match size >= WRITE_BEHIND_MIN {
            true => copy_behind(f, data)?,
            false => copy_here(f, data)?,
        }
        crate::fault::point("file staged");
        Ok(())
    }
}

/// Files at least this large are written on a second thread while this one
/// produces their bytes (inflates a layer): issue 12.
const WRITE_BEHIND_MIN: u64 = 4 << 20;

/// Creates `p` (which must not exist), copies `data` into it, and flushes it
/// to disk.
pub(crate) fn write_new(p: &Path, data: &mut dyn Read) -> io::Result<()> {
    copy_here(create_new(p)?, data)
}

/// Creates `p`, which must not exist.
fn create_new(p: &Path) -> io::Result<File> {
    // Nothing new in a staging area a signal's clean-up is removing.
    crate::cleanup::interrupt::checkpoint();
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(p)
}

/// Copies `data` into `f` and flushes it to disk.
fn copy_here(f: File, data: &mut dyn Read) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, f);
    io::copy(data, &mut w)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

/// [`copy_here`] with the writes on a second thread
/// ([`crate::pipe::copy_to_file`]): a write error is returned as it came,
/// before a read error that came after it was queued.
fn copy_behind(f: File, data: &mut dyn Read) -> io::Result<()> {
    crate::pipe::copy_to_file(&f, data).map_err(crate::pipe::CopyError::into_io)?;
    f.sync_all()
}

/// [`write_new`] of a small document.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    write_new(path, &mut &bytes[..]).map_err(|e| PathIo::new("cannot write", path, e).into())
}

/// Holds a directory's advisory lock until dropped.
pub(crate) struct Lock {
    _file: File,
}

/// Takes `dir`'s lock, or fails at once if another import holds it.
pub(crate) fn lock(dir: &Path) -> Result<Lock, StageError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .mode(0o644)
        .open(&path)
        .map_err(PathIo::at("cannot open the lock file", &path))?;
    match crate::fsio::lock::try_lock_exclusive(&file) {
        Ok(true) => Ok(Lock { _file: file }),
        Ok(false) => Err(StageError::Locked {
            dir: dir.to_path_buf(),
            lock: path,
        }),
        Err(err) => Err(PathIo::new("cannot lock", &path, err).into()),
    }
}

/// Removes staging directories a crashed import left behind, and puts back
/// the previous generation one had set aside ([`ASIDE_PREFIX`]).
pub(crate) fn remove_leftovers(dir: &Path) -> Result<(), StageError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with(STAGING_PREFIX) {
            continue;
        }
        let p = e.path();
        // A crash can leave a directory (a staging tree) or a file (the
        // state file's temporary copy, see guard.rs); a link is removed
        // as a link, never followed.
        let is_dir = fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
        if is_dir && name.starts_with(ASIDE_PREFIX) {
            let previous = dir.join(PREVIOUS_DIR);
            if fs::symlink_metadata(&previous).is_err() {
                fs::rename(&p, &previous)
                    .map_err(PathIo::at("cannot put back the older generation", &p))?;
                continue;
            }
        }
        let removed = if is_dir {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        removed.map_err(PathIo::at("cannot remove the leftover staging entry", &p))?;
    }
    Ok(())
}

/// Renames the previous generation set aside at `aside` back to `previous`
/// (unless it is no longer there); a line saying what failed, if it did.
pub(crate) fn put_back(aside: &Path, previous: &Path) -> Result<(), String> {
    if fs::symlink_metadata(aside).is_err() {
        return Ok(());
    }
    fs::rename(aside, previous).map_err(|e| {
        format!(
            "the older generation set aside as {} could not be put back as {}: {e}",
            aside.display(),
            previous.display()
        )
    })
}

/// What a tree to be written needs on its file system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Need {
    /// Bytes (content plus an allowance per file and directory).
    pub bytes: u64,
    /// Inodes (one per file and directory).
    pub inodes: u64,
}

impl Need {
    /// Both needs together.
    pub(crate) fn and(self, other: Need) -> Need {
        Need {
            bytes: self.bytes.saturating_add(other.bytes),
            inodes: self.inodes.saturating_add(other.inodes),
        }
    }
}

/// Refuses up front when `needs` (directory, bytes and inodes) do not fit
/// what is free on their file systems (directories on one file system add
/// up).
pub(crate) fn check_space(needs: &[(&Path, Need)]) -> Result<(), StageError> {
    let mut by_dev: Vec<(&Path, Need, crate::disk::Free)> = Vec::new();
    for (dir, need) in needs {
        let free = crate::disk::free(dir).map_err(PathIo::at("cannot examine", dir))?;
        match by_dev.iter_mut().find(|(_, _, f)| f.dev == free.dev) {
            Some(entry) => entry.1 = entry.1.and(*need),
            None => by_dev.push((dir, *need, free)),
        }
    }
    for (dir, need, free) in by_dev {
        if need.bytes > free.bytes {
            return Err(StageError::NoSpace {
                path: dir.to_path_buf(),
                needed: need.bytes,
                available: free.bytes,
            });
        }
        match free.inodes {
            Some(available) if need.inodes > available => {
                return Err(StageError::NoInodes {
                    path: dir.to_path_buf(),
                    needed: need.inodes,
                    available,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// A fresh staging directory inside `dir` (same file system as the target).
pub(crate) fn staging(dir: &Path) -> Result<tempfile::TempDir, StageError> {
    tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(dir)
        .map_err(|e| PathIo::new("cannot create a staging directory in", dir, e).into())
}

/// fsyncs every directory under `root` (files were synced as written).
pub(crate) fn fsync_tree(root: &Path) -> Result<(), StageError> {
    for e in walkdir::WalkDir::new(root).contents_first(true) {
        let e = e.map_err(|e| PathIo::new("cannot walk", root, e.into()))?;
        if e.file_type().is_dir() {
            let d = File::open(e.path()).map_err(PathIo::at("cannot open", e.path()))?;
            d.sync_all().map_err(PathIo::at("cannot flush", e.path()))?;
        }
    }
    Ok(())
}

pub(crate) use super::swap::Swapper;

#[cfg(test)]
mod write_behind_tests;
