//! The repository archive: its format, and the scan that checks its files
//! and its index.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};

use super::file_set::FileSet;
use super::index::check_index;
use super::{max_expansion, ArchiveFormat, VexError, MAX_ARCHIVE_ENTRIES, MAX_FILE, MAX_INDEX};
use crate::manifest::Unpacked;
use crate::unpack::{self, EntryKind, Limits, Sink, UnpackError};

impl ArchiveFormat {
    /// Recognises the format by its first bytes.
    pub fn sniff(head: &[u8]) -> Result<Self, VexError> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Ok(ArchiveFormat::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Ok(ArchiveFormat::TarGz)
        } else {
            Err(VexError::UnknownArchive)
        }
    }
}

/// What a VEX archive's folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VexContents {
    /// Totals of the files under the folder.
    pub unpacked: Unpacked,
    /// `updated_at` of index.json ("" if absent).
    pub updated_at: String,
    /// Packages listed.
    pub packages: u64,
}

/// Hands every entry on to the caller's sink, records file paths, and
/// copies index.json's bytes as they pass into an unlinked temporary file,
/// where it is parsed once the whole archive has been seen (the documents
/// it lists may come after it).
struct IndexSink<'a> {
    inner: &'a mut dyn Sink,
    files: FileSet,
    index: Option<File>,
    oversized_index: Option<u64>,
    oversized_file: Option<(String, u64)>,
}

impl Sink for IndexSink<'_> {
    fn dir(&mut self, path: &str) -> io::Result<()> {
        self.inner.dir(path)
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        self.files.insert(path);
        if path != "index.json" {
            if size > MAX_FILE {
                // Before the sink writes a byte of it.
                self.oversized_file = Some((path.to_string(), size));
                return Err(io::Error::other("a VEX file over the size limit"));
            }
            return self.inner.file(path, size, data);
        }
        if size > MAX_INDEX {
            self.oversized_index = Some(size);
            return self.inner.file(path, size, data);
        }
        let mut copy = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        let mut tee = Tee {
            inner: data,
            copy: &mut copy,
        };
        self.inner.file(path, size, &mut tee)?;
        // Whatever the sink left unread still belongs to index.json.
        io::copy(&mut tee, &mut io::sink())?;
        let mut file = copy.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        self.index = Some(file);
        Ok(())
    }
}

/// Reads from `inner`, writing what it reads to `copy`.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    copy: &'a mut dyn Write,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Walks a VEX archive; hands the files under `subdir` (paths relative to
/// it) to `sink`; checks index.json and that every document it lists exists.
///
/// Memory stays bounded whatever the archive holds: at most
/// [`MAX_ARCHIVE_ENTRIES`] entries (16 bytes kept per file), and index.json
/// (up to [`MAX_INDEX`] bytes) is copied to a temporary file and parsed
/// streaming, one package at a time, no string in it longer than
/// [`MAX_INDEX_STRING`](super::MAX_INDEX_STRING).
pub fn scan_archive<R: Read + Seek>(
    format: ArchiveFormat,
    mut reader: R,
    subdir: &str,
    limits: Limits,
    sink: &mut dyn Sink,
) -> Result<VexContents, VexError> {
    let capped = limits.max_entries > MAX_ARCHIVE_ENTRIES;
    let compressed = reader.seek(io::SeekFrom::End(0)).map_err(VexError::Io)?;
    let expansion = max_expansion(compressed);
    let expansion_binds = limits.max_data > expansion || limits.max_bytes > expansion;
    let limits = Limits {
        max_entries: limits.max_entries.min(MAX_ARCHIVE_ENTRIES),
        max_data: limits.max_data.min(expansion),
        max_bytes: limits.max_bytes.min(expansion),
        ..limits
    };
    let prefix = if subdir.is_empty() {
        String::new()
    } else {
        format!("{subdir}/")
    };
    let mut select = |p: &str, _k: EntryKind| -> Option<String> {
        if prefix.is_empty() {
            Some(p.to_string())
        } else {
            p.strip_prefix(&prefix).map(str::to_string)
        }
    };
    let mut index_sink = IndexSink {
        inner: sink,
        files: FileSet::new(),
        index: None,
        oversized_index: None,
        oversized_file: None,
    };
    reader.rewind().map_err(VexError::Io)?;
    let walked = match format {
        ArchiveFormat::Zip => {
            unpack::zip("VEX archive", reader, limits, &mut select, &mut index_sink)
        }
        ArchiveFormat::TarGz => {
            unpack::tar_gz("VEX archive", reader, limits, &mut select, &mut index_sink)
        }
    };
    if let Some((path, size)) = index_sink.oversized_file.take() {
        return Err(VexError::FileTooLarge {
            path,
            size,
            limit: MAX_FILE,
        });
    }
    let totals = walked.map_err(|e| match e {
        UnpackError::TooManyEntries { limit, .. } if capped => VexError::TooManyEntries { limit },
        UnpackError::TooLarge { limit, .. } if expansion_binds && limit == expansion => {
            VexError::Expansion { compressed, limit }
        }
        e => VexError::Unpack(e),
    })?;
    let index_path = format!("{prefix}index.json");
    if let Some(size) = index_sink.oversized_index {
        return Err(VexError::Index {
            path: index_path,
            reason: format!("{size} bytes, more than the {MAX_INDEX}-byte limit"),
        });
    }
    let index = index_sink.index.ok_or(VexError::MissingIndex {
        path: index_path.clone(),
    })?;
    index_sink.files.seal();
    let (updated_at, packages) = check_index(index, &index_path, &index_sink.files)?;
    Ok(VexContents {
        unpacked: Unpacked::from_totals(totals),
        updated_at: updated_at.unwrap_or_default(),
        packages,
    })
}
