//! Cheap checks of where a command will write, made before anything
//! expensive (unlocking a key costs seconds and a GiB of memory, reading a
//! bundle minutes) or anything written: the output folder exists, is a folder
//! and is writable, the output files do not exist (unless forced), and the
//! file system has the room an estimate says (issue 15, item 7).
//!
//! These are early answers, not guarantees: the writers still create their
//! files exclusively and re-check free space with the real sizes.

use std::io;
use std::path::PathBuf;

use crate::error::{Classify, ExitClass, Hint};

/// Why an output cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The folder the output goes into does not exist.
    #[error("the output folder {} does not exist", crate::text::path(.0))]
    NoFolder(PathBuf),
    /// Something that is not a folder stands where the folder should be.
    #[error("the output folder {} is not a folder", crate::text::path(.0))]
    NotAFolder(PathBuf),
    /// The folder cannot be written by this user (or is read-only).
    #[error("cannot write in the output folder {}", crate::text::path(path))]
    NotWritable {
        /// The folder.
        path: PathBuf,
        /// What `access(W_OK)` said.
        source: io::Error,
    },
    /// An output file exists.
    #[error("{} already exists", crate::text::path(.0))]
    Exists(PathBuf),
    /// Too little free space for the estimate.
    #[error("not enough free space on the file system of {}: the output needs about {needed} bytes ({}), {available} bytes ({}) are free", crate::text::path(path), crate::text::bytes(*needed), crate::text::bytes(*available))]
    NoSpace {
        /// The output folder.
        path: PathBuf,
        /// Bytes needed (an estimate).
        needed: u64,
        /// Bytes free.
        available: u64,
    },
}

impl Classify for OutputError {
    fn class(&self) -> ExitClass {
        match self {
            OutputError::NoFolder(_) | OutputError::NotAFolder(_) | OutputError::Exists(_) => {
                ExitClass::Usage
            }
            OutputError::NotWritable { .. } | OutputError::NoSpace { .. } => ExitClass::HostFailure,
        }
    }

    fn hint(&self) -> Option<Hint> {
        match self {
            OutputError::NoFolder(p) => Hint::text(match crate::text::shell_word_posix(p) {
                Some(p) => format!(
                    "create it first (mkdir -p {p}) or write elsewhere; nothing was read or written"
                ),
                None => "create it first or write elsewhere; nothing was read or written".into(),
            }),
            OutputError::NotAFolder(_) | OutputError::NotWritable { .. } => {
                Hint::text("write elsewhere; nothing was read or written")
            }
            OutputError::Exists(_) => Some(Hint::Flag(crate::error::FlagHint::ReplaceOutput)),
            OutputError::NoSpace { .. } => Hint::text(
                "free some space or write to another file system; nothing was read or written",
            ),
        }
    }
}

/// Checks the folder of `files[0]` (all of `files` share it), that none of
/// `files` exists unless `force`, and, with `needed`, that the file system
/// has that many bytes free.
///
/// # Errors
/// The first problem found, in that order.
pub fn check_outputs(
    files: &[PathBuf],
    force: bool,
    needed: Option<u64>,
) -> Result<(), OutputError> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    let dir = crate::fsio::atomic::parent_dir(first);
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(OutputError::NotAFolder(dir)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(OutputError::NoFolder(dir)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
            return Err(OutputError::NoFolder(dir))
        }
        Err(source) => return Err(OutputError::NotWritable { path: dir, source }),
    }
    if let Err(e) = rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK) {
        return Err(OutputError::NotWritable {
            path: dir,
            source: e.into(),
        });
    }
    if !force {
        if let Some(f) = files.iter().find(|f| f.symlink_metadata().is_ok()) {
            return Err(OutputError::Exists(f.clone()));
        }
    }
    if let Some(needed) = needed {
        // A file system that cannot say is not refused here.
        if let Ok((_, available)) = crate::disk::free_space(&dir) {
            if needed > available {
                return Err(OutputError::NoSpace {
                    path: dir,
                    needed,
                    available,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_problem_is_found_in_order() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("no/x.airlock");
        assert!(matches!(
            check_outputs(&[missing], false, None),
            Err(OutputError::NoFolder(p)) if p == t.path().join("no")
        ));
        let file = t.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert!(matches!(
            check_outputs(&[file.join("x")], false, None),
            Err(OutputError::NotAFolder(p)) if p == file
        ));
        let out = t.path().join("b.airlock");
        let sums = t.path().join("b.airlock.sha256sums");
        std::fs::write(&sums, b"").unwrap();
        assert!(matches!(
            check_outputs(&[out.clone(), sums.clone()], false, None),
            Err(OutputError::Exists(p)) if p == sums
        ));
        assert!(check_outputs(&[out.clone(), sums.clone()], true, None).is_ok());
        assert!(matches!(
            check_outputs(&[out], true, Some(u64::MAX)),
            Err(OutputError::NoSpace {
                needed: u64::MAX,
                ..
            })
        ));
    }
}
