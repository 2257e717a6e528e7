//! Walking untrusted archives (tar.gz, zip) safely, with limits.
//!
//! Every entry name is checked before anything is done with it: no absolute
//! paths, no `..`, no backslashes, NUL or control characters, no empty
//! components, nothing longer than [`MAX_PATH`] or deeper than
//! [`MAX_DEPTH`]. Only regular files and directories are accepted; links,
//! devices, FIFOs and anything else are refused outright (tar-rs's own
//! `unpack` silently skips `..` entries and follows links, which is why
//! airlock never calls it). A name seen twice is refused, so no entry can
//! shadow another. Sizes and counts are bounded by [`Limits`] (signed figures
//! from the manifest on import), directories included, the implied parents
//! of every entry too (a few thousand empty files under distinct deep
//! parents would otherwise make millions of directories: a directory bomb);
//! the decompressed stream as a whole is bounded too, so a gzip or zip bomb
//! fails with a message instead of filling the disk.
//!
//! The bookkeeping is bounded as well: the names seen and the paths kept are
//! remembered as 128-bit keyed digests ([`PathKeys`]), never as strings, so
//! memory grows with the number of entries and directories the limits let
//! through, not with the length of their names.
//!
//! A zip archive's central directory, and each local header against it, is
//! checked by [`zipdir`] before the zip crate reads it.
//!
//! This module knows nothing about Trivy or bundles; what to keep and where
//! to put it is decided by the caller's `select` function and [`Sink`].

use std::collections::HashSet;
use std::hash::{BuildHasher as _, Hasher as _, RandomState};
use std::io::{self, Read};

/// The longest entry path accepted, in bytes.
pub const MAX_PATH: usize = 1024;
/// The longest path component accepted, in bytes.
pub const MAX_COMPONENT: usize = 255;
/// The most components an entry path may have. Real layouts stay far below:
/// trivy-checks bundles go to about 7 (`policies/cloud/policies/aws/<service>/<check>.rego`),
/// VEX Hub to 9 (`vexhub-main/pkg/golang/github.com/rancher/rancher/pkg/client/scan.openvex.json`:
/// Go module paths are the deepest namespaces), the databases are flat.
/// The cap bounds the implied directories of one entry to `MAX_DEPTH - 1`.
pub const MAX_DEPTH: usize = 32;

/// Bounds on what one archive may yield.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes of the regular files kept.
    pub max_bytes: u64,
    /// Number of entries of any kind in the archive (kept or not, extension
    /// headers included).
    pub max_entries: u64,
    /// Total data of all entries (kept or not, extension headers included).
    pub max_data: u64,
    /// Distinct directories kept, explicit or implied by the path of a kept
    /// entry (see [`Totals::dirs`]); refused as soon as one more would be
    /// made, before the sink sees the entry.
    pub max_dirs: u64,
}

impl Limits {
    /// Limits for input the user supplied themselves (export): generous, but
    /// still finite.
    pub const LOCAL_INPUT: Limits = Limits {
        max_bytes: 256 << 30,
        // Real layers hold thousands; the walker's bookkeeping stays in
        // tens of MiB up to here.
        max_entries: 1_000_000,
        max_data: 256 << 30,
        // Far above any real artifact (VEX Hub has tens of thousands), far
        // below what would exhaust a file system's inodes.
        max_dirs: 1_000_000,
    };

    /// Exactly the totals a signed manifest declares (see [`Totals`]).
    pub fn exactly(t: Totals) -> Limits {
        Limits {
            max_bytes: t.bytes,
            max_entries: t.entries,
            max_data: t.data,
            max_dirs: t.dirs,
        }
    }

    /// A bound on the decompressed tar stream: the data of every entry plus
    /// a header and padding for each, plus the end-of-archive blocks and
    /// record padding.
    fn stream_bytes(&self) -> u64 {
        self.max_data
            .saturating_add(self.max_entries.saturating_mul(1024))
            .saturating_add(1 << 20)
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
}

/// Where kept entries go.
pub trait Sink {
    /// A directory (its parents have been reported or are implied).
    fn dir(&mut self, path: &str) -> io::Result<()>;
    /// A regular file of `size` bytes; `data` yields exactly those bytes.
    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()>;
}

/// A sink that keeps nothing (validation only).
pub struct Discard;

impl Sink for Discard {
    fn dir(&mut self, _path: &str) -> io::Result<()> {
        Ok(())
    }

    fn file(&mut self, _path: &str, _size: u64, data: &mut dyn Read) -> io::Result<()> {
        io::copy(data, &mut io::sink()).map(|_| ())
    }
}

/// Totals of what was kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Bytes of regular files kept.
    pub bytes: u64,
    /// Regular files kept.
    pub files: u64,
    /// Entries in the whole archive, of any kind, kept or not (tar
    /// extension headers included).
    pub entries: u64,
    /// Data bytes of all those entries.
    pub data: u64,
    /// Distinct directories in the kept output, explicit (directory
    /// entries) or implied (parents of a kept entry); the output root is not
    /// counted. `a/b/c` and `a/b/d` kept make 2: `a` and `a/b`.
    pub dirs: u64,
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// An entry name that could escape or confuse the target directory.
    #[error("{archive}: unsafe entry name {path:?}: {reason}")]
    UnsafePath {
        /// Which archive.
        archive: String,
        /// The name, lossily decoded.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A link, device, FIFO or other special entry.
    #[error(
        "{archive}: entry {path:?} is a {kind}; only regular files and directories are accepted"
    )]
    ForbiddenType {
        /// Which archive.
        archive: String,
        /// The entry.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A name that appears twice.
    #[error("{archive}: entry {path:?} appears more than once")]
    Duplicate {
        /// Which archive.
        archive: String,
        /// The entry.
        path: String,
    },
    /// More data than allowed.
    #[error("{archive}: content exceeds the allowed {limit} bytes (decompression bomb or a manifest that understates it)")]
    TooLarge {
        /// Which archive.
        archive: String,
        /// The limit.
        limit: u64,
    },
    /// More entries than allowed.
    #[error("{archive}: more than {limit} entries")]
    TooManyEntries {
        /// Which archive.
        archive: String,
        /// The limit.
        limit: u64,
    },
    /// More directories than allowed, implied parents included.
    #[error("{archive}: more than {limit} directories, counting the parents every entry implies (a directory bomb, or a manifest that understates them)")]
    TooManyDirs {
        /// Which archive.
        archive: String,
        /// The limit.
        limit: u64,
    },
    /// A zip archive whose parts disagree, so that readers could disagree on
    /// what it holds (see [`zipdir`]).
    #[error("{archive}: {detail}")]
    ZipStructure {
        /// Which archive.
        archive: String,
        /// What disagrees, naming the entry.
        detail: String,
    },
    /// The archive is damaged (bad gzip, bad tar, bad zip, CRC mismatch...).
    #[error("{archive} is damaged")]
    Corrupt {
        /// Which archive.
        archive: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing a kept entry failed.
    #[error("cannot write {path} from {archive}")]
    Sink {
        /// Which archive.
        archive: String,
        /// The entry.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl crate::error::Classify for UnpackError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            UnpackError::Sink { .. } => HostFailure,
            UnpackError::UnsafePath { .. }
            | UnpackError::ForbiddenType { .. }
            | UnpackError::Duplicate { .. }
            | UnpackError::TooLarge { .. }
            | UnpackError::TooManyEntries { .. }
            | UnpackError::TooManyDirs { .. }
            | UnpackError::ZipStructure { .. }
            | UnpackError::Corrupt { .. } => Damaged,
        }
    }
}

/// Checks and normalises an entry name: strips one leading `./` and a
/// trailing `/`; refuses anything that is not a plain relative path.
/// Returns an empty string for the archive root (`./`).
pub fn clean_path(raw: &[u8]) -> Result<String, &'static str> {
    if raw.len() > MAX_PATH {
        return Err("longer than 1024 bytes");
    }
    let s = std::str::from_utf8(raw).map_err(|_| "not UTF-8")?;
    if s.starts_with('/') {
        return Err("absolute path");
    }
    if s.contains('\\') {
        return Err("contains a backslash");
    }
    if s.chars().any(|c| c.is_control()) {
        return Err("contains a control character");
    }
    let s = s.strip_prefix("./").unwrap_or(s);
    let s = s.strip_suffix('/').unwrap_or(s);
    if s.is_empty() || s == "." {
        return Ok(String::new());
    }
    for (i, part) in s.split('/').enumerate() {
        if i == MAX_DEPTH {
            return Err("more than 32 path components");
        }
        match part {
            "" => return Err("empty path component"),
            "." | ".." => return Err("contains . or .. component"),
            p if p.len() > MAX_COMPONENT => return Err("path component longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(s.to_string())
}

/// Keys for paths: two SipHash-1-3 digests under independent random keys
/// (std's `RandomState`, fresh per walk), 128 bits in all, fed component by
/// component so every prefix of a path gets its key in one pass.
///
/// # Security
/// Sets of keys stand in for sets of paths. Two paths with one key (about
/// `n² / 2^129` for `n` paths, and an archive's author cannot aim at it: the
/// keys are drawn after the archive is written, in the reading process) can
/// only make the walker believe it has seen a path it has not. For `seen`
/// and for the file/directory conflict checks that is a refusal (a false
/// "appears more than once", a false "a file and a directory of the same
/// name"), never an acceptance. For counting directories it is one
/// directory not counted: with a signed 1.2 count the walk's total then
/// differs from the signed figure (the exporter drew other keys) and the
/// bundle is refused; only a loose bound (a 1.1 bundle's legacy bound, the
/// export limit) could be passed by one directory per collision, which the
/// free-space and free-inode pre-flights absorb.
pub(crate) struct PathKeys(RandomState, RandomState);

impl PathKeys {
    pub(crate) fn new() -> PathKeys {
        PathKeys(RandomState::new(), RandomState::new())
    }

    /// The key of each prefix of `path` that ends at a component boundary,
    /// shortest first; the last is the key of `path` itself.
    pub(crate) fn prefixes<'p>(&self, path: &'p str) -> impl Iterator<Item = u128> + 'p {
        let mut h = (self.0.build_hasher(), self.1.build_hasher());
        path.split('/').enumerate().map(move |(i, part)| {
            if i > 0 {
                h.0.write(b"/");
                h.1.write(b"/");
            }
            h.0.write(part.as_bytes());
            h.1.write(part.as_bytes());
            (u128::from(h.0.finish()) << 64) | u128::from(h.1.finish())
        })
    }

    /// The key of `path`.
    pub(crate) fn key(&self, path: &[u8]) -> u128 {
        let mut h = (self.0.build_hasher(), self.1.build_hasher());
        h.0.write(path);
        h.1.write(path);
        (u128::from(h.0.finish()) << 64) | u128::from(h.1.finish())
    }
}

struct Walk<'a> {
    archive: &'a str,
    limits: Limits,
    keys: PathKeys,
    /// Keys of the clean names of all entries (kept or not).
    seen: HashSet<u128>,
    /// Keys of the kept output paths of files, and of directories (explicit
    /// and implied).
    kept_files: HashSet<u128>,
    kept_dirs: HashSet<u128>,
    totals: Totals,
}

impl<'a> Walk<'a> {
    fn new(archive: &'a str, limits: Limits) -> Self {
        Walk {
            archive,
            limits,
            keys: PathKeys::new(),
            seen: HashSet::new(),
            kept_files: HashSet::new(),
            kept_dirs: HashSet::new(),
            totals: Totals::default(),
        }
    }

    fn unsafe_path(&self, raw: &[u8], reason: &'static str) -> UnpackError {
        UnpackError::UnsafePath {
            archive: self.archive.to_string(),
            path: String::from_utf8_lossy(raw).into_owned(),
            reason,
        }
    }

    /// Counts one raw entry of `size` data bytes against the limits.
    fn count(&mut self, size: u64) -> Result<(), UnpackError> {
        self.totals.entries += 1;
        if self.totals.entries > self.limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                archive: self.archive.to_string(),
                limit: self.limits.max_entries,
            });
        }
        self.totals.data = self.totals.data.saturating_add(size);
        if self.totals.data > self.limits.max_data {
            return Err(UnpackError::TooLarge {
                archive: self.archive.to_string(),
                limit: self.limits.max_data,
            });
        }
        Ok(())
    }

    /// Checks one entry's name; returns its clean path.
    fn admit(&mut self, raw: &[u8]) -> Result<String, UnpackError> {
        let path = clean_path(raw).map_err(|reason| self.unsafe_path(raw, reason))?;
        if !self.seen.insert(self.keys.key(path.as_bytes())) {
            return Err(UnpackError::Duplicate {
                archive: self.archive.to_string(),
                path,
            });
        }
        Ok(path)
    }

    /// Records a kept output path, refusing a file where a directory is (or
    /// must be, as the parent of another entry) and the reverse: the archive
    /// would unpack differently depending on the order of its entries.
    /// Counts the directories it makes (its parents, and itself for a
    /// directory) and refuses the one past [`Limits::max_dirs`], before the
    /// sink is called.
    fn claim(&mut self, out: &str, kind: EntryKind) -> Result<(), UnpackError> {
        let Walk {
            archive,
            limits,
            keys,
            kept_files,
            kept_dirs,
            totals,
            ..
        } = self;
        let conflict = || UnpackError::UnsafePath {
            archive: archive.to_string(),
            path: out.to_string(),
            reason: "a file and a directory of the same name",
        };
        let depth = out.split('/').count();
        for (i, key) in keys.prefixes(out).enumerate() {
            if i + 1 == depth && kind == EntryKind::File {
                if kept_dirs.contains(&key) {
                    return Err(conflict());
                }
                kept_files.insert(key);
                break;
            }
            if kept_files.contains(&key) {
                return Err(conflict());
            }
            if kept_dirs.insert(key) {
                totals.dirs += 1;
                if totals.dirs > limits.max_dirs {
                    return Err(UnpackError::TooManyDirs {
                        archive: archive.to_string(),
                        limit: limits.max_dirs,
                    });
                }
            }
        }
        Ok(())
    }

    fn reserve(&mut self, size: u64) -> Result<(), UnpackError> {
        let total = self.totals.bytes.saturating_add(size);
        if total > self.limits.max_bytes {
            return Err(UnpackError::TooLarge {
                archive: self.archive.to_string(),
                limit: self.limits.max_bytes,
            });
        }
        self.totals.bytes = total;
        self.totals.files += 1;
        Ok(())
    }

    fn corrupt(&self, source: io::Error) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.archive.to_string(),
            source,
        }
    }

    /// A sink failure: damage if the archive's data failed to read, else a
    /// write failure (disk full, permissions).
    fn sink_err(&self, path: &str, source: io::Error, reader_failed: bool) -> UnpackError {
        if reader_failed {
            return self.corrupt(source);
        }
        UnpackError::Sink {
            archive: self.archive.to_string(),
            path: path.to_string(),
            source,
        }
    }
}

/// Reads exactly `size` bytes through the sink, then checks nothing is left.
fn feed_file(
    walk: &Walk<'_>,
    sink: &mut dyn Sink,
    out: &str,
    size: u64,
    data: &mut dyn Read,
) -> Result<(), UnpackError> {
    let mut counted = CountingReader {
        inner: data,
        count: 0,
        failed: false,
    };
    sink.file(out, size, &mut counted)
        .map_err(|e| walk.sink_err(out, e, counted.failed))?;
    // Whatever the sink left unread still belongs to the entry.
    io::copy(&mut counted, &mut io::sink()).map_err(|e| walk.corrupt(e))?;
    if counted.count != size {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "entry {out:?} holds {} bytes, its header says {size}",
                counted.count
            ),
        )));
    }
    Ok(())
}

struct CountingReader<'a> {
    inner: &'a mut dyn Read,
    count: u64,
    failed: bool,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| self.failed = true)?;
        self.count += n as u64;
        Ok(n)
    }
}

mod tar;
mod zip;

pub mod zipdir;

pub use self::tar::tar_gz;
pub use self::zip::zip;

#[cfg(test)]
mod tests;
