//! Why a part set was refused.

use std::path::PathBuf;

use crate::error::PathIo;
use crate::keys::KeyError;
use crate::policy::PolicyError;

/// Why a part set was refused.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    /// A part was named but its index is not beside it.
    #[error(
        "{} looks like a part of a split bundle, but its part index {} is missing",
        crate::text::path(part),
        crate::text::path(index)
    )]
    IndexMissing {
        /// The part named.
        part: PathBuf,
        /// Where the index should be.
        index: PathBuf,
    },
    /// The index is unreadable or invalid.
    #[error("the part index {} is invalid: {reason}", crate::text::path(path))]
    BadIndex {
        /// The index.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The index signature is missing or damaged.
    #[error(
        "the part index signature {} is missing or damaged: {reason}",
        crate::text::path(path)
    )]
    BadSignature {
        /// The signature file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The index is not signed by a trusted key.
    #[error("the part index {} is not proven", crate::text::path(path))]
    NotProven {
        /// The index.
        path: PathBuf,
        /// Why.
        #[source]
        source: PolicyError,
    },
    /// A part is missing.
    #[error(
        "part {number} of {count} is missing: {} (expected {size} bytes, sha256 {sha256})",
        crate::text::path(path)
    )]
    Missing {
        /// 1-based.
        number: usize,
        /// How many parts the set has.
        count: usize,
        /// Where it should be.
        path: PathBuf,
        /// Its expected size.
        size: u64,
        /// Its expected SHA-256.
        sha256: String,
    },
    /// Several parts are missing: all of them are named at once, so one
    /// trip to the original media fetches them all (issue 15).
    #[error("{} of {count} are missing: {}", numbers(missing), paths(missing))]
    MissingSeveral {
        /// How many parts the set has.
        count: usize,
        /// Each missing part: its number (1-based) and where it should be.
        missing: Vec<(usize, PathBuf)>,
    },
    /// A part has the wrong size.
    #[error("part {number} of {count}, {}, is {found} bytes but the index says {expected} ({what})", crate::text::path(path), what = if found < expected { "truncated" } else { "too long" })]
    Size {
        /// 1-based.
        number: usize,
        /// How many parts the set has.
        count: usize,
        /// The file.
        path: PathBuf,
        /// Its size.
        found: u64,
        /// The index's.
        expected: u64,
    },
    /// A part's content does not match the index.
    #[error("part {number} of {count}, {}, is corrupt: its sha256 is {found}, the index says {expected}{}", crate::text::path(path), holds.map(|n| format!(" (that is the digest of part {n}: were the files renamed or copied over each other?)")).unwrap_or_default())]
    Digest {
        /// 1-based.
        number: usize,
        /// How many parts the set has.
        count: usize,
        /// The file.
        path: PathBuf,
        /// Its SHA-256.
        found: String,
        /// The index's.
        expected: String,
        /// The part whose digest this file has, if any.
        holds: Option<usize>,
    },
    /// A file named as the next part after the last one the index lists:
    /// `cat B.0* > B` would append it to the bundle.
    #[error("{} is beside a part set whose index lists {}: nothing may follow the last part (`cat` would append it to the bundle)", crate::text::path(path), crate::text::count(*count as u64, "part", "parts"))]
    Extra {
        /// The file.
        path: PathBuf,
        /// How many parts the index lists.
        count: usize,
    },
    /// The joined bytes do not match the index (cannot happen when every
    /// part matched; checked anyway).
    #[error("the joined parts do not match the index: sha256 {found}, expected {expected}")]
    Whole {
        /// Found.
        found: String,
        /// Expected.
        expected: String,
    },
    /// An output file exists.
    #[error("{} already exists", crate::text::path(.0))]
    Exists(PathBuf),
    /// A part size that cannot be used.
    #[error("{0}")]
    BadSize(String),
    /// Signing the index failed.
    #[error("cannot sign the part index")]
    Sign(#[from] KeyError),
    /// File system trouble (not the parts' fault).
    #[error(transparent)]
    Io(#[from] PathIo),
}

/// "parts 2, 4 and 5" (1-based numbers).
fn numbers(missing: &[(usize, PathBuf)]) -> String {
    let n: Vec<String> = missing.iter().map(|(n, _)| n.to_string()).collect();
    match n.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("parts {} and {last}", rest.join(", ")),
        _ => format!("part {}", n.join("")),
    }
}

/// The paths, comma-separated.
fn paths(missing: &[(usize, PathBuf)]) -> String {
    missing
        .iter()
        .map(|(_, p)| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl crate::error::Classify for PartError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // The command asked for an output that exists, or a size that
            // cannot be used.
            PartError::Exists(_) | PartError::BadSize(_) => Usage,
            PartError::Io(_) | PartError::Sign(_) => HostFailure,
            PartError::NotProven { .. } => NotProven,
            PartError::IndexMissing { .. }
            | PartError::BadIndex { .. }
            | PartError::BadSignature { .. }
            | PartError::Missing { .. }
            | PartError::MissingSeveral { .. }
            | PartError::Size { .. }
            | PartError::Digest { .. }
            | PartError::Extra { .. }
            | PartError::Whole { .. } => Damaged,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        use crate::error::{FlagHint, Hint};
        match self {
            PartError::IndexMissing { .. } => Hint::text("copy every file of the set (the .NNN parts, .parts and .parts.minisig) into one directory"),
            PartError::BadSignature { .. } => Hint::text("copy it from the original media (it is written beside the parts)"),
            PartError::Missing { .. } => Hint::text("copy it from the original media into the same directory; nothing was imported"),
            PartError::MissingSeveral { .. } => Hint::text("copy them from the original media into the same directory; nothing was imported"),
            PartError::Size { .. } | PartError::Digest { .. } => Hint::text("copy it again from the original media; nothing was imported"),
            PartError::Extra { .. } => Hint::text("remove it, or copy the set again from the original media; nothing was imported"),
            PartError::Exists(_) => Some(Hint::Flag(FlagHint::ReplaceOutput)),
            PartError::NotProven { source, .. } => source.hint(),
            PartError::Sign(e) => e.hint(),
            PartError::BadIndex { .. } | PartError::Whole { .. } | PartError::BadSize(_) | PartError::Io(_) => None,
        }
    }
}
