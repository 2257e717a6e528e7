//! Writing a bundle in one streaming pass.
//!
//! [`BundleWriter::new`] writes the manifest and its signatures; each
//! [`BundleWriter::append`] streams one payload, in manifest order, hashing it
//! on the way and refusing it if it is not byte-for-byte what the manifest
//! says (an input that changed between planning and writing);
//! [`BundleWriter::finish`] MUST be called to end the tar and the zstd frame.
//! Every tar header field is fixed (mode, owner, mtime from `created`), so the
//! same inputs give the same bytes.

use std::io::{self, Read, Write};

use crate::digest::{Hasher, HashingReader, Sha256Digest};
use crate::keys::Signature;
use crate::manifest::Payload;

use super::{signature_path, MANIFEST_PATH, MAX_MANIFEST, MAX_SIGNATURE, MAX_SIGNATURES};

/// zstd level: payloads are already gzip-compressed, so a fast level loses
/// nothing and keeps export I/O-bound.
pub const ZSTD_LEVEL: i32 = 3;

/// Errors writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Writing the output failed.
    #[error("cannot write the bundle")]
    Io(#[from] io::Error),
    /// Reading a payload's input failed.
    #[error("cannot read the input of payload {path}")]
    Input {
        /// The payload.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A payload other than the next one in the manifest.
    #[error("payload {got} appended where the manifest lists {expected}")]
    OutOfOrder {
        /// The next path in the manifest.
        expected: String,
        /// The path appended.
        got: String,
    },
    /// An input whose bytes differ from what was planned.
    #[error("{path} changed while the bundle was being written (expected {expected_size} bytes with sha256 {expected}, read {actual_size} bytes with sha256 {actual})")]
    Changed {
        /// The payload.
        path: String,
        /// Planned digest.
        expected: String,
        /// Planned size.
        expected_size: u64,
        /// Read digest.
        actual: Sha256Digest,
        /// Read size.
        actual_size: u64,
    },
    /// An input whose bytes differ from what was planned, found by the
    /// CRC-32 re-check ([`BundleWriter::append_known`]).
    #[error("{path} changed while the bundle was being written (expected {expected_size} bytes with sha256 {expected}, read {actual_size} bytes that differ from them)")]
    Differs {
        /// The payload.
        path: String,
        /// Planned digest.
        expected: String,
        /// Planned size.
        expected_size: u64,
        /// Read size.
        actual_size: u64,
    },
    /// finish() before every payload was appended.
    #[error("the bundle is incomplete: payload {0} was never written")]
    Incomplete(String),
    /// What would be written is beyond a reader's limits (see
    /// [`check_limits`]): nothing is written, since no reader would accept
    /// the bundle.
    #[error("{0}")]
    OverLimit(String),
}

impl crate::error::Classify for WriteError {
    fn class(&self) -> crate::error::ExitClass {
        use crate::error::ExitClass::*;
        match self {
            // The output, an input changing under the writer, or a caller's
            // mistake: none is the fault of a bundle.
            WriteError::Io(_)
            | WriteError::Input { .. }
            | WriteError::OutOfOrder { .. }
            | WriteError::Changed { .. }
            | WriteError::Differs { .. }
            | WriteError::Incomplete(_) => HostFailure,
            // The bundle asked for cannot exist (too many signatures, a
            // signature too large): the request, not the host.
            WriteError::OverLimit(_) => Usage,
        }
    }

    fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            WriteError::Changed { .. } | WriteError::Differs { .. } => crate::error::Hint::text("make sure nothing updates the source (e.g. a running Trivy) during export, then run it again"),
            WriteError::Io(_) | WriteError::Input { .. } | WriteError::OutOfOrder { .. } | WriteError::Incomplete(_) | WriteError::OverLimit(_) => None,
        }
    }
}

/// Refuses a header the reader would refuse (`reader::header`): a manifest
/// over [`MAX_MANIFEST`] bytes, more than [`MAX_SIGNATURES`] signatures, a
/// signature entry over [`MAX_SIGNATURE`] bytes or one that does not read
/// back as itself (a comment over [`crate::keys::MAX_COMMENT`] bytes). A
/// writer never writes a bundle that no reader accepts.
pub fn check_limits(manifest: &[u8], signatures: &[Signature]) -> Result<(), WriteError> {
    let over = |why: String| Err(WriteError::OverLimit(why));
    if manifest.len() as u64 > MAX_MANIFEST {
        return over(format!(
            "the manifest would be {} bytes; readers accept at most {MAX_MANIFEST}",
            manifest.len()
        ));
    }
    if signatures.len() > MAX_SIGNATURES {
        return over(format!(
            "the bundle would carry {} signatures; readers accept at most {MAX_SIGNATURES}",
            signatures.len()
        ));
    }
    for sig in signatures {
        let text = sig.to_text();
        if text.len() as u64 > MAX_SIGNATURE {
            return over(format!(
                "the signature by key {} would be {} bytes; readers accept at most {MAX_SIGNATURE}",
                sig.key_id(),
                text.len()
            ));
        }
        if Signature::from_text(&text).ok().as_ref() != Some(sig) {
            return over(format!(
                "the signature by key {} would not read back as written (a comment over {} bytes?)",
                sig.key_id(),
                crate::keys::MAX_COMMENT
            ));
        }
    }
    Ok(())
}

/// Remembers whether the input (rather than the output) failed.
struct Tagged<'a, 'b> {
    inner: &'a mut dyn Read,
    failed: &'b std::cell::Cell<bool>,
}

impl Read for Tagged<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed.set(true))
    }
}

/// Computes the CRC-32 (IEEE, as gzip's) and the count of the bytes read
/// through it: the cheap fingerprint export's first pass takes of a layer
/// beside its SHA-256, for the second pass to re-check the bytes it copies
/// (issue 12). Not a digest: the signed SHA-256 stays the payload's
/// identity, and verify and import check it.
pub struct Crc32Reader<R> {
    inner: R,
    crc: crc32fast::Hasher,
    count: u64,
}

impl<R: Read> Crc32Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Crc32Reader {
            inner,
            crc: crc32fast::Hasher::new(),
            count: 0,
        }
    }

    /// The CRC-32 and count of the bytes read so far.
    pub fn finish(self) -> (u32, u64) {
        (self.crc.finalize(), self.count)
    }

    /// The wrapped reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for Crc32Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Streams a bundle into `W`.
pub struct BundleWriter<W: Write> {
    tar: tar::Builder<zstd::stream::write::Encoder<'static, W>>,
    mtime: u64,
    payloads: Vec<Payload>,
    next: usize,
}

impl<W: Write> BundleWriter<W> {
    /// Starts a bundle: writes the manifest bytes and the signatures.
    /// `payloads` are the manifest's payloads (in order); `mtime` is the
    /// `created` time as Unix seconds.
    pub fn new(
        out: W,
        manifest: &[u8],
        signatures: &[Signature],
        payloads: Vec<Payload>,
        mtime: u64,
    ) -> Result<Self, WriteError> {
        check_limits(manifest, signatures)?;
        let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
        enc.include_checksum(true)?;
        let mut tar = tar::Builder::new(enc);
        tar.mode(tar::HeaderMode::Deterministic);
        let mut w = BundleWriter {
            tar,
            mtime,
            payloads,
            next: 0,
        };
        w.entry(MANIFEST_PATH, manifest.len() as u64, &mut &manifest[..])?;
        let mut sigs: Vec<&Signature> = signatures.iter().collect();
        // In entry-name order, which readers require (not key-id byte order).
        sigs.sort_by_key(|s| signature_path(s.key_id()));
        for sig in sigs {
            let text = sig.to_text();
            w.entry(
                &signature_path(sig.key_id()),
                text.len() as u64,
                &mut text.as_bytes(),
            )?;
        }
        Ok(w)
    }

    fn entry(&mut self, path: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        self.tar.append(&h, data)
    }

    /// Streams the next payload. Reads exactly the planned size from `data`
    /// and checks its digest.
    pub fn append(&mut self, path: &str, data: &mut dyn Read) -> Result<(), WriteError> {
        self.append_known(path, data, None)
    }

    /// [`append`](Self::append) for bytes whose CRC-32 the caller took
    /// when it hashed them ([`Crc32Reader`]): with `Some(crc32)`, the bytes
    /// read are checked against it (and the planned size) instead of being
    /// hashed again, at a small part of the cost; a payload that changed
    /// since is refused all the same ([`WriteError::Differs`]).
    pub fn append_known(
        &mut self,
        path: &str,
        data: &mut dyn Read,
        crc32: Option<u32>,
    ) -> Result<(), WriteError> {
        let p = self.expect_next(path)?;
        match crc32 {
            Some(crc32) => self.copy_crc32(&p, data, crc32)?,
            None => self.copy_sha256(&p, data)?,
        }
        self.next += 1;
        Ok(())
    }

    /// The next payload of the manifest, if it is `path`.
    fn expect_next(&self, path: &str) -> Result<Payload, WriteError> {
        let Some(p) = self.payloads.get(self.next).cloned() else {
            return Err(WriteError::OutOfOrder {
                expected: "(nothing more)".into(),
                got: path.into(),
            });
        };
        if p.path != path {
            return Err(WriteError::OutOfOrder {
                expected: p.path.into(),
                got: path.into(),
            });
        }
        Ok(p)
    }

    /// Writes `p`'s entry from `data`, which must hash to its digest.
    fn copy_sha256(&mut self, p: &Payload, data: &mut dyn Read) -> Result<(), WriteError> {
        let failed = std::cell::Cell::new(false);
        let mut input = Tagged {
            inner: data,
            failed: &failed,
        };
        // Hashed on a second thread while this one packs and compresses
        // (issue 12).
        let mut hashing = HashingReader::with_hasher(
            (&mut input as &mut dyn Read).take(p.size),
            Hasher::for_len(p.size),
        );
        if let Err(e) = self.entry(&p.path, p.size, &mut hashing) {
            return Err(if failed.get() {
                WriteError::Input {
                    path: p.path.to_string(),
                    source: e,
                }
            } else {
                WriteError::Io(e)
            });
        }
        // One byte more means the input grew.
        let mut extra = [0u8; 1];
        let grew = hashing.get_mut_inner().get_mut().read(&mut extra)? > 0;
        let (digest, n, _) = hashing.finish();
        if grew || n != p.size || digest != p.sha256 {
            return Err(WriteError::Changed {
                path: p.path.to_string(),
                expected: p.sha256.hex(),
                expected_size: p.size,
                actual: digest,
                actual_size: n + u64::from(grew),
            });
        }
        Ok(())
    }

    /// Writes `p`'s entry from `data`, whose CRC-32 must be `crc32`.
    fn copy_crc32(
        &mut self,
        p: &Payload,
        data: &mut dyn Read,
        crc32: u32,
    ) -> Result<(), WriteError> {
        let failed = std::cell::Cell::new(false);
        let mut input = Tagged {
            inner: data,
            failed: &failed,
        };
        let mut checking = Crc32Reader::new((&mut input as &mut dyn Read).take(p.size));
        if let Err(e) = self.entry(&p.path, p.size, &mut checking) {
            return Err(if failed.get() {
                WriteError::Input {
                    path: p.path.to_string(),
                    source: e,
                }
            } else {
                WriteError::Io(e)
            });
        }
        // One byte more means the input grew.
        let mut extra = [0u8; 1];
        let grew = checking.get_mut().get_mut().read(&mut extra)? > 0;
        let (crc, n) = checking.finish();
        if grew || n != p.size || crc != crc32 {
            return Err(WriteError::Differs {
                path: p.path.to_string(),
                expected: p.sha256.hex(),
                expected_size: p.size,
                actual_size: n + u64::from(grew),
            });
        }
        Ok(())
    }

    /// Ends the tar and the zstd frame; returns the output. Must be called:
    /// a dropped writer leaves an unterminated, invalid bundle.
    pub fn finish(mut self) -> Result<W, WriteError> {
        if let Some(p) = self.payloads.get(self.next) {
            return Err(WriteError::Incomplete(p.path.to_string()));
        }
        self.tar.finish()?;
        let enc = self.tar.into_inner()?;
        Ok(enc.finish()?)
    }
}

#[cfg(test)]
#[path = "writer_crc_tests.rs"]
mod crc_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    /// A bundle is exactly one zstd frame, however large (readers refuse
    /// anything after the first frame).
    #[test]
    fn the_bundle_is_one_zstd_frame() {
        let key = SecretKey::generate("t").unwrap();
        // Incompressible data over several zstd blocks and buffer sizes.
        let mut data = vec![0u8; 3 << 20];
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let payload = Payload {
            path: "vex/a/archive.zip".parse().unwrap(),
            size: data.len() as u64,
            sha256: Sha256Digest::of(&data),
        };
        let manifest = b"manifest";
        let sig = key.sign(manifest, "u", "t").unwrap();
        let mut w = BundleWriter::new(Vec::new(), manifest, &[sig], vec![payload], 0).unwrap();
        w.append("vex/a/archive.zip", &mut &data[..]).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::find_frame_compressed_size(&out),
            Ok(out.len()),
            "the first frame is the whole file"
        );
    }

    /// Nothing is written for a header a reader would refuse.
    #[test]
    fn a_header_over_a_readers_limits_is_not_written() {
        let m = b"manifest";
        let sigs: Vec<Signature> = (0..=MAX_SIGNATURES)
            .map(|i| {
                let k = SecretKey::generate(&format!("k{i}")).unwrap();
                k.sign(m, "u", "t").unwrap()
            })
            .collect();
        check_limits(m, &sigs[..MAX_SIGNATURES]).unwrap();
        let e = BundleWriter::new(Vec::new(), m, &sigs, Vec::new(), 0)
            .err()
            .expect("refused");
        assert_eq!(
            e.to_string(),
            "the bundle would carry 65 signatures; readers accept at most 64"
        );
        let big = vec![b'x'; MAX_MANIFEST as usize + 1];
        assert!(matches!(
            check_limits(&big, &sigs[..1]),
            Err(WriteError::OverLimit(_))
        ));
    }
}
