//! Writing a file so that its name shows either nothing (or the old file)
//! or the whole new file, never a part: the bundle, its parts and their
//! index, `SHA256SUMS`, a re-signed bundle, a joined bundle, keys, the
//! sequence file, import's state file and receipt.
//!
//! The bytes go to a temporary file beside the target (same directory, so
//! same file system), created with the target's mode, registered and locked
//! through [`crate::cleanup`] (a signal removes it; a later run's sweep
//! removes a dead run's). [`AtomicFile::commit`] flushes it to disk, renames
//! it over the target (or, without overwrite, fails if the target exists:
//! `renameat2(RENAME_NOREPLACE)`, so no check-then-rename race), and flushes
//! the directory so that the rename itself survives a power loss. Dropped
//! without a commit, the temporary file is removed.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::cleanup::TempFile;

/// Whether [`AtomicFile::commit`] may replace an existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace whatever the target names.
    Overwrite,
    /// Fail with [`CommitError::Exists`] if the target exists.
    Never,
}

impl Replace {
    /// [`Replace::Overwrite`] if `force`, else [`Replace::Never`].
    pub fn when(force: bool) -> Self {
        if force {
            Replace::Overwrite
        } else {
            Replace::Never
        }
    }
}

/// The step of [`AtomicFile::commit`] that failed. Callers word each in
/// their own terms; [`CommitError::into_io`] keeps only the cause.
#[derive(Debug)]
pub enum CommitError {
    /// Creating or writing the temporary file ([`write`] only).
    Write(io::Error),
    /// Flushing the temporary file to disk.
    Flush(io::Error),
    /// The target exists and [`Replace::Never`] was asked for (the cause
    /// is the system's `EEXIST`).
    Exists(io::Error),
    /// Renaming it to the target.
    Rename(io::Error),
}

impl crate::error::Classify for CommitError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // An output that exists is the command's to change.
            CommitError::Exists(_) => Usage,
            CommitError::Write(_) | CommitError::Flush(_) | CommitError::Rename(_) => HostFailure,
        }
    }
}

impl CommitError {
    /// The underlying system error.
    pub fn into_io(self) -> io::Error {
        match self {
            CommitError::Write(e)
            | CommitError::Flush(e)
            | CommitError::Exists(e)
            | CommitError::Rename(e) => e,
        }
    }
}

/// A temporary file that becomes `target` on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    tmp: TempFile,
    target: PathBuf,
    synced: bool,
}

/// The directory a path's file lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl AtomicFile {
    /// Creates `<prefix>XXXXXX<suffix>` beside `target` with permissions
    /// `mode` (exactly; the umask does not apply).
    pub fn create(target: &Path, prefix: &str, suffix: &str, mode: u32) -> io::Result<Self> {
        let tmp = crate::cleanup::temp_file(&parent_dir(target), prefix, suffix)?;
        tmp.as_file()
            .set_permissions(Permissions::from_mode(mode))?;
        Ok(AtomicFile {
            tmp,
            target: target.to_path_buf(),
            synced: false,
        })
    }

    /// The open temporary file.
    pub fn as_file(&self) -> &File {
        self.tmp.as_file()
    }

    /// The open temporary file, mutably.
    pub fn as_file_mut(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Where it will go.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes what was written to disk now (for a caller that reports a
    /// failure here in its own words); [`AtomicFile::commit`] then does not
    /// flush again.
    pub fn sync(&mut self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        self.synced = true;
        Ok(())
    }

    /// Flushes the file (unless [`AtomicFile::sync`] did), renames it to
    /// the target as `replace` allows, and flushes the directory.
    pub fn commit(mut self, replace: Replace) -> Result<(), CommitError> {
        if !self.synced {
            self.sync().map_err(CommitError::Flush)?;
        }
        commit_temp(self.tmp, &self.target, replace)
    }
}

/// Renames `tmp` (already flushed) to `target` as `replace` allows, then
/// flushes the directory (best effort: the file is in place either way).
/// For a temporary file made before its name was known (a part of a split
/// bundle).
pub fn commit_temp(tmp: TempFile, target: &Path, replace: Replace) -> Result<(), CommitError> {
    let renamed = match replace {
        Replace::Overwrite => tmp.persist(target),
        Replace::Never => tmp.persist_noclobber(target),
    };
    renamed.map_err(|e| match e.error.kind() {
        io::ErrorKind::AlreadyExists if replace == Replace::Never => CommitError::Exists(e.error),
        _ => CommitError::Rename(e.error),
    })?;
    if let Ok(dir) = File::open(parent_dir(target)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Writes `bytes` to `target` through an [`AtomicFile`] (for small documents).
pub fn write(
    target: &Path,
    prefix: &str,
    bytes: &[u8],
    mode: u32,
    replace: Replace,
) -> Result<(), CommitError> {
    let mut f = AtomicFile::create(target, prefix, ".partial", mode).map_err(CommitError::Write)?;
    f.write_all(bytes).map_err(CommitError::Write)?;
    f.commit(replace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_committed_file_has_its_bytes_and_mode_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let mut f = AtomicFile::create(&target, ".airlock-test-", ".partial", 0o640).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!target.exists(), "nothing at the target before the commit");
        f.commit(Replace::Never).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o640);
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn without_overwrite_an_existing_target_is_kept_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        std::fs::write(&target, b"old").unwrap();
        let e = write(&target, ".airlock-test-", b"new", 0o644, Replace::Never).unwrap_err();
        assert!(matches!(e, CommitError::Exists(_)), "{e:?}");
        assert_eq!(e.into_io().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["out"]);
        write(&target, ".airlock-test-", b"new", 0o644, Replace::Overwrite).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn a_file_dropped_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let mut f = AtomicFile::create(&target, ".airlock-test-", ".partial", 0o600).unwrap();
        f.write_all(b"half").unwrap();
        drop(f);
        assert!(names(dir.path()).is_empty());
    }
}
