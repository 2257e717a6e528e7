//! The zip walker (VEX archives).

use std::io::{self, Read, Seek};

use crate::digest::LimitedReader;

use super::{feed_file, zipdir, EntryKind, Limits, Sink, Totals, UnpackError, Walk};

/// Walks a zip archive (zip needs random access, hence `Seek`). Its
/// structure is checked first ([`zipdir::scan`]: names listed twice, local
/// headers that disagree with the central directory, bytes no entry covers);
/// then symbolic links (by their Unix mode), encrypted entries and entries
/// whose declared size does not fit the limits are refused.
pub fn zip<R: Read + Seek>(
    archive: &str,
    mut reader: R,
    limits: Limits,
    select: &mut dyn FnMut(&str, EntryKind) -> Option<String>,
    sink: &mut dyn Sink,
) -> Result<Totals, UnpackError> {
    let mut walk = Walk::new(archive, limits);
    let directory = zipdir::scan(archive, &mut reader, limits.max_entries)?;
    let mut za = open_checked(archive, &walk, reader, &directory)?;
    for i in 0..za.len() {
        let file = za.by_index(i).map_err(|e| zip_err(&walk, e))?;
        directory.confirm(
            archive,
            i,
            zipdir::EntryView {
                name: file.name_raw(),
                header_start: file.header_start(),
                data_start: file.data_start(),
                compressed: file.compressed_size(),
                size: file.size(),
                crc32: file.crc32(),
            },
        )?;
        walk.count(file.size())?;
        let raw = file.name_raw().to_vec();
        let path = walk.admit(&raw)?;
        let kind = entry_kind(archive, &file, path.as_str())?;
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
                let (size, compressed, crc32) = (file.size(), file.compressed_size(), file.crc32());
                let method = file.compression();
                drop(file);
                let declared = Declared {
                    method,
                    compressed,
                    size,
                    crc32,
                };
                feed_entry(&mut walk, &mut za, i, declared, &out, sink)?;
            }
        }
    }
    Ok(walk.totals)
}

/// A zip crate error, as the walk reports a corrupt archive.
fn zip_err(walk: &Walk<'_>, e: ::zip::result::ZipError) -> UnpackError {
    walk.corrupt(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Opens the archive with the zip crate at offset 0 and checks that it sees
/// as many entries as the checked central directory lists.
fn open_checked<R: Read + Seek>(
    archive: &str,
    walk: &Walk<'_>,
    reader: R,
    directory: &zipdir::Directory,
) -> Result<::zip::ZipArchive<R>, UnpackError> {
    // The structure was checked from offset 0: the crate must not guess
    // another start (it would, for an archive with bytes prepended).
    let config = ::zip::read::Config {
        archive_offset: ::zip::read::ArchiveOffset::Known(0),
    };
    let za = ::zip::ZipArchive::with_config(config, reader).map_err(|e| zip_err(walk, e))?;
    if za.len() != directory.len() {
        return Err(UnpackError::ZipStructure {
            archive: archive.to_string(),
            detail: format!(
                "the central directory lists {} entries, the zip reader sees {}",
                directory.len(),
                za.len()
            ),
        });
    }
    Ok(za)
}

/// An entry's kind, refusing encrypted entries, symbolic links (by their
/// Unix mode) and special entries.
fn entry_kind<R: Read>(
    archive: &str,
    file: &::zip::read::ZipFile<'_, R>,
    path: &str,
) -> Result<EntryKind, UnpackError> {
    if file.encrypted() {
        return Err(UnpackError::ForbiddenType {
            archive: archive.to_string(),
            path: path.to_string(),
            kind: "encrypted entry",
        });
    }
    let mode = file.unix_mode().unwrap_or(0);
    let file_type = mode & 0o170000;
    if file.is_dir() {
        return Ok(EntryKind::Dir);
    }
    match file_type {
        0 | 0o100000 => Ok(EntryKind::File),
        0o120000 => Err(UnpackError::ForbiddenType {
            archive: archive.to_string(),
            path: path.to_string(),
            kind: "symbolic link",
        }),
        _ => Err(UnpackError::ForbiddenType {
            archive: archive.to_string(),
            path: path.to_string(),
            kind: "special entry",
        }),
    }
}

/// What the central directory declares of a file entry's data.
struct Declared {
    method: ::zip::CompressionMethod,
    compressed: u64,
    size: u64,
    crc32: u32,
}

/// Claims `out`, reserves the entry's size and feeds its data to the sink.
fn feed_entry<R: Read + Seek>(
    walk: &mut Walk<'_>,
    za: &mut ::zip::ZipArchive<R>,
    i: usize,
    declared: Declared,
    out: &str,
    sink: &mut dyn Sink,
) -> Result<(), UnpackError> {
    let Declared {
        method,
        compressed,
        size,
        crc32,
    } = declared;
    walk.claim(out, EntryKind::File)?;
    walk.reserve(size)?;
    // Inflated here from exactly the compressed bytes the
    // directory lists (the zip crate would stop at the end of the
    // deflate stream and never look at what follows it inside
    // the entry, where a streaming reader finds another entry).
    let raw = za.by_index_raw(i).map_err(|e| zip_err(walk, e))?;
    let mut exact =
        ExactEntry::new(raw, method, compressed, size, crc32).map_err(|e| walk.corrupt(e))?;
    let mut limited = LimitedReader::new(&mut exact, size, "zip entry");
    feed_file(walk, sink, out, size, &mut limited)?;
    exact.finish(out).map_err(|e| walk.corrupt(e))?;
    Ok(())
}

/// An entry's data, decompressed from exactly its `compressed` bytes: a
/// stored entry's sizes must agree, a deflated entry's stream must end on
/// its last compressed byte, and the CRC-32 and size must be the declared
/// ones ([`ExactEntry::finish`]).
struct ExactEntry<R: Read> {
    inner: Inner<R>,
    crc: flate2::Crc,
    compressed: u64,
    crc32: u32,
}

enum Inner<R: Read> {
    Stored(io::Take<R>),
    Deflated(flate2::bufread::DeflateDecoder<io::BufReader<io::Take<R>>>),
}

impl<R: Read> ExactEntry<R> {
    fn new(
        raw: R,
        method: ::zip::CompressionMethod,
        compressed: u64,
        size: u64,
        crc32: u32,
    ) -> io::Result<Self> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        let inner = match method {
            ::zip::CompressionMethod::Stored if compressed == size => {
                Inner::Stored(raw.take(compressed))
            }
            ::zip::CompressionMethod::Stored => {
                return Err(bad(format!(
                    "a stored entry of {size} bytes is listed with {compressed} compressed bytes"
                )))
            }
            ::zip::CompressionMethod::Deflated => Inner::Deflated(
                flate2::bufread::DeflateDecoder::new(io::BufReader::new(raw.take(compressed))),
            ),
            other => return Err(bad(format!("compression method {other} is not accepted"))),
        };
        Ok(ExactEntry {
            inner,
            crc: flate2::Crc::new(),
            compressed,
            crc32,
        })
    }

    /// After the last byte: the deflate stream used every compressed byte,
    /// and the CRC matches `crc32` as listed.
    fn finish(self, path: &str) -> io::Result<()> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        if let Inner::Deflated(d) = &self.inner {
            if d.total_in() != self.compressed {
                return Err(bad(format!(
                    "entry {path:?}: its deflate stream ends after {} of its {} compressed bytes (the rest could hide another entry from streaming readers)",
                    d.total_in(),
                    self.compressed
                )));
            }
        }
        if self.crc.sum() != self.crc32 {
            return Err(bad(format!(
                "entry {path:?} has CRC-32 {:08x}, its header says {:08x}",
                self.crc.sum(),
                self.crc32
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for ExactEntry<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Stored(r) => r.read(buf)?,
            Inner::Deflated(d) => d.read(buf)?,
        };
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::Discard;

    /// A zip of one deflated entry `name` holding `plain`, whose listed
    /// compressed data is the deflate stream followed by `slack`.
    fn deflated_zip(name: &str, plain: &[u8], slack: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut enc, plain).unwrap();
        let mut data = enc.finish().unwrap();
        data.extend_from_slice(slack);
        let mut crc = flate2::Crc::new();
        crc.update(plain);
        let fields = |out: &mut Vec<u8>| {
            out.extend_from_slice(&8u16.to_le_bytes()); // deflate
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            for v in [crc.sum(), data.len() as u32, plain.len() as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        };
        let mut out = Vec::new();
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        fields(&mut out);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&data);
        let cd = out.len();
        out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        out.extend_from_slice(&0x031eu16.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        fields(&mut out);
        out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal
        out.extend_from_slice(&(0o100644u32 << 16).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let cd_len = out.len() - cd;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&(cd_len as u32).to_le_bytes());
        out.extend_from_slice(&(cd as u32).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn walk(z: &[u8]) -> Result<Totals, UnpackError> {
        zip(
            "z",
            io::Cursor::new(z),
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
    }

    #[test]
    fn a_deflate_stream_must_end_on_its_last_compressed_byte() {
        let plain = b"the document a streaming reader should also see".repeat(20);
        walk(&deflated_zip("a.json", &plain, b"")).unwrap();
        // Slack after the stream: where a streaming reader (Java's
        // ZipInputStream) would find another local header.
        let mut hidden = 0x0403_4b50u32.to_le_bytes().to_vec();
        hidden.extend_from_slice(b"evil.openvex.json");
        let e = walk(&deflated_zip("a.json", &plain, &hidden)).unwrap_err();
        assert!(
            crate::error::chain_text(&e).contains("its deflate stream ends after"),
            "{e}"
        );
    }
}
