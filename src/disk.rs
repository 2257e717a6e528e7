//! Free space and free inodes on a file system, for the pre-flight checks
//! of export and import.

use std::io;
use std::path::Path;

/// What is free on a file system, for this (unprivileged) user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Free {
    /// Its device number (directories on one file system share it).
    pub dev: u64,
    /// Bytes available.
    pub bytes: u64,
    /// Inodes available (`f_favail`), or `None` when the file system has no
    /// fixed number of them (it reports 0 in all, as btrfs does).
    pub inodes: Option<u64>,
}

/// What is free on the file system of `dir`.
pub fn free(dir: &Path) -> io::Result<Free> {
    use std::os::unix::fs::MetadataExt as _;
    let dev = std::fs::metadata(dir)?.dev();
    let st = rustix::fs::statvfs(dir)?;
    Ok(Free {
        dev,
        bytes: st.f_bavail.saturating_mul(st.f_frsize),
        inodes: (st.f_files != 0).then_some(st.f_favail),
    })
}

/// The file system of `dir`: its device number and the bytes available to
/// this (unprivileged) user.
pub fn free_space(dir: &Path) -> io::Result<(u64, u64)> {
    free(dir).map(|f| (f.dev, f.bytes))
}
