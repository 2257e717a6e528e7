//! Reading and verifying a bundle in one streaming pass.
//!
//! The order of checks is the security argument (bundle-spec/SPEC.md,
//! "Verification"):
//! 1. the file must start with a zstd frame;
//! 2. the first tar entry must be `airlock/manifest.toml`, at most 1 MiB;
//!    then come the signature entries (at most 64, 4 KiB each);
//! 3. the signatures are judged by the [`TrustPolicy`] over the raw manifest
//!    bytes, and only then are those bytes parsed as TOML;
//! 4. only then does the visitor see anything ([`PayloadVisitor::start`]), and
//!    each payload must be the next one the manifest lists, with its exact
//!    size; its SHA-256 is compared the moment its last byte is read, so a
//!    consumer that reads to the end never sees unverified bytes as valid;
//! 5. after the last payload the tar must end, only zero padding may follow,
//!    and the zstd frame must end cleanly (its checksum verified);
//! 6. the file must end with that frame: a bundle is exactly one zstd frame,
//!    and any byte after it (a skippable frame, a second frame, zeros,
//!    anything) is refused, so nothing rides along after the archive.
//!    (Inside it, tar header fields such as `mtime` or `uname` and the
//!    padding after each entry's data are not signed; SPEC.md section 2
//!    makes them writer rules: nothing reads them, and the padding is at
//!    most 511 bytes per entry.)
//!
//! The zstd decoder is put in single-frame mode: by default it would decode
//! further frames as if they were part of the stream and skip skippable
//! frames silently. It runs on a thread of its own ([`pipe::Transform`]),
//! at most 1 MiB of input and 1 MiB of output ahead of this thread.
//!
//! Before step 3 nothing but tar headers and at most ~1.3 MiB of data is
//! parsed (the decoder's thread may have decompressed up to 1 MiB more into
//! its bounded buffers, which nothing looks at before the decision).

mod bundle_error;
mod entries;
mod header;

pub use bundle_error::{BundleError, ReadError, TrailingKind, TRAILING_COUNT_MAX};
pub use entries::PayloadReader;
pub use header::read_header;

use std::io::{BufRead, BufReader, Chain, Read};

use crate::digest::Sha256Digest;
use crate::keys::Signature;
use crate::manifest::{Manifest, Payload};
use crate::policy::{SignerReport, TrustPolicy};

use crate::pipe;
use entries::read_entries;
use header::{decoder, map_io, open_raw, Counted, Raw};

/// A bundle whose manifest signature satisfied the policy.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// SHA-256 of the manifest bytes (identifies the bundle's content).
    pub manifest_sha256: Sha256Digest,
    /// How each signature was judged.
    pub signers: Vec<SignerReport>,
    /// The exact manifest bytes the signatures cover.
    pub manifest_bytes: Vec<u8>,
    /// The signatures, in bundle order.
    pub signatures: Vec<Signature>,
}

/// Receives a verified bundle's payloads.
pub trait PayloadVisitor {
    /// The visitor's own error.
    type Error;
    /// Called once, after the signatures were checked and before any
    /// payload byte is read.
    fn start(&mut self, bundle: &Verified) -> Result<(), Self::Error>;
    /// Called for each payload in order. Bytes not read are drained and
    /// hashed afterwards.
    fn payload(
        &mut self,
        payload: &Payload,
        data: &mut PayloadReader<'_>,
    ) -> Result<(), Self::Error>;
}

/// A visitor that only lets the reader check every byte.
pub struct CheckOnly;

impl PayloadVisitor for CheckOnly {
    type Error = std::convert::Infallible;
    fn start(&mut self, _: &Verified) -> Result<(), Self::Error> {
        Ok(())
    }
    fn payload(&mut self, _: &Payload, _: &mut PayloadReader<'_>) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The unverified start of a bundle: manifest bytes and signatures.
#[derive(Debug, Clone)]
pub struct Header {
    /// The raw manifest bytes (unparsed).
    pub manifest_bytes: Vec<u8>,
    /// The signatures, in bundle order.
    pub signatures: Vec<Signature>,
}

/// Reads, verifies and visits a whole bundle. See the module docs for the
/// order of checks.
///
/// # Errors
/// [`ReadError::Bundle`] for anything wrong with the bundle (the visitor may
/// have been given bytes that later proved bad: it must only commit them
/// after this returns `Ok`), [`ReadError::Visitor`] for the visitor's own
/// failures.
pub fn read<R: Read, V: PayloadVisitor>(
    r: R,
    policy: &TrustPolicy,
    visitor: &mut V,
) -> Result<Verified, ReadError<V::Error>> {
    let raw = open_raw(r)?;
    // The zstd decoder runs on a second thread, fed from this one (the
    // source stays here): this thread parses, hashes and inflates.
    let (feeder, feed) = pipe::feed(raw);
    let dec = decoder(BufReader::with_capacity(1 << 16, feed))?;
    match feeder.spawn("airlock-zstd", dec) {
        Ok(ahead) => read_decoded(DecodedAhead(ahead), policy, visitor),
        // No thread: decode here.
        Err((_, raw)) => read_decoded(decoder(raw)?, policy, visitor),
    }
}

/// The decompressed tar stream, and what follows the zstd frame once it
/// has ended.
trait Decoded: Read {
    /// The file's bytes after the frame.
    type Rest: BufRead;
    /// Call once `read` returned 0 (the frame ended).
    fn rest(self) -> Self::Rest;
}

impl<B: BufRead> Decoded for zstd::stream::read::Decoder<'static, B> {
    type Rest = B;
    fn rest(self) -> B {
        self.finish()
    }
}

type AheadDecoder = zstd::stream::read::Decoder<'static, BufReader<pipe::Feed>>;

/// The zstd decoder on its own thread ([`pipe::Transform`]).
struct DecodedAhead<R: Read>(pipe::Transform<Raw<R>, AheadDecoder>);

impl<R: Read> Read for DecodedAhead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Decoded for DecodedAhead<R> {
    /// What the decoder's thread was sent and did not decode, then the
    /// rest of the file.
    type Rest = Chain<BufReader<pipe::Feed>, Raw<R>>;
    fn rest(self) -> Self::Rest {
        let (dec, raw) = self.0.finish();
        dec.finish().chain(raw)
    }
}

/// [`read`] over the decoded stream.
fn read_decoded<D: Decoded, V: PayloadVisitor>(
    dec: D,
    policy: &TrustPolicy,
    visitor: &mut V,
) -> Result<Verified, ReadError<V::Error>> {
    let mut ar = tar::Archive::new(Counted {
        inner: dec,
        count: 0,
    });
    let verified = match read_entries(&mut ar, policy, visitor) {
        Ok(v) => v,
        Err(ReadError::Bundle(BundleError::Truncated { region })) => {
            // An archive cut short by the end of the zstd frame, with more
            // bytes after it (a bundle written as several frames, or one
            // with a frame appended): say that rather than "truncated".
            let mut dec = ar.into_inner().inner;
            if matches!(dec.read(&mut [0u8; 1]), Ok(0)) {
                check_end_of_file(dec.rest())?;
            }
            return Err(BundleError::Truncated { region }.into());
        }
        Err(e) => return Err(e),
    };
    // Only zero blocks may follow the last entry: the end-of-archive marker
    // (two blocks) and tar's record padding, at most 1 MiB in all, counted
    // from the end of the last entry. Reading to the end of the frame makes
    // zstd check its frame checksum.
    let Counted {
        inner: mut dec,
        count: consumed,
    } = ar.into_inner();
    let end = archive_end(&verified);
    let mut buf = [0u8; 8192];
    let mut zeros = consumed.saturating_sub(end);
    loop {
        let n = dec
            .read(&mut buf)
            .map_err(|e| map_io("end of archive", e))?;
        if n == 0 {
            break;
        }
        zeros += n as u64;
        if buf[..n].iter().any(|&b| b != 0) || zeros > MAX_END_ZEROS {
            return Err(BundleError::TrailingData.into());
        }
    }
    check_marker(zeros)?;
    // The frame has ended: so must the file.
    check_end_of_file(dec.rest())?;
    Ok(verified)
}

/// The most zero bytes that may follow the last entry (the end-of-archive
/// marker and tar's record padding).
pub const MAX_END_ZEROS: u64 = 1 << 20;

/// Where the last entry ends in the tar stream (its data padded to a
/// 512-byte block): every entry is one header block and its padded data.
/// (A signature entry's bytes are its canonical text: the reader checked.)
fn archive_end(v: &Verified) -> u64 {
    let entry = |size: u64| 512 + size.div_ceil(512) * 512;
    entry(v.manifest_bytes.len() as u64)
        + v.signatures
            .iter()
            .map(|s| entry(s.to_text().len() as u64))
            .sum::<u64>()
        + v.manifest
            .payloads
            .iter()
            .map(|p| entry(p.size))
            .sum::<u64>()
}

/// The zeros after the last entry: at least the two-block end-of-archive
/// marker, in whole 512-byte blocks.
fn check_marker(zeros: u64) -> Result<(), BundleError> {
    let reason = if zeros == 0 {
        "the end-of-archive marker (two zero blocks) is missing"
    } else if !zeros.is_multiple_of(512) {
        "the zeros after the last entry are not whole 512-byte blocks"
    } else if zeros < 1024 {
        "the end-of-archive marker is one zero block, not two"
    } else {
        return Ok(());
    };
    Err(BundleError::BadEnd {
        reason: reason.into(),
    })
}

/// Refuses any byte left in the file after the zstd frame, counting at most
/// [`TRAILING_COUNT_MAX`] of them for the message.
fn check_end_of_file<R: BufRead>(mut raw: R) -> Result<(), BundleError> {
    let head = match raw.fill_buf() {
        Ok([]) => return Ok(()),
        Ok(head) => head[..head.len().min(4)].to_vec(),
        Err(e) => return Err(map_io("end of file", e)),
    };
    let mut count = 0u64;
    let mut all_zero = true;
    let mut more = true;
    while count <= TRAILING_COUNT_MAX {
        let chunk = match raw.fill_buf() {
            Ok(c) => c,
            // The refusal is certain; the count is a lower bound.
            Err(_) => break,
        };
        if chunk.is_empty() {
            more = false;
            break;
        }
        let n = chunk.len().min((TRAILING_COUNT_MAX + 1 - count) as usize);
        all_zero &= chunk[..n].iter().all(|&b| b == 0);
        count += n as u64;
        raw.consume(n);
    }
    Err(BundleError::TrailingBytes {
        count,
        more,
        kind: TrailingKind::of(&head, all_zero),
    })
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn end_of(bytes: &[u8]) -> Result<(), BundleError> {
        check_end_of_file(io::Cursor::new(bytes))
    }

    fn trailing(bytes: &[u8]) -> (u64, bool, TrailingKind, String) {
        match end_of(bytes).unwrap_err() {
            e @ BundleError::TrailingBytes { count, more, kind } => {
                (count, more, kind, e.to_string())
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn nothing_may_follow_the_frame() {
        end_of(b"").unwrap();
        let (count, more, kind, msg) = trailing(&[0]);
        assert_eq!((count, more, kind), (1, false, TrailingKind::Zeros));
        assert!(
            msg.starts_with("1 byte follows the end of the bundle's zstd stream (zero bytes)"),
            "{msg}"
        );
        let mut skippable = vec![0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0];
        skippable.extend_from_slice(b"data");
        let (count, more, kind, msg) = trailing(&skippable);
        assert_eq!(
            (count, more, kind),
            (12, false, TrailingKind::SkippableFrame)
        );
        assert!(
            msg.contains(
                "12 bytes follow the end of the bundle's zstd stream (a zstd skippable frame)"
            ),
            "{msg}"
        );
        let second = zstd::stream::encode_all(&b"hello"[..], 3).unwrap();
        assert_eq!(trailing(&second).2, TrailingKind::ZstdFrame);
        assert_eq!(trailing(b"garbage").2, TrailingKind::Other);
        // Counting stops at the cap.
        let big = vec![0u8; (TRAILING_COUNT_MAX + 4096) as usize];
        let (count, more, _, msg) = trailing(&big);
        assert!(more && count == TRAILING_COUNT_MAX + 1, "{count}");
        assert!(msg.starts_with("at least 1048577 bytes follow"), "{msg}");
    }
}

#[cfg(test)]
mod round_trip_tests;

#[cfg(test)]
mod hashing_tests;

#[cfg(test)]
mod pipelined_tests;
