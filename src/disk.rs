//! Free space and free inodes on a file system, for the pre-flight checks
//! of export and import.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
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
    let c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let (files, favail) = (st.f_files as u64, st.f_favail as u64);
    Ok(Free {
        dev,
        bytes: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        inodes: (files != 0).then_some(favail),
    })
}

/// The file system of `dir`: its device number and the bytes available to
/// this (unprivileged) user.
pub fn free_space(dir: &Path) -> io::Result<(u64, u64)> {
    free(dir).map(|f| (f.dev, f.bytes))
}
