//! Central directory records: walked through a window, each checked and its
//! local header compared.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use super::local::LocalExpect;
use super::{
    find_extra, lossy, u16le, u32le, u64le, End, Record, Scanner, CENTRAL, UNICODE_PATH_EXTRA,
    WINDOW, ZIP64_EXTRA,
};
use crate::unpack::{clean_path, UnpackError};

impl<R: Read + Seek> Scanner<'_, R> {
    /// Walks every central directory record: names checked and unique,
    /// zip64 fields exactly where the record calls for them, and the local
    /// header of each read and compared.
    pub(super) fn central_directory(&mut self, end: &End) -> Result<Vec<Record>, UnpackError> {
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
    pub(super) fn unicode_path(
        &self,
        name: &[u8],
        extra: &[u8],
        whose: &str,
    ) -> Result<(), UnpackError> {
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
