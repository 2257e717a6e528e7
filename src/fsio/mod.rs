//! Small file-system helpers every writer shares: [`atomic`] (a file that
//! appears whole or not at all) and [`lock`] (advisory `flock` locks).

pub mod atomic;
pub mod lock;

pub use atomic::{AtomicFile, CommitError, Replace};
