//! A frame's reference, read from the base with positioned reads into one
//! heap buffer reused across frames (no memory maps: a file truncated by
//! another process while it is read gives a read error, never a SIGBUS,
//! and no `unsafe` is needed).
//!
//! References never move back (the record checks refuse one that does),
//! so the part of the previous window the next one keeps stays in the
//! buffer and only the new part is read: the base is read at most once,
//! however many frames refer to it. The window starts at `start` in the
//! buffer; the bytes before it are moved out only once they are a quarter
//! of the window or more, so a reference that creeps forward a byte a
//! frame does not move the whole window each frame (64 MiB of memmove per
//! 1 MiB chunk): each byte of the base is moved at most four times, and
//! the buffer is at most 1.25 times the longest reference.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::DeltaError;

/// `base[offset .. offset + buf.len() - start]` is `buf[start..]`, as last
/// loaded.
#[derive(Default)]
pub(crate) struct Window {
    offset: u64,
    start: usize,
    buf: Vec<u8>,
    /// Bytes moved inside `buf` so far (the tests bound it).
    #[cfg(test)]
    moved: u64,
}

impl Window {
    /// Loads `len` bytes of `file` from `offset` and returns them. The
    /// caller bounds `len` (the heap it costs) and checks that windows
    /// never move back; one that does is simply read whole.
    pub fn load(&mut self, file: &File, offset: u64, len: u64) -> io::Result<&[u8]> {
        let len_usize = usize::try_from(len).map_err(io::Error::other)?;
        let end = offset
            .checked_add(len)
            .ok_or_else(|| io::Error::other("window overflows"))?;
        let old_end = self.offset + (self.buf.len() - self.start) as u64;
        let keep = if offset >= self.offset && offset <= old_end && end >= old_end {
            (old_end - offset) as usize
        } else {
            0
        };
        if keep == 0 {
            self.buf.clear();
            self.start = 0;
        } else {
            self.start += (offset - self.offset) as usize;
            if self.start >= len_usize / 4 {
                self.buf.copy_within(self.start.., 0);
                self.buf.truncate(keep);
                self.start = 0;
                #[cfg(test)]
                {
                    self.moved += keep as u64;
                }
            }
        }
        let have = self.start + keep;
        // At most 1.25 windows (`start` is under a quarter of one), reserved
        // at once and exactly: not twice a window, not a realloc a frame.
        let want = self.start + len_usize;
        if want > self.buf.capacity() {
            let room = want.max(len_usize + len_usize / 4);
            self.buf.reserve_exact(room - self.buf.len());
        }
        self.buf.resize(want, 0);
        self.offset = offset;
        let res = file.read_exact_at(&mut self.buf[have..], offset + keep as u64);
        if let Err(e) = res {
            // Nothing half-read is kept for the next frame.
            self.buf.clear();
            self.start = 0;
            return Err(e);
        }
        Ok(&self.buf[self.start..])
    }
}

#[cfg(test)]
impl Window {
    pub fn moved(&self) -> u64 {
        self.moved
    }

    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// `len` as a `usize`, or the host cannot hold it.
pub(crate) fn usize_len(len: u64) -> Result<usize, DeltaError> {
    usize::try_from(len).map_err(|_| DeltaError::TooLarge(len))
}
