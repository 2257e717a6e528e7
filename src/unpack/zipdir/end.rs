//! The end of central directory record, and its zip64 form.

use std::io::{Read, Seek, SeekFrom};

use super::{u16le, u32le, u64le, End, Scanner, EOCD, EOCD64, EOCD64_LOCATOR};
use crate::unpack::UnpackError;

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

impl<R: Read + Seek> Scanner<'_, R> {
    /// The end of central directory record: the last signature in the
    /// final 64 KiB + 22 bytes, which must end the file exactly with its
    /// comment (a later signature, say inside the comment, or bytes after
    /// the comment, are refused: readers pick different records then).
    pub(super) fn end_record(&mut self) -> Result<End, UnpackError> {
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
}
