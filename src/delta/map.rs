//! Read-only memory maps of a range of a file: a delta's reference costs
//! page cache, which the kernel can drop and re-read, not heap, and each
//! frame maps only its own range, unmapped when the frame is done (so the
//! resident pages of one frame are given back before the next).

use std::fs::File;

use super::DeltaError;

/// A range of a file's bytes, mapped (or empty: nothing to map).
pub(crate) struct Mapped(Option<memmap2::Mmap>);

impl Mapped {
    /// Maps `len` bytes of `file` from `offset`, for reading.
    ///
    /// # Safety argument
    ///
    /// A map is only sound while no one truncates or rewrites the file. The
    /// files airlock maps are its own: a base database inside the cache it
    /// holds the lock of, or a file it extracted into its own staging or
    /// temporary directory; the new file when encoding is airlock's own
    /// extraction too. Another process writing there is outside what
    /// airlock can defend against anyway (it could rewrite the installed
    /// database just as well); the worst a truncation does is a SIGBUS,
    /// and a change of content is caught by the SHA-256 of the result.
    pub fn range(file: &File, offset: u64, len: u64) -> Result<Mapped, std::io::Error> {
        if len == 0 {
            return Ok(Mapped(None));
        }
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        // SAFETY: see the safety argument above; the range lies inside the
        // file (the callers check it against the file's length), and the
        // map is read-only and private.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .map(file)?
        };
        Ok(Mapped(Some(map)))
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// `len` as a `usize`, or the host cannot hold it.
pub(crate) fn usize_len(len: u64) -> Result<usize, DeltaError> {
    usize::try_from(len).map_err(|_| DeltaError::TooLarge(len))
}
