//! VEX repositories (vex-repo-spec 0.1): `vex-repository.json` and the
//! archive its location names.
//!
//! Trivy downloads the location URL with go-getter, whose `//<dir>` suffix
//! names the folder inside the archive to use; `index.json` sits at the root
//! of that folder and lists the VEX documents by path. A location without the
//! suffix for an archive that has a top folder downloads "successfully" and
//! is then ignored by Trivy, so airlock always records the folder and writes
//! the suffix back when it publishes a location.

use std::io;

use crate::unpack::UnpackError;

mod archive;
mod file_set;
mod index;
mod repo_manifest;
#[cfg(test)]
mod tests;

pub use crate::manifest::ArchiveFormat;
pub use archive::{scan_archive, VexContents};
pub use repo_manifest::{parse_manifest, rewrite_location, split_location, RepoManifest};

/// Where Trivy's cache keeps VEX repositories (one directory per name).
pub const CACHE_DIR: &str = "vex/repositories";
/// The only spec version Trivy 0.76 reads.
pub const SPEC_VERSION: &str = "0.1";
/// The largest vex-repository.json accepted.
pub const MAX_MANIFEST: u64 = 1 << 20;
/// The most JSON values vex-repository.json may hold (VEX Hub's, about ten):
/// import rewrites its location through a `serde_json::Value` tree of the
/// whole document, at up to ~700 bytes a value, so 1 MiB of `{"a":0}`
/// objects would otherwise take 100 MB.
pub const MAX_MANIFEST_VALUES: u64 = 10_000;
/// The largest index.json accepted (it is never held in memory: see
/// [`scan_archive`]).
pub const MAX_INDEX: u64 = 256 << 20;
/// The longest string anywhere in index.json (keys, ids, locations, fields
/// airlock skips), in bytes as written.
pub const MAX_INDEX_STRING: usize = 64 << 10;
/// The largest VEX archive downloaded from a server (VEX Hub's is a few
/// MB); a `Content-Length` above it is refused before anything is written.
pub const MAX_DOWNLOAD: u64 = 1 << 30;
/// The largest file under a VEX archive's folder other than index.json
/// (which has [`MAX_INDEX`]): a VEX document is a few KB.
pub const MAX_FILE: u64 = 64 << 20;
/// How much a VEX archive may expand: the data of all its entries at most
/// this many times the archive's own size, plus [`MAX_INDEX`] for
/// index.json (whose repetitive JSON compresses far better). Checked at
/// export and again at verify and import, whatever the signed totals say.
pub const MAX_RATIO: u64 = 200;

/// The most data (uncompressed, all entries) a VEX archive of `compressed`
/// bytes may hold: see [`MAX_RATIO`].
pub fn max_expansion(compressed: u64) -> u64 {
    compressed
        .saturating_mul(MAX_RATIO)
        .saturating_add(MAX_INDEX)
}

/// The most entries a VEX archive may have, of any kind, kept or not (VEX
/// Hub's archive has about 120). What is kept per entry while the archive
/// is walked is bounded, but not small: the zip library holds each name of
/// the central directory three times (up to 1 KiB each), so this keeps a
/// signed archive of long names within the 64 MiB budget.
pub const MAX_ARCHIVE_ENTRIES: u64 = 10_000;

/// Why a VEX repository was refused.
#[derive(Debug, thiserror::Error)]
pub enum VexError {
    /// vex-repository.json is not what the spec describes.
    #[error("vex-repository.json is not valid: {0}")]
    Manifest(String),
    /// No `spec_version` 0.1 entry.
    #[error("vex-repository.json offers no spec_version \"0.1\" (found {found:?}); Trivy 0.76 reads only 0.1")]
    NoSpecVersion {
        /// The versions offered.
        found: Vec<String>,
    },
    /// The location's `//` folder is unsafe.
    #[error("vex-repository.json location {url:?} names an unsafe folder inside the archive")]
    UnsafeLocation {
        /// The URL, redacted ([`crate::redact::url`]).
        url: String,
    },
    /// More entries than [`MAX_ARCHIVE_ENTRIES`].
    #[error("the VEX archive has more than {limit} entries, the most airlock accepts in a VEX repository (a bound on memory; VEX Hub has about 120)")]
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// A file larger than [`MAX_FILE`].
    #[error("the VEX archive's file {path:?} is {size} bytes, more than the {limit} airlock accepts for one VEX document")]
    FileTooLarge {
        /// The file, relative to the folder.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More data than [`max_expansion`] allows.
    #[error("the VEX archive ({compressed} bytes) expands to more than {limit} bytes, more than {MAX_RATIO} times its size plus {MAX_INDEX} for index.json (a decompression bomb)")]
    Expansion {
        /// The archive's size.
        compressed: u64,
        /// The limit.
        limit: u64,
    },
    /// Neither zip nor gzip.
    #[error("the VEX archive is neither a zip nor a gzip-compressed tar")]
    UnknownArchive,
    /// The archive was refused.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// No index.json where the location points.
    #[error("the VEX archive has no {path}")]
    MissingIndex {
        /// Where it was looked for.
        path: String,
    },
    /// index.json is not valid.
    #[error("{path} is not a valid VEX index: {reason}")]
    Index {
        /// Its path in the archive.
        path: String,
        /// Why.
        reason: String,
    },
    /// index.json names a document the archive lacks.
    #[error("index.json lists {location:?} for {id:?}, but the archive has no such file")]
    MissingDocument {
        /// The package id.
        id: String,
        /// The location.
        location: String,
    },
    /// Reading the archive file failed.
    #[error("cannot read the VEX archive")]
    Io(#[source] io::Error),
}

impl crate::error::Classify for VexError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            VexError::Unpack(e) => e.class(),
            VexError::Io(_) => HostFailure,
            VexError::Manifest(_)
            | VexError::NoSpecVersion { .. }
            | VexError::UnsafeLocation { .. }
            | VexError::TooManyEntries { .. }
            | VexError::FileTooLarge { .. }
            | VexError::Expansion { .. }
            | VexError::UnknownArchive
            | VexError::MissingIndex { .. }
            | VexError::Index { .. }
            | VexError::MissingDocument { .. } => Damaged,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            VexError::Unpack(e) => e.hint(),
            VexError::MissingIndex { .. } => crate::error::Hint::text("the location URL in vex-repository.json must end with //<folder> naming the folder that holds index.json"),
            VexError::Io(_)
            | VexError::Manifest(_)
            | VexError::NoSpecVersion { .. }
            | VexError::UnsafeLocation { .. }
            | VexError::TooManyEntries { .. }
            | VexError::FileTooLarge { .. }
            | VexError::Expansion { .. }
            | VexError::UnknownArchive
            | VexError::Index { .. }
            | VexError::MissingDocument { .. } => None,
        }
    }
}
