//! Why a bundle was refused, and what may follow its end.

use std::io;

use crate::digest::Sha256Digest;
use crate::manifest::ManifestError;
use crate::policy::PolicyError;

use crate::bundle::{MANIFEST_PATH, MAX_MANIFEST, MAX_SIGNATURES, ZSTD_MAGIC};

/// Why a bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the bundle file itself failed (not the bundle's fault).
    #[error("cannot read the bundle file")]
    Read {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not zstd-compressed.
    #[error("not an airlock bundle: the file does not start with a zstd frame")]
    NotZstd,
    /// The data ended early.
    #[error("the bundle is truncated ({region})")]
    Truncated {
        /// Where it ended.
        region: String,
    },
    /// zstd or tar framing is broken.
    #[error("the bundle is damaged ({region})")]
    Corrupt {
        /// Where.
        region: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The first entry is not the manifest.
    #[error(
        "not a valid airlock bundle: the first entry is {found:?}, expected {MANIFEST_PATH:?}"
    )]
    ManifestNotFirst {
        /// What came first.
        found: String,
    },
    /// The manifest entry is not a regular file of type `0`.
    #[error("not a valid airlock bundle: the manifest entry is of tar type '{}', not a regular file (type '0')", char::from(*.typeflag).escape_default().to_string())]
    ManifestNotAFile {
        /// The entry's typeflag byte.
        typeflag: u8,
    },
    /// The manifest is larger than the limit.
    #[error("the manifest is {size} bytes, more than the {MAX_MANIFEST}-byte limit")]
    ManifestTooLarge {
        /// Its size.
        size: u64,
    },
    /// A signature entry that is too large, misnamed or not parseable.
    #[error("signature entry {entry:?} is invalid: {reason}")]
    BadSignatureEntry {
        /// The entry.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Too many signatures.
    #[error("the bundle carries more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// The signatures do not satisfy the trust policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The (signed) manifest is not valid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An entry that is not the next payload.
    #[error("entry {found:?} is not listed in the manifest (expected {expected:?} next)")]
    UnlistedEntry {
        /// The entry found.
        found: String,
        /// The payload expected.
        expected: String,
    },
    /// A listed payload that is not in the bundle.
    #[error("payload {path} is listed in the manifest but missing from the bundle")]
    MissingPayload {
        /// The payload.
        path: String,
    },
    /// A payload whose tar entry is not a regular file.
    #[error("payload {path} is not a regular file")]
    NotAFile {
        /// The payload.
        path: String,
    },
    /// An entry whose header is not a plain ustar header.
    #[error("entry {path:?} does not have a plain ustar header (magic \"ustar\", version \"00\")")]
    NotUstar {
        /// The entry.
        path: String,
    },
    /// An entry whose size or checksum field is not in the SPEC's form.
    #[error("entry {path:?} has a malformed {field} field (octal digits led by spaces and ended by a NUL or a space, or a base-256 size starting 80 00 00 00)")]
    BadHeaderField {
        /// The entry.
        path: String,
        /// `size` or `checksum`.
        field: &'static str,
    },
    /// The archive does not end as a tar archive must.
    #[error("the bundle's archive does not end properly: {reason}")]
    BadEnd {
        /// Why.
        reason: String,
    },
    /// A payload of the wrong size.
    #[error("payload {path} is {found} bytes, the manifest says {expected}")]
    SizeMismatch {
        /// The payload.
        path: String,
        /// Its size.
        found: u64,
        /// Declared.
        expected: u64,
    },
    /// A payload whose content does not match its digest.
    #[error("payload {path} is damaged or was altered: sha256 {actual}, the signed manifest says {expected}")]
    DigestMismatch {
        /// The payload.
        path: String,
        /// Declared.
        expected: String,
        /// Computed.
        actual: Sha256Digest,
    },
    /// An entry that appears twice.
    #[error("entry {0:?} appears more than once in the bundle")]
    DuplicateEntry(String),
    /// Entries after the last payload.
    #[error("entry {0:?} follows the last listed payload")]
    TrailingEntry(String),
    /// Non-zero data after the end of the tar archive.
    #[error("unexpected data after the end of the archive")]
    TrailingData,
    /// Bytes in the file after the end of the bundle's zstd frame.
    #[error("{} the end of the bundle's zstd stream{}: a bundle ends with its one zstd frame, and nothing may travel after it unsigned", count_bytes(*.count, *.more), kind.describe())]
    TrailingBytes {
        /// How many bytes were counted (at most [`TRAILING_COUNT_MAX`]).
        count: u64,
        /// Whether there may be more than were counted.
        more: bool,
        /// What the first bytes look like.
        kind: TrailingKind,
    },
}

impl crate::error::Classify for BundleError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            BundleError::Read { .. } => HostFailure,
            // Any problem with the signatures themselves.
            BundleError::Policy(e) => e.class(),
            BundleError::BadSignatureEntry { .. } | BundleError::TooManySignatures => NotProven,
            BundleError::Manifest(e) => e.class(),
            BundleError::NotZstd
            | BundleError::Truncated { .. }
            | BundleError::Corrupt { .. }
            | BundleError::ManifestNotFirst { .. }
            | BundleError::ManifestNotAFile { .. }
            | BundleError::ManifestTooLarge { .. }
            | BundleError::UnlistedEntry { .. }
            | BundleError::MissingPayload { .. }
            | BundleError::NotAFile { .. }
            | BundleError::NotUstar { .. }
            | BundleError::BadHeaderField { .. }
            | BundleError::BadEnd { .. }
            | BundleError::SizeMismatch { .. }
            | BundleError::DigestMismatch { .. }
            | BundleError::DuplicateEntry(_)
            | BundleError::TrailingEntry(_)
            | BundleError::TrailingData
            | BundleError::TrailingBytes { .. } => Damaged,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::Hint;
        match self {
            BundleError::Truncated { .. } => Hint::text("copy the bundle again from the original media and compare its size"),
            BundleError::TrailingBytes { .. } => Hint::text("this is not a bundle as airlock writes it; get a fresh copy from the exporting side"),
            BundleError::Policy(e) => e.hint(),
            BundleError::Manifest(e) => e.hint(),
            BundleError::Read { .. }
            | BundleError::NotZstd
            | BundleError::Corrupt { .. }
            | BundleError::ManifestNotFirst { .. }
            | BundleError::ManifestNotAFile { .. }
            | BundleError::ManifestTooLarge { .. }
            | BundleError::BadSignatureEntry { .. }
            | BundleError::TooManySignatures
            | BundleError::UnlistedEntry { .. }
            | BundleError::MissingPayload { .. }
            | BundleError::NotAFile { .. }
            | BundleError::NotUstar { .. }
            | BundleError::BadHeaderField { .. }
            | BundleError::BadEnd { .. }
            | BundleError::SizeMismatch { .. }
            | BundleError::DigestMismatch { .. }
            | BundleError::DuplicateEntry(_)
            | BundleError::TrailingEntry(_)
            | BundleError::TrailingData => None,
        }
    }
}

/// How many bytes after the end of the zstd frame are counted for the
/// message (the rest is not read).
pub const TRAILING_COUNT_MAX: u64 = 1 << 20;

fn count_bytes(count: u64, more: bool) -> String {
    match (count, more) {
        (_, true) => format!("at least {count} bytes follow"),
        (1, false) => "1 byte follows".into(),
        (n, false) => format!("{n} bytes follow"),
    }
}

/// What follows the end of a bundle's zstd frame, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailingKind {
    /// A zstd skippable frame (magic `0x184D2A50`..`0x184D2A5F`).
    SkippableFrame,
    /// Another zstd frame.
    ZstdFrame,
    /// Zero bytes only (as far as they were counted).
    Zeros,
    /// Anything else.
    Other,
}

impl TrailingKind {
    pub(super) fn of(head: &[u8], all_zero: bool) -> TrailingKind {
        if head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18] {
            TrailingKind::SkippableFrame
        } else if head.starts_with(&ZSTD_MAGIC) {
            TrailingKind::ZstdFrame
        } else if all_zero {
            TrailingKind::Zeros
        } else {
            TrailingKind::Other
        }
    }

    fn describe(self) -> &'static str {
        match self {
            TrailingKind::SkippableFrame => " (a zstd skippable frame)",
            TrailingKind::ZstdFrame => " (a second zstd frame)",
            TrailingKind::Zeros => " (zero bytes)",
            TrailingKind::Other => "",
        }
    }
}

/// The error of [`read`]: the bundle's fault, or the visitor's.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    /// The bundle was refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The visitor failed.
    #[error(transparent)]
    Visitor(E),
}

impl<E: crate::error::Classify> crate::error::Classify for ReadError<E> {
    fn class(&self) -> crate::error::ExitClass {
        match self {
            ReadError::Bundle(e) => e.class(),
            ReadError::Visitor(e) => e.class(),
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            ReadError::Bundle(e) => e.hint(),
            ReadError::Visitor(e) => e.hint(),
        }
    }
}
