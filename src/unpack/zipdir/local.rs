//! Local headers, compared with the central directory; the layout of the
//! entries in the file, and data descriptors.

use std::io::{Read, Seek};

use super::{
    find_extra, lossy, u16le, u32le, u64le, Record, Scanner, DESCRIPTOR, HAS_DESCRIPTOR, LOCAL,
    SIGNIFICANT_FLAGS, ZIP64_EXTRA,
};
use crate::unpack::UnpackError;

impl<R: Read + Seek> Scanner<'_, R> {
    /// Reads the local header the record points at and compares it; returns
    /// where the entry's data starts.
    pub(super) fn local_header(
        &mut self,
        cd: LocalExpect<'_>,
        cd_offset: u64,
    ) -> Result<u64, UnpackError> {
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
            .is_none_or(|end| end > cd_offset)
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
    pub(super) fn layout(&mut self, records: &[Record], cd_offset: u64) -> Result<(), UnpackError> {
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
pub(super) struct LocalExpect<'a> {
    pub(super) name: &'a [u8],
    pub(super) shown: &'a str,
    pub(super) flags: u16,
    pub(super) method: u16,
    pub(super) crc32: u32,
    pub(super) compressed: u64,
    pub(super) size: u64,
    pub(super) offset: u64,
}
