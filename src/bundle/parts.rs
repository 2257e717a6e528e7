//! Split bundles: a bundle cut into parts of at most a given size (FAT32
//! sticks, DVDs, Blu-ray discs), described by a signed part index.
//!
//! For a bundle `B` the parts are `B.001`, `B.002`, ... (each a plain byte
//! range of `B`, so `cat B.0* > B` joins them), `B.parts` is the index (TOML:
//! the whole bundle's size and SHA-256, its manifest's SHA-256, and each
//! part's name, size and SHA-256), and `B.parts.minisig` is a minisign
//! signature of the index. Every part can thus be checked on its own, in any
//! order, before anything is joined ([`PartSet::check_part`]), and
//! [`PartsReader`] reads the parts as one stream without writing a joined
//! copy, checking each part's digest the moment its last byte is read.
//! Nothing here ever modifies or deletes a part.
//!
//! Nothing may follow the bundle: a part longer than the index says is
//! refused, as is a file named as the part after the last one, and the
//! joined stream goes through the bundle reader, which refuses any byte
//! after the bundle's zstd frame (so an index signed over a bundle with
//! bytes appended does not help).
//!
//! The index signature only names the parts; whether the bundle is trusted
//! is still decided by the signatures inside it.

mod check;
pub use check::{PartCheck, PartsCheck};

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::cleanup::TempFile;
use crate::error::PathIo;
use crate::fsio::atomic::{self, AtomicFile, CommitError, Replace};
use crate::keys::{KeyError, SecretKey, Signature};
use crate::policy::{PolicyError, SignerReport, TrustPolicy};

/// The index's file name suffix (`B.parts`).
pub const INDEX_SUFFIX: &str = ".parts";
/// The index signature's suffix (`B.parts.minisig`).
pub const SIGNATURE_SUFFIX: &str = ".parts.minisig";
/// `format` in the index.
pub const INDEX_FORMAT: &str = "airlock-parts";
/// `format_version` in the index.
pub const INDEX_VERSION: &str = "1.0";
/// The largest index accepted.
pub const MAX_INDEX: u64 = 1 << 20;
/// The most parts a set may have.
pub const MAX_PARTS: usize = 9999;
/// The smallest part size accepted.
pub const MIN_PART_SIZE: u64 = 64 << 10;

/// The signed description of a split bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartIndex {
    /// Always [`INDEX_FORMAT`].
    pub format: String,
    /// [`INDEX_VERSION`].
    pub format_version: String,
    /// The file name of the whole bundle (parts are `<bundle>.NNN`).
    pub bundle: String,
    /// The whole bundle's size.
    pub size: u64,
    /// The whole bundle's SHA-256.
    pub sha256: String,
    /// SHA-256 of the signed manifest inside the bundle.
    pub manifest_sha256: String,
    /// The parts, in order.
    #[serde(rename = "part")]
    pub parts: Vec<PartEntry>,
}

/// One part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartEntry {
    /// Its file name, `<bundle>.NNN`.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
}

/// Why a part set was refused.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    /// A part was named but its index is not beside it.
    #[error("{} looks like a part of a split bundle, but its part index {} is missing", part.display(), index.display())]
    IndexMissing {
        /// The part named.
        part: PathBuf,
        /// Where the index should be.
        index: PathBuf,
    },
    /// The index is unreadable or invalid.
    #[error("the part index {} is invalid: {reason}", path.display())]
    BadIndex {
        /// The index.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The index signature is missing or damaged.
    #[error("the part index signature {} is missing or damaged: {reason}", path.display())]
    BadSignature {
        /// The signature file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The index is not signed by a trusted key.
    #[error("the part index {} is not proven", path.display())]
    NotProven {
        /// The index.
        path: PathBuf,
        /// Why.
        #[source]
        source: PolicyError,
    },
    /// A part is missing.
    #[error("part {number} of {count} is missing: {} (expected {size} bytes, sha256 {sha256})", path.display())]
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
    /// A part has the wrong size.
    #[error("part {number} of {count}, {}, is {found} bytes but the index says {expected} ({what})", path.display(), what = if found < expected { "truncated" } else { "too long" })]
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
    #[error("part {number} of {count}, {}, is corrupt: its sha256 is {found}, the index says {expected}{}", path.display(), holds.map(|n| format!(" (that is the digest of part {n}: were the files renamed or copied over each other?)")).unwrap_or_default())]
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
    #[error("{} is beside a part set whose index lists {count} parts: nothing may follow the last part (`cat` would append it to the bundle)", path.display())]
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
    #[error("{} already exists", .0.display())]
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
            PartError::Size { .. } | PartError::Digest { .. } => Hint::text("copy it again from the original media; nothing was imported"),
            PartError::Extra { .. } => Hint::text("remove it, or copy the set again from the original media; nothing was imported"),
            PartError::Exists(_) => Some(Hint::Flag(FlagHint::ReplaceOutput)),
            PartError::NotProven { source, .. } => source.hint(),
            PartError::Sign(e) => e.hint(),
            PartError::BadIndex { .. } | PartError::Whole { .. } | PartError::BadSize(_) | PartError::Io(_) => None,
        }
    }
}

/// Parses a part size: bytes, with a unit (`K`, `M`, `G`, `T` and `KiB`...
/// are powers of 1024; `KB`, `MB`, `GB`, `TB` powers of 1000), or a preset
/// for common media (see [`PRESETS`]).
pub fn parse_size(text: &str) -> Result<u64, PartError> {
    let t = text.trim();
    if let Some((_, size, _)) = PRESETS.iter().find(|(n, ..)| n.eq_ignore_ascii_case(t)) {
        return Ok(*size);
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let bad = || {
        PartError::BadSize(format!(
            "{text:?} is not a size: give bytes with an optional unit (700M, 4G, 4GB, 1MiB) or one of {}",
            PRESETS.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(", ")
        ))
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        "G" | "GIB" => 1 << 30,
        "T" | "TIB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    let size = n.checked_mul(mult).ok_or_else(bad)?;
    if size < MIN_PART_SIZE {
        return Err(PartError::BadSize(format!(
            "{text:?} is smaller than the smallest part size, {MIN_PART_SIZE} bytes"
        )));
    }
    Ok(size)
}

/// Part-size presets: name, bytes, what it is for.
pub const PRESETS: &[(&str, u64, &str)] = &[
    (
        "fat32",
        (4 << 30) - 1,
        "the largest file FAT32 can hold (4 GiB - 1 byte)",
    ),
    ("cd", 700 << 20, "a 700 MB CD-R (700 MiB)"),
    ("dvd", 4_700_000_000, "a single-layer DVD±R (4.7 GB)"),
    ("dvd-dl", 8_500_000_000, "a dual-layer DVD±R (8.5 GB)"),
    (
        "bd25",
        25_000_000_000,
        "a single-layer Blu-ray disc (25 GB)",
    ),
    ("bd50", 50_000_000_000, "a dual-layer Blu-ray disc (50 GB)"),
];

/// The name of part `number` (1-based) of `bundle`.
pub fn part_name(bundle: &str, number: usize) -> String {
    format!("{bundle}.{number:03}")
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// If `path` names a split bundle (its index, one of its parts, or the
/// bundle's own name when only the parts exist), the path of its index.
/// `Ok(None)`: a plain bundle file.
pub fn locate(path: &Path) -> Result<Option<PathBuf>, PartError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(INDEX_SUFFIX) {
        return Ok(Some(path.to_path_buf()));
    }
    if let Some((stem, number)) = name.rsplit_once('.') {
        if number.len() >= 3 && number.bytes().all(|b| b.is_ascii_digit()) {
            let index = path.with_file_name(format!("{stem}{INDEX_SUFFIX}"));
            if index.exists() {
                return Ok(Some(index));
            }
            if !path.with_file_name(stem).exists() {
                return Err(PartError::IndexMissing {
                    part: path.to_path_buf(),
                    index,
                });
            }
        }
    }
    if !path.exists() {
        let index = with_suffix(path, INDEX_SUFFIX);
        if index.exists() {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// A part set on disk: its index (read, and checked against a policy or
/// not) and the directory holding the parts.
#[derive(Debug)]
pub struct PartSet {
    /// The index file.
    pub index_path: PathBuf,
    /// The directory of the parts.
    pub dir: PathBuf,
    /// The index.
    pub index: PartIndex,
    /// How the index signature was judged (`None`: not checked).
    pub signers: Option<Vec<SignerReport>>,
}

impl PartSet {
    /// Reads the index at `index_path`; with a policy, checks its signature
    /// before parsing it.
    pub fn open(index_path: &Path, policy: Option<&TrustPolicy>) -> Result<PartSet, PartError> {
        let bytes = read_capped(index_path, MAX_INDEX)?;
        let signers = match policy {
            Some(policy) => {
                let sig_path = signature_path(index_path);
                let text = read_capped(&sig_path, 4096).map_err(|e| match e {
                    PartError::Io(PathIo { source, .. }) => PartError::BadSignature {
                        path: sig_path.clone(),
                        reason: source.to_string(),
                    },
                    e => e,
                })?;
                let sig = std::str::from_utf8(&text)
                    .map_err(|_| "not UTF-8".to_string())
                    .and_then(|t| Signature::from_text(t).map_err(|e| e.to_string()))
                    .map_err(|reason| PartError::BadSignature {
                        path: sig_path.clone(),
                        reason,
                    })?;
                // One signature names the parts; the threshold applies to
                // the bundle's own signatures.
                Some(
                    policy
                        .any_trusted()
                        .evaluate(&bytes, &[sig])
                        .map_err(|source| PartError::NotProven {
                            path: index_path.to_path_buf(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        let bad = |reason: String| PartError::BadIndex {
            path: index_path.to_path_buf(),
            reason,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".into()))?;
        let index: PartIndex = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        index.validate().map_err(bad)?;
        let dir = index_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(PartSet {
            index_path: index_path.to_path_buf(),
            dir,
            index,
            signers,
        })
    }

    /// The path of part `number` (1-based).
    pub fn part_path(&self, number: usize) -> PathBuf {
        self.dir.join(&self.index.parts[number - 1].name)
    }

    /// Checks that every part is present with exactly its size (a part
    /// with bytes appended is refused as too long), and that no part follows
    /// the last one (cheap: no reading).
    pub fn check_present(&self) -> Result<(), PartError> {
        let count = self.index.parts.len();
        for n in 1..=count {
            self.check_size(n)?;
        }
        let next = self.dir.join(part_name(&self.index.bundle, count + 1));
        if std::fs::symlink_metadata(&next).is_ok() {
            return Err(PartError::Extra { path: next, count });
        }
        Ok(())
    }

    fn check_size(&self, number: usize) -> Result<(), PartError> {
        let e = &self.index.parts[number - 1];
        let path = self.part_path(number);
        let count = self.index.parts.len();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() == e.size => Ok(()),
            Ok(m) if m.is_file() => Err(PartError::Size {
                number,
                count,
                path,
                found: m.len(),
                expected: e.size,
            }),
            Ok(_) => Err(PartError::BadIndex {
                path: self.index_path.clone(),
                reason: format!("{} is not a regular file", path.display()),
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(PartError::Missing {
                number,
                count,
                path,
                size: e.size,
                sha256: e.sha256.clone(),
            }),
            Err(err) => Err(PathIo::new("cannot examine", &path, err).into()),
        }
    }

    /// Checks one part on its own: size, then every byte against the index.
    pub fn check_part(&self, number: usize) -> Result<(), PartError> {
        self.check_size(number)?;
        let path = self.part_path(number);
        let f = File::open(&path).map_err(PathIo::at("cannot open", &path))?;
        let mut h = crate::digest::HashingReader::new(BufReader::with_capacity(1 << 20, f));
        io::copy(&mut h, &mut io::sink()).map_err(PathIo::at("cannot read", &path))?;
        let (digest, ..) = h.finish();
        self.compare(number, &digest.hex())
    }

    /// The part number a file name has in this set, if any.
    pub fn number_of(&self, file_name: &str) -> Option<usize> {
        self.index
            .parts
            .iter()
            .position(|p| p.name == file_name)
            .map(|i| i + 1)
    }

    fn compare(&self, number: usize, found: &str) -> Result<(), PartError> {
        let e = &self.index.parts[number - 1];
        if e.sha256 == found {
            return Ok(());
        }
        Err(PartError::Digest {
            number,
            count: self.index.parts.len(),
            path: self.part_path(number),
            found: found.to_string(),
            expected: e.sha256.clone(),
            holds: self
                .index
                .parts
                .iter()
                .position(|p| p.sha256 == found)
                .map(|i| i + 1),
        })
    }

    /// A reader over all the parts in order (after [`check_present`]).
    ///
    /// [`check_present`]: PartSet::check_present
    pub fn reader(&self) -> PartsReader<'_> {
        PartsReader {
            set: self,
            number: 0,
            file: None,
            left: 0,
            hasher: Sha256::new(),
            whole: Sha256::new(),
            failure: None,
            done: false,
            on_part: None,
        }
    }
}

/// `B.parts` for the bundle `B`.
pub fn index_path(bundle: &Path) -> PathBuf {
    with_suffix(bundle, INDEX_SUFFIX)
}

/// `B.parts.minisig` for `B.parts`.
pub fn signature_path(index_path: &Path) -> PathBuf {
    with_suffix(index_path, ".minisig")
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, PartError> {
    let f = File::open(path).map_err(PathIo::at("cannot open", path))?;
    let mut bytes = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(PathIo::at("cannot read", path))?;
    if bytes.len() as u64 > max {
        return Err(PartError::BadIndex {
            path: path.to_path_buf(),
            reason: format!("larger than {max} bytes"),
        });
    }
    Ok(bytes)
}

impl PartIndex {
    /// Checks the index's own consistency (names, sizes, digests).
    pub fn validate(&self) -> Result<(), String> {
        if self.format != INDEX_FORMAT {
            return Err(format!("format is {:?}, not {INDEX_FORMAT:?}", self.format));
        }
        if self.format_version.split('.').next() != INDEX_VERSION.split('.').next() {
            return Err(format!(
                "format_version {:?} is not one this airlock reads ({INDEX_VERSION})",
                self.format_version
            ));
        }
        crate::manifest::check_plain_name(&self.bundle).map_err(|e| format!("bundle name: {e}"))?;
        if self.parts.is_empty() || self.parts.len() > MAX_PARTS {
            return Err(format!(
                "{} parts (1 to {MAX_PARTS} allowed)",
                self.parts.len()
            ));
        }
        for d in std::iter::once(&self.sha256)
            .chain(std::iter::once(&self.manifest_sha256))
            .chain(self.parts.iter().map(|p| &p.sha256))
        {
            if d.len() != 64 || !d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(format!("{d:?} is not a sha256 (64 lowercase hex digits)"));
            }
        }
        let mut total = 0u64;
        for (i, p) in self.parts.iter().enumerate() {
            let want = part_name(&self.bundle, i + 1);
            if p.name != want {
                return Err(format!(
                    "part {} is named {:?}, not {want:?}",
                    i + 1,
                    p.name
                ));
            }
            if p.size == 0 {
                return Err(format!("part {} is empty", i + 1));
            }
            total = total
                .checked_add(p.size)
                .ok_or_else(|| "part sizes overflow".to_string())?;
        }
        if total != self.size {
            return Err(format!(
                "the parts add up to {total} bytes, the bundle is {}",
                self.size
            ));
        }
        Ok(())
    }

    /// The index as written (TOML).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the part index serializes")
    }
}

/// Called with (part number, file name) when a part starts being read.
type PartCallback<'a> = Box<dyn FnMut(usize, &str) + 'a>;

/// Reads a part set as one stream. Each part's SHA-256 is compared when its
/// last byte has been read, before that byte is returned; a mismatch is an
/// error of kind `InvalidData` and is kept ([`PartsReader::failure`]).
pub struct PartsReader<'a> {
    set: &'a PartSet,
    /// The part being read (1-based; 0 before the first).
    number: usize,
    file: Option<BufReader<File>>,
    left: u64,
    hasher: Sha256,
    whole: Sha256,
    failure: Option<PartError>,
    done: bool,
    on_part: Option<PartCallback<'a>>,
}

impl<'a> PartsReader<'a> {
    /// Calls `f(number, file name)` when a part starts being read.
    pub fn on_part(mut self, f: impl FnMut(usize, &str) + 'a) -> Self {
        self.on_part = Some(Box::new(f));
        self
    }

    /// The part being read (1-based), if any.
    pub fn current(&self) -> Option<usize> {
        (self.number > 0 && !self.done).then_some(self.number)
    }

    /// Takes the part failure met while reading, if any.
    pub fn take_failure(&mut self) -> Option<PartError> {
        self.failure.take()
    }

    /// After a failure elsewhere (the bundle reader refused what it read):
    /// reads the rest of the current part and returns its mismatch, if that
    /// part is corrupt, so the error can name the part.
    pub fn explain(&mut self) -> Option<PartError> {
        if let Some(f) = self.failure.take() {
            return Some(f);
        }
        let number = self.current()?;
        let mut buf = vec![0u8; 1 << 16];
        while self.number == number && !self.done {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.failure.take()
    }

    fn fail(&mut self, e: PartError) -> io::Error {
        let err = io::Error::new(io::ErrorKind::InvalidData, e.to_string());
        self.failure = Some(e);
        err
    }

    /// Opens the next part, or ends the stream.
    fn next_part(&mut self) -> io::Result<bool> {
        let count = self.set.index.parts.len();
        if self.number == count {
            self.done = true;
            self.file = None;
            let found = format!("{:x}", std::mem::take(&mut self.whole).finalize());
            if found != self.set.index.sha256 {
                let e = PartError::Whole {
                    found,
                    expected: self.set.index.sha256.clone(),
                };
                return Err(self.fail(e));
            }
            return Ok(false);
        }
        self.number += 1;
        let n = self.number;
        if let Err(e) = self.set.check_size(n) {
            return Err(self.fail(e));
        }
        let path = self.set.part_path(n);
        let f = File::open(&path)?;
        self.file = Some(BufReader::with_capacity(1 << 20, f));
        self.left = self.set.index.parts[n - 1].size;
        self.hasher = Sha256::new();
        let name = self.set.index.parts[n - 1].name.clone();
        if let Some(cb) = self.on_part.as_mut() {
            cb(n, &name);
        }
        Ok(true)
    }
}

impl Read for PartsReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failure.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a part failed its check",
            ));
        }
        if buf.is_empty() || self.done {
            return Ok(0);
        }
        while self.left == 0 {
            if !self.next_part()? {
                return Ok(0);
            }
        }
        let file = self.file.as_mut().expect("a part is open");
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            // The file shrank after its size was checked.
            let e = PartError::Size {
                number: self.number,
                count: self.set.index.parts.len(),
                path: self.set.part_path(self.number),
                found: self.set.index.parts[self.number - 1].size - self.left,
                expected: self.set.index.parts[self.number - 1].size,
            };
            return Err(self.fail(e));
        }
        self.hasher.update(&buf[..n]);
        self.whole.update(&buf[..n]);
        self.left -= n as u64;
        if self.left == 0 {
            let found = format!("{:x}", std::mem::take(&mut self.hasher).finalize());
            if let Err(e) = self.set.compare(self.number, &found) {
                return Err(self.fail(e));
            }
        }
        Ok(n)
    }
}

/// Writes a stream into parts of at most `part_size` bytes, as temporary
/// files in `dir`, hashing each part and the whole.
pub struct PartWriter {
    dir: PathBuf,
    part_size: u64,
    current: Option<(io::BufWriter<TempFile>, Sha256, u64)>,
    done: Vec<(TempFile, u64, String)>,
    whole: Sha256,
    size: u64,
}

/// The parts written, not yet at their names.
pub struct WrittenParts {
    parts: Vec<(TempFile, u64, String)>,
    /// The whole stream's size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
}

impl PartWriter {
    /// Parts of at most `part_size` bytes, created in `dir`.
    pub fn new(dir: &Path, part_size: u64) -> Self {
        PartWriter {
            dir: dir.to_path_buf(),
            part_size,
            current: None,
            done: Vec::new(),
            whole: Sha256::new(),
            size: 0,
        }
    }

    fn close_current(&mut self) -> io::Result<()> {
        if let Some((w, h, n)) = self.current.take() {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.as_file().sync_all()?;
            self.done.push((f, n, format!("{:x}", h.finalize())));
        }
        Ok(())
    }

    /// Flushes the last part and returns them all.
    pub fn finish(mut self) -> io::Result<WrittenParts> {
        self.close_current()?;
        Ok(WrittenParts {
            parts: self.done,
            size: self.size,
            sha256: format!("{:x}", self.whole.finalize()),
        })
    }
}

impl Write for PartWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.current.as_ref().is_some_and(|c| c.2 == self.part_size) {
            self.close_current()?;
        }
        if self.current.is_none() {
            let f = crate::cleanup::temp_file(&self.dir, ".airlock-part-", ".partial")?;
            self.current = Some((io::BufWriter::with_capacity(1 << 20, f), Sha256::new(), 0));
        }
        let (w, h, n) = self.current.as_mut().expect("a part is open");
        let room = (self.part_size - *n).min(buf.len() as u64) as usize;
        let k = w.write(&buf[..room])?;
        h.update(&buf[..k]);
        self.whole.update(&buf[..k]);
        *n += k as u64;
        self.size += k as u64;
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some((w, ..)) => w.flush(),
            None => Ok(()),
        }
    }
}

/// What [`WrittenParts::persist`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PartsReport {
    /// The index file.
    pub index: PathBuf,
    /// Its signature.
    pub signature: PathBuf,
    /// The index.
    #[serde(flatten)]
    pub index_content: PartIndex,
}

impl WrittenParts {
    /// Gives the parts their names beside `bundle` (`<bundle>.NNN`), then
    /// writes the index and its signature by `key` (made at `signed_at`, so
    /// the same bundle split the same way gives the same files). Refuses if
    /// any of those files exists, unless `force`.
    pub fn persist(
        self,
        bundle: &Path,
        manifest_sha256: &str,
        key: &SecretKey,
        signed_at: u64,
        force: bool,
    ) -> Result<PartsReport, PartError> {
        let name = bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| PartError::BadSize(format!("{} has no file name", bundle.display())))?;
        let index = PartIndex {
            format: INDEX_FORMAT.into(),
            format_version: INDEX_VERSION.into(),
            bundle: name.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            manifest_sha256: manifest_sha256.into(),
            parts: self
                .parts
                .iter()
                .enumerate()
                .map(|(i, (_, size, sha256))| PartEntry {
                    name: part_name(&name, i + 1),
                    size: *size,
                    sha256: sha256.clone(),
                })
                .collect(),
        };
        index.validate().map_err(|reason| PartError::BadIndex {
            path: bundle.to_path_buf(),
            reason,
        })?;
        let index_path = index_path(bundle);
        let sig_path = signature_path(&index_path);
        let targets: Vec<PathBuf> = index
            .parts
            .iter()
            .map(|p| bundle.with_file_name(&p.name))
            .chain([index_path.clone(), sig_path.clone()])
            .collect();
        if !force {
            if let Some(t) = targets.iter().find(|t| t.exists()) {
                return Err(PartError::Exists(t.clone()));
            }
        } else {
            // Parts of an earlier, longer split would corrupt `cat B.0*`.
            let mut n = index.parts.len() + 1;
            loop {
                let stale = bundle.with_file_name(part_name(&name, n));
                if std::fs::remove_file(&stale).is_err() {
                    break;
                }
                n += 1;
            }
        }
        let text = index.to_toml();
        let sig = super::signing::sign_manifest(
            key,
            text.as_bytes(),
            super::signing::Statement::PartIndex {
                signed_at,
                file: &format!("{name}{INDEX_SUFFIX}"),
            },
            "",
        )?;
        for ((f, ..), target) in self.parts.into_iter().zip(&targets) {
            persist(f, target, force)?;
        }
        for (bytes, target) in [
            (text.into_bytes(), &index_path),
            (sig.to_text().into_bytes(), &sig_path),
        ] {
            write_small(target, ".airlock-part-", &bytes, force)?;
        }
        Ok(PartsReport {
            index: index_path,
            signature: sig_path,
            index_content: index,
        })
    }
}

fn persist(f: TempFile, target: &Path, force: bool) -> Result<(), PartError> {
    f.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .map_err(PathIo::at("cannot set permissions on", target))?;
    atomic::commit_temp(f, target, Replace::when(force)).map_err(|e| commit_error(e, target))
}

fn commit_error(e: CommitError, target: &Path) -> PartError {
    match e {
        CommitError::Exists(_) => PartError::Exists(target.to_path_buf()),
        CommitError::Rename(e) => PathIo::new("cannot move into place", target, e).into(),
        e => PathIo::new("cannot write", target, e.into_io()).into(),
    }
}

/// Writes a small file (the index, its signature, `SHA256SUMS`) to `target`
/// through a temporary file beside it (mode 0644).
fn write_small(target: &Path, prefix: &str, bytes: &[u8], force: bool) -> Result<(), PartError> {
    let mut f = AtomicFile::create(target, prefix, ".partial", 0o644).map_err(PathIo::at(
        "cannot create a temporary file in",
        &atomic::parent_dir(target),
    ))?;
    f.write_all(bytes)
        .map_err(PathIo::at("cannot write", target))?;
    f.commit(Replace::when(force))
        .map_err(|e| commit_error(e, target))
}

/// Writes `SHA256SUMS` in `dir` (the format `sha256sum -c` reads) for
/// `files` (names in `dir`), hashing each; refuses to replace an existing
/// one unless `force`.
pub fn write_sha256sums(dir: &Path, files: &[String], force: bool) -> Result<PathBuf, PartError> {
    let path = dir.join("SHA256SUMS");
    if !force && path.exists() {
        return Err(PartError::Exists(path));
    }
    let mut text = String::new();
    for name in files {
        let p = dir.join(name);
        let f = File::open(&p).map_err(PathIo::at("cannot open", &p))?;
        let mut h = crate::digest::HashingReader::new(BufReader::with_capacity(1 << 20, f));
        io::copy(&mut h, &mut io::sink()).map_err(PathIo::at("cannot read", &p))?;
        text.push_str(&format!("{}  {name}\n", h.finish().0.hex()));
    }
    write_small(&path, ".airlock-sums-", text.as_bytes(), force)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_presets() {
        assert_eq!(parse_size("700M").unwrap(), 700 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4GB").unwrap(), 4_000_000_000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("fat32").unwrap(), 4_294_967_295);
        assert_eq!(parse_size("DVD").unwrap(), 4_700_000_000);
        assert_eq!(parse_size("bd25").unwrap(), 25_000_000_000);
        for bad in ["", "M", "12X", "1K", "99999999999999999999G", "-5M"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writer_cuts_at_the_size_and_reader_joins() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = PartWriter::new(dir.path(), 100_000);
        for chunk in data.chunks(33_333) {
            w.write_all(chunk).unwrap();
        }
        let written = w.finish().unwrap();
        assert_eq!(written.size, 300_000);
        let key = SecretKey::generate("t").unwrap();
        let bundle = dir.path().join("b.airlock");
        let report = written
            .persist(&bundle, &"0".repeat(64), &key, 0, false)
            .unwrap();
        let sizes: Vec<u64> = report.index_content.parts.iter().map(|p| p.size).collect();
        assert_eq!(sizes, [100_000, 100_000, 100_000]);
        let policy = TrustPolicy::any_of(vec![key.public_key()]).unwrap();
        let set = PartSet::open(&report.index, Some(&policy)).unwrap();
        set.check_present().unwrap();
        let mut joined = Vec::new();
        set.reader().read_to_end(&mut joined).unwrap();
        assert_eq!(joined, data);
        assert_eq!(
            locate(&dir.path().join("b.airlock.002")).unwrap(),
            Some(report.index.clone())
        );
        assert_eq!(locate(&bundle).unwrap(), Some(report.index));
    }
}
