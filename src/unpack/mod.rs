//! Walking untrusted archives (tar.gz, zip) safely, with limits.
//!
//! Every entry name is checked before anything is done with it: no absolute
//! paths, no `..`, no backslashes, NUL or control characters, no empty
//! components, nothing longer than [`MAX_PATH`]. Only regular files and
//! directories are accepted; links, devices, FIFOs and anything else are
//! refused outright (tar-rs's own `unpack` silently skips `..` entries and
//! follows links, which is why airlock never calls it). A name seen twice is
//! refused, so no entry can shadow another. Sizes and counts are bounded by
//! [`Limits`] (signed figures from the manifest on import), and the
//! decompressed stream as a whole is bounded too, so a gzip or zip bomb fails
//! with a message instead of filling the disk.
//!
//! This module knows nothing about Trivy or bundles; what to keep and where
//! to put it is decided by the caller's `select` function and [`Sink`].

use std::collections::HashSet;
use std::io::{self, Read};

/// The longest entry path accepted, in bytes.
pub const MAX_PATH: usize = 1024;
/// The longest path component accepted, in bytes.
pub const MAX_COMPONENT: usize = 255;

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
}

impl Limits {
    /// Limits for input the user supplied themselves (export): generous, but
    /// still finite.
    pub const LOCAL_INPUT: Limits = Limits {
        max_bytes: 256 << 30,
        max_entries: 10_000_000,
        max_data: 256 << 30,
    };

    /// Exactly the totals a signed manifest declares (see [`Totals`]).
    pub fn exactly(t: Totals) -> Limits {
        Limits {
            max_bytes: t.bytes,
            max_entries: t.entries,
            max_data: t.data,
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
    /// The archive is damaged (bad gzip, bad tar, bad zip, CRC mismatch...).
    #[error("{archive} is damaged: {source}")]
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
    for part in s.split('/') {
        match part {
            "" => return Err("empty path component"),
            "." | ".." => return Err("contains . or .. component"),
            p if p.len() > MAX_COMPONENT => return Err("path component longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(s.to_string())
}

struct Walk<'a> {
    archive: &'a str,
    limits: Limits,
    seen: HashSet<String>,
    kept_files: HashSet<String>,
    kept_dirs: HashSet<String>,
    totals: Totals,
}

impl<'a> Walk<'a> {
    fn new(archive: &'a str, limits: Limits) -> Self {
        Walk {
            archive,
            limits,
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
        if !self.seen.insert(path.clone()) {
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
    fn claim(&mut self, out: &str, kind: EntryKind) -> Result<(), UnpackError> {
        let conflict = || UnpackError::UnsafePath {
            archive: self.archive.to_string(),
            path: out.to_string(),
            reason: "a file and a directory of the same name",
        };
        let mut end = 0;
        while let Some(i) = out[end..].find('/') {
            let parent = &out[..end + i];
            if self.kept_files.contains(parent) {
                return Err(conflict());
            }
            self.kept_dirs.insert(parent.to_string());
            end += i + 1;
        }
        let clash = match kind {
            EntryKind::File => self.kept_dirs.contains(out),
            EntryKind::Dir => self.kept_files.contains(out),
        };
        if clash {
            return Err(conflict());
        }
        match kind {
            EntryKind::File => self.kept_files.insert(out.to_string()),
            EntryKind::Dir => self.kept_dirs.insert(out.to_string()),
        };
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

pub use self::tar::tar_gz;
pub use self::zip::zip;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_rules() {
        assert_eq!(clean_path(b"./a/b").unwrap(), "a/b");
        assert_eq!(clean_path(b"a/b/").unwrap(), "a/b");
        assert_eq!(clean_path(b"./").unwrap(), "");
        for bad in [
            &b"/etc/passwd"[..],
            b"a/../b",
            b"..",
            b"a\\b",
            b"a//b",
            b"a\0b",
            b"a\nb",
        ] {
            assert!(
                clean_path(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(clean_path(&vec![b'a'; 1025]).is_err());
        assert!(clean_path(&vec![b'a'; 256]).is_err());
    }
}
