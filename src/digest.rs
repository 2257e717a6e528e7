//! SHA-256 digests and the streaming wrappers that compute them as bytes pass.
//!
//! Every payload byte in airlock is hashed exactly once, on the way through:
//! [`HashingReader`] hashes what it reads, [`HashingWriter`] what it writes.
//! [`LimitedReader`] refuses (with `InvalidData`) to deliver more bytes than a
//! signed size allows, so a decompression bomb fails instead of filling a disk.
//! A [`Hasher`] for a long stream hashes on a second thread
//! ([`Hasher::for_len`], issue 12), so the SHA-256 of a layer runs beside its
//! inflate instead of after it.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::pipe::PipeWriter;

/// A SHA-256 digest, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// Lowercase hex, without the `sha256:` prefix.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// The OCI form, `sha256:<hex>`.
    pub fn oci(&self) -> String {
        format!("sha256:{}", self.hex())
    }

    /// Parses `sha256:<hex>` (the OCI form).
    pub fn parse_oci(s: &str) -> Result<Self, ParseDigestError> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| ParseDigestError(s.to_string()))?;
        hex.parse()
    }
}

impl FromStr for Sha256Digest {
    type Err = ParseDigestError;

    /// Parses exactly 64 lowercase hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(ParseDigestError(s.to_string()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or_else(|| ParseDigestError(s.to_string()))?;
            let lo = hex_val(pair[1]).ok_or_else(|| ParseDigestError(s.to_string()))?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Sha256Digest(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

/// A string that is not a SHA-256 digest in the expected form.
#[derive(Debug, thiserror::Error)]
#[error("not a sha256 digest (64 lowercase hex digits): {0:?}")]
pub struct ParseDigestError(pub String);

/// Streams shorter than this are hashed on the caller's thread: a thread
/// and its buffers cost more than they save.
pub const BACKGROUND_MIN: u64 = 4 << 20;

/// A SHA-256 being computed, on this thread or (for a long stream) on a
/// thread of its own that is fed the bytes through a [`PipeWriter`].
pub struct Hasher(HasherState);

enum HasherState {
    Here(Sha256),
    Behind(PipeWriter<Sha256>),
}

impl Hasher {
    /// A hasher on this thread.
    pub fn new() -> Self {
        Hasher(HasherState::Here(Sha256::new()))
    }

    /// A hasher for about `len` bytes: on a second thread when `len` is at
    /// least [`BACKGROUND_MIN`] and a thread can be started, else here.
    pub fn for_len(len: u64) -> Self {
        if len < BACKGROUND_MIN {
            return Hasher::new();
        }
        match PipeWriter::spawn("airlock-sha256", Sha256::new(), |h, bytes| h.update(bytes)) {
            Ok(w) => Hasher(HasherState::Behind(w)),
            Err(_) => Hasher::new(),
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HasherState::Here(h) => h.update(bytes),
            HasherState::Behind(w) => {
                if w.write_all(bytes).is_err() {
                    // The thread ended early (it cannot fail, so it panicked):
                    // `finish` resumes its panic.
                }
            }
        }
    }

    /// The digest of every byte added.
    pub fn finish(self) -> Sha256Digest {
        let h = match self.0 {
            HasherState::Here(h) => h,
            HasherState::Behind(w) => match w.finish() {
                Ok(h) => h,
                // Only a consumer that ended without panicking (not possible:
                // it runs until its channel closes) gets here.
                Err(e) => panic!("the SHA-256 thread ended early: {e}"),
            },
        };
        Sha256Digest(h.finalize().into())
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

/// Hashes every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self::with_hasher(inner, Hasher::new())
    }

    /// Wraps `inner`, hashing with `hasher` (e.g. [`Hasher::for_len`]).
    pub fn with_hasher(inner: R, hasher: Hasher) -> Self {
        HashingReader {
            inner,
            hasher,
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The inner reader (reads through it are not hashed).
    pub fn get_mut_inner(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The digest and byte count of everything read, and the inner reader.
    pub fn finish(self) -> (Sha256Digest, u64, R) {
        (self.hasher.finish(), self.count, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and byte count of everything written, and the inner writer.
    pub fn finish(self) -> (Sha256Digest, u64, W) {
        (
            Sha256Digest(self.hasher.finalize().into()),
            self.count,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Delivers at most `limit` bytes; one byte more is an `InvalidData` error,
/// never a silent truncation.
pub struct LimitedReader<R> {
    inner: R,
    remaining: u64,
    what: &'static str,
}

impl<R: Read> LimitedReader<R> {
    /// Wraps `inner`; `what` names the limit in the error message.
    pub fn new(inner: R, limit: u64, what: &'static str) -> Self {
        LimitedReader {
            inner,
            remaining: limit,
            what,
        }
    }

    /// The inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            // Probe one byte: if there is more, the limit is exceeded.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} exceeds its limit", self.what),
                )),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Reads `r` to its end, discarding the bytes; returns how many there were.
pub fn drain(r: &mut dyn Read) -> io::Result<u64> {
    io::copy(r, &mut io::sink())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_and_rejects_uppercase() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(
            d.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.hex().parse::<Sha256Digest>().unwrap(), d);
        assert_eq!(Sha256Digest::parse_oci(&d.oci()).unwrap(), d);
        assert!(d.hex().to_uppercase().parse::<Sha256Digest>().is_err());
        assert!("abc".parse::<Sha256Digest>().is_err());
    }

    #[test]
    fn limited_reader_errors_past_the_limit() {
        let mut r = LimitedReader::new(&b"hello"[..], 4, "test data");
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "test data exceeds its limit");
        let mut r = LimitedReader::new(&b"hello"[..], 5, "test data");
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
    }
}
