//! The delta codec's errors.

use crate::error::{Classify, ExitClass, PathIo};

/// Why a delta could not be written or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// A file could not be opened, read or written.
    #[error(transparent)]
    Io(#[from] PathIo),
    /// The output could not be written.
    #[error("cannot write the delta output")]
    Write(#[source] std::io::Error),
    /// The base could not be read (it shrank while in use, or a read
    /// failed): the host's state, not the delta's.
    #[error("cannot read the base: {0}")]
    Base(String),
    /// The delta could not be read (not its end: see `Truncated`).
    #[error("cannot read the delta")]
    Read(#[source] std::io::Error),
    /// The delta ends before its last frame does.
    #[error("the delta ends early: {0}")]
    Truncated(&'static str),
    /// The delta is not one (its magic is wrong).
    #[error("not an airlock delta (magic {0})")]
    Magic(String),
    /// The delta was made against a base of another length.
    #[error("the delta's base is {expected} bytes; this base is {actual} bytes")]
    BaseLength {
        /// What the delta says.
        expected: u64,
        /// The base file given.
        actual: u64,
    },
    /// The delta rebuilds a file of another length than the manifest says.
    #[error("the delta rebuilds {actual} bytes; the manifest says {expected}")]
    ResultLength {
        /// The signed length.
        expected: u64,
        /// What the delta's header or frames say.
        actual: u64,
    },
    /// A field of the delta is out of its bounds.
    #[error("delta frame {frame}: {what}")]
    Bounds {
        /// The frame (0 for the header).
        frame: u64,
        /// What is wrong, with the figures.
        what: String,
    },
    /// zstd refused a frame (corrupt, or decoding to another size).
    #[error("delta frame {frame}: zstd: {what}")]
    Zstd {
        /// The frame.
        frame: u64,
        /// zstd's error name.
        what: &'static str,
    },
    /// Bytes follow the last frame.
    #[error("the delta has bytes after its last frame")]
    Trailing,
    /// A file is too large for this host's address space.
    #[error("{0} bytes do not fit this host's address space")]
    TooLarge(u64),
}

impl Classify for DeltaError {
    fn class(&self) -> ExitClass {
        match self {
            DeltaError::Io(e) => e.class(),
            DeltaError::Write(_)
            | DeltaError::Read(_)
            | DeltaError::Base(_)
            | DeltaError::TooLarge(_) => ExitClass::HostFailure,
            // The caller checked the base's length against the signed one
            // before apply runs (and tells a base that changed since
            // apart): a header stating another is the delta's damage.
            DeltaError::BaseLength { .. } => ExitClass::Damaged,
            DeltaError::Truncated(_)
            | DeltaError::Magic(_)
            | DeltaError::ResultLength { .. }
            | DeltaError::Bounds { .. }
            | DeltaError::Zstd { .. }
            | DeltaError::Trailing => ExitClass::Damaged,
        }
    }
}
