//! A zip archive's structure, checked by hand before the zip crate reads it.
//!
//! Zip readers do not agree on what an archive holds when its parts
//! disagree: the zip crate goes by the central directory and keeps the
//! *last* of two entries with one name, `unzip -n` extracts the *first*,
//! streaming readers go by the local headers and never see the central
//! directory, and bytes no central directory record points at are invisible
//! to one kind of reader and an entry to the other. A signed VEX archive is
//! extracted by airlock and, from a static VEX directory, by Trivy's own
//! reader, so any such archive could show two consumers different content.
//! [`scan`] refuses them all: it reads the end of central directory record
//! (and the zip64 one), walks every central directory record with bounded
//! memory (a window of the directory; names are checked and remembered as
//! 128-bit keys, never kept), reads each record's local header and compares
//! them, and then checks that the entries tile the file from offset 0 to the
//! central directory with nothing between, around or overlapping them.
//!
//! What the zip crate then reads is compared with what was checked here,
//! entry by entry ([`Directory::confirm`]), so a difference between the two
//! parsers is a refusal too.

use std::io::{self, Read, Seek, SeekFrom};

use super::{PathKeys, UnpackError};

mod central;
mod end;
mod local;
#[cfg(test)]
pub(crate) mod tests;

const EOCD: u32 = 0x0605_4b50;
const EOCD64: u32 = 0x0606_4b50;
const EOCD64_LOCATOR: u32 = 0x0706_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;

/// Extra field ids: zip64 sizes and offset, Info-ZIP Unicode path.
const ZIP64_EXTRA: u16 = 0x0001;
const UNICODE_PATH_EXTRA: u16 = 0x7075;

/// Flags that change how an entry is read or named: encrypted (0), data
/// descriptor (3), strong encryption (6), UTF-8 names (11), masked local
/// header (13). The local header and the central directory must agree on
/// them.
const SIGNIFICANT_FLAGS: u16 = 0x0001 | 0x0008 | 0x0040 | 0x0800 | 0x2000;
/// Flag 3: crc and sizes follow the data, in a data descriptor.
const HAS_DESCRIPTOR: u16 = 0x0008;

/// How much of the central directory is read at a time.
const WINDOW: usize = 64 << 10;

/// One checked entry, as much of it as the later checks need.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Key of the raw name.
    name: u128,
    /// Offset of the local header.
    offset: u64,
    /// Offset of the data (after the local header's name and extra field).
    data_start: u64,
    compressed: u64,
    size: u64,
    crc32: u32,
    flags: u16,
}

/// A checked central directory: its entries, in its order.
pub struct Directory {
    keys: PathKeys,
    records: Vec<Record>,
}

/// What the zip crate says of an entry, for [`Directory::confirm`].
#[derive(Debug, Clone, Copy)]
pub struct EntryView<'a> {
    /// The raw name.
    pub name: &'a [u8],
    /// Offset of the local header.
    pub header_start: u64,
    /// Offset of the data.
    pub data_start: u64,
    /// Compressed size.
    pub compressed: u64,
    /// Uncompressed size.
    pub size: u64,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
}

impl Directory {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the archive has no entries.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Refuses unless entry `index`, as another reader parsed it, is the
    /// one checked here: same name, same local header, data in the same
    /// place with the same sizes and CRC.
    pub fn confirm(
        &self,
        archive: &str,
        index: usize,
        seen: EntryView<'_>,
    ) -> Result<(), UnpackError> {
        let same = self.records.get(index).is_some_and(|r| {
            r.name == self.keys.key(seen.name)
                && r.offset == seen.header_start
                && r.data_start == seen.data_start
                && r.compressed == seen.compressed
                && r.size == seen.size
                && r.crc32 == seen.crc32
        });
        if same {
            return Ok(());
        }
        Err(UnpackError::ZipStructure {
            archive: archive.to_string(),
            detail: format!(
                "entry {index} ({:?}) is not the entry the central directory check read there",
                String::from_utf8_lossy(seen.name)
            ),
        })
    }
}

/// Checks the structure of the zip archive in `reader` (see the module
/// docs) and returns its entries. At most `max_entries` are accepted; the
/// count is known (from the end record) before anything is allocated for
/// them.
///
/// # Errors
/// [`UnpackError::ZipStructure`] for an archive readers could disagree on,
/// [`UnpackError::Duplicate`] for a name listed twice,
/// [`UnpackError::UnsafePath`] for a name [`clean_path`](super::clean_path) refuses,
/// [`UnpackError::TooManyEntries`], or [`UnpackError::Corrupt`] when it
/// cannot be read.
pub fn scan<R: Read + Seek>(
    archive: &str,
    reader: &mut R,
    max_entries: u64,
) -> Result<Directory, UnpackError> {
    let mut s = Scanner {
        archive,
        r: reader,
        keys: PathKeys::new(),
    };
    let end = s.end_record()?;
    if end.entries > max_entries {
        return Err(UnpackError::TooManyEntries {
            archive: archive.to_string(),
            limit: max_entries,
        });
    }
    let records = s.central_directory(&end)?;
    s.layout(&records, end.cd_offset)?;
    Ok(Directory {
        keys: s.keys,
        records,
    })
}

/// What the end of central directory record (or its zip64 form) says.
struct End {
    entries: u64,
    cd_offset: u64,
    cd_size: u64,
    /// Where the central directory must end: the zip64 end record, or the
    /// end record.
    cd_end: u64,
}

struct Scanner<'a, R> {
    archive: &'a str,
    r: &'a mut R,
    keys: PathKeys,
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The data of extra field `id`, if present. A field running past the end,
/// or one id twice, is refused (readers differ on which copy counts).
fn find_extra(extra: &[u8], id: u16) -> Result<Option<&[u8]>, &'static str> {
    let mut found = None;
    let mut rest = extra;
    while rest.len() >= 4 {
        let (kind, len) = (u16le(rest, 0), usize::from(u16le(rest, 2)));
        let data = rest
            .get(4..4 + len)
            .ok_or("an extra field runs past its end")?;
        if kind == id {
            if found.is_some() {
                return Err("the same extra field twice");
            }
            found = Some(data);
        }
        rest = &rest[4 + len..];
    }
    Ok(found)
}

impl<R: Read + Seek> Scanner<'_, R> {
    fn structure(&self, detail: String) -> UnpackError {
        UnpackError::ZipStructure {
            archive: self.archive.to_string(),
            detail,
        }
    }

    fn io(&self, source: io::Error) -> UnpackError {
        UnpackError::Corrupt {
            archive: self.archive.to_string(),
            source,
        }
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), UnpackError> {
        let r = self
            .r
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.r.read_exact(buf));
        r.map_err(|e| self.io(e))
    }
}
