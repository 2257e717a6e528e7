//! The zip walker (VEX archives).

use std::io::{self, Read, Seek};

use crate::digest::LimitedReader;

use super::{feed_file, EntryKind, Limits, Sink, Totals, UnpackError, Walk};

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
    let zip_err = |walk: &Walk<'_>, e: ::zip::result::ZipError| {
        walk.corrupt(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    };
    let mut za = ::zip::ZipArchive::new(reader).map_err(|e| zip_err(&walk, e))?;
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
