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

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use super::{clean_path, PathKeys, UnpackError};

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
/// [`UnpackError::UnsafePath`] for a name [`clean_path`] refuses,
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

/// The fields of the classic end of central directory record at `at`.
#[derive(Clone, Copy)]
struct Classic {
    at: u64,
    disk: u16,
    cd_disk: u16,
    on_disk: u16,
    total: u16,
    cd_size: u32,
    cd_offset: u32,
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

    /// The end of central directory record: the last signature in the
    /// final 64 KiB + 22 bytes, which must end the file exactly with its
    /// comment (a later signature, say inside the comment, or bytes after
    /// the comment, are refused: readers pick different records then).
    fn end_record(&mut self) -> Result<End, UnpackError> {
        let (at, e) = self.find_end_record()?;
        let classic = Classic {
            at,
            disk: u16le(&e, 4),
            cd_disk: u16le(&e, 6),
            on_disk: u16le(&e, 8),
            total: u16le(&e, 10),
            cd_size: u32le(&e, 12),
            cd_offset: u32le(&e, 16),
        };
        let Classic {
            disk,
            cd_disk,
            on_disk,
            total,
            cd_size,
            cd_offset,
            ..
        } = classic;
        let mut locator = [0u8; 20];
        let zip64 = if at >= 20 {
            self.read_at(at - 20, &mut locator)?;
            u32le(&locator, 0) == EOCD64_LOCATOR
        } else {
            false
        };
        if !zip64 {
            if disk != 0 || cd_disk != 0 || on_disk != total {
                return Err(self.structure(format!(
                    "a split archive, or one whose end record counts {on_disk} entries on this disk and {total} in all"
                )));
            }
            return Ok(End {
                entries: u64::from(total),
                cd_offset: u64::from(cd_offset),
                cd_size: u64::from(cd_size),
                cd_end: at,
            });
        }
        self.zip64_end(&classic, &locator)
    }

    /// Finds the end of central directory record and checks that it and
    /// its comment end the file; returns its offset and its 22 bytes.
    fn find_end_record(&mut self) -> Result<(u64, [u8; 22]), UnpackError> {
        let len = self.r.seek(SeekFrom::End(0)).map_err(|e| self.io(e))?;
        let none = || "no end of central directory record: not a zip archive".to_string();
        if len < 22 {
            return Err(self.structure(none()));
        }
        let tail_len = len.min(22 + 0xFFFF) as usize;
        let tail_start = len - tail_len as u64;
        let mut tail = vec![0u8; tail_len];
        self.read_at(tail_start, &mut tail)?;
        let sig = EOCD.to_le_bytes();
        let p = (0..=tail_len - 22)
            .rev()
            .find(|&i| tail[i..i + 4] == sig)
            .ok_or_else(|| self.structure(none()))?;
        let e: [u8; 22] = tail[p..p + 22].try_into().expect("22 bytes");
        let at = tail_start + p as u64;
        let comment_end = at + 22 + u64::from(u16le(&e, 20));
        if comment_end != len {
            return Err(self.structure(if comment_end > len {
                format!("the end of central directory record at offset {at} has a comment running past the end of the file")
            } else {
                format!(
                    "{} bytes after the end of central directory record (offset {at}) and its comment",
                    len - comment_end
                )
            }));
        }
        Ok((at, e))
    }

    /// The zip64 end of central directory record its locator (the 20 bytes
    /// before the classic record) points at, which must end where the
    /// locator begins and agree with the classic record.
    fn zip64_end(&mut self, classic: &Classic, locator: &[u8; 20]) -> Result<End, UnpackError> {
        let Classic {
            at,
            on_disk,
            total,
            cd_size,
            cd_offset,
            ..
        } = *classic;
        let locator_at = at - 20;
        let (disk_with, e64_at, disks) = (u32le(locator, 4), u64le(locator, 8), u32le(locator, 16));
        if disk_with != 0 || disks > 1 {
            return Err(self.structure("a split (multi-disk) archive".into()));
        }
        if e64_at > locator_at || locator_at - e64_at < 56 {
            return Err(self.structure(format!(
                "the zip64 end of central directory locator points at offset {e64_at}, which leaves no room for the record before it"
            )));
        }
        let mut h = [0u8; 56];
        self.read_at(e64_at, &mut h)?;
        if u32le(&h, 0) != EOCD64 {
            return Err(self.structure(format!(
                "no zip64 end of central directory record at offset {e64_at}, where its locator points"
            )));
        }
        if u64le(&h, 4).checked_add(12) != Some(locator_at - e64_at) {
            return Err(self.structure(format!(
                "the zip64 end of central directory record at offset {e64_at} does not end where its locator begins (offset {locator_at})"
            )));
        }
        let (disk64, cd_disk64) = (u32le(&h, 16), u32le(&h, 20));
        let (on_disk64, total64) = (u64le(&h, 24), u64le(&h, 32));
        let (cd_size64, cd_offset64) = (u64le(&h, 40), u64le(&h, 48));
        if disk64 != 0 || cd_disk64 != 0 || on_disk64 != total64 {
            return Err(self.structure(format!(
                "a split archive, or one whose zip64 end record counts {on_disk64} entries on this disk and {total64} in all"
            )));
        }
        // The classic record must say the same, or "see the zip64 record"
        // (all ones): a reader that ignores the zip64 record must not find
        // another directory.
        let agree = |v32: u64, max: u64, v64: u64| v32 == max || v32 == v64;
        if !(agree(u64::from(total), 0xFFFF, total64)
            && agree(u64::from(on_disk), 0xFFFF, on_disk64)
            && agree(u64::from(cd_size), 0xFFFF_FFFF, cd_size64)
            && agree(u64::from(cd_offset), 0xFFFF_FFFF, cd_offset64))
        {
            return Err(self.structure(format!(
                "the end of central directory record ({total} entries, directory of {cd_size} bytes at offset {cd_offset}) and its zip64 record ({total64} entries, {cd_size64} bytes at offset {cd_offset64}) disagree"
            )));
        }
        Ok(End {
            entries: total64,
            cd_offset: cd_offset64,
            cd_size: cd_size64,
            cd_end: e64_at,
        })
    }

    /// Walks every central directory record: names checked and unique,
    /// zip64 fields exactly where the record calls for them, and the local
    /// header of each read and compared.
    fn central_directory(&mut self, end: &End) -> Result<Vec<Record>, UnpackError> {
        if end.cd_offset.checked_add(end.cd_size) != Some(end.cd_end) {
            return Err(self.structure(format!(
                "the central directory ({} bytes at offset {}) does not end where the end of central directory record begins (offset {})",
                end.cd_size, end.cd_offset, end.cd_end
            )));
        }
        // At least 46 bytes a record: the end record's count cannot make
        // this allocate more than the directory's size allows.
        let mut records = Vec::with_capacity(end.entries.min(end.cd_size / 46) as usize);
        let mut names = HashSet::with_capacity(records.capacity());
        let mut window = Window {
            data: Vec::new(),
            start: 0,
        };
        let mut pos = end.cd_offset;
        while pos < end.cd_end {
            let index = records.len() as u64;
            if index == end.entries {
                return Err(self.structure(format!(
                    "the central directory holds more than the {} entries the end of central directory record counts",
                    end.entries
                )));
            }
            if end.cd_end - pos < 46 {
                return Err(self.structure(format!(
                    "central directory record {index} at offset {pos} is cut short"
                )));
            }
            let h: [u8; 46] = window.get(self, pos, 46)?.try_into().expect("46 bytes");
            if u32le(&h, 0) != CENTRAL {
                return Err(self.structure(format!(
                    "no central directory record at offset {pos} (record {index})"
                )));
            }
            let (n, m, k) = (
                u64::from(u16le(&h, 28)),
                u64::from(u16le(&h, 30)),
                u64::from(u16le(&h, 32)),
            );
            let record_len = 46 + n + m + k;
            if end.cd_end - pos < record_len {
                return Err(self.structure(format!(
                    "central directory record {index} at offset {pos} runs past the end of the central directory"
                )));
            }
            let var = window.get(self, pos + 46, (n + m) as usize)?.to_vec();
            let (name, extra) = var.split_at(n as usize);
            let record = self.record(&h, name, extra, end.cd_offset)?;
            if !names.insert(record.name) {
                return Err(UnpackError::Duplicate {
                    archive: self.archive.to_string(),
                    path: lossy(name),
                });
            }
            records.push(record);
            pos += record_len;
        }
        if records.len() as u64 != end.entries {
            return Err(self.structure(format!(
                "the end of central directory record counts {} entries, the central directory holds {}",
                end.entries,
                records.len()
            )));
        }
        Ok(records)
    }

    /// One central directory record (`h`, its fixed part) and its local
    /// header.
    fn record(
        &mut self,
        h: &[u8; 46],
        name: &[u8],
        extra: &[u8],
        cd_offset: u64,
    ) -> Result<Record, UnpackError> {
        let shown = lossy(name);
        clean_path(name).map_err(|reason| UnpackError::UnsafePath {
            archive: self.archive.to_string(),
            path: shown.clone(),
            reason,
        })?;
        let flags = u16le(h, 8);
        let method = u16le(h, 10);
        let crc32 = u32le(h, 16);
        let (compressed32, size32) = (u32le(h, 20), u32le(h, 24));
        let disk32 = u16le(h, 34);
        let offset32 = u32le(h, 42);
        let malformed =
            |what: &str| format!("entry {shown:?}: {what} in its central directory record");
        // Zip64 values are present exactly for the fields set to all ones,
        // in this order (APPNOTE 4.5.3). Readers differ on a field of any
        // other length (the zip crate reads all three values from one of 24
        // bytes or more, Go's archive/zip only those called for), so it is
        // refused.
        let wide = [
            size32 == u32::MAX,
            compressed32 == u32::MAX,
            offset32 == u32::MAX,
        ];
        let want = 8 * wide.iter().filter(|w| **w).count() + if disk32 == u16::MAX { 4 } else { 0 };
        let z64 = find_extra(extra, ZIP64_EXTRA).map_err(|e| self.structure(malformed(e)))?;
        let mut values = [
            u64::from(size32),
            u64::from(compressed32),
            u64::from(offset32),
        ];
        match z64 {
            None if want == 0 => {}
            Some(d) if d.len() == want => {
                let mut at = 0;
                for (v, w) in values.iter_mut().zip(wide) {
                    if w {
                        *v = u64le(d, at);
                        at += 8;
                    }
                }
                if disk32 == u16::MAX && u32le(d, at) != 0 {
                    return Err(self.structure(format!(
                        "entry {shown:?} starts on another disk (a split archive)"
                    )));
                }
            }
            found => {
                return Err(self.structure(malformed(&format!(
                    "a zip64 extra field of {} bytes where its fields call for {want}",
                    found.map_or(0, <[u8]>::len)
                ))))
            }
        }
        if disk32 != 0 && disk32 != u16::MAX {
            return Err(self.structure(format!(
                "entry {shown:?} starts on another disk (a split archive)"
            )));
        }
        let [size, compressed, offset] = values;
        self.unicode_path(name, extra, "its central directory record")?;
        let data_start = self.local_header(
            LocalExpect {
                name,
                shown: &shown,
                flags,
                method,
                crc32,
                compressed,
                size,
                offset,
            },
            cd_offset,
        )?;
        Ok(Record {
            name: self.keys.key(name),
            offset,
            data_start,
            compressed,
            size,
            crc32,
            flags,
        })
    }

    /// Refuses an Info-ZIP Unicode path extra field naming anything but
    /// the entry's own name: the zip crate and `unzip` use it instead of the
    /// name, Go's archive/zip ignores it.
    fn unicode_path(&self, name: &[u8], extra: &[u8], whose: &str) -> Result<(), UnpackError> {
        let shown = lossy(name);
        let field = find_extra(extra, UNICODE_PATH_EXTRA)
            .map_err(|e| self.structure(format!("entry {shown:?}: {e} in {whose}")))?;
        match field {
            Some(d) if d.get(5..) != Some(name) => Err(self.structure(format!(
                "entry {shown:?}: {whose} carries a Unicode path extra field naming {:?}; readers that honour it and readers that do not would extract different names",
                lossy(d.get(5..).unwrap_or_default())
            ))),
            _ => Ok(()),
        }
    }

    /// Reads the local header the record points at and compares it; returns
    /// where the entry's data starts.
    fn local_header(&mut self, cd: LocalExpect<'_>, cd_offset: u64) -> Result<u64, UnpackError> {
        let shown = cd.shown;
        let (h, var, data_start) = self.read_local(&cd, cd_offset)?;
        let (flags, method) = (u16le(&h, 6), u16le(&h, 8));
        let crc32 = u32le(&h, 14);
        let (n, compressed32, size32) = (u16le(&h, 26), u32le(&h, 18), u32le(&h, 22));
        let (name, extra) = var.split_at(usize::from(n));
        if name != cd.name {
            return Err(self.structure(format!(
                "entry {shown:?}: its local header names {:?}; the central directory and the local header must agree (readers that go by either would extract different files)",
                lossy(name)
            )));
        }
        self.unicode_path(name, extra, "its local header")?;
        if (flags ^ cd.flags) & SIGNIFICANT_FLAGS != 0 {
            return Err(self.structure(format!(
                "entry {shown:?}: general purpose flags {flags:#06x} in its local header, {:#06x} in the central directory",
                cd.flags
            )));
        }
        if method != cd.method {
            return Err(self.structure(format!(
                "entry {shown:?}: compression method {method} in its local header, {} in the central directory",
                cd.method
            )));
        }
        let (compressed, size) = self.local_sizes(shown, extra, compressed32, size32)?;
        // With a data descriptor the local header may leave them zero.
        let deferred = flags & HAS_DESCRIPTOR != 0;
        let fits = |local: u64, central: u64| local == central || (deferred && local == 0);
        if !(fits(u64::from(crc32), u64::from(cd.crc32))
            && fits(compressed, cd.compressed)
            && fits(size, cd.size))
        {
            return Err(self.structure(format!(
                "entry {shown:?}: its local header says crc32 {crc32:08x}, {compressed} bytes compressed, {size} bytes; the central directory says {:08x}, {}, {}",
                cd.crc32, cd.compressed, cd.size
            )));
        }
        if data_start
            .checked_add(cd.compressed)
            .map_or(true, |end| end > cd_offset)
        {
            return Err(self.structure(format!(
                "entry {shown:?}: its {} bytes of data run into the central directory",
                cd.compressed
            )));
        }
        Ok(data_start)
    }

    /// Reads the local header at `cd.offset`, which must lie before the
    /// central directory and not run into it: its fixed 30 bytes, its name
    /// and extra field, and where its data starts.
    fn read_local(
        &mut self,
        cd: &LocalExpect<'_>,
        cd_offset: u64,
    ) -> Result<([u8; 30], Vec<u8>, u64), UnpackError> {
        let shown = cd.shown;
        let offset = cd.offset;
        if offset >= cd_offset || cd_offset - offset < 30 {
            return Err(self.structure(format!(
                "entry {shown:?}: its local header offset {offset} is not before the central directory (offset {cd_offset})"
            )));
        }
        let mut h = [0u8; 30];
        self.read_at(offset, &mut h)?;
        if u32le(&h, 0) != LOCAL {
            return Err(self.structure(format!(
                "entry {shown:?}: no local header at offset {offset}, where the central directory points"
            )));
        }
        let (n, m) = (u64::from(u16le(&h, 26)), u64::from(u16le(&h, 28)));
        let data_start = offset + 30 + n + m;
        if data_start > cd_offset {
            return Err(self.structure(format!(
                "entry {shown:?}: its local header runs into the central directory"
            )));
        }
        let mut var = vec![0u8; (n + m) as usize];
        self.r.read_exact(&mut var).map_err(|e| self.io(e))?;
        Ok((h, var, data_start))
    }

    /// The local header's sizes: those set to all ones are in the local
    /// zip64 extra field.
    fn local_sizes(
        &self,
        shown: &str,
        extra: &[u8],
        compressed32: u32,
        size32: u32,
    ) -> Result<(u64, u64), UnpackError> {
        // Sizes set to all ones are in the local zip64 extra field, which
        // holds both (APPNOTE 4.5.3): uncompressed, then compressed.
        let (mut compressed, mut size) = (u64::from(compressed32), u64::from(size32));
        if compressed32 == u32::MAX || size32 == u32::MAX {
            let d = find_extra(extra, ZIP64_EXTRA)
                .ok()
                .flatten()
                .filter(|d| d.len() >= 16)
                .ok_or_else(|| {
                    self.structure(format!(
                        "entry {shown:?}: its local header marks zip64 sizes without a zip64 extra field holding them"
                    ))
                })?;
            if size32 == u32::MAX {
                size = u64le(d, 0);
            }
            if compressed32 == u32::MAX {
                compressed = u64le(d, 8);
            }
        }
        Ok((compressed, size))
    }

    /// The entries, in file order, must tile the file from offset 0 to the
    /// central directory: no bytes before, between or after them that no
    /// record covers (a hidden entry a streaming reader would extract), no
    /// two overlapping. The only bytes allowed after an entry's data are its
    /// data descriptor, which must repeat the central directory's figures.
    fn layout(&mut self, records: &[Record], cd_offset: u64) -> Result<(), UnpackError> {
        let mut order: Vec<u32> = (0..records.len() as u32).collect();
        order.sort_unstable_by_key(|&i| records[i as usize].offset);
        let mut at = 0u64;
        for (j, &i) in order.iter().enumerate() {
            let r = records[i as usize];
            if r.offset != at {
                // Only the first can be off: every later one starts where
                // the one before ended (checked below).
                let name = self.name_at(r.offset)?;
                return Err(self.structure(format!(
                    "{} bytes at offset {at} that no central directory entry covers, before entry {name:?} (a hidden entry?)",
                    r.offset - at
                )));
            }
            let next = order
                .get(j + 1)
                .map_or(cd_offset, |&n| records[n as usize].offset);
            let data_end = r.data_start + r.compressed;
            if next < data_end {
                let (this, other) = (self.name_at(r.offset)?, self.name_at(next)?);
                return Err(self.structure(format!(
                    "entries {this:?} and {other:?} overlap (the local header of the second is at offset {next}, inside the first, which runs to {data_end})"
                )));
            }
            let gap = next - data_end;
            if r.flags & HAS_DESCRIPTOR != 0 {
                self.descriptor(&r, data_end, gap)?;
            } else if gap != 0 {
                let name = self.name_at(r.offset)?;
                return Err(self.structure(format!(
                    "{gap} bytes at offset {data_end}, after entry {name:?}, that no central directory entry covers (a hidden entry?)"
                )));
            }
            at = next;
        }
        if records.is_empty() && cd_offset != 0 {
            return Err(self.structure(format!(
                "{cd_offset} bytes before the central directory of an empty archive (a hidden entry?)"
            )));
        }
        Ok(())
    }

    /// The data descriptor of `r`, `len` bytes at `at`: with or without its
    /// signature, with 4- or 8-byte sizes, the length tells which.
    fn descriptor(&mut self, r: &Record, at: u64, len: u64) -> Result<(), UnpackError> {
        let (signed, wide) = match len {
            12 => (false, false),
            16 => (true, false),
            20 => (false, true),
            24 => (true, true),
            _ => {
                let name = self.name_at(r.offset)?;
                return Err(self.structure(format!(
                    "{len} bytes after the data of entry {name:?}, where its data descriptor takes 12 to 24 (a hidden entry?)"
                )));
            }
        };
        let mut b = [0u8; 24];
        self.read_at(at, &mut b[..len as usize])?;
        let p = if signed { 4 } else { 0 };
        let (crc32, compressed, size) = if wide {
            (u32le(&b, p), u64le(&b, p + 4), u64le(&b, p + 12))
        } else {
            (
                u32le(&b, p),
                u64::from(u32le(&b, p + 4)),
                u64::from(u32le(&b, p + 8)),
            )
        };
        if (signed && u32le(&b, 0) != DESCRIPTOR)
            || (crc32, compressed, size) != (r.crc32, r.compressed, r.size)
        {
            let name = self.name_at(r.offset)?;
            return Err(self.structure(format!(
                "entry {name:?}: its data descriptor at offset {at} does not repeat the central directory's crc32 {:08x}, {} bytes compressed, {} bytes",
                r.crc32, r.compressed, r.size
            )));
        }
        Ok(())
    }

    /// The name in the local header at `offset` (for messages; it was
    /// checked against the central directory).
    fn name_at(&mut self, offset: u64) -> Result<String, UnpackError> {
        let mut h = [0u8; 30];
        self.read_at(offset, &mut h)?;
        let mut name = vec![0u8; usize::from(u16le(&h, 26))];
        self.r.read_exact(&mut name).map_err(|e| self.io(e))?;
        Ok(lossy(&name))
    }
}

/// What the central directory says of an entry, to compare with its local
/// header.
struct LocalExpect<'a> {
    name: &'a [u8],
    shown: &'a str,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

/// A window on the central directory, reloaded as the walk moves on, so it
/// is read in large pieces whatever its size (at most 64 KiB, or one record,
/// at most 46 + 2 × 64 KiB, in memory).
struct Window {
    data: Vec<u8>,
    start: u64,
}

impl Window {
    /// Bytes `pos..pos + len` (the caller checked they are inside the
    /// directory).
    fn get<'w, R: Read + Seek>(
        &'w mut self,
        s: &mut Scanner<'_, R>,
        pos: u64,
        len: usize,
    ) -> Result<&'w [u8], UnpackError> {
        let end = self.start + self.data.len() as u64;
        if pos < self.start || pos + len as u64 > end {
            self.data.resize(len.max(WINDOW), 0);
            // Near the end of the file a full window may not exist.
            s.r.seek(SeekFrom::Start(pos)).map_err(|e| s.io(e))?;
            let mut got = 0;
            while got < self.data.len() {
                match s.r.read(&mut self.data[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(s.io(e)),
                }
            }
            if got < len {
                return Err(s.io(io::ErrorKind::UnexpectedEof.into()));
            }
            self.data.truncate(got);
            self.start = pos;
        }
        let i = (pos - self.start) as usize;
        Ok(&self.data[i..i + len])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Cursor, Write as _};

    use super::*;
    use crate::unpack::{Discard, Limits, Totals};

    /// One stored entry of a hand-made zip.
    #[derive(Clone, Default)]
    pub(crate) struct E {
        pub name: Vec<u8>,
        /// The name in the local header, when it is to differ.
        pub local_name: Option<Vec<u8>>,
        pub data: Vec<u8>,
        /// Listed in the central directory.
        pub listed: bool,
        /// Crc and sizes in a data descriptor (with its signature).
        pub descriptor: bool,
        /// A data descriptor that does not repeat the crc.
        pub bad_descriptor: bool,
        pub cd_extra: Vec<u8>,
        /// The compression method in the local header, when it is to differ.
        pub local_method: Option<u16>,
        /// No local header of its own: the record points at this offset.
        pub points_at: Option<u64>,
    }

    impl E {
        pub(crate) fn new(name: &str, data: &[u8]) -> E {
            E {
                name: name.as_bytes().to_vec(),
                data: data.to_vec(),
                listed: true,
                ..E::default()
            }
        }
    }

    /// A hand-made zip of stored entries, with the ways to spoil it.
    #[derive(Clone, Default)]
    pub(crate) struct Z {
        pub entries: Vec<E>,
        pub prefix: Vec<u8>,
        /// The end record's entry count, when it is to differ.
        pub count: Option<u16>,
        pub before_end: Vec<u8>,
        pub comment: Vec<u8>,
        pub after: Vec<u8>,
    }

    pub(crate) fn crc(data: &[u8]) -> u32 {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    }

    /// A local header (and nothing else) for `name` holding `data` stored.
    pub(crate) fn local_header(name: &[u8], data: &[u8], flags: u16, method: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&LOCAL.to_le_bytes());
        h.extend_from_slice(&20u16.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&[0, 0, 0x21, 0]); // 1980-01-01 00:00
        let deferred = flags & HAS_DESCRIPTOR != 0;
        for v in [crc(data), data.len() as u32, data.len() as u32] {
            h.extend_from_slice(&(if deferred { 0 } else { v }).to_le_bytes());
        }
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(name);
        h
    }

    pub(crate) fn build(z: &Z) -> Vec<u8> {
        let mut out = z.prefix.clone();
        let mut offsets = Vec::new();
        for e in &z.entries {
            if let Some(at) = e.points_at {
                offsets.push(at);
                continue;
            }
            offsets.push(out.len() as u64);
            let flags = if e.descriptor { HAS_DESCRIPTOR } else { 0 };
            let name = e.local_name.as_ref().unwrap_or(&e.name);
            out.extend(local_header(
                name,
                &e.data,
                flags,
                e.local_method.unwrap_or(0),
            ));
            out.extend_from_slice(&e.data);
            if e.descriptor {
                out.extend_from_slice(&DESCRIPTOR.to_le_bytes());
                let c = crc(&e.data) ^ u32::from(e.bad_descriptor);
                for v in [c, e.data.len() as u32, e.data.len() as u32] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        let cd_offset = out.len();
        let mut listed = 0u16;
        for (e, offset) in z.entries.iter().zip(offsets) {
            if !e.listed {
                continue;
            }
            listed += 1;
            let dir = e.name.ends_with(b"/");
            out.extend_from_slice(&CENTRAL.to_le_bytes());
            out.extend_from_slice(&0x031eu16.to_le_bytes()); // Unix, 3.0
            out.extend_from_slice(&20u16.to_le_bytes());
            let flags = if e.descriptor { HAS_DESCRIPTOR } else { 0 };
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            for v in [crc(&e.data), e.data.len() as u32, e.data.len() as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(e.cd_extra.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
            let mode: u32 = if dir { 0o40755 } else { 0o100644 };
            out.extend_from_slice(&(mode << 16).to_le_bytes());
            out.extend_from_slice(&(offset as u32).to_le_bytes());
            out.extend_from_slice(&e.name);
            out.extend_from_slice(&e.cd_extra);
        }
        let cd_size = out.len() - cd_offset;
        out.extend_from_slice(&z.before_end);
        out.extend_from_slice(&EOCD.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let count = z.count.unwrap_or(listed);
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&(cd_size as u32).to_le_bytes());
        out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
        out.extend_from_slice(&(z.comment.len() as u16).to_le_bytes());
        out.extend_from_slice(&z.comment);
        out.extend_from_slice(&z.after);
        out
    }

    fn good() -> Z {
        Z {
            entries: vec![
                E::new("top/", b""),
                E::new("top/index.json", b"{\"packages\":[]}"),
                E::new("top/a/b.json", b"{}"),
            ],
            comment: b"0123456789abcdef0123456789abcdef01234567".to_vec(),
            ..Z::default()
        }
    }

    fn scan_of(data: &[u8]) -> Result<Directory, UnpackError> {
        scan("t.zip", &mut Cursor::new(data), 1000)
    }

    fn refusal(z: &Z) -> String {
        match scan_of(&build(z)) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn walk(data: &[u8]) -> Result<Totals, UnpackError> {
        crate::unpack::zip(
            "t.zip",
            Cursor::new(data),
            Limits::LOCAL_INPUT,
            &mut |p, _| Some(p.to_string()),
            &mut Discard,
        )
    }

    #[test]
    fn well_formed_archives_pass() {
        let data = build(&good());
        assert_eq!(scan_of(&data).unwrap().len(), 3);
        let t = walk(&data).unwrap();
        assert_eq!((t.entries, t.files, t.dirs), (3, 2, 2));
        let mut z = good();
        z.entries[2].descriptor = true;
        z.entries[1].descriptor = true;
        assert_eq!(walk(&build(&z)).unwrap().files, 2);
        let empty = Z::default();
        assert!(scan_of(&build(&empty)).unwrap().is_empty());
    }

    /// What the zip crate writes: zip64 extra fields, a comment, and more
    /// than 65535 entries (zip64 end records). (Git's and Python's streamed
    /// zips are tried in tests/hostile_archives.rs.)
    #[test]
    fn archives_the_zip_crate_writes_pass() {
        use ::zip::write::SimpleFileOptions;
        let opts =
            SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
        let fill = |z: &mut dyn FnMut(&str, SimpleFileOptions, &[u8])| {
            z("top/index.json", opts, b"{}");
            z("top/big.json", opts.large_file(true), &[b'x'; 5000]);
            z(
                "top/stored",
                opts.compression_method(::zip::CompressionMethod::Stored),
                b"s",
            );
        };
        let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("top/", opts).unwrap();
        fill(&mut |n, o, d| {
            w.start_file(n, o).unwrap();
            w.write_all(d).unwrap();
        });
        w.set_comment("a comment");
        let seekable = w.finish().unwrap().into_inner();
        assert_eq!(walk(&seekable).unwrap().files, 3);
        let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored =
            SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Stored);
        for i in 0..70_000 {
            w.start_file(format!("f/{i}"), stored).unwrap();
        }
        let many = w.finish().unwrap().into_inner();
        assert_eq!(
            scan_of(&many).map(|d| d.len()).unwrap_err().to_string(),
            "t.zip: more than 1000 entries"
        );
        let d = scan("t.zip", &mut Cursor::new(&many), 100_000).unwrap();
        assert_eq!(d.len(), 70_000);
    }

    #[test]
    fn a_name_listed_twice_is_refused() {
        let mut z = good();
        z.entries.push(E::new("top/index.json", b"{\"other\":1}"));
        let e = refusal(&z);
        assert_eq!(e, "t.zip: entry \"top/index.json\" appears more than once");
        // The walker says the same (the crate alone would keep the last).
        assert_eq!(walk(&build(&z)).unwrap_err().to_string(), e);
    }

    #[test]
    fn a_local_header_that_disagrees_is_refused() {
        let mut z = good();
        z.entries[1].local_name = Some(b"top/evil.json!".to_vec());
        assert_eq!(refusal(&z), "t.zip: entry \"top/index.json\": its local header names \"top/evil.json!\"; the central directory and the local header must agree (readers that go by either would extract different files)");
        let mut z = good();
        z.entries[1].local_method = Some(8);
        assert!(refusal(&z)
            .contains("compression method 8 in its local header, 0 in the central directory"));
        let mut z = good();
        z.entries[2].descriptor = true;
        z.entries[2].bad_descriptor = true;
        assert!(refusal(&z).contains("entry \"top/a/b.json\": its data descriptor at offset"));
    }

    #[test]
    fn bytes_no_record_covers_are_refused() {
        // A whole entry (local header and data) the central directory omits.
        let mut z = good();
        let mut hidden = E::new("top/index.json", b"{\"hidden\":1}");
        hidden.listed = false;
        z.entries.insert(2, hidden.clone());
        assert_eq!(refusal(&z), "t.zip: 56 bytes at offset 93, after entry \"top/index.json\", that no central directory entry covers (a hidden entry?)");
        let mut z = good();
        z.entries.push(hidden);
        assert!(refusal(&z)
            .contains("after entry \"top/a/b.json\", that no central directory entry covers"));
        let mut z = good();
        z.prefix = b"#!/bin/sh\nexit 0\n".to_vec();
        assert!(refusal(&z)
            .starts_with("t.zip: 17 bytes at offset 0 that no central directory entry covers"));
        let mut z = good();
        z.before_end = vec![0; 30];
        assert!(
            refusal(&z).contains("does not end where the end of central directory record begins")
        );
        let mut z = good();
        z.after = b"trailing".to_vec();
        assert!(refusal(&z).contains("8 bytes after the end of central directory record"));
        // An end record inside the comment is the one every reader takes
        // (the last): here it describes an empty archive, which leaves the
        // real entries and directory uncovered.
        let mut z = good();
        z.comment = [&EOCD.to_le_bytes()[..], &[0; 18]].concat();
        let e = refusal(&z);
        assert!(e.contains("t.zip: the central directory (0 bytes at offset 0) does not end where the end of central directory record begins"), "{e}");
    }

    #[test]
    fn overlapping_entries_are_refused() {
        let inner = E::new("top/inner", b"x");
        let mut z = good();
        let name_len = z.entries[1].name.len() as u64;
        let mut carrier = local_header(&inner.name, &inner.data, 0, 0);
        carrier.extend_from_slice(&inner.data);
        z.entries[1].data = carrier;
        // entries[0] is "top/" at 0, its header 30 + 4 bytes; then index.json.
        let at = 34 + 30 + name_len;
        z.entries.push(E {
            points_at: Some(at),
            ..inner
        });
        let e = refusal(&z);
        assert!(
            e.contains("entries \"top/index.json\" and \"top/inner\" overlap"),
            "{e}"
        );
    }

    #[test]
    fn counts_that_disagree_are_refused() {
        let mut z = good();
        z.count = Some(2);
        assert_eq!(refusal(&z), "t.zip: the central directory holds more than the 2 entries the end of central directory record counts");
        z.count = Some(4);
        assert_eq!(refusal(&z), "t.zip: the end of central directory record counts 4 entries, the central directory holds 3");
    }

    #[test]
    fn extra_fields_readers_disagree_on_are_refused() {
        let mut z = good();
        let mut unicode = vec![0x75, 0x70, 17, 0, 1, 0, 0, 0, 0];
        unicode.extend_from_slice(b"top/evil.js");
        unicode[2] = (unicode.len() - 4) as u8;
        z.entries[1].cd_extra = unicode;
        assert!(refusal(&z).contains("carries a Unicode path extra field naming \"top/evil.js\""));
        // A zip64 field of 24 bytes where no field is all ones: the zip
        // crate would read sizes and offset from it, Go would not.
        let mut z = good();
        let mut z64 = vec![1, 0, 24, 0];
        z64.extend_from_slice(&[0; 24]);
        z.entries[1].cd_extra = z64;
        assert!(refusal(&z).contains("a zip64 extra field of 24 bytes where its fields call for 0"));
    }

    #[test]
    fn unsafe_names_are_refused_from_the_directory() {
        let mut z = good();
        z.entries.push(E::new("top/../../etc/x", b"x"));
        assert!(refusal(&z).contains("unsafe entry name \"top/../../etc/x\""));
    }

    #[test]
    fn damaged_archives_are_refused_without_panic() {
        let mut z = good();
        z.entries[2].descriptor = true;
        let data = build(&z);
        for cut in 0..data.len() {
            let _ = scan_of(&data[..cut]);
        }
        for i in 0..data.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut d = data.clone();
                d[i] ^= flip;
                let _ = walk(&d);
            }
        }
    }
}
