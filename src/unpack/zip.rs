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
    let zip_err = |walk: &Walk<'_>, e: ::zip::result::ZipError| {
        walk.corrupt(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    };
    let directory = zipdir::scan(archive, &mut reader, limits.max_entries)?;
    // The structure was checked from offset 0: the crate must not guess
    // another start (it would, for an archive with bytes prepended).
    let config = ::zip::read::Config {
        archive_offset: ::zip::read::ArchiveOffset::Known(0),
    };
    let mut za = ::zip::ZipArchive::with_config(config, reader).map_err(|e| zip_err(&walk, e))?;
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
    for i in 0..za.len() {
        let mut file = za.by_index(i).map_err(|e| zip_err(&walk, e))?;
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
