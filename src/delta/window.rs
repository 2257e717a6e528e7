//! A frame's reference, read from the base with positioned reads into one
//! heap buffer reused across frames (no memory maps: a file truncated by
//! another process while it is read gives a read error, never a SIGBUS,
//! and no `unsafe` is needed).
//!
//! References never move back (the record checks refuse one that does),
//! so the part of the previous window the next one keeps is moved to the
//! front of the buffer and only the new part is read: the base is read at
//! most once, however many frames refer to it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::DeltaError;

/// `base[offset .. offset + buf.len()]`, as last loaded.
#[derive(Default)]
pub(crate) struct Window {
    offset: u64,
    buf: Vec<u8>,
}

impl Window {
    /// Loads `len` bytes of `file` from `offset` and returns them. The
    /// caller bounds `len` (the heap it costs) and checks that windows
    /// never move back; one that does is simply read whole.
    pub fn load(&mut self, file: &File, offset: u64, len: u64) -> io::Result<&[u8]> {
        let len_usize = usize::try_from(len).map_err(io::Error::other)?;
        let end = offset + len;
        let old_end = self.offset + self.buf.len() as u64;
        let keep = if offset >= self.offset && offset <= old_end && end >= old_end {
            (old_end - offset) as usize
        } else {
            0
        };
        if keep > 0 {
            let from = (offset - self.offset) as usize;
            self.buf.copy_within(from.., 0);
        }
        self.buf.truncate(keep);
        self.buf.resize(len_usize, 0);
        self.offset = offset;
        let res = file.read_exact_at(&mut self.buf[keep..], offset + keep as u64);
        if let Err(e) = res {
            // Nothing half-read is kept for the next frame.
            self.buf.clear();
            return Err(e);
        }
        Ok(&self.buf)
    }
}

/// `len` as a `usize`, or the host cannot hold it.
pub(crate) fn usize_len(len: u64) -> Result<usize, DeltaError> {
    usize::try_from(len).map_err(|_| DeltaError::TooLarge(len))
}
