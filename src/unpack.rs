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
use std::io::{self, Read, Seek};

use crate::digest::LimitedReader;

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

/// Walks a gzip-compressed tar stream. `select` maps each clean entry path to
/// the path to hand to the sink, or `None` to skip it (it is still checked).
/// Reads the gzip stream to its end, so its CRC is checked.
pub fn tar_gz<R: Read>(
    archive: &str,
    reader: R,
    limits: Limits,
    select: &mut dyn FnMut(&str, EntryKind) -> Option<String>,
    sink: &mut dyn Sink,
) -> Result<Totals, UnpackError> {
    let mut walk = Walk::new(archive, limits);
    let gz = flate2::read::GzDecoder::new(reader);
    let mut bounded = LimitedReader::new(gz, limits.stream_bytes(), "decompressed data");
    {
        let mut ar = tar::Archive::new(&mut bounded);
        // Raw entries: tar-rs would read GNU long names and PAX headers into
        // memory whatever their size; here they are read with a cap.
        let entries = ar.entries().map_err(|e| walk.corrupt(e))?.raw(true);
        let mut long_name: Option<Vec<u8>> = None;
        for entry in entries {
            let mut entry = entry.map_err(|e| walk.corrupt(e))?;
            walk.count(entry.size())?;
            match entry.header().entry_type() {
                tar::EntryType::GNULongName => {
                    let mut name = read_extension(&walk, &mut entry, MAX_PATH as u64 + 1)?;
                    while name.last() == Some(&0) {
                        name.pop();
                    }
                    set_long_name(&walk, &mut long_name, name)?;
                    continue;
                }
                tar::EntryType::XHeader => {
                    let data = read_extension(&walk, &mut entry, MAX_EXTENSION)?;
                    if let Some(name) = pax_path(&walk, &data)? {
                        set_long_name(&walk, &mut long_name, name)?;
                    }
                    continue;
                }
                tar::EntryType::XGlobalHeader => {
                    // Checked like a local header (a global `size` would
                    // change how later entries are framed), its path ignored.
                    let data = read_extension(&walk, &mut entry, MAX_EXTENSION)?;
                    pax_path(&walk, &data)?;
                    continue;
                }
                _ => {}
            }
            let raw = long_name
                .take()
                .unwrap_or_else(|| entry.path_bytes().into_owned());
            let path = walk.admit(&raw)?;
            let kind = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
                tar::EntryType::Directory => EntryKind::Dir,
                other => {
                    return Err(UnpackError::ForbiddenType {
                        archive: archive.to_string(),
                        path,
                        kind: tar_type_name(other),
                    })
                }
            };
            if path.is_empty() {
                if kind == EntryKind::Dir {
                    continue;
                }
                return Err(walk.unsafe_path(&raw, "a file named like the archive root"));
            }
            let Some(out) = select(&path, kind) else {
                continue;
            };
            match kind {
                EntryKind::Dir => {
                    walk.claim(&out, kind)?;
                    sink.dir(&out).map_err(|e| walk.sink_err(&out, e, false))?
                }
                EntryKind::File => {
                    let size = entry.size();
                    walk.claim(&out, kind)?;
                    walk.reserve(size)?;
                    feed_file(&walk, sink, &out, size, &mut entry)?;
                }
            }
        }
        if long_name.is_some() {
            return Err(walk.corrupt(io::Error::new(
                io::ErrorKind::InvalidData,
                "an extended header names an entry that never comes",
            )));
        }
    }
    // Drain the rest (padding after the end-of-archive blocks) so that the
    // gzip trailer and its CRC are read and checked; at most 1 MiB, for
    // every caller, so what export accepts import accepts too.
    let after = io::copy(&mut (&mut bounded).take((1 << 20) + 1), &mut io::sink())
        .map_err(|e| walk.corrupt(e))?;
    if after > 1 << 20 {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            "more than 1 MiB of data after the end of the tar archive",
        )));
    }
    Ok(walk.totals)
}

/// The largest PAX extended header accepted.
const MAX_EXTENSION: u64 = 64 << 10;

/// Reads an extension entry's data (long name, PAX header), refusing one
/// larger than `max` instead of allocating it.
fn read_extension<R: Read>(
    walk: &Walk<'_>,
    entry: &mut tar::Entry<'_, R>,
    max: u64,
) -> Result<Vec<u8>, UnpackError> {
    if entry.size() > max {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "an extended header of {} bytes (more than {max})",
                entry.size()
            ),
        )));
    }
    let mut data = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut data).map_err(|e| walk.corrupt(e))?;
    Ok(data)
}

fn set_long_name(
    walk: &Walk<'_>,
    slot: &mut Option<Vec<u8>>,
    name: Vec<u8>,
) -> Result<(), UnpackError> {
    if slot.replace(name).is_some() {
        return Err(walk.corrupt(io::Error::new(
            io::ErrorKind::InvalidData,
            "two long names for one entry",
        )));
    }
    Ok(())
}

/// The `path` of a PAX extended header. Keys that would change how the
/// following entry is framed or what it is (`size`, `linkpath`, sparse maps)
/// are refused rather than ignored.
fn pax_path(walk: &Walk<'_>, data: &[u8]) -> Result<Option<Vec<u8>>, UnpackError> {
    let bad = |why: String| walk.corrupt(io::Error::new(io::ErrorKind::InvalidData, why));
    let mut path = None;
    let mut rest = data;
    while !rest.is_empty() {
        // "<len> <key>=<value>\n", len counting the whole record.
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse().ok())
            .filter(|&l| l > space + 1 && l <= rest.len())
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let record = &rest[space + 1..len];
        let record = record
            .strip_suffix(b"\n")
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("malformed PAX header".into()))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => path = Some(value.to_vec()),
            b"size" | b"linkpath" => {
                return Err(bad(format!(
                    "unsupported PAX key {}",
                    String::from_utf8_lossy(key)
                )))
            }
            k if k.starts_with(b"GNU.sparse") => {
                return Err(bad("sparse files are not accepted".into()))
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(path)
}

fn tar_type_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::GNULongLink => "long link name",
        _ => "special entry",
    }
}

/// Walks a zip archive (zip needs random access, hence `Seek`). Symbolic
/// links (by their Unix mode), encrypted entries and entries whose declared
/// size does not fit the limits are refused.
pub fn zip<R: Read + Seek>(
    archive: &str,
    reader: R,
    limits: Limits,
    select: &mut dyn FnMut(&str, EntryKind) -> Option<String>,
    sink: &mut dyn Sink,
) -> Result<Totals, UnpackError> {
    let mut walk = Walk::new(archive, limits);
    let zip_err = |walk: &Walk<'_>, e: zip::result::ZipError| {
        walk.corrupt(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    };
    let mut za = zip::ZipArchive::new(reader).map_err(|e| zip_err(&walk, e))?;
    if za.len() as u64 > limits.max_entries {
        return Err(UnpackError::TooManyEntries {
            archive: archive.to_string(),
            limit: limits.max_entries,
        });
    }
    for i in 0..za.len() {
        let mut file = za.by_index(i).map_err(|e| zip_err(&walk, e))?;
        walk.count(file.size())?;
        let raw = file.name_raw().to_vec();
        let path = walk.admit(&raw)?;
        if file.encrypted() {
            return Err(UnpackError::ForbiddenType {
                archive: archive.to_string(),
                path,
                kind: "encrypted entry",
            });
        }
        let mode = file.unix_mode().unwrap_or(0);
        let file_type = mode & 0o170000;
        let kind = if file.is_dir() {
            EntryKind::Dir
        } else {
            match file_type {
                0 | 0o100000 => EntryKind::File,
                0o120000 => {
                    return Err(UnpackError::ForbiddenType {
                        archive: archive.to_string(),
                        path,
                        kind: "symbolic link",
                    })
                }
                _ => {
                    return Err(UnpackError::ForbiddenType {
                        archive: archive.to_string(),
                        path,
                        kind: "special entry",
                    })
                }
            }
        };
        if path.is_empty() {
            continue;
        }
        let Some(out) = select(&path, kind) else {
            continue;
        };
        match kind {
            EntryKind::Dir => {
                walk.claim(&out, kind)?;
                sink.dir(&out).map_err(|e| walk.sink_err(&out, e, false))?
            }
            EntryKind::File => {
                let size = file.size();
                walk.claim(&out, kind)?;
                walk.reserve(size)?;
                // The zip crate stops at the declared size and checks the CRC.
                let mut limited = LimitedReader::new(&mut file, size, "zip entry");
                feed_file(&walk, sink, &out, size, &mut limited)?;
            }
        }
    }
    Ok(walk.totals)
}

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

    fn tar_gz_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, ty, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*ty);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // set_path refuses "..", so write the raw name like an attacker would.
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn walk_tar(data: &[u8], limits: Limits) -> Result<Totals, UnpackError> {
        tar_gz(
            "t.tar.gz",
            data,
            limits,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
    }

    #[test]
    fn tar_refusals() {
        let l = Limits::LOCAL_INPUT;
        let e = walk_tar(&tar_gz_of(&[("../x", tar::EntryType::Regular, b"x")]), l).unwrap_err();
        assert!(matches!(e, UnpackError::UnsafePath { .. }), "{e}");
        let e = walk_tar(&tar_gz_of(&[("l", tar::EntryType::Symlink, b"")]), l).unwrap_err();
        assert_eq!(e.to_string(), "t.tar.gz: entry \"l\" is a symbolic link; only regular files and directories are accepted");
        let e = walk_tar(&tar_gz_of(&[("f", tar::EntryType::Fifo, b"")]), l).unwrap_err();
        assert!(matches!(e, UnpackError::ForbiddenType { kind: "FIFO", .. }));
        let e = walk_tar(
            &tar_gz_of(&[
                ("a", tar::EntryType::Regular, b"1"),
                ("./a", tar::EntryType::Regular, b"2"),
            ]),
            l,
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::Duplicate { .. }));
        let e = walk_tar(
            &tar_gz_of(&[("a", tar::EntryType::Regular, &[0u8; 100])]),
            Limits::exactly(Totals {
                bytes: 99,
                files: 1,
                entries: 1,
                data: 100,
            }),
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::TooLarge { limit: 99, .. }));
        let ok = walk_tar(
            &tar_gz_of(&[("a", tar::EntryType::Regular, &[0u8; 100])]),
            Limits::exactly(Totals {
                bytes: 100,
                files: 1,
                entries: 1,
                data: 100,
            }),
        )
        .unwrap();
        assert_eq!(
            ok,
            Totals {
                bytes: 100,
                files: 1,
                entries: 1,
                data: 100
            }
        );
    }

    #[test]
    fn a_file_and_a_directory_of_the_same_name_are_refused() {
        let l = Limits::LOCAL_INPUT;
        for entries in [
            &[
                ("a", tar::EntryType::Regular, &b"1"[..]),
                ("a/b", tar::EntryType::Regular, b"2"),
            ][..],
            &[
                ("a/b", tar::EntryType::Regular, &b"1"[..]),
                ("a", tar::EntryType::Regular, b"2"),
            ][..],
        ] {
            let e = walk_tar(&tar_gz_of(entries), l).unwrap_err();
            assert!(
                e.to_string()
                    .contains("a file and a directory of the same name"),
                "{e}"
            );
        }
        // A directory entry and files below it are fine.
        walk_tar(
            &tar_gz_of(&[
                ("a", tar::EntryType::Directory, b""),
                ("a/b", tar::EntryType::Regular, b"2"),
            ]),
            l,
        )
        .unwrap();
    }

    #[test]
    fn a_dangling_long_name_and_trailing_data_are_refused() {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(4);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        b.append(&h, &b"name"[..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let e = walk_tar(&data, Limits::LOCAL_INPUT).unwrap_err();
        assert!(e.to_string().contains("never comes"), "{e}");

        // 2 MiB of zeros after the end-of-archive blocks, inside the gzip member.
        let mut tar = tar::Builder::new(Vec::new()).into_inner().unwrap();
        tar.resize(tar.len() + (2 << 20), 0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let e = walk_tar(&gz.finish().unwrap(), Limits::LOCAL_INPUT).unwrap_err();
        assert!(
            e.to_string()
                .contains("more than 1 MiB of data after the end"),
            "{e}"
        );
    }

    #[test]
    fn long_names_are_read_with_a_cap() {
        struct Names(Vec<String>);
        impl Sink for Names {
            fn dir(&mut self, _: &str) -> io::Result<()> {
                Ok(())
            }
            fn file(&mut self, path: &str, _: u64, data: &mut dyn Read) -> io::Result<()> {
                self.0.push(path.to_string());
                io::copy(data, &mut io::sink()).map(|_| ())
            }
        }
        let long = format!("policies/{}/check.rego", "d".repeat(150));
        // GNU long name (tar-rs writes one for paths over 100 bytes).
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"x"[..]).unwrap();
        // PAX path.
        b.append_pax_extensions([("path", format!("{long}.pax").as_bytes())])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_path("short").unwrap();
        h.set_cksum();
        b.append(&h, &b"y"[..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let mut names = Names(Vec::new());
        tar_gz(
            "t",
            &data[..],
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut names,
        )
        .unwrap();
        assert_eq!(names.0, vec![long.clone(), format!("{long}.pax")]);

        // A long name of 2 MiB is refused without being read into memory.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(2 << 20);
        h.set_path("././@LongLink").unwrap();
        h.set_cksum();
        b.append(&h, &vec![b'a'; 2 << 20][..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let e = tar_gz(
            "t",
            &data[..],
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("an extended header of 2097152 bytes"),
            "{e}"
        );

        // A PAX size override is refused, not ignored.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        b.append_pax_extensions([("size", &b"5"[..])]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_path("f").unwrap();
        h.set_cksum();
        b.append(&h, &b"y"[..]).unwrap();
        let data = b.into_inner().unwrap().finish().unwrap();
        let e = tar_gz(
            "t",
            &data[..],
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unsupported PAX key size"), "{e}");
    }

    #[test]
    fn gzip_bomb_after_the_tar_is_bounded() {
        // A valid tiny tar followed, inside the same gzip member, by 64 MiB of zeros.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_path("a").unwrap();
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let mut tar = b.into_inner().unwrap();
        tar.resize(tar.len() + (64 << 20), 0);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let data = gz.finish().unwrap();
        let e = walk_tar(
            &data,
            Limits::exactly(Totals {
                bytes: 1,
                files: 1,
                entries: 1,
                data: 1,
            }),
        )
        .unwrap_err();
        assert!(matches!(e, UnpackError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("exceeds its limit"), "{e}");
    }
}
