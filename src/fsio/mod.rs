//! Small file-system helpers every writer shares: [`atomic`] (a file that
//! appears whole or not at all) and [`lock`] (advisory `flock` locks).

pub mod atomic;
pub mod bounded;
pub mod lock;
pub mod preflight;

pub use atomic::{AtomicFile, CommitError, Replace};

/// `O_*` flags for [`std::os::unix::fs::OpenOptionsExt::custom_flags`].
pub mod open_flags {
    use rustix::fs::OFlags;

    /// Fail (`ELOOP`) rather than follow a symbolic link in the last component.
    pub const NOFOLLOW: i32 = OFlags::NOFOLLOW.bits() as i32;
    /// Fail (`ENOTDIR`) unless it is a directory.
    pub const DIRECTORY: i32 = OFlags::DIRECTORY.bits() as i32;
    /// Do not wait on a FIFO without a writer (or on a device).
    pub const NONBLOCK: i32 = OFlags::NONBLOCK.bits() as i32;
}

/// Whether `e` is the `ELOOP` an [`open_flags::NOFOLLOW`] open of a
/// symbolic link fails with.
pub fn is_symlink_refusal(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}
