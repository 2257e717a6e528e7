//! Why an export failed, and the exit class and hint each reason gives.

use std::path::PathBuf;

use crate::bundle::parts::PartError;
use crate::bundle::writer::WriteError;
use crate::error::PathIo;
use crate::keys::KeyError;
use crate::manifest::ManifestError;
use crate::source::SourceError;

/// Why export failed. Nothing is left at the output path.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No sources.
    #[error("nothing to export")]
    NoSources,
    /// No signing key.
    #[error("export needs at least one signing key")]
    NoKey,
    /// One key given twice (see [`crate::keys::unlock_each`]).
    #[error("key {0} is given twice; each key signs a bundle once")]
    KeyTwice(crate::keys::KeyId),
    /// An artifact given twice.
    #[error("{0} is given by more than one source")]
    Duplicate(String),
    /// A bad label.
    #[error("label {0:?} is invalid: keys are 1-64 of A-Z a-z 0-9 . _ -, values one line of at most 1024 bytes without control characters")]
    Label(String),
    /// `created` lies in the future.
    #[error("the creation time {0} is in the future")]
    CreatedInFuture(String),
    /// A time read from a source lies in the future.
    #[error("refusing to export: {0}")]
    FromTheFuture(String),
    /// A source was refused.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The manifest could not be built.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Signing failed.
    #[error("cannot sign the manifest")]
    Sign(#[from] KeyError),
    /// The output exists.
    #[error("{} already exists", crate::text::path(.0))]
    Exists(PathBuf),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Writing the parts failed.
    #[error(transparent)]
    Parts(#[from] PartError),
    /// Too little free space for the output.
    #[error("not enough free space on the file system of {}: this bundle needs up to {needed} bytes ({}), {available} bytes ({}) are free", crate::text::path(path), crate::text::bytes(*needed), crate::text::bytes(*available))]
    NoSpace {
        /// The output directory.
        path: PathBuf,
        /// Bytes needed (an upper bound).
        needed: u64,
        /// Bytes free.
        available: u64,
    },
    /// The output folder is missing or cannot be written.
    #[error(transparent)]
    Output(#[from] crate::fsio::preflight::OutputError),
    /// File system trouble around the output.
    #[error(transparent)]
    Io(#[from] PathIo),
    /// `--base` names a bundle that is not proven.
    #[error("the base bundle {} is refused: {}", crate::text::path(.0), crate::error::chain_text(.1))]
    BaseBundle(PathBuf, crate::bundle::reader::BundleError),
    /// `--base` names a bundle that cannot serve as a base.
    #[error("the base bundle is refused: {0}")]
    Base(String),
    /// A delta could not be made.
    #[error("cannot make the delta: {0}")]
    Delta(String),
}

impl crate::error::Classify for ExportError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            ExportError::NoSources
            | ExportError::NoKey
            | ExportError::KeyTwice(_)
            | ExportError::Duplicate(_)
            | ExportError::Label(_)
            | ExportError::CreatedInFuture(_)
            | ExportError::Exists(_) => Usage,
            ExportError::Source(e) => e.class(),
            ExportError::Output(e) => e.class(),
            ExportError::FromTheFuture(_) | ExportError::Base(_) => BadInput,
            ExportError::BaseBundle(_, e) => e.class(),
            ExportError::Delta(_) => HostFailure,
            // An output part that exists is a usage error; anything else
            // while writing parts is the host's (a part file name that
            // cannot be made included).
            ExportError::Parts(PartError::Exists(_)) => Usage,
            ExportError::Parts(_) => HostFailure,
            // A manifest export builds itself and cannot write is not the
            // bundle's fault: there is no bundle yet.
            ExportError::Manifest(_)
            | ExportError::Sign(_)
            | ExportError::Write(_)
            | ExportError::NoSpace { .. }
            | ExportError::Io(_) => HostFailure,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            ExportError::NoSources => Some(Hint::Flag(FlagHint::NameSources)),
            ExportError::CreatedInFuture(_) => Some(Hint::Flag(FlagHint::CreatedSkew {
                skew: crate::policy::human_duration(crate::manifest::MAX_CLOCK_SKEW.whole_seconds() as u64),
            })),
            ExportError::FromTheFuture(_) => Hint::text("a database or registry claiming to come from the future would make every later bundle look like a downgrade on the importing hosts; check this host's clock and the source"),
            ExportError::Exists(_) => Some(Hint::Flag(FlagHint::ReplaceBundle)),
            ExportError::NoSpace { .. } => Hint::text("free some space or write the bundle to another file system; nothing was written"),
            ExportError::Source(e) => e.hint(),
            ExportError::Output(e) => e.hint(),
            ExportError::Manifest(e) => e.hint(),
            ExportError::Sign(e) => e.hint(),
            ExportError::Write(e) => e.hint(),
            ExportError::Parts(e) => e.hint(),
            ExportError::BaseBundle(..) | ExportError::Base(_) => Hint::text("--base takes the full bundle the importing side last imported, signed by a key of --base-key (default: the --sign-key's own); nothing was written"),
            ExportError::KeyTwice(_) => Hint::text(crate::keys::GIVE_EACH_ONCE),
            ExportError::NoKey | ExportError::Duplicate(_) | ExportError::Label(_) | ExportError::Io(_) | ExportError::Delta(_) => None,
        }
    }
}
